package storetest

import (
	"net/netip"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// GrantRevocationHorizon is the least time FindRevocations keeps returning a
// revoked grant after its revocation, whatever the expiry of its stored
// tokens. It covers grants whose tokens were never stored (or were already
// deleted) as long as no token lives longer than this.
const GrantRevocationHorizon = 24 * time.Hour

// Run runs the conformance suite. open must return a new, empty store for
// each call, and arrange its own cleanup with t.Cleanup.
//
// Times must round-trip exactly, to the nanosecond; nil and empty slices are
// treated as equal.
func Run(t *testing.T, open func(t *testing.T) Store) {
	groups := []struct {
		name  string
		tests []test
	}{
		{"CreateClient", createClientTests},
		{"FindClientByID", findClientByIDTests},
		{"FindClients", findClientsTests},
		{"UpdateClient", updateClientTests},
		{"DeleteClient", deleteClientTests},
		{"CreateToken", createTokenTests},
		{"FindTokenByHash", findTokenByHashTests},
		{"FindTokenByID", findTokenByIDTests},
		{"RevokeToken", revokeTokenTests},
		{"RevokeGrant", revokeGrantTests},
		{"FindRevocations", findRevocationsTests},
		{"DeleteExpiredTokens", deleteExpiredTokensTests},
		{"FindTokens", findTokensTests},
		{"RotateClientSecret", rotateClientSecretTests},
		{"CreateKey", createKeyTests},
		{"FindKeys", findKeysTests},
		{"RotateKeys", rotateKeysTests},
		{"DeleteRemovedKeys", deleteRemovedKeysTests},
		{"UseAssertionID", useAssertionIDTests},
		{"CreateUser", createUserTests},
		{"FindUser", findUserTests},
		{"UpdateUser", updateUserTests},
		{"FindUsers", findUsersTests},
		{"SaveConsent", saveConsentTests},
		{"FindConsent", findConsentTests},
		{"FindConsents", findConsentsTests},
		{"DeleteConsent", deleteConsentTests},
		{"CreateAuthCode", createAuthCodeTests},
		{"FindAuthCode", findAuthCodeTests},
		{"RedeemAuthCode", redeemAuthCodeTests},
		{"DeleteExpiredAuthCodes", deleteExpiredAuthCodesTests},
		{"FindGrantByID", findGrantByIDTests},
		{"FindGrants", findGrantsTests},
		{"RevokeGrantRecord", revokeGrantRecordTests},
		{"RevokeGrantsBySubject", revokeGrantsBySubjectTests},
		{"RotateRefreshToken", rotateRefreshTokenTests},
		{"RecordEvent", recordEventTests},
		{"FindEvents", findEventsTests},
		{"AppendAudit", appendAuditTests},
		{"AppendAuditEvents", appendAuditEventsTests},
		{"FindAuditEntries", findAuditEntriesTests},
		{"AuditCheckpoints", auditCheckpointTests},
		{"RecordUsage", recordUsageTests},
		{"FindUsage", findUsageTests},
		{"ListUsage", listUsageTests},
		{"DeleteUsage", deleteUsageTests},
		{"FindIdleCredentials", findIdleCredentialsTests},
		{"RevokeClientSecret", revokeClientSecretTests},
		{"InsertCalls", insertCallsTests},
		{"FindCalls", findCallsTests},
		{"PruneCalls", pruneCallsTests},
		{"Concurrent", concurrentTests},
		{"Teams", teamTests},
		{"Accounts", accountTests},
		{"APIs", apiTests},
		{"Apps", appTests},
		{"Subscriptions", subscriptionTests},
		{"Credentials", credentialTests},
		{"Cutoffs", cutoffTests},
	}
	for _, g := range groups {
		t.Run(g.name, func(t *testing.T) {
			for _, tc := range g.tests {
				t.Run(tc.name, func(t *testing.T) {
					tc.run(t, open(t))
				})
			}
		})
	}
}

// test is one case of the suite; it gets a new, empty store.
type test struct {
	name string
	run  func(t *testing.T, s Store)
}

// t0 is the suite's "now". Its nanoseconds check that times are not
// truncated.
var t0 = time.Date(2031, 3, 4, 5, 6, 7, 123456789, time.UTC)

// opts compares domain values: time.Time by instant (cmp uses Equal) and
// nil slices equal to empty ones. The revisions of clients and users are
// checked by the governance tests (governance.go), not by the older tests
// that build their expectations from scratch.
var opts = cmp.Options{cmpopts.EquateEmpty(),
	cmpopts.IgnoreFields(gatehouse.Client{}, "Revision"), cmpopts.IgnoreFields(gatehouse.User{}, "Revision")}

// exact compares governance objects, revisions included.
var exact = cmp.Options{cmpopts.EquateEmpty(), cmp.Comparer(func(a, b netip.Prefix) bool { return a == b })}

// diff returns the differences between got and want, or "".
func diff(got, want any, extra ...cmp.Option) string {
	return cmp.Diff(got, want, append(cmp.Options{opts}, extra...))
}

// wantCode fails t unless err carries code ("" for a nil error).
func wantCode(t *testing.T, err error, code string) {
	t.Helper()
	if got := gatehouse.ErrorCode(err); got != code {
		t.Fatalf("error %v: code %q, want %q", err, got, code)
	}
}

// must fails t if err is not nil.
func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
