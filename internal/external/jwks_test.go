package external_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	gojose "github.com/go-jose/go-jose/v4"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/internal/external"
	"github.com/gatehouse/gatehouse/internal/token"
)

// TestKeyRotation: the provider replaces its key; a token signed with the
// new kid is accepted after one refetch, without a restart, and the old key
// is gone.
func TestKeyRotation(t *testing.T) {
	rsa1, rsa2 := rsaTestKey("2024-01", rsaKey1()), rsaTestKey("2024-02", rsaKey2())
	f := newFixture(t, setup{keys: []testKey{rsa1}, opts: func(o *external.Options) { o.MinRefetch = 50 * time.Millisecond }})
	ctx := context.Background()
	old := mint(t, rsa1, f.claims())
	if _, err := f.iss.Verify(ctx, old); err != nil {
		t.Fatal(err)
	}

	f.idp.publish(t, rsa2)
	time.Sleep(60 * time.Millisecond) // MinRefetch since Start
	c, err := f.iss.Verify(ctx, mint(t, rsa2, f.claims().set("jti", str("after-rotation"))))
	if err != nil {
		t.Fatalf("token with the new kid: %v", err)
	}
	if c.ID != "after-rotation" {
		t.Errorf("id %q", c.ID)
	}
	if got := f.idp.hits.Load(); got != 2 {
		t.Errorf("%d jwks fetches; want 2 (start, then one for the new kid)", got)
	}
	_, err = f.iss.Verify(ctx, old)
	wantReason(t, err, token.ReasonUnknownKey)
}

// TestRefetchRateLimit: 100 tokens with random unknown kids, concurrent
// then sequential, cost the provider one fetch per MinRefetch; concurrent
// callers share the fetch under way.
func TestRefetchRateLimit(t *testing.T) {
	rsa1 := rsaTestKey("rsa-1", rsaKey1())
	f := newFixture(t, setup{keys: []testKey{rsa1}, noStart: true, opts: func(o *external.Options) { o.MinRefetch = time.Minute }})
	f.idp.setDelay(50 * time.Millisecond)
	toks := make([]string, 200)
	for n := range toks {
		toks[n] = sign(t, rsa1, fmt.Sprintf("random-%d-%d", n, time.Now().UnixNano()), "at+jwt", f.claims().json())
	}
	ctx := context.Background()
	errs := make([]error, 100)
	var wg sync.WaitGroup
	for n := range 100 {
		wg.Go(func() { _, errs[n] = f.iss.Verify(ctx, toks[n]) })
	}
	wg.Wait()
	for _, err := range errs {
		wantReason(t, err, token.ReasonUnknownKey)
	}
	for _, tok := range toks[100:] {
		_, err := f.iss.Verify(ctx, tok)
		wantReason(t, err, token.ReasonUnknownKey)
	}
	if got := f.idp.hits.Load(); got != 1 {
		t.Errorf("%d jwks fetches for 200 unknown kids; want 1", got)
	}
	// The fetch brought the real key, which works.
	if _, err := f.iss.Verify(ctx, mint(t, rsa1, f.claims())); err != nil {
		t.Fatal(err)
	}
}

