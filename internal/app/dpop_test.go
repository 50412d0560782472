package app

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/internal/config"
	"github.com/gatehouse/gatehouse/internal/oauth"
)

// The DPoP client of these tests is written here with go-jose, not with
// internal/dpop: the server must accept what an independent implementation
// of RFC 9449 sends, and refuse what an attacker crafts by hand.

// dpopKey is a client's DPoP key pair.
type dpopKey struct {
	priv crypto.Signer
	alg  jose.SignatureAlgorithm
	jkt  string // RFC 7638 thumbprint, as go-jose computes it
	now  func() time.Time
}

func newDPoPKey(t testing.TB, alg jose.SignatureAlgorithm, now func() time.Time) *dpopKey {
	t.Helper()
	var priv crypto.Signer
	var err error
	switch alg {
	case jose.ES256:
		priv, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case jose.EdDSA:
		_, priv, err = ed25519.GenerateKey(rand.Reader)
	default:
		t.Fatalf("no key for %s", alg)
	}
	if err != nil {
		t.Fatal(err)
	}
	tp, err := (&jose.JSONWebKey{Key: priv.Public()}).Thumbprint(crypto.SHA256)
	if err != nil {
		t.Fatal(err)
	}
	return &dpopKey{priv: priv, alg: alg, jkt: base64.RawURLEncoding.EncodeToString(tp), now: now}
}

// proofClaims are the claims of a proof (RFC 9449 §4.2).
func (k *dpopKey) proofClaims(method, u, accessToken, nonce string) map[string]any {
	c := map[string]any{"jti": base64.RawURLEncoding.EncodeToString(randBytes(16)), "htm": method, "htu": u, "iat": k.now().Unix()}
	if accessToken != "" {
		sum := sha256.Sum256([]byte(accessToken))
		c["ath"] = base64.RawURLEncoding.EncodeToString(sum[:])
	}
	if nonce != "" {
		c["nonce"] = nonce
	}
	return c
}

// proof signs a DPoP proof with go-jose: typ dpop+jwt and the public key
// embedded as jwk.
func (k *dpopKey) proof(t testing.TB, method, u, accessToken, nonce string) string {
	t.Helper()
	return k.sign(t, k.proofClaims(method, u, accessToken, nonce))
}

func (k *dpopKey) sign(t testing.TB, claims map[string]any) string {
	t.Helper()
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: k.alg, Key: k.priv}, (&jose.SignerOptions{EmbedJWK: true}).WithType("dpop+jwt"))
	if err != nil {
		t.Fatal(err)
	}
	payload, _ := json.Marshal(claims)
	jws, err := s.Sign(payload)
	if err != nil {
		t.Fatal(err)
	}
	out, err := jws.CompactSerialize()
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// rawProof assembles a compact JWS by hand, for proofs no library would
// make: sign gets the signing input.
func rawProof(header, claims any, sign func([]byte) []byte) string {
	h, _ := json.Marshal(header)
	c, _ := json.Marshal(claims)
	in := base64.RawURLEncoding.EncodeToString(h) + "." + base64.RawURLEncoding.EncodeToString(c)
	return in + "." + base64.RawURLEncoding.EncodeToString(sign([]byte(in)))
}

// es256Raw signs like RFC 7518 §3.4: r and s, 32 bytes each.
func es256Raw(t testing.TB, priv *ecdsa.PrivateKey) func([]byte) []byte {
	return func(in []byte) []byte {
		sum := sha256.Sum256(in)
		r, s, err := ecdsa.Sign(rand.Reader, priv, sum[:])
		if err != nil {
			t.Fatal(err)
		}
		out := make([]byte, 64)
		r.FillBytes(out[:32])
		s.FillBytes(out[32:])
		return out
	}
}

// dpopTransport adds a fresh DPoP proof to every request golang.org/x/oauth2
// sends to the token endpoint, and answers a use_dpop_nonce once with the
// nonce the server gave (RFC 9449 §8).
type dpopTransport struct {
	t       testing.TB
	key     *dpopKey
	mu      sync.Mutex
	nonce   string
	retries int
}

