package app

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/internal/config"
	"github.com/gatehouse/gatehouse/internal/oauth"
	"golang.org/x/oauth2"
)

const (
	grantExchange   = "urn:ietf:params:oauth:grant-type:token-exchange"
	typeAccessToken = "urn:ietf:params:oauth:token-type:access_token"
	inventoryAud    = "https://inventory.example.test"
	warehouseAud    = "https://warehouse.example.test"
)

// exchangeNode is a gateway node with two more APIs and the services that
// exchange tokens between them: orders-svc may exchange orders tokens for
// inventory tokens, inventory-svc inventory tokens for warehouse tokens.
func exchangeNode(t *testing.T, up *upstream, more ...func(*config.Config)) *testNode {
	t.Helper()
	return gatewayNode(t, up, func(c *config.Config) {
		defer func() {
			for _, f := range more {
				f(c)
			}
		}()
		for _, a := range []gatehouse.API{
			{Name: "inventory", Audience: inventoryAud, Scopes: []string{"orders:read", "orders:write", "inventory:audit"},
				Routes: []gatehouse.Route{{Path: "/inventory/*", Scopes: []string{"orders:read"}, Credential: gatehouse.CredentialBearer}}},
			{Name: "warehouse", Audience: warehouseAud, Scopes: []string{"orders:read"},
				Routes: []gatehouse.Route{{Path: "/warehouse/*", Scopes: []string{"orders:read"}, Credential: gatehouse.CredentialBearer}}},
		} {
			a.Upstream.Targets = []string{up.URL}
			a.UpstreamAuth.IdentityHeaders = true
			c.APIs = append(c.APIs, a)
		}
		svc := func(id string, grants []string, access []gatehouse.Access, rules []gatehouse.ExchangeRule) config.Client {
			return config.Client{Client: gatehouse.Client{ID: id, AuthMethod: gatehouse.AuthSecretBasic, SecretHash: gatehouse.HashSecret(basicSecret),
				GrantTypes: grants, Access: access, TokenExchange: rules}}
		}
		both := []string{gatehouse.GrantClientCredentials, grantExchange}
		opaque := svc("opaque-svc", both, []gatehouse.Access{{API: "inventory", Scopes: []string{"orders:read"}}},
			[]gatehouse.ExchangeRule{{From: "orders", To: []string{"inventory"}}})
		opaque.TokenFormat = gatehouse.FormatOpaque
		c.Clients = append(c.Clients,
			svc("orders-svc", both, []gatehouse.Access{
				{API: "orders", Scopes: []string{"orders:read"}},
				{API: "inventory", Scopes: []string{"orders:read", "inventory:audit"}},
			}, []gatehouse.ExchangeRule{{From: "orders", To: []string{"inventory"}}}),
			svc("inventory-svc", []string{grantExchange}, []gatehouse.Access{
				{API: "inventory", Scopes: []string{"orders:read"}},
				{API: "warehouse", Scopes: []string{"orders:read"}},
			}, []gatehouse.ExchangeRule{{From: "inventory", To: []string{"warehouse"}}}),
			svc("no-exchange-svc", []string{gatehouse.GrantClientCredentials}, []gatehouse.Access{{API: "inventory", Scopes: []string{"orders:read"}}}, nil),
			opaque,
		)
	})
}

// exchange posts a token exchange request as client (plain net/http:
// golang.org/x/oauth2 has no token exchange).
func (n *testNode) exchange(t *testing.T, client, subject string, extra url.Values) (int, map[string]any) {
	t.Helper()
	form := url.Values{"grant_type": {grantExchange}, "subject_token": {subject}, "subject_token_type": {typeAccessToken}}
	for k, v := range extra {
		form[k] = v
	}
	status, body, _ := postForm(t, n.Issuer+oauth.PathToken, form, func(r *http.Request) {
		r.SetBasicAuth(client, url.QueryEscape(basicSecret))
	})
	return status, body
}

// actClaim is the RFC 8693 act claim as go-jose reads it.
type actClaim struct {
	Sub string    `json:"sub"`
	Act *actClaim `json:"act"`
}

