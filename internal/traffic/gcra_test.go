package traffic_test

import (
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/internal/traffic"
)

var t0 = time.Date(2026, 3, 14, 15, 9, 26, 0, time.UTC)

// interval is the GCRA emission interval the Limiter uses: Period/Rate
// rounded up to a nanosecond.
func interval(lim gatehouse.RateLimit) time.Duration {
	return (lim.Period + time.Duration(lim.Rate) - 1) / time.Duration(lim.Rate)
}

var limits = []struct {
	name string
	lim  gatehouse.RateLimit
}{
	{"TenPerSecondNoBurst", gatehouse.RateLimit{Rate: 10, Period: time.Second}},
	{"TenPerSecondBurst5", gatehouse.RateLimit{Rate: 10, Period: time.Second, Burst: 5}},
	{"HundredPerMinuteBurst20", gatehouse.RateLimit{Rate: 100, Period: time.Minute, Burst: 20}},
	{"OnePerHourBurst2", gatehouse.RateLimit{Rate: 1, Period: time.Hour, Burst: 2}},
	{"ThreePerSecondUneven", gatehouse.RateLimit{Rate: 3, Period: time.Second, Burst: 1}},
}

func TestAllowBurstThenRefuse(t *testing.T) {
	for _, tc := range limits {
		t.Run(tc.name, func(t *testing.T) {
			l := traffic.NewLimiter(0)
			for i := 0; i <= tc.lim.Burst; i++ {
				d := l.Allow("k", tc.lim, t0)
				if !d.Allowed {
					t.Fatalf("request %d refused, want the first Burst+1 = %d allowed", i, tc.lim.Burst+1)
				}
				if got, want := d.Remaining, tc.lim.Burst-i; got != want {
					t.Errorf("request %d: Remaining = %d, want %d", i, got, want)
				}
				if got, want := d.Limit, tc.lim.Burst+1; got != want {
					t.Errorf("Limit = %d, want %d", got, want)
				}
			}
			d := l.Allow("k", tc.lim, t0)
			if d.Allowed {
				t.Fatalf("request %d allowed, want refused after Burst+1", tc.lim.Burst+1)
			}
			if got, want := d.RetryAfter, interval(tc.lim); got != want {
				t.Errorf("RetryAfter = %v, want one interval %v", got, want)
			}
			if other := l.Allow("other", tc.lim, t0); !other.Allowed {
				t.Error("another key was refused; keys must not share capacity")
			}
		})
	}
}

func TestAllowDecisions(t *testing.T) {
	lim := gatehouse.RateLimit{Rate: 10, Period: time.Second, Burst: 2} // T = 100ms, τ = 200ms
	ms := time.Millisecond
	steps := []struct {
		at   time.Duration
		want traffic.Decision
	}{
		{0, traffic.Decision{Allowed: true, Limit: 3, Remaining: 2, ResetAfter: 100 * ms}},
		{0, traffic.Decision{Allowed: true, Limit: 3, Remaining: 1, ResetAfter: 200 * ms}},
		{0, traffic.Decision{Allowed: true, Limit: 3, Remaining: 0, ResetAfter: 300 * ms}},
		{0, traffic.Decision{Limit: 3, ResetAfter: 300 * ms, RetryAfter: 100 * ms}},
		{40 * ms, traffic.Decision{Limit: 3, ResetAfter: 260 * ms, RetryAfter: 60 * ms}},
		{100 * ms, traffic.Decision{Allowed: true, Limit: 3, Remaining: 0, ResetAfter: 300 * ms}},
		{350 * ms, traffic.Decision{Allowed: true, Limit: 3, Remaining: 1, ResetAfter: 150 * ms}},
		{time.Second, traffic.Decision{Allowed: true, Limit: 3, Remaining: 2, ResetAfter: 100 * ms}},
	}
	l := traffic.NewLimiter(0)
	for i, s := range steps {
		got := l.Allow("k", lim, t0.Add(s.at))
		if diff := cmp.Diff(s.want, got); diff != "" {
			t.Errorf("step %d at +%v (-want +got):\n%s", i, s.at, diff)
		}
	}
}

