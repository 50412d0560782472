package storetest

import (
	"testing"
	"time"

	"github.com/gatehouse/gatehouse"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// newGrant returns a grant of subject with every field set but RevokedAt.
func newGrant(id, subject string, created time.Time) *gatehouse.Grant {
	return &gatehouse.Grant{
		ID:        id,
		ClientID:  "client-1",
		Subject:   subject,
		Audience:  "https://orders.example",
		Scopes:    []string{"orders:read", "orders:write"},
		ExpiresAt: created.Add(30 * 24 * time.Hour),
		CreatedAt: created,
	}
}

// grantToken returns a token of kind in grant g, issued at g.CreatedAt.
func grantToken(id string, kind gatehouse.TokenKind, g *gatehouse.Grant, exp time.Time) *gatehouse.Token {
	tok := newToken(id, g.ID, exp)
	tok.Kind, tok.ClientID, tok.Subject = kind, g.ClientID, g.Subject
	tok.Audience, tok.Scopes, tok.IssuedAt = g.Audience, g.Scopes, g.CreatedAt
	return tok
}

// family is what the redemption of a code issues.
type family struct {
	grant   *gatehouse.Grant
	access  *gatehouse.Token // g.ID + "-at", expires 15 minutes after g.CreatedAt
	refresh *gatehouse.Token // g.ID + "-rt", expires 2 hours after g.CreatedAt
}

func newFamily(g *gatehouse.Grant) family {
	return family{
		grant:   g,
		access:  grantToken(g.ID+"-at", gatehouse.KindAccess, g, g.CreatedAt.Add(15*time.Minute)),
		refresh: grantToken(g.ID+"-rt", gatehouse.KindRefresh, g, g.CreatedAt.Add(2*time.Hour)),
	}
}

// issue stores grant g and its family the only way a grant is stored: by
// redeeming a new code for it at g.CreatedAt.
func issue(t *testing.T, s Store, g *gatehouse.Grant) family {
	t.Helper()
	f := newFamily(g)
	c := newAuthCode("for-"+g.ID, g.ID, g.CreatedAt)
	c.Subject = g.Subject
	createAuthCode(t, s, c)
	if err := s.RedeemAuthCode(t.Context(), c.Hash, g.CreatedAt, g, []*gatehouse.Token{f.access, f.refresh}); err != nil {
		t.Fatalf("RedeemAuthCode for grant %q: %v", g.ID, err)
	}
	return f
}

// wantGrant fails t unless the stored grant is want.
func wantGrant(t *testing.T, s Store, want *gatehouse.Grant) {
	t.Helper()
	got, err := s.FindGrantByID(t.Context(), want.ID)
	if err != nil {
		t.Fatalf("FindGrantByID(%q): %v", want.ID, err)
	}
	if d := diff(got, want); d != "" {
		t.Fatalf("FindGrantByID(%q) (-got +want):\n%s", want.ID, d)
	}
}

// wantGrants fails t unless FindGrants(subject) returns want.
func wantGrants(t *testing.T, s Store, subject string, want []*gatehouse.Grant) {
	t.Helper()
	got, err := s.FindGrants(t.Context(), subject)
	if err != nil {
		t.Fatalf("FindGrants(%q): %v", subject, err)
	}
	if d := diff(got, want); d != "" {
		t.Fatalf("FindGrants(%q) (-got +want):\n%s", subject, d)
	}
}

func revokedGrant(g *gatehouse.Grant, at time.Time) *gatehouse.Grant {
	c := *g
	c.RevokedAt = at
	return &c
}

var findGrantByIDTests = []test{
	{"RoundTrip", func(t *testing.T, s Store) {
		g := newGrant("g1", "u1", t0.In(time.FixedZone("X", 2*3600)))
		g.ExpiresAt = t0.Add(720*time.Hour + 1)
		issue(t, s, g)
		wantGrant(t, s, g)
	}},
	{"NotFound", func(t *testing.T, s Store) {
		issue(t, s, newGrant("g1", "u1", t0))
		g, err := s.FindGrantByID(t.Context(), "g2")
		wantCode(t, err, gatehouse.CodeNotFound)
		if g != nil {
			t.Fatalf("grant = %+v with an error, want nil", g)
		}
	}},
	{"RevokedByIDOnly", func(t *testing.T, s Store) {
		// A grant id revoked without a grant record (a client credentials
		// family, say) does not make one up.
		_, err := s.RevokeGrant(t.Context(), "g1", t0)
		must(t, err)
		_, err = s.FindGrantByID(t.Context(), "g1")
		wantCode(t, err, gatehouse.CodeNotFound)
	}},
}

var findGrantsTests = []test{
	{"NewestFirstUnrevokedOfSubject", func(t *testing.T, s Store) {
		g1 := newGrant("g1", "u1", t0.Add(-2*time.Hour))
		g2 := newGrant("g2", "u1", t0.Add(-time.Hour))
		g3 := newGrant("g3", "u1", t0.Add(-3*time.Hour))
		revokedOne := newGrant("g4", "u1", t0)
		other := newGrant("g5", "u2", t0)
		// Created in an order that is neither by id nor by time.
		for _, g := range []*gatehouse.Grant{g2, revokedOne, g3, other, g1} {
			issue(t, s, g)
		}
		_, err := s.RevokeGrant(t.Context(), "g4", t0.Add(time.Minute))
		must(t, err)
		wantGrants(t, s, "u1", []*gatehouse.Grant{g2, g1, g3})
		wantGrants(t, s, "u2", []*gatehouse.Grant{other})
		wantGrants(t, s, "u3", nil)
	}},
}

// revokeGrantRecordTests extend RevokeGrant's: it also marks the grant
// record revoked.
var revokeGrantRecordTests = []test{
	{"SetsGrantRevokedAt", func(t *testing.T, s Store) {
		f := issue(t, s, newGrant("g1", "u1", t0))
		n, err := s.RevokeGrant(t.Context(), "g1", t0.Add(time.Minute))
		must(t, err)
		if n != 2 {
			t.Fatalf("RevokeGrant = %d, want 2", n)
		}
		_, err = s.RevokeGrant(t.Context(), "g1", t0.Add(time.Hour))
		must(t, err)
		// The first revocation time is kept.
		wantGrant(t, s, revokedGrant(f.grant, t0.Add(time.Minute)))
		wantToken(t, s, f.refresh.ID, revoked(f.refresh, t0.Add(time.Minute)))
		wantGrants(t, s, "u1", nil)
	}},
	{"RevokedLongAgoStaysRevoked", func(t *testing.T, s Store) {
		// Once its tokens are deleted and the horizon has passed, the store
		// may forget the revocation for FindRevocations, but the grant
		// record stays revoked and no token can join it.
		f := issue(t, s, newGrant("g1", "u1", t0))
		_, err := s.RevokeGrant(t.Context(), "g1", t0)
		must(t, err)
		later := t0.Add(10 * GrantRevocationHorizon)
		_, err = s.DeleteExpiredTokens(t.Context(), later)
		must(t, err)
		wantGrant(t, s, revokedGrant(f.grant, t0))
		wantCode(t, s.CreateToken(t.Context(), newToken("late", "g1", later.Add(time.Hour))), gatehouse.CodeConflict)
		_, err = s.FindTokenByID(t.Context(), "late")
		wantCode(t, err, gatehouse.CodeNotFound)
	}},
}

var revokeGrantsBySubjectTests = []test{
	{"OnlyThatSubject", func(t *testing.T, s Store) {
		a := issue(t, s, newGrant("ga", "u1", t0.Add(-time.Hour)))
		b := issue(t, s, newGrant("gb", "u1", t0.Add(-time.Minute)))
		other := issue(t, s, newGrant("gc", "u2", t0.Add(-time.Minute)))
		// Tokens of the subject outside any grant record are not its grants.
		loose := newToken("loose", "gx", t0.Add(time.Hour))
		loose.Subject = "u1"
		createToken(t, s, loose)
		noGrant := newToken("no-grant", "", t0.Add(time.Hour))
		noGrant.Subject = "u1"
		createToken(t, s, noGrant)

		ids, err := s.RevokeGrantsBySubject(t.Context(), "u1", t0)
		must(t, err)
		if d := diff(ids, []string{"ga", "gb"}, cmpopts.SortSlices(func(a, b string) bool { return a < b })); d != "" {
			t.Fatalf("RevokeGrantsBySubject ids (-got +want):\n%s", d)
		}
		for _, f := range []family{a, b} {
			wantGrant(t, s, revokedGrant(f.grant, t0))
			wantToken(t, s, f.access.ID, revoked(f.access, t0))
			wantToken(t, s, f.refresh.ID, revoked(f.refresh, t0))
		}
		wantGrant(t, s, other.grant)
		wantToken(t, s, other.refresh.ID, other.refresh)
		wantToken(t, s, "loose", loose)
		wantToken(t, s, "no-grant", noGrant)
		wantGrants(t, s, "u1", nil)
		wantGrants(t, s, "u2", []*gatehouse.Grant{other.grant})
		wantRevocations(t, s, t0, []gatehouse.Revocation{
			{GrantID: "ga", Until: t0.Add(GrantRevocationHorizon)},
			{GrantID: "gb", Until: t0.Add(GrantRevocationHorizon)},
		})
		// A refresh racing the revocation cannot add to the families.
		wantCode(t, s.CreateToken(t.Context(), grantToken("ga-late", gatehouse.KindAccess, a.grant, t0.Add(time.Hour))),
			gatehouse.CodeConflict)
	}},
	{"SkipsRevokedGrants", func(t *testing.T, s Store) {
		a := issue(t, s, newGrant("ga", "u1", t0.Add(-time.Hour)))
		b := issue(t, s, newGrant("gb", "u1", t0.Add(-time.Hour)))
		_, err := s.RevokeGrant(t.Context(), "ga", t0.Add(-time.Minute))
		must(t, err)
		ids, err := s.RevokeGrantsBySubject(t.Context(), "u1", t0)
		must(t, err)
		if d := diff(ids, []string{"gb"}); d != "" {
			t.Fatalf("RevokeGrantsBySubject ids (-got +want):\n%s", d)
		}
		wantGrant(t, s, revokedGrant(a.grant, t0.Add(-time.Minute)))
		wantToken(t, s, a.access.ID, revoked(a.access, t0.Add(-time.Minute)))
		wantGrant(t, s, revokedGrant(b.grant, t0))
		// Again: nothing left to revoke.
		ids, err = s.RevokeGrantsBySubject(t.Context(), "u1", t0.Add(time.Hour))
		must(t, err)
		if len(ids) != 0 {
			t.Fatalf("second RevokeGrantsBySubject = %v, want none", ids)
		}
		wantGrant(t, s, revokedGrant(b.grant, t0))
	}},
	{"NoGrants", func(t *testing.T, s Store) {
		issue(t, s, newGrant("ga", "u2", t0))
		ids, err := s.RevokeGrantsBySubject(t.Context(), "u1", t0)
		must(t, err)
		if len(ids) != 0 {
			t.Fatalf("RevokeGrantsBySubject = %v, want none", ids)
		}
		wantGrants(t, s, "u2", []*gatehouse.Grant{newGrant("ga", "u2", t0)})
	}},
	{"Invalid", func(t *testing.T, s Store) {
		// A grant with no subject must not be revoked as everyone's.
		f := issue(t, s, newGrant("ga", "", t0))
		_, err := s.RevokeGrantsBySubject(t.Context(), "", t0)
		wantCode(t, err, gatehouse.CodeInvalid)
		wantGrant(t, s, f.grant)
		wantToken(t, s, f.access.ID, f.access)
	}},
}
