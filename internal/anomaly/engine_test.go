package anomaly

import (
	"context"
	"fmt"
	"net/netip"
	"runtime"
	"strings"
	"testing"
	"time"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// recorder runs observations through an engine synchronously and keeps its
// hits.
type recorder struct {
	e    *Engine
	hits []Hit
}

func newRecorder(t testing.TB, rules ...Rule) *recorder {
	t.Helper()
	rec := &recorder{}
	e, err := New(rules, Options{OnHit: func(_ context.Context, h Hit) { rec.hits = append(rec.hits, h) }})
	if err != nil {
		t.Fatal(err)
	}
	rec.e = e
	return rec
}

func (r *recorder) see(o Observation) { r.e.process(context.Background(), o) }

func addr(s string) netip.Addr { return netip.MustParseAddr(s) }

func TestTokenNetworks(t *testing.T) {
	rule := Rule{Kind: KindTokenNetworks, Threshold: 2, Window: 10 * time.Minute, Action: ActionRevoke}
	t.Run("FiresOnThirdNetwork", func(t *testing.T) {
		r := newRecorder(t, rule)
		for i, a := range []string{"198.51.100.7", "198.51.100.200", "203.0.113.5", "198.51.100.9", "192.0.2.44"} {
			r.see(Observation{At: t0.Add(time.Duration(i) * time.Second), CredentialID: "jti1", GrantID: "g1", ClientID: "app", Addr: addr(a), Status: 200})
		}
		if len(r.hits) != 1 {
			t.Fatalf("got %d hits, want 1: %+v", len(r.hits), r.hits)
		}
		h := r.hits[0]
		if h.CredentialID != "jti1" || h.GrantID != "g1" || h.Count != 3 || h.Action != ActionRevoke || h.Addr != addr("192.0.2.44") {
			t.Errorf("hit = %+v", h)
		}
	})
	t.Run("IPv6SlashSixtyFourIsOneNetwork", func(t *testing.T) {
		r := newRecorder(t, rule)
		for i := range 50 {
			r.see(Observation{At: t0.Add(time.Duration(i) * time.Second), CredentialID: "jti1", Addr: addr(fmt.Sprintf("2001:db8:1:2::%x", i+1)), Status: 200})
		}
		r.see(Observation{At: t0, CredentialID: "jti1", Addr: addr("::ffff:198.51.100.1"), Status: 200})
		if len(r.hits) != 0 {
			t.Fatalf("got hits %+v", r.hits)
		}
	})
	t.Run("OldNetworksLeaveTheWindow", func(t *testing.T) {
		// A laptop moving home -> office -> café over a day is normal.
		r := newRecorder(t, rule)
		for i, a := range []string{"198.51.100.7", "203.0.113.5", "192.0.2.44", "198.51.100.7"} {
			r.see(Observation{At: t0.Add(time.Duration(i) * 11 * time.Minute), CredentialID: "jti1", Addr: addr(a), Status: 200})
		}
		if len(r.hits) != 0 {
			t.Fatalf("got hits %+v", r.hits)
		}
	})
	t.Run("RefusedUsesDoNotCount", func(t *testing.T) {
		r := newRecorder(t, rule)
		for i, a := range []string{"198.51.100.7", "203.0.113.5", "192.0.2.44"} {
			r.see(Observation{At: t0.Add(time.Duration(i) * time.Second), CredentialID: "jti1", Addr: addr(a), Status: 401, Refusal: RefusalRevoked})
		}
		if len(r.hits) != 0 {
			t.Fatalf("got hits %+v", r.hits)
		}
	})
}

func TestTokenReplay(t *testing.T) {
	rule := Rule{Kind: KindTokenReplay, Threshold: 1, Window: time.Hour}
	t.Run("RevokedPresentedTwice", func(t *testing.T) {
		r := newRecorder(t, rule)
		for i := range 5 {
			r.see(Observation{At: t0.Add(time.Duration(i) * time.Minute), CredentialID: "jti9", ClientID: "app", Addr: addr("192.0.2.1"), Status: 401, Refusal: RefusalRevoked})
		}
		if len(r.hits) != 1 || r.hits[0].Count != 2 || r.hits[0].CredentialID != "jti9" {
			t.Fatalf("hits = %+v, want one at the second presentation", r.hits)
		}
	})
	t.Run("LongExpired", func(t *testing.T) {
		r := newRecorder(t, rule)
		for i := range 2 {
			r.see(Observation{At: t0.Add(time.Duration(i) * time.Minute), CredentialID: "jti9", Status: 401, Refusal: RefusalExpired, ExpiredAt: t0.Add(-time.Hour)})
		}
		if len(r.hits) != 1 {
			t.Fatalf("hits = %+v, want 1", r.hits)
		}
	})
	t.Run("JustExpiredIsNormal", func(t *testing.T) {
		r := newRecorder(t, rule)
		for i := range 3 {
			r.see(Observation{At: t0.Add(time.Duration(i) * time.Second), CredentialID: "jti9", Status: 401, Refusal: RefusalExpired, ExpiredAt: t0.Add(-time.Second)})
		}
		if len(r.hits) != 0 {
			t.Fatalf("hits = %+v", r.hits)
		}
	})
	t.Run("OtherRefusalsIgnored", func(t *testing.T) {
		r := newRecorder(t, rule)
		for i := range 5 {
			r.see(Observation{At: t0.Add(time.Duration(i) * time.Second), CredentialID: "jti9", Status: 401, Refusal: RefusalOther})
		}
		if len(r.hits) != 0 {
			t.Fatalf("hits = %+v", r.hits)
		}
	})
}

func TestRefreshReuse(t *testing.T) {
	r := newRecorder(t, Rule{Kind: KindRefreshReuse, Threshold: 0, Window: time.Hour})
	r.see(Observation{At: t0, ClientID: "app", GrantID: "g1"}) // a normal refresh
	r.see(Observation{At: t0, ClientID: "app", GrantID: "g1", Refusal: RefusalRotated})
	r.see(Observation{At: t0.Add(time.Minute), ClientID: "app", GrantID: "g2", Refusal: RefusalRotated})
	if len(r.hits) != 1 || r.hits[0].GrantID != "g1" || r.hits[0].ClientID != "app" {
		t.Fatalf("hits = %+v, want one for g1 (the second within the window is quiet)", r.hits)
	}
	r.see(Observation{At: t0.Add(61 * time.Minute), ClientID: "app", GrantID: "g3", Refusal: RefusalRotated})
	if len(r.hits) != 2 {
		t.Fatalf("hits = %+v, want a second after the window", r.hits)
	}
}

func TestAuthFailures(t *testing.T) {
	rule := Rule{Kind: KindAuthFailures, Threshold: 10, Window: time.Minute}
	t.Run("BurstForOneClient", func(t *testing.T) {
		r := newRecorder(t, rule)
		for i := range 30 {
			r.see(Observation{At: t0.Add(time.Duration(i) * time.Second), ClientID: "app", Addr: addr("192.0.2.1"), Status: 403})
		}
		if len(r.hits) != 1 || r.hits[0].Key != "client app" || r.hits[0].Count != 11 {
			t.Fatalf("hits = %+v", r.hits)
		}
	})
	t.Run("BurstFromOneAddress", func(t *testing.T) {
		r := newRecorder(t, rule)
		for i := range 11 {
			r.see(Observation{At: t0.Add(time.Duration(i) * time.Second), Addr: addr("192.0.2.1"), Status: 401})
		}
		if len(r.hits) != 1 || r.hits[0].Key != "address 192.0.2.1" {
			t.Fatalf("hits = %+v", r.hits)
		}
	})
	t.Run("SpreadOutIsNormal", func(t *testing.T) {
		r := newRecorder(t, rule)
		for i := range 100 {
			// One failure every 10 s: six per window.
			r.see(Observation{At: t0.Add(time.Duration(i) * 10 * time.Second), ClientID: "app", Status: 401})
		}
		if len(r.hits) != 0 {
			t.Fatalf("hits = %+v", r.hits)
		}
	})
}

func TestRateSpike(t *testing.T) {
	rule := Rule{Kind: KindRateSpike, Threshold: 50, Window: time.Minute, Factor: 5}
	steady := func(r *recorder, from time.Time, d time.Duration, every time.Duration, client string) time.Time {
		at := from
		for ; at.Before(from.Add(d)); at = at.Add(every) {
			r.see(Observation{At: at, ClientID: client, Status: 200})
		}
		return at
	}
	t.Run("TenfoldRise", func(t *testing.T) {
		r := newRecorder(t, rule)
		at := steady(r, t0, 30*time.Minute, time.Second, "app")     // 60/min
		_ = steady(r, at, time.Minute, 100*time.Millisecond, "app") // 600/min
		if len(r.hits) != 1 || r.hits[0].ClientID != "app" {
			t.Fatalf("hits = %+v", r.hits)
		}
		// Fired once the last minute held about five times the baseline
		// (60 a minute), within the first minute of the rise.
		if h := r.hits[0]; h.Count < 280 || h.At.After(at.Add(time.Minute)) {
			t.Errorf("fired at %d requests at %s, want about 300 within a minute of %s", h.Count, h.At, at)
		}
	})
	t.Run("SteadyWithJitterIsNormal", func(t *testing.T) {
		r := newRecorder(t, rule)
		at := t0
		for i := range 3 * 3600 {
			// 1 to 3 requests a second, in a repeating pattern.
			at = at.Add(time.Duration(300+(i*7919)%700) * time.Millisecond)
			r.see(Observation{At: at, ClientID: "app", Status: 200})
		}
		if len(r.hits) != 0 {
			t.Fatalf("hits = %+v", r.hits)
		}
	})
	t.Run("DoublingIsNormal", func(t *testing.T) {
		r := newRecorder(t, rule)
		at := steady(r, t0, 30*time.Minute, time.Second, "app")
		steady(r, at, 30*time.Minute, 500*time.Millisecond, "app")
		if len(r.hits) != 0 {
			t.Fatalf("hits = %+v", r.hits)
		}
	})
	t.Run("BelowFloorIsNormal", func(t *testing.T) {
		r := newRecorder(t, rule)
		at := steady(r, t0, 30*time.Minute, time.Minute, "app") // 1/min
		steady(r, at, time.Minute, 2*time.Second, "app")        // 30/min: 30x, but under 50
		if len(r.hits) != 0 {
			t.Fatalf("hits = %+v", r.hits)
		}
	})
	t.Run("NewClientIsNotJudged", func(t *testing.T) {
		r := newRecorder(t, rule)
		steady(r, t0, time.Minute, 10*time.Millisecond, "new")
		if len(r.hits) != 0 {
			t.Fatalf("hits = %+v", r.hits)
		}
	})
	t.Run("AfterSilence", func(t *testing.T) {
		// A client busy long ago, silent for a day, then back at its old
		// rate: the baseline decayed, but so little time is history that
		// the rise is judged against near zero. It fires: a day of
		// silence then a flood is worth a look.
		r := newRecorder(t, rule)
		at := steady(r, t0, 30*time.Minute, 100*time.Millisecond, "app")
		steady(r, at.Add(24*time.Hour), time.Minute, 100*time.Millisecond, "app")
		if len(r.hits) != 1 {
			t.Fatalf("hits = %+v", r.hits)
		}
	})
}

// TestNormalTraffic runs every rule over half a day of ordinary traffic
// from many clients: steady rates, each token from one or two networks, tokens
// that expire and are refreshed, an occasional typo'd key. Nothing may
// fire.
func TestNormalTraffic(t *testing.T) {
	r := newRecorder(t,
		Rule{Name: "nets", Kind: KindTokenNetworks, Threshold: 3, Window: time.Hour, Action: ActionRevoke},
		Rule{Name: "replay", Kind: KindTokenReplay, Threshold: 0, Window: time.Hour, Action: ActionRevoke},
		Rule{Name: "reuse", Kind: KindRefreshReuse, Threshold: 0, Window: time.Hour},
		Rule{Name: "fail", Kind: KindAuthFailures, Threshold: 20, Window: time.Minute},
		Rule{Name: "spike", Kind: KindRateSpike, Threshold: 100, Window: 5 * time.Minute, Factor: 5},
	)
	const clients = 30
	for step := range 12 * 60 * 6 { // every 10 s for half a day
		at := t0.Add(time.Duration(step) * 10 * time.Second)
		for c := range clients {
			client := fmt.Sprintf("client-%d", c)
			// A token lives 15 minutes; each client refreshes on its own
			// schedule and sends the expired one once first.
			gen := (step + c*7) / 90
			jti := fmt.Sprintf("%s-t%d", client, gen)
			if (step+c*7)%90 == 0 && gen > 0 {
				r.see(Observation{At: at, CredentialID: fmt.Sprintf("%s-t%d", client, gen-1), ClientID: client,
					Addr: addr("192.0.2.1"), Status: 401, Refusal: RefusalExpired, ExpiredAt: at.Add(-2 * time.Second)})
			}
			// Mobile clients hop between two networks.
			a := fmt.Sprintf("198.51.%d.%d", c, 10+step%3)
			if c%4 == 0 && step%2 == 0 {
				a = fmt.Sprintf("203.0.%d.%d", c, 10+step%50)
			}
			for range 1 + (step+c)%3 {
				r.see(Observation{At: at, CredentialID: jti, ClientID: client, GrantID: client + "-g", Addr: addr(a), Status: 200})
			}
			if (step+c)%500 == 0 {
				r.see(Observation{At: at, ClientID: client, Addr: addr(a), Status: 403})
			}
		}
	}
	if len(r.hits) != 0 {
		t.Fatalf("%d hits on normal traffic, first %+v", len(r.hits), r.hits[0])
	}
	if st := r.e.Stats(); st.Observed < 200_000 || st.Evicted != 0 {
		t.Errorf("stats = %+v", st)
	}
}

func TestBoundedKeys(t *testing.T) {
	var hits int
	e, err := New([]Rule{{Kind: KindAuthFailures, Threshold: 2, Window: time.Minute}},
		Options{MaxKeys: 100, OnHit: func(context.Context, Hit) { hits++ }})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 10_000 {
		e.process(context.Background(), Observation{At: t0, Addr: netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)}), Status: 401})
	}
	if n := len(e.rules[0].keys); n > 100 {
		t.Errorf("tracking %d keys, cap 100", n)
	}
	if st := e.Stats(); st.Evicted < 9_000 {
		t.Errorf("evicted %d, want about 9900", st.Evicted)
	}
	// A real burst still fires while the table is full of sprayed keys.
	for i := range 3 {
		e.process(context.Background(), Observation{At: t0.Add(time.Duration(i) * time.Millisecond), ClientID: "victim", Status: 401})
	}
	if hits != 1 {
		t.Errorf("hits = %d, want 1", hits)
	}
}

