package sqlite

import (
	"database/sql"
	"io/fs"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/gatehouse/gatehouse"
)

// TestUpgradeQueuesRecordedEvents: security events recorded before the
// audit migration are queued for the audit log, oldest first, and appended
// by the first drain.
func TestUpgradeQueuesRecordedEvents(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "gatehouse.db")
	before := fstest.MapFS{}
	all, err := loadMigrations(migrationFS)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range all {
		if strings.Contains(m.name, "audit") {
			break // the migrations up to the audit log
		}
		b, err := fs.ReadFile(migrationFS, "migrations/"+m.name)
		if err != nil {
			t.Fatal(err)
		}
		before["migrations/"+m.name] = &fstest.MapFile{Data: b}
	}
	raw, err := sql.Open("sqlite", "file:"+path+"?_txlock=immediate")
	if err != nil {
		t.Fatal(err)
	}
	raw.SetMaxOpenConns(1)
	if err := migrate(ctx, raw, before); err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2031, 3, 4, 5, 6, 7, 0, time.UTC)
	for i, id := range []string{"late", "early"} {
		if _, err := raw.ExecContext(ctx, `INSERT INTO security_events (id, type, client_id, subject, grant_id, detail, at)
			VALUES (?, 'refresh_token_reuse', 'c1', 'u1', NULL, '', ?)`, id, t0.Add(-time.Duration(i)*time.Hour).UnixNano()); err != nil {
			t.Fatal(err)
		}
	}
	raw.Close()

	db, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var ids []string
	n, err := db.AppendAuditEvents(ctx, 10, func(head gatehouse.AuditHead, e *gatehouse.SecurityEvent) (*gatehouse.AuditEntry, error) {
		ids = append(ids, e.ID)
		h := make([]byte, 32)
		return &gatehouse.AuditEntry{Seq: head.Seq + 1, Time: e.At, Actor: "system", Action: "x", Outcome: "success",
			Details: []byte("{}"), PrevHash: h, Hash: h}, nil
	})
	if err != nil || n != 2 || strings.Join(ids, ",") != "early,late" {
		t.Fatalf("drain after upgrade: %d %v %v, want early,late", n, ids, err)
	}
}
