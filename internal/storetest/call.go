package storetest

import (
	"fmt"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse"
)

// newCall returns a call with every field set.
func newCall(i int, at time.Time) gatehouse.Call {
	return gatehouse.Call{
		Time: at, RequestID: fmt.Sprintf("req-%d", i), API: "orders", Route: "/orders/{id} GET",
		Method: "GET", Path: "/orders/7?token=REDACTED", Status: 200, ClientID: "client-1", Subject: "user-1",
		TokenID: fmt.Sprintf("jti-%d", i), GrantID: "g1", ClientAddr: "192.0.2.1", UserAgent: "test/1",
		BytesIn: 12, BytesOut: 3456, Upstream: 1500 * time.Microsecond, Total: 2 * time.Millisecond,
	}
}

func insertCalls(t *testing.T, s Store, cs []gatehouse.Call) {
	t.Helper()
	if err := s.InsertCalls(t.Context(), cs); err != nil {
		t.Fatalf("InsertCalls: %v", err)
	}
}

func findCalls(t *testing.T, s Store, f gatehouse.CallFilter) []gatehouse.Call {
	t.Helper()
	got, err := s.FindCalls(t.Context(), f)
	if err != nil {
		t.Fatalf("FindCalls(%+v): %v", f, err)
	}
	return got
}

func requestIDs(cs []gatehouse.Call) []string {
	ids := make([]string, len(cs))
	for i, c := range cs {
		ids[i] = c.RequestID
	}
	return ids
}

var insertCallsTests = []test{
	{"RoundTrip", func(t *testing.T, s Store) {
		c := newCall(1, t0.In(time.FixedZone("X", 3600)))
		c.Reason = "invalid_token:expired"
		cs := []gatehouse.Call{c}
		insertCalls(t, s, cs)
		if cs[0].ID == 0 {
			t.Fatal("InsertCalls did not set the id")
		}
		want := cs[0]
		got := findCalls(t, s, gatehouse.CallFilter{})
		if d := diff(got, []gatehouse.Call{want}); d != "" {
			t.Fatalf("(-got +want):\n%s", d)
		}
	}},
	{"IDsIncrease", func(t *testing.T, s Store) {
		cs := []gatehouse.Call{newCall(1, t0), newCall(2, t0), newCall(3, t0.Add(-time.Hour))}
		insertCalls(t, s, cs)
		more := []gatehouse.Call{newCall(4, t0)}
		insertCalls(t, s, more)
		if !(cs[0].ID < cs[1].ID && cs[1].ID < cs[2].ID && cs[2].ID < more[0].ID) {
			t.Fatalf("ids %d %d %d %d, want increasing", cs[0].ID, cs[1].ID, cs[2].ID, more[0].ID)
		}
	}},
	{"InvalidWritesNothing", func(t *testing.T, s Store) {
		err := s.InsertCalls(t.Context(), []gatehouse.Call{newCall(1, t0), {RequestID: "no time"}})
		wantCode(t, err, gatehouse.CodeInvalid)
		if got := findCalls(t, s, gatehouse.CallFilter{}); len(got) != 0 {
			t.Fatalf("%d calls stored, want none", len(got))
		}
	}},
}