func (d *dpopTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	for attempt := 0; ; attempt++ {
		req := r.Clone(r.Context())
		if r.GetBody != nil {
			body, err := r.GetBody()
			if err != nil {
				return nil, err
			}
			req.Body = body
		}
		d.mu.Lock()
		nonce := d.nonce
		d.mu.Unlock()
		req.Header.Set("DPoP", d.key.proof(d.t, req.Method, req.URL.String(), "", nonce))
		resp, err := http.DefaultTransport.RoundTrip(req)
		if err != nil {
			return nil, err
		}
		if n := resp.Header.Get("DPoP-Nonce"); n != "" {
			d.mu.Lock()
			d.nonce = n
			d.mu.Unlock()
		}
		if resp.StatusCode != http.StatusBadRequest || resp.Header.Get("DPoP-Nonce") == "" || attempt > 0 {
			return resp, nil
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if !bytes.Contains(body, []byte(`"use_dpop_nonce"`)) {
			resp.Body = io.NopCloser(bytes.NewReader(body))
			return resp, nil
		}
		d.mu.Lock()
		d.retries++
		d.mu.Unlock()
	}
}

// dpopContext makes x/oauth2 send its token requests through a DPoP
// transport for key.
func dpopContext(t testing.TB, key *dpopKey) (context.Context, *dpopTransport) {
	tr := &dpopTransport{t: t, key: key}
	return context.WithValue(context.Background(), oauth2.HTTPClient, &http.Client{Transport: tr}), tr
}

// dpopToken gets a client_credentials token for svc-basic on orders with a
// proof by key, through x/oauth2.
func (n *testNode) dpopToken(t testing.TB, key *dpopKey) *oauth2.Token {
	t.Helper()
	ctx, _ := dpopContext(t, key)
	cfg := &clientcredentials.Config{
		ClientID: "svc-basic", ClientSecret: basicSecret, TokenURL: n.Issuer + oauth.PathToken,
		AuthStyle: oauth2.AuthStyleInHeader, Scopes: []string{"orders:read"},
		EndpointParams: url.Values{"resource": {"https://orders.example.test"}},
	}
	tok, err := cfg.Token(ctx)
	if err != nil {
		t.Fatalf("DPoP token request: %v", err)
	}
	return tok
}

// callAPI calls the gateway with an Authorization header and DPoP proofs
// (any number, so that a test can send none or two).
func (n *testNode) callAPI(t testing.TB, method, path, authorization string, proofs ...string) (*http.Response, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(method, n.PublicURL+path, nil)
	if authorization != "" {
		req.Header.Set("Authorization", authorization)
	}
	for _, p := range proofs {
		req.Header.Add("DPoP", p)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body map[string]any
	raw, _ := io.ReadAll(resp.Body)
	_ = json.Unmarshal(raw, &body)
	return resp, body
}

// wantDPoPRefusal fails t unless resp is a 401 with a DPoP challenge
// carrying code (RFC 9449 §7.1) and the algorithms.
func wantDPoPRefusal(t testing.TB, resp *http.Response, body map[string]any, code string) {
	t.Helper()
	ch := resp.Header.Get("WWW-Authenticate")
	if resp.StatusCode != http.StatusUnauthorized || body["error"] != code ||
		!strings.HasPrefix(ch, "DPoP ") || !strings.Contains(ch, `error="`+code+`"`) || !strings.Contains(ch, `algs="`) {
		t.Fatalf("got %d %v, WWW-Authenticate %q; want 401 %s with a DPoP challenge", resp.StatusCode, body, ch, code)
	}
}

// jwtCnf returns the cnf claim of a JWT access token, read with go-jose
// after checking its signature against the published JWKS.
func (n *testNode) jwtCnf(t testing.TB, tok string) map[string]any {
	t.Helper()
	resp, err := http.Get(n.Issuer + oauth.PathJWKS)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var set jose.JSONWebKeySet
	if err := json.NewDecoder(resp.Body).Decode(&set); err != nil {
		t.Fatal(err)
	}
	parsed, err := jwt.ParseSigned(tok, []jose.SignatureAlgorithm{jose.EdDSA, jose.ES256, jose.RS256, jose.PS256})
	if err != nil {
		t.Fatal(err)
	}
	var claims map[string]any
	if err := parsed.Claims(&set, &claims); err != nil {
		t.Fatalf("access token does not verify with the JWKS: %v", err)
	}
	cnf, _ := claims["cnf"].(map[string]any)
	return cnf
}

func TestDPoPBoundTokenThroughGateway(t *testing.T) {
	up := newUpstream(t)
	n := gatewayNode(t, up, nil)
	now := n.clock.Now
	key := newDPoPKey(t, jose.ES256, now)
	u := n.PublicURL + "/orders/42"

	tok := n.dpopToken(t, key)
	if tok.TokenType != "DPoP" {
		t.Fatalf("token_type = %q, want DPoP", tok.TokenType)
	}
	if cnf := n.jwtCnf(t, tok.AccessToken); len(cnf) != 1 || cnf["jkt"] != key.jkt {
		t.Fatalf("cnf = %v, want exactly jkt %s", cnf, key.jkt)
	}
	at := tok.AccessToken

	t.Run("ProofAccepted", func(t *testing.T) {
		for _, k := range []*dpopKey{key} {
			resp, body := n.callAPI(t, "GET", "/orders/42", "DPoP "+at, k.proof(t, "GET", u, at, ""))
			if resp.StatusCode != 200 {
				t.Fatalf("DPoP call: %d %v", resp.StatusCode, body)
			}
		}
		got := up.last()
		if got.Header.Get("DPoP") != "" || got.Header.Get("Authorization") != "" {
			t.Errorf("the upstream saw the client's credentials: DPoP %q, Authorization %q", got.Header.Get("DPoP"), got.Header.Get("Authorization"))
		}
		// The scheme is case-insensitive (RFC 9110 §11.1).
		if resp, body := n.callAPI(t, "GET", "/orders/42", "dpop "+at, key.proof(t, "GET", u, at, "")); resp.StatusCode != 200 {
			t.Fatalf("lower-case scheme: %d %v", resp.StatusCode, body)
		}
	})
	t.Run("EdDSAKey", func(t *testing.T) {
		ek := newDPoPKey(t, jose.EdDSA, now)
		etok := n.dpopToken(t, ek)
		if resp, body := n.callAPI(t, "GET", "/orders/42", "DPoP "+etok.AccessToken, ek.proof(t, "GET", u, etok.AccessToken, "")); resp.StatusCode != 200 {
			t.Fatalf("EdDSA proof: %d %v", resp.StatusCode, body)
		}
	})
	t.Run("StolenTokenAsBearer", func(t *testing.T) {
		resp, body := n.callAPI(t, "GET", "/orders/42", "Bearer "+at)
		wantDPoPRefusal(t, resp, body, "invalid_token")
	})
	t.Run("StolenTokenWithAnotherKey", func(t *testing.T) {
		thief := newDPoPKey(t, jose.ES256, now)
		resp, body := n.callAPI(t, "GET", "/orders/42", "DPoP "+at, thief.proof(t, "GET", u, at, ""))
		wantDPoPRefusal(t, resp, body, "invalid_dpop_proof")
	})
	t.Run("StolenTokenWithoutProof", func(t *testing.T) {
		resp, body := n.callAPI(t, "GET", "/orders/42", "DPoP "+at)
		wantDPoPRefusal(t, resp, body, "invalid_dpop_proof")
	})
	t.Run("ReplayedProof", func(t *testing.T) {
		p := key.proof(t, "GET", u, at, "")
		if resp, body := n.callAPI(t, "GET", "/orders/42", "DPoP "+at, p); resp.StatusCode != 200 {
			t.Fatalf("first use: %d %v", resp.StatusCode, body)
		}
		resp, body := n.callAPI(t, "GET", "/orders/42", "DPoP "+at, p)
		wantDPoPRefusal(t, resp, body, "invalid_dpop_proof")
		// Re-signing the same claims (ECDSA is randomised) is the same jti.
		c := key.proofClaims("GET", u, at, "")
		first, second := key.sign(t, c), key.sign(t, c)
		if first == second {
			t.Fatal("two ES256 signatures are equal; this check proves nothing")
		}
		if resp, body := n.callAPI(t, "GET", "/orders/42", "DPoP "+at, first); resp.StatusCode != 200 {
			t.Fatalf("first signature: %d %v", resp.StatusCode, body)
		}
		resp, body = n.callAPI(t, "GET", "/orders/42", "DPoP "+at, second)
		wantDPoPRefusal(t, resp, body, "invalid_dpop_proof")
	})
	t.Run("ProofForAnotherRequest", func(t *testing.T) {
		for name, p := range map[string]string{
			"Method":    key.proof(t, "POST", u, at, ""),
			"Path":      key.proof(t, "GET", n.PublicURL+"/orders/43", at, ""),
			"Host":      key.proof(t, "GET", "http://other.example.test/orders/42", at, ""),
			"Scheme":    key.proof(t, "GET", strings.Replace(u, "http://", "https://", 1), at, ""),
			"NoAth":     key.proof(t, "GET", u, "", ""),
			"OtherAth":  key.proof(t, "GET", u, at+"x", ""),
			"Stale":     key.sign(t, map[string]any{"jti": "stale-1", "htm": "GET", "htu": u, "iat": now().Add(-5 * time.Minute).Unix(), "ath": key.proofClaims("GET", u, at, "")["ath"]}),
			"FromAfar":  key.sign(t, map[string]any{"jti": "future-1", "htm": "GET", "htu": u, "iat": now().Add(5 * time.Minute).Unix(), "ath": key.proofClaims("GET", u, at, "")["ath"]}),
			"TwoProofs": "",
		} {
			t.Run(name, func(t *testing.T) {
				proofs := []string{p}
				if name == "TwoProofs" {
					proofs = []string{key.proof(t, "GET", u, at, ""), key.proof(t, "GET", u, at, "")}
				}
				resp, body := n.callAPI(t, "GET", "/orders/42", "DPoP "+at, proofs...)
				wantDPoPRefusal(t, resp, body, "invalid_dpop_proof")
			})
		}
	})
	t.Run("UnboundTokenAsDPoP", func(t *testing.T) {
		plain := n.ordersToken(t, "orders:read")
		resp, body := n.callAPI(t, "GET", "/orders/42", "DPoP "+plain, key.proof(t, "GET", u, plain, ""))
		wantDPoPRefusal(t, resp, body, "invalid_token")
		// An unbound token still works as a bearer token on an API that
		// allows both.
		if resp, body := n.callAPI(t, "GET", "/orders/42", "Bearer "+plain); resp.StatusCode != 200 {
			t.Fatalf("bearer token: %d %v", resp.StatusCode, body)
		}
	})
	t.Run("NoCredentialGetsBothChallenges", func(t *testing.T) {
		resp, _ := n.callAPI(t, "GET", "/orders/42", "")
		ch := resp.Header.Values("WWW-Authenticate")
		if resp.StatusCode != 401 || len(ch) != 2 || !strings.HasPrefix(ch[0], "Bearer ") || !strings.HasPrefix(ch[1], "DPoP algs=") {
			t.Fatalf("got %d with challenges %q", resp.StatusCode, ch)
		}
	})
	t.Run("Introspection", func(t *testing.T) {
		status, body, _ := postForm(t, n.Issuer+oauth.PathIntrospect, url.Values{"token": {at}}, func(r *http.Request) {
			r.SetBasicAuth("orders-rs", url.QueryEscape(rsSecret))
		})
		cnf, _ := body["cnf"].(map[string]any)
		if status != 200 || body["active"] != true || body["token_type"] != "DPoP" || cnf["jkt"] != key.jkt {
			t.Fatalf("introspection: %d %v", status, body)
		}
	})
}

// TestDPoPMaliciousProofs: proofs an attacker crafts by hand are refused at
// the token endpoint (400) and at the gateway (401), every one with
// invalid_dpop_proof.
func TestDPoPMaliciousProofs(t *testing.T) {
	up := newUpstream(t)
	n := gatewayNode(t, up, nil)
	now := n.clock.Now
	key := newDPoPKey(t, jose.ES256, now)
	at := n.dpopToken(t, key).AccessToken
	tokenURL := n.Issuer + oauth.PathToken
	apiURL := n.PublicURL + "/orders/1"

	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	point, err := priv.PublicKey.Bytes() // 0x04 || x || y
	if err != nil {
		t.Fatal(err)
	}
	d, err := priv.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	b64 := base64.RawURLEncoding.EncodeToString
	pub := map[string]any{"kty": "EC", "crv": "P-256", "x": b64(point[1:33]), "y": b64(point[33:])}
	withD := map[string]any{"kty": "EC", "crv": "P-256", "x": b64(point[1:33]), "y": b64(point[33:]), "d": b64(d)}
	hmacKey := randBytes(32)
	octJWK := map[string]any{"kty": "oct", "k": base64.RawURLEncoding.EncodeToString(hmacKey)}

	cases := []struct {
		name   string
		header func() map[string]any
		sign   func([]byte) []byte
	}{
		{"AlgNone", func() map[string]any { return map[string]any{"typ": "dpop+jwt", "alg": "none", "jwk": pub} },
			func([]byte) []byte { return nil }},
		{"HMAC", func() map[string]any { return map[string]any{"typ": "dpop+jwt", "alg": "HS256", "jwk": octJWK} },
			func(in []byte) []byte { m := hmac.New(sha256.New, hmacKey); m.Write(in); return m.Sum(nil) }},
		{"HMACWithECKey", func() map[string]any { return map[string]any{"typ": "dpop+jwt", "alg": "HS256", "jwk": pub} },
			func(in []byte) []byte { m := hmac.New(sha256.New, hmacKey); m.Write(in); return m.Sum(nil) }},
		{"PrivateKeyInJWK", func() map[string]any { return map[string]any{"typ": "dpop+jwt", "alg": "ES256", "jwk": withD} },
			es256Raw(t, priv)},
		{"WrongTyp", func() map[string]any { return map[string]any{"typ": "JWT", "alg": "ES256", "jwk": pub} },
			es256Raw(t, priv)},
		{"NoJWK", func() map[string]any { return map[string]any{"typ": "dpop+jwt", "alg": "ES256"} },
			es256Raw(t, priv)},
		{"KidInstead", func() map[string]any {
			return map[string]any{"typ": "dpop+jwt", "alg": "ES256", "jwk": pub, "kid": "k1"}
		},
			es256Raw(t, priv)},
		{"BadSignature", func() map[string]any { return map[string]any{"typ": "dpop+jwt", "alg": "ES256", "jwk": pub} },
			func(in []byte) []byte { return make([]byte, 64) }},
	}
	// The control: the same hand-made construction, done right, passes.
	good := rawProof(map[string]any{"typ": "dpop+jwt", "alg": "ES256", "jwk": pub},
		map[string]any{"jti": "control-1", "htm": "POST", "htu": tokenURL, "iat": now().Unix()}, es256Raw(t, priv))
	status, body, _ := postForm(t, tokenURL, url.Values{"grant_type": {"client_credentials"}, "resource": {"https://orders.example.test"}},
		func(r *http.Request) {
			r.SetBasicAuth("svc-basic", url.QueryEscape(basicSecret))
			r.Header.Set("DPoP", good)
		})
	if status != 200 || body["token_type"] != "DPoP" {
		t.Fatalf("hand-made valid proof refused: %d %v; the cases below would prove nothing", status, body)
	}

	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			jti := "m-" + tc.name
			p := rawProof(tc.header(), map[string]any{"jti": jti, "htm": "POST", "htu": tokenURL, "iat": now().Unix()}, tc.sign)
			status, body, _ := postForm(t, tokenURL, url.Values{"grant_type": {"client_credentials"}, "resource": {"https://orders.example.test"}},
				func(r *http.Request) {
					r.SetBasicAuth("svc-basic", url.QueryEscape(basicSecret))
					r.Header.Set("DPoP", p)
				})
			if status != 400 || body["error"] != "invalid_dpop_proof" {
				t.Errorf("token endpoint: %d %v, want 400 invalid_dpop_proof", status, body)
			}
			sum := sha256.Sum256([]byte(at))
			gp := rawProof(tc.header(), map[string]any{"jti": jti + "-gw", "htm": "GET", "htu": apiURL, "iat": now().Unix(),
				"ath": base64.RawURLEncoding.EncodeToString(sum[:])}, tc.sign)
			resp, gbody := n.callAPI(t, "GET", "/orders/1", "DPoP "+at, gp)
			wantDPoPRefusal(t, resp, gbody, "invalid_dpop_proof")
		})
	}
	t.Run("TwoHeadersAtTokenEndpoint", func(t *testing.T) {
		status, body, _ := postForm(t, tokenURL, url.Values{"grant_type": {"client_credentials"}, "resource": {"https://orders.example.test"}},
			func(r *http.Request) {
				r.SetBasicAuth("svc-basic", url.QueryEscape(basicSecret))
				r.Header.Add("DPoP", key.proof(t, "POST", tokenURL, "", ""))
				r.Header.Add("DPoP", key.proof(t, "POST", tokenURL, "", ""))
			})
		if status != 400 || body["error"] != "invalid_dpop_proof" {
			t.Fatalf("two proofs: %d %v", status, body)
		}
	})
	t.Run("ProofForAnotherEndpoint", func(t *testing.T) {
		status, body, _ := postForm(t, tokenURL, url.Values{"grant_type": {"client_credentials"}, "resource": {"https://orders.example.test"}},
			func(r *http.Request) {
				r.SetBasicAuth("svc-basic", url.QueryEscape(basicSecret))
				r.Header.Set("DPoP", key.proof(t, "POST", n.Issuer+oauth.PathRevoke, "", ""))
			})
		if status != 400 || body["error"] != "invalid_dpop_proof" {
			t.Fatalf("proof for the revocation endpoint: %d %v", status, body)
		}
	})
}