// TestConcurrentCallersShareFetch: callers that arrive while a fetch is
// under way wait for it rather than being refused by the rate limit, so a
// burst of tokens with a freshly rotated kid is accepted after one fetch.
func TestConcurrentCallersShareFetch(t *testing.T) {
	rsa1 := rsaTestKey("rsa-1", rsaKey1())
	f := newFixture(t, setup{keys: []testKey{rsa1}, noStart: true, opts: func(o *external.Options) { o.MinRefetch = time.Minute }})
	f.idp.setDelay(100 * time.Millisecond)
	tok := mint(t, rsa1, f.claims())
	errs := make([]error, 50)
	var wg sync.WaitGroup
	for n := range errs {
		wg.Go(func() { _, errs[n] = f.iss.Verify(context.Background(), tok) })
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if got := f.idp.hits.Load(); got != 1 {
		t.Errorf("%d jwks fetches; want 1", got)
	}
}

// TestCancelledCallerDoesNotAbortFetch: the request that triggered a fetch
// may hang up; the fetch others wait for completes anyway.
func TestCancelledCallerDoesNotAbortFetch(t *testing.T) {
	rsa1 := rsaTestKey("rsa-1", rsaKey1())
	f := newFixture(t, setup{keys: []testKey{rsa1}, noStart: true})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	f.iss.Verify(ctx, mint(t, rsa1, f.claims()))
	if !f.iss.Ready() {
		t.Fatalf("fetch aborted with the caller; log:\n%s", f.logs.String())
	}
}

// TestProviderDownAtStart: the Issuer starts without keys and refuses
// tokens, saying why in the log, until a fetch succeeds.
func TestProviderDownAtStart(t *testing.T) {
	rsa1 := rsaTestKey("rsa-1", rsaKey1())
	short := func(o *external.Options) { o.MinRefetch = 20 * time.Millisecond }

	t.Run("RunRecovers", func(t *testing.T) {
		f := newFixture(t, setup{keys: []testKey{rsa1}, down: true, opts: short})
		tok := mint(t, rsa1, f.claims())
		_, err := f.iss.Verify(context.Background(), tok)
		wantReason(t, err, token.ReasonUnknownKey)
		if !strings.Contains(err.Error(), "no key set fetched yet") || !strings.Contains(err.Error(), "503") || f.iss.Ready() {
			t.Errorf("refusal %q, ready %v", err, f.iss.Ready())
		}
		if logs := f.logs.String(); !strings.Contains(logs, "refused until a fetch succeeds") || !strings.Contains(logs, "503") {
			t.Errorf("log does not say why tokens are refused:\n%s", logs)
		}

		f.idp.publish(t, rsa1)
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { f.iss.Run(ctx); close(done) }()
		eventually(t, "the key set", f.iss.Ready)
		if _, err := f.iss.Verify(ctx, tok); err != nil {
			t.Fatal(err)
		}
		cancel()
		<-done
	})

	t.Run("TokenTriggersFetch", func(t *testing.T) {
		f := newFixture(t, setup{keys: []testKey{rsa1}, down: true, opts: short})
		f.idp.publish(t, rsa1)
		time.Sleep(25 * time.Millisecond)
		if _, err := f.iss.Verify(context.Background(), mint(t, rsa1, f.claims())); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("RunBacksOff", func(t *testing.T) {
		// Retries after about 20, 40, 80, 160 ms: five requests in 400 ms
		// where a fixed 20 ms would make twenty.
		f := newFixture(t, setup{keys: []testKey{rsa1}, down: true, opts: short})
		ctx, cancel := context.WithTimeout(context.Background(), 400*time.Millisecond)
		defer cancel()
		f.iss.Run(ctx)
		if got := f.idp.hits.Load(); got < 3 || got > 8 {
			t.Errorf("%d fetches in 400 ms; want about 5", got)
		}
	})
}

// TestBadJWKSKeepsOldSet: a response that is not a good key set is refused
// and the last good set stays in use.
func TestBadJWKSKeepsOldSet(t *testing.T) {
	rsa1 := rsaTestKey("rsa-1", rsaKey1())
	good := jwks(t, rsa1)
	var many gojose.JSONWebKeySet
	for n := range 101 {
		many.Keys = append(many.Keys, gojose.JSONWebKey{Key: mustEC().Public(), KeyID: fmt.Sprint("ec-", n), Algorithm: "ES256", Use: "sig"})
	}
	manyJSON, err := json.Marshal(many)
	if err != nil {
		t.Fatal(err)
	}
	private, err := json.Marshal(gojose.JSONWebKeySet{Keys: []gojose.JSONWebKey{{Key: rsaKey2(), KeyID: "rsa-2", Algorithm: "RS256"}}})
	if err != nil {
		t.Fatal(err)
	}
	huge := append([]byte(`{"pad":"`+strings.Repeat("x", 1<<20)+`",`), good[1:]...)

	tests := []struct {
		name   string
		status int
		ctype  string
		body   []byte
		detail string
	}{
		{"ServerError", 500, "application/json", good, "500"},
		{"Unavailable", 503, "text/plain", []byte("maintenance"), "503"},
		{"Redirect", 302, "text/html", nil, "redirects are not followed"},
		{"HTMLContentType", 200, "text/html; charset=utf-8", good, "content type"},
		{"NoContentType", 200, "", good, "content type"},
		{"NotJSON", 200, "application/json", []byte("<html>oops</html>"), "json"},
		{"TooLarge", 200, "application/json", huge, "more than 1048576 bytes"},
		{"NoKeys", 200, "application/json", []byte(`{"keys":[]}`), "no keys"},
		{"TooManyKeys", 200, "application/json", manyJSON, "more than 100"},
		{"PrivateKey", 200, "application/json", private, "private key"},
		{"DuplicateKid", 200, "application/json", jwks(t, rsa1, rsaTestKey("rsa-1", rsaKey2())), "two keys"},
		{"NoAllowedAlg", 200, "application/json", jwks(t, testKey{kid: "ed", alg: gojose.EdDSA, priv: mustEd()}), "no key for the allowed algorithms"},
		{"DuplicateMember", 200, "application/json", []byte(`{"keys":[],"keys":[]}`), "duplicate"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, setup{keys: []testKey{rsa1}, cfg: func(c *gatehouse.ExternalIssuer) {
				c.Algorithms = []string{"RS256", "ES256"}
			}})
			tok := mint(t, rsa1, f.claims())
			f.idp.respond(tt.status, tt.ctype, tt.body)
			err := f.iss.Start(context.Background())
			if err == nil || !strings.Contains(err.Error(), tt.detail) {
				t.Fatalf("fetch error %v; want one mentioning %q", err, tt.detail)
			}
			if strings.Contains(err.Error(), "s3cret") {
				t.Errorf("error shows the uri's query: %v", err)
			}
			if _, err := f.iss.Verify(context.Background(), tok); err != nil {
				t.Fatalf("old key set was not kept: %v", err)
			}
			if logs := f.logs.String(); !strings.Contains(logs, "keeping the last good key set") {
				t.Errorf("log:\n%s", logs)
			}
		})
	}
}

// TestRunRefreshes: Run fetches on schedule and stops with its context.
func TestRunRefreshes(t *testing.T) {
	rsa1 := rsaTestKey("rsa-1", rsaKey1())
	f := newFixture(t, setup{
		keys:    []testKey{rsa1},
		noStart: true,
		cfg:     func(c *gatehouse.ExternalIssuer) { c.RefreshInterval = 30 * time.Millisecond },
		opts:    func(o *external.Options) { o.MinRefetch = 10 * time.Millisecond },
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { f.iss.Run(ctx); close(done) }()
	eventually(t, "four scheduled fetches", func() bool { return f.idp.hits.Load() >= 4 })
	cancel()
	<-done
}

func TestHTTPS(t *testing.T) {
	rsa1 := rsaTestKey("rsa-1", rsaKey1())
	body := jwks(t, rsa1)
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/jwk-set+json")
		w.Write(body)
	}))
	defer srv.Close()
	cfg := gatehouse.ExternalIssuer{Name: "tls", Issuer: testIss, Audience: testAud, JWKSURI: srv.URL + "/jwks", Algorithms: []string{"RS256"}}

	quiet := slog.New(slog.DiscardHandler)
	iss, err := external.New(cfg, external.Options{HTTPClient: srv.Client(), Log: quiet})
	if err != nil {
		t.Fatal(err)
	}
	if err := iss.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	c := claims{{"iss", str(testIss)}, {"aud", str(testAud)}, {"exp", num(now.Add(time.Minute))}}
	if _, err := iss.Verify(context.Background(), mint(t, rsa1, c)); err != nil {
		t.Fatal(err)
	}

	// The default client checks the certificate, which the test CA fails.
	iss, err = external.New(cfg, external.Options{Log: quiet})
	if err != nil {
		t.Fatal(err)
	}
	if err := iss.Start(context.Background()); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Errorf("untrusted certificate: %v", err)
	}
}

