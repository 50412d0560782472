package storetest

import (
	"testing"
	"time"

	"github.com/gatehouse/gatehouse"
)

// newAuthCode returns an unused code for grantID with every other field
// set, created at created and expiring a minute later.
func newAuthCode(name, grantID string, created time.Time) *gatehouse.AuthCode {
	return &gatehouse.AuthCode{
		Hash:          gatehouse.HashSecret("code-" + name),
		ClientID:      "client-1",
		Subject:       "user-1",
		RedirectURI:   "https://app.example/cb?x=1",
		CodeChallenge: "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
		Audience:      "https://orders.example",
		Scopes:        []string{"orders:read", "orders:write"},
		GrantID:       grantID,
		CreatedAt:     created,
		ExpiresAt:     created.Add(time.Minute),
	}
}

func createAuthCode(t *testing.T, s Store, c *gatehouse.AuthCode) {
	t.Helper()
	if err := s.CreateAuthCode(t.Context(), c); err != nil {
		t.Fatalf("CreateAuthCode(%x): %v", c.Hash, err)
	}
}

// wantAuthCode fails t unless the stored code with want's hash is want.
func wantAuthCode(t *testing.T, s Store, want *gatehouse.AuthCode) {
	t.Helper()
	got, err := s.FindAuthCode(t.Context(), want.Hash)
	if err != nil {
		t.Fatalf("FindAuthCode(%x): %v", want.Hash, err)
	}
	if d := diff(got, want); d != "" {
		t.Fatalf("FindAuthCode(%x) (-got +want):\n%s", want.Hash, d)
	}
}

func used(c *gatehouse.AuthCode, at time.Time) *gatehouse.AuthCode {
	u := *c
	u.UsedAt = at
	return &u
}

// wantNoToken fails t unless there is no token with each id.
func wantNoToken(t *testing.T, s Store, ids ...string) {
	t.Helper()
	for _, id := range ids {
		if _, err := s.FindTokenByID(t.Context(), id); gatehouse.ErrorCode(err) != gatehouse.CodeNotFound {
			t.Fatalf("FindTokenByID(%q): %v, want not found", id, err)
		}
	}
}

// wantNoGrant fails t unless there is no grant record with id.
func wantNoGrant(t *testing.T, s Store, id string) {
	t.Helper()
	if _, err := s.FindGrantByID(t.Context(), id); gatehouse.ErrorCode(err) != gatehouse.CodeNotFound {
		t.Fatalf("FindGrantByID(%q): %v, want not found", id, err)
	}
}

var createAuthCodeTests = []test{
	{"RoundTrip", func(t *testing.T, s Store) {
		want := newAuthCode("a", "g1", t0.In(time.FixedZone("X", -3600)))
		want.ExpiresAt = t0.Add(time.Minute + 1)
		createAuthCode(t, s, want)
		wantAuthCode(t, s, want)
	}},
	{"RoundTripUsed", func(t *testing.T, s Store) {
		want := used(newAuthCode("a", "g1", t0), t0.Add(3))
		createAuthCode(t, s, want)
		wantAuthCode(t, s, want)
	}},
	{"RoundTripDPoPBound", func(t *testing.T, s Store) {
		want := newAuthCode("a", "g1", t0)
		want.DPoPJKT = testJKT
		createAuthCode(t, s, want)
		wantAuthCode(t, s, want)
	}},
	{"ZeroFields", func(t *testing.T, s Store) {
		want := &gatehouse.AuthCode{Hash: []byte{1}, GrantID: "g1", ExpiresAt: t0}
		createAuthCode(t, s, want)
		wantAuthCode(t, s, want)
	}},
	{"ConflictHash", func(t *testing.T, s Store) {
		createAuthCode(t, s, newAuthCode("a", "g1", t0))
		dup := newAuthCode("a", "g2", t0.Add(time.Second))
		wantCode(t, s.CreateAuthCode(t.Context(), dup), gatehouse.CodeConflict)
		wantAuthCode(t, s, newAuthCode("a", "g1", t0))
	}},
	{"Invalid", func(t *testing.T, s Store) {
		for _, tc := range []struct {
			name   string
			change func(*gatehouse.AuthCode)
		}{
			{"NoHash", func(c *gatehouse.AuthCode) { c.Hash = nil }},
			// A reuse could not revoke what the first redemption issued.
			{"NoGrantID", func(c *gatehouse.AuthCode) { c.GrantID = "" }},
			{"NoExpiry", func(c *gatehouse.AuthCode) { c.ExpiresAt = time.Time{} }},
		} {
			t.Run(tc.name, func(t *testing.T) {
				c := newAuthCode("a", "g1", t0)
				tc.change(c)
				wantCode(t, s.CreateAuthCode(t.Context(), c), gatehouse.CodeInvalid)
				_, err := s.FindAuthCode(t.Context(), newAuthCode("a", "g1", t0).Hash)
				wantCode(t, err, gatehouse.CodeNotFound)
			})
		}
	}},
}