// TestDPoPNonces: with nonces required, the first request gets
// use_dpop_nonce and a nonce, and the retry with it succeeds, at the token
// endpoint (400, RFC 9449 §8) and at the gateway (401, §9).
func TestDPoPNonces(t *testing.T) {
	up := newUpstream(t)
	n := gatewayNode(t, up, func(c *config.Config) {
		c.Tokens.DPoPNonce = true
		for i := range c.APIs {
			if c.APIs[i].Name == "orders" {
				c.APIs[i].DPoPNonce = true
			}
		}
	})
	// Nonces rotate every 5 minutes of wall-clock time (dpop.DefaultNoncePeriod):
	// start just after a boundary so that the steps below land in known periods.
	const period = 5 * time.Minute
	n.clock.Advance(period - time.Duration(n.clock.Now().UnixNano()%int64(period)) + time.Second)
	key := newDPoPKey(t, jose.ES256, n.clock.Now)
	tokenURL := n.Issuer + oauth.PathToken

	// By hand first, to see the answer x/oauth2 hides.
	status, body, hdr := postForm(t, tokenURL, url.Values{"grant_type": {"client_credentials"}, "resource": {"https://orders.example.test"}},
		func(r *http.Request) {
			r.SetBasicAuth("svc-basic", url.QueryEscape(basicSecret))
			r.Header.Set("DPoP", key.proof(t, "POST", tokenURL, "", ""))
		})
	nonce := hdr.Get("DPoP-Nonce")
	if status != 400 || body["error"] != "use_dpop_nonce" || nonce == "" {
		t.Fatalf("token request without nonce: %d %v, DPoP-Nonce %q", status, body, nonce)
	}
	status, body, _ = postForm(t, tokenURL, url.Values{"grant_type": {"client_credentials"}, "resource": {"https://orders.example.test"}},
		func(r *http.Request) {
			r.SetBasicAuth("svc-basic", url.QueryEscape(basicSecret))
			r.Header.Set("DPoP", key.proof(t, "POST", tokenURL, "", "not-our-nonce"))
		})
	if status != 400 || body["error"] != "use_dpop_nonce" {
		t.Fatalf("token request with a made-up nonce: %d %v", status, body)
	}
	// x/oauth2 through the retrying transport.
	ctx, tr := dpopContext(t, key)
	cfg := &clientcredentials.Config{ClientID: "svc-basic", ClientSecret: basicSecret, TokenURL: tokenURL,
		AuthStyle: oauth2.AuthStyleInHeader, EndpointParams: url.Values{"resource": {"https://orders.example.test"}}}
	tok, err := cfg.Token(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if tr.retries != 1 || tok.TokenType != "DPoP" {
		t.Fatalf("retries = %d, token_type %q; want one use_dpop_nonce round trip, then a DPoP token", tr.retries, tok.TokenType)
	}

	at := tok.AccessToken
	u := n.PublicURL + "/orders/7"
	resp, rbody := n.callAPI(t, "GET", "/orders/7", "DPoP "+at, key.proof(t, "GET", u, at, ""))
	wantDPoPRefusal(t, resp, rbody, "use_dpop_nonce")
	gwNonce := resp.Header.Get("DPoP-Nonce")
	if gwNonce == "" {
		t.Fatal("use_dpop_nonce without a DPoP-Nonce header")
	}
	if resp, rbody := n.callAPI(t, "GET", "/orders/7", "DPoP "+at, key.proof(t, "GET", u, at, gwNonce)); resp.StatusCode != 200 {
		t.Fatalf("retry with the nonce: %d %v", resp.StatusCode, rbody)
	}
	// In the next period the old nonce still works, and the answer carries
	// the new one so that the client can switch before it expires.
	n.clock.Advance(6 * time.Minute)
	resp, rbody = n.callAPI(t, "GET", "/orders/7", "DPoP "+at, key.proof(t, "GET", u, at, gwNonce))
	if next := resp.Header.Get("DPoP-Nonce"); resp.StatusCode != 200 || next == "" || next == gwNonce {
		t.Fatalf("previous period's nonce: %d %v, DPoP-Nonce %q", resp.StatusCode, rbody, next)
	}
	// A nonce stays good for one to two periods (5 minutes each), then the
	// client is told to fetch a new one.
	n.clock.Advance(5 * time.Minute)
	tok2 := n.dpopToken(t, key) // the old token has expired (10 minutes)
	resp, rbody = n.callAPI(t, "GET", "/orders/7", "DPoP "+tok2.AccessToken, key.proof(t, "GET", u, tok2.AccessToken, gwNonce))
	wantDPoPRefusal(t, resp, rbody, "use_dpop_nonce")
	if fresh := resp.Header.Get("DPoP-Nonce"); fresh == "" || fresh == gwNonce {
		t.Fatalf("stale nonce answered with DPoP-Nonce %q", fresh)
	}

	// billing has no nonce requirement: the same kind of proof without a
	// nonce is fine there.
	if resp, rbody := n.callAPI(t, "GET", "/billing/x", ""); resp.StatusCode != 401 {
		t.Fatalf("billing without a token: %d %v", resp.StatusCode, rbody)
	}
}

// TestDPoPRequired: an API with dpop: required refuses unbound tokens; a
// client with dpop: required cannot get an unbound token.
func TestDPoPRequired(t *testing.T) {
	up := newUpstream(t)
	n := gatewayNode(t, up, func(c *config.Config) {
		for i := range c.APIs {
			if c.APIs[i].Name == "orders" {
				c.APIs[i].DPoP = gatehouse.DPoPRequired
			}
		}
		for i := range c.Clients {
			if c.Clients[i].ID == "svc-post" {
				c.Clients[i].DPoPBound = true
			}
		}
	})
	key := newDPoPKey(t, jose.ES256, n.clock.Now)

	plain := n.ordersToken(t, "orders:read")
	resp, body := n.callAPI(t, "GET", "/orders/1", "Bearer "+plain)
	wantDPoPRefusal(t, resp, body, "invalid_token")
	resp, _ = n.callAPI(t, "GET", "/orders/1", "")
	if ch := resp.Header.Values("WWW-Authenticate"); resp.StatusCode != 401 || len(ch) != 1 || !strings.HasPrefix(ch[0], "DPoP ") {
		t.Fatalf("no credential on a DPoP-only API: %d, challenges %q; want only DPoP", resp.StatusCode, ch)
	}
	at := n.dpopToken(t, key).AccessToken
	u := n.PublicURL + "/orders/1"
	if resp, body := n.callAPI(t, "GET", "/orders/1", "DPoP "+at, key.proof(t, "GET", u, at, "")); resp.StatusCode != 200 {
		t.Fatalf("DPoP token on a DPoP-only API: %d %v", resp.StatusCode, body)
	}

	tokenURL := n.Issuer + oauth.PathToken
	form := url.Values{"grant_type": {"client_credentials"}, "client_id": {"svc-post"}, "client_secret": {postSecret}}
	status, body, _ := postForm(t, tokenURL, form, nil)
	if status != 400 || body["error"] != "invalid_dpop_proof" {
		t.Fatalf("DPoP-bound client without a proof: %d %v", status, body)
	}
	status, body, _ = postForm(t, tokenURL, form, func(r *http.Request) { r.Header.Set("DPoP", key.proof(t, "POST", tokenURL, "", "")) })
	if status != 200 || body["token_type"] != "DPoP" {
		t.Fatalf("DPoP-bound client with a proof: %d %v", status, body)
	}
}

// TestDPoPPublicClientRefresh: a public client's code (with dpop_jkt) and
// refresh token are bound to its key: a thief who has them but not the key
// gets nothing, and the owner is not locked out by the attempt.
func TestDPoPPublicClientRefresh(t *testing.T) {
	n := startNode(t)
	n.addUser(t, "alice")
	key := newDPoPKey(t, jose.EdDSA, n.clock.Now)
	thief := newDPoPKey(t, jose.ES256, n.clock.Now)
	cfg := n.nativeApp()
	tokenURL := n.Issuer + oauth.PathToken

	v := oauth2.GenerateVerifier()
	code := n.codeFor(t, n.browser(t), cfg, v, oauth2.SetAuthURLParam("dpop_jkt", key.jkt))
	exchange := func(k *dpopKey) (int, map[string]any) {
		form := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "code_verifier": {v},
			"redirect_uri": {cfg.RedirectURL}, "client_id": {"native-app"}}
		status, body, _ := postForm(t, tokenURL, form, func(r *http.Request) {
			if k != nil {
				r.Header.Set("DPoP", k.proof(t, "POST", tokenURL, "", ""))
			}
		})
		return status, body
	}
	for name, k := range map[string]*dpopKey{"NoProof": nil, "ThiefKey": thief} {
		if status, body := exchange(k); status != 400 || body["error"] != "invalid_dpop_proof" {
			t.Fatalf("%s: code bound by dpop_jkt redeemed: %d %v", name, status, body)
		}
	}
	// x/oauth2 redeems it with the right key, the code still unused.
	ctx, _ := dpopContext(t, key)
	tok, err := cfg.Exchange(ctx, code, oauth2.VerifierOption(v))
	if err != nil {
		t.Fatalf("owner's exchange after the thief's attempts: %v", err)
	}
	if tok.TokenType != "DPoP" || tok.RefreshToken == "" {
		t.Fatalf("token_type %q, refresh token %t", tok.TokenType, tok.RefreshToken != "")
	}
	if cnf := n.jwtCnf(t, tok.AccessToken); cnf["jkt"] != key.jkt {
		t.Fatalf("access token cnf = %v", cnf)
	}

	refresh := func(rt string, k *dpopKey) (int, map[string]any) {
		form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}, "client_id": {"native-app"}}
		status, body, _ := postForm(t, tokenURL, form, func(r *http.Request) {
			if k != nil {
				r.Header.Set("DPoP", k.proof(t, "POST", tokenURL, "", ""))
			}
		})
		return status, body
	}
	for name, k := range map[string]*dpopKey{"NoProof": nil, "ThiefKey": thief} {
		if status, body := refresh(tok.RefreshToken, k); status != 400 || body["error"] != "invalid_dpop_proof" {
			t.Fatalf("%s: bound refresh token used: %d %v", name, status, body)
		}
	}
	// The thief's attempts neither rotated nor revoked the family.
	status, body := refresh(tok.RefreshToken, key)
	if status != 200 || body["token_type"] != "DPoP" {
		t.Fatalf("owner's refresh: %d %v", status, body)
	}
	next := body["refresh_token"].(string)
	if cnf := n.jwtCnf(t, body["access_token"].(string)); cnf["jkt"] != key.jkt {
		t.Fatalf("refreshed access token cnf = %v", cnf)
	}
	// The successor is bound too.
	if status, body := refresh(next, thief); status != 400 || body["error"] != "invalid_dpop_proof" {
		t.Fatalf("successor used with another key: %d %v", status, body)
	}
	rec, err := n.Store.FindTokenByHash(t.Context(), gatehouse.HashSecret(next))
	if err != nil || rec.Cnf.JKT != key.jkt {
		t.Fatalf("stored successor: %+v, %v", rec, err)
	}
	if status, body := refresh(next, key); status != 200 {
		t.Fatalf("successor with the key: %d %v", status, body)
	}
}

