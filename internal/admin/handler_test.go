package admin_test

import (
	"strings"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse"
)

// fillPath replaces path parameters with a value.
func fillPath(p string) string {
	for {
		i := strings.Index(p, "{")
		if i < 0 {
			return p
		}
		j := strings.Index(p[i:], "}")
		p = p[:i] + "nothing-here" + p[i+j+1:]
	}
}

// TestEveryRouteRefusesBadTokens runs over the router's own route table:
// no token, a malformed one, an expired one, one for another audience and
// one without an admin scope are refused on every route, before anything
// else happens.
func TestEveryRouteRefusesBadTokens(t *testing.T) {
	f := newFixture(t)
	expired := f.adminToken()
	f.now.Add(int64(time.Hour))
	cases := []struct {
		name   string
		tok    string
		status int
		chal   string
	}{
		{"NoToken", "", 401, `Bearer realm="gatehouse-admin"`},
		{"Garbage", "not-a-token", 401, `error="invalid_token"`},
		{"Expired", expired, 401, `error="invalid_token"`},
		{"WrongAudience", f.token("svc", "https://orders.test", gatehouse.AdminScope), 403, `error="insufficient_scope"`},
		{"WrongScope", f.token("svc", gatehouse.AdminAudience, "orders:read"), 403, `error="insufficient_scope"`},
		{"NoScope", f.token("svc", gatehouse.AdminAudience), 403, `error="insufficient_scope"`},
		{"DeveloperWithoutAccount", f.token("svc", gatehouse.AdminAudience, gatehouse.DeveloperScope), 403, ``},
	}
	routes := f.h.APIRoutes()
	if len(routes) < 40 {
		t.Fatalf("only %d routes", len(routes))
	}
	for _, rt := range routes {
		method, path, _ := strings.Cut(rt, " ")
		for _, tc := range cases {
			r := f.do(method, fillPath(path), tc.tok, `{}`)
			if r.status != tc.status {
				t.Errorf("%s %s: status %d, want %d: %s", tc.name, rt, r.status, tc.status, r.body)
				continue
			}
			if ct := r.header.Get("Content-Type"); ct != "application/problem+json" {
				t.Errorf("%s %s: content type %q", tc.name, rt, ct)
			}
			if !strings.Contains(r.header.Get("WWW-Authenticate"), tc.chal) {
				t.Errorf("%s %s: WWW-Authenticate %q, want %q", tc.name, rt, r.header.Get("WWW-Authenticate"), tc.chal)
			}
		}
	}
	// Unknown paths under /admin/ are authenticated too.
	if r := f.do("GET", "/admin/v1/nope", "", ``); r.status != 401 {
		t.Errorf("unknown path without token: %d", r.status)
	}
	if strings.Contains(f.logs.String(), expired) {
		t.Error("a token appears in the logs")
	}
}

