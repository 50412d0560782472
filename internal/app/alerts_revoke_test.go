package app

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/internal/anomaly"
	"github.com/gatehouse/gatehouse/internal/config"
	"github.com/gatehouse/gatehouse/internal/oauth"
)

// TestAnomalyRevokeOnlyWhatGatehouseOwns: the revoke action never claims
// to revoke a token of an external issuer (Gatehouse cannot), and an
// expired token replayed raises an alert without ending its live grant;
// a revoked token replayed still revokes the grant.
func TestAnomalyRevokeOnlyWhatGatehouseOwns(t *testing.T) {
	up := newUpstream(t)
	hook := newHookReceiver(t, 0)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	idp := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &key.PublicKey, KeyID: "k1", Algorithm: "ES256", Use: "sig"}}})
	}))
	defer idp.Close()
	const idpIssuer = "https://idp.example.test/realms/corp"
	rules := []anomaly.Rule{
		{Name: "stolen-token", Kind: anomaly.KindTokenNetworks, Threshold: 3, Window: time.Hour, Action: anomaly.ActionRevoke},
		{Name: "replay", Kind: anomaly.KindTokenReplay, Threshold: 0, Window: time.Hour, Action: anomaly.ActionRevoke},
	}
	n := gatewayNode(t, up, func(c *config.Config) {
		c.Gateway.AllowPlainHTTPTokens = true
		for i := range rules {
			if err := rules[i].Validate(); err != nil {
				t.Fatal(err)
			}
		}
		c.Anomaly.Rules = rules
		c.Webhooks = []config.Webhook{{Name: "soc", URL: hook.URL, Secret: []byte(hookSecret), Events: []string{"anomaly.*"}, MaxAttempts: 5}}
		c.ExternalIssuers = []gatehouse.ExternalIssuer{{
			Name: "corp", Issuer: idpIssuer, JWKSURI: idp.URL + "/certs", Algorithms: []string{"ES256"},
			Audience: "https://orders.example.test", ScopeClaim: "scope",
			ScopeMap: map[string]string{"orders.read": "orders:read"}, RefreshInterval: time.Hour,
		}}
		for i := range c.APIs {
			if c.APIs[i].Name == "orders" {
				c.APIs[i].ExternalIssuers = []string{"corp"}
			}
		}
	})
	n.addUser(t, "alice")

	t.Run("ExternalTokenIsNotClaimedRevoked", func(t *testing.T) {
		s, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: key}, (&jose.SignerOptions{}).WithType("JWT").WithHeader("kid", "k1"))
		if err != nil {
			t.Fatal(err)
		}
		now := n.clock.Now()
		ext, err := jwt.Signed(s).Claims(map[string]any{
			"iss": idpIssuer, "sub": "user-7", "aud": "https://orders.example.test", "azp": "corp-app",
			"scope": "orders.read", "iat": now.Unix(), "exp": now.Add(5 * time.Minute).Unix(), "jti": "ext-jti-0001",
		}).Serialize()
		if err != nil {
			t.Fatal(err)
		}
		for _, a := range []string{"203.0.113.7", "198.18.0.9", "192.0.2.7", "100.64.1.2"} {
			if resp, _ := n.call(t, "GET", "/orders/1", ext, xff(a)); resp.StatusCode != 200 {
				t.Fatalf("external token from %s: %d", a, resp.StatusCode)
			}
		}
		ev := n.waitEvent(t, "anomaly.token_networks")
		if strings.Contains(ev.Detail, "; revoked") || !strings.Contains(ev.Detail, "revoke it at its issuer") {
			t.Errorf("event detail %q", ev.Detail)
		}
		var ps []string
		eventually(t, "the webhook", func() bool { _, ps, _, _ = hook.all(); return len(ps) > 0 })
		p := hook.byType("anomaly.token_networks")[0]
		if p.Action != "alert" || p.Revoked != "" || p.TokenID != "ext-jti-0001" || strings.Contains(ps[0], `"revoked"`) {
			t.Errorf("payload %s", ps[0])
		}
		// Nothing went into Gatehouse's own revocations under the IdP's jti.
		if n.Revocations.Revoked("ext-jti-0001", "") {
			t.Error("the external jti was written to Gatehouse's revocations")
		}
		if _, err := n.Store.FindTokenByID(t.Context(), "ext-jti-0001"); err == nil {
			t.Error("the external jti is in Gatehouse's token store")
		}
	})

	t.Run("ExpiredTokenReplayAlertsOnly", func(t *testing.T) {
		first := n.grantTokens(t, n.webApp())
		n.clock.Advance(30 * time.Minute) // past expiry and grace
		status, body := n.refresh(t, first.RefreshToken, nil)
		if status != 200 {
			t.Fatalf("refresh: %d %v", status, body)
		}
		at, _ := body["access_token"].(string)
		rt, _ := body["refresh_token"].(string)
		if resp, _ := n.call(t, "GET", "/orders/1", first.AccessToken, xff("192.0.2.60")); resp.StatusCode != 401 {
			t.Fatalf("expired token: %d", resp.StatusCode)
		}
		ev := n.waitEvent(t, "anomaly.token_replay")
		if ev.GrantID == "" || strings.Contains(ev.Detail, "; revoked") || !strings.Contains(ev.Detail, "expired token") {
			t.Errorf("event %+v", ev)
		}
		n.settle(t)
		if resp, _ := n.call(t, "GET", "/orders/1", at, xff("192.0.2.60")); resp.StatusCode != 200 {
			t.Errorf("the grant's current access token after an expired replay: %d", resp.StatusCode)
		}
		if status, body := n.refresh(t, rt, nil); status != 200 {
			t.Errorf("the grant's refresh token after an expired replay: %d %v", status, body)
		}
	})

	t.Run("RevokedTokenReplayRevokesTheGrant", func(t *testing.T) {
		first := n.grantTokens(t, n.webApp())
		postForm(t, n.Issuer+oauth.PathRevoke, url.Values{"token": {first.AccessToken}}, func(r *http.Request) {
			r.SetBasicAuth("web-app", url.QueryEscape(webSecret))
		})
		// The grant itself is still alive: its refresh token works.
		status, body := n.refresh(t, first.RefreshToken, nil)
		if status != 200 {
			t.Fatalf("refresh after revoking the access token: %d %v", status, body)
		}
		rt, _ := body["refresh_token"].(string)
		before := len(n.events(t, "anomaly.token_replay"))
		if resp, _ := n.call(t, "GET", "/orders/1", first.AccessToken, xff("192.0.2.61")); resp.StatusCode != 401 {
			t.Fatalf("revoked token: %d", resp.StatusCode)
		}
		eventually(t, "a replay event", func() bool { return len(n.events(t, "anomaly.token_replay")) > before })
		n.settle(t)
		if status, _ := n.refresh(t, rt, nil); status != 400 {
			t.Errorf("refresh token of a grant whose revoked token was replayed: %d, want 400", status)
		}
	})
}
