package audit_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/internal/audit"
	"github.com/gatehouse/gatehouse/internal/token"
	"github.com/google/go-cmp/cmp"
)

func TestLogAppendsAChainThatVerifies(t *testing.T) {
	db := openStore(t)
	now := t0
	l := &audit.Log{Store: db, Now: func() time.Time { return now }}
	ctx := context.Background()
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := l.Append(ctx, audit.Record{Actor: "a", Action: "x", Outcome: "success", TargetID: string(rune('a' + i))}); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	e, err := l.Append(ctx, audit.Record{Actor: "b", Action: "y", Outcome: "failure", Details: map[string]string{"k": "v"}})
	if err != nil {
		t.Fatal(err)
	}
	if e.Seq != 21 || !e.Time.Equal(t0) || string(e.Details) != `{"k":"v"}` {
		t.Errorf("last entry %+v", e)
	}
	r, err := audit.Verify(ctx, db, audit.Checkpoints{}, newKeyring(t, "k1"))
	if err != nil {
		t.Fatal(err)
	}
	if !r.OK() || r.Entries != 21 || r.Head.Seq != 21 {
		t.Fatalf("report %+v", r)
	}
	if _, err := l.Append(ctx, audit.Record{Actor: "", Action: "y", Outcome: "failure"}); gatehouse.ErrorCode(err) != gatehouse.CodeInvalid {
		t.Errorf("invalid record: %v", err)
	}
}

func TestEventsFlowIntoTheLog(t *testing.T) {
	db := openStore(t)
	ev := &audit.Events{Store: db, Log: &audit.Log{Store: db, Now: func() time.Time { return t0 }}}
	ctx := context.Background()
	e := &gatehouse.SecurityEvent{ID: "ev1", Type: gatehouse.EventRefreshReuse, ClientID: "web-app", Subject: "u1",
		GrantID: "g1", Detail: "refresh token presented again", At: t0}
	if err := ev.RecordEvent(ctx, e); err != nil {
		t.Fatal(err)
	}
	if events, _ := db.FindEvents(ctx, gatehouse.EventFilter{}); len(events) != 1 {
		t.Errorf("the event store has %d events, want 1", len(events))
	}
	got, err := db.FindAuditEntries(ctx, gatehouse.AuditFilter{})
	if err != nil || len(got) != 1 {
		t.Fatalf("audit entries %v %v", got, err)
	}
	want := gatehouse.AuditEntry{Seq: 1, Time: t0, Actor: "system", Action: "security.refresh_token_reuse",
		TargetType: "grant", TargetID: "g1", Outcome: "success",
		Details: []byte(`{"client_id":"web-app","detail":"refresh token presented again","event_id":"ev1","grant_id":"g1","subject":"u1"}`)}
	g := *got[0]
	g.PrevHash, g.Hash = nil, nil
	if d := cmp.Diff(g, want); d != "" {
		t.Errorf("entry (-got +want):\n%s", d)
	}
	// An event recorded in the store directly (as a bulk revocation does
	// inside its own transaction) waits in the queue for the next sync.
	direct := &gatehouse.SecurityEvent{ID: "ev2", Type: "app_tokens_revoked", ClientID: "svc", Detail: "bulk", At: t0.Add(time.Second)}
	if err := db.RecordEvent(ctx, direct); err != nil {
		t.Fatal(err)
	}
	if got, _ := db.FindAuditEntries(ctx, gatehouse.AuditFilter{}); len(got) != 1 {
		t.Fatalf("%d entries before the sync, want 1", len(got))
	}
	if n, err := ev.Log.SyncEvents(ctx); err != nil || n != 1 {
		t.Fatalf("SyncEvents = %d, %v; want 1", n, err)
	}
	got, _ = db.FindAuditEntries(ctx, gatehouse.AuditFilter{})
	if len(got) != 2 || got[1].Action != "security.app_tokens_revoked" || got[1].TargetType != "client" || got[1].TargetID != "svc" || !got[1].Time.Equal(direct.At) {
		t.Fatalf("entries after the sync: %+v", got)
	}
	if n, _ := ev.Log.SyncEvents(ctx); n != 0 {
		t.Errorf("a second sync appended %d", n)
	}
	// A refused event is not audited.
	if err := ev.RecordEvent(ctx, e); gatehouse.ErrorCode(err) != gatehouse.CodeConflict {
		t.Errorf("duplicate event: %v", err)
	}
	if got, _ := db.FindAuditEntries(ctx, gatehouse.AuditFilter{}); len(got) != 2 {
		t.Errorf("%d audit entries after a refused event, want 2", len(got))
	}
	if r, err := audit.Verify(ctx, db, audit.Checkpoints{}, newKeyring(t, "k")); err != nil || !r.OK() {
		t.Errorf("chain after event syncs: %+v %v", r, err)
	}
}

