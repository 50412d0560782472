package app

import (
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/internal/config"
	"golang.org/x/oauth2"
)

// BenchmarkGatewayLoopback drives a whole node over loopback TCP, with a
// real upstream, next to a bare httputil.ReverseProxy in the same process:
// the benchmark to profile (-cpuprofile) when the gateway's cost per request
// over the bare proxy is in question. Client, proxies and upstream share the
// process, so read its ratios, not its absolute figures.
func BenchmarkGatewayLoopback(b *testing.B) {
	body := []byte("hello from the upstream\n")
	var upConns atomic.Int64
	up := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header()["Content-Type"] = []string{"text/plain; charset=utf-8"}
		_, _ = w.Write(body)
	}))
	up.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		if st == http.StateNew {
			upConns.Add(1)
		}
	}
	up.Start()
	defer up.Close()
	target, _ := url.Parse(up.URL)

	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConns, tr.MaxIdleConnsPerHost = 1024, 1024
	bare := httptest.NewServer(&httputil.ReverseProxy{
		Rewrite:   func(pr *httputil.ProxyRequest) { pr.SetURL(target) },
		Transport: tr,
	})
	defer bare.Close()

	n := startNodeWith(b, func(c *config.Config) {
		for i := range c.APIs {
			if c.APIs[i].Name == "orders" {
				a := &c.APIs[i]
				a.Upstream.Targets = []string{up.URL}
				a.UpstreamAuth.IdentityHeaders = true
				a.Traffic.PerClient = &gatehouse.RateLimit{Rate: 1 << 30, Period: time.Second, Burst: 1 << 20}
				a.Routes = []gatehouse.Route{
					{Path: "/public/*", Credential: gatehouse.CredentialNone},
					{Path: "/scoped/*", Scopes: []string{"orders:read"}},
				}
			}
		}
	})
	tok, err := n.ccConfig("svc-basic", basicSecret, oauth2.AuthStyleInHeader, "https://orders.example.test", "orders:read").Token(b.Context())
	if err != nil {
		b.Fatal(err)
	}
	gw := n.PublicURL

	// Every target gets the same request, token included, as
	// cmd/gatehouse-bench sends by default: only the proxy differs.
	auth := "Bearer " + tok.AccessToken
	for _, bc := range []struct{ name, url, auth string }{
		{"BareReverseProxy", bare.URL + "/x", auth},
		{"GatehousePublic", gw + "/public/x", auth},
		{"GatehouseScoped", gw + "/scoped/x", auth},
	} {
		b.Run(bc.name, func(b *testing.B) {
			ctr := &http.Transport{MaxIdleConns: 1024, MaxIdleConnsPerHost: 1024,
				DialContext: (&net.Dialer{}).DialContext}
			defer ctr.CloseIdleConnections()
			cl := &http.Client{Transport: ctr}
			b.SetParallelism(32)
			b.ReportAllocs()
			b.ResetTimer()
			before := upConns.Load()
			defer func() { b.ReportMetric(float64(upConns.Load()-before)/float64(b.N), "upstream-conns/op") }()
			b.RunParallel(func(pb *testing.PB) {
				req, _ := http.NewRequest("GET", bc.url, nil)
				if bc.auth != "" {
					req.Header.Set("Authorization", bc.auth)
				}
				for pb.Next() {
					if !fetchOK(b, cl, req) {
						return
					}
				}
			})
		})
	}
}