func TestObserveNeverBlocks(t *testing.T) {
	e, err := New([]Rule{{Kind: KindAuthFailures, Threshold: 2, Window: time.Minute}}, Options{Queue: 4})
	if err != nil {
		t.Fatal(err)
	}
	accepted := 0
	for range 10 {
		if e.Observe(Observation{At: t0, ClientID: "a", Status: 401}) {
			accepted++
		}
	}
	if st := e.Stats(); accepted != 4 || st.Dropped != 6 || st.Queued != 4 {
		t.Errorf("accepted %d, stats %+v; want 4 accepted, 6 dropped", accepted, st)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { e.Run(ctx); close(done) }()
	deadline := time.Now().Add(5 * time.Second)
	for e.Stats().Observed < 4 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	cancel()
	<-done
	if st := e.Stats(); st.Observed != 4 || st.Hits != 1 {
		t.Errorf("stats %+v, want 4 observed and 1 hit", st)
	}
}

func TestRuleValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		rule Rule
		want string
	}{
		{"UnknownKind", Rule{Kind: "nope", Window: time.Minute}, `unknown rule kind "nope"`},
		{"ShortWindow", Rule{Kind: KindAuthFailures, Window: time.Millisecond}, "window must be"},
		{"NegativeThreshold", Rule{Kind: KindAuthFailures, Window: time.Minute, Threshold: -1}, "threshold must be"},
		{"NetworksZero", Rule{Kind: KindTokenNetworks, Window: time.Minute}, "between 1 and 63"},
		{"FactorElsewhere", Rule{Kind: KindAuthFailures, Window: time.Minute, Factor: 3}, "factor applies only"},
		{"FactorTooSmall", Rule{Kind: KindRateSpike, Window: time.Minute, Factor: 1}, "factor must be"},
		{"GraceElsewhere", Rule{Kind: KindAuthFailures, Window: time.Minute, Grace: time.Minute}, "grace applies only"},
		{"RevokeOnClientRule", Rule{Kind: KindAuthFailures, Window: time.Minute, Action: ActionRevoke}, "action revoke applies only"},
		{"UnknownAction", Rule{Kind: KindAuthFailures, Window: time.Minute, Action: "page"}, `unknown action "page"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.rule.Validate()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Validate() = %v, want %q", err, tc.want)
			}
		})
	}
	t.Run("Defaults", func(t *testing.T) {
		r := Rule{Kind: KindRateSpike, Window: time.Minute}
		if err := r.Validate(); err != nil {
			t.Fatal(err)
		}
		if r.Name != "rate_spike" || r.Factor != DefaultFactor || r.Action != ActionAlert {
			t.Errorf("got %+v", r)
		}
	})
	t.Run("DuplicateNames", func(t *testing.T) {
		_, err := New([]Rule{{Kind: KindAuthFailures, Window: time.Minute}, {Kind: KindAuthFailures, Window: time.Hour}}, Options{})
		if err == nil || !strings.Contains(err.Error(), "duplicate name") {
			t.Errorf("New = %v", err)
		}
	})
}

// TestMemoryPerKey bounds what a tracked key costs, so that max_keys bounds
// memory: at most 400 bytes per key and rule.
func TestMemoryPerKey(t *testing.T) {
	e, err := New([]Rule{{Kind: KindAuthFailures, Threshold: 1000, Window: time.Minute}}, Options{MaxKeys: 50_000})
	if err != nil {
		t.Fatal(err)
	}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for i := range 50_000 {
		e.process(context.Background(), Observation{At: t0, Addr: netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)}), Status: 401})
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	per := float64(after.HeapAlloc-before.HeapAlloc) / 50_000
	t.Logf("%.0f bytes per tracked key", per)
	if per > 400 {
		t.Errorf("%.0f bytes per tracked key", per)
	}
	runtime.KeepAlive(e)
}

// TestHitCarriesWhatDecidesRevocation: the hit says whether the credential
// was external and why the firing observation was refused, which decides
// whether the revoke action may act on it.
func TestHitCarriesWhatDecidesRevocation(t *testing.T) {
	replay := Rule{Kind: KindTokenReplay, Threshold: 0, Window: time.Hour, Grace: time.Minute, Action: ActionRevoke}
	nets := Rule{Kind: KindTokenNetworks, Threshold: 1, Window: time.Hour, Action: ActionRevoke}
	tests := []struct {
		name         string
		rule         Rule
		obs          []Observation
		wantExternal bool
		wantRefusal  Refusal
	}{
		{"ExpiredReplay", replay, []Observation{{At: t0, CredentialID: "j", GrantID: "g", Refusal: RefusalExpired, ExpiredAt: t0.Add(-time.Hour)}}, false, RefusalExpired},
		{"RevokedReplay", replay, []Observation{{At: t0, CredentialID: "j", GrantID: "g", Refusal: RefusalRevoked}}, false, RefusalRevoked},
		{"ExternalNetworks", nets, []Observation{
			{At: t0, CredentialID: "ext", Addr: addr("192.0.2.1"), Status: 200, External: true},
			{At: t0, CredentialID: "ext", Addr: addr("198.51.100.1"), Status: 200, External: true},
		}, true, RefusalNone},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := newRecorder(t, tc.rule)
			for _, o := range tc.obs {
				r.see(o)
			}
			if len(r.hits) != 1 {
				t.Fatalf("got %d hits, want 1", len(r.hits))
			}
			if h := r.hits[0]; h.External != tc.wantExternal || h.Refusal != tc.wantRefusal {
				t.Errorf("hit External=%v Refusal=%v, want %v %v", h.External, h.Refusal, tc.wantExternal, tc.wantRefusal)
			}
		})
	}
}
