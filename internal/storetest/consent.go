package storetest

import (
	"testing"
	"time"

	"github.com/gatehouse/gatehouse"
)

// newConsent returns a consent with every field set.
func newConsent(subject, clientID string) *gatehouse.Consent {
	return &gatehouse.Consent{
		Subject:   subject,
		ClientID:  clientID,
		Audience:  "https://orders.example",
		Scopes:    []string{"orders:read", "orders:write"},
		GrantedAt: t0.In(time.FixedZone("X", 3600)),
	}
}

func saveConsent(t *testing.T, s Store, c *gatehouse.Consent) {
	t.Helper()
	if err := s.SaveConsent(t.Context(), c); err != nil {
		t.Fatalf("SaveConsent(%q, %q): %v", c.Subject, c.ClientID, err)
	}
}

// wantConsent fails t unless the subject's consent for the client is want.
func wantConsent(t *testing.T, s Store, want *gatehouse.Consent) {
	t.Helper()
	got, err := s.FindConsent(t.Context(), want.Subject, want.ClientID)
	if err != nil {
		t.Fatalf("FindConsent(%q, %q): %v", want.Subject, want.ClientID, err)
	}
	if d := diff(got, want); d != "" {
		t.Fatalf("FindConsent(%q, %q) (-got +want):\n%s", want.Subject, want.ClientID, d)
	}
}

// wantConsents fails t unless FindConsents(subject) returns want.
func wantConsents(t *testing.T, s Store, subject string, want []*gatehouse.Consent) {
	t.Helper()
	got, err := s.FindConsents(t.Context(), subject)
	if err != nil {
		t.Fatalf("FindConsents(%q): %v", subject, err)
	}
	if d := diff(got, want); d != "" {
		t.Fatalf("FindConsents(%q) (-got +want):\n%s", subject, d)
	}
}

var saveConsentTests = []test{
	{"RoundTrip", func(t *testing.T, s Store) {
		want := newConsent("u1", "c1")
		saveConsent(t, s, want)
		wantConsent(t, s, want)
	}},
	{"ZeroFields", func(t *testing.T, s Store) {
		want := &gatehouse.Consent{Subject: "u1", ClientID: "c1"}
		saveConsent(t, s, want)
		wantConsent(t, s, want)
	}},
	{"Replaces", func(t *testing.T, s Store) {
		saveConsent(t, s, newConsent("u1", "c1"))
		want := &gatehouse.Consent{Subject: "u1", ClientID: "c1", Audience: "https://billing.example",
			Scopes: []string{"billing:read"}, GrantedAt: t0.Add(time.Hour + 1)}
		saveConsent(t, s, want)
		// Replaced whole: the earlier scopes are not merged in.
		wantConsent(t, s, want)
		wantConsents(t, s, "u1", []*gatehouse.Consent{want})
	}},
	{"ReplaceWithFewerScopes", func(t *testing.T, s Store) {
		saveConsent(t, s, newConsent("u1", "c1"))
		want := newConsent("u1", "c1")
		want.Scopes = nil
		saveConsent(t, s, want)
		wantConsent(t, s, want)
	}},
	{"OnlyThatPair", func(t *testing.T, s Store) {
		saveConsent(t, s, newConsent("u1", "c1"))
		saveConsent(t, s, newConsent("u2", "c1"))
		saveConsent(t, s, newConsent("u1", "c2"))
		upd := newConsent("u1", "c1")
		upd.Scopes = []string{"x"}
		saveConsent(t, s, upd)
		wantConsent(t, s, newConsent("u2", "c1"))
		wantConsent(t, s, newConsent("u1", "c2"))
	}},
	{"Invalid", func(t *testing.T, s Store) {
		wantCode(t, s.SaveConsent(t.Context(), newConsent("", "c1")), gatehouse.CodeInvalid)
		wantCode(t, s.SaveConsent(t.Context(), newConsent("u1", "")), gatehouse.CodeInvalid)
		wantConsents(t, s, "", nil)
		wantConsents(t, s, "u1", nil)
	}},
}

var findConsentTests = []test{
	{"NotFound", func(t *testing.T, s Store) {
		saveConsent(t, s, newConsent("u1", "c1"))
		for _, k := range [][2]string{{"u1", "c2"}, {"u2", "c1"}} {
			c, err := s.FindConsent(t.Context(), k[0], k[1])
			wantCode(t, err, gatehouse.CodeNotFound)
			if c != nil {
				t.Fatalf("FindConsent(%q, %q) = %+v with an error, want nil", k[0], k[1], c)
			}
		}
	}},
}

var findConsentsTests = []test{
	{"OrderedByClientOnlyThatSubject", func(t *testing.T, s Store) {
		b, a, c := newConsent("u1", "b"), newConsent("u1", "a"), newConsent("u1", "c")
		a.Scopes = []string{"a"}
		for _, x := range []*gatehouse.Consent{b, newConsent("u2", "a"), c, a, newConsent("u10", "z")} {
			saveConsent(t, s, x)
		}
		wantConsents(t, s, "u1", []*gatehouse.Consent{a, b, c})
		wantConsents(t, s, "u3", nil)
	}},
}

var deleteConsentTests = []test{
	{"Withdraws", func(t *testing.T, s Store) {
		saveConsent(t, s, newConsent("u1", "c1"))
		saveConsent(t, s, newConsent("u1", "c2"))
		saveConsent(t, s, newConsent("u2", "c1"))
		must(t, s.DeleteConsent(t.Context(), "u1", "c1"))
		_, err := s.FindConsent(t.Context(), "u1", "c1")
		wantCode(t, err, gatehouse.CodeNotFound)
		wantConsents(t, s, "u1", []*gatehouse.Consent{newConsent("u1", "c2")})
		wantConsent(t, s, newConsent("u2", "c1"))
		// Withdrawn twice: there is none the second time.
		wantCode(t, s.DeleteConsent(t.Context(), "u1", "c1"), gatehouse.CodeNotFound)
		// And it can be given again.
		saveConsent(t, s, newConsent("u1", "c1"))
		wantConsent(t, s, newConsent("u1", "c1"))
	}},
	{"NotFound", func(t *testing.T, s Store) {
		saveConsent(t, s, newConsent("u1", "c1"))
		wantCode(t, s.DeleteConsent(t.Context(), "u1", "c2"), gatehouse.CodeNotFound)
		wantCode(t, s.DeleteConsent(t.Context(), "u2", "c1"), gatehouse.CodeNotFound)
		wantConsent(t, s, newConsent("u1", "c1"))
	}},
}
