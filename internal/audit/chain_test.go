package audit_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/internal/audit"
	"github.com/gatehouse/gatehouse/internal/jose"
	"github.com/gatehouse/gatehouse/internal/token"
)

// TestHashFormat recomputes an entry's hash from the format documented in
// docs/AUDIT.md, independently of Encode, so the format cannot drift
// without this test noticing.
func TestHashFormat(t *testing.T) {
	es := chain(t, 2)
	e := es[1]
	var b []byte
	b = append(b, "gatehouse-audit-v1\n"...)
	b = binary.BigEndian.AppendUint64(b, 2)
	b = binary.BigEndian.AppendUint64(b, uint64(t0.Add(time.Second+1).UnixNano()))
	for _, f := range []string{"client-1", "POST /admin/v1/things/{id}", "things", "t1", "success",
		`{"address":"127.0.0.1","note":"\u003c\u0026\u003e ü","status":"200"}`} {
		b = binary.BigEndian.AppendUint32(b, uint32(len(f)))
		b = append(b, f...)
	}
	b = append(b, es[0].Hash...)
	want := sha256.Sum256(b)
	if !bytes.Equal(e.Hash, want[:]) {
		t.Fatalf("hash %x, want %x (encoding %q, documented %q)", e.Hash, want, audit.Encode(e), b)
	}
	genesis := sha256.Sum256([]byte("gatehouse audit genesis v1"))
	if !bytes.Equal(es[0].PrevHash, genesis[:]) {
		t.Errorf("first prev_hash %x, want the genesis value %x", es[0].PrevHash, genesis)
	}
	if !bytes.Equal(e.PrevHash, es[0].Hash) || e.Seq != 2 {
		t.Errorf("second entry: seq %d prev %x, want seq 2 linked to %x", e.Seq, e.PrevHash, es[0].Hash)
	}
}

// TestLengthPrefixesSeparateFields: moving bytes between adjacent fields
// changes the hash.
func TestLengthPrefixesSeparateFields(t *testing.T) {
	a := &gatehouse.AuditEntry{Seq: 1, Time: t0, Actor: "ab", Action: "c", Outcome: "x", Details: []byte("{}"), PrevHash: audit.Genesis}
	b := *a
	b.Actor, b.Action = "a", "bc"
	if bytes.Equal(audit.Hash(a), audit.Hash(&b)) {
		t.Fatal("actor|action boundary not covered by the hash")
	}
}

func TestSealRefuses(t *testing.T) {
	ok := audit.Record{Actor: "a", Action: "b", Outcome: "success"}
	for _, tc := range []struct {
		name string
		mod  func(r *audit.Record)
		want string
	}{
		{"NoActor", func(r *audit.Record) { r.Actor = "" }, "actor required"},
		{"NoAction", func(r *audit.Record) { r.Action = "" }, "action required"},
		{"NoOutcome", func(r *audit.Record) { r.Outcome = "" }, "outcome required"},
		{"LongActor", func(r *audit.Record) { r.Actor = strings.Repeat("a", audit.MaxFieldLen+1) }, "actor is 513 bytes"},
		{"LongTarget", func(r *audit.Record) { r.TargetID = strings.Repeat("a", audit.MaxFieldLen+1) }, "target id is 513 bytes"},
		{"BadUTF8", func(r *audit.Record) { r.Action = "\xff" }, "not valid UTF-8"},
		{"BigDetails", func(r *audit.Record) { r.Details = map[string]string{"x": strings.Repeat("y", audit.MaxDetailsLen)} }, "details are"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := ok
			tc.mod(&r)
			_, err := audit.Seal(gatehouse.AuditHead{}, r, t0)
			if gatehouse.ErrorCode(err) != gatehouse.CodeInvalid || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Seal: %v, want CodeInvalid mentioning %q", err, tc.want)
			}
		})
	}
	if _, err := audit.Seal(gatehouse.AuditHead{}, ok, time.Time{}); gatehouse.ErrorCode(err) != gatehouse.CodeInvalid {
		t.Errorf("zero time: %v", err)
	}
	if e, err := audit.Seal(gatehouse.AuditHead{}, ok, t0); err != nil || string(e.Details) != "{}" {
		t.Errorf("nil details: %v %q, want {}", err, e.Details)
	}
}

func clone(es []*gatehouse.AuditEntry) []*gatehouse.AuditEntry {
	out := make([]*gatehouse.AuditEntry, len(es))
	for i, e := range es {
		c := *e
		c.Details, c.PrevHash, c.Hash = bytes.Clone(e.Details), bytes.Clone(e.PrevHash), bytes.Clone(e.Hash)
		out[i] = &c
	}
	return out
}