type exchangedClaims struct {
	independentClaims
	GrantID string    `json:"grant_id"`
	Act     *actClaim `json:"act"`
}

func chainOf(a *actClaim) []string {
	var out []string
	for ; a != nil; a = a.Act {
		out = append(out, a.Sub)
	}
	return out
}

func TestTokenExchange(t *testing.T) {
	up := newUpstream(t)
	n := exchangeNode(t, up)
	subject := n.ordersToken(t, "orders:read", "orders:write")
	var subjectClaims independentClaims
	n.claimsOf(t, subject, &subjectClaims)

	t.Run("NarrowedByDefault", func(t *testing.T) {
		status, body := n.exchange(t, "orders-svc", subject, url.Values{"resource": {inventoryAud}})
		if status != 200 {
			t.Fatalf("%d %v", status, body)
		}
		// orders:write is the subject's but not the client's on inventory;
		// inventory:audit is the client's but not the subject's.
		if body["scope"] != "orders:read" || body["issued_token_type"] != typeAccessToken || body["token_type"] != "Bearer" || body["refresh_token"] != nil {
			t.Fatalf("response %v", body)
		}
		tok := body["access_token"].(string)
		var c exchangedClaims
		n.claimsOf(t, tok, &c)
		if c.Subject != "svc-basic" || c.ClientID != "orders-svc" || len(c.Audience) != 1 || c.Audience[0] != inventoryAud {
			t.Errorf("claims sub %s client %s aud %v", c.Subject, c.ClientID, c.Audience)
		}
		if got := chainOf(c.Act); strings.Join(got, ",") != "orders-svc" {
			t.Errorf("act chain %v, want [orders-svc]", got)
		}
		if c.Expiry.Time().After(subjectClaims.Expiry.Time()) {
			t.Errorf("exchanged token outlives its subject token: %v > %v", c.Expiry.Time(), subjectClaims.Expiry.Time())
		}
		resp, _ := n.call(t, "GET", "/inventory/1", tok, nil)
		if resp.StatusCode != 200 {
			t.Fatalf("gateway: %d", resp.StatusCode)
		}
		if got := up.last().Header; got.Get("X-Gatehouse-Actor") != "orders-svc" || got.Get("X-Gatehouse-Subject") != "svc-basic" || got.Get("X-Gatehouse-Client-Id") != "orders-svc" {
			t.Errorf("identity headers upstream: actor %q subject %q client %q", got.Get("X-Gatehouse-Actor"), got.Get("X-Gatehouse-Subject"), got.Get("X-Gatehouse-Client-Id"))
		}
		if resp, _ := n.call(t, "GET", "/orders/1", tok, nil); resp.StatusCode != 401 {
			t.Errorf("exchanged token at the original API: %d", resp.StatusCode)
		}
		// The exchanging client may introspect its token and sees the chain.
		_, in, _ := postForm(t, n.Issuer+oauth.PathIntrospect, url.Values{"token": {tok}}, func(r *http.Request) {
			r.SetBasicAuth("orders-svc", url.QueryEscape(basicSecret))
		})
		if act, _ := in["act"].(map[string]any); in["active"] != true || act["sub"] != "orders-svc" {
			t.Errorf("introspection %v", in)
		}
	})

	t.Run("ForgedActorHeaderDropped", func(t *testing.T) {
		resp, _ := n.call(t, "GET", "/orders/1", subject, map[string]string{"X-Gatehouse-Actor": "admin"})
		if resp.StatusCode != 200 || up.last().Header.Get("X-Gatehouse-Actor") != "" {
			t.Errorf("a client-supplied actor header reached the upstream: %d %q", resp.StatusCode, up.last().Header.Get("X-Gatehouse-Actor"))
		}
	})

	for _, tc := range []struct {
		name      string
		client    string
		extra     url.Values
		wantCode  string // "" for success
		wantScope string
	}{
		{"AudienceByName", "orders-svc", url.Values{"audience": {"inventory"}}, "", "orders:read"},
		{"AudienceByURI", "orders-svc", url.Values{"audience": {inventoryAud}}, "", "orders:read"},
		{"OnlyTargetByDefault", "orders-svc", nil, "", "orders:read"},
		{"NarrowExplicitly", "orders-svc", url.Values{"resource": {inventoryAud}, "scope": {"orders:read"}}, "", "orders:read"},
		{"WidenBeyondClient", "orders-svc", url.Values{"resource": {inventoryAud}, "scope": {"orders:write"}}, "invalid_scope", ""},
		{"WidenBeyondSubject", "orders-svc", url.Values{"resource": {inventoryAud}, "scope": {"orders:read inventory:audit"}}, "invalid_scope", ""},
		{"ResourceAndAudienceDisagree", "orders-svc", url.Values{"resource": {inventoryAud}, "audience": {"warehouse"}}, "invalid_target", ""},
		{"UnknownResource", "orders-svc", url.Values{"resource": {"https://nope.example.test"}}, "invalid_target", ""},
		{"NoRuleForTarget", "orders-svc", url.Values{"resource": {warehouseAud}}, "unauthorized_client", ""},
		{"NoRuleForSource", "inventory-svc", url.Values{"resource": {warehouseAud}}, "unauthorized_client", ""},
		{"GrantNotAllowed", "no-exchange-svc", url.Values{"resource": {inventoryAud}}, "unauthorized_client", ""},
		{"SubjectTokenTypeJWT", "orders-svc", url.Values{"subject_token_type": {"urn:ietf:params:oauth:token-type:jwt"}}, "invalid_request", ""},
		{"SubjectTokenTypeMissing", "orders-svc", url.Values{"subject_token_type": {""}}, "invalid_request", ""},
		{"RequestedRefreshToken", "orders-svc", url.Values{"requested_token_type": {"urn:ietf:params:oauth:token-type:refresh_token"}}, "invalid_request", ""},
		{"ActorTokenWithoutType", "orders-svc", url.Values{"actor_token": {subject}}, "invalid_request", ""},
		{"ActorTokenOfAnotherClient", "orders-svc", url.Values{"actor_token": {subject}, "actor_token_type": {typeAccessToken}}, "invalid_request", ""},
		{"ActorTokenGarbage", "orders-svc", url.Values{"actor_token": {"eyJhbGciOiJub25lIn0.e30."}, "actor_token_type": {typeAccessToken}}, "invalid_request", ""},
		{"SubjectTokenGarbage", "orders-svc", url.Values{"subject_token": {"eyJhbGciOiJub25lIn0.e30."}}, "invalid_request", ""},
		{"SubjectTokenMissing", "orders-svc", url.Values{"subject_token": {""}}, "invalid_request", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, body := n.exchange(t, tc.client, subject, tc.extra)
			if tc.wantCode != "" {
				if status != 400 || body["error"] != tc.wantCode {
					t.Fatalf("got %d %v, want 400 %s", status, body, tc.wantCode)
				}
				return
			}
			if status != 200 || body["scope"] != tc.wantScope {
				t.Fatalf("got %d %v", status, body)
			}
		})
	}

	t.Run("ActorToken", func(t *testing.T) {
		// The exchanging client's own token names the actor.
		own, err := n.ccConfig("orders-svc", basicSecret, 0, "https://orders.example.test", "orders:read").Token(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		status, body := n.exchange(t, "orders-svc", subject, url.Values{"actor_token": {own.AccessToken}, "actor_token_type": {typeAccessToken}})
		if status != 200 {
			t.Fatalf("%d %v", status, body)
		}
		var c exchangedClaims
		n.claimsOf(t, body["access_token"].(string), &c)
		if got := chainOf(c.Act); len(got) != 1 || got[0] != "orders-svc" {
			t.Errorf("act chain %v", got)
		}
	})

	t.Run("DoubleExchangeNestsActors", func(t *testing.T) {
		_, body := n.exchange(t, "orders-svc", subject, url.Values{"resource": {inventoryAud}})
		first := body["access_token"].(string)
		status, body := n.exchange(t, "inventory-svc", first, url.Values{"resource": {warehouseAud}})
		if status != 200 {
			t.Fatalf("%d %v", status, body)
		}
		second := body["access_token"].(string)
		var c exchangedClaims
		n.claimsOf(t, second, &c)
		if got := strings.Join(chainOf(c.Act), ","); got != "inventory-svc,orders-svc" || c.Subject != "svc-basic" || c.ClientID != "inventory-svc" {
			t.Errorf("act chain %s, sub %s, client %s", got, c.Subject, c.ClientID)
		}
		if resp, _ := n.call(t, "GET", "/warehouse/1", second, nil); resp.StatusCode != 200 || up.last().Header.Get("X-Gatehouse-Actor") != "inventory-svc,orders-svc" {
			t.Errorf("gateway %d, actor header %q", resp.StatusCode, up.last().Header.Get("X-Gatehouse-Actor"))
		}
		// The exchanged token cannot be exchanged back by someone without a
		// rule for it.
		if status, body := n.exchange(t, "orders-svc", second, url.Values{"resource": {inventoryAud}}); status != 400 || body["error"] != "unauthorized_client" {
			t.Errorf("re-exchange without a rule: %d %v", status, body)
		}
	})

	t.Run("OpaqueKeepsChain", func(t *testing.T) {
		status, body := n.exchange(t, "opaque-svc", subject, nil)
		if status != 200 || !strings.HasPrefix(body["access_token"].(string), "gha_") {
			t.Fatalf("%d %v", status, body)
		}
		tok := body["access_token"].(string)
		_, in, _ := postForm(t, n.Issuer+oauth.PathIntrospect, url.Values{"token": {tok}}, func(r *http.Request) {
			r.SetBasicAuth("opaque-svc", url.QueryEscape(basicSecret))
		})
		if act, _ := in["act"].(map[string]any); in["active"] != true || act["sub"] != "opaque-svc" || in["sub"] != "svc-basic" {
			t.Errorf("introspection %v", in)
		}
		if resp, _ := n.call(t, "GET", "/inventory/1", tok, nil); resp.StatusCode != 200 || up.last().Header.Get("X-Gatehouse-Actor") != "opaque-svc" {
			t.Errorf("gateway %d, actor header %q", resp.StatusCode, up.last().Header.Get("X-Gatehouse-Actor"))
		}
	})

	t.Run("LifetimeBoundBySubject", func(t *testing.T) {
		n.clock.Advance(8 * time.Minute) // the subject token has 10 minutes
		status, body := n.exchange(t, "orders-svc", subject, nil)
		if status != 200 {
			t.Fatalf("%d %v", status, body)
		}
		if exp := body["expires_in"].(float64); exp > 121 {
			t.Errorf("expires_in %v, beyond the subject token's remaining life", exp)
		}
		n.clock.Advance(3 * time.Minute)
		// RFC 8693 section 2.2.2: an invalid subject token is invalid_request.
		if status, body := n.exchange(t, "orders-svc", subject, nil); status != 400 || body["error"] != "invalid_request" {
			t.Errorf("expired subject token: %d %v", status, body)
		}
	})
}

