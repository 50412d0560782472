package sqlite

import (
	"math"
	"path/filepath"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse"
)

// fillCallSpanSQL is migration 0011's fill of call_span from the pages.
const fillCallSpanSQL = `INSERT INTO call_span (one, max_span)
	SELECT 1, coalesce(max(min(max_at - min_at, 9223372036854775807)), 0) FROM call_pages`

// TestCallSpan: a trigger raises call_span to the widest page on every
// page insert, Gatehouse's or an older binary's, saturating at the largest
// int64; migration 0011 fills it from the pages a store already has.
func TestCallSpan(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "calls.db")
	db, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	maxSpan := func(db *DB) int64 {
		t.Helper()
		var v int64
		if err := db.reader.QueryRowContext(ctx, `SELECT max_span FROM call_span`).Scan(&v); err != nil {
			t.Fatal(err)
		}
		return v
	}
	if got := maxSpan(db); got != 0 {
		t.Fatalf("empty log: max_span %d, want 0", got)
	}
	t0 := time.Date(2031, 1, 2, 3, 4, 5, 0, time.UTC)
	page := func(offsets ...time.Duration) {
		t.Helper()
		cs := make([]gatehouse.Call, len(offsets))
		for i, d := range offsets {
			cs[i] = gatehouse.Call{Time: t0.Add(d), RequestID: "r", Status: 200}
		}
		if err := db.InsertCalls(ctx, cs); err != nil {
			t.Fatal(err)
		}
	}
	page(0, time.Second)
	page(time.Hour, time.Hour-time.Minute) // wider, out of order
	page(2*time.Hour, 2*time.Hour+time.Second)
	if got, want := maxSpan(db), int64(time.Minute); got != want {
		t.Fatalf("max_span %d, want %d (the widest page)", got, want)
	}
	// A page written by a binary from before 0011, which knows nothing of
	// call_span: the trigger still raises it, and the calls are found.
	if _, err := db.writer.ExecContext(ctx, `INSERT INTO call_pages (first_id, last_id, n, min_at, max_at, keys, data)
		SELECT first_id + 100, last_id + 100, n, ?, ?, keys, data FROM call_pages ORDER BY id LIMIT 1`,
		t0.Add(-time.Hour).UnixNano(), t0.Add(time.Hour).UnixNano()); err != nil {
		t.Fatal(err)
	}
	if got, want := maxSpan(db), int64(2*time.Hour); got != want {
		t.Fatalf("after an older binary's page: max_span %d, want %d", got, want)
	}
	// Calls over more than 292 years: the span saturates.
	page(-150*365*24*time.Hour, 150*365*24*time.Hour)
	if got := maxSpan(db); got != math.MaxInt64 {
		t.Fatalf("max_span %d after a page wider than int64 nanoseconds, want the largest int64", got)
	}
	found, err := db.FindCalls(ctx, gatehouse.CallFilter{After: &gatehouse.CallCursor{Time: t0.Add(90 * time.Minute), ID: 1 << 40}})
	if err != nil || len(found) != 7 {
		t.Fatalf("walk with a saturated span: %d calls, %v; want 7", len(found), err)
	}

	// A store from before 0011: migration 0011 fills the span from its pages.
	for _, q := range []string{`DROP TRIGGER call_pages_span`, `DROP TABLE call_span`, `DELETE FROM schema_migrations WHERE version = 11`} {
		if _, err := db.writer.ExecContext(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	db, err = Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if got := maxSpan(db); got != math.MaxInt64 {
		t.Fatalf("after migrating: max_span %d, want the largest int64", got)
	}
}

// TestCallSpanEdges: the widest page sits exactly on each span bound
// (inclusive or strict as the filter is); a store whose call_span has no
// row walks without bounds; a saturated span adds none, also for bounds
// before 1970.
func TestCallSpanEdges(t *testing.T) {
	ctx := t.Context()
	db, err := Open(ctx, filepath.Join(t.TempDir(), "calls.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	T := time.Date(2031, 1, 2, 3, 4, 5, 0, time.UTC)
	ins := func(ts ...time.Time) []gatehouse.Call {
		t.Helper()
		cs := make([]gatehouse.Call, len(ts))
		for i := range ts {
			cs[i] = gatehouse.Call{Time: ts[i], RequestID: "r"}
		}
		if err := db.InsertCalls(ctx, cs); err != nil {
			t.Fatal(err)
		}
		return cs
	}
	ins(T.Add(-time.Hour), T.Add(-time.Hour+time.Second))
	wide := ins(T, T.Add(time.Minute)) // the widest page: [T, T+1m]
	ins(T.Add(time.Hour), T.Add(time.Hour+time.Second))
	lo, hi := wide[0], wide[1]
	check := func(name string, f gatehouse.CallFilter, want int64) {
		t.Helper()
		got, err := db.FindCalls(ctx, f)
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range got {
			if c.ID == want {
				return
			}
		}
		t.Errorf("%s: call %d missing from %d calls", name, want, len(got))
	}
	edges := func() {
		t.Helper()
		check("From=max_at", gatehouse.CallFilter{From: hi.Time}, hi.ID)
		check("From=max_at asc", gatehouse.CallFilter{From: hi.Time, Ascending: true}, hi.ID)
		check("To=min_at+1", gatehouse.CallFilter{To: lo.Time.Add(1)}, lo.ID)
		check("To=min_at+1 asc", gatehouse.CallFilter{To: lo.Time.Add(1), Ascending: true}, lo.ID)
		check("After desc at min_at", gatehouse.CallFilter{After: &gatehouse.CallCursor{Time: lo.Time, ID: lo.ID + 1}}, lo.ID)
		check("After asc at max_at", gatehouse.CallFilter{Ascending: true, After: &gatehouse.CallCursor{Time: hi.Time, ID: hi.ID - 1}}, hi.ID)
	}
	edges()
	if _, err := db.writer.ExecContext(ctx, `DELETE FROM call_span`); err != nil {
		t.Fatal(err)
	}
	edges() // no row: no bound
	if _, err := db.writer.ExecContext(ctx, fillCallSpanSQL); err != nil {
		t.Fatal(err)
	}
	// Saturated span, bounds on both sides of 1970.
	epoch := time.Unix(0, 0).UTC()
	a := ins(time.Unix(0, math.MinInt64+int64(time.Second)).UTC(), epoch.Add(2*time.Second))
	b := ins(epoch.Add(-2*time.Second), time.Unix(0, math.MaxInt64-int64(time.Second)).UTC())
	y1900 := time.Date(1900, 1, 1, 0, 0, 0, 0, time.UTC)
	check("From 1900", gatehouse.CallFilter{From: y1900}, b[0].ID)
	check("From 1970+2s", gatehouse.CallFilter{From: a[1].Time, To: a[1].Time.Add(1)}, a[1].ID)
	check("To 1970-1s", gatehouse.CallFilter{To: b[0].Time.Add(time.Second), From: b[0].Time}, b[0].ID)
	check("asc After 1970+1s", gatehouse.CallFilter{Ascending: true, After: &gatehouse.CallCursor{Time: epoch.Add(time.Second), ID: 1}, To: epoch.Add(3 * time.Second)}, a[1].ID)
}