// TestScopesAndRoles: admin:read and the auditor role read every GET route
// and change nothing; a developer reaches only the developer routes.
func TestScopesAndRoles(t *testing.T) {
	f := newFixture(t)
	f.must(201, f.do("POST", "/admin/v1/teams", f.adminToken(), `{"name":"team-a"}`))
	f.account("audrey", gatehouse.RoleAuditor, "")
	f.account("dev", gatehouse.RoleDeveloper, "team-a")
	f.account("nobody", "", "")
	f.account("gone", gatehouse.RoleAdmin, "")
	u, _ := f.db.FindUserByID(t.Context(), "u-gone")
	u.Disabled = true
	if err := f.db.UpdateUser(t.Context(), u); err != nil {
		t.Fatal(err)
	}
	readOnly := map[string]string{
		"ReadScope":          f.token("some-client", gatehouse.AdminAudience, gatehouse.AdminReadScope),
		"AuditorAdminScope":  f.token("u-audrey", gatehouse.AdminAudience, gatehouse.AdminScope),
		"AuditorDevScope":    f.token("u-audrey", gatehouse.AdminAudience, gatehouse.DeveloperScope),
		"DeveloperReadScope": f.token("u-dev", gatehouse.AdminAudience, gatehouse.AdminReadScope),
	}
	devRoutes := map[string]bool{}
	for _, rt := range []string{"GET /admin/v1/openapi.json", "GET /admin/v1/teams", "GET /admin/v1/teams/{name}",
		"GET /admin/v1/apis", "GET /admin/v1/apis/{name}", "GET /admin/v1/apis/{name}/openapi", "GET /admin/v1/apis/{name}/history",
		"GET /admin/v1/apps", "POST /admin/v1/apps", "GET /admin/v1/apps/{id}", "PATCH /admin/v1/apps/{id}", "DELETE /admin/v1/apps/{id}",
		"POST /admin/v1/apps/{id}/rotate-secret", "POST /admin/v1/apps/{id}/revoke-tokens", "GET /admin/v1/apps/{id}/credentials",
		"POST /admin/v1/apps/{id}/credentials", "GET /admin/v1/apps/{id}/credentials/{cid}", "POST /admin/v1/apps/{id}/credentials/{cid}/revoke",
		"GET /admin/v1/subscriptions", "POST /admin/v1/subscriptions", "GET /admin/v1/subscriptions/{id}",
		"GET /admin/v1/subscriptions/{id}/history", "POST /admin/v1/subscriptions/{id}/revoke"} {
		devRoutes[rt] = true
	}
	dev := f.token("u-dev", gatehouse.AdminAudience, gatehouse.DeveloperScope)
	devAdminScope := f.token("u-dev", gatehouse.AdminAudience, gatehouse.AdminScope)
	for _, rt := range f.h.APIRoutes() {
		method, path, _ := strings.Cut(rt, " ")
		for name, tok := range readOnly {
			r := f.do(method, fillPath(path), tok, `{}`)
			forbidden := r.status == 403 && strings.Contains(string(r.body), "forbidden")
			if method == "GET" && name != "DeveloperReadScope" && forbidden {
				t.Errorf("%s: %s refused: %s", name, rt, r.body)
			}
			if method != "GET" && !forbidden {
				t.Errorf("%s: %s not refused (%d): %s", name, rt, r.status, r.body)
			}
		}
		for name, tok := range map[string]string{"Developer": dev, "DeveloperAccountAdminScope": devAdminScope} {
			r := f.do(method, fillPath(path), tok, `{}`)
			forbidden := r.status == 403 && strings.Contains(string(r.body), "forbidden")
			if devRoutes[rt] == forbidden {
				t.Errorf("%s: %s: status %d (developer route: %v): %s", name, rt, r.status, devRoutes[rt], r.body)
			}
		}
		for name, tok := range map[string]string{
			"NoRole":   f.token("u-nobody", gatehouse.AdminAudience, gatehouse.AdminScope),
			"Disabled": f.token("u-gone", gatehouse.AdminAudience, gatehouse.AdminScope),
		} {
			if r := f.do(method, fillPath(path), tok, `{}`); r.status != 403 {
				t.Errorf("%s: %s: status %d, want 403", name, rt, r.status)
			}
		}
	}
}

