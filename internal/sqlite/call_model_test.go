package sqlite_test

import (
	"cmp"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"testing"
	"time"

	gocmp "github.com/google/go-cmp/cmp"

	"github.com/gatehouse/gatehouse"
)

// tokenIDs are the tokens of randomCalls: enough that most pages hold only
// some of them, so that a token's pages are found through their filters.
var tokenIDs = func() []string {
	ts := []string{""}
	for i := range 60 {
		ts = append(ts, fmt.Sprint("t", i))
	}
	return ts
}()

// randomCalls are n calls of a few clients, tokens and APIs, with times
// that mostly grow but jump back and forth by up to a second (calls are
// logged when they end, and many share a time), as a log writer would
// get them.
func randomCalls(r *rand.Rand, t0 time.Time, n int) []gatehouse.Call {
	pick := func(vs ...string) string { return vs[r.IntN(len(vs))] }
	cs := make([]gatehouse.Call, n)
	at := t0
	for i := range cs {
		at = at.Add(time.Duration(r.IntN(3)) * time.Millisecond)
		c := gatehouse.Call{
			Time:      at.Add(time.Duration(r.IntN(2000)-1000) * time.Millisecond).Truncate(time.Millisecond),
			RequestID: fmt.Sprintf("req-%d", i), API: pick("orders", "billing", ""), Route: "/r", Method: pick("GET", "POST"),
			Path: fmt.Sprintf("/p/%d", r.IntN(5)), Status: []int{200, 201, 404, 429, 503}[r.IntN(5)],
			ClientID: pick("c1", "c2", "c3", ""), Subject: pick("alice", "bob"), TokenID: tokenIDs[r.IntN(len(tokenIDs))],
			ClientAddr: "192.0.2.1", UserAgent: "ua/1", BytesIn: int64(r.IntN(100)), BytesOut: int64(r.IntN(5000)),
			Upstream: time.Duration(r.IntN(1e6)), Total: time.Duration(r.IntN(2e6)),
		}
		if c.Status == 429 {
			c.Reason = "rate_limited"
		}
		cs[i] = c
	}
	return cs
}

// modelFind is FindCalls by brute force over all calls.
func modelFind(all []gatehouse.Call, f gatehouse.CallFilter) []gatehouse.Call {
	var out []gatehouse.Call
	for _, c := range all {
		if !f.From.IsZero() && c.Time.Before(f.From) || !f.To.IsZero() && !c.Time.Before(f.To) ||
			f.API != "" && c.API != f.API || f.ClientID != "" && c.ClientID != f.ClientID ||
			f.TokenID != "" && c.TokenID != f.TokenID || f.StatusMin > 0 && c.Status < f.StatusMin ||
			f.StatusMax > 0 && c.Status > f.StatusMax {
			continue
		}
		if a := f.After; a != nil {
			o := cmp.Or(c.Time.Compare(a.Time), cmp.Compare(c.ID, a.ID))
			if f.Ascending && o <= 0 || !f.Ascending && o >= 0 {
				continue
			}
		}
		out = append(out, c)
	}
	slices.SortFunc(out, func(a, b gatehouse.Call) int {
		o := cmp.Or(a.Time.Compare(b.Time), cmp.Compare(a.ID, b.ID))
		if f.Ascending {
			return o
		}
		return -o
	})
	if f.Limit > 0 && len(out) > f.Limit {
		out = out[:f.Limit]
	}
	if out == nil {
		out = []gatehouse.Call{}
	}
	return out
}

// sameCalls is whether a and b hold equal calls in the same order (as
// cmp.Diff would say, many times faster: the test compares thousands).
func sameCalls(a, b []gatehouse.Call) bool {
	return slices.EqualFunc(a, b, func(x, y gatehouse.Call) bool {
		if !x.Time.Equal(y.Time) {
			return false
		}
		x.Time, y.Time = time.Time{}, time.Time{}
		return x == y
	})
}

