package external_test

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	gojose "github.com/go-jose/go-jose/v4"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/internal/external"
	"github.com/gatehouse/gatehouse/internal/token"
)

// Tokens and key sets in these tests come from github.com/go-jose/go-jose/v4,
// an implementation independent of ours, so that a mistake shared by our
// signing and our verifying cannot hide.

const (
	testIss = "https://idp.example.test/realms/acme"
	testAud = "https://api.example.test/orders"
)

// testKey is a provider's signing key.
type testKey struct {
	kid  string
	alg  gojose.SignatureAlgorithm
	priv crypto.Signer
	// jwkAlg is published as the JWK's "alg"; "-" publishes none.
	jwkAlg string
}

func (k testKey) public() crypto.PublicKey { return k.priv.Public() }

var (
	rsaKey1 = sync.OnceValue(func() *rsa.PrivateKey { return mustRSA() })
	rsaKey2 = sync.OnceValue(func() *rsa.PrivateKey { return mustRSA() })
)

func mustRSA() *rsa.PrivateKey {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(err)
	}
	return k
}

func mustEC() *ecdsa.PrivateKey {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		panic(err)
	}
	return k
}

func mustEd() ed25519.PrivateKey {
	_, k, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		panic(err)
	}
	return k
}

func rsaTestKey(kid string, priv *rsa.PrivateKey) testKey {
	return testKey{kid: kid, alg: gojose.RS256, priv: priv}
}

func ecTestKey(kid string) testKey { return testKey{kid: kid, alg: gojose.ES256, priv: mustEC()} }

// jwks is the public JWK Set of keys, as go-jose writes it.
func jwks(t testing.TB, keys ...testKey) []byte {
	t.Helper()
	var set gojose.JSONWebKeySet
	for _, k := range keys {
		alg := string(k.alg)
		if k.jwkAlg == "-" {
			alg = ""
		} else if k.jwkAlg != "" {
			alg = k.jwkAlg
		}
		set.Keys = append(set.Keys, gojose.JSONWebKey{Key: k.public(), KeyID: k.kid, Algorithm: alg, Use: "sig"})
	}
	b, err := json.Marshal(set)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// idp is a provider's JWKS endpoint on a real loopback listener whose answer
// the test changes at will, counting the requests it gets.
type idp struct {
	srv  *httptest.Server
	hits atomic.Int64

	mu     sync.Mutex
	status int
	ctype  string
	body   []byte
	delay  time.Duration
}

func newIdP(t testing.TB, keys ...testKey) *idp {
	t.Helper()
	p := &idp{}
	p.publish(t, keys...)
	p.srv = httptest.NewServer(p)
	t.Cleanup(p.srv.Close)
	return p
}

func (p *idp) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p.hits.Add(1)
	p.mu.Lock()
	status, ctype, body, delay := p.status, p.ctype, p.body, p.delay
	p.mu.Unlock()
	time.Sleep(delay)
	if ctype != "" {
		w.Header().Set("Content-Type", ctype)
	}
	if status == http.StatusFound {
		w.Header().Set("Location", "http://elsewhere.example.test/jwks")
	}
	w.WriteHeader(status)
	w.Write(body)
}

// publish serves the JWK Set of keys.
func (p *idp) publish(t testing.TB, keys ...testKey) {
	t.Helper()
	p.respond(http.StatusOK, "application/json", jwks(t, keys...))
}

func (p *idp) respond(status int, ctype string, body []byte) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.status, p.ctype, p.body = status, ctype, body
}

func (p *idp) setDelay(d time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.delay = d
}

// url is the JWKS URI, with a query that stands for a secret and must never
// be logged.
func (p *idp) url() string { return p.srv.URL + "/protocol/openid-connect/certs?api_key=s3cret-query" }

// syncBuffer collects log output from concurrent goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// fixture is an Issuer in front of an idp, at a fixed time.
type fixture struct {
	idp  *idp
	iss  *external.Issuer
	now  time.Time
	logs *syncBuffer
}

type setup struct {
	keys    []testKey                         // published at start
	cfg     func(c *gatehouse.ExternalIssuer) // edits the default config
	opts    func(o *external.Options)         // edits the default options
	down    bool                              // the idp answers 503 until told otherwise
	noStart bool                              // do not call Start
}

