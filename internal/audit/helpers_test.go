package audit_test

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/internal/audit"
	"github.com/gatehouse/gatehouse/internal/sqlite"
	"github.com/gatehouse/gatehouse/internal/token"
)

var t0 = time.Date(2031, 3, 4, 5, 6, 7, 123456789, time.UTC)

// newKeyring loads a current EdDSA key with the given kid, and retired
// keys (which verify but do not sign) with the other ids.
func newKeyring(t testing.TB, kid string, retired ...string) *token.Keyring {
	t.Helper()
	var keys []token.PrivateKey
	for i, id := range append([]string{kid}, retired...) {
		der, err := token.GenerateKey(gatehouse.AlgEdDSA)
		if err != nil {
			t.Fatal(err)
		}
		state := gatehouse.KeyCurrent
		if i > 0 {
			state = gatehouse.KeyRetired
		}
		keys = append(keys, token.PrivateKey{Meta: &gatehouse.SigningKey{ID: id, Algorithm: gatehouse.AlgEdDSA, State: state}, DER: der})
	}
	kr := &token.Keyring{}
	if err := kr.Load(keys); err != nil {
		t.Fatal(err)
	}
	return kr
}

// chain seals n entries with varied fields, as Log.Append would.
func chain(t testing.TB, n int) []*gatehouse.AuditEntry {
	t.Helper()
	var es []*gatehouse.AuditEntry
	var head gatehouse.AuditHead
	for i := range n {
		e, err := audit.Seal(head, audit.Record{
			Actor: fmt.Sprint("client-", i), Action: "POST /admin/v1/things/{id}", TargetType: "things",
			TargetID: fmt.Sprint("t", i), Outcome: gatehouse.AuditSuccess,
			Details: map[string]string{"status": "200", "address": "127.0.0.1", "note": "<&> ü"},
		}, t0.Add(time.Duration(i)*time.Second+time.Duration(i)))
		if err != nil {
			t.Fatal(err)
		}
		es = append(es, e)
		head = gatehouse.AuditHead{Seq: e.Seq, Hash: e.Hash}
	}
	return es
}

// memSource serves entries from a slice, in Seq order, as a store would.
type memSource []*gatehouse.AuditEntry

func (m memSource) FindAuditEntries(_ context.Context, f gatehouse.AuditFilter) ([]*gatehouse.AuditEntry, error) {
	var out []*gatehouse.AuditEntry
	for _, e := range m {
		if e.Seq > f.AfterSeq && (f.Limit <= 0 || len(out) < f.Limit) {
			out = append(out, e)
		}
	}
	return out, nil
}

// openStore opens a real SQLite store in a temporary directory.
func openStore(t testing.TB) *sqlite.DB {
	t.Helper()
	db, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "gatehouse.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// signCheckpoint signs the head at e with kr as the Checkpointer does.
func signCheckpoint(t testing.TB, kr audit.Signer, seq int64, hash []byte) string {
	t.Helper()
	jws, err := kr.Sign(audit.CheckpointType, fmt.Appendf(nil, `{"seq":%d,"hash":"%x","iat":%d}`, seq, hash, t0.Unix()))
	if err != nil {
		t.Fatal(err)
	}
	return jws
}
