package anomaly

import (
	"context"
	"net/netip"
	"testing"
	"time"
)

func benchRules() []Rule {
	return []Rule{
		{Name: "nets", Kind: KindTokenNetworks, Threshold: 3, Window: time.Hour},
		{Name: "replay", Kind: KindTokenReplay, Threshold: 1, Window: time.Hour},
		{Name: "reuse", Kind: KindRefreshReuse, Window: time.Hour},
		{Name: "fail", Kind: KindAuthFailures, Threshold: 20, Window: time.Minute},
		{Name: "spike", Kind: KindRateSpike, Threshold: 100, Window: 5 * time.Minute},
	}
}

// BenchmarkObserve is the cost on the request path: handing one
// observation to the engine's queue while its goroutine drains it.
func BenchmarkObserve(b *testing.B) {
	e, err := New(benchRules(), Options{})
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go e.Run(ctx)
	o := Observation{At: t0, CredentialID: "Qm9vdHN0cmFwSWQxMjM0NTY", ClientID: "app", GrantID: "g1",
		Addr: netip.MustParseAddr("192.0.2.7"), Status: 200}
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			e.Observe(o)
		}
	})
	b.StopTimer()
	st := e.Stats()
	b.ReportMetric(float64(st.Dropped)/float64(b.N), "dropped/op")
}

// BenchmarkProcess is the engine goroutine's cost per observation with
// every rule on, over 1000 clients.
func BenchmarkProcess(b *testing.B) {
	e, err := New(benchRules(), Options{})
	if err != nil {
		b.Fatal(err)
	}
	ids := make([]string, 1000)
	for i := range ids {
		ids[i] = "client-" + string(rune('a'+i%26)) + string(rune('a'+i/26%26))
	}
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		c := ids[i%len(ids)]
		e.process(ctx, Observation{At: t0.Add(time.Duration(i) * time.Millisecond), CredentialID: c, ClientID: c,
			Addr: netip.AddrFrom4([4]byte{192, 0, 2, byte(i)}), Status: 200})
	}
}
