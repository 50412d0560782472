package dpop

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/internal/jose"
	gojose "github.com/go-jose/go-jose/v4"
)

var testNow = time.Unix(1_800_000_000, 0)

const (
	testHTU   = "https://api.example.com/v1/orders"
	testToken = "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2ln"
)

// testKey is a client key pair; proofs are signed with go-jose, never with
// our own code.
type testKey struct {
	alg  gojose.SignatureAlgorithm
	priv crypto.Signer
}

func newKey(t testing.TB, alg gojose.SignatureAlgorithm) testKey {
	t.Helper()
	switch alg {
	case gojose.ES256:
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		return testKey{alg, k}
	case gojose.EdDSA:
		_, k, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		return testKey{alg, k}
	case gojose.RS256, gojose.PS256:
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			t.Fatal(err)
		}
		return testKey{alg, k}
	}
	t.Fatalf("no test key for %s", alg)
	return testKey{}
}

// proofOpts describe one proof; the zero value of each field means "valid".
type proofOpts struct {
	typ      string                    // "" means dpop+jwt; "-" means none
	alg      gojose.SignatureAlgorithm // overrides the key's alg (HS256 signs with an HMAC key)
	noJWK    bool
	privJWK  bool
	extra    map[string]any // more header members
	claims   map[string]any // replaces/extends the default claims; nil value deletes
	iat      time.Time
	signedBy *testKey         // sign with another key than the embedded one
	rsaJWK   crypto.PublicKey // embed this key instead
}

