package storetest

import (
	"testing"
	"time"

	"github.com/gatehouse/gatehouse"
)

// newEvent returns an event with every field set.
func newEvent(id, typ, grantID string, at time.Time) *gatehouse.SecurityEvent {
	return &gatehouse.SecurityEvent{
		ID:       id,
		Type:     typ,
		ClientID: "client-1",
		Subject:  "user-1",
		GrantID:  grantID,
		Detail:   "refresh token " + id + " presented again",
		At:       at,
	}
}

func recordEvent(t *testing.T, s Store, e *gatehouse.SecurityEvent) {
	t.Helper()
	if err := s.RecordEvent(t.Context(), e); err != nil {
		t.Fatalf("RecordEvent(%q): %v", e.ID, err)
	}
}

// wantEvents fails t unless FindEvents(f) returns want, in that order.
func wantEvents(t *testing.T, s Store, f gatehouse.EventFilter, want []*gatehouse.SecurityEvent) {
	t.Helper()
	got, err := s.FindEvents(t.Context(), f)
	if err != nil {
		t.Fatalf("FindEvents(%+v): %v", f, err)
	}
	if d := diff(got, want); d != "" {
		t.Fatalf("FindEvents(%+v) (-got +want):\n%s", f, d)
	}
}

var recordEventTests = []test{
	{"RoundTrip", func(t *testing.T, s Store) {
		want := newEvent("e1", gatehouse.EventRefreshReuse, "g1", t0.In(time.FixedZone("X", 9*3600)))
		recordEvent(t, s, want)
		wantEvents(t, s, gatehouse.EventFilter{}, []*gatehouse.SecurityEvent{want})
	}},
	{"ZeroFields", func(t *testing.T, s Store) {
		want := &gatehouse.SecurityEvent{ID: "e1", Type: gatehouse.EventLoginFailed, At: t0}
		recordEvent(t, s, want)
		wantEvents(t, s, gatehouse.EventFilter{}, []*gatehouse.SecurityEvent{want})
	}},
	{"ConflictID", func(t *testing.T, s Store) {
		first := newEvent("e1", gatehouse.EventRefreshReuse, "g1", t0)
		recordEvent(t, s, first)
		wantCode(t, s.RecordEvent(t.Context(), newEvent("e1", gatehouse.EventCodeReuse, "g2", t0.Add(1))),
			gatehouse.CodeConflict)
		wantEvents(t, s, gatehouse.EventFilter{}, []*gatehouse.SecurityEvent{first})
	}},
	{"Invalid", func(t *testing.T, s Store) {
		wantCode(t, s.RecordEvent(t.Context(), newEvent("", gatehouse.EventRefreshReuse, "g1", t0)), gatehouse.CodeInvalid)
		wantCode(t, s.RecordEvent(t.Context(), newEvent("e1", "", "g1", t0)), gatehouse.CodeInvalid)
		wantCode(t, s.RecordEvent(t.Context(), newEvent("e2", gatehouse.EventRefreshReuse, "g1", time.Time{})),
			gatehouse.CodeInvalid)
		wantEvents(t, s, gatehouse.EventFilter{}, nil)
	}},
}

var findEventsTests = []test{
	{"FilterOrderLimit", func(t *testing.T, s Store) {
		e1 := newEvent("e1", gatehouse.EventCodeReuse, "g1", t0.Add(-3*time.Hour))
		e2 := newEvent("e2", gatehouse.EventRefreshReuse, "g1", t0.Add(-time.Hour))
		e3 := newEvent("e3", gatehouse.EventLoginFailed, "", t0.Add(-2*time.Hour))
		e4 := newEvent("e4", gatehouse.EventRefreshReuse, "g2", t0)
		e5 := newEvent("e5", gatehouse.EventRefreshReuse, "g1", t0.Add(-time.Hour+1))
		// Recorded neither in time nor in id order.
		for _, e := range []*gatehouse.SecurityEvent{e3, e5, e1, e4, e2} {
			recordEvent(t, s, e)
		}
		for _, tc := range []struct {
			name   string
			filter gatehouse.EventFilter
			want   []*gatehouse.SecurityEvent
		}{
			{"All", gatehouse.EventFilter{}, []*gatehouse.SecurityEvent{e4, e5, e2, e3, e1}},
			{"Type", gatehouse.EventFilter{Type: gatehouse.EventRefreshReuse}, []*gatehouse.SecurityEvent{e4, e5, e2}},
			{"GrantID", gatehouse.EventFilter{GrantID: "g1"}, []*gatehouse.SecurityEvent{e5, e2, e1}},
			{"TypeAndGrant", gatehouse.EventFilter{Type: gatehouse.EventRefreshReuse, GrantID: "g1"},
				[]*gatehouse.SecurityEvent{e5, e2}},
			{"Limit", gatehouse.EventFilter{Limit: 2}, []*gatehouse.SecurityEvent{e4, e5}},
			{"TypeAndLimit", gatehouse.EventFilter{Type: gatehouse.EventRefreshReuse, Limit: 1},
				[]*gatehouse.SecurityEvent{e4}},
			{"LimitAboveCount", gatehouse.EventFilter{Limit: 10}, []*gatehouse.SecurityEvent{e4, e5, e2, e3, e1}},
			{"NoMatch", gatehouse.EventFilter{Type: gatehouse.EventUserGrantsRevoked}, nil},
			{"NoMatchingGrant", gatehouse.EventFilter{GrantID: "g3"}, nil},
		} {
			t.Run(tc.name, func(t *testing.T) {
				wantEvents(t, s, tc.filter, tc.want)
			})
		}
	}},
	{"Empty", func(t *testing.T, s Store) {
		wantEvents(t, s, gatehouse.EventFilter{}, nil)
	}},
}