// TestTokenExchangeActorIsTheClient: the actor token must be the exchanging
// client's own client credentials token. An exchanged token issued to the
// client (its sub is someone else, and it carries act) or a user's token
// issued to it would otherwise put another identity into act.
func TestTokenExchangeActorIsTheClient(t *testing.T) {
	up := newUpstream(t)
	n := exchangeNode(t, up, func(c *config.Config) {
		for i := range c.Clients {
			if cl := &c.Clients[i]; cl.ID == "web-app" {
				cl.GrantTypes = append(cl.GrantTypes, grantExchange)
				cl.Access = append(cl.Access, gatehouse.Access{API: "inventory", Scopes: []string{"orders:read"}})
				cl.TokenExchange = []gatehouse.ExchangeRule{{From: "orders", To: []string{"inventory"}}}
			}
		}
	})
	n.addUser(t, "alice")
	subject := n.ordersToken(t, "orders:read")
	actorToken := func(tok string) url.Values {
		return url.Values{"resource": {inventoryAud}, "actor_token": {tok}, "actor_token_type": {typeAccessToken}}
	}

	t.Run("ExchangedTokenOfTheClient", func(t *testing.T) {
		status, body := n.exchange(t, "orders-svc", subject, url.Values{"resource": {inventoryAud}})
		if status != 200 {
			t.Fatalf("%d %v", status, body)
		}
		e1 := body["access_token"].(string) // client orders-svc, sub svc-basic
		if status, body := n.exchange(t, "orders-svc", subject, actorToken(e1)); status != 400 || body["error"] != "invalid_request" {
			t.Errorf("exchanged token as actor: %d %v, want 400 invalid_request", status, body)
		}
	})

	t.Run("UserTokenOfTheClient", func(t *testing.T) {
		cfg := n.webApp() // web-app now has two APIs: name the resource
		v := oauth2.GenerateVerifier()
		code := n.codeFor(t, n.browser(t), cfg, v, oauth2.SetAuthURLParam("resource", "https://orders.example.test"))
		user, err := cfg.Exchange(t.Context(), code, oauth2.VerifierOption(v), oauth2.SetAuthURLParam("resource", "https://orders.example.test"))
		if err != nil { // client web-app, sub alice
			t.Fatal(err)
		}
		status, body, _ := postForm(t, n.Issuer+oauth.PathToken, url.Values{"grant_type": {grantExchange},
			"subject_token": {subject}, "subject_token_type": {typeAccessToken}, "resource": {inventoryAud},
			"actor_token": {user.AccessToken}, "actor_token_type": {typeAccessToken}}, func(r *http.Request) {
			r.SetBasicAuth("web-app", url.QueryEscape(webSecret))
		})
		if status != 400 || body["error"] != "invalid_request" {
			t.Errorf("user token as actor: %d %v, want 400 invalid_request", status, body)
		}
		// Without the actor token, web-app exchanges and is the actor.
		status, body, _ = postForm(t, n.Issuer+oauth.PathToken, url.Values{"grant_type": {grantExchange},
			"subject_token": {subject}, "subject_token_type": {typeAccessToken}, "resource": {inventoryAud}}, func(r *http.Request) {
			r.SetBasicAuth("web-app", url.QueryEscape(webSecret))
		})
		if status != 200 {
			t.Fatalf("%d %v", status, body)
		}
		var c exchangedClaims
		n.claimsOf(t, body["access_token"].(string), &c)
		if got := strings.Join(chainOf(c.Act), ","); got != "web-app" {
			t.Errorf("act chain %s, want web-app", got)
		}
	})
}