// TestDPoPConfidentialRefresh: a confidential client's refresh token is not
// bound; each refresh binds the new access token to the proof it carries.
func TestDPoPConfidentialRefresh(t *testing.T) {
	n := startNode(t)
	n.addUser(t, "alice")
	k1 := newDPoPKey(t, jose.ES256, n.clock.Now)
	k2 := newDPoPKey(t, jose.ES256, n.clock.Now)
	cfg := n.webApp()
	v := oauth2.GenerateVerifier()
	code := n.codeFor(t, n.browser(t), cfg, v)
	ctx, _ := dpopContext(t, k1)
	tok, err := cfg.Exchange(ctx, code, oauth2.VerifierOption(v))
	if err != nil {
		t.Fatal(err)
	}
	if tok.TokenType != "DPoP" {
		t.Fatalf("token_type %q", tok.TokenType)
	}
	rec, err := n.Store.FindTokenByHash(t.Context(), gatehouse.HashSecret(tok.RefreshToken))
	if err != nil || rec.Cnf.Bound() {
		t.Fatalf("confidential client's refresh token: %+v, %v; want unbound", rec, err)
	}
	// A refresh with another key binds the new access token to that key.
	ctx2, _ := dpopContext(t, k2)
	tok2, err := cfg.TokenSource(ctx2, &oauth2.Token{RefreshToken: tok.RefreshToken}).Token()
	if err != nil {
		t.Fatal(err)
	}
	if cnf := n.jwtCnf(t, tok2.AccessToken); tok2.TokenType != "DPoP" || cnf["jkt"] != k2.jkt {
		t.Fatalf("refresh with k2: token_type %q, cnf %v", tok2.TokenType, cnf)
	}
	// Without a proof, a bearer token.
	status, body := n.refresh(t, tok2.RefreshToken, nil)
	if status != 200 || body["token_type"] != "Bearer" || n.jwtCnf(t, body["access_token"].(string)) != nil {
		t.Fatalf("refresh without a proof: %d %v", status, body)
	}
}

