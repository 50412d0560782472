package sqlite_test

import (
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse"
)

// BenchmarkInsertCalls measures call log ingest in batches of 128, the
// writer's default (one page each), with the WAL checkpoint the node sets;
// ns/op is per call. OneToken is one client's traffic (the gateway
// benchmark's); ManyTokens spreads calls over 50 clients and 5,000 tokens,
// so that most calls of a batch have a token no other call in it has.
func BenchmarkInsertCalls(b *testing.B) {
	for _, bc := range []struct {
		name            string
		clients, tokens int
	}{{"OneToken", 1, 1}, {"ManyTokens", 50, 5000}} {
		b.Run(bc.name, func(b *testing.B) {
			db := open(b, filepath.Join(b.TempDir(), "calls.db"))
			if err := db.SetWALAutoCheckpoint(b.Context(), 10000); err != nil {
				b.Fatal(err)
			}
			const batch = 128
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
						Status: 200 + k%3*100, ClientID: "client-" + strconv.Itoa(k%bc.clients), Subject: "user",
						TokenID: "jti-" + strconv.Itoa(k%bc.tokens), ClientAddr: "192.0.2.1", UserAgent: "bench/1",
						BytesOut: 1000, Upstream: time.Millisecond, Total: time.Millisecond}
				}
				if err := db.InsertCalls(b.Context(), cs[:n]); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "calls/s")
		})
	}
}

func TestSetWALAutoCheckpoint(t *testing.T) {
	db := open(t, filepath.Join(t.TempDir(), "calls.db"))
	if err := db.SetWALAutoCheckpoint(t.Context(), 10000); err != nil {
		t.Fatal(err)
	}
	if err := db.SetWALAutoCheckpoint(t.Context(), 0); gatehouse.ErrorCode(err) != gatehouse.CodeInvalid {
		t.Fatalf("zero pages: %v", err)
	}
}

// BenchmarkFindCalls queries a log of a million calls (7,813 pages of
// 128, 50 clients and 5,000 tokens spread over all of them, and one rare
// token in a single page) the ways the admin API does, 50 calls at a time.
func BenchmarkFindCalls(b *testing.B) {
	db := open(b, filepath.Join(b.TempDir(), "calls.db"))
	if err := db.SetWALAutoCheckpoint(b.Context(), 10000); err != nil {
		b.Fatal(err)
	}
	const total, batch = 1_000_000, 128
	t0 := time.Date(2031, 1, 2, 3, 4, 5, 0, time.UTC)
	cs := make([]gatehouse.Call, batch)
	for i := 0; i < total; i += batch {
		for j := range cs {
			k := i + j
			cs[j] = gatehouse.Call{Time: t0.Add(time.Duration(k) * time.Millisecond), RequestID: strconv.Itoa(k),
				API: "orders", Route: "/orders/{id} GET", Method: "GET", Path: "/orders/" + strconv.Itoa(k%1000),
				Status: 200 + k%3*100, ClientID: "client-" + strconv.Itoa(k%50), Subject: "user",
				TokenID: "jti-" + strconv.Itoa(k%5000), ClientAddr: "192.0.2.1", UserAgent: "bench/1"}
			if k == total/2 {
				cs[j].TokenID = "rare"
			}
		}
		if err := db.InsertCalls(b.Context(), cs); err != nil {
			b.Fatal(err)
		}
	}
	mid := t0.Add(total / 2 * time.Millisecond)
	for _, bc := range []struct {
		name string
		f    gatehouse.CallFilter
		want int
	}{
		{"Newest", gatehouse.CallFilter{Limit: 50}, 50},
		{"Client", gatehouse.CallFilter{ClientID: "client-7", Limit: 50}, 50},
		{"Token", gatehouse.CallFilter{TokenID: "jti-77", Limit: 50}, 50},
		{"RareToken", gatehouse.CallFilter{TokenID: "rare", Limit: 50}, 1},
		{"RareTokenHour", gatehouse.CallFilter{TokenID: "rare", From: mid.Add(-30 * time.Minute), To: mid.Add(30 * time.Minute), Limit: 50}, 1},
		{"Errors", gatehouse.CallFilter{StatusMin: 400, StatusMax: 499, Limit: 50}, 50},
		// Keyset pages at the far end of the walk: the cursor bounds
		// both ends of the pages it can reach by the widest page span
		// (call_span), so the walk starts there in the index.
		{"DeepNewest", gatehouse.CallFilter{After: &gatehouse.CallCursor{Time: t0.Add(100 * time.Millisecond), ID: 101}, Limit: 50}, 50},
		{"DeepOldest", gatehouse.CallFilter{Ascending: true, After: &gatehouse.CallCursor{Time: t0.Add((total - 100) * time.Millisecond), ID: total - 99}, Limit: 50}, 50},
	} {
		b.Run(bc.name, func(b *testing.B) {
			for b.Loop() {
				got, err := db.FindCalls(b.Context(), bc.f)
				if err != nil || len(got) != bc.want {
					b.Fatalf("%d calls, %v; want %d", len(got), err, bc.want)
				}
			}
		})
	}
	// The export's walk: the whole log oldest first, 1,000 calls per
	// query, each after the last one's cursor (ns/op is per call).
	b.Run("ExportWalk", func(b *testing.B) {
		for b.Loop() {
			f := gatehouse.CallFilter{Ascending: true, Limit: 1000}
			n := 0
			for {
				got, err := db.FindCalls(b.Context(), f)
				if err != nil {
					b.Fatal(err)
				}
				n += len(got)
				if len(got) < f.Limit {
					break
				}
				last := got[len(got)-1]
				f.After = &gatehouse.CallCursor{Time: last.Time, ID: last.ID}
			}
			if stored := (total + batch - 1) / batch * batch; n != stored {
				b.Fatalf("walked %d calls, want %d", n, stored)
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*total), "ns/call")
	})
}
