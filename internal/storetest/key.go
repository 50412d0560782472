package storetest

import (
	"testing"
	"time"

	"github.com/gatehouse/gatehouse"
)

func newKey(id string, state gatehouse.KeyState, created time.Time) *gatehouse.SigningKey {
	return &gatehouse.SigningKey{
		ID:         id,
		Algorithm:  gatehouse.AlgEdDSA,
		State:      state,
		PrivateKey: []byte("encrypted-pkcs8-" + id),
		CreatedAt:  created,
	}
}

func createKey(t *testing.T, s Store, k *gatehouse.SigningKey) {
	t.Helper()
	if err := s.CreateKey(t.Context(), k); err != nil {
		t.Fatalf("CreateKey(%q): %v", k.ID, err)
	}
}

// wantKeys fails t unless FindKeys returns want.
func wantKeys(t *testing.T, s Store, want []*gatehouse.SigningKey) {
	t.Helper()
	got, err := s.FindKeys(t.Context())
	if err != nil {
		t.Fatalf("FindKeys: %v", err)
	}
	if d := diff(got, want); d != "" {
		t.Fatalf("FindKeys (-got +want):\n%s", d)
	}
}

// current returns a copy of k made current at at.
func current(k *gatehouse.SigningKey, at time.Time) *gatehouse.SigningKey {
	c := *k
	c.State, c.ActivatedAt = gatehouse.KeyCurrent, at
	return &c
}

// retired returns a copy of k retired at at until removeAfter.
func retired(k *gatehouse.SigningKey, at, removeAfter time.Time) *gatehouse.SigningKey {
	c := *k
	c.State, c.RetiredAt, c.RemoveAfter = gatehouse.KeyRetired, at, removeAfter
	return &c
}

var createKeyTests = []test{
	{"RoundTrip", func(t *testing.T, s Store) {
		k := retired(current(newKey("k1", gatehouse.KeyNext, t0), t0.Add(1)), t0.Add(2), t0.Add(3))
		createKey(t, s, k)
		wantKeys(t, s, []*gatehouse.SigningKey{k})
	}},
	{"ConflictID", func(t *testing.T, s Store) {
		createKey(t, s, newKey("k1", gatehouse.KeyRetired, t0))
		wantCode(t, s.CreateKey(t.Context(), newKey("k1", gatehouse.KeyRetired, t0.Add(1))), gatehouse.CodeConflict)
		wantKeys(t, s, []*gatehouse.SigningKey{newKey("k1", gatehouse.KeyRetired, t0)})
	}},
	{"OneNextOneCurrent", func(t *testing.T, s Store) {
		for _, state := range []gatehouse.KeyState{gatehouse.KeyNext, gatehouse.KeyCurrent} {
			t.Run(string(state), func(t *testing.T) {
				createKey(t, s, newKey("a-"+string(state), state, t0))
				err := s.CreateKey(t.Context(), newKey("b-"+string(state), state, t0))
				wantCode(t, err, gatehouse.CodeConflict)
			})
		}
		// Any number of retired keys.
		createKey(t, s, newKey("r1", gatehouse.KeyRetired, t0))
		createKey(t, s, newKey("r2", gatehouse.KeyRetired, t0))
	}},
	{"Invalid", func(t *testing.T, s Store) {
		wantCode(t, s.CreateKey(t.Context(), newKey("", gatehouse.KeyNext, t0)), gatehouse.CodeInvalid)
		wantCode(t, s.CreateKey(t.Context(), newKey("k1", "bogus", t0)), gatehouse.CodeInvalid)
		wantKeys(t, s, nil)
	}},
}

var findKeysTests = []test{
	{"OldestFirst", func(t *testing.T, s Store) {
		k1 := newKey("k1", gatehouse.KeyRetired, t0)
		k2 := newKey("k2", gatehouse.KeyCurrent, t0.Add(1))
		k3 := newKey("k3", gatehouse.KeyNext, t0.Add(time.Hour))
		createKey(t, s, k3)
		createKey(t, s, k1)
		createKey(t, s, k2)
		wantKeys(t, s, []*gatehouse.SigningKey{k1, k2, k3})
	}},
	{"Empty", func(t *testing.T, s Store) {
		wantKeys(t, s, nil)
	}},
}

