package app

import (
	"context"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/internal/admin"
	"github.com/gatehouse/gatehouse/internal/audit"
	"github.com/gatehouse/gatehouse/internal/oauth"
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

// TestAdminAPIEndToEnd is the story of issue 5 through the admin API and
// the CLI: a developer registers an app and subscribes it to a manual API;
// it gets no token until an admin approves, with fewer scopes; it calls the
// API through the gateway; a suspension refuses the very next call.
func TestAdminAPIEndToEnd(t *testing.T) {
	up := newUpstream(t)
	n := startNode(t)
	ctx := context.Background()
	adm := n.adminToken(t)
	base := n.AdminURL + "/admin/v1"
	must := func(tok, method, path, body string, want int, hdr ...string) map[string]any {
		t.Helper()
		status, m := jsonCall(t, method, base+path, tok, body, hdr...)
		if status != want {
			t.Fatalf("%s %s: %d %v", method, path, status, m)
		}
		return m
	}
	must(adm, "POST", "/teams", `{"name":"shop"}`, 201)
	must(adm, "POST", "/apis", `{"name":"cat-v1","family":"cat","version":"v1","audience":"https://cat.test","scopes":["cat:read","cat:write"],
		"approval":"manual","upstream":["`+up.URL+`"],"routes":[{"path":"/cat/*","scopes":["cat:read"]}]}`, 201)
	must(adm, "POST", "/apis/cat-v1/publish", ``, 200)
	// The developer signs in as a person does: authorization code with
	// PKCE through the built-in console client, with x/oauth2 and the login
	// and consent forms. Her token's scope follows her account's role.
	n.account(t, "dora", gatehouse.RoleDeveloper, "shop")
	dev := n.consoleToken(t, "dora", "")
	if claims, _ := n.verifyIndependently(t, dev); claims.Scope != gatehouse.DeveloperScope || !claims.Audience.Contains(gatehouse.AdminAudience) {
		t.Fatalf("developer token: scope %q aud %v", claims.Scope, claims.Audience)
	}
	if _, q := n.consoleFlow(t, "dora", gatehouse.AdminScope); q.Get("error") != "invalid_scope" {
		t.Fatalf("a developer asking for scope admin: %v", q)
	}
	app := must(dev, "POST", "/apps", `{"name":"Shopfront"}`, 201)
	appID, secret := app["id"].(string), app["client_secret"].(string)
	sub := must(dev, "POST", "/subscriptions", `{"app_id":"`+appID+`","api":"cat-v1","scopes":["cat:read","cat:write"]}`, 201)
	subID := sub["id"].(string)
	if sub["state"] != "pending" {
		t.Fatalf("subscription %v", sub)
	}
	cc := func(scopes ...string) (string, error) {
		tok, err := n.ccConfig(appID, secret, oauth2.AuthStyleInHeader, "https://cat.test", scopes...).Token(ctx)
		if err != nil {
			return "", err
		}
		return tok.AccessToken, nil
	}
	if _, err := cc("cat:read"); err == nil {
		t.Fatal("a pending subscription gave a token")
	}
	envVars := map[string]string{"GATEHOUSE_ADMIN_URL": n.AdminURL, "GATEHOUSE_TOKEN": adm}
	env := mapEnv(envVars)
	cli := func(args ...string) {
		t.Helper()
		var out, errOut strings.Builder
		if code := Main(ctx, args, env, strings.NewReader(""), &out, &errOut); code != 0 {
			t.Fatalf("gatehouse %v: exit %d: %s", args, code, errOut.String())
		}
	}
	cli("subscriptions", "approve", subID, "--scopes", "cat:read", "--reason", "read first")
	if _, err := cc("cat:write"); err == nil {
		t.Error("a scope the approval left out was granted")
	}
	tok, err := cc()
	if err != nil {
		t.Fatalf("token after approval: %v", err)
	}
	claims, _ := n.verifyIndependently(t, tok)
	if claims.Scope != "cat:read" {
		t.Errorf("token scope %q, want cat:read", claims.Scope)
	}
	if resp, _ := n.call(t, "GET", "/cat/1", tok, nil); resp.StatusCode != 200 {
		t.Fatalf("call through the gateway: %d", resp.StatusCode)
	}
	cli("subscriptions", "suspend", subID, "--reason", "abuse report")
	if resp, _ := n.call(t, "GET", "/cat/2", tok, nil); resp.StatusCode != 401 {
		t.Errorf("the very next call after suspension: %d, want 401", resp.StatusCode)
	}
	if _, err := cc(); err == nil {
		t.Error("a suspended subscription gave a token")
	}
	cli("subscriptions", "resume", subID)
	tok2, err := cc()
	if err != nil {
		t.Fatalf("token after resume: %v", err)
	}
	if resp, _ := n.call(t, "GET", "/cat/3", tok2, nil); resp.StatusCode != 200 {
		t.Errorf("call after resume: %d", resp.StatusCode)
	}
	// Bulk revocation by app ends every token the app holds, at once.
	must(dev, "POST", "/apps/"+appID+"/revoke-tokens", `{"reason":"laptop lost"}`, 200)
	if resp, _ := n.call(t, "GET", "/cat/4", tok2, nil); resp.StatusCode != 401 {
		t.Errorf("call after bulk revocation: %d", resp.StatusCode)
	}
	// Rotation with overlap: both secrets work until the overlap ends.
	rot := must(dev, "POST", "/apps/"+appID+"/rotate-secret", `{"overlap_seconds":3600}`, 200)
	oldSecret := secret
	if _, err := cc(); err != nil {
		t.Errorf("old secret during the overlap: %v", err)
	}
	secret = rot["client_secret"].(string)
	if _, err := cc(); err != nil {
		t.Errorf("new secret: %v", err)
	}
	n.clock.Advance(2 * time.Hour)
	secret = oldSecret
	if _, err := cc(); err == nil {
		t.Error("the old secret works after the overlap")
	}
	// Revoking the subscription deletes nothing but ends the access.
	envVars["GATEHOUSE_TOKEN"] = n.adminToken(t) // the first one expired
	cli("subscriptions", "revoke", subID, "--reason", "done")
	secret = rot["client_secret"].(string)
	if _, err := cc(); err == nil {
		t.Error("a revoked subscription gave a token")
	}

	// Every step above is in the audit log, whose chain verifies; an edit
	// of a row, then cutting off the newest rows, are both detected.
	if _, err := n.Audit.SyncEvents(ctx); err != nil {
		t.Fatal(err)
	}
	if cp, err := n.AuditCheckpoints.Checkpoint(ctx); err != nil || cp == nil {
		t.Fatalf("checkpoint: %+v %v", cp, err)
	}
	head, err := n.Store.AuditHead(ctx)
	if err != nil || head.Seq < 10 {
		t.Fatalf("audit head %+v %v: the story left too few entries", head, err)
	}
	if code, out, errs := runCLI(t, n.dataDir, "audit", "verify"); code != ExitOK {
		t.Fatalf("verify of the intact log: %d\n%s%s", code, out, errs)
	}
	copyDir := filepath.Join(t.TempDir(), "data")
	os.MkdirAll(filepath.Join(copyDir, "audit"), 0o700)
	live := attacker(t, filepath.Join(n.dataDir, "gatehouse.db"))
	mustExec(t, live, `VACUUM INTO ?`, filepath.Join(copyDir, "gatehouse.db"))
	for _, f := range []string{"master.key", audit.CheckpointFile} {
		b, err := os.ReadFile(filepath.Join(n.dataDir, f))
		if err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(copyDir, f), b, 0o600)
	}
	mustExec(t, live, `DROP TRIGGER audit_log_no_update`)
	mustExec(t, live, `UPDATE audit_log SET details = '{"reason":"nothing to see"}' WHERE seq = 2`)
	if code, out, _ := runCLI(t, n.dataDir, "audit", "verify"); code != ExitTampered || !strings.Contains(out, "first bad seq 2") {
		t.Errorf("verify after a row was altered: %d\n%s", code, out)
	}
	cut := head.Seq - 3
	cp := attacker(t, filepath.Join(copyDir, "gatehouse.db"))
	mustExec(t, cp, `DROP TRIGGER audit_log_no_delete`)
	mustExec(t, cp, `DROP TRIGGER audit_checkpoints_no_delete`)
	mustExec(t, cp, `DELETE FROM audit_log WHERE seq > ?`, cut)
	mustExec(t, cp, `DELETE FROM audit_checkpoints WHERE seq > ?`, cut)
	if code, out, _ := runCLI(t, copyDir, "audit", "verify"); code != ExitTampered || !strings.Contains(out, "cut off") {
		t.Errorf("verify after the newest rows were deleted: %d\n%s", code, out)
	}
}

