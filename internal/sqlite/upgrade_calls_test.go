package sqlite

import (
	"bytes"
	"fmt"
	"io/fs"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/gatehouse/gatehouse"
)

// TestUpgradeMovesCallsIntoPages opens a call log written before 0010, a
// row per call with gaps in the ids (retention had deleted some): Open
// moves every row into pages, in several transactions, keeping ids and
// values, drops the old table, and new calls get ids above the old ones.
func TestUpgradeMovesCallsIntoPages(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "calls.db")
	before := fstest.MapFS{}
	entries, err := fs.ReadDir(migrationFS, "migrations")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.Name() < "0010" {
			data, err := fs.ReadFile(migrationFS, "migrations/"+e.Name())
			if err != nil {
				t.Fatal(err)
			}
			before["migrations/"+e.Name()] = &fstest.MapFile{Data: data}
		}
	}
	raw := openRaw(t, path)
	if err := migrate(ctx, raw, before); err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2031, 1, 2, 3, 4, 5, 0, time.UTC)
	tx, err := raw.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	var want []gatehouse.Call
	for i := range 2500 {
		id := int64(1000 + i + i/100) // a gap every 100
		c := gatehouse.Call{ID: id, Time: t0.Add(time.Duration(i%300) * time.Millisecond), RequestID: fmt.Sprint("r", i),
			API: "orders", Route: "/orders/{id} GET", Method: "GET", Path: fmt.Sprint("/orders/", i%7), Status: 200 + i%3*100,
			ClientID: fmt.Sprint("c", i%3), Subject: "s", TokenID: fmt.Sprint("t", i%11), GrantID: "", ClientAddr: "2001:db8::1",
			UserAgent: "ua/1", BytesIn: int64(i), BytesOut: int64(2 * i), Upstream: time.Duration(i), Total: time.Duration(3 * i),
			Reason: strings.Repeat("x", i%2)}
		if _, err := tx.ExecContext(ctx, `INSERT INTO calls (id, at, request_id, api, route, method, path, status, client_id,
			subject, token_id, grant_id, client_addr, user_agent, bytes_in, bytes_out, upstream_ns, total_ns, reason)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, c.ID, c.Time.UnixNano(), c.RequestID, c.API,
			c.Route, c.Method, c.Path, c.Status, c.ClientID, c.Subject, c.TokenID, c.GrantID, c.ClientAddr, c.UserAgent,
			c.BytesIn, c.BytesOut, int64(c.Upstream), int64(c.Total), c.Reason); err != nil {
			t.Fatal(err)
		}
		want = append(want, c)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	if err := raw.Close(); err != nil {
		t.Fatal(err)
	}
	defer func(n int) { legacyBatch = n }(legacyBatch)
	legacyBatch = 700 // four transactions of 700, 700, 700 and 400 calls
	var logged bytes.Buffer
	db, err := OpenLogged(ctx, path, slog.New(slog.NewTextHandler(&logged, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	// The operator is told why this start takes longer, and how long.
	if l := logged.String(); !strings.Contains(l, "moving the call log into pages") || !strings.Contains(l, "calls_at_most=2524") ||
		!strings.Contains(l, "call log moved into pages") || !strings.Contains(l, "calls=2500") {
		t.Errorf("log:\n%s", l)
	}
	if tableExists(t, db.reader, "calls") {
		t.Fatal("the old calls table is still there")
	}
	got, err := db.FindCalls(ctx, gatehouse.CallFilter{Ascending: true})
	if err != nil {
		t.Fatal(err)
	}
	byID := map[int64]gatehouse.Call{}
	for _, c := range got {
		byID[c.ID] = c
	}
	if len(got) != len(want) || len(byID) != len(want) {
		t.Fatalf("%d calls (%d ids) after the move, want %d", len(got), len(byID), len(want))
	}
	for _, w := range want {
		if d := cmp.Diff(byID[w.ID], w); d != "" {
			t.Fatalf("call %d (-got +want):\n%s", w.ID, d)
		}
	}
	tokenCalls, err := db.FindCalls(ctx, gatehouse.CallFilter{TokenID: "t3"})
	if err != nil || len(tokenCalls) != 227 {
		t.Fatalf("token t3: %d calls, %v; want 227", len(tokenCalls), err)
	}
	next := []gatehouse.Call{{Time: t0}}
	if err := db.InsertCalls(ctx, next); err != nil {
		t.Fatal(err)
	}
	if last := want[len(want)-1].ID; next[0].ID != last+1 {
		t.Fatalf("new call id %d, want %d", next[0].ID, last+1)
	}
}
