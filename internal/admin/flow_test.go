package admin_test

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse"
)

func strs(v any) []string {
	var out []string
	for _, x := range v.([]any) {
		out = append(out, x.(string))
	}
	return out
}

// TestSubscriptionTransitions walks the state machine through the API,
// including the refused moves, which are 409 invalid-transition problems
// naming the state, and leave the subscription as it was.
func TestSubscriptionTransitions(t *testing.T) {
	f := newFixture(t)
	devA, _, appA, _ := f.seed()
	adm := f.adminToken()
	s := f.must(201, f.do("POST", "/admin/v1/subscriptions", devA, `{"app_id":"`+appA+`","api":"orders","scopes":["orders:read","orders:write"]}`))
	id := s["id"].(string)
	if s["state"] != "pending" || len(s["approved_scopes"].([]any)) != 0 {
		t.Fatalf("manual API: new subscription %v, want pending with nothing approved", s)
	}
	if r := f.do("POST", "/admin/v1/subscriptions", devA, `{"app_id":"`+appA+`","api":"orders"}`); r.status != 409 {
		t.Errorf("second open subscription: %d %s", r.status, r.body)
	}
	if r := f.do("POST", "/admin/v1/subscriptions/"+id+"/approve", devA, ``); r.status != 403 {
		t.Errorf("a developer approved: %d", r.status)
	}
	if r := f.do("POST", "/admin/v1/subscriptions/"+id+"/approve", adm, `{"scopes":["orders:admin"]}`); r.status != 422 || r.json(t)["field"] != "scopes" {
		t.Errorf("approve with a scope not asked: %d %s", r.status, r.body)
	}
	if r := f.do("POST", "/admin/v1/subscriptions/"+id+"/suspend", adm, ``); r.status != 409 || !strings.Contains(string(r.body), "invalid-transition") {
		t.Errorf("suspend a pending subscription: %d %s", r.status, r.body)
	}
	if r := f.do("POST", "/admin/v1/subscriptions/"+id+"/approve", adm, `{"scopes":["orders:read"]}`, "If-Match", `"99"`); r.status != 412 {
		t.Errorf("approve with a stale If-Match: %d", r.status)
	}
	s = f.must(200, f.do("POST", "/admin/v1/subscriptions/"+id+"/approve", adm, `{"scopes":["orders:read"],"reason":"read first"}`))
	if s["state"] != "approved" || !slices.Equal(strs(s["approved_scopes"]), []string{"orders:read"}) || !slices.Equal(strs(s["scopes"]), []string{"orders:read", "orders:write"}) {
		t.Errorf("approved with fewer scopes: %v", s)
	}
	for _, tc := range []struct{ action, body, from string }{
		{"approve", ``, "approved"}, {"reject", `{"reason":"no"}`, "approved"}, {"resume", ``, "approved"},
	} {
		r := f.do("POST", "/admin/v1/subscriptions/"+id+"/"+tc.action, adm, tc.body)
		if r.status != 409 || r.json(t)["type"] != "urn:gatehouse:problem:invalid-transition" || !strings.Contains(string(r.body), tc.from) {
			t.Errorf("%s while %s: %d %s", tc.action, tc.from, r.status, r.body)
		}
	}
	changes := f.changes.Load()
	f.must(200, f.do("POST", "/admin/v1/subscriptions/"+id+"/suspend", adm, `{"reason":"abuse"}`))
	if f.changes.Load() == changes {
		t.Error("suspension did not tell the node")
	}
	s = f.must(200, f.do("POST", "/admin/v1/subscriptions/"+id+"/resume", adm, ``))
	if s["state"] != "approved" || !slices.Equal(strs(s["approved_scopes"]), []string{"orders:read"}) {
		t.Errorf("resumed: %v", s)
	}
	s = f.must(200, f.do("POST", "/admin/v1/subscriptions/"+id+"/revoke", devA, `{"reason":"app retired"}`))
	if s["state"] != "revoked" {
		t.Errorf("revoked: %v", s)
	}
	for _, a := range []string{"approve", "resume", "suspend", "revoke"} {
		if r := f.do("POST", "/admin/v1/subscriptions/"+id+"/"+a, adm, `{"reason":"x"}`); r.status != 409 || !strings.Contains(string(r.body), "final") {
			t.Errorf("%s a revoked subscription: %d %s", a, r.status, r.body)
		}
	}
	h := f.must(200, f.do("GET", "/admin/v1/subscriptions/"+id+"/history", devA, ``))
	var steps []string
	for _, it := range h["items"].([]any) {
		m := it.(map[string]any)
		steps = append(steps, m["from"].(string)+">"+m["to"].(string))
	}
	if want := []string{">pending", "pending>approved", "approved>suspended", "suspended>approved", "approved>revoked"}; !slices.Equal(steps, want) {
		t.Errorf("history %v, want %v", steps, want)
	}

	// A rejected subscription is final: approving it is refused.
	s = f.must(201, f.do("POST", "/admin/v1/subscriptions", devA, `{"app_id":"`+appA+`","api":"orders"}`))
	id2 := s["id"].(string)
	if r := f.do("POST", "/admin/v1/subscriptions/"+id2+"/reject", adm, `{}`); r.status != 422 || r.json(t)["field"] != "reason" {
		t.Errorf("reject without a reason: %d %s", r.status, r.body)
	}
	f.must(200, f.do("POST", "/admin/v1/subscriptions/"+id2+"/reject", adm, `{"reason":"use the sandbox"}`))
	r := f.do("POST", "/admin/v1/subscriptions/"+id2+"/approve", adm, ``)
	if r.status != 409 || !strings.Contains(r.json(t)["detail"].(string), "rejected") {
		t.Errorf("approve a rejected subscription: %d %s", r.status, r.body)
	}
	if got := f.must(200, f.do("GET", "/admin/v1/subscriptions/"+id2, devA, ``)); got["state"] != "rejected" || got["reason"] != "use the sandbox" {
		t.Errorf("after refused approve: %v", got)
	}
	// Filters.
	l := f.must(200, f.do("GET", "/admin/v1/subscriptions?state=rejected", adm, ``))
	if items := l["items"].([]any); len(items) != 1 || items[0].(map[string]any)["id"] != id2 {
		t.Errorf("state filter: %v", items)
	}
}