// TestDeveloperIsolation: a developer of team A can neither list, read
// nor change team B's apps, subscriptions or credentials; to them those
// objects do not exist.
func TestDeveloperIsolation(t *testing.T) {
	f := newFixture(t)
	devA, devB, appA, appB := f.seed()
	adm := f.adminToken()
	subB := f.must(201, f.do("POST", "/admin/v1/subscriptions", devB, `{"app_id":"`+appB+`","api":"orders"}`))["id"].(string)
	credB := f.must(201, f.do("POST", "/admin/v1/apps/"+appB+"/credentials", devB, `{"kind":"client_secret"}`))["id"].(string)

	list := f.must(200, f.do("GET", "/admin/v1/apps", devA, ``))
	items := list["items"].([]any)
	if len(items) != 1 || items[0].(map[string]any)["id"] != appA {
		t.Errorf("developer A lists %v, want only %s", items, appA)
	}
	if l := f.must(200, f.do("GET", "/admin/v1/apps?team=team-b", devA, ``)); len(l["items"].([]any)) != 0 {
		t.Errorf("developer A lists team B's apps with a filter: %v", l["items"])
	}
	if l := f.must(200, f.do("GET", "/admin/v1/apps", adm, ``)); len(l["items"].([]any)) != 2 {
		t.Errorf("admin lists %d apps, want 2", len(l["items"].([]any)))
	}
	if l := f.must(200, f.do("GET", "/admin/v1/subscriptions", devA, ``)); len(l["items"].([]any)) != 0 {
		t.Errorf("developer A lists team B's subscriptions: %v", l["items"])
	}
	if l := f.must(200, f.do("GET", "/admin/v1/teams", devA, ``)); len(l["items"].([]any)) != 1 {
		t.Errorf("developer A lists teams %v, want only their own", l["items"])
	}
	etagB := f.do("GET", "/admin/v1/apps/"+appB, devB, ``).header.Get("ETag")
	for _, tc := range []struct{ method, path, body string }{
		{"GET", "/admin/v1/apps/" + appB, ``},
		{"PATCH", "/admin/v1/apps/" + appB, `{"name":"pwned"}`},
		{"DELETE", "/admin/v1/apps/" + appB, ``},
		{"POST", "/admin/v1/apps/" + appB + "/rotate-secret", ``},
		{"POST", "/admin/v1/apps/" + appB + "/revoke-tokens", ``},
		{"GET", "/admin/v1/apps/" + appB + "/credentials", ``},
		{"POST", "/admin/v1/apps/" + appB + "/credentials", `{"kind":"client_secret"}`},
		{"GET", "/admin/v1/apps/" + appB + "/credentials/" + credB, ``},
		{"POST", "/admin/v1/apps/" + appB + "/credentials/" + credB + "/revoke", ``},
		{"GET", "/admin/v1/subscriptions/" + subB, ``},
		{"GET", "/admin/v1/subscriptions/" + subB + "/history", ``},
		{"POST", "/admin/v1/subscriptions/" + subB + "/revoke", ``},
		{"GET", "/admin/v1/teams/team-b", ``},
	} {
		r := f.do(tc.method, tc.path, devA, tc.body, "If-Match", etagB)
		if r.status != 404 {
			t.Errorf("developer A: %s %s: status %d, want 404: %s", tc.method, tc.path, r.status, r.body)
		}
	}
	// Nor can they subscribe team B's app, or move their app to team B.
	if r := f.do("POST", "/admin/v1/subscriptions", devA, `{"app_id":"`+appB+`","api":"orders"}`); r.status != 422 || r.json(t)["field"] != "app_id" {
		t.Errorf("developer A subscribing B's app: %d %s", r.status, r.body)
	}
	etagA := f.do("GET", "/admin/v1/apps/"+appA, devA, ``).header.Get("ETag")
	if r := f.do("PATCH", "/admin/v1/apps/"+appA, devA, `{"team":"team-b"}`, "If-Match", etagA); r.status != 422 {
		t.Errorf("developer A moving their app to team B: %d %s", r.status, r.body)
	}
	if r := f.do("POST", "/admin/v1/apps", devA, `{"name":"x","team":"team-b"}`); r.status != 422 {
		t.Errorf("developer A creating an app for team B: %d %s", r.status, r.body)
	}
	// Team B's objects are untouched.
	app := f.must(200, f.do("GET", "/admin/v1/apps/"+appB, adm, ``))
	if app["name"] != "B app" || app["revision"].(float64) != 1 {
		t.Errorf("team B's app changed: %v", app)
	}
	if s := f.must(200, f.do("GET", "/admin/v1/subscriptions/"+subB, adm, ``)); s["state"] != "pending" {
		t.Errorf("team B's subscription changed: %v", s)
	}
	if c := f.must(200, f.do("GET", "/admin/v1/apps/"+appB+"/credentials/"+credB, adm, ``)); c["status"] != "active" {
		t.Errorf("team B's credential changed: %v", c)
	}
}

func TestETagIfMatch(t *testing.T) {
	f := newFixture(t)
	adm := f.adminToken()
	r := f.do("POST", "/admin/v1/teams", adm, `{"name":"ops","description":"one"}`)
	f.must(201, r)
	etag := r.header.Get("ETag")
	if etag == "" || f.do("GET", "/admin/v1/teams/ops", adm, ``).header.Get("ETag") != etag {
		t.Fatalf("ETag %q on create does not match the one on GET", etag)
	}
	if r := f.do("PATCH", "/admin/v1/teams/ops", adm, `{"description":"two"}`); r.status != 428 || r.json(t)["field"] != "If-Match" {
		t.Errorf("PATCH without If-Match: %d %s", r.status, r.body)
	}
	if r := f.do("PATCH", "/admin/v1/teams/ops", adm, `{"description":"two"}`, "If-Match", `"999"`); r.status != 412 {
		t.Errorf("PATCH with a wrong If-Match: %d %s", r.status, r.body)
	}
	if r := f.do("PATCH", "/admin/v1/teams/ops", adm, `{"description":"two"}`, "If-Match", `W/"x"`); r.status != 412 {
		t.Errorf("PATCH with a foreign If-Match: %d %s", r.status, r.body)
	}
	r = f.do("PATCH", "/admin/v1/teams/ops", adm, `{"description":"two"}`, "If-Match", etag)
	if got := f.must(200, r); got["description"] != "two" {
		t.Errorf("PATCH: %v", got)
	}
	newTag := r.header.Get("ETag")
	if newTag == etag || newTag == "" {
		t.Errorf("ETag did not change: %q", newTag)
	}
	// The old ETag is stale now, for updates and deletes alike.
	if r := f.do("PATCH", "/admin/v1/teams/ops", adm, `{"description":"three"}`, "If-Match", etag); r.status != 412 {
		t.Errorf("PATCH with the old ETag: %d %s", r.status, r.body)
	}
	if r := f.do("DELETE", "/admin/v1/teams/ops", adm, ``); r.status != 428 {
		t.Errorf("DELETE without If-Match: %d", r.status)
	}
	if r := f.do("DELETE", "/admin/v1/teams/ops", adm, ``, "If-Match", etag); r.status != 412 {
		t.Errorf("DELETE with the old ETag: %d", r.status)
	}
	if got := f.must(200, f.do("GET", "/admin/v1/teams/ops", adm, ``)); got["description"] != "two" {
		t.Errorf("a refused change changed the team: %v", got)
	}
	f.must(204, f.do("DELETE", "/admin/v1/teams/ops", adm, ``, "If-Match", newTag))
	f.must(404, f.do("GET", "/admin/v1/teams/ops", adm, ``))
	// * matches whatever is current.
	f.must(201, f.do("POST", "/admin/v1/teams", adm, `{"name":"ops2"}`))
	f.must(200, f.do("PATCH", "/admin/v1/teams/ops2", adm, `{"description":"x"}`, "If-Match", "*"))
}