func TestNew(t *testing.T) {
	good := gatehouse.ExternalIssuer{
		Name: "acme", Issuer: testIss, Audience: testAud,
		JWKSURI: "https://idp.example.test/certs", Algorithms: []string{"RS256"},
	}
	tests := []struct {
		name string
		edit func(c *gatehouse.ExternalIssuer, o *external.Options)
		want string // "" for accepted
	}{
		{"Good", func(c *gatehouse.ExternalIssuer, o *external.Options) {}, ""},
		{"LoopbackHTTP", func(c *gatehouse.ExternalIssuer, o *external.Options) { c.JWKSURI = "http://127.0.0.1:8080/jwks" }, ""},
		{"LoopbackIPv6", func(c *gatehouse.ExternalIssuer, o *external.Options) { c.JWKSURI = "http://[::1]:8080/jwks" }, ""},
		{"Localhost", func(c *gatehouse.ExternalIssuer, o *external.Options) { c.JWKSURI = "http://localhost:8080/jwks" }, ""},
		{"AllAlgorithms", func(c *gatehouse.ExternalIssuer, o *external.Options) {
			c.Algorithms = []string{"EdDSA", "ES256", "ES384", "ES512", "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "RS256"}
		}, ""},
		{"MaxLeeway", func(c *gatehouse.ExternalIssuer, o *external.Options) { o.Leeway = time.Minute }, ""},
		{"NoName", func(c *gatehouse.ExternalIssuer, o *external.Options) { c.Name = "" }, "no name"},
		{"NoIssuer", func(c *gatehouse.ExternalIssuer, o *external.Options) { c.Issuer = "" }, "issuer must be set"},
		{"IssuerSpaces", func(c *gatehouse.ExternalIssuer, o *external.Options) { c.Issuer = testIss + " " }, "issuer must be set"},
		{"NoAudience", func(c *gatehouse.ExternalIssuer, o *external.Options) { c.Audience = "" }, "audience"},
		{"HTTPRemote", func(c *gatehouse.ExternalIssuer, o *external.Options) { c.JWKSURI = "http://idp.example.test/certs" }, "https"},
		{"HTTPLoopbackLookalike", func(c *gatehouse.ExternalIssuer, o *external.Options) {
			c.JWKSURI = "http://127.0.0.1.example.test/certs"
		}, "https"},
		{"Relative", func(c *gatehouse.ExternalIssuer, o *external.Options) { c.JWKSURI = "/certs" }, "absolute"},
		{"FileScheme", func(c *gatehouse.ExternalIssuer, o *external.Options) { c.JWKSURI = "file://host/etc/jwks.json" }, "https"},
		{"Credentials", func(c *gatehouse.ExternalIssuer, o *external.Options) {
			c.JWKSURI = "https://u:p@idp.example.test/certs"
		}, "credentials"},
		{"NoAlgorithms", func(c *gatehouse.ExternalIssuer, o *external.Options) { c.Algorithms = nil }, "no allowed algorithms"},
		{"AlgNone", func(c *gatehouse.ExternalIssuer, o *external.Options) { c.Algorithms = []string{"none"} }, `"none" not allowed`},
		{"AlgHS256", func(c *gatehouse.ExternalIssuer, o *external.Options) { c.Algorithms = []string{"RS256", "HS256"} }, `"HS256" not allowed`},
		{"AlgLowerCase", func(c *gatehouse.ExternalIssuer, o *external.Options) { c.Algorithms = []string{"rs256"} }, `"rs256" not allowed`},
		{"AlgES256K", func(c *gatehouse.ExternalIssuer, o *external.Options) { c.Algorithms = []string{"ES256K"} }, "not allowed"},
		{"NegativeRefresh", func(c *gatehouse.ExternalIssuer, o *external.Options) { c.RefreshInterval = -time.Second }, "negative"},
		{"ScopeMapToNothing", func(c *gatehouse.ExternalIssuer, o *external.Options) { c.ScopeMap = map[string]string{"a": ""} }, "scope map"},
		{"ScopeMapToTwo", func(c *gatehouse.ExternalIssuer, o *external.Options) { c.ScopeMap = map[string]string{"a": "b c"} }, "scope map"},
		{"LeewayTooLarge", func(c *gatehouse.ExternalIssuer, o *external.Options) { o.Leeway = 61 * time.Second }, "leeway"},
		{"NegativeMinRefetch", func(c *gatehouse.ExternalIssuer, o *external.Options) { o.MinRefetch = -1 }, "negative"},
		{"NegativeMaxLifetime", func(c *gatehouse.ExternalIssuer, o *external.Options) { o.MaxLifetime = -1 }, "negative"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, o := good, external.Options{}
			c.Algorithms = append([]string(nil), good.Algorithms...)
			tt.edit(&c, &o)
			iss, err := external.New(c, o)
			switch {
			case tt.want == "" && err != nil:
				t.Fatal(err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Fatalf("error %v; want one mentioning %q", err, tt.want)
			case tt.want == "" && (iss.Name() != c.Name || iss.Issuer() != c.Issuer || iss.Audience() != c.Audience || iss.Ready()):
				t.Errorf("issuer %q %q %q ready %v", iss.Name(), iss.Issuer(), iss.Audience(), iss.Ready())
			}
		})
	}
}
