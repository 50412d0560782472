package app

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/internal/config"
	"github.com/gatehouse/gatehouse/internal/idle"
)

// TestIdleRevocation: with a 2 h idle limit on the orders API, a grant and
// an API key nobody used are revoked once the clock passes the limit, and
// the gateway refuses their tokens at once; a grant in use stays.
func TestIdleRevocation(t *testing.T) {
	up := newUpstream(t)
	hook := newHookReceiver(t, 0)
	n := gatewayNode(t, up, func(c *config.Config) {
		c.Idle = config.IdleConfig{APIs: map[string]time.Duration{"orders": 2 * time.Hour}}
		// The idle grant is never used after it is made (a refresh counts
		// as a use), so its first tokens must outlive the idle limit for
		// the test to see them refused because of the sweep.
		c.Tokens.AccessTokenTTL = 3 * time.Hour
		c.Tokens.RefreshTokenIdleTTL = 24 * time.Hour
		c.Webhooks = []config.Webhook{{Name: "soc", URL: hook.URL, Secret: []byte(hookSecret), Events: []string{gatehouse.EventIdleRevoked}}}
		for i := range c.APIs {
			if c.APIs[i].Name == "orders" {
				c.APIs[i].Routes = append(c.APIs[i].Routes, gatehouse.Route{Path: "/keyed/*", Credential: gatehouse.CredentialAPIKey, Scopes: []string{"orders:read"}})
			}
		}
	})
	n.addUser(t, "alice")
	ctx := context.Background()
	start := n.clock.Now()

	idleGrant := n.grantTokens(t, n.webApp())
	usedGrant := n.grantTokens(t, n.webApp())
	status, k := n.adminJSON(t, "POST", "/admin/v1/api-keys", `{"client_id":"svc-basic","api":"orders","scopes":["orders:read"],"expires_in":2592000}`)
	key, _ := k["api_key"].(string)
	if status != 201 || key == "" {
		t.Fatalf("create API key: %d %v", status, k)
	}
	idleID, usedID := grantOf(t, n, idleGrant.AccessToken), grantOf(t, n, usedGrant.AccessToken)

	// usedGrant's app refreshes (a use of its grant); idleGrant's does
	// nothing at all.
	n.clock.Advance(59 * time.Minute)
	status, usedMid := n.refresh(t, usedGrant.RefreshToken, nil)
	if status != 200 {
		t.Fatalf("refresh: %d %v", status, usedMid)
	}
	// usedGrant's app calls the API at 110 min; the usage tracker writes
	// the use (it flushes every few seconds; the test flushes now).
	n.clock.Advance(51 * time.Minute)
	status, usedNow := n.refresh(t, usedMid["refresh_token"].(string), nil)
	if status != 200 {
		t.Fatalf("refresh: %d %v", status, usedNow)
	}
	if resp, _ := n.call(t, "GET", "/orders/1", usedNow["access_token"].(string), nil); resp.StatusCode != 200 {
		t.Fatalf("used grant: %d", resp.StatusCode)
	}
	if err := n.watch.usage.Flush(ctx); err != nil {
		t.Fatal(err)
	}

	t.Run("ListedBeforehand", func(t *testing.T) {
		status, body := n.adminJSON(t, "GET", "/admin/v1/tokens/stale?within=15m", "")
		if status != 200 {
			t.Fatalf("stale: %d %v", status, body)
		}
		got := map[string]string{}
		for _, e := range body["stale"].([]any) {
			m := e.(map[string]any)
			got[m["kind"].(string)+" "+m["id"].(string)] = m["revoke_at"].(string)
		}
		wantAt := start.Add(2 * time.Hour).UTC()
		for _, want := range []string{"grant " + idleID, "api_key " + keyID(t, n, key)} {
			at, ok := got[want]
			if !ok {
				t.Fatalf("%s not listed as stale: %v", want, got)
			}
			if ts, _ := time.Parse(time.RFC3339Nano, at); ts.Sub(wantAt).Abs() > time.Second {
				t.Errorf("%s revoke_at %s, want about %s", want, at, wantAt)
			}
		}
		if _, ok := got["grant "+usedID]; ok {
			t.Errorf("the grant in use is listed: %v", got)
		}
		if status, _ := n.adminJSON(t, "GET", "/admin/v1/tokens/stale?within=soon", ""); status != 400 {
			t.Errorf("bad within: %d", status)
		}
		if status, _ := n.adminJSON(t, "GET", "/admin/v1/tokens/stale?within=1h&x=", ""); status != 200 {
			t.Errorf("within=1h: %d", status)
		}
	})

	t.Run("CLI", func(t *testing.T) {
		dir := t.TempDir()
		cfgPath := filepath.Join(dir, "gatehouse.yaml")
		if err := os.WriteFile(cfgPath, []byte(testConfig+"idle:\n  apis:\n    orders: 2h\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		jwks, err := os.ReadFile(filepath.Join(filepath.Dir(n.dataDir), "client-jwks.json"))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "client-jwks.json"), jwks, 0o600); err != nil {
			t.Fatal(err)
		}
		env := mapEnv(map[string]string{"BASIC_SECRET": basicSecret, "POST_SECRET": postSecret, "WEB_SECRET": webSecret, "RS_SECRET": rsSecret})
		var out, errb bytes.Buffer
		// The CLI reads the wall clock; the node's clock is 110 min ahead.
		within := (2*time.Hour + 10*time.Minute).String()
		if c := Main(ctx, []string{"tokens", "stale", "--within", within, "-o", "json", "--config", cfgPath, "--data", n.dataDir}, env, nil, &out, &errb); c != ExitOK {
			t.Fatalf("exit %d: %s", c, errb.String())
		}
		var entries []idle.Entry
		if err := json.Unmarshal(out.Bytes(), &entries); err != nil {
			t.Fatalf("%v: %s", err, out.String())
		}
		kinds := map[string]bool{}
		for _, e := range entries {
			kinds[e.Kind+" "+e.ID] = true
		}
		// usedGrant was used 110 min after the wall clock's now: not idle.
		if !kinds["grant "+idleID] || kinds["grant "+usedID] || len(entries) != 2 {
			t.Errorf("entries %+v", entries)
		}
		out.Reset()
		if c := Main(ctx, []string{"tokens", "stale", "--config", cfgPath, "--data", n.dataDir}, env, nil, &out, &errb); c != ExitOK || !strings.Contains(out.String(), "nothing idle revocation takes") {
			t.Errorf("table, nothing due: exit %d %q %q", c, out.String(), errb.String())
		}
		if c := Main(ctx, []string{"tokens", "stale", "-o", "yaml"}, env, nil, &out, &errb); c != ExitUsage {
			t.Errorf("-o yaml: exit %d", c)
		}
	})

	// Just before the limit, the idle grant's first tokens are still good.
	n.clock.Advance(5 * time.Minute)
	freshAccess := idleGrant.AccessToken
	// Valid before the limit (checked without using them at the gateway,
	// which would count as a use).
	if _, err := n.Verifier.Verify(ctx, freshAccess); err != nil {
		t.Fatalf("fresh token before the limit: %v", err)
	}
	if _, err := n.Verifier.VerifyAPIKey(ctx, key); err != nil {
		t.Fatalf("API key before the limit: %v", err)
	}
	if got, err := n.idle.Sweep(ctx); err != nil || got != 0 {
		t.Fatalf("sweep before the limit revoked %d (%v)", got, err)
	}

	n.clock.Advance(6 * time.Minute) // 2h01m after the grants were made
	if err := n.watch.usage.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	revoked, err := n.idle.Sweep(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if revoked != 2 {
		t.Errorf("sweep revoked %d credentials, want the idle grant and the key", revoked)
	}
	if resp, _ := n.call(t, "GET", "/orders/1", freshAccess, nil); resp.StatusCode != 401 {
		t.Errorf("token of the idle grant after the sweep: %d", resp.StatusCode)
	}
	if status, _ := n.refresh(t, idleGrant.RefreshToken, nil); status != 400 {
		t.Errorf("refresh of the idle grant after the sweep: %d", status)
	}
	if resp, _ := n.call(t, "GET", "/keyed/1", "", map[string]string{"X-API-Key": key}); resp.StatusCode != 401 {
		t.Errorf("idle API key after the sweep: %d", resp.StatusCode)
	}
	if g, err := n.Store.FindGrantByID(ctx, usedID); err != nil || !g.RevokedAt.IsZero() {
		t.Errorf("the grant in use was revoked: %+v %v", g, err)
	}
	events := n.events(t, gatehouse.EventIdleRevoked)
	if len(events) != 2 {
		t.Fatalf("%d idle events, want 2: %+v", len(events), events)
	}
	var grantEvent *gatehouse.SecurityEvent
	for _, e := range events {
		if e.GrantID == idleID {
			grantEvent = e
		}
	}
	if grantEvent == nil || grantEvent.ClientID != "web-app" || !strings.Contains(grantEvent.Detail, "never used") || !strings.Contains(grantEvent.Detail, "api orders") {
		t.Errorf("grant event %+v", grantEvent)
	}
	// The webhook that asked for idle revocations gets both, signed.
	eventually(t, "two idle_revoked webhooks", func() bool { return len(hook.byType(gatehouse.EventIdleRevoked)) == 2 })
	if _, _, bad, _ := hook.all(); bad != 0 {
		t.Errorf("%d deliveries with a bad signature", bad)
	}
}

// adminJSON calls the admin API with an admin token.
func (n *testNode) adminJSON(t *testing.T, method, path, body string) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(method, n.AdminURL+path, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+n.adminToken(t))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&m)
	return resp.StatusCode, m
}

// grantOf returns the grant id of an access token Gatehouse issued.
func grantOf(t *testing.T, n *testNode, tok string) string {
	t.Helper()
	c, err := n.Verifier.Verify(context.Background(), tok)
	if err != nil || c.GrantID == "" {
		t.Fatalf("verify: %v", err)
	}
	return c.GrantID
}

// keyID returns the id of an API key Gatehouse issued.
func keyID(t *testing.T, n *testNode, key string) string {
	t.Helper()
	c, err := n.Verifier.VerifyAPIKey(context.Background(), key)
	if err != nil {
		t.Fatalf("verify key: %v", err)
	}
	return c.ID
}