func TestPagination(t *testing.T) {
	f := newFixture(t)
	adm := f.adminToken()
	var want []string
	for _, n := range []string{"t1", "t2", "t3", "t4", "t5", "t6", "t7"} {
		f.must(201, f.do("POST", "/admin/v1/teams", adm, `{"name":"`+n+`"}`))
		want = append(want, n)
	}
	var got []string
	cursor, pages := "", 0
	for {
		q := "/admin/v1/teams?limit=3"
		if cursor != "" {
			q += "&cursor=" + cursor
		}
		page := f.must(200, f.do("GET", q, adm, ``))
		pages++
		items := page["items"].([]any)
		if len(items) > 3 {
			t.Fatalf("page of %d items with limit 3", len(items))
		}
		for _, it := range items {
			got = append(got, it.(map[string]any)["name"].(string))
		}
		next, _ := page["next_cursor"].(string)
		if next == "" {
			break
		}
		cursor = next
		if pages > 5 {
			t.Fatal("pagination does not end")
		}
	}
	if strings.Join(got, ",") != strings.Join(want, ",") || pages != 3 {
		t.Errorf("pages %d gave %v, want %v in 3 pages", pages, got, want)
	}
	for _, tc := range []struct{ q, field string }{
		{"?limit=0", "limit"}, {"?limit=501", "limit"}, {"?limit=x", "limit"}, {"?cursor=%21%21", "cursor"},
		{"?cursor=bm9wZQ", "cursor"}, {"?cursor=djE6Z2FyYmFnZQ", "cursor"}, {"?colour=red", "colour"}, {"?limit=1&limit=2", "limit"},
	} {
		r := f.do("GET", "/admin/v1/teams"+tc.q, adm, ``)
		if r.status != 400 || r.json(t)["field"] != tc.field || r.header.Get("Content-Type") != "application/problem+json" {
			t.Errorf("%s: %d %s, want 400 naming %s", tc.q, r.status, r.body, tc.field)
		}
	}
	// Filters: only manual, published APIs.
	f.must(201, f.do("POST", "/admin/v1/apis", adm, `{"name":"a1","audience":"https://a1.test","scopes":["x"]}`))
	f.must(201, f.do("POST", "/admin/v1/apis", adm, `{"name":"a2","audience":"https://a2.test","scopes":["x"]}`))
	f.must(200, f.do("POST", "/admin/v1/apis/a2/publish", adm, ``))
	l := f.must(200, f.do("GET", "/admin/v1/apis?lifecycle=published", adm, ``))
	if items := l["items"].([]any); len(items) != 1 || items[0].(map[string]any)["name"] != "a2" {
		t.Errorf("lifecycle filter: %v", items)
	}
	if r := f.do("GET", "/admin/v1/apis?lifecycle=gone", adm, ``); r.status != 400 {
		t.Errorf("bad filter value: %d", r.status)
	}
}

