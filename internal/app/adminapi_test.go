package app

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/internal/admin"
	"github.com/gatehouse/gatehouse/internal/token"
	"golang.org/x/oauth2"
)

// mintAdmin signs an access token with the node's own key, as its token
// endpoint would for a user who logged in: a stand-in for the console's
// login, which is not part of this API.
func (n *testNode) mintAdmin(t *testing.T, subject string, scopes ...string) string {
	t.Helper()
	now := n.clock.Now()
	tok, err := n.OAuth.Minter.MintJWT(&gatehouse.AccessClaims{Issuer: n.Issuer, Subject: subject, Audience: gatehouse.AdminAudience,
		ClientID: "console", Scopes: scopes, ID: token.NewID(), IssuedAt: now, ExpiresAt: now.Add(5 * time.Minute)})
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func (n *testNode) account(t *testing.T, name string, role gatehouse.Role, team string) string {
	t.Helper()
	u := n.addUser(t, name)
	u.Role, u.Team = role, team
	if err := n.Store.UpdateUser(context.Background(), u); err != nil {
		t.Fatal(err)
	}
	return u.ID
}

// TestAdminAPIRefusesEveryRoute: on a whole node, every route of the admin
// router refuses a request without a valid admin token.
func TestAdminAPIRefusesEveryRoute(t *testing.T) {
	n := startNode(t)
	svc, err := n.ccConfig("svc-basic", basicSecret, oauth2.AuthStyleInHeader, "https://orders.example.test").Token(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	cases := map[string]struct {
		tok    string
		status int
	}{
		"NoToken":       {"", 401},
		"Invalid":       {"gha_" + strings.Repeat("x", 43), 401},
		"WrongAudience": {svc.AccessToken, 403},
		"WrongScope":    {n.mintAdmin(t, "someone", "orders:read"), 403},
	}
	routes := (&admin.Handler{}).APIRoutes()
	for _, rt := range routes {
		method, path, _ := strings.Cut(rt, " ")
		path = strings.NewReplacer("{name}", "x", "{id}", "x", "{cid}", "x").Replace(path)
		for name, tc := range cases {
			status, body := jsonCall(t, method, n.AdminURL+path, tc.tok, `{}`)
			if status != tc.status || !strings.HasPrefix(body["type"].(string), "urn:gatehouse:problem:") {
				t.Errorf("%s %s: %d %v, want %d", name, rt, status, body, tc.status)
			}
		}
	}
	if !strings.Contains(n.logs.String(), "admin authentication failed") {
		t.Error("refused admin authentication is not logged")
	}
}

// TestAdminAPIDeveloperTeams: on a whole node, a developer of team A can
// neither list, read nor change team B's apps.
func TestAdminAPIDeveloperTeams(t *testing.T) {
	n := startNode(t)
	adm := n.adminToken(t)
	base := n.AdminURL + "/admin/v1"
	for _, team := range []string{"a", "b"} {
		if status, body := jsonCall(t, "POST", base+"/teams", adm, `{"name":"`+team+`"}`); status != 201 {
			t.Fatalf("team: %d %v", status, body)
		}
	}
	devA := n.mintAdmin(t, n.account(t, "ann", gatehouse.RoleDeveloper, "a"), gatehouse.DeveloperScope)
	devB := n.mintAdmin(t, n.account(t, "ben", gatehouse.RoleDeveloper, "b"), gatehouse.DeveloperScope)
	_, appB := jsonCall(t, "POST", base+"/apps", devB, `{"name":"B"}`)
	idB, _ := appB["id"].(string)
	if idB == "" || appB["team"] != "b" {
		t.Fatalf("developer B's app: %v", appB)
	}
	if _, l := jsonCall(t, "GET", base+"/apps", devA, ""); len(l["items"].([]any)) != 0 {
		t.Errorf("developer A lists %v", l["items"])
	}
	for _, tc := range []struct{ method, path, body string }{
		{"GET", "/apps/" + idB, ""}, {"PATCH", "/apps/" + idB, `{"name":"mine"}`}, {"DELETE", "/apps/" + idB, ""},
		{"POST", "/apps/" + idB + "/rotate-secret", ""}, {"GET", "/apps/" + idB + "/credentials", ""},
	} {
		if status, body := jsonCall(t, tc.method, base+tc.path, devA, tc.body, "If-Match", `"1"`); status != 404 {
			t.Errorf("developer A %s %s: %d %v", tc.method, tc.path, status, body)
		}
	}
	if c, err := n.Store.FindClientByID(context.Background(), idB); err != nil || c.Name != "B" || c.Disabled {
		t.Errorf("B's app after A's attempts: %+v %v", c, err)
	}
}