func makeProof(t testing.TB, k testKey, o proofOpts) string {
	t.Helper()
	iat := testNow
	if !o.iat.IsZero() {
		iat = o.iat
	}
	cl := map[string]any{
		"jti": "jti-" + strings.Repeat("x", 8),
		"htm": "POST",
		"htu": testHTU,
		"iat": iat.Unix(),
	}
	for n, v := range o.claims {
		if v == nil {
			delete(cl, n)
		} else {
			cl[n] = v
		}
	}
	payload, err := json.Marshal(cl)
	if err != nil {
		t.Fatal(err)
	}

	opts := &gojose.SignerOptions{}
	switch o.typ {
	case "":
		opts.WithType("dpop+jwt")
	case "-":
	default:
		opts.WithType(gojose.ContentType(o.typ))
	}
	pub := gojose.JSONWebKey{Key: k.priv.Public()}
	if o.rsaJWK != nil {
		pub = gojose.JSONWebKey{Key: o.rsaJWK}
	}
	switch {
	case o.privJWK:
		opts.WithHeader("jwk", gojose.JSONWebKey{Key: k.priv})
	case !o.noJWK:
		opts.WithHeader("jwk", pub)
	}
	for n, v := range o.extra {
		opts.WithHeader(gojose.HeaderKey(n), v)
	}
	sk := gojose.SigningKey{Algorithm: k.alg, Key: k.priv}
	if o.signedBy != nil {
		sk.Key = o.signedBy.priv
	}
	if o.alg == gojose.HS256 {
		sk = gojose.SigningKey{Algorithm: gojose.HS256, Key: []byte(strings.Repeat("k", 32))}
	}
	signer, err := gojose.NewSigner(sk, opts)
	if err != nil {
		t.Fatal(err)
	}
	jws, err := signer.Sign(payload)
	if err != nil {
		t.Fatal(err)
	}
	s, err := jws.CompactSerialize()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// unsignedProof is an alg "none" token: nothing to sign, so built by hand.
func unsignedProof(t testing.TB, k testKey) string {
	t.Helper()
	jwk, err := json.Marshal(gojose.JSONWebKey{Key: k.priv.Public()})
	if err != nil {
		t.Fatal(err)
	}
	h := `{"typ":"dpop+jwt","alg":"none","jwk":` + string(jwk) + `}`
	p := `{"jti":"a","htm":"POST","htu":"` + testHTU + `","iat":1800000000}`
	enc := base64.RawURLEncoding.EncodeToString
	// A signature-shaped third segment, so that the alg is what refuses it.
	return enc([]byte(h)) + "." + enc([]byte(p)) + "." + enc(make([]byte, 64))
}

func ath(token string) string {
	s := sha256.Sum256([]byte(token))
	return base64.RawURLEncoding.EncodeToString(s[:])
}

func newVerifier() *Verifier {
	return &Verifier{Now: func() time.Time { return testNow }}
}

func TestVerify(t *testing.T) {
	for _, alg := range []gojose.SignatureAlgorithm{gojose.ES256, gojose.EdDSA} {
		t.Run(string(alg), func(t *testing.T) {
			k := newKey(t, alg)
			other := newKey(t, alg)
			tests := []struct {
				name   string
				proof  string
				method string // "" means POST
				htu    string // "" means testHTU
				token  string
				ok     bool
				why    string // a word of the refusal's message
			}{
				{name: "Valid", proof: makeProof(t, k, proofOpts{}), ok: true},
				{name: "ValidWithAth", proof: makeProof(t, k, proofOpts{claims: map[string]any{"ath": ath(testToken)}}), token: testToken, ok: true},
				{name: "TypJWT", why: "typ must be dpop+jwt", proof: makeProof(t, k, proofOpts{typ: "JWT"})},
				{name: "TypApplicationPrefix", why: "typ must be dpop+jwt", proof: makeProof(t, k, proofOpts{typ: "application/dpop+jwt"})},
				{name: "NoTyp", why: "typ must be a string", proof: makeProof(t, k, proofOpts{typ: "-"})},
				{name: "AlgNone", why: "alg none", proof: unsignedProof(t, k)},
				{name: "HS256", why: "asymmetric", proof: makeProof(t, k, proofOpts{alg: gojose.HS256})},
				{name: "PrivateKeyInJWK", why: "private key member", proof: makeProof(t, k, proofOpts{privJWK: true})},
				{name: "NoJWK", why: "jwk must be", proof: makeProof(t, k, proofOpts{noJWK: true})},
				{name: "KidInHeader", why: "only have typ, alg and jwk", proof: makeProof(t, k, proofOpts{extra: map[string]any{"kid": "k1"}})},
				{name: "CritInHeader", why: "only have typ, alg and jwk", proof: makeProof(t, k, proofOpts{extra: map[string]any{"crit": []string{"exp"}, "exp": 1}})},
				{name: "SignedByAnotherKey", why: "signature", proof: makeProof(t, k, proofOpts{signedBy: &other})},
				{name: "WrongHTM", why: "htm", proof: makeProof(t, k, proofOpts{}), method: "GET"},
				{name: "LowerCaseHTM", why: "htm", proof: makeProof(t, k, proofOpts{claims: map[string]any{"htm": "post"}})},
				{name: "WrongHTUPath", why: "htu", proof: makeProof(t, k, proofOpts{}), htu: "https://api.example.com/v1/orders/1"},
				{name: "WrongHTUHost", why: "htu", proof: makeProof(t, k, proofOpts{}), htu: "https://evil.example.com/v1/orders"},
				{name: "WrongHTUScheme", why: "htu", proof: makeProof(t, k, proofOpts{}), htu: "http://api.example.com/v1/orders"},
				{name: "HTUWithQueryRequestOtherQuery", proof: makeProof(t, k, proofOpts{claims: map[string]any{"htu": testHTU + "?a=1#f"}}), htu: testHTU + "?b=2", ok: true},
				{name: "HTUNormalised", proof: makeProof(t, k, proofOpts{claims: map[string]any{"htu": "HTTPS://API.Example.COM:443/v1/orders"}}), ok: true},
				{name: "HTUOtherPort", why: "htu", proof: makeProof(t, k, proofOpts{claims: map[string]any{"htu": "https://api.example.com:8443/v1/orders"}})},
				{name: "IatTooOld", why: "too old", proof: makeProof(t, k, proofOpts{iat: testNow.Add(-61 * time.Second)})},
				{name: "IatAtWindowEdge", proof: makeProof(t, k, proofOpts{iat: testNow.Add(-60 * time.Second)}), ok: true},
				{name: "IatInFuture", why: "future", proof: makeProof(t, k, proofOpts{iat: testNow.Add(6 * time.Second)})},
				{name: "IatWithinLeeway", proof: makeProof(t, k, proofOpts{iat: testNow.Add(5 * time.Second)}), ok: true},
				{name: "IatString", why: "iat", proof: makeProof(t, k, proofOpts{claims: map[string]any{"iat": "1800000000"}})},
				{name: "MissingJTI", why: "jti", proof: makeProof(t, k, proofOpts{claims: map[string]any{"jti": nil}})},
				{name: "JTITooLong", why: "jti", proof: makeProof(t, k, proofOpts{claims: map[string]any{"jti": strings.Repeat("j", 65)}})},
				{name: "JTINotString", why: "jti", proof: makeProof(t, k, proofOpts{claims: map[string]any{"jti": 7}})},
				{name: "MissingHTU", why: "htu", proof: makeProof(t, k, proofOpts{claims: map[string]any{"htu": nil}})},
				{name: "UpperCaseClaimName", why: "jti", proof: makeProof(t, k, proofOpts{claims: map[string]any{"jti": nil, "JTI": "x"}})},
				{name: "WrongAth", why: "ath does not match", proof: makeProof(t, k, proofOpts{claims: map[string]any{"ath": ath("another token")}}), token: testToken},
				{name: "AthMissing", why: "no ath", proof: makeProof(t, k, proofOpts{}), token: testToken},
				{name: "Empty", why: "empty", proof: ""},
				{name: "TooLarge", why: "too large", proof: makeProof(t, k, proofOpts{claims: map[string]any{"pad": strings.Repeat("p", 4096)}})},
				{name: "FourSegments", why: "three segments", proof: makeProof(t, k, proofOpts{}) + ".x"},
				{name: "Padding", why: "base64url", proof: makeProof(t, k, proofOpts{}) + "="},
				{name: "Newline", why: "base64url", proof: strings.Replace(makeProof(t, k, proofOpts{}), ".", ".\n", 1)},
			}
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					method, htu := tt.method, tt.htu
					if method == "" {
						method = "POST"
					}
					if htu == "" {
						htu = testHTU
					}
					// A fresh Verifier per case: replay is tested on its own.
					p, err := newVerifier().Verify(tt.proof, method, htu, tt.token)
					if !tt.ok {
						var e *Error
						if !errors.As(err, &e) || e.Code != CodeInvalidProof {
							t.Fatalf("Verify() = %v, %v; want an *Error with code %s", p, err, CodeInvalidProof)
						}
						if strings.Contains(e.Message, tt.proof[:min(len(tt.proof), 10)]) && tt.proof != "" {
							t.Errorf("message %q echoes the proof", e.Message)
						}
						if !strings.Contains(err.Error(), tt.why) {
							t.Errorf("Verify() error = %v, want it to be about %q", err, tt.why)
						}
						return
					}
					if err != nil {
						t.Fatalf("Verify() error = %v", err)
					}
					jwk := gojose.JSONWebKey{Key: k.priv.Public()}
					want, err := jwk.Thumbprint(crypto.SHA256)
					if err != nil {
						t.Fatal(err)
					}
					if got, want := p.Thumbprint, base64.RawURLEncoding.EncodeToString(want); got != want {
						t.Errorf("Thumbprint = %q, want %q", got, want)
					}
					if p.JTI == "" || p.IssuedAt.IsZero() {
						t.Errorf("Proof = %+v, want JTI and IssuedAt", p)
					}
				})
			}
		})
	}
}

