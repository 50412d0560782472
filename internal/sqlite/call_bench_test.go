package sqlite_test

import (
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse"
)

// BenchmarkInsertCalls measures call log ingest in batches of 512, the
// writer's default; ns/op is per call.
func BenchmarkInsertCalls(b *testing.B) {
	db := open(b, filepath.Join(b.TempDir(), "calls.db"))
	const batch = 512
	cs := make([]gatehouse.Call, batch)
	t0 := time.Now()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i += batch {
		n := min(batch, b.N-i)
		for j := range n {
			k := i + j
			cs[j] = gatehouse.Call{Time: t0.Add(time.Duration(k) * time.Microsecond), RequestID: strconv.Itoa(k),
				API: "orders", Route: "/orders/{id} GET", Method: "GET", Path: "/orders/" + strconv.Itoa(k%1000),
				Status: 200 + k%3*100, ClientID: "client-" + strconv.Itoa(k%50), Subject: "user", TokenID: "jti-" + strconv.Itoa(k%5000),
				ClientAddr: "192.0.2.1", UserAgent: "bench/1", BytesOut: 1000, Upstream: time.Millisecond, Total: time.Millisecond}
		}
		if err := db.InsertCalls(b.Context(), cs[:n]); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "calls/s")
}