// TestAPILifecycle: draft -> published -> deprecated -> retired through
// the actions, the refused moves, and what developers see.
func TestAPILifecycle(t *testing.T) {
	f := newFixture(t)
	adm := f.adminToken()
	f.must(201, f.do("POST", "/admin/v1/teams", adm, `{"name":"t"}`))
	f.account("dev", gatehouse.RoleDeveloper, "t")
	dev := f.token("u-dev", gatehouse.AdminAudience, gatehouse.DeveloperScope)
	a := f.must(201, f.do("POST", "/admin/v1/apis", adm, `{"name":"pay-v1","family":"pay","version":"v1","audience":"https://pay.test","scopes":["pay"]}`))
	if a["lifecycle"] != "draft" || a["family"] != "pay" {
		t.Fatalf("created %v", a)
	}
	if r := f.do("GET", "/admin/v1/apis/pay-v1", dev, ``); r.status != 404 {
		t.Errorf("a developer sees a draft: %d", r.status)
	}
	if r := f.do("POST", "/admin/v1/apis/pay-v1/retire", adm, ``); r.status != 409 || !strings.Contains(string(r.body), "delete it instead") {
		t.Errorf("retire a draft: %d %s", r.status, r.body)
	}
	f.must(200, f.do("POST", "/admin/v1/apis/pay-v1/publish", adm, `{"reason":"launch"}`))
	f.must(200, f.do("GET", "/admin/v1/apis/pay-v1", dev, ``))
	if r := f.do("POST", "/admin/v1/apis/pay-v1/retire", adm, ``); r.status != 409 || !strings.Contains(string(r.body), "deprecate it first") {
		t.Errorf("retire a published API: %d %s", r.status, r.body)
	}
	if r := f.do("POST", "/admin/v1/apis/pay-v1/deprecate", adm, ``); r.status != 422 || r.json(t)["field"] != "sunset_at" {
		t.Errorf("deprecate without sunset: %d %s", r.status, r.body)
	}
	if r := f.do("POST", "/admin/v1/apis/pay-v1/publish", adm, `{"sunset_at":"2030-01-01T00:00:00Z"}`); r.status != 422 {
		t.Errorf("publish with a sunset: %d %s", r.status, r.body)
	}
	sunset := time.Unix(0, f.now.Load()).Add(90 * 24 * time.Hour).UTC().Format(time.RFC3339)
	a = f.must(200, f.do("POST", "/admin/v1/apis/pay-v1/deprecate", adm, `{"sunset_at":"`+sunset+`","reason":"v2"}`))
	if a["lifecycle"] != "deprecated" || a["sunset_at"] != sunset {
		t.Errorf("deprecated: %v", a)
	}
	f.account("d2", gatehouse.RoleDeveloper, "t")
	app := f.must(201, f.do("POST", "/admin/v1/apps", dev, `{"name":"x"}`))["id"].(string)
	if r := f.do("POST", "/admin/v1/subscriptions", dev, `{"app_id":"`+app+`","api":"pay-v1"}`); r.status != 409 || !strings.Contains(string(r.body), "deprecated") {
		t.Errorf("subscribe to a deprecated API: %d %s", r.status, r.body)
	}
	f.must(200, f.do("POST", "/admin/v1/apis/pay-v1/retire", adm, `{"reason":"sunset"}`))
	for _, a := range []string{"publish", "deprecate", "retire"} {
		if r := f.do("POST", "/admin/v1/apis/pay-v1/"+a, adm, `{"sunset_at":"`+sunset+`"}`); r.status != 409 && !(a != "deprecate" && r.status == 422) {
			t.Errorf("%s a retired API: %d %s", a, r.status, r.body)
		}
	}
	r := f.do("POST", "/admin/v1/apis/pay-v1/publish", adm, ``)
	if r.status != 409 || !strings.Contains(r.json(t)["detail"].(string), "retired is final") {
		t.Errorf("publish a retired API: %d %s", r.status, r.body)
	}
	h := f.must(200, f.do("GET", "/admin/v1/apis/pay-v1/history", adm, ``))
	var steps []string
	for _, it := range h["items"].([]any) {
		m := it.(map[string]any)
		steps = append(steps, m["to"].(string)+":"+m["actor"].(string))
	}
	if want := []string{"draft:", "published:root-client", "deprecated:root-client", "retired:root-client"}; len(steps) != 4 || !slices.Equal(steps[1:], want[1:]) {
		t.Errorf("history %v, want %v", steps, want)
	}
	// OpenAPI import.
	etag := f.do("GET", "/admin/v1/apis/pay-v1", adm, ``).header.Get("ETag")
	if r := f.do("PUT", "/admin/v1/apis/pay-v1/openapi", adm, `{"swagger":"2.0"}`, "If-Match", etag); r.status != 422 {
		t.Errorf("import a Swagger 2 document: %d %s", r.status, r.body)
	}
	doc := `{"openapi":"3.1.0","info":{"title":"Pay","version":"1"},"paths":{}}`
	a = f.must(200, f.do("PUT", "/admin/v1/apis/pay-v1/openapi", adm, doc, "If-Match", etag))
	if a["has_openapi"] != true {
		t.Errorf("after import: %v", a)
	}
	if r := f.do("GET", "/admin/v1/apis/pay-v1/openapi", dev, ``); r.status != 200 || string(r.body) != doc {
		t.Errorf("document read back: %d %q", r.status, r.body)
	}
}