// TestFindCallsMatchesModel stores two thousand calls in batches of
// varied sizes (one over a page's limit) and checks FindCalls against a
// brute-force search for random filters, and that walking each filter
// page by page with the cursor visits exactly its calls in order.
func TestFindCallsMatchesModel(t *testing.T) {
	ctx := t.Context()
	r := rand.New(rand.NewPCG(1, 2))
	t0 := time.Date(2031, 1, 2, 3, 4, 5, 0, time.UTC)
	db := open(t, filepath.Join(t.TempDir(), "calls.db"))
	all := randomCalls(r, t0, 2000)
	// A long request is logged when it ends, with the time it began: a
	// few calls far older than their page's others make wide pages, which
	// the walks' span bounds (call_span) must still reach.
	for _, i := range []int{1500, 1700, 1900} {
		all[i].Time = all[i].Time.Add(-time.Duration(i) * time.Second)
	}
	for start, i := 0, 0; start < len(all); i++ {
		n := []int{1, 7, 128, 1500, 300}[i%5]
		end := min(start+n, len(all))
		if err := db.InsertCalls(ctx, all[start:end]); err != nil {
			t.Fatal(err)
		}
		start = end
	}
	for i := 1; i < len(all); i++ {
		if all[i].ID != all[i-1].ID+1 {
			t.Fatalf("ids %d then %d", all[i-1].ID, all[i].ID)
		}
	}
	span := all[len(all)-1].Time.Sub(t0)
	randomTime := func() time.Time {
		return t0.Add(time.Duration(r.Int64N(int64(span))) - time.Second).Truncate(time.Millisecond)
	}
	for i := range 80 {
		var f gatehouse.CallFilter
		f.Ascending = r.IntN(2) == 0
		if r.IntN(3) == 0 {
			f.From = randomTime()
		}
		if r.IntN(3) == 0 {
			f.To = randomTime().Add(2 * time.Second)
		}
		if r.IntN(3) == 0 {
			f.ClientID = []string{"c1", "c2", "c3", "nobody"}[r.IntN(4)]
		}
		if r.IntN(3) == 0 {
			f.TokenID = tokenIDs[1+r.IntN(len(tokenIDs)-1)]
		}
		if r.IntN(4) == 0 {
			f.API = []string{"orders", "billing"}[r.IntN(2)]
		}
		if r.IntN(4) == 0 {
			f.StatusMin, f.StatusMax = 400, 499
		}
		if r.IntN(3) == 0 {
			// A cursor on an existing call, or between calls.
			c := all[r.IntN(len(all))]
			f.After = &gatehouse.CallCursor{Time: c.Time, ID: c.ID + int64(r.IntN(2))}
		}
		f.Limit = []int{0, 1, 3, 50, 500}[r.IntN(5)]
		got, err := db.FindCalls(ctx, f)
		if err != nil {
			t.Fatal(err)
		}
		if want := modelFind(all, f); !sameCalls(got, want) {
			t.Fatalf("filter %d %+v (-got +want):\n%s", i, f, gocmp.Diff(got, want))
		}
		// Walk the whole result by pages of 97.
		want := modelFind(all, gatehouse.CallFilter{From: f.From, To: f.To, API: f.API, ClientID: f.ClientID,
			TokenID: f.TokenID, StatusMin: f.StatusMin, StatusMax: f.StatusMax, Ascending: f.Ascending})
		walked := []gatehouse.Call{}
		page := f
		page.After, page.Limit = nil, 97
		for {
			got, err := db.FindCalls(ctx, page)
			if err != nil {
				t.Fatal(err)
			}
			walked = append(walked, got...)
			if len(got) < page.Limit {
				break
			}
			last := got[len(got)-1]
			page.After = &gatehouse.CallCursor{Time: last.Time, ID: last.ID}
		}
		if !sameCalls(walked, want) {
			t.Fatalf("walk of filter %d %+v (-got +want):\n%s", i, f, gocmp.Diff(walked, want))
		}
	}
}

