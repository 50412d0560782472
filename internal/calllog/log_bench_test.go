package calllog_test

import (
	"context"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/internal/calllog"
)

// benchCalls are calls as the gateway hands them over: from the given
// number of tokens (of up to 50 clients), one anonymous call in ten (no
// client, no token), distinct request ids. Built before the clock starts,
// so that what a benchmark measures is the Log's work alone.
func benchCalls(n, tokens int) []gatehouse.Call {
	cs := make([]gatehouse.Call, n)
	for i := range cs {
		c := gatehouse.Call{RequestID: "req-" + strconv.Itoa(i), API: "orders", Route: "/orders/{id} GET",
			Method: "GET", Path: "/orders/" + strconv.Itoa(i%1000), Status: 200, ClientAddr: "192.0.2.1",
			UserAgent: "bench/1.0", BytesOut: 1000, Upstream: time.Millisecond, Total: 1100 * time.Microsecond}
		if i%10 != 9 {
			c.ClientID, c.Subject = "client-"+strconv.Itoa(i%tokens%50), "user-"+strconv.Itoa(i%tokens%500)
			c.TokenID, c.GrantID = "jti-"+strconv.Itoa(i%tokens), "grant-"+strconv.Itoa(i%tokens%500)
		} else {
			c.Status, c.Reason = 401, "invalid_token:missing"
		}
		cs[i] = c
	}
	return cs
}

// BenchmarkLogWrite is the whole write side of the call log per call:
// Log.Add of b.N calls, then Flush, so that every one is stored in a real
// SQLite file (configured as the node configures it). One token is a load
// test's traffic (every index insert appends); 5,000 tokens spread the
// client and token index inserts over many pages. ns/op is per call,
// allocs/op are the Log's and the store's (the calls are built
// beforehand), cpu-µs/call is this process's CPU time per call, which on a
// shared machine swings less than ns/op. The producer waits when the queue
// is three quarters full, so nothing spills: the rate is the writer's.
func BenchmarkLogWrite(b *testing.B) {
	for _, tokens := range []int{1, 5000} {
		b.Run("Tokens="+strconv.Itoa(tokens), func(b *testing.B) { benchLogWrite(b, tokens) })
	}
}

func benchLogWrite(b *testing.B, tokens int) {
	dir := b.TempDir()
	db := openStore(b, filepath.Join(dir, "calls.db"))
	if err := db.SetWALAutoCheckpoint(context.Background(), 10000); err != nil {
		b.Fatal(err)
	}
	l := openLog(b, db, dir, func(o *calllog.Options) {
		// The node's defaults, but for a longer timeout on a slow machine.
		o.FlushInterval, o.RetryInterval, o.WriteTimeout = 0, 0, time.Minute
	})
	pool := benchCalls(1<<14, tokens)
	b.ReportAllocs()
	cpu0 := cpuTime()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if i%256 == 0 {
			for l.Stats().Queued > calllog.DefaultQueueSize*3/4 {
				time.Sleep(100 * time.Microsecond)
			}
		}
		c := pool[i%len(pool)]
		c.Time = t0.Add(time.Duration(i) * time.Microsecond)
		l.Add(&c)
	}
	if err := l.Flush(context.Background()); err != nil {
		b.Fatal(err)
	}
	b.StopTimer()
	if s := l.Stats(); s.Spilled != 0 || s.Written != uint64(b.N) {
		b.Fatalf("stats %+v: want all %d written, none spilled", s, b.N)
	}
	b.ReportMetric(float64((cpuTime()-cpu0).Nanoseconds())/1e3/float64(b.N), "cpu-µs/call")
}

// BenchmarkLogWritePaced adds calls as a busy gateway does: from many
// goroutines, each call on its own, at about 20,000 calls/s in all, so
// that the queue is mostly short and the writer mostly waits. What counts
// is cpu-µs/call, this process's CPU time per call; ns/op is set by the
// pace. NoLog is the producers' pacing alone, NopStore adds the Log with
// a store that does nothing (the Log's own cost: queue and wake-ups),
// SQLite the whole write side.
func BenchmarkLogWritePaced(b *testing.B) {
	for _, bc := range []struct {
		name  string
		store func(b *testing.B, dir string) calllog.Store
	}{
		{"NoLog", nil},
		{"NopStore", func(*testing.B, string) calllog.Store { return nopStore{} }},
		{"SQLite", func(b *testing.B, dir string) calllog.Store {
			db := openStore(b, filepath.Join(dir, "calls.db"))
			if err := db.SetWALAutoCheckpoint(context.Background(), 10000); err != nil {
				b.Fatal(err)
			}
			return db
		}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			var l *calllog.Log
			if bc.store != nil {
				dir := b.TempDir()
				l = openLog(b, bc.store(b, dir), dir, func(o *calllog.Options) {
					o.FlushInterval, o.RetryInterval, o.WriteTimeout = 0, 0, time.Minute
				})
			}
			pool := benchCalls(1<<14, 1)
			const producers, every = 16, 800 * time.Microsecond // 20,000 calls/s
			b.ReportAllocs()
			cpu0 := cpuTime()
			b.ResetTimer()
			var wg sync.WaitGroup
			for p := range producers {
				wg.Go(func() {
					next := time.Now()
					for i := p; i < b.N; i += producers {
						c := pool[i%len(pool)]
						c.Time = t0.Add(time.Duration(i) * time.Microsecond)
						if l != nil {
							l.Add(&c)
						}
						next = next.Add(every)
						time.Sleep(time.Until(next))
					}
				})
			}
			wg.Wait()
			if l != nil {
				if err := l.Flush(context.Background()); err != nil {
					b.Fatal(err)
				}
				if s := l.Stats(); s.Spilled != 0 || s.Written != uint64(b.N) {
					b.Fatalf("stats %+v: want all %d written, none spilled", s, b.N)
				}
			}
			b.StopTimer()
			b.ReportMetric(float64((cpuTime()-cpu0).Nanoseconds())/1e3/float64(b.N), "cpu-µs/call")
		})
	}
}

// nopStore takes every call and keeps none.
type nopStore struct{}

func (nopStore) InsertCalls(context.Context, []gatehouse.Call) error { return nil }
func (nopStore) DeleteCallsBefore(context.Context, time.Time, int) (int, error) {
	return 0, nil
}
func (nopStore) TrimCalls(context.Context, int64, int) (int, error) { return 0, nil }
