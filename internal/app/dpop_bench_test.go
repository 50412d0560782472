//go:build unix

package app

import (
	"net/http/httptest"
	"syscall"
	"testing"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/internal/config"
)

// BenchmarkGatewayChainDPoP is BenchmarkGatewayChain for a DPoP-bound token:
// the whole data plane in process, the token's claims cached, and on every
// request a new proof checked in full (parse, jwk, signature, htm, htu,
// ath, iat, the replay cache) and matched to cnf.jkt. Proofs are signed
// before the timer starts. Target: under 150 µs per request, most of it
// the one signature check.
//
// Besides ns/op it reports cpu-ns/op, the process's CPU time (user and
// system, every thread, GC included) per request, which a machine shared
// with other work inflates far less than wall time.
func BenchmarkGatewayChainDPoP(b *testing.B) {
	for _, alg := range []jose.SignatureAlgorithm{jose.ES256, jose.EdDSA} {
		b.Run(string(alg), func(b *testing.B) {
			var cfg *config.Config
			n := startNodeWith(b, func(c *config.Config) {
				benchOrders(c, true, gatehouse.Route{Path: "/scoped/*", Scopes: []string{"orders:read"}})
				cfg = c
			})
			key := newDPoPKey(b, alg, n.clock.Now)
			at := n.dpopToken(b, key).AccessToken
			gw := benchGateway(b, n, cfg)
			const target = "http://gw.example/scoped/x"
			req := func(proof string) *httptest.ResponseRecorder {
				r := httptest.NewRequest("GET", target, nil)
				r.RemoteAddr = "127.0.0.1:5555"
				r.Header.Set("Authorization", "DPoP "+at)
				r.Header.Set("DPoP", proof)
				w := httptest.NewRecorder()
				gw.ServeHTTP(w, r)
				return w
			}
			if w := req(key.proof(b, "GET", target, at, "")); w.Code != 200 {
				b.Fatalf("status %d: %s", w.Code, w.Body)
			}
			// The node's clock stands still, so every proof stays fresh; each
			// has its own jti, as a real client's would.
			proofs := make([]string, b.N)
			for i := range proofs {
				proofs[i] = key.proof(b, "GET", target, at, "")
			}
			b.ReportAllocs()
			cpu0 := processCPU(b)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if w := req(proofs[i]); w.Code != 200 {
					b.Fatalf("status %d: %s", w.Code, w.Body)
				}
			}
			b.StopTimer()
			b.ReportMetric(float64(processCPU(b)-cpu0)/float64(b.N), "cpu-ns/op")
		})
	}
}

// processCPU returns the CPU time the process has used, in nanoseconds.
func processCPU(b *testing.B) int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}