// TestAllowSustained drives each limit for many periods with a request
// every quarter interval: after the first period, exactly Rate pass per
// Period.
func TestAllowSustained(t *testing.T) {
	for _, tc := range limits {
		t.Run(tc.name, func(t *testing.T) {
			const periods = 20
			T := interval(tc.lim)
			step := T / 4
			l := traffic.NewLimiter(0)
			counts := make([]int, periods)
			end := t0.Add(periods * tc.lim.Period)
			for now := t0; now.Before(end); now = now.Add(step) {
				if l.Allow("k", tc.lim, now).Allowed {
					counts[int(now.Sub(t0)/tc.lim.Period)]++
				}
			}
			exact := tc.lim.Period%time.Duration(tc.lim.Rate) == 0 && T%4 == 0
			for i, got := range counts {
				want := tc.lim.Rate
				if i == 0 {
					want += tc.lim.Burst
				}
				// With an interval rounded up, a period can fall one short.
				if got != want && (exact || got != want-1) {
					t.Errorf("period %d admitted %d, want %d", i, got, want)
				}
			}
		})
	}
}

// TestRefusedDoNotDelayRecovery is Tyk's bug (tyk#1876): a client hammering
// while refused must still be admitted as soon as capacity returns.
func TestRefusedDoNotDelayRecovery(t *testing.T) {
	for _, tc := range limits {
		t.Run(tc.name, func(t *testing.T) {
			l := traffic.NewLimiter(0)
			for range tc.lim.Burst + 1 {
				l.Allow("k", tc.lim, t0)
			}
			T := interval(tc.lim)
			const hammer = 1000
			for i := range hammer {
				at := t0.Add(T * time.Duration(i) / hammer)
				if d := l.Allow("k", tc.lim, at); d.Allowed {
					t.Fatalf("request at +%v allowed before one interval %v", at.Sub(t0), T)
				}
			}
			if d := l.Allow("k", tc.lim, t0.Add(T)); !d.Allowed {
				t.Fatalf("after %d refused requests, the request at +%v (one interval) was refused, RetryAfter %v", hammer, T, d.RetryAfter)
			}
		})
	}
}

func TestRetryAfterIsExact(t *testing.T) {
	for _, tc := range limits {
		t.Run(tc.name, func(t *testing.T) {
			l := traffic.NewLimiter(0)
			for range tc.lim.Burst + 1 {
				l.Allow("k", tc.lim, t0)
			}
			T := interval(tc.lim)
			for _, off := range []time.Duration{0, 1, T / 3, T - 1} {
				now := t0.Add(off)
				d := l.Allow("k", tc.lim, now)
				if d.Allowed || d.RetryAfter <= 0 {
					t.Fatalf("at +%v: %+v, want refused with RetryAfter > 0", off, d)
				}
				if early := l.Allow("k", tc.lim, now.Add(d.RetryAfter-1)); early.Allowed {
					t.Fatalf("at +%v: allowed 1ns before RetryAfter %v", off, d.RetryAfter)
				}
			}
			d := l.Allow("k", tc.lim, t0.Add(T/3))
			if ok := l.Allow("k", tc.lim, t0.Add(T/3).Add(d.RetryAfter)); !ok.Allowed {
				t.Fatalf("refused at now+RetryAfter (%v): %+v", d.RetryAfter, ok)
			}
		})
	}
}

func TestAllowInvalidLimitIsNoLimit(t *testing.T) {
	for _, lim := range []gatehouse.RateLimit{
		{},
		{Rate: 0, Period: time.Second},
		{Rate: 10, Period: 0},
		{Rate: -1, Period: time.Second},
	} {
		l := traffic.NewLimiter(0)
		for range 100 {
			if d := l.Allow("k", lim, t0); d != (traffic.Decision{Allowed: true}) {
				t.Fatalf("%+v: got %+v, want a bare allow", lim, d)
			}
		}
		if n := l.Len(); n != 0 {
			t.Errorf("%+v: %d keys recorded, want none", lim, n)
		}
	}
}