// TestTokenExchangeRevokedWithGrant: an exchanged token shares the user's
// grant, so revoking the grant at its client refuses the exchanged token at
// the gateway at once.
func TestTokenExchangeRevokedWithGrant(t *testing.T) {
	up := newUpstream(t)
	n := exchangeNode(t, up)
	alice := n.addUser(t, "alice")
	user := n.grantTokens(t, n.webApp())
	status, body := n.exchange(t, "orders-svc", user.AccessToken, url.Values{"resource": {inventoryAud}})
	if status != 200 {
		t.Fatalf("%d %v", status, body)
	}
	exchanged := body["access_token"].(string)
	var c exchangedClaims
	n.claimsOf(t, exchanged, &c)
	if c.Subject != alice.ID || c.GrantID == "" {
		t.Fatalf("sub %s grant %q, want alice's grant", c.Subject, c.GrantID)
	}
	if resp, _ := n.call(t, "GET", "/inventory/1", exchanged, nil); resp.StatusCode != 200 {
		t.Fatalf("before revocation: %d", resp.StatusCode)
	}
	postForm(t, n.Issuer+oauth.PathRevoke, url.Values{"token": {user.RefreshToken}}, func(r *http.Request) {
		r.SetBasicAuth("web-app", url.QueryEscape(webSecret))
	})
	if resp, _ := n.call(t, "GET", "/inventory/1", exchanged, nil); resp.StatusCode != 401 {
		t.Errorf("exchanged token after its grant was revoked: %d", resp.StatusCode)
	}
	if status, body := n.exchange(t, "orders-svc", user.AccessToken, url.Values{"resource": {inventoryAud}}); status != 400 || body["error"] != "invalid_request" {
		t.Errorf("exchanging a revoked token: %d %v", status, body)
	}
}

