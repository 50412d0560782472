package storetest

import (
	"testing"
	"time"

	"github.com/gatehouse/gatehouse"
)

// successors returns the refresh and access token a rotation at now in f's
// grant issues, named prefix+"-rt" and prefix+"-at".
func successors(f family, prefix string, now time.Time) (refresh, access *gatehouse.Token) {
	refresh = grantToken(prefix+"-rt", gatehouse.KindRefresh, f.grant, now.Add(2*time.Hour))
	access = grantToken(prefix+"-at", gatehouse.KindAccess, f.grant, now.Add(15*time.Minute))
	refresh.IssuedAt, access.IssuedAt = now, now
	return refresh, access
}

// rotated returns a copy of tok rotated at at to successor.
func rotated(tok *gatehouse.Token, at time.Time, successor string) *gatehouse.Token {
	c := *tok
	c.RotatedAt, c.SuccessorID = at, successor
	return &c
}

// refusedRotationOf fails t unless rotating f's refresh token at now fails
// with code and writes nothing.
func refusedRotationOf(t *testing.T, s Store, f family, now time.Time, code string) {
	t.Helper()
	before, err := s.FindTokenByID(t.Context(), f.refresh.ID)
	if err != nil {
		t.Fatal(err)
	}
	rt, at := successors(f, "refused", now)
	wantCode(t, s.RotateRefreshToken(t.Context(), f.refresh.ID, now, rt, at), code)
	wantToken(t, s, f.refresh.ID, before)
	wantNoToken(t, s, rt.ID, at.ID)
}