func TestAppsAndCredentials(t *testing.T) {
	f := newFixture(t)
	devA, _, appA, _ := f.seed()
	adm := f.adminToken()
	app := f.must(200, f.do("GET", "/admin/v1/apps/"+appA, devA, ``))
	if _, ok := app["client_secret"]; ok {
		t.Error("GET shows the client secret")
	}
	ctx := t.Context()
	stored, err := f.db.FindClientByID(ctx, appA)
	if err != nil || stored.Team != "team-a" || stored.Source != gatehouse.SourceAdmin {
		t.Fatalf("stored app %+v %v", stored, err)
	}
	// Rotation: the new secret is shown once and is what the store holds;
	// with overlap the old one lives on as an expiring credential.
	old := stored.SecretHash
	r := f.do("POST", "/admin/v1/apps/"+appA+"/rotate-secret", devA, `{"overlap_seconds":3600}`)
	rot := f.must(200, r)
	secret, _ := rot["client_secret"].(string)
	if !strings.HasPrefix(secret, "ghs_") {
		t.Fatalf("rotate-secret answer %v", rot)
	}
	stored, _ = f.db.FindClientByID(ctx, appA)
	if string(stored.SecretHash) != string(gatehouse.HashSecret(secret)) {
		t.Error("the store does not hold the new secret")
	}
	creds, _ := f.db.FindCredentials(ctx, gatehouse.CredentialFilter{ClientID: appA})
	if len(creds) != 1 || string(creds[0].Hash) != string(old) || creds[0].ExpiresAt.Sub(time.Unix(0, f.now.Load())) != time.Hour {
		t.Errorf("overlap credential %+v", creds)
	}
	if strings.Contains(f.logs.String(), secret) {
		t.Error("the secret appears in the logs")
	}
	// Credentials: API key shown once, listed without it, revoked once.
	c := f.must(201, f.do("POST", "/admin/v1/apps/"+appA+"/credentials", devA, `{"kind":"api_key","api":"orders","label":"ci"}`))
	key, _ := c["secret"].(string)
	if !strings.HasPrefix(key, "ghk_") || c["status"] != "active" {
		t.Fatalf("credential %v", c)
	}
	l := f.must(200, f.do("GET", "/admin/v1/apps/"+appA+"/credentials", devA, ``))
	if len(l["items"].([]any)) != 2 || strings.Contains(string(f.do("GET", "/admin/v1/apps/"+appA+"/credentials", devA, ``).body), key) {
		t.Errorf("credentials list %v", l)
	}
	for _, tc := range []struct{ body, field string }{
		{`{"kind":"api_key"}`, "api"}, {`{"kind":"private_key_jwt","jwk":{"kty":"OKP"}}`, "kind"},
		{`{"kind":"pgp"}`, "kind"}, {`{"kind":"client_secret","expires_at":"2000-01-01T00:00:00Z"}`, "expires_at"},
	} {
		if r := f.do("POST", "/admin/v1/apps/"+appA+"/credentials", devA, tc.body); r.status != 422 || r.json(t)["field"] != tc.field {
			t.Errorf("%s: %d %s", tc.body, r.status, r.body)
		}
	}
	cid := c["id"].(string)
	rv := f.must(200, f.do("POST", "/admin/v1/apps/"+appA+"/credentials/"+cid+"/revoke", devA, `{"reason":"leaked"}`))
	if rv["status"] != "revoked" {
		t.Errorf("revoked: %v", rv)
	}
	if r := f.do("POST", "/admin/v1/apps/"+appA+"/credentials/"+cid+"/revoke", adm, ``); r.status != 409 {
		t.Errorf("revoke twice: %d %s", r.status, r.body)
	}
	// Patch and delete with If-Match.
	etag := f.do("GET", "/admin/v1/apps/"+appA, devA, ``).header.Get("ETag")
	p := f.must(200, f.do("PATCH", "/admin/v1/apps/"+appA, devA, `{"name":"renamed","grant_types":["client_credentials"]}`, "If-Match", etag))
	if p["name"] != "renamed" {
		t.Errorf("patched: %v", p)
	}
	if r := f.do("PATCH", "/admin/v1/apps/"+appA, devA, `{"auth_method":"none"}`, "If-Match", "*"); r.status != 422 {
		t.Errorf("changing auth_method: %d", r.status)
	}
	if r := f.do("DELETE", "/admin/v1/apps/"+appA, devA, ``, "If-Match", etag); r.status != 412 {
		t.Errorf("delete with a stale ETag: %d %s", r.status, r.body)
	}
	f.must(204, f.do("DELETE", "/admin/v1/apps/"+appA, devA, ``, "If-Match", f.do("GET", "/admin/v1/apps/"+appA, devA, ``).header.Get("ETag")))
	f.must(404, f.do("GET", "/admin/v1/apps/"+appA, adm, ``))
	if !f.h.Revocations.Refused(&gatehouse.AccessClaims{ClientID: appA}) {
		t.Error("the deleted app's tokens are not refused at once")
	}
}