// TestDPoPURLBehindProxy: htu is the URL the client used: the proxy's
// X-Forwarded-Host and -Proto, or with trusted_proxies_header: forwarded
// its Forwarded host and proto (and then only those), count only when the
// peer is trusted.
func TestDPoPURLBehindProxy(t *testing.T) {
	for _, mode := range []string{"Trusted", "Untrusted", "TrustedForwarded"} {
		trusted := mode != "Untrusted"
		t.Run(mode, func(t *testing.T) {
			up := newUpstream(t)
			n := gatewayNode(t, up, func(c *config.Config) {
				if !trusted {
					c.Gateway.TrustedProxies = nil
				}
				if mode == "TrustedForwarded" {
					c.Gateway.TrustedProxiesHeader = config.ProxiesForwarded
				}
			})
			key := newDPoPKey(t, jose.ES256, n.clock.Now)
			at := n.dpopToken(t, key).AccessToken
			external := "https://api.example.test/orders/9"
			call := func(htu string) int {
				req, _ := http.NewRequest("GET", n.PublicURL+"/orders/9", nil)
				req.Header.Set("Authorization", "DPoP "+at)
				req.Header.Set("DPoP", key.proof(t, "GET", htu, at, ""))
				if mode == "TrustedForwarded" {
					req.Header.Set("Forwarded", `for=127.0.0.1;host=api.example.test;proto=https`)
					req.Header.Set("X-Forwarded-Host", "evil.example.test") // not what these proxies speak
				} else {
					req.Header.Set("X-Forwarded-Host", "api.example.test")
					req.Header.Set("X-Forwarded-Proto", "https")
				}
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				return resp.StatusCode
			}
			want := map[bool][2]int{true: {200, 401}, false: {401, 200}}[trusted]
			if got := [2]int{call(external), call(n.PublicURL + "/orders/9")}; got != want {
				t.Fatalf("proof for the forwarded URL, for the listener's URL: %v, want %v", got, want)
			}
		})
	}
}