var rotateKeysTests = []test{
	{"First", func(t *testing.T, s Store) {
		k1, k2 := newKey("k1", gatehouse.KeyNext, t0), newKey("k2", gatehouse.KeyNext, t0.Add(time.Second))
		createKey(t, s, k1)
		must(t, s.RotateKeys(t.Context(), "", k2, t0.Add(time.Second), t0.Add(time.Hour)))
		wantKeys(t, s, []*gatehouse.SigningKey{current(k1, t0.Add(time.Second)), k2})
	}},
	{"HappyPath", func(t *testing.T, s Store) {
		t1, t2 := t0.Add(time.Hour), t0.Add(2*time.Hour)
		k1, k2, k3 := newKey("k1", gatehouse.KeyNext, t0), newKey("k2", gatehouse.KeyNext, t1), newKey("k3", gatehouse.KeyNext, t2)
		createKey(t, s, k1)
		must(t, s.RotateKeys(t.Context(), "", k2, t1, t1.Add(time.Minute)))
		must(t, s.RotateKeys(t.Context(), "k1", k3, t2, t2.Add(25*time.Hour)))
		wantKeys(t, s, []*gatehouse.SigningKey{
			retired(current(k1, t1), t2, t2.Add(25*time.Hour)),
			current(k2, t2),
			k3,
		})
	}},
	{"NewNextIsNext", func(t *testing.T, s Store) {
		createKey(t, s, newKey("k1", gatehouse.KeyNext, t0))
		k2 := newKey("k2", gatehouse.KeyCurrent, t0.Add(1)) // the state is the store's to set
		must(t, s.RotateKeys(t.Context(), "", k2, t0.Add(1), t0.Add(2)))
		want := *k2
		want.State = gatehouse.KeyNext
		wantKeys(t, s, []*gatehouse.SigningKey{current(newKey("k1", gatehouse.KeyNext, t0), t0.Add(1)), &want})
	}},
	refusedRotation("StaleExpectCurrent", "k0", "k3", gatehouse.CodeConflict,
		newKey("k1", gatehouse.KeyCurrent, t0), newKey("k2", gatehouse.KeyNext, t0.Add(1))),
	refusedRotation("ExpectNoneButCurrent", "", "k3", gatehouse.CodeConflict,
		newKey("k1", gatehouse.KeyCurrent, t0), newKey("k2", gatehouse.KeyNext, t0.Add(1))),
	refusedRotation("ExpectCurrentButNone", "k1", "k3", gatehouse.CodeConflict,
		newKey("k2", gatehouse.KeyNext, t0.Add(1))),
	refusedRotation("RetiredIsNotCurrent", "k1", "k3", gatehouse.CodeConflict,
		newKey("k1", gatehouse.KeyRetired, t0), newKey("k2", gatehouse.KeyNext, t0.Add(1))),
	refusedRotation("NoNextKey", "k1", "k3", gatehouse.CodeConflict,
		newKey("k1", gatehouse.KeyCurrent, t0)),
	// The new next key's ID is taken by the current key: the whole rotation
	// must roll back, leaving k1 current.
	refusedRotation("NewNextIDTaken", "k1", "k1", gatehouse.CodeConflict,
		newKey("k1", gatehouse.KeyCurrent, t0), newKey("k2", gatehouse.KeyNext, t0.Add(1))),
	refusedRotation("NoNewNext", "k1", "", gatehouse.CodeInvalid,
		newKey("k1", gatehouse.KeyCurrent, t0), newKey("k2", gatehouse.KeyNext, t0.Add(1))),
}

// refusedRotation is a test that RotateKeys(expectCurrent, newNext) fails
// with code on a store holding keys, and leaves them as they were. An empty
// newNext passes a nil key.
func refusedRotation(name, expectCurrent, newNext, code string, keys ...*gatehouse.SigningKey) test {
	return test{name, func(t *testing.T, s Store) {
		for _, k := range keys {
			createKey(t, s, k)
		}
		var k *gatehouse.SigningKey
		if newNext != "" {
			k = newKey(newNext, gatehouse.KeyNext, t0.Add(time.Hour))
		}
		wantCode(t, s.RotateKeys(t.Context(), expectCurrent, k, t0.Add(time.Hour), t0.Add(2*time.Hour)), code)
		wantKeys(t, s, keys)
	}}
}

var deleteRemovedKeysTests = []test{
	{"DeletesRetiredPastRemoveAfter", func(t *testing.T, s Store) {
		gone := retired(newKey("gone", gatehouse.KeyNext, t0.Add(-3*time.Hour)), t0.Add(-2*time.Hour), t0.Add(-1))
		atNow := retired(newKey("at-now", gatehouse.KeyNext, t0.Add(-2*time.Hour)), t0.Add(-time.Hour), t0)
		later := retired(newKey("later", gatehouse.KeyNext, t0.Add(-time.Hour)), t0.Add(-time.Minute), t0.Add(time.Hour))
		cur := current(newKey("cur", gatehouse.KeyNext, t0.Add(-time.Minute)), t0.Add(-time.Minute))
		next := newKey("next", gatehouse.KeyNext, t0)
		for _, k := range []*gatehouse.SigningKey{gone, atNow, later, cur, next} {
			createKey(t, s, k)
		}
		n, err := s.DeleteRemovedKeys(t.Context(), t0)
		must(t, err)
		if n != 1 {
			t.Fatalf("DeleteRemovedKeys = %d, want 1", n)
		}
		wantKeys(t, s, []*gatehouse.SigningKey{atNow, later, cur, next})
		// Far in the future, only retired keys go.
		n, err = s.DeleteRemovedKeys(t.Context(), t0.Add(1000*time.Hour))
		must(t, err)
		if n != 2 {
			t.Fatalf("second DeleteRemovedKeys = %d, want 2", n)
		}
		wantKeys(t, s, []*gatehouse.SigningKey{cur, next})
	}},
}
