package app

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	jose "github.com/go-jose/go-jose/v4"
	"golang.org/x/oauth2"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/internal/oauth"
)

// TestKeyBoundAdminTokenRefused: an admin token bound to a DPoP key, as the
// token endpoint issues it, is refused as a plain bearer token by the admin
// API and as an initial access token at /oauth/register: neither checks a
// proof, so accepting it would drop the binding. An unbound admin token
// still works at both.
func TestKeyBoundAdminTokenRefused(t *testing.T) {
	n := startNode(t)
	key := newDPoPKey(t, jose.ES256, n.clock.Now)
	ctx, _ := dpopContext(t, key)
	tok, err := n.ccConfig(gatehouse.AdminClientID, adminSecret, oauth2.AuthStyleInHeader, gatehouse.AdminAudience, gatehouse.AdminScope).Token(ctx)
	if err != nil {
		t.Fatalf("DPoP admin token: %v", err)
	}
	if !strings.EqualFold(tok.TokenType, "DPoP") || n.jwtCnf(t, tok.AccessToken)["jkt"] != key.jkt {
		t.Fatalf("the token is not DPoP-bound: type %q cnf %v", tok.TokenType, n.jwtCnf(t, tok.AccessToken))
	}
	plain := n.adminToken(t)

	status, body, hdr := n.adminCall(t, "GET", "/admin/v1/apps", tok.AccessToken, "")
	if status != http.StatusUnauthorized || !bytes.Contains(body, []byte("key-bound tokens are not accepted here")) ||
		!strings.Contains(hdr.Get("WWW-Authenticate"), `error="invalid_token"`) {
		t.Errorf("admin API with a DPoP-bound token as bearer: %d %s %q", status, body, hdr.Get("WWW-Authenticate"))
	}
	if status, body, _ := n.adminCall(t, "GET", "/admin/v1/apps", plain, ""); status != http.StatusOK {
		t.Errorf("admin API with a bearer token: %d %s", status, body)
	}

	register := func(tok string) (int, map[string]any) {
		req, _ := http.NewRequest(http.MethodPost, n.Issuer+oauth.PathRegister,
			strings.NewReader(`{"grant_types":["client_credentials"],"scope":"orders:read"}`))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+tok)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var m map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&m)
		return resp.StatusCode, m
	}
	if status, m := register(tok.AccessToken); status != http.StatusUnauthorized || m["error"] != "invalid_token" ||
		!strings.Contains(m["error_description"].(string), "key-bound") {
		t.Errorf("register with a DPoP-bound token as bearer: %d %v", status, m)
	}
	if status, m := register(plain); status != http.StatusCreated {
		t.Errorf("register with a bearer token: %d %v", status, m)
	}
}

// TestAPIKeyCredentialFromAdminAPI: an api_key credential made through the
// admin API is issued like every API key (Node.IssueAPIKey): refused
// without an approved subscription, and once issued it authenticates at
// the gateway.
func TestAPIKeyCredentialFromAdminAPI(t *testing.T) {
	n, _ := ledgerNode(t)
	adm := n.adminToken(t)
	call := func(method, path, body string, want int) map[string]any {
		t.Helper()
		status, b, _ := n.adminCall(t, method, path, adm, body)
		if status != want {
			t.Fatalf("%s %s: %d, want %d: %s", method, path, status, want, b)
		}
		var m map[string]any
		_ = json.Unmarshal(b, &m)
		return m
	}
	app := call("POST", "/admin/v1/apps", `{"name":"Keys","team":"blue"}`, 201)["id"].(string)
	if p := call("POST", "/admin/v1/apps/"+app+"/credentials", `{"kind":"api_key","api":"ledger"}`, 422); p["field"] != "api" {
		t.Errorf("a key without a subscription: %v", p)
	}
	sub := call("POST", "/admin/v1/subscriptions", `{"app_id":"`+app+`","api":"ledger"}`, 201)["id"].(string)
	call("POST", "/admin/v1/subscriptions/"+sub+"/approve", `{"scopes":["ledger:read"]}`, 200)
	c := call("POST", "/admin/v1/apps/"+app+"/credentials", `{"kind":"api_key","api":"ledger","label":"ci"}`, 201)
	key, _ := c["secret"].(string)
	if !strings.HasPrefix(key, "ghk_") || c["kind"] != "api_key" || c["expires_at"] == nil {
		t.Fatalf("credential %v", c)
	}
	resp, _ := n.call(t, "GET", "/ledger-key/1", "", map[string]string{"X-API-Key": key})
	if resp.StatusCode != 200 {
		t.Fatalf("the key at the gateway: %d", resp.StatusCode)
	}
	call("POST", "/admin/v1/apps/"+app+"/credentials/"+c["id"].(string)+"/revoke", `{"reason":"test"}`, 200)
	if resp, _ := n.call(t, "GET", "/ledger-key/1", "", map[string]string{"X-API-Key": key}); resp.StatusCode != 401 {
		t.Errorf("the revoked key at the gateway: %d", resp.StatusCode)
	}
}
