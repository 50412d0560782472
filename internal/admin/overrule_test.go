package admin_test

import (
	"testing"

	"github.com/gatehouse/gatehouse"
)

// TestDeveloperCannotUndoAdminDecisions: a developer cannot re-enable an
// app an administrator disabled, nor get back, through an auto-approval
// API, access an administrator suspended or revoked: the new subscription
// waits for an administrator. What the developer ended themselves they may
// start again at once.
func TestDeveloperCannotUndoAdminDecisions(t *testing.T) {
	f := newFixture(t)
	devA, _, appA, _ := f.seed()
	adm := f.adminToken()
	for _, api := range []string{"auto1", "auto2", "auto3"} {
		f.must(201, f.do("POST", "/admin/v1/apis", adm, `{"name":"`+api+`","audience":"https://`+api+`.test","scopes":["r"],"approval":"auto"}`))
		f.must(200, f.do("POST", "/admin/v1/apis/"+api+"/publish", adm, ``))
	}
	subscribe := func(api string) map[string]any {
		t.Helper()
		return f.must(201, f.do("POST", "/admin/v1/subscriptions", devA, `{"app_id":"`+appA+`","api":"`+api+`"}`))
	}

	t.Run("SuspendedThenRevokedByDeveloper", func(t *testing.T) {
		s := subscribe("auto1")
		if s["state"] != "approved" {
			t.Fatalf("auto approval: %v", s)
		}
		id := s["id"].(string)
		f.must(200, f.do("POST", "/admin/v1/subscriptions/"+id+"/suspend", adm, `{"reason":"abuse"}`))
		f.must(200, f.do("POST", "/admin/v1/subscriptions/"+id+"/revoke", devA, ``))
		if again := subscribe("auto1"); again["state"] != "pending" {
			t.Errorf("resubscribing after an administrator's suspension: %v", again)
		}
	})
	t.Run("RevokedByAdministrator", func(t *testing.T) {
		id := subscribe("auto2")["id"].(string)
		f.must(200, f.do("POST", "/admin/v1/subscriptions/"+id+"/revoke", adm, `{"reason":"no"}`))
		if again := subscribe("auto2"); again["state"] != "pending" {
			t.Errorf("resubscribing after an administrator's revocation: %v", again)
		}
	})
	t.Run("RevokedByDeveloper", func(t *testing.T) {
		id := subscribe("auto3")["id"].(string)
		f.must(200, f.do("POST", "/admin/v1/subscriptions/"+id+"/revoke", devA, ``))
		if again := subscribe("auto3"); again["state"] != "approved" {
			t.Errorf("resubscribing after the developer's own revocation: %v", again)
		}
	})
	t.Run("DisabledApp", func(t *testing.T) {
		f.must(200, f.do("PATCH", "/admin/v1/apps/"+appA, adm, `{"disabled":true}`, "If-Match", "*"))
		r := f.do("PATCH", "/admin/v1/apps/"+appA, devA, `{"disabled":false}`, "If-Match", "*")
		if r.status != 403 || r.json(t)["field"] != "disabled" {
			t.Errorf("a developer re-enabled the app: %d %s", r.status, r.body)
		}
		if got := f.must(200, f.do("GET", "/admin/v1/apps/"+appA, adm, ``)); got["disabled"] != true {
			t.Errorf("the app after the developer's try: %v", got)
		}
		f.must(200, f.do("PATCH", "/admin/v1/apps/"+appA, adm, `{"disabled":false}`, "If-Match", "*"))
		if r := f.do("PATCH", "/admin/v1/apps/"+appA, devA, `{"disabled":true}`, "If-Match", "*"); r.status != 403 {
			t.Errorf("a developer disabled the app: %d %s", r.status, r.body)
		}
		// Sending the value it has is no change.
		f.must(200, f.do("PATCH", "/admin/v1/apps/"+appA, devA, `{"name":"A app 2","disabled":false}`, "If-Match", "*"))
	})
}