var rotateRefreshTokenTests = []test{
	{"Success", func(t *testing.T, s Store) {
		f := issue(t, s, newGrant("g1", "u1", t0))
		now := t0.Add(time.Minute + 1)
		rt, at := successors(f, "next", now)
		must(t, s.RotateRefreshToken(t.Context(), f.refresh.ID, now, rt, at))
		old := rotated(f.refresh, now, rt.ID)
		wantToken(t, s, f.refresh.ID, old)
		wantToken(t, s, rt.ID, rt)
		wantToken(t, s, at.ID, at)
		// The old token stays as a tombstone, found by its hash, inactive.
		got, err := s.FindTokenByHash(t.Context(), f.refresh.Hash)
		must(t, err)
		if d := diff(got, old); d != "" {
			t.Fatalf("FindTokenByHash of the rotated token (-got +want):\n%s", d)
		}
		if got.Active(now) {
			t.Fatal("rotated token is active")
		}
		// Rotation is not revocation.
		wantRevocations(t, s, now, nil)
	}},
	{"BoundSuccessors", func(t *testing.T, s Store) {
		// A DPoP-bound public client's successor refresh token stays bound;
		// the access token carries its own binding.
		f := issue(t, s, newGrant("g1", "u1", t0))
		now := t0.Add(time.Minute)
		rt, at := successors(f, "next", now)
		rt.Cnf = gatehouse.Confirmation{JKT: testJKT}
		at.Cnf = gatehouse.Confirmation{JKT: testJKT, X5TS256: testX5T}
		must(t, s.RotateRefreshToken(t.Context(), f.refresh.ID, now, rt, at))
		wantToken(t, s, rt.ID, rt)
		wantToken(t, s, at.ID, at)
	}},
	{"Chain", func(t *testing.T, s Store) {
		f := issue(t, s, newGrant("g1", "u1", t0))
		rt1, at1 := successors(f, "one", t0.Add(time.Minute))
		must(t, s.RotateRefreshToken(t.Context(), f.refresh.ID, t0.Add(time.Minute), rt1, at1))
		rt2, at2 := successors(f, "two", t0.Add(2*time.Minute))
		must(t, s.RotateRefreshToken(t.Context(), rt1.ID, t0.Add(2*time.Minute), rt2, at2))
		wantToken(t, s, rt1.ID, rotated(rt1, t0.Add(2*time.Minute), rt2.ID))
		wantToken(t, s, rt2.ID, rt2)
		// Revoking the grant reaches the whole chain.
		n, err := s.RevokeGrant(t.Context(), "g1", t0.Add(time.Hour))
		must(t, err)
		if n != 6 {
			t.Fatalf("RevokeGrant = %d, want 6 (every token of the chain)", n)
		}
	}},
	{"SecondRotationConflicts", func(t *testing.T, s Store) {
		f := issue(t, s, newGrant("g1", "u1", t0))
		rt, at := successors(f, "first", t0.Add(time.Minute))
		must(t, s.RotateRefreshToken(t.Context(), f.refresh.ID, t0.Add(time.Minute), rt, at))
		refusedRotationOf(t, s, f, t0.Add(2*time.Minute), gatehouse.CodeConflict)
		// The first successor stays the successor, and it is not revoked:
		// revoking the family on reuse is the caller's decision.
		wantToken(t, s, f.refresh.ID, rotated(f.refresh, t0.Add(time.Minute), rt.ID))
		wantToken(t, s, rt.ID, rt)
	}},
	{"RevokedToken", func(t *testing.T, s Store) {
		f := issue(t, s, newGrant("g1", "u1", t0))
		_, err := s.RevokeToken(t.Context(), f.refresh.ID, t0)
		must(t, err)
		refusedRotationOf(t, s, f, t0.Add(time.Minute), gatehouse.CodeConflict)
	}},
	{"RevokedGrant", func(t *testing.T, s Store) {
		f := issue(t, s, newGrant("g1", "u1", t0))
		_, err := s.RevokeGrant(t.Context(), "g1", t0)
		must(t, err)
		refusedRotationOf(t, s, f, t0.Add(time.Minute), gatehouse.CodeConflict)
	}},
	{"RevokedBySubject", func(t *testing.T, s Store) {
		f := issue(t, s, newGrant("g1", "u1", t0))
		_, err := s.RevokeGrantsBySubject(t.Context(), "u1", t0)
		must(t, err)
		refusedRotationOf(t, s, f, t0.Add(time.Minute), gatehouse.CodeConflict)
	}},
	{"Expired", func(t *testing.T, s Store) {
		// Expired when now reaches ExpiresAt.
		f := issue(t, s, newGrant("g1", "u1", t0))
		refusedRotationOf(t, s, f, f.refresh.ExpiresAt, gatehouse.CodeConflict)
		rt, at := successors(f, "next", f.refresh.ExpiresAt.Add(-1))
		must(t, s.RotateRefreshToken(t.Context(), f.refresh.ID, f.refresh.ExpiresAt.Add(-1), rt, at))
	}},
	{"NotFound", func(t *testing.T, s Store) {
		f := issue(t, s, newGrant("g1", "u1", t0))
		rt, at := successors(f, "next", t0)
		wantCode(t, s.RotateRefreshToken(t.Context(), "nope", t0, rt, at), gatehouse.CodeNotFound)
		wantNoToken(t, s, rt.ID, at.ID)
	}},
	{"NotARefreshToken", func(t *testing.T, s Store) {
		// An access token is no refresh token: not found, not reuse.
		f := issue(t, s, newGrant("g1", "u1", t0))
		rt, at := successors(f, "next", t0)
		wantCode(t, s.RotateRefreshToken(t.Context(), f.access.ID, t0, rt, at), gatehouse.CodeNotFound)
		wantToken(t, s, f.access.ID, f.access)
		wantNoToken(t, s, rt.ID, at.ID)
	}},
	{"NoGrant", func(t *testing.T, s Store) {
		old := newToken("old", "", t0.Add(time.Hour))
		createToken(t, s, old)
		rt, at := newToken("rt", "", t0.Add(2*time.Hour)), newToken("at", "", t0.Add(time.Hour))
		at.Kind = gatehouse.KindAccess
		must(t, s.RotateRefreshToken(t.Context(), "old", t0, rt, at))
		wantToken(t, s, "old", rotated(old, t0, "rt"))
		wantToken(t, s, "rt", rt)
		wantToken(t, s, "at", at)
	}},
	{"InvalidInput", func(t *testing.T, s Store) {
		f := issue(t, s, newGrant("g1", "u1", t0))
		for _, tc := range []struct {
			name   string
			change func(rt, at *gatehouse.Token) (*gatehouse.Token, *gatehouse.Token)
		}{
			// Revoking the family would miss it.
			{"SuccessorOfOtherGrant", func(rt, at *gatehouse.Token) (*gatehouse.Token, *gatehouse.Token) {
				rt.GrantID = "g2"
				return rt, at
			}},
			{"AccessWithoutGrant", func(rt, at *gatehouse.Token) (*gatehouse.Token, *gatehouse.Token) {
				at.GrantID = ""
				return rt, at
			}},
			{"SuccessorWithoutHash", func(rt, at *gatehouse.Token) (*gatehouse.Token, *gatehouse.Token) {
				rt.Hash = nil
				return rt, at
			}},
			{"AccessWithoutExpiry", func(rt, at *gatehouse.Token) (*gatehouse.Token, *gatehouse.Token) {
				at.ExpiresAt = time.Time{}
				return rt, at
			}},
			{"NoSuccessor", func(_, at *gatehouse.Token) (*gatehouse.Token, *gatehouse.Token) { return nil, at }},
			{"NoAccess", func(rt, _ *gatehouse.Token) (*gatehouse.Token, *gatehouse.Token) { return rt, nil }},
		} {
			t.Run(tc.name, func(t *testing.T) {
				rt, at := tc.change(successors(f, "next", t0))
				wantCode(t, s.RotateRefreshToken(t.Context(), f.refresh.ID, t0, rt, at), gatehouse.CodeInvalid)
				wantToken(t, s, f.refresh.ID, f.refresh)
				wantNoToken(t, s, "next-rt", "next-at")
			})
		}
		// None of that used the token up.
		rt, at := successors(f, "next", t0)
		must(t, s.RotateRefreshToken(t.Context(), f.refresh.ID, t0, rt, at))
	}},
	{"SuccessorKeyTaken", func(t *testing.T, s Store) {
		// Not a conflict, which would read as reuse; nothing written.
		f := issue(t, s, newGrant("g1", "u1", t0))
		rt, at := successors(f, "next", t0)
		at.ID = f.access.ID
		err := s.RotateRefreshToken(t.Context(), f.refresh.ID, t0, rt, at)
		if code := gatehouse.ErrorCode(err); code == "" || code == gatehouse.CodeConflict {
			t.Fatalf("RotateRefreshToken with a taken token id: %v (code %q), want an error other than a conflict", err, code)
		}
		wantToken(t, s, f.refresh.ID, f.refresh)
		wantToken(t, s, f.access.ID, f.access)
		wantNoToken(t, s, rt.ID)
	}},
}
