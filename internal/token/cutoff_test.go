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