func TestAccountsAndTeams(t *testing.T) {
	f := newFixture(t)
	adm := f.adminToken()
	f.must(201, f.do("POST", "/admin/v1/teams", adm, `{"name":"t1"}`))
	f.account("olga", gatehouse.RoleOwner, "")
	f.account("adam", gatehouse.RoleAdmin, "")
	f.account("dina", gatehouse.RoleDeveloper, "t1")
	owner := f.token("u-olga", gatehouse.AdminAudience, gatehouse.AdminScope)
	admin := f.token("u-adam", gatehouse.AdminAudience, gatehouse.AdminScope)
	l := f.must(200, f.do("GET", "/admin/v1/accounts?role=developer", admin, ``))
	if items := l["items"].([]any); len(items) != 1 || items[0].(map[string]any)["username"] != "dina" {
		t.Errorf("role filter: %v", items)
	}
	if strings.Contains(string(f.do("GET", "/admin/v1/accounts", admin, ``).body), "argon2") {
		t.Error("password hashes are listed")
	}
	etag := f.do("GET", "/admin/v1/accounts/u-dina", admin, ``).header.Get("ETag")
	if r := f.do("PATCH", "/admin/v1/accounts/u-dina", admin, `{"role":"admin"}`, "If-Match", etag); r.status != 403 {
		t.Errorf("an admin made an admin: %d %s", r.status, r.body)
	}
	if r := f.do("PATCH", "/admin/v1/accounts/u-dina", admin, `{"team":"nope"}`, "If-Match", etag); r.status != 422 {
		t.Errorf("unknown team: %d", r.status)
	}
	if r := f.do("PATCH", "/admin/v1/accounts/u-dina", admin, `{"role":"root"}`, "If-Match", etag); r.status != 422 {
		t.Errorf("unknown role: %d", r.status)
	}
	a := f.must(200, f.do("PATCH", "/admin/v1/accounts/u-dina", owner, `{"role":"admin","team":""}`, "If-Match", etag))
	if a["role"] != "admin" {
		t.Errorf("owner made an admin: %v", a)
	}
	// The new role applies on the very next request of the same token.
	if r := f.do("POST", "/admin/v1/teams", f.token("u-dina", gatehouse.AdminAudience, gatehouse.AdminScope), `{"name":"t2"}`); r.status != 201 {
		t.Errorf("promoted account cannot create a team: %d", r.status)
	}
	if r := f.do("PATCH", "/admin/v1/accounts/u-olga", owner, `{"disabled":true}`, "If-Match", "*"); r.status != 422 {
		t.Errorf("an owner disabled themselves: %d", r.status)
	}
	// A team with members is not deleted.
	f.account("dev2", gatehouse.RoleDeveloper, "t1")
	if r := f.do("DELETE", "/admin/v1/teams/t1", owner, ``, "If-Match", "*"); r.status != 409 {
		t.Errorf("delete a team with members: %d %s", r.status, r.body)
	}
}

