package token

import (
	"testing"
	"time"

	"github.com/gatehouse/gatehouse"
)

func TestCutoffs(t *testing.T) {
	t0 := time.Date(2031, 3, 4, 5, 6, 7, 500_000_000, time.UTC)
	r := NewRevocations()
	claims := func(client, aud string, iat time.Time) *gatehouse.AccessClaims {
		return &gatehouse.AccessClaims{ID: "t", ClientID: client, Audience: aud, IssuedAt: iat}
	}
	if r.Refused(claims("app", "https://x", t0)) {
		t.Fatal("refused with no cutoff")
	}
	r.SetCutoffs([]gatehouse.Cutoff{{ClientID: "app", Audience: "https://x", At: t0}})
	r.AddCutoff(gatehouse.Cutoff{ClientID: "gone", At: t0})
	r.AddCutoff(gatehouse.Cutoff{Audience: "https://retired", At: t0})
	for _, tc := range []struct {
		name string
		c    *gatehouse.AccessClaims
		want bool
	}{
		{"IssuedBefore", claims("app", "https://x", t0.Truncate(time.Second)), true},
		{"IssuedAtTheCutoff", claims("app", "https://x", t0), true},
		{"IssuedAfter", claims("app", "https://x", t0.Add(time.Second)), false},
		{"OtherAudience", claims("app", "https://y", t0.Add(-time.Hour)), false},
		{"OtherClient", claims("other", "https://x", t0.Add(-time.Hour)), false},
		{"AppWide", claims("gone", "https://anything", t0.Add(-time.Hour)), true},
		{"AppWideAfter", claims("gone", "https://anything", t0.Add(time.Second)), false},
		{"APIWide", claims("anyone", "https://retired", t0.Add(-time.Hour)), true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := r.Refused(tc.c); got != tc.want {
				t.Errorf("Refused = %v, want %v", got, tc.want)
			}
			if got := r.CutOff(tc.c.ClientID, tc.c.Audience, tc.c.IssuedAt); got != tc.want {
				t.Errorf("CutOff = %v, want %v", got, tc.want)
			}
		})
	}
	if nb := r.NotBefore("app", "https://x"); !nb.Equal(t0) {
		t.Errorf("NotBefore %v", nb)
	}
	r.AddCutoff(gatehouse.Cutoff{ClientID: "app", Audience: "https://x", At: t0.Add(-time.Hour)}) // never moves back
	if nb := r.NotBefore("app", "https://x"); !nb.Equal(t0) {
		t.Errorf("NotBefore after an earlier cutoff %v", nb)
	}
	r.SetCutoffs(nil)
	if r.Refused(claims("gone", "https://anything", t0.Add(-time.Hour))) {
		t.Error("refused after the cutoffs were cleared")
	}
}

// TestCutoffCoversMovedIat: a token stamped past an earlier cutoff (its iat
// a little in the future) is still refused by a cutoff made after it was
// issued, while the tokens of an older, unrelated cutoff keep working.
func TestCutoffCoversMovedIat(t *testing.T) {
	s := time.Date(2031, 3, 4, 5, 6, 7, 0, time.UTC)
	r := NewRevocations()
	r.SetCutoffs([]gatehouse.Cutoff{{ClientID: "old", Audience: "https://z", At: s.Add(-time.Hour)}})
	r.AddCutoff(gatehouse.Cutoff{Audience: "https://x", At: s.Add(300 * time.Millisecond)})
	moved := s.Add(time.Second) // what the token endpoint stamps after that cutoff
	r.NoteIssued(moved)
	c := &gatehouse.AccessClaims{ID: "t", ClientID: "app", Audience: "https://x", IssuedAt: moved}
	if r.Refused(c) {
		t.Fatal("a token issued after the API cutoff is refused")
	}
	r.AddCutoff(gatehouse.Cutoff{ClientID: "app", At: s.Add(600 * time.Millisecond)})
	if !r.Refused(c) {
		t.Fatal("a later cutoff of the app does not cover its token with a moved iat")
	}
	// A full reload keeps what each known cutoff enforced.
	r.SetCutoffs([]gatehouse.Cutoff{{ClientID: "old", Audience: "https://z", At: s.Add(-time.Hour)},
		{Audience: "https://x", At: s.Add(300 * time.Millisecond)}, {ClientID: "app", At: s.Add(600 * time.Millisecond)}})
	if !r.Refused(c) {
		t.Fatal("after a reload")
	}
	if r.Refused(&gatehouse.AccessClaims{ID: "u", ClientID: "old", Audience: "https://z", IssuedAt: s.Add(-time.Minute)}) {
		t.Fatal("an old cutoff was stretched by a later moved iat")
	}
}

func TestBlocked(t *testing.T) {
	r := NewRevocations()
	c := &gatehouse.AccessClaims{ID: "k", ClientID: "app", Audience: "https://x", IssuedAt: time.Now()}
	r.SetBlocked([]gatehouse.Cutoff{{ClientID: "app", Audience: "https://x"}})
	if !r.Refused(c) {
		t.Fatal("a token of a blocked pair is accepted")
	}
	if r.Refused(&gatehouse.AccessClaims{ID: "k", ClientID: "app", Audience: "https://y", IssuedAt: time.Now()}) {
		t.Fatal("another audience is refused")
	}
	r.SetBlocked(nil)
	if r.Refused(c) {
		t.Fatal("refused once unblocked")
	}
}

// BenchmarkRefused measures the revocation check every verification makes,
// with no governance state and with a thousand cutoffs and blocked pairs.
func BenchmarkRefused(b *testing.B) {
	c := &gatehouse.AccessClaims{ID: "tok", ClientID: "app-7", Audience: "https://x.example", IssuedAt: time.Now()}
	b.Run("Empty", func(b *testing.B) {
		r := NewRevocations()
		b.ReportAllocs()
		for b.Loop() {
			if r.Refused(c) {
				b.Fatal("refused")
			}
		}
	})
	b.Run("Cutoffs1000", func(b *testing.B) {
		r := NewRevocations()
		var cs []gatehouse.Cutoff
		for i := range 1000 {
			cs = append(cs, gatehouse.Cutoff{ClientID: "app-" + string(rune('a'+i%26)) + time.Duration(i).String(), Audience: "https://x.example", At: time.Now().Add(-time.Hour)})
		}
		r.SetCutoffs(cs)
		r.SetBlocked(cs)
		b.ReportAllocs()
		for b.Loop() {
			if r.Refused(c) {
				b.Fatal("refused")
			}
		}
	})
}

func TestSetSuspendedClients(t *testing.T) {
	r := NewRevocations()
	c := func(id string) *gatehouse.AccessClaims { return &gatehouse.AccessClaims{ID: "t", ClientID: id} }
	r.SetSuspendedClients([]string{"a", "b"})
	if !r.Refused(c("a")) || !r.Refused(c("b")) || r.Refused(c("x")) {
		t.Fatal("suspended set not applied")
	}
	r.SetSuspendedClients([]string{"b"})
	if r.Refused(c("a")) || !r.Refused(c("b")) {
		t.Fatal("suspended set not replaced")
	}
}