var findAuthCodeTests = []test{
	{"NotFound", func(t *testing.T, s Store) {
		createAuthCode(t, s, newAuthCode("a", "g1", t0))
		c, err := s.FindAuthCode(t.Context(), newAuthCode("b", "g1", t0).Hash)
		wantCode(t, err, gatehouse.CodeNotFound)
		if c != nil {
			t.Fatalf("code = %+v with an error, want nil", c)
		}
	}},
}

// redemption is a code and what redeeming it should store.
type redemption struct {
	code *gatehouse.AuthCode
	family
}

// newRedemption returns a code for grant "g1" of user-1, created at t0, and
// the grant and tokens of a redemption at t0 (prefix names the tokens).
func newRedemption(prefix string) redemption {
	g := newGrant("g1", "user-1", t0)
	f := newFamily(g)
	f.access.ID, f.access.Hash = prefix+"-at", gatehouse.HashSecret(prefix+"-at")
	f.refresh.ID, f.refresh.Hash = prefix+"-rt", gatehouse.HashSecret(prefix+"-rt")
	return redemption{code: newAuthCode("a", "g1", t0), family: f}
}

func (r redemption) redeem(t *testing.T, s Store, now time.Time) error {
	t.Helper()
	return s.RedeemAuthCode(t.Context(), r.code.Hash, now, r.grant, []*gatehouse.Token{r.access, r.refresh})
}

// wantNothingWritten fails t unless r's code is unused and neither r's grant
// nor its tokens exist.
func (r redemption) wantNothingWritten(t *testing.T, s Store) {
	t.Helper()
	wantAuthCode(t, s, r.code)
	wantNoGrant(t, s, r.grant.ID)
	wantNoToken(t, s, r.access.ID, r.refresh.ID)
}