// TestCallRetention: retention deletes whole pages, oldest first, until
// it has deleted its limit (the last page may take it over), never a page
// holding a call newer than the bound or among the last kept; the rest
// stays findable.
func TestCallRetention(t *testing.T) {
	ctx := t.Context()
	t0 := time.Date(2031, 1, 2, 3, 4, 5, 0, time.UTC)
	db := open(t, filepath.Join(t.TempDir(), "calls.db"))
	// Ten pages of 10 calls, page p at t0 + p minutes (+ i ms).
	var all []gatehouse.Call
	for p := range 10 {
		cs := make([]gatehouse.Call, 10)
		for i := range cs {
			cs[i] = gatehouse.Call{Time: t0.Add(time.Duration(p)*time.Minute + time.Duration(i)*time.Millisecond),
				RequestID: fmt.Sprint(p, i), ClientID: fmt.Sprint("c", p), TokenID: "t"}
		}
		if err := db.InsertCalls(ctx, cs); err != nil {
			t.Fatal(err)
		}
		all = append(all, cs...)
	}
	count := func(f gatehouse.CallFilter) int {
		t.Helper()
		got, err := db.FindCalls(ctx, f)
		if err != nil {
			t.Fatal(err)
		}
		return len(got)
	}
	// Before t0+2m+5ms: pages 0 and 1 whole; page 2 holds newer calls.
	for _, tc := range []struct {
		limit, want int
	}{{15, 20}, {5, 0}} {
		n, err := db.DeleteCallsBefore(ctx, t0.Add(2*time.Minute+5*time.Millisecond), tc.limit)
		if err != nil || n != tc.want {
			t.Fatalf("DeleteCallsBefore limit %d: %d, %v; want %d", tc.limit, n, err, tc.want)
		}
	}
	if got := count(gatehouse.CallFilter{}); got != 80 {
		t.Fatalf("%d calls left, want 80", got)
	}
	if got := count(gatehouse.CallFilter{ClientID: "c1"}); got != 0 {
		t.Fatalf("page 1's client still has %d calls", got)
	}
	// Keep the last 25: pages 2..6 (50 calls) can go; 7, 8 and 9 stay
	// since page 7 holds calls among the last 25.
	n, err := db.TrimCalls(ctx, 25, 25)
	if err != nil || n != 30 {
		t.Fatalf("TrimCalls: %d, %v; want 30", n, err)
	}
	if n, err = db.TrimCalls(ctx, 25, 1000); err != nil || n != 20 {
		t.Fatalf("TrimCalls: %d, %v; want 20", n, err)
	}
	if n, err = db.TrimCalls(ctx, 25, 1000); err != nil || n != 0 {
		t.Fatalf("TrimCalls again: %d, %v; want 0", n, err)
	}
	got, err := db.FindCalls(ctx, gatehouse.CallFilter{Ascending: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 30 || got[0].ID != all[70].ID || got[29].ID != all[99].ID {
		t.Fatalf("after trimming: %d calls, ids %d..%d; want 30, %d..%d", len(got), got[0].ID, got[len(got)-1].ID, all[70].ID, all[99].ID)
	}
	if got := count(gatehouse.CallFilter{TokenID: "t"}); got != 30 {
		t.Fatalf("token filter finds %d calls, want 30", got)
	}
	for _, f := range []func() (int, error){
		func() (int, error) { return db.DeleteCallsBefore(ctx, t0, 0) },
		func() (int, error) { return db.TrimCalls(ctx, -1, 10) },
		func() (int, error) { return db.TrimCalls(ctx, 1, 0) },
	} {
		if _, err := f(); gatehouse.ErrorCode(err) != gatehouse.CodeInvalid {
			t.Errorf("bad bound: %v, want CodeInvalid", err)
		}
	}
}

// TestCallIDsContinue: ids keep growing across batches, after retention
// emptied the log, and after the store is reopened.
func TestCallIDsContinue(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "calls.db")
	t0 := time.Date(2031, 1, 2, 3, 4, 5, 0, time.UTC)
	db := open(t, path)
	a := []gatehouse.Call{{Time: t0}, {Time: t0}}
	if err := db.InsertCalls(ctx, a); err != nil {
		t.Fatal(err)
	}
	if _, err := db.DeleteCallsBefore(ctx, t0.Add(time.Second), 10); err != nil {
		t.Fatal(err)
	}
	b := []gatehouse.Call{{Time: t0}}
	if err := db.InsertCalls(ctx, b); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	db = open(t, path)
	c := []gatehouse.Call{{Time: t0}}
	if err := db.InsertCalls(ctx, c); err != nil {
		t.Fatal(err)
	}
	ids := []int64{a[0].ID, a[1].ID, b[0].ID, c[0].ID}
	if ids[0] < 1 || !slices.IsSorted(ids) || slices.Compact(slices.Clone(ids))[3] != ids[3] {
		t.Fatalf("ids %v, want increasing from 1", ids)
	}
	// A batch with a call without a time writes nothing.
	bad := []gatehouse.Call{{Time: t0}, {}}
	if err := db.InsertCalls(ctx, bad); gatehouse.ErrorCode(err) != gatehouse.CodeInvalid || bad[0].ID != 0 {
		t.Fatalf("call without time: %v, id %d", err, bad[0].ID)
	}
}
