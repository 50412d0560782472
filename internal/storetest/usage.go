package storetest

import (
	"testing"
	"time"

	"github.com/gatehouse/gatehouse"
)

func recordUsage(t *testing.T, s Store, us ...gatehouse.Usage) {
	t.Helper()
	if err := s.RecordUsage(t.Context(), us); err != nil {
		t.Fatalf("RecordUsage: %v", err)
	}
}

func wantUsage(t *testing.T, s Store, f gatehouse.UsageFilter, want []*gatehouse.Usage) {
	t.Helper()
	got, err := s.ListUsage(t.Context(), f)
	if err != nil {
		t.Fatalf("ListUsage(%+v): %v", f, err)
	}
	if d := diff(got, want); d != "" {
		t.Fatalf("ListUsage(%+v) (-got +want):\n%s", f, d)
	}
}

func use(kind gatehouse.UsageKind, id, client string, first, last time.Time, addr string, n int64) gatehouse.Usage {
	return gatehouse.Usage{Kind: kind, ID: id, ClientID: client, API: "orders", FirstUsed: first, LastUsed: last, LastAddr: addr, Count: n}
}

var recordUsageTests = []test{
	{"RoundTrip", func(t *testing.T, s Store) {
		u := use(gatehouse.UsageGrant, "g1", "c1", t0, t0.Add(time.Second), "192.0.2.1", 3)
		recordUsage(t, s, u)
		got, err := s.FindUsage(t.Context(), gatehouse.UsageGrant, "g1")
		must(t, err)
		if d := diff(got, &u); d != "" {
			t.Fatalf("(-got +want):\n%s", d)
		}
	}},
	{"MergesBatches", func(t *testing.T, s Store) {
		// A later batch moves the last use, address and API; an earlier
		// first use (a batch flushed late) moves the first use; counts add.
		recordUsage(t, s, use(gatehouse.UsageAPIKey, "k1", "c1", t0, t0.Add(time.Minute), "192.0.2.1", 2))
		later := use(gatehouse.UsageAPIKey, "k1", "c1", t0.Add(2*time.Minute), t0.Add(3*time.Minute), "192.0.2.2", 5)
		later.API = "billing"
		recordUsage(t, s, later)
		recordUsage(t, s, use(gatehouse.UsageAPIKey, "k1", "", t0.Add(-time.Hour), t0.Add(-time.Hour), "192.0.2.9", 1))
		got, err := s.FindUsage(t.Context(), gatehouse.UsageAPIKey, "k1")
		must(t, err)
		want := &gatehouse.Usage{Kind: gatehouse.UsageAPIKey, ID: "k1", ClientID: "c1", API: "billing",
			FirstUsed: t0.Add(-time.Hour), LastUsed: t0.Add(3 * time.Minute), LastAddr: "192.0.2.2", Count: 8}
		if d := diff(got, want); d != "" {
			t.Fatalf("(-got +want):\n%s", d)
		}
	}},
	{"SameIDOtherKind", func(t *testing.T, s Store) {
		recordUsage(t, s, use(gatehouse.UsageGrant, "x", "c1", t0, t0, "a", 1), use(gatehouse.UsageClientSecret, "x", "x", t0, t0, "b", 2))
		g, err := s.FindUsage(t.Context(), gatehouse.UsageGrant, "x")
		must(t, err)
		c, err := s.FindUsage(t.Context(), gatehouse.UsageClientSecret, "x")
		must(t, err)
		if g.Count != 1 || c.Count != 2 {
			t.Fatalf("counts %d and %d, want 1 and 2", g.Count, c.Count)
		}
	}},
	{"Empty", func(t *testing.T, s Store) {
		must(t, s.RecordUsage(t.Context(), nil))
		wantUsage(t, s, gatehouse.UsageFilter{}, nil)
	}},
	{"InvalidWritesNothing", func(t *testing.T, s Store) {
		good := use(gatehouse.UsageGrant, "g1", "c1", t0, t0, "a", 1)
		for name, bad := range map[string]gatehouse.Usage{
			"NoKind":     use("", "g2", "c1", t0, t0, "a", 1),
			"NoID":       use(gatehouse.UsageGrant, "", "c1", t0, t0, "a", 1),
			"NoTime":     use(gatehouse.UsageGrant, "g2", "c1", time.Time{}, t0, "a", 1),
			"Backwards":  use(gatehouse.UsageGrant, "g2", "c1", t0, t0.Add(-1), "a", 1),
			"NegativeN":  use(gatehouse.UsageGrant, "g2", "c1", t0, t0, "a", -1),
			"NoLastTime": use(gatehouse.UsageGrant, "g2", "c1", t0, time.Time{}, "a", 1),
		} {
			err := s.RecordUsage(t.Context(), []gatehouse.Usage{good, bad})
			if gatehouse.ErrorCode(err) != gatehouse.CodeInvalid {
				t.Errorf("%s: error %v, want code invalid", name, err)
			}
		}
		wantUsage(t, s, gatehouse.UsageFilter{}, nil)
	}},
}