var redeemAuthCodeTests = []test{
	{"BoundTokens", func(t *testing.T, s Store) {
		r := newRedemption("bound")
		r.code.DPoPJKT = testJKT
		r.access.Cnf = gatehouse.Confirmation{JKT: testJKT}
		r.refresh.Cnf = gatehouse.Confirmation{JKT: testJKT}
		createAuthCode(t, s, r.code)
		must(t, r.redeem(t, s, t0.Add(time.Second)))
		wantToken(t, s, r.access.ID, r.access)
		wantToken(t, s, r.refresh.ID, r.refresh)
	}},
	{"Success", func(t *testing.T, s Store) {
		r := newRedemption("first")
		createAuthCode(t, s, r.code)
		now := t0.Add(time.Second + 1)
		must(t, r.redeem(t, s, now))
		wantAuthCode(t, s, used(r.code, now))
		wantGrant(t, s, r.grant)
		wantToken(t, s, r.access.ID, r.access)
		wantToken(t, s, r.refresh.ID, r.refresh)
		wantGrants(t, s, "user-1", []*gatehouse.Grant{r.grant})
		wantRevocations(t, s, now, nil)
	}},
	{"UntilExpiry", func(t *testing.T, s Store) {
		// Expired when now reaches ExpiresAt, like a token.
		r := newRedemption("first")
		createAuthCode(t, s, r.code)
		wantCode(t, r.redeem(t, s, r.code.ExpiresAt), gatehouse.CodeInvalid)
		must(t, r.redeem(t, s, r.code.ExpiresAt.Add(-1)))
	}},
	{"ReuseRevokesFirstRedemption", func(t *testing.T, s Store) {
		r := newRedemption("first")
		createAuthCode(t, s, r.code)
		must(t, r.redeem(t, s, t0))
		again := newRedemption("second")
		reuse := t0.Add(10 * time.Second)
		wantCode(t, again.redeem(t, s, reuse), gatehouse.CodeConflict)
		// The revocation committed although the call failed.
		wantToken(t, s, r.access.ID, revoked(r.access, reuse))
		wantToken(t, s, r.refresh.ID, revoked(r.refresh, reuse))
		wantGrant(t, s, revokedGrant(r.grant, reuse))
		wantGrants(t, s, "user-1", nil)
		wantRevocations(t, s, reuse, []gatehouse.Revocation{{GrantID: "g1", Until: reuse.Add(GrantRevocationHorizon)}})
		// Nothing else was written: the code keeps its first use, and the
		// second call's tokens do not exist.
		wantAuthCode(t, s, used(r.code, t0))
		wantNoToken(t, s, again.access.ID, again.refresh.ID)
		// A third try conflicts too and keeps the first revocation time.
		wantCode(t, again.redeem(t, s, reuse.Add(time.Second)), gatehouse.CodeConflict)
		wantGrant(t, s, revokedGrant(r.grant, reuse))
		// And the family cannot grow afterwards.
		rt := grantToken("late", gatehouse.KindRefresh, r.grant, reuse.Add(time.Hour))
		wantCode(t, s.CreateToken(t.Context(), rt), gatehouse.CodeConflict)
	}},
	{"ReuseAfterExpiry", func(t *testing.T, s Store) {
		// A used code is still recognised once expired, until deleted.
		r := newRedemption("first")
		createAuthCode(t, s, r.code)
		must(t, r.redeem(t, s, t0))
		late := r.code.ExpiresAt.Add(time.Hour)
		wantCode(t, newRedemption("second").redeem(t, s, late), gatehouse.CodeConflict)
		wantToken(t, s, r.refresh.ID, revoked(r.refresh, late))
	}},
	{"Expired", func(t *testing.T, s Store) {
		r := newRedemption("first")
		createAuthCode(t, s, r.code)
		wantCode(t, r.redeem(t, s, r.code.ExpiresAt.Add(time.Second)), gatehouse.CodeInvalid)
		r.wantNothingWritten(t, s)
		wantRevocations(t, s, t0, nil)
	}},
	{"Unknown", func(t *testing.T, s Store) {
		r := newRedemption("first")
		createAuthCode(t, s, newAuthCode("other", "g2", t0))
		wantCode(t, r.redeem(t, s, t0), gatehouse.CodeNotFound)
		wantNoGrant(t, s, "g1")
		wantNoToken(t, s, r.access.ID, r.refresh.ID)
		wantAuthCode(t, s, newAuthCode("other", "g2", t0))
	}},
	{"GrantNotTheCodes", func(t *testing.T, s Store) {
		// Otherwise a reuse would revoke another grant than the one issued.
		r := newRedemption("first")
		createAuthCode(t, s, r.code)
		other := newRedemption("other")
		other.grant = newGrant("g2", "user-1", t0)
		other.access.GrantID, other.refresh.GrantID = "g2", "g2"
		wantCode(t, other.redeem(t, s, t0), gatehouse.CodeInvalid)
		wantNoGrant(t, s, "g2")
		wantNoToken(t, s, other.access.ID, other.refresh.ID)
		r.wantNothingWritten(t, s)
		must(t, r.redeem(t, s, t0))
	}},
	{"InvalidInput", func(t *testing.T, s Store) {
		for _, tc := range []struct {
			name   string
			change func(*redemption)
		}{
			{"TokenOfOtherGrant", func(r *redemption) { r.access.GrantID = "g2" }},
			{"TokenWithoutGrant", func(r *redemption) { r.refresh.GrantID = "" }},
			{"TokenWithoutHash", func(r *redemption) { r.refresh.Hash = nil }},
			{"TokenWithoutExpiry", func(r *redemption) { r.access.ExpiresAt = time.Time{} }},
			{"GrantWithoutID", func(r *redemption) { r.grant.ID = "" }},
			{"RevokedGrant", func(r *redemption) { r.grant.RevokedAt = t0 }},
		} {
			t.Run(tc.name, func(t *testing.T) {
				r := newRedemption("first")
				r.code = newAuthCode(tc.name, "g1", t0)
				createAuthCode(t, s, r.code)
				bad := newRedemption("first")
				bad.code = r.code
				tc.change(&bad)
				wantCode(t, bad.redeem(t, s, t0), gatehouse.CodeInvalid)
				r.wantNothingWritten(t, s)
			})
		}
	}},
	{"NilGrant", func(t *testing.T, s Store) {
		r := newRedemption("first")
		createAuthCode(t, s, r.code)
		wantCode(t, s.RedeemAuthCode(t.Context(), r.code.Hash, t0, nil, nil), gatehouse.CodeInvalid)
		r.wantNothingWritten(t, s)
	}},
	{"TokenKeyTaken", func(t *testing.T, s Store) {
		// Not a conflict, which would read as reuse; nothing written.
		r := newRedemption("first")
		createAuthCode(t, s, r.code)
		taken := newToken(r.refresh.ID, "", t0.Add(time.Hour))
		createToken(t, s, taken)
		err := r.redeem(t, s, t0)
		if code := gatehouse.ErrorCode(err); code == "" || code == gatehouse.CodeConflict {
			t.Fatalf("RedeemAuthCode with a taken token id: %v (code %q), want an error other than a conflict", err, code)
		}
		wantAuthCode(t, s, r.code)
		wantNoGrant(t, s, "g1")
		wantNoToken(t, s, r.access.ID)
		wantToken(t, s, taken.ID, taken)
	}},
	{"GrantRevokedBeforeRedemption", func(t *testing.T, s Store) {
		r := newRedemption("first")
		createAuthCode(t, s, r.code)
		_, err := s.RevokeGrant(t.Context(), "g1", t0)
		must(t, err)
		wantCode(t, r.redeem(t, s, t0), gatehouse.CodeInvalid)
		r.wantNothingWritten(t, s)
	}},
	{"NoTokens", func(t *testing.T, s Store) {
		r := newRedemption("first")
		createAuthCode(t, s, r.code)
		must(t, s.RedeemAuthCode(t.Context(), r.code.Hash, t0, r.grant, nil))
		wantGrant(t, s, r.grant)
		wantAuthCode(t, s, used(r.code, t0))
	}},
}

