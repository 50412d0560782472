package app

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"golang.org/x/oauth2"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/internal/anomaly"
	"github.com/gatehouse/gatehouse/internal/config"
)

// BenchmarkGatewayAlerts is BenchmarkGatewayChain's JWT + scopes + rate
// limit request with the anomaly rules off and on (all five kinds): the
// difference is what watching costs the request path (the status writer,
// the outcome in the context, one observation queued). The engine's own
// work happens on its goroutine.
func BenchmarkGatewayAlerts(b *testing.B) {
	for _, bc := range []struct {
		name  string
		rules []anomaly.Rule
	}{
		{"Off", nil},
		{"AnomalyOn", allRules},
	} {
		b.Run(bc.name, func(b *testing.B) {
			var cfg *config.Config
			n := startNodeWith(b, func(c *config.Config) {
				benchOrders(c, true, gatehouse.Route{Path: "/scoped/*", Scopes: []string{"orders:read"}})
				rules := append([]anomaly.Rule(nil), bc.rules...)
				for i := range rules {
					if err := rules[i].Validate(); err != nil {
						b.Fatal(err)
					}
				}
				c.Anomaly.Rules = rules
				c.Anomaly.Queue = 1 << 16
				cfg = c
			})
			tok, err := n.ccConfig("svc-basic", basicSecret, oauth2.AuthStyleInHeader, "https://orders.example.test", "orders:read").Token(b.Context())
			if err != nil {
				b.Fatal(err)
			}
			gw := benchGateway(b, n, cfg)
			var h http.Handler = n.alerting.wrap(gw)
			req := httptest.NewRequest("GET", "http://gw.example/scoped/x", nil)
			req.RemoteAddr = "127.0.0.1:5555"
			req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				w := httptest.NewRecorder()
				h.ServeHTTP(w, req)
				if w.Code != 200 {
					b.Fatalf("status %d", w.Code)
				}
			}
			b.StopTimer()
			if e := n.alerting.engine; e != nil {
				st := e.Stats()
				b.ReportMetric(float64(st.Dropped)/float64(b.N), "dropped/op")
			}
		})
	}
}
