package app

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/gatehouse/gatehouse"
	"golang.org/x/oauth2"
)

// TestAdminCLI runs the day-to-day commands through Main against a running
// node, as a script would: -o json parsed back, exit codes checked.
func TestAdminCLI(t *testing.T) {
	n := startNode(t)
	ctx := context.Background()
	adm := n.adminToken(t)
	api := n.AdminURL + "/admin/v1"
	mustCall := func(method, path, body string, want int) map[string]any {
		t.Helper()
		status, m := jsonCall(t, method, api+path, adm, body)
		if status != want {
			t.Fatalf("%s %s: %d %v", method, path, status, m)
		}
		return m
	}
	mustCall("POST", "/teams", `{"name":"shop"}`, 201)
	mustCall("POST", "/apis", `{"name":"cat-v1","family":"cat","version":"v1","audience":"https://cat.test","scopes":["cat:read","cat:write"],"approval":"manual"}`, 201)
	mustCall("POST", "/apis/cat-v1/publish", ``, 200)
	appID := mustCall("POST", "/apps", `{"name":"Shopfront","team":"shop"}`, 201)["id"].(string)
	subID := mustCall("POST", "/subscriptions", `{"app_id":"`+appID+`","api":"cat-v1","scopes":["cat:read","cat:write"]}`, 201)["id"].(string)

	env := map[string]string{
		"GATEHOUSE_ADMIN_URL": n.AdminURL, "GATEHOUSE_ISSUER": n.Issuer,
		"GATEHOUSE_CLIENT_ID": gatehouse.AdminClientID, "GATEHOUSE_CLIENT_SECRET": adminSecret,
	}
	run := func(want int, args ...string) string {
		t.Helper()
		var out, errOut bytes.Buffer
		code := Main(ctx, args, mapEnv(env), strings.NewReader(""), &out, &errOut)
		if code != want {
			t.Fatalf("gatehouse %s: exit %d, want %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), code, want, out.String(), errOut.String())
		}
		return out.String()
	}
	obj := func(s string) map[string]any {
		t.Helper()
		var m map[string]any
		if err := json.Unmarshal([]byte(s), &m); err != nil {
			t.Fatalf("not a JSON object: %q", s)
		}
		return m
	}
	arr := func(s string) []map[string]any {
		t.Helper()
		var a []map[string]any
		if err := json.Unmarshal([]byte(s), &a); err != nil {
			t.Fatalf("not a JSON array: %q", s)
		}
		return a
	}

	if apis := arr(run(ExitOK, "apis", "list", "-o", "json")); len(apis) != 4 || apis[1]["name"] != "cat-v1" {
		t.Errorf("apis list (billing, cat-v1, drafty, orders): %v", apis)
	}
	if apis := arr(run(ExitOK, "apis", "list", "--family", "cat", "-o", "json")); len(apis) != 1 || apis[0]["name"] != "cat-v1" {
		t.Errorf("apis list --family cat: %v", apis)
	}
	if a := obj(run(ExitOK, "apis", "show", "cat-v1", "-o", "json")); a["lifecycle"] != "published" || a["approval"] != "manual" {
		t.Errorf("apis show: %v", a)
	}
	if table := run(ExitOK, "apis", "list", "--lifecycle", "published"); !strings.Contains(table, "NAME") || !strings.Contains(table, "cat-v1") {
		t.Errorf("apis list table:\n%s", table)
	}
	if apis := arr(run(ExitOK, "apis", "list", "--lifecycle", "draft", "-o", "json")); len(apis) != 1 || apis[0]["name"] != "drafty" {
		t.Errorf("filtered list: %v", apis)
	}
	run(ExitNotFound, "apis", "show", "nope")

	if apps := arr(run(ExitOK, "apps", "list", "--team", "shop", "-o", "json")); len(apps) != 1 || apps[0]["id"] != appID {
		t.Errorf("apps list: %v", apps)
	}
	if table := run(ExitOK, "apps", "show", appID); !strings.Contains(table, "Shopfront") || strings.Contains(table, "client_secret:") {
		t.Errorf("apps show:\n%s", table)
	}
	rot := obj(run(ExitOK, "apps", "rotate-secret", appID, "--overlap", "1h", "-o", "json"))
	secret, _ := rot["client_secret"].(string)
	stored, err := n.Store.FindClientByID(ctx, appID)
	if !strings.HasPrefix(secret, "ghs_") || err != nil || string(stored.SecretHash) != string(gatehouse.HashSecret(secret)) {
		t.Errorf("rotate-secret: %v (stored %v)", rot, err)
	}

	if subs := arr(run(ExitOK, "subscriptions", "list", "--state", "pending", "-o", "json")); len(subs) != 1 || subs[0]["id"] != subID {
		t.Errorf("pending subscriptions: %v", subs)
	}
	s := obj(run(ExitOK, "subscriptions", "approve", subID, "--scopes", "cat:read", "--reason", "read first", "-o", "json"))
	if s["state"] != "approved" || len(s["approved_scopes"].([]any)) != 1 || s["approved_scopes"].([]any)[0] != "cat:read" {
		t.Errorf("approve: %v", s)
	}
	run(ExitConflict, "subscriptions", "approve", subID)
	run(ExitUsage, "subscriptions", "reject", subID)
	run(ExitInvalid, "subscriptions", "approve", subID, "--scopes", "nope")
	if s := obj(run(ExitOK, "subscriptions", "suspend", subID, "--reason", "abuse", "-o", "json")); s["state"] != "suspended" {
		t.Errorf("suspend: %v", s)
	}
	if s := obj(run(ExitOK, "subscriptions", "resume", subID, "-o", "json")); s["state"] != "approved" {
		t.Errorf("resume: %v", s)
	}
	if s := obj(run(ExitOK, "subscriptions", "show", subID, "-o", "json")); s["reason"] != "" && s["state"] != "approved" {
		t.Errorf("show: %v", s)
	}
	if s := obj(run(ExitOK, "subscriptions", "revoke", "--reason", "done", subID, "-o", "json")); s["state"] != "revoked" {
		t.Errorf("revoke (flag before id): %v", s)
	}
	run(ExitNotFound, "subscriptions", "show", "nope")

	// Tokens: list one client's, revoke one, and the node refuses it at once.
	svc, err := n.ccConfig("svc-basic", basicSecret, oauth2.AuthStyleInHeader, "https://orders.example.test").Token(ctx)
	if err != nil {
		t.Fatal(err)
	}
	toks := arr(run(ExitOK, "tokens", "list", "--client", "svc-basic", "--active", "-o", "json"))
	if len(toks) != 1 || toks[0]["status"] != "active" {
		t.Fatalf("tokens list: %v", toks)
	}
	if tk := obj(run(ExitOK, "tokens", "revoke", toks[0]["id"].(string), "-o", "json")); tk["status"] != "revoked" {
		t.Errorf("tokens revoke: %v", tk)
	}
	if _, err := n.Verifier.Verify(ctx, svc.AccessToken); err == nil {
		t.Error("the revoked token is still accepted")
	}

	// Credentials and usage errors.
	env["GATEHOUSE_TOKEN"] = "garbage"
	run(ExitUnauthorized, "apps", "list")
	delete(env, "GATEHOUSE_TOKEN")
	env["GATEHOUSE_CLIENT_SECRET"] = "wrong-" + adminSecret
	run(ExitUnauthorized, "apps", "list")
	env["GATEHOUSE_CLIENT_SECRET"] = adminSecret
	env["GATEHOUSE_TOKEN"] = n.readOnlyToken(t)
	run(ExitOK, "apps", "list")
	run(ExitUnauthorized, "apps", "rotate-secret", appID)
	delete(env, "GATEHOUSE_TOKEN")
	run(ExitUsage, "apps")
	run(ExitUsage, "apps", "fly")
	run(ExitUsage, "apps", "show")
	run(ExitUsage, "apps", "list", "--scopes", "x")
	run(ExitUsage, "apps", "list", "-o", "yaml")
	delete(env, "GATEHOUSE_CLIENT_ID")
	run(ExitUsage, "apps", "list")
}

// readOnlyToken is a token of the admin client with scope admin:read.
func (n *testNode) readOnlyToken(t *testing.T) string {
	t.Helper()
	tok, err := n.ccConfig(gatehouse.AdminClientID, adminSecret, oauth2.AuthStyleInHeader, gatehouse.AdminAudience, gatehouse.AdminReadScope).Token(context.Background())
	if err != nil {
		t.Fatalf("read-only token: %v", err)
	}
	return tok.AccessToken
}