func TestAllowExtremeLimits(t *testing.T) {
	l := traffic.NewLimiter(0)
	huge := gatehouse.RateLimit{Rate: 1, Period: 1 << 62, Burst: 1 << 40}
	if d := l.Allow("huge", huge, t0); !d.Allowed || d.ResetAfter <= 0 {
		t.Errorf("huge period: %+v, want allowed with a positive ResetAfter", d)
	}
	fast := gatehouse.RateLimit{Rate: 1 << 40, Period: time.Nanosecond}
	if d := l.Allow("fast", fast, t0); !d.Allowed {
		t.Errorf("sub-nanosecond interval: %+v, want allowed", d)
	}
	if d := l.Allow("neg", gatehouse.RateLimit{Rate: 1, Period: time.Second, Burst: -5}, t0); d.Limit != 1 {
		t.Errorf("negative burst: Limit %d, want 1", d.Limit)
	}
}

// TestEvictionBoundsMemory inserts a million distinct keys: all live at
// once, the cap holds by evicting; spread over time, dead entries are
// reclaimed and nothing live is evicted.
func TestEvictionBoundsMemory(t *testing.T) {
	n := 1_000_000
	if testing.Short() {
		n = 100_000
	}
	lim := gatehouse.RateLimit{Rate: 10, Period: time.Second} // T = 100ms
	t.Run("AllLive", func(t *testing.T) {
		l := traffic.NewLimiter(10_000)
		if l.Cap() > 10_000 {
			t.Fatalf("Cap = %d, above the 10000 asked", l.Cap())
		}
		for i := range n {
			l.Allow("client-"+strconv.Itoa(i), lim, t0)
			if i%50_000 == 0 && l.Len() > l.Cap() {
				t.Fatalf("after %d keys, Len = %d > Cap %d", i+1, l.Len(), l.Cap())
			}
		}
		if l.Len() > l.Cap() {
			t.Fatalf("Len = %d > Cap %d", l.Len(), l.Cap())
		}
		if got, min := l.Evictions(), uint64(n-l.Cap()); got < min {
			t.Errorf("Evictions = %d, want at least %d", got, min)
		}
		l.Sweep(t0.Add(time.Second))
		if got := l.Len(); got != 0 {
			t.Errorf("Len after Sweep = %d, want 0", got)
		}
	})
	t.Run("Expiring", func(t *testing.T) {
		l := traffic.NewLimiter(10_000)
		now := t0
		for i := range n {
			now = now.Add(time.Millisecond) // ~100 keys live at any time
			l.Allow("client-"+strconv.Itoa(i), lim, now)
		}
		if l.Len() > l.Cap() {
			t.Fatalf("Len = %d > Cap %d", l.Len(), l.Cap())
		}
		if got := l.Evictions(); got != 0 {
			t.Errorf("Evictions = %d, want 0: dead entries should make room", got)
		}
		l.Sweep(now.Add(time.Second))
		if got := l.Len(); got != 0 {
			t.Errorf("Len after Sweep = %d, want 0", got)
		}
	})
}

// TestAllowConcurrentOneKey races goroutines on one key: the total
// admitted is exactly the GCRA bound, at rest and after time passes.
func TestAllowConcurrentOneKey(t *testing.T) {
	lim := gatehouse.RateLimit{Rate: 100, Period: time.Second, Burst: 99}
	l := traffic.NewLimiter(0)
	race := func(now time.Time, goroutines, each int) int64 {
		var allowed atomic.Int64
		var wg sync.WaitGroup
		for range goroutines {
			wg.Go(func() {
				for range each {
					if l.Allow("client:api", lim, now).Allowed {
						allowed.Add(1)
					}
				}
			})
		}
		wg.Wait()
		return allowed.Load()
	}
	if got := race(t0, 32, 50); got != 100 {
		t.Errorf("at rest: %d allowed, want Burst+1 = 100", got)
	}
	if got := race(t0.Add(250*time.Millisecond), 32, 10); got != 25 {
		t.Errorf("after 250ms: %d allowed, want 25", got)
	}
}

