package traffic_test

import (
	"math/rand/v2"
	"net/http"
	"net/netip"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/internal/traffic"
)

// A limit that every benchmark request passes as time moves 1µs a request,
// so the benchmarks measure the admitting path, which writes the TAT.
var benchLimit = gatehouse.RateLimit{Rate: 1_000_000, Period: time.Second, Burst: 100}

// BenchmarkAllow is one client on one route: an existing key. Target: 0
// allocations.
func BenchmarkAllow(b *testing.B) {
	l := traffic.NewLimiter(0)
	key := "client-42:orders-api:route-7"
	now := t0
	b.ReportAllocs()
	for b.Loop() {
		now = now.Add(time.Microsecond)
		if !l.Allow(key, benchLimit, now).Allowed {
			b.Fatal("refused")
		}
	}
}

// BenchmarkAllowParallelOneKey is the worst case: every goroutine on the
// same key, so on the same shard mutex (an API's spike arrest).
func BenchmarkAllowParallelOneKey(b *testing.B) {
	l := traffic.NewLimiter(0)
	var clock atomic.Int64
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			l.Allow("spike:orders-api", benchLimit, t0.Add(time.Duration(clock.Add(1000))))
		}
	})
}

// BenchmarkAllowParallel spreads goroutines over 10,000 existing keys, as
// many clients are.
func BenchmarkAllowParallel(b *testing.B) {
	l := traffic.NewLimiter(0)
	keys := make([]string, 10_000)
	for i := range keys {
		keys[i] = "client-" + strconv.Itoa(i) + ":orders-api"
		l.Allow(keys[i], benchLimit, t0)
	}
	var seq atomic.Uint64
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		i := seq.Add(7919)
		now := t0
		for pb.Next() {
			i++
			now = now.Add(time.Microsecond)
			l.Allow(keys[i%uint64(len(keys))], benchLimit, now)
		}
	})
}

// BenchmarkAllowNewKeysFull inserts new keys into a table full of live
// ones: the eviction path.
func BenchmarkAllowNewKeysFull(b *testing.B) {
	l := traffic.NewLimiter(10_000)
	keys := make([]string, 100_000)
	for i := range keys {
		keys[i] = "client-" + strconv.Itoa(i)
	}
	lim := gatehouse.RateLimit{Rate: 1, Period: time.Hour}
	i := 0
	b.ReportAllocs()
	for b.Loop() {
		l.Allow(keys[i%len(keys)], lim, t0)
		i++
	}
}

func BenchmarkQuotaTake(b *testing.B) {
	q := traffic.NewQuotas(0)
	quota := gatehouse.Quota{Daily: 1 << 50, Monthly: 1 << 55}
	now := t0
	b.ReportAllocs()
	for b.Loop() {
		now = now.Add(time.Millisecond)
		if !q.Take("client-42:orders-api", quota, now).Allowed {
			b.Fatal("refused")
		}
	}
}

func BenchmarkQuotaTakeParallel(b *testing.B) {
	q := traffic.NewQuotas(0)
	quota := gatehouse.Quota{Daily: 1 << 50, Monthly: 1 << 55}
	keys := make([]string, 10_000)
	for i := range keys {
		keys[i] = "client-" + strconv.Itoa(i) + ":orders-api"
	}
	var seq atomic.Uint64
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		i := seq.Add(7919)
		for pb.Next() {
			i++
			q.Take(keys[i%uint64(len(keys))], quota, t0)
		}
	})
}

// BenchmarkIPFilter looks up addresses, half IPv4 (some mapped) and half
// IPv6, in a filter of 200 prefixes (150 allowed, 50 denied).
func BenchmarkIPFilter(b *testing.B) {
	rng := rand.New(rand.NewPCG(3, 4))
	var allow, deny []netip.Prefix
	for i := range 200 {
		var p netip.Prefix
		if i%2 == 0 {
			a := netip.AddrFrom4([4]byte{byte(rng.IntN(224)), byte(rng.IntN(256)), byte(rng.IntN(256)), 0})
			p = netip.PrefixFrom(a, 12+rng.IntN(13)).Masked()
		} else {
			var a [16]byte
			a[0], a[1], a[2], a[3], a[4] = 0x20, 0x01, 0x0d, 0xb8, byte(rng.IntN(256))
			a[5] = byte(rng.IntN(256))
			p = netip.PrefixFrom(netip.AddrFrom16(a), 40+rng.IntN(25)).Masked()
		}
		if i < 150 {
			allow = append(allow, p)
		} else {
			deny = append(deny, p)
		}
	}
	f, err := traffic.NewIPFilter(allow, deny)
	if err != nil {
		b.Fatal(err)
	}
	addrs := make([]netip.Addr, 1024)
	for i := range addrs {
		switch i % 4 {
		case 0:
			addrs[i] = netip.AddrFrom4([4]byte{byte(rng.IntN(224)), byte(rng.IntN(256)), byte(rng.IntN(256)), byte(rng.IntN(256))})
		case 1:
			addrs[i] = netip.AddrFrom16(netip.AddrFrom4([4]byte{10, byte(rng.IntN(256)), 1, 1}).As16())
		default:
			a := allow[rng.IntN(len(allow))].Addr().As16()
			a[15] = byte(rng.IntN(256))
			addrs[i] = netip.AddrFrom16(a)
		}
	}
	i := 0
	b.ReportAllocs()
	for b.Loop() {
		f.Allowed(addrs[i&1023])
		i++
	}
}

func BenchmarkWriteHeaders(b *testing.B) {
	policy := traffic.PolicyField(traffic.RatePolicy("default", gatehouse.RateLimit{Rate: 100, Period: time.Minute}))
	d := traffic.Decision{Allowed: true, Limit: 101, Remaining: 42, ResetAfter: 13 * time.Second}
	b.ReportAllocs()
	for b.Loop() {
		h := make(http.Header, 4)
		traffic.WriteHeaders(h, "default", policy, d)
	}
}
