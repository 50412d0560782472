package sqlite

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse"
)

// TestCallSpan: each page insert raises call_span to the widest page, and
// a store from before migration 0011 gets it from its pages at Open.
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
	// Calls over more than 292 years: the span saturates, and the walks
	// then go without a bound rather than overflow.
	page(-150*365*24*time.Hour, 150*365*24*time.Hour)
	if got := maxSpan(db); got != 1<<63-1 {
		t.Fatalf("max_span %d after a page wider than int64 nanoseconds, want the largest int64", got)
	}
	found, err := db.FindCalls(ctx, gatehouse.CallFilter{After: &gatehouse.CallCursor{Time: t0.Add(90 * time.Minute), ID: 1 << 40}})
	if err != nil || len(found) != 5 {
		t.Fatalf("walk with a saturated span: %d calls, %v; want 5", len(found), err)
	}

	// Before 0011: no row. Open fills it from the pages.
	if _, err := db.writer.ExecContext(ctx, `DELETE FROM call_span`); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	db, err = Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if got := maxSpan(db); got != 1<<63-1 {
		t.Fatalf("after reopening: max_span %d, want the largest int64", got)
	}
	var n int
	if err := db.reader.QueryRowContext(ctx, `SELECT count(*) FROM call_span`).Scan(&n); err != nil || n != 1 {
		t.Fatalf("call_span rows %d, %v", n, err)
	}
}