func TestAllowConcurrentManyKeys(t *testing.T) {
	lim := gatehouse.RateLimit{Rate: 5, Period: time.Second}
	l := traffic.NewLimiter(256)
	var wg sync.WaitGroup
	for g := range 16 {
		wg.Go(func() {
			for i := range 2000 {
				l.Allow(strconv.Itoa(g*1000+i%700), lim, t0.Add(time.Duration(i)*time.Millisecond))
			}
		})
	}
	wg.Wait()
	if l.Len() > l.Cap() {
		t.Errorf("Len = %d > Cap %d", l.Len(), l.Cap())
	}
}

func TestAllowDoesNotAllocate(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	lim := gatehouse.RateLimit{Rate: 1000, Period: time.Second, Burst: 10}
	l := traffic.NewLimiter(0)
	key := "client-42:orders-api:route-7"
	now := t0
	l.Allow(key, lim, now)
	allocs := testing.AllocsPerRun(1000, func() {
		now = now.Add(time.Millisecond)
		l.Allow(key, lim, now)
	})
	if allocs != 0 {
		t.Errorf("Allow on an existing key: %v allocations, want 0", allocs)
	}
}

// FuzzGCRA feeds random request times (each byte a gap in sixteenths of an
// interval) and checks GCRA's contract both ways: over any window from
// request i to j, the admitted count is at most Burst + 1 + ⌊Δ/T⌋ (which is
// within Burst + 1 + ⌊Δ·Rate/Period⌋), and every refusal was needed: one
// more admission would have broken that bound for some window.
func FuzzGCRA(f *testing.F) {
	f.Add([]byte{0, 0, 0, 0, 0, 16, 16, 1, 1, 255}, uint8(9), uint8(2), uint16(1000))
	f.Add([]byte{3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3}, uint8(2), uint8(0), uint16(999))
	f.Fuzz(func(t *testing.T, gaps []byte, rate, burst uint8, periodMs uint16) {
		if len(gaps) > 400 {
			gaps = gaps[:400]
		}
		lim := gatehouse.RateLimit{
			Rate:   1 + int(rate%50),
			Period: time.Duration(1+int(periodMs)%5000) * time.Millisecond,
			Burst:  int(burst % 20),
		}
		T := int64(interval(lim))
		l := traffic.NewLimiter(0)
		type req struct {
			at      int64
			allowed bool
		}
		now := t0
		var reqs []req
		for _, g := range gaps {
			now = now.Add(time.Duration(int64(g) * T / 16))
			d := l.Allow("k", lim, now)
			if !d.Allowed && (d.RetryAfter <= 0 || d.Remaining != 0) {
				t.Fatalf("refusal with RetryAfter %v, Remaining %d", d.RetryAfter, d.Remaining)
			}
			reqs = append(reqs, req{now.UnixNano(), d.Allowed})
		}
		bound := func(delta int64) int64 { return int64(lim.Burst) + 1 + delta/T }
		for j, rj := range reqs {
			// n counts the admitted requests among reqs[i..j], a window of
			// Δ = rj.at - reqs[i].at; j itself only if admitted.
			var n int64
			needed := rj.allowed
			for i := j; i >= 0; i-- {
				if reqs[i].allowed {
					n++
				}
				delta := rj.at - reqs[i].at
				if n > bound(delta) {
					t.Fatalf("%d admitted in %v, bound %d (%+v)", n, time.Duration(delta), bound(delta), lim)
				}
				if byRate := int64(lim.Burst) + 1 + delta*int64(lim.Rate)/int64(lim.Period); n > byRate {
					t.Fatalf("%d admitted in %v, above Burst+1+Δ·Rate/Period = %d", n, time.Duration(delta), byRate)
				}
				if !rj.allowed && n+1 > bound(delta) {
					needed = true
				}
			}
			if !needed {
				t.Fatalf("request %d refused although admitting it breaks no window (%+v)", j, lim)
			}
		}
	})
}
