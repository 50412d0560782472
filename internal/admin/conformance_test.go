package admin_test

import (
	"bytes"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/gatehouse/gatehouse"
	"github.com/santhosh-tekuri/jsonschema/v6"
)

// TestResponsesMatchOpenAPI checks real answers of the handlers against the
// schemas the OpenAPI document promises for them, so the document cannot
// drift from what is served.
func TestResponsesMatchOpenAPI(t *testing.T) {
	f := newFixture(t)
	adm := f.adminToken()
	docResp := f.do("GET", "/admin/v1/openapi.json", adm, ``)
	raw, err := jsonschema.UnmarshalJSON(bytes.NewReader(docResp.body))
	if err != nil {
		t.Fatal(err)
	}
	const base = "file:///openapi.json"
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	c.AssertFormat()
	if err := c.AddResource(base, raw); err != nil {
		t.Fatal(err)
	}
	check := func(method, tmpl, path, body, status string, headers ...string) map[string]any {
		t.Helper()
		r := f.do(method, path, adm, body, headers...)
		if strconv.Itoa(r.status) != status {
			t.Fatalf("%s %s: %d, want %s: %s", method, path, r.status, status, r.body)
		}
		ct := "application/json"
		if r.status >= 400 {
			ct = "application/problem+json"
		}
		ptr := "/paths/" + esc(tmpl) + "/" + strings.ToLower(method) + "/responses/" + status
		if r.status >= 400 {
			ptr = "/components/responses/P" + status
		}
		sch, err := c.Compile(base + "#" + ptr + "/content/" + esc(ct) + "/schema")
		if err != nil {
			t.Fatalf("%s %s: no schema for %s: %v", method, tmpl, status, err)
		}
		inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(r.body))
		if err != nil {
			t.Fatalf("%s %s: %v", method, path, err)
		}
		if err := sch.Validate(inst); err != nil {
			t.Errorf("%s %s answered what the document does not describe: %v\n%s", method, path, err, r.body)
		}
		return r.json(t)
	}
	check("POST", "/admin/v1/teams", "/admin/v1/teams", `{"name":"shop","description":"Shop"}`, "201")
	check("GET", "/admin/v1/teams", "/admin/v1/teams?limit=1", ``, "200")
	check("GET", "/admin/v1/teams/{name}", "/admin/v1/teams/shop", ``, "200")
	check("PATCH", "/admin/v1/teams/{name}", "/admin/v1/teams/shop", `{"description":"x"}`, "200", "If-Match", "*")
	f.account("dev", gatehouse.RoleDeveloper, "shop")
	check("GET", "/admin/v1/accounts", "/admin/v1/accounts", ``, "200")
	check("GET", "/admin/v1/accounts/{id}", "/admin/v1/accounts/u-dev", ``, "200")
	check("POST", "/admin/v1/apis", "/admin/v1/apis", `{"name":"cat","audience":"https://cat.test","scopes":["r","w"],"approval":"manual",
		"upstream":["http://127.0.0.1:1"],"routes":[{"path":"/cat/*","methods":["GET"],"scopes":["r"]}]}`, "201")
	check("POST", "/admin/v1/apis/{name}/publish", "/admin/v1/apis/cat/publish", ``, "200")
	check("PUT", "/admin/v1/apis/{name}/openapi", "/admin/v1/apis/cat/openapi", `{"openapi":"3.1.0"}`, "200", "If-Match", "*")
	check("GET", "/admin/v1/apis", "/admin/v1/apis", ``, "200")
	check("GET", "/admin/v1/apis/{name}/history", "/admin/v1/apis/cat/history", ``, "200")
	app := check("POST", "/admin/v1/apps", "/admin/v1/apps", `{"name":"A","team":"shop"}`, "201")["id"].(string)
	check("GET", "/admin/v1/apps", "/admin/v1/apps", ``, "200")
	check("GET", "/admin/v1/apps/{id}", "/admin/v1/apps/"+app, ``, "200")
	check("POST", "/admin/v1/apps/{id}/rotate-secret", "/admin/v1/apps/"+app+"/rotate-secret", `{"overlap_seconds":60}`, "200")
	cred := check("POST", "/admin/v1/apps/{id}/credentials", "/admin/v1/apps/"+app+"/credentials", `{"kind":"api_key","api":"cat"}`, "201")["id"].(string)
	check("GET", "/admin/v1/apps/{id}/credentials", "/admin/v1/apps/"+app+"/credentials", ``, "200")
	check("POST", "/admin/v1/apps/{id}/credentials/{cid}/revoke", "/admin/v1/apps/"+app+"/credentials/"+cred+"/revoke", ``, "200")
	sub := check("POST", "/admin/v1/subscriptions", "/admin/v1/subscriptions", `{"app_id":"`+app+`","api":"cat"}`, "201")["id"].(string)
	check("POST", "/admin/v1/subscriptions/{id}/approve", "/admin/v1/subscriptions/"+sub+"/approve", `{"scopes":["r"]}`, "200")
	check("GET", "/admin/v1/subscriptions", "/admin/v1/subscriptions", ``, "200")
	check("GET", "/admin/v1/subscriptions/{id}/history", "/admin/v1/subscriptions/"+sub+"/history", ``, "200")
	check("POST", "/admin/v1/apps/{id}/revoke-tokens", "/admin/v1/apps/"+app+"/revoke-tokens", ``, "200")
	check("POST", "/admin/v1/apis/{name}/revoke-tokens", "/admin/v1/apis/cat/revoke-tokens", `{"reason":"x"}`, "200")
	check("GET", "/admin/v1/tokens", "/admin/v1/tokens", ``, "200")
	check("POST", "/admin/v1/registration-tokens", "/admin/v1/registration-tokens", ``, "201")
	// Problems.
	check("POST", "", "/admin/v1/teams", `{"nme":"x"}`, "400")
	check("GET", "", "/admin/v1/teams/none", ``, "404")
	check("POST", "", "/admin/v1/subscriptions/"+sub+"/resume", ``, "409")
	check("PATCH", "", "/admin/v1/teams/shop", `{}`, "428")
	check("PATCH", "", "/admin/v1/teams/shop", `{}`, "412", "If-Match", `"77"`)
	check("POST", "", "/admin/v1/teams", `{"name":"Bad"}`, "422")
}

func esc(s string) string {
	return url.PathEscape(strings.ReplaceAll(strings.ReplaceAll(s, "~", "~0"), "/", "~1"))
}