var findUsageTests = []test{
	{"NotFound", func(t *testing.T, s Store) {
		recordUsage(t, s, use(gatehouse.UsageGrant, "g1", "c1", t0, t0, "a", 1))
		_, err := s.FindUsage(t.Context(), gatehouse.UsageAPIKey, "g1")
		wantCode(t, err, gatehouse.CodeNotFound)
	}},
}

var listUsageTests = []test{
	{"Filters", func(t *testing.T, s Store) {
		old := use(gatehouse.UsageGrant, "g-old", "c1", t0, t0, "a", 1)
		mid := use(gatehouse.UsageAPIKey, "k-mid", "c2", t0, t0.Add(time.Hour), "b", 1)
		mid.API = "billing"
		recent := use(gatehouse.UsageGrant, "g-new", "c2", t0, t0.Add(2*time.Hour), "c", 1)
		recordUsage(t, s, recent, old, mid)
		for _, tc := range []struct {
			name string
			f    gatehouse.UsageFilter
			want []gatehouse.Usage
		}{
			{"All", gatehouse.UsageFilter{}, []gatehouse.Usage{old, mid, recent}},
			{"Kind", gatehouse.UsageFilter{Kind: gatehouse.UsageGrant}, []gatehouse.Usage{old, recent}},
			{"Client", gatehouse.UsageFilter{ClientID: "c2"}, []gatehouse.Usage{mid, recent}},
			{"API", gatehouse.UsageFilter{API: "billing"}, []gatehouse.Usage{mid}},
			{"UnusedSince", gatehouse.UsageFilter{UnusedSince: t0.Add(time.Hour)}, []gatehouse.Usage{old}},
			{"UnusedSinceKind", gatehouse.UsageFilter{UnusedSince: t0.Add(3 * time.Hour), Kind: gatehouse.UsageAPIKey}, []gatehouse.Usage{mid}},
			{"Limit", gatehouse.UsageFilter{Limit: 2}, []gatehouse.Usage{old, mid}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				want := make([]*gatehouse.Usage, len(tc.want))
				for i := range tc.want {
					want[i] = &tc.want[i]
				}
				wantUsage(t, s, tc.f, want)
			})
		}
	}},
}

var deleteUsageTests = []test{
	{"Before", func(t *testing.T, s Store) {
		keep := use(gatehouse.UsageGrant, "g2", "c1", t0, t0.Add(time.Hour), "a", 1)
		recordUsage(t, s, use(gatehouse.UsageGrant, "g1", "c1", t0, t0, "a", 1), keep)
		n, err := s.DeleteUsage(t.Context(), t0.Add(time.Minute))
		must(t, err)
		if n != 1 {
			t.Fatalf("deleted %d, want 1", n)
		}
		wantUsage(t, s, gatehouse.UsageFilter{}, []*gatehouse.Usage{&keep})
	}},
	{"ZeroTime", func(t *testing.T, s Store) {
		_, err := s.DeleteUsage(t.Context(), time.Time{})
		wantCode(t, err, gatehouse.CodeInvalid)
	}},
}