var deleteExpiredAuthCodesTests = []test{
	{"DeletesBefore", func(t *testing.T, s Store) {
		expiring := func(name string, exp time.Time) *gatehouse.AuthCode {
			return newAuthCode(name, "g-"+name, exp.Add(-time.Minute))
		}
		old, just := expiring("old", t0.Add(-time.Hour)), used(expiring("just", t0.Add(-1)), t0.Add(-time.Minute))
		at, later := expiring("at", t0), used(expiring("later", t0.Add(time.Hour)), t0)
		for _, c := range []*gatehouse.AuthCode{old, just, at, later} {
			createAuthCode(t, s, c)
		}
		n, err := s.DeleteExpiredAuthCodes(t.Context(), t0)
		must(t, err)
		if n != 2 {
			t.Fatalf("DeleteExpiredAuthCodes = %d, want 2", n)
		}
		for _, c := range []*gatehouse.AuthCode{old, just} {
			_, err := s.FindAuthCode(t.Context(), c.Hash)
			wantCode(t, err, gatehouse.CodeNotFound)
		}
		wantAuthCode(t, s, at)
		wantAuthCode(t, s, later)
		n, err = s.DeleteExpiredAuthCodes(t.Context(), t0)
		must(t, err)
		if n != 0 {
			t.Fatalf("second DeleteExpiredAuthCodes = %d, want 0", n)
		}
	}},
}
