package storetest

import (
	"fmt"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// Binding values (RFC 7638 §3.1's thumbprint, and the SHA-256 of "cert").
const (
	testJKT = "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
	testX5T = "BimEMugGayniIjvMI6qVBLVq5Qj6vzQ1UIhpucMZDiI"
)

// newToken returns a token with every field set but RevokedAt, RotatedAt
// and SuccessorID.
func newToken(id, grantID string, exp time.Time) *gatehouse.Token {
	return &gatehouse.Token{
		ID:        id,
		Hash:      gatehouse.HashSecret("token-" + id),
		Kind:      gatehouse.KindRefresh,
		Format:    gatehouse.FormatOpaque,
		ClientID:  "client-1",
		Subject:   "user-1",
		Audience:  "https://orders.example",
		Scopes:    []string{"orders:read", "orders:write"},
		GrantID:   grantID,
		IssuedAt:  t0.Add(-time.Minute),
		ExpiresAt: exp,
		// Round-tripped like every other field (governance: revoking a
		// credential revokes the tokens issued with it).
		CredentialID: "cred-1",
	}
}

func createToken(t *testing.T, s Store, tok *gatehouse.Token) {
	t.Helper()
	if err := s.CreateToken(t.Context(), tok); err != nil {
		t.Fatalf("CreateToken(%q): %v", tok.ID, err)
	}
}

// wantToken fails t unless the stored token id equals want.
func wantToken(t *testing.T, s Store, id string, want *gatehouse.Token) {
	t.Helper()
	got, err := s.FindTokenByID(t.Context(), id)
	if err != nil {
		t.Fatalf("FindTokenByID(%q): %v", id, err)
	}
	if d := diff(got, want); d != "" {
		t.Fatalf("FindTokenByID(%q) (-got +want):\n%s", id, d)
	}
}

func revoked(tok *gatehouse.Token, at time.Time) *gatehouse.Token {
	c := *tok
	c.RevokedAt = at
	return &c
}

var createTokenTests = []test{
	{"RoundTrip", func(t *testing.T, s Store) {
		want := newToken("t1", "g1", t0.Add(15*time.Minute+1))
		createToken(t, s, want)
		wantToken(t, s, "t1", want)
	}},
	{"RoundTripRevoked", func(t *testing.T, s Store) {
		want := revoked(newToken("t1", "g1", t0.Add(time.Hour)), t0.Add(-3))
		createToken(t, s, want)
		wantToken(t, s, "t1", want)
	}},
	{"RoundTripRotated", func(t *testing.T, s Store) {
		want := rotated(revoked(newToken("t1", "g1", t0.Add(time.Hour)), t0.Add(-3)), t0.Add(-5), "t2")
		createToken(t, s, want)
		wantToken(t, s, "t1", want)
	}},
	{"RoundTripBound", func(t *testing.T, s Store) {
		// Each binding alone and both together, on every kind that can
		// carry one (RFC 9449 §5 binds public clients' refresh tokens too).
		for i, cnf := range []gatehouse.Confirmation{
			{JKT: testJKT},
			{X5TS256: testX5T},
			{JKT: testJKT, X5TS256: testX5T},
		} {
			for _, kind := range []gatehouse.TokenKind{gatehouse.KindAccess, gatehouse.KindRefresh} {
				id := fmt.Sprintf("t%d-%s", i, kind)
				want := newToken(id, "g1", t0.Add(time.Hour))
				want.Kind, want.Cnf = kind, cnf
				createToken(t, s, want)
				wantToken(t, s, id, want)
				got, err := s.FindTokenByHash(t.Context(), want.Hash)
				must(t, err)
				if got.Cnf != cnf {
					t.Fatalf("FindTokenByHash(%s).Cnf = %+v, want %+v", id, got.Cnf, cnf)
				}
			}
		}
	}},
	{"RoundTripActor", func(t *testing.T, s Store) {
		// A token made by a double token exchange (RFC 8693 4.1).
		want := newToken("t1", "g1", t0.Add(time.Hour))
		want.Kind = gatehouse.KindAccess
		want.Act = &gatehouse.Actor{Subject: "inventory-svc", Actor: &gatehouse.Actor{Subject: "orders-svc"}}
		createToken(t, s, want)
		wantToken(t, s, "t1", want)
		got, err := s.FindTokenByHash(t.Context(), want.Hash)
		must(t, err)
		if !got.Act.Equal(want.Act) {
			t.Fatalf("FindTokenByHash.Act = %v, want %v", got.Act.Chain(), want.Act.Chain())
		}
	}},
	{"NoGrant", func(t *testing.T, s Store) {
		want := newToken("t1", "", t0.Add(time.Hour))
		want.Kind, want.Format, want.Subject, want.Scopes = gatehouse.KindRegistration, gatehouse.FormatJWT, "", nil
		createToken(t, s, want)
		wantToken(t, s, "t1", want)
	}},
	{"ConflictID", func(t *testing.T, s Store) {
		createToken(t, s, newToken("t1", "g1", t0.Add(time.Hour)))
		dup := newToken("t1", "g2", t0.Add(2*time.Hour))
		dup.Hash = gatehouse.HashSecret("other")
		wantCode(t, s.CreateToken(t.Context(), dup), gatehouse.CodeConflict)
		wantToken(t, s, "t1", newToken("t1", "g1", t0.Add(time.Hour)))
	}},
	{"ConflictHash", func(t *testing.T, s Store) {
		createToken(t, s, newToken("t1", "g1", t0.Add(time.Hour)))
		dup := newToken("t2", "g1", t0.Add(time.Hour))
		dup.Hash = newToken("t1", "", t0).Hash
		wantCode(t, s.CreateToken(t.Context(), dup), gatehouse.CodeConflict)
		_, err := s.FindTokenByID(t.Context(), "t2")
		wantCode(t, err, gatehouse.CodeNotFound)
	}},
	{"RevokedGrant", func(t *testing.T, s Store) {
		// A refresh racing the revocation of its family must not add a
		// live token to it.
		_, err := s.RevokeGrant(t.Context(), "g1", t0)
		must(t, err)
		wantCode(t, s.CreateToken(t.Context(), newToken("t1", "g1", t0.Add(time.Hour))), gatehouse.CodeConflict)
		_, err = s.FindTokenByID(t.Context(), "t1")
		wantCode(t, err, gatehouse.CodeNotFound)
		createToken(t, s, newToken("t2", "g2", t0.Add(time.Hour)))
	}},
	{"Invalid", func(t *testing.T, s Store) {
		for _, tc := range []struct {
			name   string
			change func(*gatehouse.Token)
		}{
			{"NoID", func(tok *gatehouse.Token) { tok.ID = "" }},
			{"NoHash", func(tok *gatehouse.Token) { tok.Hash = nil }},
			{"NoExpiry", func(tok *gatehouse.Token) { tok.ExpiresAt = time.Time{} }},
		} {
			t.Run(tc.name, func(t *testing.T) {
				tok := newToken("t1", "g1", t0.Add(time.Hour))
				tc.change(tok)
				wantCode(t, s.CreateToken(t.Context(), tok), gatehouse.CodeInvalid)
			})
		}
	}},
}

var findTokenByHashTests = []test{
	{"Found", func(t *testing.T, s Store) {
		for _, id := range []string{"t1", "t2", "t3"} {
			createToken(t, s, newToken(id, "g1", t0.Add(time.Hour)))
		}
		got, err := s.FindTokenByHash(t.Context(), gatehouse.HashSecret("token-t2"))
		must(t, err)
		if d := diff(got, newToken("t2", "g1", t0.Add(time.Hour))); d != "" {
			t.Fatalf("FindTokenByHash (-got +want):\n%s", d)
		}
	}},
	{"NotFound", func(t *testing.T, s Store) {
		createToken(t, s, newToken("t1", "g1", t0.Add(time.Hour)))
		tok, err := s.FindTokenByHash(t.Context(), gatehouse.HashSecret("token-t2"))
		wantCode(t, err, gatehouse.CodeNotFound)
		if tok != nil {
			t.Fatalf("token = %+v with an error, want nil", tok)
		}
	}},
}

var findTokenByIDTests = []test{
	{"NotFound", func(t *testing.T, s Store) {
		createToken(t, s, newToken("t1", "g1", t0.Add(time.Hour)))
		_, err := s.FindTokenByID(t.Context(), "t2")
		wantCode(t, err, gatehouse.CodeNotFound)
		if got, want := gatehouse.ErrorMessage(err), "token not found"; got != want {
			t.Fatalf("message = %q, want %q", got, want)
		}
	}},
}

var revokeTokenTests = []test{
	{"OnceThenFalse", func(t *testing.T, s Store) {
		tok := newToken("t1", "g1", t0.Add(time.Hour))
		createToken(t, s, tok)
		ok, err := s.RevokeToken(t.Context(), "t1", t0)
		must(t, err)
		if !ok {
			t.Fatal("first RevokeToken = false, want true")
		}
		ok, err = s.RevokeToken(t.Context(), "t1", t0.Add(time.Minute))
		must(t, err)
		if ok {
			t.Fatal("second RevokeToken = true, want false")
		}
		// The first revocation time stays.
		wantToken(t, s, "t1", revoked(tok, t0))
	}},
	{"OnlyThatToken", func(t *testing.T, s Store) {
		createToken(t, s, newToken("t1", "g1", t0.Add(time.Hour)))
		createToken(t, s, newToken("t2", "g1", t0.Add(time.Hour)))
		_, err := s.RevokeToken(t.Context(), "t1", t0)
		must(t, err)
		wantToken(t, s, "t2", newToken("t2", "g1", t0.Add(time.Hour)))
	}},
	{"CreatedRevoked", func(t *testing.T, s Store) {
		createToken(t, s, revoked(newToken("t1", "g1", t0.Add(time.Hour)), t0))
		ok, err := s.RevokeToken(t.Context(), "t1", t0.Add(time.Second))
		must(t, err)
		if ok {
			t.Fatal("RevokeToken of a token stored revoked = true, want false")
		}
	}},
	{"NotFound", func(t *testing.T, s Store) {
		ok, err := s.RevokeToken(t.Context(), "nope", t0)
		wantCode(t, err, gatehouse.CodeNotFound)
		if ok {
			t.Fatal("RevokeToken of a missing token = true")
		}
	}},
}

var revokeGrantTests = []test{
	{"OnlyThatGrant", func(t *testing.T, s Store) {
		exp := t0.Add(time.Hour)
		for _, tok := range []*gatehouse.Token{
			newToken("a1", "ga", exp), newToken("a2", "ga", exp), newToken("a3", "ga", exp),
			newToken("b1", "gb", exp), newToken("n1", "", exp),
		} {
			createToken(t, s, tok)
		}
		n, err := s.RevokeGrant(t.Context(), "ga", t0)
		must(t, err)
		if n != 3 {
			t.Fatalf("RevokeGrant = %d, want 3", n)
		}
		for _, id := range []string{"a1", "a2", "a3"} {
			wantToken(t, s, id, revoked(newToken(id, "ga", exp), t0))
		}
		wantToken(t, s, "b1", newToken("b1", "gb", exp))
		wantToken(t, s, "n1", newToken("n1", "", exp))
	}},
	{"SkipsRevokedTokens", func(t *testing.T, s Store) {
		exp := t0.Add(time.Hour)
		createToken(t, s, newToken("a1", "ga", exp))
		createToken(t, s, newToken("a2", "ga", exp))
		_, err := s.RevokeToken(t.Context(), "a1", t0.Add(-time.Minute))
		must(t, err)
		n, err := s.RevokeGrant(t.Context(), "ga", t0)
		must(t, err)
		if n != 1 {
			t.Fatalf("RevokeGrant = %d, want 1", n)
		}
		wantToken(t, s, "a1", revoked(newToken("a1", "ga", exp), t0.Add(-time.Minute)))
		wantToken(t, s, "a2", revoked(newToken("a2", "ga", exp), t0))
	}},
	{"Twice", func(t *testing.T, s Store) {
		createToken(t, s, newToken("a1", "ga", t0.Add(time.Hour)))
		_, err := s.RevokeGrant(t.Context(), "ga", t0)
		must(t, err)
		n, err := s.RevokeGrant(t.Context(), "ga", t0.Add(time.Hour))
		must(t, err)
		if n != 0 {
			t.Fatalf("second RevokeGrant = %d, want 0", n)
		}
		// The first revocation time counts.
		wantRevocations(t, s, t0, []gatehouse.Revocation{{GrantID: "ga", Until: t0.Add(GrantRevocationHorizon)}})
	}},
	{"NoTokensYet", func(t *testing.T, s Store) {
		n, err := s.RevokeGrant(t.Context(), "ga", t0)
		must(t, err)
		if n != 0 {
			t.Fatalf("RevokeGrant = %d, want 0", n)
		}
		wantRevocations(t, s, t0, []gatehouse.Revocation{{GrantID: "ga", Until: t0.Add(GrantRevocationHorizon)}})
	}},
	{"Invalid", func(t *testing.T, s Store) {
		createToken(t, s, newToken("n1", "", t0.Add(time.Hour)))
		_, err := s.RevokeGrant(t.Context(), "", t0)
		wantCode(t, err, gatehouse.CodeInvalid)
		// Above all, tokens without a grant were not revoked as one.
		wantToken(t, s, "n1", newToken("n1", "", t0.Add(time.Hour)))
	}},
}

// wantRevocations fails t unless FindRevocations(now) returns want, in any
// order.
func wantRevocations(t *testing.T, s Store, now time.Time, want []gatehouse.Revocation) {
	t.Helper()
	got, err := s.FindRevocations(t.Context(), now)
	if err != nil {
		t.Fatalf("FindRevocations: %v", err)
	}
	sortRevocations := cmpopts.SortSlices(func(a, b gatehouse.Revocation) bool {
		if a.GrantID != b.GrantID {
			return a.GrantID < b.GrantID
		}
		return a.TokenID < b.TokenID
	})
	if d := diff(got, want, sortRevocations); d != "" {
		t.Fatalf("FindRevocations(%v) (-got +want):\n%s", now, d)
	}
}

var findRevocationsTests = []test{
	{"Empty", func(t *testing.T, s Store) {
		createToken(t, s, newToken("t1", "g1", t0.Add(time.Hour)))
		wantRevocations(t, s, t0, nil)
	}},
	{"Contents", func(t *testing.T, s Store) {
		for _, tok := range []*gatehouse.Token{
			newToken("live", "", t0.Add(time.Hour)),
			newToken("r1", "", t0.Add(time.Hour)),
			newToken("r2", "g0", t0.Add(2*time.Hour)),
			newToken("r-expired", "", t0.Add(-time.Second)),
			newToken("g1a", "g1", t0.Add(time.Hour)),
			newToken("g1b", "g1", t0.Add(30*time.Hour)),
			newToken("g2a", "g2", t0.Add(time.Hour)),
		} {
			createToken(t, s, tok)
		}
		for _, id := range []string{"r1", "r2", "r-expired"} {
			_, err := s.RevokeToken(t.Context(), id, t0.Add(-time.Hour))
			must(t, err)
		}
		_, err := s.RevokeGrant(t.Context(), "g1", t0.Add(-time.Minute))
		must(t, err)
		_, err = s.RevokeGrant(t.Context(), "g3", t0.Add(-time.Hour))
		must(t, err)
		wantRevocations(t, s, t0, []gatehouse.Revocation{
			{TokenID: "r1", Until: t0.Add(time.Hour)},
			{TokenID: "r2", Until: t0.Add(2 * time.Hour)},
			// The latest expiry of its tokens, which are not listed one by one.
			{GrantID: "g1", Until: t0.Add(30 * time.Hour)},
			// No tokens: the horizon from its revocation.
			{GrantID: "g3", Until: t0.Add(-time.Hour + GrantRevocationHorizon)},
		})
	}},
	{"GrantsRevokedByEveryPath", func(t *testing.T, s Store) {
		// RevokeGrant, a reused code and RevokeGrantsBySubject all leave
		// the same state behind.
		byID := issue(t, s, newGrant("by-id", "u1", t0))
		bySubject := issue(t, s, newGrant("by-subject", "u2", t0))
		byReuse := newRedemption("first")
		createAuthCode(t, s, byReuse.code)
		must(t, byReuse.redeem(t, s, t0))
		longLived := grantToken("long", gatehouse.KindRefresh, bySubject.grant, t0.Add(30*time.Hour))
		createToken(t, s, longLived)

		now := t0.Add(time.Minute)
		_, err := s.RevokeGrant(t.Context(), "by-id", now)
		must(t, err)
		_, err = s.RevokeGrantsBySubject(t.Context(), "u2", now)
		must(t, err)
		wantCode(t, newRedemption("second").redeem(t, s, now), gatehouse.CodeConflict)
		wantRevocations(t, s, now, []gatehouse.Revocation{
			{GrantID: "by-id", Until: now.Add(GrantRevocationHorizon)},
			{GrantID: "by-subject", Until: t0.Add(30 * time.Hour)},
			{GrantID: byReuse.grant.ID, Until: now.Add(GrantRevocationHorizon)},
		})
		for _, f := range []family{byID, bySubject, byReuse.family} {
			wantGrant(t, s, revokedGrant(f.grant, now))
			wantToken(t, s, f.refresh.ID, revoked(f.refresh, now))
		}
	}},
	{"GrantCoversRevokedToken", func(t *testing.T, s Store) {
		createToken(t, s, newToken("t1", "g1", t0.Add(time.Hour)))
		_, err := s.RevokeToken(t.Context(), "t1", t0)
		must(t, err)
		_, err = s.RevokeGrant(t.Context(), "g1", t0)
		must(t, err)
		wantRevocations(t, s, t0, []gatehouse.Revocation{{GrantID: "g1", Until: t0.Add(GrantRevocationHorizon)}})
	}},
	{"TokenDropsOutAtExpiry", func(t *testing.T, s Store) {
		exp := t0.Add(time.Hour)
		createToken(t, s, newToken("t1", "", exp))
		_, err := s.RevokeToken(t.Context(), "t1", t0)
		must(t, err)
		wantRevocations(t, s, exp.Add(-1), []gatehouse.Revocation{{TokenID: "t1", Until: exp}})
		wantRevocations(t, s, exp, nil)
	}},
	{"GrantDropsOutAtLatestExpiry", func(t *testing.T, s Store) {
		exp := t0.Add(GrantRevocationHorizon + time.Hour)
		createToken(t, s, newToken("t1", "g1", t0.Add(time.Hour)))
		createToken(t, s, newToken("t2", "g1", exp))
		_, err := s.RevokeGrant(t.Context(), "g1", t0)
		must(t, err)
		wantRevocations(t, s, exp.Add(-1), []gatehouse.Revocation{{GrantID: "g1", Until: exp}})
		wantRevocations(t, s, exp, nil)
	}},
	{"GrantDropsOutAtHorizon", func(t *testing.T, s Store) {
		until := t0.Add(GrantRevocationHorizon)
		createToken(t, s, newToken("t1", "g1", t0.Add(time.Hour)))
		_, err := s.RevokeGrant(t.Context(), "g1", t0)
		must(t, err)
		wantRevocations(t, s, until.Add(-1), []gatehouse.Revocation{{GrantID: "g1", Until: until}})
		wantRevocations(t, s, until, nil)
	}},
}

var deleteExpiredTokensTests = []test{
	{"DeletesBefore", func(t *testing.T, s Store) {
		for _, tok := range []*gatehouse.Token{
			newToken("old", "", t0.Add(-time.Hour)),
			newToken("just", "", t0.Add(-1)),
			revoked(newToken("revoked-old", "", t0.Add(-time.Hour)), t0.Add(-2*time.Hour)),
			newToken("at", "", t0),
			newToken("later", "", t0.Add(time.Hour)),
		} {
			createToken(t, s, tok)
		}
		n, err := s.DeleteExpiredTokens(t.Context(), t0)
		must(t, err)
		if n != 3 {
			t.Fatalf("DeleteExpiredTokens = %d, want 3", n)
		}
		for _, id := range []string{"old", "just", "revoked-old"} {
			_, err := s.FindTokenByID(t.Context(), id)
			wantCode(t, err, gatehouse.CodeNotFound)
		}
		wantToken(t, s, "at", newToken("at", "", t0))
		wantToken(t, s, "later", newToken("later", "", t0.Add(time.Hour)))
		n, err = s.DeleteExpiredTokens(t.Context(), t0)
		must(t, err)
		if n != 0 {
			t.Fatalf("second DeleteExpiredTokens = %d, want 0", n)
		}
	}},
	{"KeepsRotatedUntilExpiry", func(t *testing.T, s Store) {
		// A rotated refresh token is a tombstone: it must stay findable by
		// its hash until its own expiry, so that its reuse is recognised.
		f := issue(t, s, newGrant("g1", "u1", t0))
		rt, at := successors(f, "next", t0.Add(time.Minute))
		must(t, s.RotateRefreshToken(t.Context(), f.refresh.ID, t0.Add(time.Minute), rt, at))
		exp := f.refresh.ExpiresAt
		_, err := s.DeleteExpiredTokens(t.Context(), exp)
		must(t, err)
		got, err := s.FindTokenByHash(t.Context(), f.refresh.Hash)
		must(t, err)
		if d := diff(got, rotated(f.refresh, t0.Add(time.Minute), rt.ID)); d != "" {
			t.Fatalf("rotated token after DeleteExpiredTokens(its expiry) (-got +want):\n%s", d)
		}
		_, err = s.DeleteExpiredTokens(t.Context(), exp.Add(1))
		must(t, err)
		_, err = s.FindTokenByHash(t.Context(), f.refresh.Hash)
		wantCode(t, err, gatehouse.CodeNotFound)
		// Its successor, which expires later, stays.
		wantToken(t, s, rt.ID, rt)
	}},
	{"KeepsGrantRevocation", func(t *testing.T, s Store) {
		createToken(t, s, newToken("t1", "g1", t0.Add(time.Hour)))
		_, err := s.RevokeGrant(t.Context(), "g1", t0)
		must(t, err)
		now := t0.Add(2 * time.Hour)
		n, err := s.DeleteExpiredTokens(t.Context(), now)
		must(t, err)
		if n != 1 {
			t.Fatalf("DeleteExpiredTokens = %d, want 1", n)
		}
		wantRevocations(t, s, now, []gatehouse.Revocation{{GrantID: "g1", Until: t0.Add(GrantRevocationHorizon)}})
		wantCode(t, s.CreateToken(t.Context(), newToken("t2", "g1", now.Add(time.Hour))), gatehouse.CodeConflict)
	}},
}