func TestCheckpointer(t *testing.T) {
	db := openStore(t)
	ctx := context.Background()
	dir := t.TempDir()
	kr := newKeyring(t, "k1")
	now := t0
	l := &audit.Log{Store: db, Now: func() time.Time { return now }}
	cp := &audit.Checkpointer{Store: db, Signer: kr, File: filepath.Join(dir, "audit", "checkpoints.jsonl"), Now: func() time.Time { return now }}

	if c, err := cp.Checkpoint(ctx); err != nil || c != nil {
		t.Fatalf("empty log: %v %v, want nothing signed", c, err)
	}
	for range 3 {
		if _, err := l.Append(ctx, audit.Record{Actor: "a", Action: "x", Outcome: "success"}); err != nil {
			t.Fatal(err)
		}
	}
	c1, err := cp.Checkpoint(ctx)
	if err != nil || c1 == nil || c1.Seq != 3 || c1.KeyID != "k1" {
		t.Fatalf("first checkpoint %+v %v", c1, err)
	}
	head, _ := db.AuditHead(ctx)
	seq, hash, at, err := audit.VerifyCheckpoint(c1.JWS, kr)
	if err != nil || seq != 3 || !bytes.Equal(hash, head.Hash) || !at.Equal(t0.Truncate(time.Second)) {
		t.Fatalf("VerifyCheckpoint = %d %x %v %v", seq, hash, at, err)
	}
	if c, err := cp.Checkpoint(ctx); err != nil || c != nil {
		t.Fatalf("unchanged head: %+v %v, want nothing signed", c, err)
	}
	if _, err := l.Append(ctx, audit.Record{Actor: "a", Action: "x", Outcome: "success"}); err != nil {
		t.Fatal(err)
	}
	c2, err := cp.Checkpoint(ctx)
	if err != nil || c2 == nil || c2.Seq != 4 {
		t.Fatalf("moved head: %+v %v", c2, err)
	}
	// A new signing key re-signs the unchanged head, so the newest
	// checkpoint survives the removal of the old key.
	cp.Signer = newKeyring(t, "k2")
	c3, err := cp.Checkpoint(ctx)
	if err != nil || c3 == nil || c3.Seq != 4 || c3.KeyID != "k2" {
		t.Fatalf("after rotation: %+v %v", c3, err)
	}

	stored, err := db.FindAuditCheckpoints(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(stored, []*gatehouse.AuditCheckpoint{c1, c2, c3}); d != "" {
		t.Errorf("stored checkpoints (-got +want):\n%s", d)
	}
	fi, err := os.Stat(cp.File)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("checkpoint file mode %v, want 0600", fi.Mode().Perm())
	}
	if di, _ := os.Stat(filepath.Dir(cp.File)); di.Mode().Perm() != 0o700 {
		t.Errorf("checkpoint directory mode %v, want 0700", di.Mode().Perm())
	}
	fromFile, err := audit.ReadCheckpointFile(cp.File)
	if err != nil {
		t.Fatal(err)
	}
	// Each line records its signing key, pinned outside the database.
	var got []string
	for i, f := range fromFile {
		got = append(got, f.JWS)
		want := []*token.Keyring{kr, kr, cp.Signer.(*token.Keyring)}
		wantKid := []string{"k1", "k1", "k2"}[i]
		pub, _ := want[i].PublicKey(wantKid)
		if f.Key == nil || f.Key.ID != wantKid || !pub.Key.(ed25519.PublicKey).Equal(f.Key.Key) {
			t.Errorf("line %d records key %+v, want %s's", i+1, f.Key, wantKid)
		}
	}
	if d := cmp.Diff(got, []string{c1.JWS, c2.JWS, c3.JWS}); d != "" {
		t.Errorf("checkpoint file (-got +want):\n%s", d)
	}

	t.Run("PartialLastLineIgnored", func(t *testing.T) {
		raw, _ := os.ReadFile(cp.File)
		p := filepath.Join(t.TempDir(), "c.jsonl")
		os.WriteFile(p, append(raw, `{"seq":5,"hash":"ab","jws":"ey`...), 0o600)
		got, err := audit.ReadCheckpointFile(p)
		if err != nil || len(got) != 3 || got[2].Key == nil {
			t.Errorf("partial last line: %d checkpoints, %v", len(got), err)
		}
	})
	t.Run("MalformedLineRefused", func(t *testing.T) {
		p := filepath.Join(t.TempDir(), "c.jsonl")
		os.WriteFile(p, []byte("{\"jws\":\"a\"}\nnot json\n"), 0o600)
		if _, err := audit.ReadCheckpointFile(p); err == nil || !strings.Contains(err.Error(), "line 2") {
			t.Errorf("malformed line: %v", err)
		}
	})
	t.Run("BadKeyRefused", func(t *testing.T) {
		p := filepath.Join(t.TempDir(), "c.jsonl")
		os.WriteFile(p, []byte("{\"jws\":\"a\"}\n{\"jws\":\"a\",\"jwk\":{\"kty\":\"OKP\"}}\n"), 0o600)
		if _, err := audit.ReadCheckpointFile(p); err == nil || !strings.Contains(err.Error(), "line 2: jwk") {
			t.Errorf("bad key: %v", err)
		}
	})
	t.Run("MissingFileIsEmpty", func(t *testing.T) {
		got, err := audit.ReadCheckpointFile(filepath.Join(t.TempDir(), "none"))
		if err != nil || got != nil {
			t.Errorf("missing file: %v %v", got, err)
		}
	})
}

// TestHostileEventStillRecorded: an event with the longest, most escaped
// text still makes an entry, so the queue can never stick.
func TestHostileEventStillRecorded(t *testing.T) {
	long := strings.Repeat("<\x01\xff", 2000)
	e := &gatehouse.SecurityEvent{ID: long, Type: long, ClientID: long, Subject: long, GrantID: long, Detail: long, At: t0}
	if _, err := audit.Seal(gatehouse.AuditHead{}, audit.EventRecord(e), t0); err != nil {
		t.Fatalf("hostile event refused: %v", err)
	}
	db := openStore(t)
	if err := db.RecordEvent(context.Background(), &gatehouse.SecurityEvent{ID: "x", Type: long[:300], Detail: long, At: t0}); err != nil {
		t.Fatal(err)
	}
	l := &audit.Log{Store: db}
	if n, err := l.SyncEvents(context.Background()); err != nil || n != 1 {
		t.Fatalf("SyncEvents = %d, %v", n, err)
	}
}
