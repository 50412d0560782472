package sqlite

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse"
)

// TestCallQueriesUseIndexes: FindCalls reads pages in the order of an
// index, never through a sort (which would read every page in range before
// the first call comes back); retention walks an index too.
func TestCallQueriesUseIndexes(t *testing.T) {
	ctx := t.Context()
	db, err := Open(ctx, filepath.Join(t.TempDir(), "calls.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	t0 := time.Date(2031, 1, 2, 3, 4, 5, 0, time.UTC)
	after := &gatehouse.CallCursor{Time: t0, ID: 7}
	for _, tc := range []struct {
		name string
		f    gatehouse.CallFilter
		want []string
	}{
		{"Newest", gatehouse.CallFilter{Limit: 100}, []string{"SCAN call_pages USING COVERING INDEX call_pages_max_at"}},
		{"Oldest", gatehouse.CallFilter{Ascending: true}, []string{"SCAN call_pages USING COVERING INDEX call_pages_min_at"}},
		// A bound on either end of the pages' time starts the walk in the
		// index (SEARCH, with a range on its column), by the widest span.
		{"TimeRange", gatehouse.CallFilter{From: t0, To: t0.Add(time.Hour)}, []string{"SEARCH call_pages USING COVERING INDEX call_pages_max_at (max_at>? AND max_at<?)"}},
		{"Client", gatehouse.CallFilter{ClientID: "c1", Limit: 100}, []string{"COVERING INDEX call_pages_max_at"}},
		{"ClientPage", gatehouse.CallFilter{ClientID: "c1", After: after, Limit: 100}, []string{"SEARCH call_pages USING COVERING INDEX call_pages_max_at (max_at<?)"}},
		{"UntilOnly", gatehouse.CallFilter{To: t0, Limit: 100}, []string{"SEARCH call_pages USING COVERING INDEX call_pages_max_at (max_at<?)"}},
		{"AscendingPage", gatehouse.CallFilter{Ascending: true, After: after}, []string{"SEARCH call_pages USING COVERING INDEX call_pages_min_at (min_at>?)"}},
		{"ClientAscendingRange", gatehouse.CallFilter{ClientID: "c1", From: t0, Ascending: true, After: after}, []string{"SEARCH call_pages USING COVERING INDEX call_pages_min_at (min_at>?)"}},
		{"TokenAndAPI", gatehouse.CallFilter{TokenID: "t1", API: "orders", StatusMin: 400, After: after, Limit: 100}, []string{"SEARCH call_pages USING COVERING INDEX call_pages_max_at (max_at<?)"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			q, args := findPagesQuery(tc.f, int64(time.Second))
			got := queryPlan(t, db, q, args...)
			for _, w := range tc.want {
				if !strings.Contains(got, w) {
					t.Errorf("plan %q, want %q", got, w)
				}
			}
			if strings.Contains(got, "TEMP B-TREE") {
				t.Errorf("plan %q sorts", got)
			}
		})
	}
	for _, tc := range []struct {
		name, q, want string
	}{
		{"DeleteBefore", `SELECT id, n, max_at FROM call_pages INDEXED BY call_pages_max_at ORDER BY max_at`, "SCAN call_pages USING INDEX call_pages_max_at"},
		{"Trim", `SELECT id, n, last_id FROM call_pages ORDER BY id`, "SCAN call_pages"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := make([]any, strings.Count(tc.q, "?"))
			for i := range args {
				args[i] = int64(i + 1)
			}
			if got := queryPlan(t, db, tc.q, args...); !strings.Contains(got, tc.want) || strings.Contains(got, "TEMP B-TREE") {
				t.Errorf("plan %q, want %q and no sort", got, tc.want)
			}
		})
	}
}

// queryPlan is the details of EXPLAIN QUERY PLAN q, joined by "; ".
func queryPlan(t *testing.T, db *DB, q string, args ...any) string {
	t.Helper()
	rows, err := db.reader.QueryContext(t.Context(), "EXPLAIN QUERY PLAN "+q, args...)
	if err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	defer rows.Close()
	var plan []string
	for rows.Next() {
		var id, parent, notused int
		var detail string
		if err := rows.Scan(&id, &parent, &notused, &detail); err != nil {
			t.Fatal(err)
		}
		plan = append(plan, detail)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return strings.Join(plan, "; ")
}