func TestReplay(t *testing.T) {
	for _, alg := range []gojose.SignatureAlgorithm{gojose.ES256, gojose.EdDSA} {
		t.Run(string(alg), func(t *testing.T) {
			k, other := newKey(t, alg), newKey(t, alg)
			now := testNow
			v := &Verifier{Now: func() time.Time { return now }}
			same := proofOpts{claims: map[string]any{"jti": "same-jti"}}
			if _, err := v.Verify(makeProof(t, k, same), "POST", testHTU, ""); err != nil {
				t.Fatalf("first use: %v", err)
			}
			// A new signature over the same claims is the same proof to us.
			_, err := v.Verify(makeProof(t, k, same), "POST", testHTU, "")
			if !errors.Is(err, ErrReplayed) {
				t.Fatalf("ReplayedJTISameKey: err = %v, want ErrReplayed", err)
			}
			if _, err := v.Verify(makeProof(t, other, same), "POST", testHTU, ""); err != nil {
				t.Fatalf("SameJTIOtherKey: %v", err)
			}
			// Once the proof is too old to be accepted its entry may go.
			now = testNow.Add(61 * time.Second)
			_, err = v.Verify(makeProof(t, k, proofOpts{claims: map[string]any{"jti": "later"}, iat: now}), "POST", testHTU, "")
			if err != nil {
				t.Fatalf("later proof: %v", err)
			}
			if got := v.cache().Len(); got != 1 {
				t.Errorf("cache Len = %d after expiry, want 1", got)
			}
		})
	}
}