var findCallsTests = []test{
	{"Filters", func(t *testing.T, s Store) {
		var cs []gatehouse.Call
		for i := range 10 {
			c := newCall(i, t0.Add(time.Duration(i)*time.Minute))
			if i%2 == 1 {
				c.API = "billing"
			}
			if i%3 == 0 {
				c.ClientID = "client-3"
			}
			c.Status = []int{200, 201, 404, 500, 503}[i%5]
			cs = append(cs, c)
		}
		insertCalls(t, s, cs)
		for _, tc := range []struct {
			name string
			f    gatehouse.CallFilter
			want []string
		}{
			{"All", gatehouse.CallFilter{}, []string{"req-9", "req-8", "req-7", "req-6", "req-5", "req-4", "req-3", "req-2", "req-1", "req-0"}},
			{"Ascending", gatehouse.CallFilter{Ascending: true, Limit: 3}, []string{"req-0", "req-1", "req-2"}},
			{"TimeRange", gatehouse.CallFilter{From: t0.Add(2 * time.Minute), To: t0.Add(5 * time.Minute)}, []string{"req-4", "req-3", "req-2"}},
			{"API", gatehouse.CallFilter{API: "billing", Limit: 2}, []string{"req-9", "req-7"}},
			{"Client", gatehouse.CallFilter{ClientID: "client-3"}, []string{"req-9", "req-6", "req-3", "req-0"}},
			{"Token", gatehouse.CallFilter{TokenID: "jti-4"}, []string{"req-4"}},
			{"Status", gatehouse.CallFilter{StatusMin: 404, StatusMax: 404}, []string{"req-7", "req-2"}},
			{"StatusClass", gatehouse.CallFilter{StatusMin: 500, StatusMax: 599}, []string{"req-9", "req-8", "req-4", "req-3"}},
			{"Combined", gatehouse.CallFilter{API: "orders", StatusMin: 500, StatusMax: 599, From: t0.Add(4 * time.Minute)}, []string{"req-8", "req-4"}},
			{"NoMatch", gatehouse.CallFilter{API: "nope"}, []string{}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				if d := diff(requestIDs(findCalls(t, s, tc.f)), tc.want); d != "" {
					t.Fatalf("(-got +want):\n%s", d)
				}
			})
		}
	}},
	{"Pages", func(t *testing.T, s Store) {
		// Equal times are broken by id, so no call is skipped or repeated
		// across pages, in either order.
		var cs []gatehouse.Call
		for i := range 25 {
			cs = append(cs, newCall(i, t0.Add(time.Duration(i/4)*time.Second)))
		}
		insertCalls(t, s, cs)
		for _, asc := range []bool{false, true} {
			seen := map[string]bool{}
			var last *gatehouse.Call
			f := gatehouse.CallFilter{Limit: 4, Ascending: asc}
			for pages := 0; ; pages++ {
				if pages > 10 {
					t.Fatal("pagination does not end")
				}
				page := findCalls(t, s, f)
				for i := range page {
					c := page[i]
					if seen[c.RequestID] {
						t.Fatalf("ascending=%v: %s seen twice", asc, c.RequestID)
					}
					seen[c.RequestID] = true
					if last != nil && ((asc && c.Time.Before(last.Time)) || (!asc && c.Time.After(last.Time))) {
						t.Fatalf("ascending=%v: %s out of order", asc, c.RequestID)
					}
					last = &c
				}
				if len(page) < f.Limit {
					break
				}
				f.After = &gatehouse.CallCursor{Time: page[len(page)-1].Time, ID: page[len(page)-1].ID}
			}
			if len(seen) != 25 {
				t.Fatalf("ascending=%v: %d calls seen, want 25", asc, len(seen))
			}
		}
	}},
}

// A store may keep the calls of one InsertCalls together and prune them
// together (the SQLite store's pages), so these tests insert each call on
// its own to test the exact counts.
var pruneCallsTests = []test{
	{"BeforeInBatches", func(t *testing.T, s Store) {
		for i := range 10 {
			insertCalls(t, s, []gatehouse.Call{newCall(i, t0.Add(time.Duration(i)*time.Hour))})
		}
		n, err := s.DeleteCallsBefore(t.Context(), t0.Add(7*time.Hour), 4)
		must(t, err)
		if n != 4 {
			t.Fatalf("first batch deleted %d, want 4", n)
		}
		n, err = s.DeleteCallsBefore(t.Context(), t0.Add(7*time.Hour), 4)
		must(t, err)
		if n != 3 {
			t.Fatalf("second batch deleted %d, want 3", n)
		}
		if d := diff(requestIDs(findCalls(t, s, gatehouse.CallFilter{})), []string{"req-9", "req-8", "req-7"}); d != "" {
			t.Fatalf("(-got +want):\n%s", d)
		}
		_, err = s.DeleteCallsBefore(t.Context(), t0, 0)
		wantCode(t, err, gatehouse.CodeInvalid)
	}},
	{"TrimKeepsLatestInserted", func(t *testing.T, s Store) {
		for i := range 10 {
			// A late (spilled) call has an old time but was inserted last:
			// trimming by count keeps what was inserted last.
			at := t0.Add(time.Duration(i) * time.Minute)
			if i == 9 {
				at = t0.Add(-time.Hour)
			}
			insertCalls(t, s, []gatehouse.Call{newCall(i, at)})
		}
		total := 0
		for {
			n, err := s.TrimCalls(t.Context(), 3, 2)
			must(t, err)
			total += n
			if n < 2 {
				break
			}
		}
		if total != 7 {
			t.Fatalf("trimmed %d, want 7", total)
		}
		if d := diff(requestIDs(findCalls(t, s, gatehouse.CallFilter{})), []string{"req-8", "req-7", "req-9"}); d != "" {
			t.Fatalf("(-got +want):\n%s", d)
		}
		n, err := s.TrimCalls(t.Context(), 3, 100)
		must(t, err)
		if n != 0 {
			t.Fatalf("trimmed %d more, want 0", n)
		}
	}},
	{"TrimEmpty", func(t *testing.T, s Store) {
		n, err := s.TrimCalls(t.Context(), 0, 10)
		must(t, err)
		if n != 0 {
			t.Fatalf("trimmed %d, want 0", n)
		}
	}},
}
