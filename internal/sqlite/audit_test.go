package sqlite_test

import (
	"database/sql"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse"
)

// TestAuditTablesRefuseEdits: the triggers of 0003 refuse UPDATE and DELETE
// on the audit tables from any connection. They are a speed bump, not a
// boundary (internal/audit detects edits made after dropping them).
func TestAuditTablesRefuseEdits(t *testing.T) {
	path := filepath.Join(t.TempDir(), "gatehouse.db")
	db := open(t, path)
	ctx := t.Context()
	h := make([]byte, 32)
	if _, err := db.AppendAudit(ctx, func(head gatehouse.AuditHead) (*gatehouse.AuditEntry, error) {
		return &gatehouse.AuditEntry{Seq: 1, Time: time.Unix(1, 0), Actor: "a", Action: "b", Outcome: "success",
			Details: []byte("{}"), PrevHash: h, Hash: h}, nil
	}); err != nil {
		t.Fatal(err)
	}
	if err := db.CreateAuditCheckpoint(ctx, &gatehouse.AuditCheckpoint{Seq: 1, Hash: h, At: time.Unix(1, 0), KeyID: "k", JWS: "x"}); err != nil {
		t.Fatal(err)
	}
	raw, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	for _, q := range []string{
		`UPDATE audit_log SET actor = 'x'`,
		`DELETE FROM audit_log`,
		`UPDATE audit_checkpoints SET seq = 2`,
		`DELETE FROM audit_checkpoints`,
	} {
		if _, err := raw.Exec(q); err == nil || !strings.Contains(err.Error(), "append-only") {
			t.Errorf("%s: %v, want the append-only refusal", q, err)
		}
	}
	if es, _ := db.FindAuditEntries(ctx, gatehouse.AuditFilter{}); len(es) != 1 || es[0].Actor != "a" {
		t.Errorf("entries after refused edits: %+v", es)
	}
}
