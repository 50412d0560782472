package storetest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse"
)

// AuditStore keeps the audit log (issue 5). The store does not compute or
// check hashes (internal/audit does); it keeps rows exactly as given.
type AuditStore interface {
	// AppendAudit, in one transaction: reads the head (the entry with the
	// highest Seq, or the zero AuditHead), calls build with it and inserts
	// the entry build returns. CodeInvalid (nothing written) unless its Seq
	// is head.Seq+1 and it has a time and 32-byte hashes; build's error is
	// returned as is, nothing written. Concurrent appends are serialized,
	// so each build sees the entry the previous one made.
	AppendAudit(ctx context.Context, build func(head gatehouse.AuditHead) (*gatehouse.AuditEntry, error)) (*gatehouse.AuditEntry, error)
	// AppendAuditEvents, in one transaction: takes up to limit security
	// events not yet appended, in the order they were recorded (by any
	// method that records events, in its own transaction), and inserts the
	// entry build makes for each, each build seeing the previous entry as
	// head; returns how many. Each event is appended once. CodeInvalid
	// (nothing written) for a limit below 1 or an entry that does not
	// follow its head; build's error is returned, nothing written.
	AppendAuditEvents(ctx context.Context, limit int, build func(head gatehouse.AuditHead, e *gatehouse.SecurityEvent) (*gatehouse.AuditEntry, error)) (int, error)
	// AuditHead returns the newest entry's Seq and Hash, zero when empty.
	AuditHead(ctx context.Context) (gatehouse.AuditHead, error)
	// FindAuditEntries returns the entries matching f in ascending Seq.
	FindAuditEntries(ctx context.Context, f gatehouse.AuditFilter) ([]*gatehouse.AuditEntry, error)
	// CreateAuditCheckpoint stores a checkpoint; CodeInvalid without a
	// positive Seq, a 32-byte Hash, a time, a key id or a JWS. The same
	// head may be checkpointed more than once.
	CreateAuditCheckpoint(ctx context.Context, c *gatehouse.AuditCheckpoint) error
	// LatestAuditCheckpoint returns the most recently stored checkpoint;
	// CodeNotFound when there is none.
	LatestAuditCheckpoint(ctx context.Context) (*gatehouse.AuditCheckpoint, error)
	// FindAuditCheckpoints returns every checkpoint, oldest first.
	FindAuditCheckpoints(ctx context.Context) ([]*gatehouse.AuditCheckpoint, error)
}

// fakeHash stands in for internal/audit's hash: the store must not care.
func fakeHash(parts ...any) []byte {
	h := sha256.Sum256(fmt.Append(nil, parts...))
	return h[:]
}

// chainEntry builds the entry after head.
func chainEntry(head gatehouse.AuditHead, at time.Time, actor, action string) *gatehouse.AuditEntry {
	prev := head.Hash
	if head.Seq == 0 {
		prev = make([]byte, 32)
	}
	e := &gatehouse.AuditEntry{
		Seq: head.Seq + 1, Time: at, Actor: actor, Action: action, TargetType: "client", TargetID: "c1",
		Outcome: gatehouse.AuditSuccess, Details: []byte(`{"address":"127.0.0.1","note":"ü \u003c"}`), PrevHash: prev,
	}
	e.Hash = fakeHash(e.Seq, at.UnixNano(), actor, action, prev)
	return e
}

func appendEntry(t *testing.T, s Store, at time.Time, actor, action string) *gatehouse.AuditEntry {
	t.Helper()
	var built *gatehouse.AuditEntry
	got, err := s.AppendAudit(t.Context(), func(head gatehouse.AuditHead) (*gatehouse.AuditEntry, error) {
		built = chainEntry(head, at, actor, action)
		return built, nil
	})
	if err != nil {
		t.Fatalf("AppendAudit: %v", err)
	}
	if got != built {
		t.Fatalf("AppendAudit returned %+v, not the entry build made", got)
	}
	return got
}

