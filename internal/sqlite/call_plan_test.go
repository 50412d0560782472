package sqlite

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse"
)

// TestCallQueriesUseIndexes: every FindCalls filter that selects few rows
// out of many searches an index (the client and token ones are partial),
// and retention walks calls_at, whatever the size of the call log.
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
		want string
	}{
		{"Newest", gatehouse.CallFilter{Limit: 100}, "SCAN calls USING INDEX calls_at"},
		{"TimeRange", gatehouse.CallFilter{From: t0, To: t0.Add(time.Hour)}, "SEARCH calls USING INDEX calls_at (at>? AND at<?)"},
		{"Client", gatehouse.CallFilter{ClientID: "c1", Limit: 100}, "SEARCH calls USING INDEX calls_client (client_id=?)"},
		{"ClientPage", gatehouse.CallFilter{ClientID: "c1", After: after, Limit: 100}, "SEARCH calls USING INDEX calls_client (client_id=? AND at<?)"},
		{"ClientAscendingRange", gatehouse.CallFilter{ClientID: "c1", From: t0, Ascending: true, After: after}, "SEARCH calls USING INDEX calls_client (client_id=? AND at>?)"},
		{"Token", gatehouse.CallFilter{TokenID: "t1", Limit: 100}, "SEARCH calls USING INDEX calls_token (token_id=?)"},
		{"TokenPage", gatehouse.CallFilter{TokenID: "t1", StatusMin: 400, After: after, Limit: 100}, "SEARCH calls USING INDEX calls_token (token_id=? AND at<?)"},
		{"ClientAndToken", gatehouse.CallFilter{ClientID: "c1", TokenID: "t1"}, "USING INDEX calls_"},
		{"APIPage", gatehouse.CallFilter{API: "orders", After: after, Limit: 100}, "SEARCH calls USING INDEX calls_at (at<?)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			q, args := findCallsQuery(tc.f)
			if got := queryPlan(t, db, q, args...); !strings.Contains(got, tc.want) || strings.Contains(got, "TEMP B-TREE") {
				t.Errorf("plan %q, want %q and no sort", got, tc.want)
			}
		})
	}
	for _, tc := range []struct {
		name, q, want string
	}{
		{"DeleteBefore", `DELETE FROM calls WHERE id IN (SELECT id FROM calls WHERE at < ? ORDER BY at LIMIT ?)`, "SEARCH calls USING COVERING INDEX calls_at (at<?)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := queryPlan(t, db, tc.q, int64(1), 2); !strings.Contains(got, tc.want) {
				t.Errorf("plan %q, want %q", got, tc.want)
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
