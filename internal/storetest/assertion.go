package storetest

import (
	"testing"
	"time"

	"github.com/gatehouse/gatehouse"
)

var useAssertionIDTests = []test{
	{"ReplayRefusedUntilExp", func(t *testing.T, s Store) {
		exp := t0.Add(time.Minute)
		must(t, s.UseAssertionID(t.Context(), "c1", "j1", exp, t0))
		for _, now := range []time.Time{t0, t0.Add(time.Second), exp.Add(-1)} {
			wantCode(t, s.UseAssertionID(t.Context(), "c1", "j1", exp, now), gatehouse.CodeConflict)
		}
		// At exp the entry has expired, like a token at its exp.
		must(t, s.UseAssertionID(t.Context(), "c1", "j1", exp.Add(time.Minute), exp))
	}},
	{"OtherClientSameJTI", func(t *testing.T, s Store) {
		must(t, s.UseAssertionID(t.Context(), "c1", "j1", t0.Add(time.Minute), t0))
		must(t, s.UseAssertionID(t.Context(), "c2", "j1", t0.Add(time.Minute), t0))
		wantCode(t, s.UseAssertionID(t.Context(), "c2", "j1", t0.Add(time.Minute), t0), gatehouse.CodeConflict)
	}},
	{"SameClientOtherJTI", func(t *testing.T, s Store) {
		must(t, s.UseAssertionID(t.Context(), "c1", "j1", t0.Add(time.Minute), t0))
		must(t, s.UseAssertionID(t.Context(), "c1", "j2", t0.Add(time.Minute), t0))
	}},
	{"ExpiredEntryReusable", func(t *testing.T, s Store) {
		must(t, s.UseAssertionID(t.Context(), "c1", "j1", t0.Add(time.Minute), t0))
		later := t0.Add(2 * time.Minute)
		must(t, s.UseAssertionID(t.Context(), "c1", "j1", later.Add(time.Minute), later))
		// The new entry holds until its own exp.
		wantCode(t, s.UseAssertionID(t.Context(), "c1", "j1", later.Add(time.Minute), later.Add(time.Second)), gatehouse.CodeConflict)
	}},
	{"ExpiryOfOthersDoesNotFreeThis", func(t *testing.T, s Store) {
		must(t, s.UseAssertionID(t.Context(), "c1", "short", t0.Add(time.Second), t0))
		must(t, s.UseAssertionID(t.Context(), "c1", "long", t0.Add(time.Hour), t0))
		// Forgetting expired entries must not forget live ones.
		must(t, s.UseAssertionID(t.Context(), "c1", "other", t0.Add(time.Hour), t0.Add(time.Minute)))
		wantCode(t, s.UseAssertionID(t.Context(), "c1", "long", t0.Add(time.Hour), t0.Add(time.Minute)), gatehouse.CodeConflict)
		must(t, s.UseAssertionID(t.Context(), "c1", "short", t0.Add(time.Hour), t0.Add(time.Minute)))
	}},
	{"Invalid", func(t *testing.T, s Store) {
		wantCode(t, s.UseAssertionID(t.Context(), "c1", "", t0.Add(time.Minute), t0), gatehouse.CodeInvalid)
		wantCode(t, s.UseAssertionID(t.Context(), "", "j1", t0.Add(time.Minute), t0), gatehouse.CodeInvalid)
	}},
}