// TestCheckThenUse: CheckAny accepts a proof without recording it, so a
// request that fails after the check does not use the proof up; Use then
// accepts it once.
func TestCheckThenUse(t *testing.T) {
	k := newKey(t, gojose.ES256)
	v := &Verifier{Now: func() time.Time { return testNow }}
	proof := makeProof(t, k, proofOpts{claims: map[string]any{"jti": "check-use"}})
	htus := []string{testHTU}
	for i := range 2 {
		if _, err := v.CheckAny(proof, "POST", htus, ""); err != nil {
			t.Fatalf("CheckAny #%d: %v", i+1, err)
		}
	}
	if got := v.cache().Len(); got != 0 {
		t.Fatalf("cache Len = %d after CheckAny, want 0: a check records nothing", got)
	}
	p, err := v.CheckAny(proof, "POST", htus, "")
	if err != nil {
		t.Fatal(err)
	}
	if err := v.Use(p); err != nil {
		t.Fatalf("first Use: %v", err)
	}
	if err := v.Use(p); !errors.Is(err, ErrReplayed) {
		t.Fatalf("second Use: %v, want ErrReplayed", err)
	}
	if _, err := v.VerifyAny(proof, "POST", htus, ""); !errors.Is(err, ErrReplayed) {
		t.Fatalf("VerifyAny after Use: %v, want ErrReplayed", err)
	}
	var de *Error
	if err := v.Use(&Proof{Thumbprint: p.Thumbprint, JTI: "forged"}); err == nil || errors.As(err, &de) {
		t.Errorf("Use of a Proof CheckAny did not make: %v, want a plain error", err)
	}
	if _, err := v.CheckAny(makeProof(t, k, proofOpts{claims: map[string]any{"htm": "GET"}}), "POST", htus, ""); err == nil {
		t.Error("CheckAny accepted a proof for another method")
	}
}