func wantAudit(t *testing.T, s Store, f gatehouse.AuditFilter, want []*gatehouse.AuditEntry) {
	t.Helper()
	got, err := s.FindAuditEntries(t.Context(), f)
	if err != nil {
		t.Fatalf("FindAuditEntries(%+v): %v", f, err)
	}
	if d := diff(got, want); d != "" {
		t.Fatalf("FindAuditEntries(%+v) (-got +want):\n%s", f, d)
	}
}

var appendAuditTests = []test{
	{"ChainsFromTheHead", func(t *testing.T, s Store) {
		var heads []gatehouse.AuditHead
		var want []*gatehouse.AuditEntry
		for i := range 3 {
			e, err := s.AppendAudit(t.Context(), func(head gatehouse.AuditHead) (*gatehouse.AuditEntry, error) {
				heads = append(heads, head)
				return chainEntry(head, t0.Add(time.Duration(i)).In(time.FixedZone("X", 3600)), "admin", "POST /x"), nil
			})
			must(t, err)
			want = append(want, e)
		}
		wantHeads := []gatehouse.AuditHead{{}, {Seq: 1, Hash: want[0].Hash}, {Seq: 2, Hash: want[1].Hash}}
		if d := diff(heads, wantHeads); d != "" {
			t.Fatalf("heads passed to build (-got +want):\n%s", d)
		}
		wantAudit(t, s, gatehouse.AuditFilter{}, want)
		head, err := s.AuditHead(t.Context())
		must(t, err)
		if d := diff(head, gatehouse.AuditHead{Seq: 3, Hash: want[2].Hash}); d != "" {
			t.Fatalf("AuditHead (-got +want):\n%s", d)
		}
	}},
	{"EmptyHead", func(t *testing.T, s Store) {
		head, err := s.AuditHead(t.Context())
		must(t, err)
		if head.Seq != 0 || head.Hash != nil {
			t.Fatalf("AuditHead of an empty log = %+v", head)
		}
		wantAudit(t, s, gatehouse.AuditFilter{}, nil)
	}},
	{"Refused", func(t *testing.T, s Store) {
		first := appendEntry(t, s, t0, "admin", "a")
		boom := errors.New("boom")
		for _, tc := range []struct {
			name  string
			build func(head gatehouse.AuditHead) (*gatehouse.AuditEntry, error)
			code  string
		}{
			{"WrongSeq", func(h gatehouse.AuditHead) (*gatehouse.AuditEntry, error) {
				e := chainEntry(h, t0, "a", "b")
				e.Seq = h.Seq + 2
				return e, nil
			}, gatehouse.CodeInvalid},
			{"SameSeq", func(h gatehouse.AuditHead) (*gatehouse.AuditEntry, error) {
				e := chainEntry(h, t0, "a", "b")
				e.Seq = h.Seq
				return e, nil
			}, gatehouse.CodeInvalid},
			{"NoTime", func(h gatehouse.AuditHead) (*gatehouse.AuditEntry, error) {
				return chainEntry(h, time.Time{}, "a", "b"), nil
			}, gatehouse.CodeInvalid},
			{"ShortHash", func(h gatehouse.AuditHead) (*gatehouse.AuditEntry, error) {
				e := chainEntry(h, t0, "a", "b")
				e.Hash = e.Hash[:31]
				return e, nil
			}, gatehouse.CodeInvalid},
			{"BuildFails", func(h gatehouse.AuditHead) (*gatehouse.AuditEntry, error) {
				return nil, gatehouse.Errorf(gatehouse.CodeInvalid, "bad record")
			}, gatehouse.CodeInvalid},
			{"BuildFailsInternal", func(h gatehouse.AuditHead) (*gatehouse.AuditEntry, error) {
				return nil, boom
			}, gatehouse.CodeInternal},
		} {
			t.Run(tc.name, func(t *testing.T) {
				_, err := s.AppendAudit(t.Context(), tc.build)
				wantCode(t, err, tc.code)
				wantAudit(t, s, gatehouse.AuditFilter{}, []*gatehouse.AuditEntry{first})
			})
		}
		_, err := s.AppendAudit(t.Context(), func(gatehouse.AuditHead) (*gatehouse.AuditEntry, error) { return nil, boom })
		if !errors.Is(err, boom) {
			t.Errorf("build's error is not returned: %v", err)
		}
	}},
	{"ConcurrentAppendsNeverFork", func(t *testing.T, s Store) {
		const n = 40
		var wg sync.WaitGroup
		errs := make(chan error, n)
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, err := s.AppendAudit(context.Background(), func(head gatehouse.AuditHead) (*gatehouse.AuditEntry, error) {
					return chainEntry(head, t0.Add(time.Duration(i)), fmt.Sprint("w", i), "x"), nil
				})
				errs <- err
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			must(t, err)
		}
		got, err := s.FindAuditEntries(t.Context(), gatehouse.AuditFilter{})
		must(t, err)
		if len(got) != n {
			t.Fatalf("%d entries, want %d", len(got), n)
		}
		prev := make([]byte, 32)
		for i, e := range got {
			if e.Seq != int64(i+1) || !bytes.Equal(e.PrevHash, prev) {
				t.Fatalf("entry %d: seq %d, prev_hash links to %x, want %x", i, e.Seq, e.PrevHash, prev)
			}
			prev = e.Hash
		}
	}},
}