// TestProblems: each kind of bad input gets its own problem document
// naming the field and the reason, and changes nothing.
func TestProblems(t *testing.T) {
	f := newFixture(t)
	adm := f.adminToken()
	for _, tc := range []struct {
		name, method, path, body, ct string
		status                       int
		typ, field                   string
	}{
		{"Malformed", "POST", "/admin/v1/teams", `{"name":`, "", 400, "malformed-json", ""},
		{"Duplicate", "POST", "/admin/v1/teams", `{"name":"a","name":"b"}`, "", 400, "malformed-json", ""},
		{"UnknownField", "POST", "/admin/v1/teams", `{"name":"a","owner":"me"}`, "", 400, "unknown-field", "owner"},
		{"MemberNameCase", "POST", "/admin/v1/teams", `{"NAME":"x3"}`, "", 400, "unknown-field", "NAME"},
		{"WrongType", "POST", "/admin/v1/teams", `{"name":42}`, "", 400, "wrong-type", "name"},
		{"NestedWrongType", "POST", "/admin/v1/apis", `{"name":"x","audience":"https://x.test","routes":[{"path":5}]}`, "", 400, "wrong-type", "routes.path"},
		{"NotObject", "POST", "/admin/v1/teams", `"team"`, "", 400, "wrong-type", ""},
		{"TooLarge", "POST", "/admin/v1/teams", `{"name":"a","description":"` + strings.Repeat("x", 70000) + `"}`, "", 413, "body-too-large", ""},
		{"MediaType", "POST", "/admin/v1/teams", `{"name":"a"}`, "text/plain", 415, "unsupported-media-type", "Content-Type"},
		{"InvalidValue", "POST", "/admin/v1/teams", `{"name":"Bad Name"}`, "", 422, "invalid-value", "name"},
		{"InvalidScope", "POST", "/admin/v1/apis", `{"name":"x","audience":"https://x.test","scopes":["ok","a b"]}`, "", 422, "invalid-value", "scopes.1"},
		{"MissingAudience", "POST", "/admin/v1/apis", `{"name":"x"}`, "", 422, "invalid-value", "audience"},
		{"BadTime", "POST", "/admin/v1/subscriptions", `{"app_id":"x","api":"y","expires_at":"tomorrow"}`, "", 422, "invalid-value", "app_id"},
		{"MethodNotAllowed", "PUT", "/admin/v1/teams", `{}`, "", 405, "method-not-allowed", ""},
		{"NotFound", "GET", "/admin/v1/teams/nope", ``, "", 404, "not-found", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := []string{}
			if tc.ct != "" {
				h = []string{"Content-Type", tc.ct}
			}
			r := f.do(tc.method, tc.path, adm, tc.body, h...)
			if r.status != tc.status || r.header.Get("Content-Type") != "application/problem+json" {
				t.Fatalf("status %d (%s), want %d problem: %s", r.status, r.header.Get("Content-Type"), tc.status, r.body)
			}
			p := r.json(t)
			if p["type"] != "urn:gatehouse:problem:"+tc.typ || p["status"].(float64) != float64(tc.status) || p["title"] == "" {
				t.Errorf("problem %v, want type %s", p, tc.typ)
			}
			if tc.field != "" && p["field"] != tc.field {
				t.Errorf("field %v, want %s", p["field"], tc.field)
			}
			if tc.status != 404 && tc.status != 405 && p["reason"] == nil && p["detail"] == nil {
				t.Errorf("no reason: %v", p)
			}
		})
	}
	if r := f.do("PUT", "/admin/v1/teams", adm, `{}`); r.header.Get("Allow") != "GET, POST" {
		t.Errorf("405 Allow = %q", r.header.Get("Allow"))
	}
	if l := f.must(200, f.do("GET", "/admin/v1/teams", adm, ``)); len(l["items"].([]any)) != 0 {
		t.Errorf("refused requests created teams: %v", l["items"])
	}
}

// TestOpenAPIServed: the document is served to any admin token, as
// embedded, with an ETag.
func TestOpenAPIServed(t *testing.T) {
	f := newFixture(t)
	f.must(201, f.do("POST", "/admin/v1/teams", f.adminToken(), `{"name":"t"}`))
	f.account("dev", gatehouse.RoleDeveloper, "t")
	for _, tok := range []string{f.adminToken(), f.token("x", gatehouse.AdminAudience, gatehouse.AdminReadScope),
		f.token("u-dev", gatehouse.AdminAudience, gatehouse.DeveloperScope)} {
		r := f.do("GET", "/admin/v1/openapi.json", tok, ``)
		doc := f.must(200, r)
		if doc["openapi"] != "3.1.0" || r.header.Get("ETag") == "" || r.header.Get("Content-Type") != "application/json" {
			t.Errorf("served %v with headers %v", doc["openapi"], r.header)
		}
		paths := doc["paths"].(map[string]any)
		if len(paths) < 30 {
			t.Errorf("only %d paths served", len(paths))
		}
	}
}
