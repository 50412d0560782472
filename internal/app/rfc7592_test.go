package app

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"golang.org/x/oauth2"
)

// jsonCall sends a JSON request and returns the status and decoded body.
func jsonCall(t *testing.T, method, u, tok, body string, headers ...string) (int, map[string]any) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, u, rd)
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var m map[string]any
	_ = json.Unmarshal(raw, &m)
	return resp.StatusCode, m
}

// TestClientConfigurationEndpoint drives RFC 7592 on a whole node: a
// registered client reads, updates and deletes its own registration with
// its registration access token, and nothing else opens that door.
func TestClientConfigurationEndpoint(t *testing.T) {
	n := startNode(t)
	ctx := context.Background()
	register := func(meta string) map[string]any {
		status, body := jsonCall(t, "POST", n.PublicURL+"/oauth/register", n.adminToken(t), meta)
		if status != 201 {
			t.Fatalf("register: %d %v", status, body)
		}
		return body
	}
	reg := register(`{"client_name":"Reports","grant_types":["client_credentials"],"scope":"orders:read"}`)
	other := register(`{"client_name":"Other","grant_types":["client_credentials"],"scope":"orders:read"}`)
	id, secret := reg["client_id"].(string), reg["client_secret"].(string)
	mgmt, _ := reg["registration_access_token"].(string)
	uri, _ := reg["registration_client_uri"].(string)
	if !strings.HasPrefix(mgmt, "ghm_") || uri != n.Issuer+"/oauth/register/"+id {
		t.Fatalf("registration response lacks RFC 7592 members: %v", reg)
	}

	status, got := jsonCall(t, "GET", uri, mgmt, "")
	if status != 200 || got["client_id"] != id || got["client_name"] != "Reports" || got["scope"] != "orders:read" {
		t.Fatalf("read: %d %v", status, got)
	}
	if _, ok := got["client_secret"]; ok {
		t.Error("read shows the client secret")
	}
	for name, tc := range map[string]struct{ uri, tok string }{
		"NoToken":         {uri, ""},
		"AdminToken":      {uri, n.adminToken(t)},
		"OtherClients":    {uri, other["registration_access_token"].(string)},
		"OnOtherClient":   {n.Issuer + "/oauth/register/" + other["client_id"].(string), mgmt},
		"UnknownClient":   {n.Issuer + "/oauth/register/nope", mgmt},
		"ClientSecret":    {uri, secret},
		"ConfigClient":    {n.Issuer + "/oauth/register/svc-basic", mgmt},
		"InitialAccessTk": {uri, n.adminToken(t)},
	} {
		if status, body := jsonCall(t, "GET", tc.uri, tc.tok, ""); status != 401 || body["error"] != "invalid_token" {
			t.Errorf("%s: %d %v", name, status, body)
		}
	}

	old, err := n.ccConfig(id, secret, oauth2.AuthStyleInHeader, "", "orders:read").Token(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// Bad updates are refused and change nothing.
	for name, body := range map[string]string{
		"NoClientID":       `{"client_name":"X","grant_types":["client_credentials"]}`,
		"OtherClientID":    `{"client_id":"` + other["client_id"].(string) + `","grant_types":["client_credentials"]}`,
		"BadGrant":         `{"client_id":"` + id + `","grant_types":["password"]}`,
		"WrongSecret":      `{"client_id":"` + id + `","client_secret":"ghs_wrong","grant_types":["client_credentials"]}`,
		"SendsToken":       `{"client_id":"` + id + `","registration_access_token":"` + mgmt + `","grant_types":["client_credentials"]}`,
		"UnknownScope":     `{"client_id":"` + id + `","grant_types":["client_credentials"],"scope":"admin"}`,
		"Malformed":        `{"client_id":`,
		"DuplicateMembers": `{"client_id":"` + id + `","client_id":"x"}`,
	} {
		status, resp := jsonCall(t, "PUT", uri, mgmt, body)
		if status != 400 || (resp["error"] != "invalid_request" && resp["error"] != "invalid_client_metadata") {
			t.Errorf("%s: %d %v", name, status, resp)
		}
	}
	if _, got := jsonCall(t, "GET", uri, mgmt, ""); got["client_name"] != "Reports" {
		t.Errorf("a refused update changed the client: %v", got)
	}

	// A good update replaces the metadata and the registration token.
	status, upd := jsonCall(t, "PUT", uri, mgmt, `{"client_id":"`+id+`","client_secret":"`+secret+`","client_name":"Reports v2","grant_types":["client_credentials"],"scope":"orders:read billing:read"}`)
	if status != 200 || upd["client_name"] != "Reports v2" || upd["scope"] != "orders:read billing:read" {
		t.Fatalf("update: %d %v", status, upd)
	}
	if _, ok := upd["client_secret"]; ok {
		t.Error("an update that keeps the method showed a secret")
	}
	mgmt2, _ := upd["registration_access_token"].(string)
	if !strings.HasPrefix(mgmt2, "ghm_") || mgmt2 == mgmt {
		t.Fatalf("update did not rotate the registration access token: %v", upd)
	}
	if status, _ := jsonCall(t, "GET", uri, mgmt, ""); status != 401 {
		t.Errorf("the old registration access token still works: %d", status)
	}
	if _, err := n.ccConfig(id, secret, oauth2.AuthStyleInHeader, "https://billing.example.test", "billing:read").Token(ctx); err != nil {
		t.Errorf("token for the newly allowed API: %v", err)
	}

	// Delete: the client stops, and so do its tokens, at once.
	if _, err := n.Verifier.Verify(ctx, old.AccessToken); err != nil {
		t.Fatalf("token before delete: %v", err)
	}
	if status, _ := jsonCall(t, "DELETE", uri, mgmt2, ""); status != 204 {
		t.Fatalf("delete: %d", status)
	}
	if _, err := n.Verifier.Verify(ctx, old.AccessToken); err == nil {
		t.Error("the deleted client's token is still accepted")
	}
	if _, err := n.ccConfig(id, secret, oauth2.AuthStyleInHeader, "", "orders:read").Token(ctx); err == nil {
		t.Error("the deleted client still gets tokens")
	}
	if status, _ := jsonCall(t, "GET", uri, mgmt2, ""); status != 401 {
		t.Errorf("read after delete: %d", status)
	}
	if status, body := jsonCall(t, "POST", uri, mgmt2, "{}"); status != 405 {
		t.Errorf("POST on the configuration endpoint: %d %v", status, body)
	}
}