var findAuditEntriesTests = []test{
	{"Filters", func(t *testing.T, s Store) {
		e1 := appendEntry(t, s, t0.Add(-3*time.Hour), "alice", "POST /a")
		e2 := appendEntry(t, s, t0.Add(-2*time.Hour), "bob", "POST /a")
		e3 := appendEntry(t, s, t0.Add(-time.Hour), "alice", "DELETE /b")
		e4 := appendEntry(t, s, t0, gatehouse.AuditActorSystem, "security.refresh_token_reuse")
		for _, tc := range []struct {
			name   string
			filter gatehouse.AuditFilter
			want   []*gatehouse.AuditEntry
		}{
			{"All", gatehouse.AuditFilter{}, []*gatehouse.AuditEntry{e1, e2, e3, e4}},
			{"AfterSeq", gatehouse.AuditFilter{AfterSeq: 2}, []*gatehouse.AuditEntry{e3, e4}},
			{"AfterLast", gatehouse.AuditFilter{AfterSeq: 4}, nil},
			{"SinceInclusive", gatehouse.AuditFilter{Since: t0.Add(-2 * time.Hour)}, []*gatehouse.AuditEntry{e2, e3, e4}},
			{"UntilExclusive", gatehouse.AuditFilter{Until: t0.Add(-time.Hour)}, []*gatehouse.AuditEntry{e1, e2}},
			{"SinceUntil", gatehouse.AuditFilter{Since: t0.Add(-2*time.Hour - 1), Until: t0.Add(-time.Hour + 1)}, []*gatehouse.AuditEntry{e2, e3}},
			{"Action", gatehouse.AuditFilter{Action: "POST /a"}, []*gatehouse.AuditEntry{e1, e2}},
			{"Actor", gatehouse.AuditFilter{Actor: "alice"}, []*gatehouse.AuditEntry{e1, e3}},
			{"ActorAndAction", gatehouse.AuditFilter{Actor: "alice", Action: "POST /a"}, []*gatehouse.AuditEntry{e1}},
			{"Limit", gatehouse.AuditFilter{Limit: 2}, []*gatehouse.AuditEntry{e1, e2}},
			{"CursorAndLimit", gatehouse.AuditFilter{AfterSeq: 1, Limit: 2}, []*gatehouse.AuditEntry{e2, e3}},
			{"NoMatch", gatehouse.AuditFilter{Actor: "carol"}, nil},
		} {
			t.Run(tc.name, func(t *testing.T) {
				wantAudit(t, s, tc.filter, tc.want)
			})
		}
	}},
}

func newCheckpoint(seq int64, at time.Time, kid string) *gatehouse.AuditCheckpoint {
	return &gatehouse.AuditCheckpoint{Seq: seq, Hash: fakeHash(seq), At: at, KeyID: kid, JWS: fmt.Sprintf("h.%d.%s", seq, kid)}
}

