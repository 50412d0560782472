package app

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"golang.org/x/oauth2"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/internal/config"
	"github.com/gatehouse/gatehouse/internal/oauth"
)

// upstream is a real HTTP server that records what reached it.
type upstream struct {
	*httptest.Server
	mu   sync.Mutex
	seen []*http.Request
}

func newUpstream(t *testing.T) *upstream {
	u := &upstream{}
	u.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u.mu.Lock()
		u.seen = append(u.seen, r.Clone(context.Background()))
		u.mu.Unlock()
		if r.URL.Path == "/events/long" {
			// A stream that lasts until someone ends it (20 s at most).
			w.Header().Set("Content-Type", "text/event-stream")
			fl := w.(http.Flusher)
			for i := 0; i < 400; i++ {
				io.WriteString(w, "data: tick\n\n")
				fl.Flush()
				select {
				case <-r.Context().Done():
					return
				case <-time.After(50 * time.Millisecond):
				}
			}
			return
		}
		if r.URL.Path == "/events" {
			w.Header().Set("Content-Type", "text/event-stream")
			fl := w.(http.Flusher)
			for i := 0; i < 3; i++ {
				io.WriteString(w, "data: event-"+string(rune('0'+i))+"\n\n")
				fl.Flush()
				select {
				case <-r.Context().Done():
					return
				case <-time.After(150 * time.Millisecond):
				}
			}
			return
		}
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"ok":true}`)
	}))
	t.Cleanup(u.Close)
	return u
}

func (u *upstream) last() *http.Request {
	u.mu.Lock()
	defer u.mu.Unlock()
	if len(u.seen) == 0 {
		return nil
	}
	return u.seen[len(u.seen)-1]
}

// gatewayNode starts a node whose orders and billing APIs proxy to up, with
// the traffic and lifecycle policies the tests need.
func gatewayNode(t *testing.T, up *upstream, adjust func(*config.Config)) *testNode {
	return startNodeWith(t, func(c *config.Config) {
		for i := range c.APIs {
			a := &c.APIs[i]
			a.Upstream.Targets = []string{up.URL}
			switch a.Name {
			case "orders":
				a.UpstreamAuth.IdentityHeaders = true
				a.Routes = []gatehouse.Route{
					{Path: "/orders/*", Scopes: []string{"orders:read"}, Credential: gatehouse.CredentialBearer},
					{Path: "/orders-write/*", Scopes: []string{"orders:write"}, Credential: gatehouse.CredentialBearer},
					{Path: "/events", Credential: gatehouse.CredentialBearer},
					{Path: "/events/long", Credential: gatehouse.CredentialBearer},
					{Path: "/public/*", Credential: gatehouse.CredentialNone},
					{Path: "/limited/*", Credential: gatehouse.CredentialBearer, RateLimit: &gatehouse.RateLimit{Rate: 1, Period: time.Hour, Burst: 2}},
				}
				a.Traffic.IPDeny = []netip.Prefix{netip.MustParsePrefix("2001:db8::/32"), netip.MustParsePrefix("198.51.100.0/24")}
			case "billing":
				a.Routes = []gatehouse.Route{{Path: "/billing/*", Credential: gatehouse.CredentialBearer}}
				a.UpstreamAuth = gatehouse.UpstreamAuth{MintToken: true, MintAudience: "https://billing.internal",
					StaticHeader: "X-Upstream-Secret", StaticValue: "s3cr3t-upstream"}
			}
		}
		c.APIs = append(c.APIs,
			gatehouse.API{Name: "old", Audience: "https://old.example.test", Lifecycle: gatehouse.LifecycleDeprecated,
				SunsetAt: time.Date(2027, 6, 30, 0, 0, 0, 0, time.UTC), Upstream: gatehouse.Upstream{Targets: []string{up.URL}},
				Routes: []gatehouse.Route{{Path: "/old/*", Credential: gatehouse.CredentialNone}}},
			gatehouse.API{Name: "gone", Audience: "https://gone.example.test", Lifecycle: gatehouse.LifecycleRetired,
				Upstream: gatehouse.Upstream{Targets: []string{up.URL}}, Routes: []gatehouse.Route{{Path: "/gone/*", Credential: gatehouse.CredentialNone}}},
		)
		for i := range c.APIs {
			if c.APIs[i].Name == "drafty" {
				c.APIs[i].Upstream.Targets = []string{up.URL}
				c.APIs[i].Routes = []gatehouse.Route{{Path: "/draft/*", Credential: gatehouse.CredentialNone}}
			}
		}
		c.Gateway.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}
		if adjust != nil {
			adjust(c)
		}
	})
}

func (n *testNode) call(t *testing.T, method, path, tok string, hdr map[string]string) (*http.Response, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(method, n.PublicURL+path, nil)
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
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

func (n *testNode) ordersToken(t *testing.T, scopes ...string) string {
	t.Helper()
	tok, err := n.ccConfig("svc-basic", basicSecret, oauth2.AuthStyleInHeader, "https://orders.example.test", scopes...).Token(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return tok.AccessToken
}

func TestGatewayTokenChecks(t *testing.T) {
	up := newUpstream(t)
	n := gatewayNode(t, up, nil)
	readTok := n.ordersToken(t, "orders:read")

	t.Run("ValidTokenProxiedWithoutClientToken", func(t *testing.T) {
		resp, _ := n.call(t, "GET", "/orders/42?x=1", readTok, map[string]string{"X-Gatehouse-Client-Id": "forged"})
		if resp.StatusCode != 200 {
			t.Fatalf("status %d", resp.StatusCode)
		}
		seen := up.last()
		if seen.URL.Path != "/orders/42" || seen.Header.Get("Authorization") != "" {
			t.Errorf("upstream saw path %q and Authorization %q; the client's token must never be forwarded", seen.URL.Path, seen.Header.Get("Authorization"))
		}
		if seen.Header.Get("X-Gatehouse-Client-Id") != "svc-basic" || seen.Header.Get("X-Gatehouse-Scopes") != "orders:read" {
			t.Errorf("identity headers: %v", seen.Header)
		}
	})
	t.Run("NoToken", func(t *testing.T) {
		resp, body := n.call(t, "GET", "/orders/1", "", nil)
		if resp.StatusCode != 401 || resp.Header.Get("WWW-Authenticate") != `Bearer realm="gatehouse"` || body["request_id"] == "" {
			t.Errorf("%d %q %v", resp.StatusCode, resp.Header.Get("WWW-Authenticate"), body)
		}
	})
	t.Run("GarbageToken", func(t *testing.T) {
		resp, body := n.call(t, "GET", "/orders/1", "not.a.token", nil)
		if resp.StatusCode != 401 || !strings.Contains(resp.Header.Get("WWW-Authenticate"), `error="invalid_token"`) || body["error"] != "invalid_token" {
			t.Errorf("%d %q %v", resp.StatusCode, resp.Header.Get("WWW-Authenticate"), body)
		}
	})
	t.Run("TokenForAnotherAPI", func(t *testing.T) {
		billing, err := n.ccConfig("svc-basic", basicSecret, oauth2.AuthStyleInHeader, "https://billing.example.test", "billing:read").Token(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if resp, _ := n.call(t, "GET", "/orders/1", billing.AccessToken, nil); resp.StatusCode != 401 {
			t.Errorf("billing token on orders: %d", resp.StatusCode)
		}
		if resp, _ := n.call(t, "GET", "/billing/1", readTok, nil); resp.StatusCode != 401 {
			t.Errorf("orders token on billing: %d", resp.StatusCode)
		}
		if resp, _ := n.call(t, "GET", "/billing/1", billing.AccessToken, nil); resp.StatusCode != 200 {
			t.Errorf("billing token on billing: %d", resp.StatusCode)
		}
	})
	t.Run("MintedUpstreamToken", func(t *testing.T) {
		billing, err := n.ccConfig("svc-basic", basicSecret, oauth2.AuthStyleInHeader, "https://billing.example.test", "billing:read").Token(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if resp, _ := n.call(t, "GET", "/billing/1", billing.AccessToken, nil); resp.StatusCode != 200 {
			t.Fatalf("status %d", resp.StatusCode)
		}
		seen := up.last()
		auth := seen.Header.Get("Authorization")
		if !strings.HasPrefix(auth, "Bearer ") || strings.Contains(auth, billing.AccessToken) {
			t.Fatalf("upstream Authorization %q: want a token minted for it, never the client's", auth)
		}
		c, _ := n.verifyIndependently(t, strings.TrimPrefix(auth, "Bearer "))
		if len(c.Audience) != 1 || c.Audience[0] != "https://billing.internal" || c.ClientID != "svc-basic" || c.Expiry.Time().Sub(c.IssuedAt.Time()) > time.Minute {
			t.Errorf("minted token claims %+v", c)
		}
		if seen.Header.Get("X-Upstream-Secret") != "s3cr3t-upstream" {
			t.Errorf("static upstream credential missing")
		}
		// The minted token is for the upstream alone: the gateway refuses it.
		if resp, _ := n.call(t, "GET", "/billing/1", strings.TrimPrefix(auth, "Bearer "), nil); resp.StatusCode != 401 {
			t.Errorf("minted upstream token accepted at the gateway: %d", resp.StatusCode)
		}
	})
	t.Run("MissingScope", func(t *testing.T) {
		resp, body := n.call(t, "GET", "/orders-write/1", readTok, nil)
		if resp.StatusCode != 403 || !strings.Contains(resp.Header.Get("WWW-Authenticate"), `error="insufficient_scope", scope="orders:write"`) || body["error"] != "insufficient_scope" {
			t.Errorf("%d %q %v", resp.StatusCode, resp.Header.Get("WWW-Authenticate"), body)
		}
	})
	t.Run("RevokedOnNextUse", func(t *testing.T) {
		tok := n.ordersToken(t, "orders:read")
		if resp, _ := n.call(t, "GET", "/orders/1", tok, nil); resp.StatusCode != 200 {
			t.Fatal("fresh token refused")
		}
		postForm(t, n.Issuer+oauth.PathRevoke, url.Values{"token": {tok}}, func(r *http.Request) {
			r.SetBasicAuth("svc-basic", url.QueryEscape(basicSecret))
		})
		if resp, _ := n.call(t, "GET", "/orders/1", tok, nil); resp.StatusCode != 401 {
			t.Errorf("revoked token on its next use: %d", resp.StatusCode)
		}
	})
	t.Run("QueryTokenRefused", func(t *testing.T) {
		if resp, body := n.call(t, "GET", "/orders/1?access_token="+readTok, "", nil); resp.StatusCode != 400 || body["error"] != "invalid_request" {
			t.Errorf("token in the URL: %d %v", resp.StatusCode, body)
		}
	})
	t.Run("PublicRouteNeedsNothing", func(t *testing.T) {
		if resp, _ := n.call(t, "GET", "/public/x", "", nil); resp.StatusCode != 200 {
			t.Errorf("public route: %d", resp.StatusCode)
		}
		if resp, _ := n.call(t, "GET", "/public/x", readTok, nil); resp.StatusCode != 200 || up.last().Header.Get("Authorization") != "" {
			t.Errorf("public route with a token: %d, upstream Authorization %q", resp.StatusCode, up.last().Header.Get("Authorization"))
		}
	})
	t.Run("PlainHTTPFromAnotherHost", func(t *testing.T) {
		resp, body := n.call(t, "GET", "/orders/1", readTok, map[string]string{"X-Forwarded-For": "203.0.113.9"})
		if resp.StatusCode != 400 || !strings.Contains(body["message"].(string), "plain HTTP") {
			t.Errorf("bearer over plain HTTP from a remote client: %d %v", resp.StatusCode, body)
		}
		// Behind a trusted TLS-terminating proxy the client did use HTTPS.
		resp, body = n.call(t, "GET", "/orders/1", readTok, map[string]string{"X-Forwarded-For": "203.0.113.9", "X-Forwarded-Proto": "https"})
		if resp.StatusCode != 200 {
			t.Errorf("bearer via a trusted proxy that terminated TLS: %d %v", resp.StatusCode, body)
		}
		resp, _ = n.call(t, "GET", "/orders/1", readTok, map[string]string{"X-Forwarded-For": "203.0.113.9", "X-Forwarded-Proto": "http"})
		if resp.StatusCode != 400 {
			t.Errorf("bearer via a trusted proxy over plain HTTP: %d", resp.StatusCode)
		}
	})
	t.Run("IPv6DenyRule", func(t *testing.T) {
		if resp, _ := n.call(t, "GET", "/public/x", "", map[string]string{"X-Forwarded-For": "2001:db8::7"}); resp.StatusCode != 403 {
			t.Errorf("denied IPv6 network: %d", resp.StatusCode)
		}
		if resp, _ := n.call(t, "GET", "/public/x", "", map[string]string{"X-Forwarded-For": "2001:db9::7"}); resp.StatusCode != 200 {
			t.Errorf("other IPv6 network: %d", resp.StatusCode)
		}
		if resp, _ := n.call(t, "GET", "/public/x", "", map[string]string{"X-Forwarded-For": "198.51.100.4"}); resp.StatusCode != 403 {
			t.Errorf("denied IPv4 network: %d", resp.StatusCode)
		}
	})
	t.Run("RateLimit", func(t *testing.T) {
		tok := n.ordersToken(t)
		for i := 0; i < 3; i++ { // burst 2: three at once
			if resp, _ := n.call(t, "GET", "/limited/x", tok, nil); resp.StatusCode != 200 {
				t.Fatalf("request %d within the limit: %d", i+1, resp.StatusCode)
			}
		}
		resp, body := n.call(t, "GET", "/limited/x", tok, nil)
		if resp.StatusCode != 429 || resp.Header.Get("Retry-After") == "" || resp.Header.Get("RateLimit") == "" || body["error"] != "rate_limited" {
			t.Errorf("over the limit: %d %v %v", resp.StatusCode, resp.Header, body)
		}
	})
	t.Run("Lifecycle", func(t *testing.T) {
		resp, _ := n.call(t, "GET", "/old/x", "", nil)
		// RFC 9745: @epoch of the recorded step to deprecated (the config
		// applied at start), so about now.
		dep, _ := strconv.ParseInt(strings.TrimPrefix(resp.Header.Get("Deprecation"), "@"), 10, 64)
		if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Deprecation"), "@") || time.Unix(dep, 0).Sub(n.clock.Now()).Abs() > time.Hour || !strings.Contains(resp.Header.Get("Sunset"), "2027") {
			t.Errorf("deprecated: %d %q %q", resp.StatusCode, resp.Header.Get("Deprecation"), resp.Header.Get("Sunset"))
		}
		if resp, _ := n.call(t, "GET", "/gone/x", "", nil); resp.StatusCode != 410 {
			t.Errorf("retired: %d", resp.StatusCode)
		}
		if resp, _ := n.call(t, "GET", "/draft/x", "", nil); resp.StatusCode != 404 {
			t.Errorf("draft: %d", resp.StatusCode)
		}
	})
	t.Run("SSEArrivesEventByEvent", func(t *testing.T) {
		req, _ := http.NewRequest("GET", n.PublicURL+"/events", nil)
		req.Header.Set("Authorization", "Bearer "+readTok)
		start := time.Now()
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		rd := bufio.NewReader(resp.Body)
		line, err := rd.ReadString('\n')
		if err != nil || line != "data: event-0\n" {
			t.Fatalf("first event %q %v", line, err)
		}
		// The upstream sends the next events 150 ms apart: the first must
		// arrive before the stream ends, not buffered with the rest.
		if el := time.Since(start); el > 280*time.Millisecond {
			t.Errorf("first event after %v: the stream was buffered", el)
		}
	})
	t.Run("AmbiguousRequestsRefused", func(t *testing.T) {
		for name, tc := range map[string]struct {
			method string
			hdr    map[string]string
		}{
			"LowerCaseMethod": {"get", nil},
			"TRACE":           {"TRACE", nil},
			"H2CUpgrade":      {"GET", map[string]string{"Upgrade": "h2c", "Connection": "Upgrade, HTTP2-Settings", "HTTP2-Settings": "AAMAAABkAAQAoAAAAAIAAAAA"}},
		} {
			if resp, _ := n.call(t, tc.method, "/public/x", "", tc.hdr); resp.StatusCode != 400 {
				t.Errorf("%s: %d, want 400", name, resp.StatusCode)
			}
		}
		resp, _ := n.call(t, "POST", "/public/x", "", map[string]string{
			"X_Gatehouse_Client_Id": "forged", "X-HTTP-Method-Override": "DELETE", "X-Api-Key": "ghk_x"})
		if resp.StatusCode != 200 {
			t.Fatalf("status %d", resp.StatusCode)
		}
		for k := range up.last().Header {
			if strings.Contains(k, "_") || strings.EqualFold(k, "X-Http-Method-Override") || strings.EqualFold(k, "X-Api-Key") {
				t.Errorf("header %s reached the upstream", k)
			}
		}
	})
	t.Run("OAuthPathsNotShadowed", func(t *testing.T) {
		if resp, _ := n.call(t, "GET", oauth.PathMetadata, "", nil); resp.StatusCode != 200 {
			t.Errorf("metadata through the public handler: %d", resp.StatusCode)
		}
	})
}

// TestExternalIssuer accepts tokens of an identity provider whose JWKS
// server runs in the test, and picks up its key rotation without restart.
func TestExternalIssuer(t *testing.T) {
	up := newUpstream(t)
	key1, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	key2, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	var current atomic.Pointer[ecdsa.PrivateKey]
	current.Store(key1)
	kid := func(k *ecdsa.PrivateKey) string {
		if k == key1 {
			return "k1"
		}
		return "k2"
	}
	var fetches atomic.Int32
	idp := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fetches.Add(1)
		k := current.Load()
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &k.PublicKey, KeyID: kid(k), Algorithm: "ES256", Use: "sig"}}})
	}))
	defer idp.Close()
	const idpIssuer = "https://idp.example.test/realms/corp"
	n := gatewayNode(t, up, func(c *config.Config) {
		c.ExternalIssuers = []gatehouse.ExternalIssuer{{
			Name: "corp", Issuer: idpIssuer, JWKSURI: idp.URL + "/certs", Algorithms: []string{"ES256"},
			Audience: "https://orders.example.test", ScopeClaim: "scope",
			ScopeMap: map[string]string{"orders.read": "orders:read"}, RefreshInterval: time.Hour,
		}}
		for i := range c.APIs {
			if c.APIs[i].Name == "orders" {
				c.APIs[i].ExternalIssuers = []string{"corp"}
			}
		}
	})
	mint := func(k *ecdsa.PrivateKey, scope string) string {
		s, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: k}, (&jose.SignerOptions{}).WithType("JWT").WithHeader("kid", kid(k)))
		if err != nil {
			t.Fatal(err)
		}
		now := time.Now()
		tok, err := jwt.Signed(s).Claims(map[string]any{
			"iss": idpIssuer, "sub": "user-7", "aud": "https://orders.example.test", "azp": "corp-app",
			"scope": scope, "iat": now.Unix(), "exp": now.Add(5 * time.Minute).Unix(), "jti": "ext-" + kid(k) + scope,
		}).Serialize()
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	if resp, _ := n.call(t, "GET", "/orders/1", mint(key1, "orders.read"), nil); resp.StatusCode != 200 {
		t.Fatalf("external token: %d", resp.StatusCode)
	}
	if got := up.last().Header.Get("X-Gatehouse-Client-Id"); got != "corp-app" {
		t.Errorf("client id from azp: %q", got)
	}
	if resp, _ := n.call(t, "GET", "/orders/1", mint(key1, "profile"), nil); resp.StatusCode != 403 {
		t.Errorf("external token without the mapped scope: %d", resp.StatusCode)
	}
	if resp, _ := n.call(t, "GET", "/billing/1", mint(key1, "orders.read"), nil); resp.StatusCode != 401 {
		t.Errorf("external token on an API that does not accept the issuer: %d", resp.StatusCode)
	}
	// The IdP rotates its key; a token with the new kid makes the gateway
	// refetch the JWKS and accept it, without a restart.
	current.Store(key2)
	time.Sleep(60 * time.Millisecond) // past the refetch floor the test node uses
	before := fetches.Load()
	if resp, _ := n.call(t, "GET", "/orders/1", mint(key2, "orders.read"), nil); resp.StatusCode != 200 {
		t.Fatalf("token signed with the rotated key: %d", resp.StatusCode)
	}
	if fetches.Load() == before {
		t.Error("no JWKS refetch for the unknown kid")
	}
}

func TestHTTPSListener(t *testing.T) {
	up := newUpstream(t)
	n := gatewayNode(t, up, func(c *config.Config) {
		c.TLS = config.TLSConfig{Addr: "127.0.0.1:0", SelfSigned: true}
	})
	if n.TLSURL == "" {
		t.Fatal("no HTTPS listener")
	}
	client := &http.Client{Transport: &http.Transport{
		TLSClientConfig:   &tls.Config{InsecureSkipVerify: true}, // the self-signed development certificate
		ForceAttemptHTTP2: true,
	}}
	req, _ := http.NewRequest("GET", n.TLSURL+"/orders/1", nil)
	req.Header.Set("Authorization", "Bearer "+n.ordersToken(t, "orders:read"))
	req.Header.Set("X-Forwarded-For", "203.0.113.9") // a remote client: fine over HTTPS
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.ProtoMajor != 2 || !strings.HasPrefix(resp.Header.Get("Strict-Transport-Security"), "max-age=") {
		t.Errorf("HTTPS: %d %s HSTS %q", resp.StatusCode, resp.Proto, resp.Header.Get("Strict-Transport-Security"))
	}
	if !strings.Contains(n.logs.String(), "certificate_sha256") {
		t.Error("the certificate fingerprint was not logged")
	}
}

func TestReloadSwapsRoutesAndClients(t *testing.T) {
	up := newUpstream(t)
	var cfg *config.Config
	n := gatewayNode(t, up, func(c *config.Config) { cfg = c })
	tok := n.ordersToken(t, "orders:read")
	if resp, _ := n.call(t, "GET", "/reports/1", tok, nil); resp.StatusCode != 404 {
		t.Fatalf("route before reload: %d", resp.StatusCode)
	}
	next := *cfg
	next.APIs = append([]gatehouse.API(nil), cfg.APIs...)
	for i := range next.APIs {
		if next.APIs[i].Name == "orders" {
			a := next.APIs[i]
			a.Routes = append([]gatehouse.Route{{Path: "/reports/*", Scopes: []string{"orders:read"}}}, a.Routes...)
			next.APIs[i] = a
		}
	}
	// svc-post leaves the file.
	next.Clients = nil
	for _, c := range cfg.Clients {
		if c.ID != "svc-post" {
			next.Clients = append(next.Clients, c)
		}
	}
	postTok, err := n.ccConfig("svc-post", postSecret, oauth2.AuthStyleInParams, "", "orders:read").Token(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	// Requests keep flowing during the reload.
	stop := make(chan struct{})
	var failures atomic.Int32
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			resp, _ := n.call(t, "GET", "/orders/1", tok, nil)
			if resp.StatusCode != 200 {
				failures.Add(1)
			}
		}
	}()
	if err := n.Reload(context.Background(), &next); err != nil {
		t.Fatal(err)
	}
	time.Sleep(50 * time.Millisecond)
	close(stop)
	wg.Wait()
	if failures.Load() != 0 {
		t.Errorf("%d requests failed during the reload", failures.Load())
	}
	if resp, _ := n.call(t, "GET", "/reports/1", tok, nil); resp.StatusCode != 200 {
		t.Errorf("new route after reload: %d", resp.StatusCode)
	}
	if resp, _ := n.call(t, "GET", "/orders/1", postTok.AccessToken, nil); resp.StatusCode != 401 {
		t.Errorf("token of a client removed by the reload: %d", resp.StatusCode)
	}
	bad := next
	bad.APIs = append([]gatehouse.API(nil), next.APIs...)
	bad.APIs[0].Routes = append(bad.APIs[0].Routes, bad.APIs[0].Routes...) // duplicate routes
	if err := n.Reload(context.Background(), &bad); err == nil {
		t.Error("a config whose routes conflict was applied")
	}
	if resp, _ := n.call(t, "GET", "/reports/1", tok, nil); resp.StatusCode != 200 {
		t.Errorf("after a refused reload: %d", resp.StatusCode)
	}
	longer := next
	longer.APIs = append([]gatehouse.API(nil), next.APIs...)
	longer.APIs[0].AccessTokenTTL = 2 * time.Hour
	if err := n.Reload(context.Background(), &longer); err == nil || !strings.Contains(err.Error(), "access_token_ttl") {
		t.Errorf("a reload lengthening the longest token lifetime: %v", err)
	}
	restart := next
	restart.Gateway.AllowPlainHTTPTokens = !next.Gateway.AllowPlainHTTPTokens
	restart.APIs = cfg.APIs // would drop /reports if applied
	if err := n.Reload(context.Background(), &restart); err == nil || !strings.Contains(err.Error(), "gateway") {
		t.Errorf("a reload changing gateway settings: %v", err)
	}
	if resp, _ := n.call(t, "GET", "/reports/1", tok, nil); resp.StatusCode != 200 {
		t.Errorf("a refused reload was partly applied: %d", resp.StatusCode)
	}
}

func TestAPIKeysAndClientNetworks(t *testing.T) {
	up := newUpstream(t)
	n := gatewayNode(t, up, func(c *config.Config) {
		c.Gateway.AllowPlainHTTPTokens = true // remote clients are simulated through X-Forwarded-For
		for i := range c.APIs {
			if c.APIs[i].Name == "orders" {
				c.APIs[i].Routes = append(c.APIs[i].Routes, gatehouse.Route{Path: "/keyed/*", Credential: gatehouse.CredentialAPIKey, Scopes: []string{"orders:read"}})
			}
		}
		for i := range c.Clients {
			if c.Clients[i].ID == "svc-post" {
				c.Clients[i].Networks = gatehouse.ClientNetworks{Allow: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("127.0.0.0/8")}}
			}
		}
	})
	ctx := context.Background()
	newKey := func(body string) (int, map[string]any) {
		req, _ := http.NewRequest("POST", n.AdminURL+"/admin/v1/api-keys", strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+n.adminToken(t))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var m map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&m)
		return resp.StatusCode, m
	}
	status, k := newKey(`{"client_id":"svc-basic","api":"orders","scopes":["orders:read"],"expires_in":3600}`)
	key, _ := k["api_key"].(string)
	if status != 201 || !strings.HasPrefix(key, "ghk_") {
		t.Fatalf("create API key: %d %v", status, k)
	}
	if resp, _ := n.call(t, "GET", "/keyed/1", "", map[string]string{"X-API-Key": key}); resp.StatusCode != 200 {
		t.Errorf("API key: %d", resp.StatusCode)
	}
	if up.last().Header.Get("X-Api-Key") != "" {
		t.Error("the API key was forwarded upstream")
	}
	if resp, _ := n.call(t, "GET", "/keyed/1", "", map[string]string{"X-API-Key": "ghk_" + strings.Repeat("A", 43)}); resp.StatusCode != 401 {
		t.Errorf("unknown API key: %d", resp.StatusCode)
	}
	if resp, _ := n.call(t, "GET", "/keyed/1", key, nil); resp.StatusCode != 401 {
		t.Errorf("API key route with a bearer header and no key: %d", resp.StatusCode)
	}
	if resp, _ := n.call(t, "GET", "/orders/1", key, nil); resp.StatusCode != 401 {
		t.Errorf("API key used as a bearer token: %d", resp.StatusCode)
	}
	for name, body := range map[string]string{
		"ScopeNotAllowed": `{"client_id":"svc-basic","api":"orders","scopes":["orders:admin"]}`,
		"UnknownClient":   `{"client_id":"ghost","api":"orders"}`,
		"NoAccess":        `{"client_id":"svc-post","api":"billing"}`,
		"UnknownField":    `{"client_id":"svc-basic","api":"orders","admin":true}`,
	} {
		if status, _ := newKey(body); status < 400 || status >= 500 {
			t.Errorf("%s: %d", name, status)
		}
	}
	// The owner revokes it (RFC 7009): refused on the next request.
	postForm(t, n.Issuer+oauth.PathRevoke, url.Values{"token": {key}}, func(r *http.Request) {
		r.SetBasicAuth("svc-basic", url.QueryEscape(basicSecret))
	})
	if resp, _ := n.call(t, "GET", "/keyed/1", "", map[string]string{"X-API-Key": key}); resp.StatusCode != 401 {
		t.Errorf("revoked API key: %d", resp.StatusCode)
	}

	// svc-post may call only from 10.0.0.0/8 and loopback.
	tok, err := n.ccConfig("svc-post", postSecret, oauth2.AuthStyleInParams, "", "orders:read").Token(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if resp, _ := n.call(t, "GET", "/orders/1", tok.AccessToken, map[string]string{"X-Forwarded-For": "10.4.5.6"}); resp.StatusCode != 200 {
		t.Errorf("allowed network: %d", resp.StatusCode)
	}
	if resp, body := n.call(t, "GET", "/orders/1", tok.AccessToken, map[string]string{"X-Forwarded-For": "203.0.113.9"}); resp.StatusCode != 403 {
		t.Errorf("client outside its networks: %d %v", resp.StatusCode, body)
	}
	// Another client is not restricted.
	if resp, _ := n.call(t, "GET", "/orders/1", n.ordersToken(t, "orders:read"), map[string]string{"X-Forwarded-For": "203.0.113.9"}); resp.StatusCode != 200 {
		t.Errorf("unrestricted client: %d", resp.StatusCode)
	}
}

// TestStreamsEndWithTheirToken: an event stream (or WebSocket) outlives the
// check made when it started, so the gateway ends it when its token is
// revoked or expires.
func TestStreamsEndWithTheirToken(t *testing.T) {
	up := newUpstream(t)
	n := gatewayNode(t, up, nil)
	open := func(t *testing.T, tok string, accept ...string) (*bufio.Reader, func()) {
		t.Helper()
		req, _ := http.NewRequest("GET", n.PublicURL+"/events/long", nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		req.Header.Set("Accept", "text/event-stream")
		if len(accept) > 0 {
			// The client does not say it wants a stream; the upstream sends one anyway.
			req.Header.Set("Accept", accept[0])
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != 200 {
			t.Fatalf("status %d", resp.StatusCode)
		}
		rd := bufio.NewReader(resp.Body)
		if line, err := rd.ReadString('\n'); err != nil || line != "data: tick\n" {
			t.Fatalf("first event %q %v", line, err)
		}
		return rd, func() { resp.Body.Close() }
	}
	// ends waits for the stream to stop; the upstream would go on for 20 s.
	ends := func(t *testing.T, rd *bufio.Reader) {
		t.Helper()
		start := time.Now()
		for time.Since(start) < 5*time.Second {
			if _, err := rd.ReadString('\n'); err != nil {
				return
			}
		}
		t.Fatal("the stream went on after its token ended")
	}
	t.Run("Revoked", func(t *testing.T) {
		tok := n.ordersToken(t)
		rd, closeFn := open(t, tok)
		defer closeFn()
		// Still flowing while the token is good.
		for i := 0; i < 3; i++ {
			if _, err := rd.ReadString('\n'); err != nil {
				t.Fatalf("stream ended early: %v", err)
			}
		}
		postForm(t, n.Issuer+oauth.PathRevoke, url.Values{"token": {tok}}, func(r *http.Request) {
			r.SetBasicAuth("svc-basic", basicSecret)
		})
		ends(t, rd)
	})
	t.Run("RevokedUnannounced", func(t *testing.T) {
		tok := n.ordersToken(t)
		rd, closeFn := open(t, tok, "text/html")
		defer closeFn()
		postForm(t, n.Issuer+oauth.PathRevoke, url.Values{"token": {tok}}, func(r *http.Request) {
			r.SetBasicAuth("svc-basic", basicSecret)
		})
		ends(t, rd)
	})
	t.Run("Expired", func(t *testing.T) {
		rd, closeFn := open(t, n.ordersToken(t))
		defer closeFn()
		n.clock.Advance(2 * time.Hour)
		ends(t, rd)
	})
}

// TestSilentStreamsEndWithTheirToken: a stream whose upstream has gone
// quiet (an event stream between events, a WebSocket nobody types in) is
// ended too when its token is revoked, without waiting for the upstream's
// next word.
func TestSilentStreamsEndWithTheirToken(t *testing.T) {
	up := &upstream{}
	up.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/orders/silent":
			w.Header().Set("Content-Type", "text/event-stream")
			io.WriteString(w, "data: first\n\n")
			w.(http.Flusher).Flush()
			<-r.Context().Done() // then nothing until the gateway hangs up
		case "/orders/ws":
			conn, brw, err := http.NewResponseController(w).Hijack()
			if err != nil {
				return
			}
			defer conn.Close()
			brw.WriteString("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")
			brw.Flush()
			io.Copy(io.Discard, brw) // silent until the gateway closes
		}
	}))
	t.Cleanup(up.Close)
	n := gatewayNode(t, up, nil)
	revoke := func(tok string) {
		postForm(t, n.Issuer+oauth.PathRevoke, url.Values{"token": {tok}}, func(r *http.Request) {
			r.SetBasicAuth("svc-basic", basicSecret)
		})
	}
	// ended waits for rd to fail; the upstream would never end on its own.
	ended := func(t *testing.T, rd *bufio.Reader) {
		t.Helper()
		done := make(chan error, 1)
		go func() {
			_, err := rd.ReadString('\n')
			done <- err
		}()
		select {
		case err := <-done:
			if err == nil {
				t.Fatal("the stream sent more after its token was revoked")
			}
		case <-time.After(5 * time.Second):
			t.Fatal("the silent stream went on after its token was revoked")
		}
	}
	t.Run("EventStream", func(t *testing.T) {
		tok := n.ordersToken(t)
		req, _ := http.NewRequest("GET", n.PublicURL+"/orders/silent", nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		rd := bufio.NewReader(resp.Body)
		if ev, err := rd.ReadString('\n'); err != nil || ev != "data: first\n" {
			t.Fatalf("first event %q %v", ev, err)
		}
		if blank, err := rd.ReadString('\n'); err != nil || blank != "\n" {
			t.Fatalf("end of the first event %q %v", blank, err)
		}
		revoke(tok)
		ended(t, rd)
	})
	t.Run("WebSocket", func(t *testing.T) {
		tok := n.ordersToken(t)
		_, rd, _ := upgradeWebSocket(t, n, tok)
		revoke(tok)
		ended(t, rd)
	})
}

// TestTrustedProxiesSpeakForwarded: with gateway.trusted_proxies_header:
// forwarded, the client's address and scheme come from a trusted proxy's
// RFC 7239 Forwarded header, at the gateway and at the OAuth endpoints, and
// its X-Forwarded-For is not believed.
func TestTrustedProxiesSpeakForwarded(t *testing.T) {
	up := newUpstream(t)
	n := gatewayNode(t, up, func(c *config.Config) { c.Gateway.TrustedProxiesHeader = config.ProxiesForwarded })
	readTok := n.ordersToken(t, "orders:read")
	for _, tc := range []struct {
		name, path, tok string
		hdr             map[string]string
		want            int
	}{
		{"DeniedNetwork", "/public/x", "", map[string]string{"Forwarded": "for=198.51.100.4"}, 403},
		{"DeniedNetworkIPv6", "/public/x", "", map[string]string{"Forwarded": `for="[2001:db8::7]:443"`}, 403},
		{"XForwardedForNotRead", "/public/x", "", map[string]string{"X-Forwarded-For": "198.51.100.4"}, 200},
		{"RightmostHopIsTheClient", "/public/x", "", map[string]string{"Forwarded": "for=198.51.100.4, for=203.0.113.9"}, 200},
		{"BearerOverProxyHTTPS", "/orders/1", readTok, map[string]string{"Forwarded": "for=203.0.113.9;proto=https", "X-Forwarded-For": "192.0.2.66"}, 200},
		// A client's own element in front: the proxy's element, the one
		// that names the client, says http.
		{"BearerClientForgedProto", "/orders/1", readTok, map[string]string{"Forwarded": "for=192.0.2.66;proto=https, for=203.0.113.9;proto=http"}, 400},
		{"BearerOverProxyHTTP", "/orders/1", readTok, map[string]string{"Forwarded": "for=203.0.113.9;proto=http"}, 400},
		{"BearerXForwardedProtoNotRead", "/orders/1", readTok, map[string]string{"Forwarded": "for=203.0.113.9", "X-Forwarded-Proto": "https"}, 400},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if resp, body := n.call(t, "GET", tc.path, tc.tok, tc.hdr); resp.StatusCode != tc.want {
				t.Errorf("status %d, want %d: %v", resp.StatusCode, tc.want, body)
			}
			if tc.name == "BearerOverProxyHTTPS" {
				if h := up.last().Header; h.Get("X-Real-Ip") != "203.0.113.9" || h.Get("X-Forwarded-For") != "203.0.113.9, 127.0.0.1" {
					t.Errorf("upstream X-Real-Ip %q, X-Forwarded-For %q: want the client the proxy named", h.Get("X-Real-Ip"), h.Get("X-Forwarded-For"))
				}
			}
		})
	}
	t.Run("TokenEndpoint", func(t *testing.T) {
		for _, tc := range []struct {
			forwarded string
			ok        bool
		}{
			{"for=203.0.113.9;proto=https", true},
			{"for=203.0.113.9", false}, // a remote client in clear
		} {
			hc := &http.Client{Transport: headerTransport{"Forwarded": tc.forwarded}}
			ctx := context.WithValue(context.Background(), oauth2.HTTPClient, hc)
			_, err := n.ccConfig("svc-basic", basicSecret, oauth2.AuthStyleInHeader, "https://orders.example.test").Token(ctx)
			if (err == nil) != tc.ok {
				t.Errorf("Forwarded %q: err %v, want ok=%v", tc.forwarded, err, tc.ok)
			}
		}
	})
}

// headerTransport adds fixed headers to every request.
type headerTransport map[string]string

func (h headerTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	for k, v := range h {
		r.Header.Set(k, v)
	}
	return http.DefaultTransport.RoundTrip(r)
}