// TestTokenExchangeRulesReload: exchange rules come from the config file
// through the store, so a reload that removes a rule stops the exchange at
// once, and one that restores it allows it again.
func TestTokenExchangeRulesReload(t *testing.T) {
	up := newUpstream(t)
	n := exchangeNode(t, up)
	subject := n.ordersToken(t, "orders:read")
	if status, body := n.exchange(t, "orders-svc", subject, nil); status != 200 {
		t.Fatalf("before reload: %d %v", status, body)
	}
	cfg := *n.cfg
	cfg.Clients = append([]config.Client(nil), n.cfg.Clients...)
	var rules []gatehouse.ExchangeRule
	for i := range cfg.Clients {
		if cfg.Clients[i].ID == "orders-svc" {
			rules = cfg.Clients[i].TokenExchange
			cfg.Clients[i].TokenExchange = []gatehouse.ExchangeRule{{From: "inventory", To: []string{"inventory"}}}
		}
	}
	if err := n.Reload(t.Context(), &cfg); err != nil {
		t.Fatal(err)
	}
	if status, body := n.exchange(t, "orders-svc", subject, url.Values{"resource": {inventoryAud}}); status != 400 || body["error"] != "unauthorized_client" {
		t.Fatalf("after removing the rule: %d %v", status, body)
	}
	restored := cfg
	restored.Clients = append([]config.Client(nil), cfg.Clients...)
	for i := range restored.Clients {
		if restored.Clients[i].ID == "orders-svc" {
			restored.Clients[i].TokenExchange = rules
		}
	}
	if err := n.Reload(t.Context(), &restored); err != nil {
		t.Fatal(err)
	}
	if status, body := n.exchange(t, "orders-svc", subject, url.Values{"resource": {inventoryAud}}); status != 200 {
		t.Fatalf("after restoring the rule: %d %v", status, body)
	}
}