func newFixture(t testing.TB, s setup) *fixture {
	t.Helper()
	f := &fixture{now: time.Now().Truncate(time.Second), logs: &syncBuffer{}}
	f.idp = newIdP(t, s.keys...)
	if s.down {
		f.idp.respond(http.StatusServiceUnavailable, "text/plain", []byte("maintenance"))
	}
	cfg := gatehouse.ExternalIssuer{
		Name: "acme", Issuer: testIss, JWKSURI: f.idp.url(), Audience: testAud,
		Algorithms: []string{"RS256", "ES256", "PS256", "EdDSA"},
	}
	if s.cfg != nil {
		s.cfg(&cfg)
	}
	opts := external.Options{
		Log: slog.New(slog.NewTextHandler(f.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Now: func() time.Time { return f.now },
	}
	if s.opts != nil {
		s.opts(&opts)
	}
	iss, err := external.New(cfg, opts)
	if err != nil {
		t.Fatal(err)
	}
	f.iss = iss
	if !s.noStart {
		iss.Start(context.Background()) // failures are the test's business
	}
	t.Cleanup(func() {
		if strings.Contains(f.logs.String(), "s3cret") {
			t.Errorf("the log shows the jwks uri's query:\n%s", f.logs.String())
		}
	})
	return f
}

// claim is one member of a claims set, its value as raw JSON.
type claim struct{ name, value string }

// claims is an ordered claims set; it may repeat a name on purpose.
type claims []claim

func (f *fixture) claims() claims {
	return claims{
		{"iss", str(testIss)},
		{"sub", str("user-42")},
		{"aud", str(testAud)},
		{"client_id", str("orders-app")},
		{"scope", str("read write")},
		{"jti", str("jti-1")},
		{"iat", num(f.now.Add(-time.Minute))},
		{"exp", num(f.now.Add(10 * time.Minute))},
	}
}

// set returns a copy with name set to the raw JSON value (appended if new).
func (c claims) set(name, value string) claims {
	out := append(claims(nil), c...)
	for n := range out {
		if out[n].name == name {
			out[n].value = value
			return out
		}
	}
	return append(out, claim{name, value})
}

// del returns a copy without name.
func (c claims) del(name string) claims {
	var out claims
	for _, m := range c {
		if m.name != name {
			out = append(out, m)
		}
	}
	return out
}

func (c claims) json() []byte {
	var b strings.Builder
	b.WriteByte('{')
	for n, m := range c {
		if n > 0 {
			b.WriteByte(',')
		}
		b.WriteString(str(m.name) + ":" + m.value)
	}
	b.WriteByte('}')
	return []byte(b.String())
}

func str(s string) string {
	b, err := json.Marshal(s)
	if err != nil {
		panic(err)
	}
	return string(b)
}

func num(t time.Time) string { return strconv.FormatInt(t.Unix(), 10) }

// sign signs payload with go-jose; typ "" sends no typ, kid "" no kid.
func sign(t testing.TB, k testKey, kid, typ string, payload []byte) string {
	t.Helper()
	opts := &gojose.SignerOptions{}
	if typ != "" {
		opts = opts.WithType(gojose.ContentType(typ))
	}
	var key any = k.priv
	if kid != "" {
		key = gojose.JSONWebKey{Key: k.priv, KeyID: kid}
	}
	signer, err := gojose.NewSigner(gojose.SigningKey{Algorithm: k.alg, Key: key}, opts)
	if err != nil {
		t.Fatal(err)
	}
	obj, err := signer.Sign(payload)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := obj.CompactSerialize()
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// mint signs c with k under k's kid and typ "at+jwt".
func mint(t testing.TB, k testKey, c claims) string {
	t.Helper()
	return sign(t, k, k.kid, "at+jwt", c.json())
}

// publicPEM is what a confused verifier would use as an HMAC secret.
func publicPEM(t testing.TB, pub crypto.PublicKey) []byte {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
}

// wantReason fails unless err is a refusal for reason r.
func wantReason(t testing.TB, err error, r token.Reason) {
	t.Helper()
	if err == nil {
		t.Fatalf("token accepted; want refusal %s", r)
	}
	if got := token.ReasonOf(err); got != r {
		t.Fatalf("refused with %q (%v); want %s", got, err, r)
	}
}

// eventually polls cond every few milliseconds for up to 5 s.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