var auditCheckpointTests = []test{
	{"RoundTripAndOrder", func(t *testing.T, s Store) {
		_, err := s.LatestAuditCheckpoint(t.Context())
		wantCode(t, err, gatehouse.CodeNotFound)
		c1 := newCheckpoint(5, t0, "k1")
		c2 := newCheckpoint(9, t0.Add(time.Second), "k1")
		c3 := newCheckpoint(9, t0.Add(2*time.Second), "k2") // the same head, signed again
		for _, c := range []*gatehouse.AuditCheckpoint{c1, c2, c3} {
			must(t, s.CreateAuditCheckpoint(t.Context(), c))
		}
		got, err := s.LatestAuditCheckpoint(t.Context())
		must(t, err)
		if d := diff(got, c3); d != "" {
			t.Fatalf("LatestAuditCheckpoint (-got +want):\n%s", d)
		}
		all, err := s.FindAuditCheckpoints(t.Context())
		must(t, err)
		if d := diff(all, []*gatehouse.AuditCheckpoint{c1, c2, c3}); d != "" {
			t.Fatalf("FindAuditCheckpoints (-got +want):\n%s", d)
		}
	}},
	{"Invalid", func(t *testing.T, s Store) {
		for name, mod := range map[string]func(c *gatehouse.AuditCheckpoint){
			"NoSeq":    func(c *gatehouse.AuditCheckpoint) { c.Seq = 0 },
			"BadHash":  func(c *gatehouse.AuditCheckpoint) { c.Hash = c.Hash[:16] },
			"NoTime":   func(c *gatehouse.AuditCheckpoint) { c.At = time.Time{} },
			"NoKeyID":  func(c *gatehouse.AuditCheckpoint) { c.KeyID = "" },
			"NoJWS":    func(c *gatehouse.AuditCheckpoint) { c.JWS = "" },
			"Negative": func(c *gatehouse.AuditCheckpoint) { c.Seq = -1 },
		} {
			t.Run(name, func(t *testing.T) {
				c := newCheckpoint(1, t0, "k1")
				mod(c)
				wantCode(t, s.CreateAuditCheckpoint(t.Context(), c), gatehouse.CodeInvalid)
			})
		}
		all, err := s.FindAuditCheckpoints(t.Context())
		must(t, err)
		if len(all) != 0 {
			t.Fatalf("invalid checkpoints were stored: %+v", all)
		}
	}},
}

// eventEntry builds the entry of event e after head.
func eventEntry(head gatehouse.AuditHead, e *gatehouse.SecurityEvent) *gatehouse.AuditEntry {
	en := chainEntry(head, e.At, "system", "security."+e.Type)
	en.TargetID = e.ID
	return en
}

func drain(t *testing.T, s Store, limit int) []string {
	t.Helper()
	var ids []string
	n, err := s.AppendAuditEvents(t.Context(), limit, func(head gatehouse.AuditHead, e *gatehouse.SecurityEvent) (*gatehouse.AuditEntry, error) {
		ids = append(ids, e.ID)
		return eventEntry(head, e), nil
	})
	if err != nil {
		t.Fatalf("AppendAuditEvents: %v", err)
	}
	if n != len(ids) {
		t.Fatalf("AppendAuditEvents returned %d, built %d", n, len(ids))
	}
	return ids
}