func TestTokens(t *testing.T) {
	f := newFixture(t)
	adm := f.adminToken()
	now := time.Unix(0, f.now.Load())
	for i, id := range []string{"tok-1", "tok-2", "tok-3"} {
		tk := &gatehouse.Token{ID: id, Hash: gatehouse.HashSecret("s" + id), Kind: gatehouse.KindAccess, Format: gatehouse.FormatOpaque,
			ClientID: []string{"c1", "c1", "c2"}[i], Subject: "c1", Audience: "https://orders.test", IssuedAt: now, ExpiresAt: now.Add(time.Hour)}
		if err := f.db.CreateToken(t.Context(), tk); err != nil {
			t.Fatal(err)
		}
	}
	l := f.must(200, f.do("GET", "/admin/v1/tokens?client_id=c1&active=true", adm, ``))
	if items := l["items"].([]any); len(items) != 2 {
		t.Errorf("filter: %v", items)
	}
	if strings.Contains(string(f.do("GET", "/admin/v1/tokens", adm, ``).body), "hash") {
		t.Error("token hashes are listed")
	}
	tk := f.must(200, f.do("POST", "/admin/v1/tokens/tok-1/revoke", adm, ``))
	if tk["status"] != "revoked" {
		t.Errorf("revoked %v", tk)
	}
	if !f.h.Revocations.Revoked("tok-1", "") {
		t.Error("the revocation is not in the gateway's state")
	}
	if l := f.must(200, f.do("GET", "/admin/v1/tokens?active=true", adm, ``)); len(l["items"].([]any)) != 2 {
		t.Errorf("after revoke: %v", l["items"])
	}
	f.must(404, f.do("POST", "/admin/v1/tokens/nope/revoke", adm, ``))
	if r := f.do("GET", "/admin/v1/tokens?kind=bogus", adm, ``); r.status != 400 {
		t.Errorf("bad kind: %d", r.status)
	}
}