func TestDPoPMetadata(t *testing.T) {
	n := startNode(t)
	resp, err := http.Get(n.Issuer + oauth.PathMetadata)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var md struct {
		Algs []string `json:"dpop_signing_alg_values_supported"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&md); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"ES256", "EdDSA", "RS256", "PS256"} {
		if !slices.Contains(md.Algs, want) {
			t.Errorf("dpop_signing_alg_values_supported = %v, lacks %s", md.Algs, want)
		}
	}
	for _, never := range []string{"none", "HS256"} {
		if slices.Contains(md.Algs, never) {
			t.Errorf("dpop_signing_alg_values_supported advertises %s", never)
		}
	}
}

// TestDPoPCommand drives `gatehouse dpop keygen` and `gatehouse dpop proof`
// as the curl walkthrough in docs/DPOP.md does: a key file, a proof for the
// token request, then a proof bound to the token for the API call.
func TestDPoPCommand(t *testing.T) {
	up := newUpstream(t)
	n := gatewayNode(t, up, nil)
	keyFile := filepath.Join(t.TempDir(), "dpop-key.json")
	run := func(args ...string) (int, string, string) {
		var out, errOut bytes.Buffer
		code := Main(context.Background(), args, mapEnv(nil), strings.NewReader(""), &out, &errOut)
		return code, strings.TrimSpace(out.String()), errOut.String()
	}

	code, jkt, stderr := run("dpop", "keygen", "--out", keyFile)
	if code != ExitOK || len(jkt) != 43 {
		t.Fatalf("keygen = %d, stdout %q, stderr %q", code, jkt, stderr)
	}
	if fi, err := os.Stat(keyFile); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file: %v, %v; want mode 0600", fi, err)
	}
	if code, _, _ := run("dpop", "keygen", "--out", keyFile); code == ExitOK {
		t.Fatal("keygen overwrote an existing key file")
	}
	for _, args := range [][]string{
		{"dpop"}, {"dpop", "sign"}, {"dpop", "keygen"}, {"dpop", "keygen", "--out", keyFile + "2", "--alg", "HS256"},
		{"dpop", "proof", "--key", keyFile, "--method", "GET"}, {"dpop", "proof", "--key", keyFile, "--method", "GET", "--url", "/relative"},
		{"dpop", "proof", "--key", filepath.Join(t.TempDir(), "missing"), "--method", "GET", "--url", "https://a.example/"},
	} {
		if code, _, _ := run(args...); code == ExitOK {
			t.Errorf("%q succeeded", args)
		}
	}

	tokenURL := n.Issuer + oauth.PathToken
	code, proof, stderr := run("dpop", "proof", "--key", keyFile, "--method", "POST", "--url", tokenURL)
	if code != ExitOK {
		t.Fatalf("proof = %d: %s", code, stderr)
	}
	status, body, _ := postForm(t, tokenURL, url.Values{"grant_type": {"client_credentials"}, "resource": {"https://orders.example.test"}},
		func(r *http.Request) {
			r.SetBasicAuth("svc-basic", url.QueryEscape(basicSecret))
			r.Header.Set("DPoP", proof)
		})
	if status != 200 || body["token_type"] != "DPoP" {
		t.Fatalf("token with the CLI's proof: %d %v", status, body)
	}
	at := body["access_token"].(string)
	if cnf := n.jwtCnf(t, at); cnf["jkt"] != jkt {
		t.Fatalf("cnf %v, keygen printed %s", cnf, jkt)
	}
	api := n.PublicURL + "/orders/5?verbose=1"
	_, proof, _ = run("dpop", "proof", "--key", keyFile, "--method", "GET", "--url", api, "--token", at)
	if resp, body := n.callAPI(t, "GET", "/orders/5?verbose=1", "DPoP "+at, proof); resp.StatusCode != 200 {
		t.Fatalf("API call with the CLI's proof: %d %v", resp.StatusCode, body)
	}
}

// TestDPoPRegisteredClient: dynamic registration with
// dpop_bound_access_tokens (RFC 9449 §5.2) makes a client that cannot get
// an unbound token.
func TestDPoPRegisteredClient(t *testing.T) {
	n := startNode(t)
	body := `{"client_name":"Bound","grant_types":["client_credentials"],"scope":"orders:read","dpop_bound_access_tokens":true}`
	req, _ := http.NewRequest(http.MethodPost, n.Issuer+oauth.PathRegister, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+n.adminToken(t))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var reg map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&reg); err != nil || resp.StatusCode != 201 || reg["dpop_bound_access_tokens"] != true {
		t.Fatalf("register: %d %v %v", resp.StatusCode, reg, err)
	}
	id, secret := reg["client_id"].(string), reg["client_secret"].(string)
	tokenURL := n.Issuer + oauth.PathToken
	auth := func(r *http.Request) { r.SetBasicAuth(url.QueryEscape(id), url.QueryEscape(secret)) }
	form := url.Values{"grant_type": {"client_credentials"}}
	if status, body, _ := postForm(t, tokenURL, form, auth); status != 400 || body["error"] != "invalid_dpop_proof" {
		t.Fatalf("without a proof: %d %v", status, body)
	}
	key := newDPoPKey(t, jose.ES256, n.clock.Now)
	status, tok, _ := postForm(t, tokenURL, form, func(r *http.Request) { auth(r); r.Header.Set("DPoP", key.proof(t, "POST", tokenURL, "", "")) })
	if status != 200 || tok["token_type"] != "DPoP" {
		t.Fatalf("with a proof: %d %v", status, tok)
	}
}

// TestDPoPNonceSurvivesRestart: nonces come from a key derived from the
// master key, so the nonce a client holds still works after a restart (and
// on any node sharing the master key).
func TestDPoPNonceSurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	withNonce := func(c *config.Config) { c.Tokens.DPoPNonce = true }
	n := startNodeIn(t, dir, withNonce)
	key := newDPoPKey(t, jose.ES256, n.clock.Now)
	request := func(n *testNode, nonce string) (int, map[string]any, http.Header) {
		tokenURL := n.Issuer + oauth.PathToken
		return postForm(t, tokenURL, url.Values{"grant_type": {"client_credentials"}, "resource": {"https://orders.example.test"}},
			func(r *http.Request) {
				r.SetBasicAuth("svc-basic", url.QueryEscape(basicSecret))
				r.Header.Set("DPoP", key.proof(t, "POST", tokenURL, "", nonce))
			})
	}
	status, body, hdr := request(n, "")
	nonce := hdr.Get("DPoP-Nonce")
	if status != 400 || body["error"] != "use_dpop_nonce" || nonce == "" {
		t.Fatalf("first request: %d %v, nonce %q", status, body, nonce)
	}
	if err := n.Shutdown(t.Context()); err != nil {
		t.Fatal(err)
	}
	m := startNodeIn(t, dir, withNonce)
	if status, body, _ := request(m, nonce); status != 200 || body["token_type"] != "DPoP" {
		t.Fatalf("nonce from before the restart: %d %v", status, body)
	}
	// Another data directory has another master key: its nonces differ.
	other := startNodeWith(t, withNonce)
	if status, body, _ := request(other, nonce); status != 400 || body["error"] != "use_dpop_nonce" {
		t.Fatalf("nonce of another installation: %d %v", status, body)
	}
}

// TestDPoPOverHTTPS: on the HTTPS listener, the token endpoint takes a proof
// for the URL the client used there, and the gateway checks htu with the
// https scheme.
func TestDPoPOverHTTPS(t *testing.T) {
	up := newUpstream(t)
	n := gatewayNode(t, up, func(c *config.Config) {
		c.TLS = config.TLSConfig{Addr: "127.0.0.1:0", SelfSigned: true}
		c.Gateway.TrustedProxies = nil
	})
	client := &http.Client{Transport: &http.Transport{
		TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, // the self-signed development certificate
	}}
	key := newDPoPKey(t, jose.ES256, n.clock.Now)
	tokenURL := n.TLSURL + oauth.PathToken
	post := func(htu string) (int, map[string]any) {
		req, _ := http.NewRequest("POST", tokenURL, strings.NewReader(url.Values{"grant_type": {"client_credentials"}, "resource": {"https://orders.example.test"}}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth("svc-basic", url.QueryEscape(basicSecret))
		req.Header.Set("DPoP", key.proof(t, "POST", htu, "", ""))
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var body map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&body)
		return resp.StatusCode, body
	}
	if status, body := post(strings.Replace(tokenURL, "https://", "http://", 1)); status != 400 || body["error"] != "invalid_dpop_proof" {
		t.Fatalf("proof for http on the https listener: %d %v", status, body)
	}
	status, body := post(tokenURL)
	if status != 200 || body["token_type"] != "DPoP" {
		t.Fatalf("proof for the https token endpoint: %d %v", status, body)
	}
	at := body["access_token"].(string)
	call := func(htu string) int {
		req, _ := http.NewRequest("GET", n.TLSURL+"/orders/3", nil)
		req.Header.Set("Authorization", "DPoP "+at)
		req.Header.Set("DPoP", key.proof(t, "GET", htu, at, ""))
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if got := call(strings.Replace(n.TLSURL, "https://", "http://", 1) + "/orders/3"); got != 401 {
		t.Fatalf("proof for http at the https listener: %d", got)
	}
	if got := call(n.TLSURL + "/orders/3"); got != 200 {
		t.Fatalf("proof for the https URL: %d", got)
	}
}

// TestDPoPProofUsedAfterClientAuth: the token endpoint checks a proof
// before the client authenticates (so a nonce retry does not burn a client
// assertion) but records it as used only after: a proof first sent without
// or with wrong credentials still works with the right ones, and fills
// nothing; a proof that got a token is refused when replayed. The token
// endpoint's replay cache is its own, apart from the gateway's.
func TestDPoPProofUsedAfterClientAuth(t *testing.T) {
	up := newUpstream(t)
	n := gatewayNode(t, up, nil)
	key := newDPoPKey(t, jose.ES256, n.clock.Now)
	tokenURL := n.Issuer + oauth.PathToken
	p := key.proof(t, "POST", tokenURL, "", "")
	post := func(user, secret string) (int, map[string]any) {
		status, body, _ := postForm(t, tokenURL, url.Values{"grant_type": {"client_credentials"}, "resource": {"https://orders.example.test"}},
			func(r *http.Request) {
				if user != "" {
					r.SetBasicAuth(user, url.QueryEscape(secret))
				}
				r.Header.Set("DPoP", p)
			})
		return status, body
	}
	if status, body := post("", ""); status != 401 || body["error"] != "invalid_client" {
		t.Fatalf("without credentials: %d %v, want 401 invalid_client", status, body)
	}
	if status, body := post("svc-basic", "wrong-secret"); status != 401 || body["error"] != "invalid_client" {
		t.Fatalf("wrong secret: %d %v, want 401 invalid_client", status, body)
	}
	if got := n.dpop.token.Replay.Len(); got != 0 {
		t.Errorf("token endpoint replay cache holds %d entries after refused requests, want 0", got)
	}
	status, body := post("svc-basic", basicSecret)
	if status != 200 || body["token_type"] != "DPoP" {
		t.Fatalf("with credentials after refused attempts: %d %v, want 200 DPoP", status, body)
	}
	if status, body := post("svc-basic", basicSecret); status != 400 || body["error"] != "invalid_dpop_proof" ||
		!strings.Contains(body["error_description"].(string), "already used") {
		t.Fatalf("replayed proof: %d %v, want 400 invalid_dpop_proof (already used)", status, body)
	}
	if n.dpop.token.Replay == n.dpop.gateway.Replay || n.dpop.gateway.Replay != n.dpop.gatewayNonce.Replay {
		t.Error("the token endpoint must have its own replay cache, the gateway's two verifiers one")
	}
	if got, gw := n.dpop.token.Replay.Len(), n.dpop.gateway.Replay.Len(); got != 1 || gw != 0 {
		t.Errorf("replay caches: token endpoint %d, gateway %d entries; want 1 and 0", got, gw)
	}
	// The gateway still refuses a replayed proof in its own cache.
	at := body["access_token"].(string)
	gp := key.proof(t, "GET", n.PublicURL+"/orders/1", at, "")
	if resp, _ := n.callAPI(t, "GET", "/orders/1", "DPoP "+at, gp); resp.StatusCode != 200 {
		t.Fatalf("gateway: %d", resp.StatusCode)
	}
	resp, gbody := n.callAPI(t, "GET", "/orders/1", "DPoP "+at, gp)
	wantDPoPRefusal(t, resp, gbody, "invalid_dpop_proof")
}

// TestDPoPPublicClientProofsUsedOnlyWithAValidGrant: anyone can name a
// public client, so its proofs are recorded only once the code or refresh
// token it presents is found valid. Requests with made-up grants and fresh
// proofs leave the token endpoint's replay cache empty (they could
// otherwise fill it and make every DPoP token request fail); a proof that
// got tokens is refused with another valid code.
func TestDPoPPublicClientProofsUsedOnlyWithAValidGrant(t *testing.T) {
	n := startNode(t)
	n.addUser(t, "alice")
	key := newDPoPKey(t, jose.ES256, n.clock.Now)
	cfg := n.nativeApp()
	tokenURL := n.Issuer + oauth.PathToken
	post := func(form url.Values, proof string) (int, map[string]any) {
		form.Set("client_id", "native-app")
		status, body, _ := postForm(t, tokenURL, form, func(r *http.Request) { r.Header.Set("DPoP", proof) })
		return status, body
	}
	for i := range 50 {
		made := "made-up-" + strconv.Itoa(i)
		forms := []url.Values{
			{"grant_type": {"authorization_code"}, "code": {made}, "code_verifier": {oauth2.GenerateVerifier()}, "redirect_uri": {cfg.RedirectURL}},
			{"grant_type": {"refresh_token"}, "refresh_token": {made}},
		}
		for _, f := range forms {
			if status, body := post(f, key.proof(t, "POST", tokenURL, "", "")); status != 400 || body["error"] != "invalid_grant" {
				t.Fatalf("made-up %s: %d %v, want 400 invalid_grant", f.Get("grant_type"), status, body)
			}
		}
	}
	if got := n.dpop.token.Replay.Len(); got != 0 {
		t.Fatalf("replay cache holds %d entries after requests with made-up grants, want 0", got)
	}
	redeem := func(proof string) (int, map[string]any) {
		v := oauth2.GenerateVerifier()
		code := n.codeFor(t, n.browser(t), cfg, v)
		return post(url.Values{"grant_type": {"authorization_code"}, "code": {code}, "code_verifier": {v},
			"redirect_uri": {cfg.RedirectURL}}, proof)
	}
	proof := key.proof(t, "POST", tokenURL, "", "")
	if status, body := redeem(proof); status != 200 || body["token_type"] != "DPoP" {
		t.Fatalf("valid code: %d %v", status, body)
	}
	if got := n.dpop.token.Replay.Len(); got != 1 {
		t.Fatalf("replay cache holds %d entries after one token, want 1", got)
	}
	if status, body := redeem(proof); status != 400 || body["error"] != "invalid_dpop_proof" ||
		!strings.Contains(body["error_description"].(string), "already used") {
		t.Fatalf("the same proof with another valid code: %d %v, want invalid_dpop_proof (already used)", status, body)
	}
}