var appendAuditEventsTests = []test{
	{"DrainsInRecordedOrderOnce", func(t *testing.T, s Store) {
		// Recorded neither in time nor in id order.
		e3 := newEvent("e3", gatehouse.EventRefreshReuse, "g1", t0.Add(time.Hour))
		e1 := newEvent("e1", gatehouse.EventCodeReuse, "g2", t0)
		e2 := newEvent("e2", gatehouse.EventUserGrantsRevoked, "", t0.Add(-time.Hour))
		for _, e := range []*gatehouse.SecurityEvent{e3, e1, e2} {
			recordEvent(t, s, e)
		}
		if got := drain(t, s, 2); !slices.Equal(got, []string{"e3", "e1"}) {
			t.Fatalf("first batch %v, want [e3 e1]", got)
		}
		before := appendEntry(t, s, t0, "admin", "POST /x") // an ordinary append in between
		if got := drain(t, s, 2); !slices.Equal(got, []string{"e2"}) {
			t.Fatalf("second batch %v, want [e2]", got)
		}
		if got := drain(t, s, 2); len(got) != 0 {
			t.Fatalf("third batch %v, want none", got)
		}
		es, err := s.FindAuditEntries(t.Context(), gatehouse.AuditFilter{})
		must(t, err)
		var got []string
		prev := make([]byte, 32)
		for i, e := range es {
			got = append(got, e.TargetID)
			if e.Seq != int64(i+1) || !bytes.Equal(e.PrevHash, prev) {
				t.Fatalf("entry %d: seq %d does not chain", i, e.Seq)
			}
			prev = e.Hash
		}
		if !slices.Equal(got, []string{"e3", "e1", "c1", "e2"}) || es[2].Hash == nil || !bytes.Equal(es[2].Hash, before.Hash) {
			t.Fatalf("entries %v", got)
		}
		if !es[0].Time.Equal(e3.At) || es[0].Action != "security."+gatehouse.EventRefreshReuse {
			t.Errorf("the build did not get the event: %+v", es[0])
		}
	}},
	{"BuildFailsNothingWritten", func(t *testing.T, s Store) {
		recordEvent(t, s, newEvent("e1", gatehouse.EventRefreshReuse, "g1", t0))
		recordEvent(t, s, newEvent("e2", gatehouse.EventRefreshReuse, "g1", t0))
		calls := 0
		_, err := s.AppendAuditEvents(t.Context(), 10, func(head gatehouse.AuditHead, e *gatehouse.SecurityEvent) (*gatehouse.AuditEntry, error) {
			calls++
			if calls == 2 {
				return nil, gatehouse.Errorf(gatehouse.CodeInvalid, "bad")
			}
			return eventEntry(head, e), nil
		})
		wantCode(t, err, gatehouse.CodeInvalid)
		wantAudit(t, s, gatehouse.AuditFilter{}, nil)
		if got := drain(t, s, 10); !slices.Equal(got, []string{"e1", "e2"}) {
			t.Fatalf("after a failed batch: %v, want both events still queued", got)
		}
	}},
	{"WrongSeqRefused", func(t *testing.T, s Store) {
		recordEvent(t, s, newEvent("e1", gatehouse.EventRefreshReuse, "g1", t0))
		_, err := s.AppendAuditEvents(t.Context(), 10, func(head gatehouse.AuditHead, e *gatehouse.SecurityEvent) (*gatehouse.AuditEntry, error) {
			en := eventEntry(head, e)
			en.Seq += 5
			return en, nil
		})
		wantCode(t, err, gatehouse.CodeInvalid)
		wantAudit(t, s, gatehouse.AuditFilter{}, nil)
		_, err = s.AppendAuditEvents(t.Context(), 0, nil)
		wantCode(t, err, gatehouse.CodeInvalid)
	}},
	{"ConcurrentDrainsAppendEachOnce", func(t *testing.T, s Store) {
		const n = 30
		for i := range n {
			recordEvent(t, s, newEvent(fmt.Sprint("e", i), gatehouse.EventRefreshReuse, "g1", t0.Add(time.Duration(i))))
		}
		var wg sync.WaitGroup
		for range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					k, err := s.AppendAuditEvents(context.Background(), 3, func(head gatehouse.AuditHead, e *gatehouse.SecurityEvent) (*gatehouse.AuditEntry, error) {
						return eventEntry(head, e), nil
					})
					if err != nil {
						t.Error(err)
						return
					}
					if k == 0 {
						return
					}
				}
			}()
		}
		wg.Wait()
		es, err := s.FindAuditEntries(t.Context(), gatehouse.AuditFilter{})
		must(t, err)
		seen := map[string]bool{}
		for i, e := range es {
			if seen[e.TargetID] {
				t.Fatalf("event %s appended twice", e.TargetID)
			}
			seen[e.TargetID] = true
			if want := fmt.Sprint("e", i); e.TargetID != want {
				t.Fatalf("entry %d is %s, want %s (recorded order)", i, e.TargetID, want)
			}
		}
		if len(es) != n {
			t.Fatalf("%d entries, want %d", len(es), n)
		}
	}},
}