// BenchmarkTokenExchange measures the token exchange grant end to end over
// loopback HTTP, in the same shape as BenchmarkIssueClientCredentials:
// client authentication, verifying the subject token (a cache hit after
// the first exchange, revocation checked every time), minting an EdDSA JWT
// with its act claim and writing its record to SQLite.
func BenchmarkTokenExchange(b *testing.B) {
	n := startNodeWith(b, func(c *config.Config) {
		c.APIs = append(c.APIs, gatehouse.API{Name: "inventory", Audience: inventoryAud, Scopes: []string{"orders:read"}})
		c.Clients = append(c.Clients, config.Client{Client: gatehouse.Client{
			ID: "orders-svc", AuthMethod: gatehouse.AuthSecretBasic, SecretHash: gatehouse.HashSecret(basicSecret),
			GrantTypes: []string{grantExchange}, Access: []gatehouse.Access{{API: "inventory", Scopes: []string{"orders:read"}}},
			TokenExchange: []gatehouse.ExchangeRule{{From: "orders", To: []string{"inventory"}}},
		}})
	})
	subject, err := n.ccConfig("svc-basic", basicSecret, 0, "https://orders.example.test", "orders:read").Token(b.Context())
	if err != nil {
		b.Fatal(err)
	}
	body := url.Values{"grant_type": {grantExchange}, "subject_token": {subject.AccessToken},
		"subject_token_type": {typeAccessToken}, "resource": {inventoryAud}}.Encode()
	benchTokenEndpoint(b, n, "orders-svc", body)
}