// TestAdminCannotDisableOwner: only an owner disables, enables or moves an
// owner or admin account; an admin still manages developers.
func TestAdminCannotDisableOwner(t *testing.T) {
	f := newFixture(t)
	f.must(201, f.do("POST", "/admin/v1/teams", f.adminToken(), `{"name":"t1"}`))
	f.account("olga", gatehouse.RoleOwner, "")
	f.account("adam", gatehouse.RoleAdmin, "")
	f.account("ada", gatehouse.RoleAdmin, "")
	f.account("dev", gatehouse.RoleDeveloper, "t1")
	admin := f.token("u-adam", gatehouse.AdminAudience, gatehouse.AdminScope)
	owner := f.token("u-olga", gatehouse.AdminAudience, gatehouse.AdminScope)
	for _, tc := range []struct{ target, body string }{
		{"u-olga", `{"disabled":true}`},
		{"u-olga", `{"team":"t1"}`},
		{"u-ada", `{"disabled":true}`},
		{"u-ada", `{"team":"t1"}`},
	} {
		if r := f.do("PATCH", "/admin/v1/accounts/"+tc.target, admin, tc.body, "If-Match", "*"); r.status != 403 {
			t.Errorf("an admin changed %s with %s: %d %s", tc.target, tc.body, r.status, r.body)
		}
	}
	if u, _ := f.db.FindUserByID(t.Context(), "u-olga"); u.Disabled || u.Team != "" {
		t.Errorf("the owner after the admin's tries: %+v", u)
	}
	f.must(200, f.do("PATCH", "/admin/v1/accounts/u-dev", admin, `{"disabled":true}`, "If-Match", "*"))
	f.must(200, f.do("PATCH", "/admin/v1/accounts/u-ada", owner, `{"disabled":true}`, "If-Match", "*"))
	f.must(200, f.do("PATCH", "/admin/v1/accounts/u-ada", owner, `{"disabled":false}`, "If-Match", "*"))
}

// TestApproveWithEmptyScopes: an explicit empty scopes list is refused,
// not read as every scope asked for.
func TestApproveWithEmptyScopes(t *testing.T) {
	f := newFixture(t)
	devA, _, appA, _ := f.seed()
	adm := f.adminToken()
	id := f.must(201, f.do("POST", "/admin/v1/subscriptions", devA, `{"app_id":"`+appA+`","api":"orders"}`))["id"].(string)
	r := f.do("POST", "/admin/v1/subscriptions/"+id+"/approve", adm, `{"scopes":[]}`)
	if r.status != 422 || r.json(t)["field"] != "scopes" {
		t.Fatalf("approve with scopes []: %d %s", r.status, r.body)
	}
	if s := f.must(200, f.do("GET", "/admin/v1/subscriptions/"+id, adm, ``)); s["state"] != "pending" {
		t.Errorf("after the refused approval: %v", s)
	}
	s := f.must(200, f.do("POST", "/admin/v1/subscriptions/"+id+"/approve", adm, `{"scopes":["orders:read"]}`))
	if got := s["approved_scopes"].([]any); len(got) != 1 || got[0] != "orders:read" {
		t.Errorf("approved %v", got)
	}
}

// TestAPIKeyForHiddenAPI: to a developer a draft API does not exist, so
// an API key for it is refused exactly like one for an unknown name.
func TestAPIKeyForHiddenAPI(t *testing.T) {
	f := newFixture(t)
	devA, _, appA, _ := f.seed()
	f.must(201, f.do("POST", "/admin/v1/apis", f.adminToken(), `{"name":"secret-draft","audience":"https://draft.test","scopes":["r"]}`))
	hidden := f.do("POST", "/admin/v1/apps/"+appA+"/credentials", devA, `{"kind":"api_key","api":"secret-draft"}`)
	unknown := f.do("POST", "/admin/v1/apps/"+appA+"/credentials", devA, `{"kind":"api_key","api":"no-such-api"}`)
	if hidden.status != 422 || string(hidden.body) != string(unknown.body) {
		t.Errorf("a key for a hidden draft: %d %s; for an unknown name: %d %s", hidden.status, hidden.body, unknown.status, unknown.body)
	}
	creds, _ := f.db.FindCredentials(t.Context(), gatehouse.CredentialFilter{ClientID: appA})
	if len(creds) != 0 {
		t.Errorf("credentials stored: %d", len(creds))
	}
}