func TestReplayCache(t *testing.T) {
	c := NewReplayCache(2)
	until := testNow.Add(time.Minute)
	tests := []struct {
		name       string
		thumb, jti string
		now        time.Time
		want       error
	}{
		{"First", "k1", "a", testNow, nil},
		{"SameKeyOtherJTI", "k1", "b", testNow, nil},
		{"Replayed", "k1", "a", testNow, ErrReplayed},
		{"FullRefuses", "k2", "a", testNow, ErrReplayCacheFull},
		{"ExpiredEntriesMakeRoom", "k2", "a", until.Add(time.Nanosecond), nil},
		{"ReplayAfterExpiryAllowed", "k1", "a", until.Add(time.Nanosecond), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u := until
			if tt.now.After(testNow) {
				u = tt.now.Add(time.Minute)
			}
			if got := c.Use(tt.thumb, tt.jti, u, tt.now); !errors.Is(got, tt.want) {
				t.Errorf("Use() = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestNonce(t *testing.T) {
	k := newKey(t, gojose.ES256)
	nonces, err := NewNonces(nil, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	now := testNow
	v := &Verifier{Now: func() time.Time { return now }, NonceRequired: true, Nonces: nonces}

	// NonceMissing: the error carries the nonce to send in DPoP-Nonce.
	_, err = v.Verify(makeProof(t, k, proofOpts{claims: map[string]any{"jti": "n1"}}), "POST", testHTU, "")
	var e *Error
	if !errors.As(err, &e) || e.Code != CodeUseNonce || e.Nonce == "" {
		t.Fatalf("NonceMissing: err = %v, want %s with a nonce", err, CodeUseNonce)
	}
	nonce := e.Nonce

	// WithNonce, in the next slot too.
	now = testNow.Add(time.Minute)
	p, err := v.Verify(makeProof(t, k, proofOpts{claims: map[string]any{"jti": "n1", "nonce": nonce}, iat: now}), "POST", testHTU, "")
	if err != nil {
		t.Fatalf("WithNonce: %v", err)
	}
	if p.Nonce != nonce {
		t.Errorf("Proof.Nonce = %q, want %q", p.Nonce, nonce)
	}

	tests := []struct {
		name  string
		nonce string
		now   time.Time
	}{
		{"TwoSlotsAgo", nonce, testNow.Add(2 * time.Minute)},
		{"Forged", strings.Repeat("A", 22), testNow},
		{"NotBase64", "!!", testNow},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			now = tt.now
			jti := "bad-" + string(rune('a'+i))
			_, err := v.Verify(makeProof(t, k, proofOpts{claims: map[string]any{"jti": jti, "nonce": tt.nonce}, iat: now}), "POST", testHTU, "")
			var e *Error
			if !errors.As(err, &e) || e.Code != CodeUseNonce || !nonces.Valid(e.Nonce, now) {
				t.Fatalf("err = %v, want %s with a fresh nonce", err, CodeUseNonce)
			}
		})
	}
}

func TestNoncesSharedKey(t *testing.T) {
	key := make([]byte, 32)
	a, err := NewNonces(key, 0)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := NewNonces(key, 0)
	if !b.Valid(a.Nonce(testNow), testNow) {
		t.Error("a node does not accept a nonce from another node with the same key")
	}
	if _, err := NewNonces(key[:16], 0); err == nil {
		t.Error("NewNonces accepted a 16-byte key")
	}
}

func TestNormalizeHTU(t *testing.T) {
	tests := []struct {
		in   string
		want string
		ok   bool
	}{
		{"https://a.example/p", "https://a.example/p", true},
		{"HTTPS://A.EXAMPLE:443/p?q#f", "https://a.example/p", true},
		{"http://a.example:80", "http://a.example/", true},
		{"http://a.example:443/", "http://a.example:443/", true},
		{"https://[::1]:8443/x%2fy", "https://[::1]:8443/x%2Fy", true},
		{"https://[::1]:443/", "https://[::1]/", true},
		{"/relative", "", false},
		{"ftp://a.example/", "", false},
		{"https://user@a.example/", "", false},
		{"mailto:a@example.com", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, ok := normalizeHTU(tt.in)
			if got != tt.want || ok != tt.ok {
				t.Errorf("normalizeHTU(%q) = %q, %v; want %q, %v", tt.in, got, ok, tt.want, tt.ok)
			}
		})
	}
}

func TestNonceRequiredWithoutNonces(t *testing.T) {
	v := &Verifier{NonceRequired: true}
	_, err := v.Verify("x", "POST", testHTU, "")
	var e *Error
	if err == nil || errors.As(err, &e) {
		t.Fatalf("err = %v, want a plain configuration error", err)
	}
}

func TestAllowedAlgs(t *testing.T) {
	k := newKey(t, gojose.EdDSA)
	v := newVerifier()
	v.AllowedAlgs = []jose.Algorithm{jose.ES256}
	if _, err := v.Verify(makeProof(t, k, proofOpts{}), "POST", testHTU, ""); err == nil {
		t.Fatal("EdDSA proof accepted with only ES256 allowed")
	}
}

// TestVerifyRSA covers the RSA path: a jwk without alg may sign with RS256 or
// PS256 (jose.ParseJWK pins RS256 by default), and an RSA key cannot pass for
// an ECDSA one.
func TestVerifyRSA(t *testing.T) {
	rs := newKey(t, gojose.RS256)
	ps := testKey{gojose.PS256, rs.priv}
	es := newKey(t, gojose.ES256)
	tests := []struct {
		name  string
		proof string
		ok    bool
	}{
		{"RS256", makeProof(t, rs, proofOpts{}), true},
		{"PS256", makeProof(t, ps, proofOpts{claims: map[string]any{"jti": "ps"}}), true},
		{"ES256HeaderRSAKey", makeProof(t, testKey{gojose.ES256, es.priv}, proofOpts{claims: map[string]any{"jti": "mix"}, rsaJWK: rs.priv.Public()}), false},
	}
	v := newVerifier()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := v.Verify(tt.proof, "POST", testHTU, "")
			if (err == nil) != tt.ok {
				t.Fatalf("Verify() error = %v, want ok %v", err, tt.ok)
			}
			if err != nil && !strings.Contains(err.Error(), "key type") {
				t.Errorf("Verify() error = %v, want it to be about the key type", err)
			}
		})
	}
}

// TestReplayCacheConcurrent: of many simultaneous uses of one (key, jti),
// exactly one wins.
func TestReplayCacheConcurrent(t *testing.T) {
	c := NewReplayCache(0)
	var wg sync.WaitGroup
	var won atomic.Int32
	for range 16 {
		wg.Go(func() {
			if c.Use("k", "jti", testNow.Add(time.Minute), testNow) == nil {
				won.Add(1)
			}
		})
	}
	wg.Wait()
	if got := won.Load(); got != 1 {
		t.Errorf("%d uses accepted, want 1", got)
	}
}