// TestChainDetectsTampering alters each field of entry 3 of 6 in turn and
// checks that verification reports the first bad seq: 3 for a changed
// field; 4 when the attacker also recomputes entry 3's hash (entry 4 no
// longer links), unless a signed checkpoint names entry 3.
func TestChainDetectsTampering(t *testing.T) {
	kr := newKeyring(t, "k1")
	keys := audit.Keys(kr)
	run := func(t *testing.T, es []*gatehouse.AuditEntry, cps ...string) *audit.Report {
		t.Helper()
		r, err := audit.Verify(context.Background(), memSource(es), audit.Checkpoints{Stored: cps}, keys)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	orig := chain(t, 6)
	if r := run(t, orig, signCheckpoint(t, kr, 6, orig[5].Hash)); !r.OK() || r.Entries != 6 || r.Checkpoints != 1 || r.Head.Seq != 6 {
		t.Fatalf("intact chain: %+v", r)
	}
	fields := []struct {
		name string
		mod  func(e *gatehouse.AuditEntry)
	}{
		{"Time", func(e *gatehouse.AuditEntry) { e.Time = e.Time.Add(time.Nanosecond) }},
		{"Actor", func(e *gatehouse.AuditEntry) { e.Actor = "mallory" }},
		{"Action", func(e *gatehouse.AuditEntry) { e.Action = "GET /nothing" }},
		{"TargetType", func(e *gatehouse.AuditEntry) { e.TargetType = "apps" }},
		{"TargetID", func(e *gatehouse.AuditEntry) { e.TargetID = "other" }},
		{"Outcome", func(e *gatehouse.AuditEntry) { e.Outcome = gatehouse.AuditFailure }},
		{"Details", func(e *gatehouse.AuditEntry) { e.Details = []byte(`{"status":"500"}`) }},
		{"DetailsWhitespace", func(e *gatehouse.AuditEntry) { e.Details = append([]byte(" "), e.Details...) }},
		{"PrevHash", func(e *gatehouse.AuditEntry) { e.PrevHash[0] ^= 1 }},
		{"Hash", func(e *gatehouse.AuditEntry) { e.Hash[31] ^= 0x80 }},
	}
	for _, f := range fields {
		t.Run(f.name, func(t *testing.T) {
			es := clone(orig)
			f.mod(es[2])
			if r := run(t, es); r.FirstBad() != 3 {
				t.Errorf("first bad %d, want 3: %v", r.FirstBad(), r.Problems)
			}
		})
		if f.name == "PrevHash" || f.name == "Hash" {
			continue
		}
		t.Run(f.name+"Rehashed", func(t *testing.T) {
			es := clone(orig)
			f.mod(es[2])
			es[2].Hash = audit.Hash(es[2])
			if r := run(t, es); r.FirstBad() != 4 {
				t.Errorf("without a checkpoint on 3: first bad %d, want 4: %v", r.FirstBad(), r.Problems)
			}
			if r := run(t, es, signCheckpoint(t, kr, 3, orig[2].Hash)); r.FirstBad() != 3 {
				t.Errorf("with a checkpoint on 3: first bad %d, want 3: %v", r.FirstBad(), r.Problems)
			}
		})
	}
	t.Run("TailRewritten", func(t *testing.T) {
		// Entries 3 to 6 rewritten and re-chained: consistent with each
		// other, refuted by the checkpoint of the real head.
		es := clone(orig)
		for i := 2; i < 6; i++ {
			es[i].Actor = "mallory"
			es[i].PrevHash = es[i-1].Hash
			es[i].Hash = audit.Hash(es[i])
		}
		if r := run(t, es); !r.OK() {
			t.Fatalf("a consistent rewrite without a checkpoint should chain: %v", r.Problems)
		}
		if r := run(t, es, signCheckpoint(t, kr, 6, orig[5].Hash)); r.FirstBad() != 6 {
			t.Errorf("first bad %d, want 6 (the checkpoint's seq): %v", r.FirstBad(), r.Problems)
		}
	})
	t.Run("MiddleDeleted", func(t *testing.T) {
		es := append(clone(orig[:2]), clone(orig[3:])...)
		if r := run(t, es); r.FirstBad() != 3 || !strings.Contains(r.Problems[0].Reason, "missing") {
			t.Errorf("first bad %d, want 3 (missing): %v", r.FirstBad(), r.Problems)
		}
	})
	t.Run("FirstDeleted", func(t *testing.T) {
		if r := run(t, clone(orig[1:])); r.FirstBad() != 1 {
			t.Errorf("first bad %d, want 1: %v", r.FirstBad(), r.Problems)
		}
	})
	t.Run("NewestCutOff", func(t *testing.T) {
		cp := signCheckpoint(t, kr, 6, orig[5].Hash)
		r := run(t, clone(orig[:4]), cp)
		if r.FirstBad() != 5 || !strings.Contains(r.Problems[0].Reason, "cut off") {
			t.Errorf("first bad %d, want 5 (cut off): %v", r.FirstBad(), r.Problems)
		}
		// Without a checkpoint past the cut, nothing can tell: the limit
		// docs/AUDIT.md states.
		if r := run(t, clone(orig[:4]), signCheckpoint(t, kr, 4, orig[3].Hash)); !r.OK() {
			t.Errorf("cut after the latest checkpoint: %v", r.Problems)
		}
	})
	t.Run("AllDeleted", func(t *testing.T) {
		if r := run(t, nil, signCheckpoint(t, kr, 6, orig[5].Hash)); r.FirstBad() != 1 {
			t.Errorf("first bad %d, want 1: %v", r.FirstBad(), r.Problems)
		}
	})
	t.Run("Repeated", func(t *testing.T) {
		es := clone(orig)
		es = append(es[:3], append([]*gatehouse.AuditEntry{clone(orig)[2]}, es[3:]...)...)
		if r := run(t, es); r.FirstBad() != 3 {
			t.Errorf("first bad %d, want 3: %v", r.FirstBad(), r.Problems)
		}
	})
	t.Run("ForgedCheckpoint", func(t *testing.T) {
		other := newKeyring(t, "k1") // same kid, different key
		r := run(t, clone(orig), signCheckpoint(t, other, 6, orig[5].Hash))
		if r.OK() || r.Checkpoints != 0 || !strings.Contains(r.Problems[0].Reason, "does not verify") {
			t.Errorf("forged checkpoint: %+v", r)
		}
	})
	t.Run("UnknownKeyCheckpoint", func(t *testing.T) {
		// An older checkpoint whose key left the store cannot be checked,
		// but the entry it names still must match.
		gone := newKeyring(t, "k-removed")
		r := run(t, clone(orig), signCheckpoint(t, gone, 3, orig[2].Hash), signCheckpoint(t, kr, 6, orig[5].Hash))
		if !r.OK() || r.Unverifiable != 1 || r.Checkpoints != 1 {
			t.Errorf("older checkpoint by a removed key: %+v", r)
		}
		es := clone(orig)
		es[2].Actor = "mallory"
		es[2].Hash = audit.Hash(es[2])
		es[3].PrevHash = es[2].Hash
		es[3].Hash = audit.Hash(es[3])
		if r := run(t, es, signCheckpoint(t, gone, 3, orig[2].Hash)); r.FirstBad() != 3 {
			t.Errorf("entry named by an unverifiable checkpoint altered: first bad %d, want 3: %v", r.FirstBad(), r.Problems)
		}
		// Naming entries past the head: cut off, whatever the key.
		r = run(t, clone(orig[:4]), signCheckpoint(t, gone, 6, orig[5].Hash))
		if r.FirstBad() != 5 || !strings.Contains(fmt.Sprint(r.Problems), "cut off") {
			t.Errorf("unverifiable checkpoint past the head: first bad %d, want 5: %v", r.FirstBad(), r.Problems)
		}
		// The newest checkpoint must verify.
		r = run(t, clone(orig), signCheckpoint(t, kr, 3, orig[2].Hash), signCheckpoint(t, gone, 6, orig[5].Hash))
		if r.OK() || !strings.Contains(fmt.Sprint(r.Problems), "newest checkpoint (naming seq 6) cannot be verified") {
			t.Errorf("newest checkpoint unverifiable: %v", r.Problems)
		}
	})
	t.Run("CheckpointWrongType", func(t *testing.T) {
		jws, err := kr.Sign("at+jwt", []byte(`{"seq":6,"hash":"00","iat":1}`))
		if err != nil {
			t.Fatal(err)
		}
		if r := run(t, clone(orig), jws); r.OK() || !strings.Contains(r.Problems[0].Reason, "typ") {
			t.Errorf("a token of another type taken as a checkpoint: %+v", r)
		}
	})
}

// TestPinnedCheckpointKeys: the checkpoint file's recorded keys check its
// checkpoints after the signing key has left the store, so that someone who
// can write the database but not the master key cannot rewrite the log,
// delete the keys and have it pass (finding H2).
func TestPinnedCheckpointKeys(t *testing.T) {
	old := newKeyring(t, "k1")   // rotated out, then deleted from the store
	store := newKeyring(t, "k2") // what is left in the store
	pin := func(kr *token.Keyring, kid string) *jose.PublicKey {
		k, ok := kr.PublicKey(kid)
		if !ok {
			t.Fatal(kid)
		}
		return &k
	}
	orig := chain(t, 6)
	cp3, cp6 := signCheckpoint(t, old, 3, orig[2].Hash), signCheckpoint(t, old, 6, orig[5].Hash)
	file := []audit.FileCheckpoint{{JWS: cp3, Key: pin(old, "k1")}, {JWS: cp6, Key: pin(old, "k1")}}
	run := func(t *testing.T, es []*gatehouse.AuditEntry, cps audit.Checkpoints, keys audit.Keys) *audit.Report {
		t.Helper()
		r, err := audit.Verify(context.Background(), memSource(es), cps, keys)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}

	// The legitimate case: the key rotated and was deleted.
	if r := run(t, clone(orig), audit.Checkpoints{Stored: []string{cp3, cp6}, File: file}, store); !r.OK() || r.Checkpoints != 2 || r.Unverifiable != 0 {
		t.Fatalf("intact log, old key deleted: %+v", r)
	}

	// The attack: entry 3 altered, entries 5 on deleted, the rest re-chained
	// as docs/AUDIT.md describes; the database's checkpoints deleted with
	// the old key. The file's checkpoints still verify with the pinned key.
	forged := clone(orig[:4])
	forged[2].Actor = "mallory"
	var head gatehouse.AuditHead
	for i, e := range forged {
		r := audit.Record{Actor: e.Actor, Action: e.Action, TargetType: e.TargetType, TargetID: e.TargetID, Outcome: e.Outcome}
		if err := json.Unmarshal(e.Details, &r.Details); err != nil {
			t.Fatal(err)
		}
		s, err := audit.Seal(head, r, e.Time)
		if err != nil {
			t.Fatal(err)
		}
		forged[i] = s
		head = gatehouse.AuditHead{Seq: s.Seq, Hash: s.Hash}
	}
	if r := run(t, forged, audit.Checkpoints{}, store); !r.OK() {
		t.Fatalf("the forged chain is not self-consistent: %v", r.Problems)
	}
	r := run(t, forged, audit.Checkpoints{File: file}, store)
	if r.FirstBad() != 3 || r.Checkpoints != 2 || !strings.Contains(fmt.Sprint(r.Problems), "cut off") {
		t.Errorf("rewritten log: first bad %d, want 3, and the cut named: %+v", r.FirstBad(), r)
	}
	// Old file lines without keys: unverifiable, but what they name is
	// still checked.
	r = run(t, forged, audit.Checkpoints{File: []audit.FileCheckpoint{{JWS: cp3}, {JWS: cp6}}}, store)
	if r.FirstBad() != 3 || r.Unverifiable != 2 || !strings.Contains(fmt.Sprint(r.Problems), "cannot be verified") {
		t.Errorf("rewritten log, file without keys: first bad %d, want 3: %+v", r.FirstBad(), r)
	}

	for _, tc := range []struct {
		name string
		cps  audit.Checkpoints
		want string
	}{
		{"StoredUnknownKey", audit.Checkpoints{Stored: []string{signCheckpoint(t, newKeyring(t, "k9"), 6, orig[5].Hash)}, File: file},
			`signed by key "k9", which is neither in the store nor recorded`},
		{"FileSignatureFails", audit.Checkpoints{File: []audit.FileCheckpoint{{JWS: signCheckpoint(t, newKeyring(t, "k1"), 6, orig[5].Hash), Key: pin(old, "k1")}}},
			"does not verify"},
		{"PinnedDiffersFromStore", audit.Checkpoints{File: []audit.FileCheckpoint{{JWS: signCheckpoint(t, store, 6, orig[5].Hash), Key: pin(newKeyring(t, "k2"), "k2")}}},
			"differs from the store's key"},
		{"PinnedOtherKid", audit.Checkpoints{File: []audit.FileCheckpoint{{JWS: cp6, Key: pin(store, "k2")}}},
			`records key "k2" for a checkpoint signed by "k1"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := run(t, clone(orig), tc.cps, store)
			if r.OK() || !strings.Contains(fmt.Sprint(r.Problems), tc.want) {
				t.Errorf("problems %v, want one with %q", r.Problems, tc.want)
			}
		})
	}
}
