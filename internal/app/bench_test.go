package app

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/internal/config"
	"github.com/gatehouse/gatehouse/internal/proxy"

	"github.com/gatehouse/gatehouse/internal/oauth"
)

// fetchOK sends req with hc and reads the answer to the end; anything but
// a 200 fails b (from any goroutine) and returns false.
func fetchOK(b *testing.B, hc *http.Client, req *http.Request) bool {
	resp, err := hc.Do(req)
	if err != nil {
		b.Error(err)
		return false
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		b.Errorf("status %d", resp.StatusCode)
		return false
	}
	return true
}

// benchTokenEndpoint posts body to n's token endpoint as client (secret
// basicSecret) from 8 goroutines per core, each answer read to the end,
// and reports tokens/s.
func benchTokenEndpoint(b *testing.B, n *testNode, client, body string) {
	b.Helper()
	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	b.SetParallelism(8)
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			req, _ := http.NewRequest(http.MethodPost, n.Issuer+oauth.PathToken, strings.NewReader(body))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.SetBasicAuth(client, url.QueryEscape(basicSecret))
			if !fetchOK(b, hc, req) {
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "tokens/s")
}

// BenchmarkIssueClientCredentials measures the token endpoint end to end over
// loopback HTTP: form parsing, client_secret_basic authentication, minting an
// EdDSA JWT and writing its record to SQLite. Target: >= 3,000 tokens/s.
func BenchmarkIssueClientCredentials(b *testing.B) {
	for _, bc := range []struct{ name, resource, scope string }{
		{"JWT", "https://orders.example.test", "orders:read"},
		{"Opaque", "https://billing.example.test", "billing:read"},
	} {
		b.Run(bc.name, func(b *testing.B) {
			n := startNode(b)
			body := url.Values{"grant_type": {"client_credentials"}, "resource": {bc.resource}, "scope": {bc.scope}}.Encode()
			benchTokenEndpoint(b, n, "svc-basic", body)
		})
	}
}

// stubTransport answers every upstream request at once, so a benchmark
// measures the gateway and nothing else.
type stubTransport struct{}

func (stubTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	return &http.Response{StatusCode: 200, Header: http.Header{"Content-Type": {"text/plain"}}, Body: http.NoBody,
		ContentLength: 0, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1, Request: r}, nil
}

// benchOrders sets the orders API up for in-process benchmarks: a target
// nobody dials (stubTransport answers), a per-client rate limit that is
// counted on every request and never refuses, and routes.
func benchOrders(c *config.Config, identity bool, routes ...gatehouse.Route) {
	for i := range c.APIs {
		if c.APIs[i].Name == "orders" {
			a := &c.APIs[i]
			a.Upstream.Targets = []string{"http://127.0.0.1:9"}
			a.UpstreamAuth.IdentityHeaders = identity
			a.Traffic.PerClient = &gatehouse.RateLimit{Rate: 1 << 30, Period: time.Second, Burst: 1 << 20}
			a.Routes = routes
		}
	}
}

// benchGateway is a gateway with n's middleware and upstream headers over
// cfg's APIs, whose upstream is stubTransport: the data plane in process.
func benchGateway(b *testing.B, n *testNode, cfg *config.Config) *proxy.Gateway {
	b.Helper()
	gw := &proxy.Gateway{Transport: stubTransport{}, Middleware: n.gateway.proxy.Middleware,
		UpstreamHeaders: n.gateway.proxy.UpstreamHeaders, WatchResponse: n.gateway.proxy.WatchResponse}
	t, err := proxy.Compile(cfg.APIs)
	if err != nil {
		b.Fatal(err)
	}
	gw.Load(t)
	b.Cleanup(func() { gw.Close() })
	return gw
}

// BenchmarkGatewayChain is the whole data plane in process for a token seen
// before: routing, IP rules, bearer extraction, cached verification,
// audience and scope, per-client rate limit, identity headers and the
// ReverseProxy plumbing, with an upstream that costs nothing. Target:
// under 5 µs per request.
func BenchmarkGatewayChain(b *testing.B) {
	for _, bc := range []struct {
		name, path string
		identity   bool // identity headers upstream (five more headers)
	}{
		{"Public", "/public/x", true},
		{"JWT", "/jwt/x", true},
		{"JWTScopesRateLimit", "/scoped/x", true},
		{"JWTScopesRateLimitNoIdentityHeaders", "/scoped/x", false},
	} {
		b.Run(bc.name, func(b *testing.B) {
			var cfg *config.Config
			n := startNodeWith(b, func(c *config.Config) {
				benchOrders(c, bc.identity,
					gatehouse.Route{Path: "/public/*", Credential: gatehouse.CredentialNone},
					gatehouse.Route{Path: "/jwt/*"},
					gatehouse.Route{Path: "/scoped/*", Scopes: []string{"orders:read"}})
				cfg = c
			})
			tok, err := n.ccConfig("svc-basic", basicSecret, oauth2.AuthStyleInHeader, "https://orders.example.test", "orders:read").Token(b.Context())
			if err != nil {
				b.Fatal(err)
			}
			gw := benchGateway(b, n, cfg)
			req := httptest.NewRequest("GET", "http://gw.example"+bc.path, nil)
			req.RemoteAddr = "127.0.0.1:5555"
			if bc.path != "/public/x" {
				req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
			}
			w := httptest.NewRecorder()
			gw.ServeHTTP(w, req)
			if w.Code != 200 {
				b.Fatalf("status %d: %s", w.Code, w.Body)
			}
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				w := httptest.NewRecorder()
				gw.ServeHTTP(w, req)
				if w.Code != 200 {
					b.Fatalf("status %d", w.Code)
				}
			}
		})
	}
}