// consoleFlow signs user in through the built-in console client
// (authorization code + PKCE, loopback redirect) asking for scope (none:
// the role's own) and returns the PKCE verifier and the redirect's query.
func (n *testNode) consoleFlow(t *testing.T, user, scope string) (string, url.Values) {
	t.Helper()
	cfg := &oauth2.Config{ClientID: gatehouse.ConsoleClientID, RedirectURL: "http://127.0.0.1:49152/callback",
		Endpoint: oauth2.Endpoint{AuthURL: n.Issuer + oauth.PathAuthorize, TokenURL: n.Issuer + oauth.PathToken, AuthStyle: oauth2.AuthStyleInParams}}
	if scope != "" {
		cfg.Scopes = []string{scope}
	}
	v := oauth2.GenerateVerifier()
	b := n.browser(t)
	p := b.get(cfg.AuthCodeURL("st", oauth2.S256ChallengeOption(v), oauth2.SetAuthURLParam("resource", gatehouse.AdminAudience)))
	if strings.Contains(p.body, `name="password"`) {
		p = b.login(p, user, userPassword)
	}
	if strings.Contains(p.body, `name="decision"`) {
		p = b.consent(p, "allow")
	}
	return v, n.callback(t, p, cfg.RedirectURL, "st")
}

// consoleToken returns user's access token for the admin API.
func (n *testNode) consoleToken(t *testing.T, user, scope string) string {
	t.Helper()
	v, q := n.consoleFlow(t, user, scope)
	cfg := &oauth2.Config{ClientID: gatehouse.ConsoleClientID, RedirectURL: "http://127.0.0.1:49152/callback",
		Endpoint: oauth2.Endpoint{TokenURL: n.Issuer + oauth.PathToken, AuthStyle: oauth2.AuthStyleInParams}}
	tok, err := cfg.Exchange(context.Background(), q.Get("code"), oauth2.VerifierOption(v))
	if err != nil {
		t.Fatalf("console token for %s: %v", user, err)
	}
	return tok.AccessToken
}
