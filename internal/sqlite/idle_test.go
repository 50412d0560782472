package sqlite

import (
	"path/filepath"
	"strings"
	"testing"
)

// TestIdleQueriesUseIndexes: the idle job's queries must not scan the
// tokens table (every access token ever issued) nor all grants.
func TestIdleQueriesUseIndexes(t *testing.T) {
	ctx := t.Context()
	db, err := Open(ctx, filepath.Join(t.TempDir(), "gatehouse.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for name, tc := range map[string]struct{ q, index string }{
		"Grants":  {idleGrantsSQL, "grants_active"},
		"APIKeys": {idleAPIKeysSQL, "tokens_active_api_keys"},
	} {
		rows, err := db.reader.QueryContext(ctx, "EXPLAIN QUERY PLAN "+tc.q, int64(1), int64(2), "", "")
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		var plan []string
		for rows.Next() {
			var id, parent, notused int
			var detail string
			if err := rows.Scan(&id, &parent, &notused, &detail); err != nil {
				t.Fatal(err)
			}
			plan = append(plan, detail)
		}
		rows.Close()
		all := strings.Join(plan, "; ")
		if !strings.Contains(all, tc.index) {
			t.Errorf("%s: plan %q does not use %s", name, all, tc.index)
		}
	}
}
