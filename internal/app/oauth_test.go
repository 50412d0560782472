package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/internal/config"
	"github.com/gatehouse/gatehouse/internal/oauth"
	"github.com/gatehouse/gatehouse/internal/token"
)

// ccConfig is a golang.org/x/oauth2 client credentials client for the node.
func (n *testNode) ccConfig(id, secret string, style oauth2.AuthStyle, resource string, scopes ...string) *clientcredentials.Config {
	c := &clientcredentials.Config{
		ClientID: id, ClientSecret: secret, TokenURL: n.Issuer + oauth.PathToken,
		Scopes: scopes, AuthStyle: style,
	}
	if resource != "" {
		c.EndpointParams = url.Values{"resource": {resource}}
	}
	return c
}

func (n *testNode) adminToken(t *testing.T) string {
	t.Helper()
	tok, err := n.ccConfig(gatehouse.AdminClientID, adminSecret, oauth2.AuthStyleInHeader, "").Token(context.Background())
	if err != nil {
		t.Fatalf("admin token: %v", err)
	}
	return tok.AccessToken
}

// independentClaims verifies tok with go-jose against the published JWKS,
// as a resource server that shares no code with Gatehouse would.
type independentClaims struct {
	jwt.Claims
	ClientID string `json:"client_id"`
	Scope    string `json:"scope"`
}

func (n *testNode) verifyIndependently(t *testing.T, tok string) (independentClaims, string) {
	t.Helper()
	resp, err := http.Get(n.Issuer + oauth.PathJWKS)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var set jose.JSONWebKeySet
	if err := json.NewDecoder(resp.Body).Decode(&set); err != nil {
		t.Fatalf("decode JWKS: %v", err)
	}
	parsed, err := jwt.ParseSigned(tok, []jose.SignatureAlgorithm{jose.EdDSA})
	if err != nil {
		t.Fatalf("go-jose parse: %v", err)
	}
	if typ := parsed.Headers[0].ExtraHeaders["typ"]; typ != "at+jwt" {
		t.Errorf("typ = %v, want at+jwt", typ)
	}
	var c independentClaims
	if err := parsed.Claims(set, &c); err != nil {
		t.Fatalf("go-jose verify against JWKS: %v", err)
	}
	if err := c.ValidateWithLeeway(jwt.Expected{Issuer: n.Issuer, Time: n.clock.Now()}, 0); err != nil {
		t.Errorf("go-jose claim validation: %v", err)
	}
	return c, parsed.Headers[0].KeyID
}

func retrieveError(t *testing.T, err error) *oauth2.RetrieveError {
	t.Helper()
	var re *oauth2.RetrieveError
	if !errors.As(err, &re) {
		t.Fatalf("error %v is not an oauth2.RetrieveError", err)
	}
	return re
}

func TestMetadata(t *testing.T) {
	n := startNode(t)
	resp, err := http.Get(n.Issuer + oauth.PathMetadata)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var md map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&md); err != nil {
		t.Fatal(err)
	}
	if md["issuer"] != n.Issuer || md["token_endpoint"] != n.Issuer+oauth.PathToken || md["jwks_uri"] != n.Issuer+oauth.PathJWKS {
		t.Errorf("metadata endpoints wrong: %v", md)
	}
	grants, _ := json.Marshal(md["grant_types_supported"])
	if string(grants) != `["authorization_code","client_credentials","refresh_token","urn:ietf:params:oauth:grant-type:token-exchange"]` {
		t.Errorf("grant_types_supported = %s, want only what is implemented", grants)
	}
	for _, k := range []string{"registration_endpoint", "revocation_endpoint", "introspection_endpoint"} {
		if s, _ := md[k].(string); !strings.HasPrefix(s, n.Issuer+"/") {
			t.Errorf("%s = %v", k, md[k])
		}
	}
	scopes, _ := json.Marshal(md["scopes_supported"])
	// The catalog lists APIs by name (the store's order).
	if string(scopes) != `["billing:read","orders:read","orders:write","orders:admin"]` {
		t.Errorf("scopes_supported = %s; want the published APIs' scopes, without admin or drafts", scopes)
	}
}

func TestClientCredentials(t *testing.T) {
	n := startNode(t)
	ctx := context.Background()

	t.Run("SecretBasicJWT", func(t *testing.T) {
		tok, err := n.ccConfig("svc-basic", basicSecret, oauth2.AuthStyleInHeader, "https://orders.example.test", "orders:write").Token(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if tok.TokenType != "Bearer" || tok.Expiry.IsZero() {
			t.Errorf("token type %q expiry %v", tok.TokenType, tok.Expiry)
		}
		c, _ := n.verifyIndependently(t, tok.AccessToken)
		if c.Subject != "svc-basic" || c.ClientID != "svc-basic" || c.Scope != "orders:write" ||
			len(c.Audience) != 1 || c.Audience[0] != "https://orders.example.test" || c.ID == "" {
			t.Errorf("claims = %+v", c)
		}
		if got := c.Expiry.Time().Sub(c.IssuedAt.Time()); got != 10*time.Minute {
			t.Errorf("lifetime = %v, want the configured 10m", got)
		}
		claims, err := n.Verifier.Verify(ctx, tok.AccessToken)
		if err != nil || claims.Audience != "https://orders.example.test" {
			t.Errorf("in-process verifier: %v %+v", err, claims)
		}
	})
	t.Run("SecretPost", func(t *testing.T) {
		tok, err := n.ccConfig("svc-post", postSecret, oauth2.AuthStyleInParams, "", "orders:read").Token(ctx)
		if err != nil {
			t.Fatal(err)
		}
		c, _ := n.verifyIndependently(t, tok.AccessToken)
		if c.ClientID != "svc-post" {
			t.Errorf("client_id = %q", c.ClientID)
		}
	})
	t.Run("DefaultScopesWhenNoneRequested", func(t *testing.T) {
		tok, err := n.ccConfig("svc-basic", basicSecret, oauth2.AuthStyleInHeader, "https://orders.example.test").Token(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if c, _ := n.verifyIndependently(t, tok.AccessToken); c.Scope != "orders:read" {
			t.Errorf("scope = %q, want the default orders:read only", c.Scope)
		}
	})
	t.Run("NoDefaultScopesMeansNone", func(t *testing.T) {
		tok, err := n.ccConfig("svc-post", postSecret, oauth2.AuthStyleInParams, "").Token(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if c, _ := n.verifyIndependently(t, tok.AccessToken); c.Scope != "" {
			t.Errorf("scope = %q, want none: svc-post has no default scopes", c.Scope)
		}
	})
	t.Run("ResourceSelectsOpaqueAPI", func(t *testing.T) {
		tok, err := n.ccConfig("svc-basic", basicSecret, oauth2.AuthStyleInHeader, "https://billing.example.test", "billing:read").Token(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Count(tok.AccessToken, ".") != 0 || !strings.HasPrefix(tok.AccessToken, "gha_") {
			t.Fatalf("billing token is not opaque")
		}
		claims, err := n.Verifier.Verify(ctx, tok.AccessToken)
		if err != nil || claims.Audience != "https://billing.example.test" || !claims.HasScope("billing:read") {
			t.Errorf("opaque token: %v %+v", err, claims)
		}
	})

	t.Run("GeneratedSecretFromDataDir", func(t *testing.T) {
		secret, err := os.ReadFile(filepath.Join(n.dataDir, "secrets", "svc-generated.secret"))
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(n.stderr.String(), strings.TrimSpace(string(secret))) {
			t.Error("a generated client secret was printed; only its file should be named")
		}
		if !strings.Contains(n.stderr.String(), "svc-generated.secret") {
			t.Error("the secret file was not named on stderr")
		}
		if _, err := n.ccConfig("svc-generated", strings.TrimSpace(string(secret)), oauth2.AuthStyleInHeader, "").Token(ctx); err != nil {
			t.Errorf("generated secret: %v", err)
		}
	})

	refusals := []struct {
		name     string
		cfg      *clientcredentials.Config
		code     string
		status   int
		extraRes []string
	}{
		{"WrongSecret", n.ccConfig("svc-basic", "nope-"+basicSecret, oauth2.AuthStyleInHeader, "https://orders.example.test"), "invalid_client", 401, nil},
		{"UnknownClient", n.ccConfig("ghost", basicSecret, oauth2.AuthStyleInHeader, "https://orders.example.test"), "invalid_client", 401, nil},
		{"WrongMethod", n.ccConfig("svc-basic", basicSecret, oauth2.AuthStyleInParams, "https://orders.example.test"), "invalid_client", 401, nil},
		{"ScopeNotAllowedForClient", n.ccConfig("svc-basic", basicSecret, oauth2.AuthStyleInHeader, "https://orders.example.test", "orders:admin"), "invalid_scope", 400, nil},
		{"ScopeOfAnotherAPI", n.ccConfig("svc-basic", basicSecret, oauth2.AuthStyleInHeader, "https://orders.example.test", "billing:read"), "invalid_scope", 400, nil},
		{"UnknownResource", n.ccConfig("svc-basic", basicSecret, oauth2.AuthStyleInHeader, "https://nowhere.example.test"), "invalid_target", 400, nil},
		{"ResourceNotAllowed", n.ccConfig("svc-post", postSecret, oauth2.AuthStyleInParams, "https://billing.example.test"), "invalid_target", 400, nil},
		{"ResourceRequiredWithSeveralAPIs", n.ccConfig("svc-basic", basicSecret, oauth2.AuthStyleInHeader, ""), "invalid_target", 400, nil},
		{"DraftAPI", n.ccConfig("svc-basic", basicSecret, oauth2.AuthStyleInHeader, "https://draft.example.test"), "invalid_target", 400, nil},
		{"RelativeResource", n.ccConfig("svc-basic", basicSecret, oauth2.AuthStyleInHeader, "/orders"), "invalid_target", 400, nil},
		{"TwoResources", n.ccConfig("svc-basic", basicSecret, oauth2.AuthStyleInHeader, "https://orders.example.test"), "invalid_target", 400, []string{"https://billing.example.test"}},
	}
	for _, tc := range refusals {
		t.Run(tc.name, func(t *testing.T) {
			if tc.extraRes != nil {
				tc.cfg.EndpointParams["resource"] = append(tc.cfg.EndpointParams["resource"], tc.extraRes...)
			}
			_, err := tc.cfg.Token(ctx)
			re := retrieveError(t, err)
			if re.ErrorCode != tc.code || re.Response.StatusCode != tc.status {
				t.Errorf("got %s/%d, want %s/%d (%s)", re.ErrorCode, re.Response.StatusCode, tc.code, tc.status, re.ErrorDescription)
			}
			if cc := re.Response.Header.Get("Cache-Control"); cc != "no-store" {
				t.Errorf("Cache-Control = %q", cc)
			}
		})
	}
}

func TestTokenEndpointRequestErrors(t *testing.T) {
	n := startNode(t)
	basic := func(r *http.Request) { r.SetBasicAuth("svc-basic", url.QueryEscape(basicSecret)) }
	cases := []struct {
		name   string
		form   url.Values
		setup  func(*http.Request)
		status int
		code   string
	}{
		{"MissingGrantType", url.Values{}, basic, 400, "invalid_request"},
		{"UnsupportedGrant", url.Values{"grant_type": {"password"}, "username": {"u"}, "password": {"p"}}, basic, 400, "unsupported_grant_type"},
		{"RepeatedParameter", url.Values{"grant_type": {"client_credentials", "client_credentials"}}, basic, 400, "invalid_request"},
		{"TwoAuthMethods", url.Values{"grant_type": {"client_credentials"}, "client_id": {"svc-basic"}, "client_secret": {basicSecret}}, basic, 400, "invalid_request"},
		{"NoAuthentication", url.Values{"grant_type": {"client_credentials"}}, nil, 401, "invalid_client"},
		{"BadScopeSyntax", url.Values{"grant_type": {"client_credentials"}, "resource": {"https://orders.example.test"}, "scope": {"orders:read  orders:write"}}, basic, 400, "invalid_scope"},
		{"WrongContentType", nil, func(r *http.Request) { basic(r); r.Header.Set("Content-Type", "application/json") }, 400, "invalid_request"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			status, body, _ := postForm(t, n.Issuer+oauth.PathToken, tc.form, tc.setup)
			if status != tc.status || body["error"] != tc.code {
				t.Errorf("got %d %v, want %d %s", status, body, tc.status, tc.code)
			}
		})
	}
	t.Run("GETRefused", func(t *testing.T) {
		resp, err := http.Get(n.Issuer + oauth.PathToken + "?grant_type=client_credentials")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusMethodNotAllowed {
			t.Errorf("GET token endpoint = %d", resp.StatusCode)
		}
	})
}

func TestFailedAuthenticationIsSlowedDown(t *testing.T) {
	n := startNode(t)
	cfg := n.ccConfig("svc-post", "wrong-"+postSecret, oauth2.AuthStyleInParams, "")
	var last *oauth2.RetrieveError
	for i := 0; i < 7; i++ {
		_, err := cfg.Token(context.Background())
		last = retrieveError(t, err)
	}
	if last.Response.StatusCode != http.StatusTooManyRequests || last.Response.Header.Get("Retry-After") == "" {
		t.Fatalf("after 7 failures: %d, Retry-After %q", last.Response.StatusCode, last.Response.Header.Get("Retry-After"))
	}
	// Even the right secret waits out the delay: guessing cannot go faster.
	_, err := n.ccConfig("svc-post", postSecret, oauth2.AuthStyleInParams, "").Token(context.Background())
	if re := retrieveError(t, err); re.Response.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("correct secret during the delay: %d", re.Response.StatusCode)
	}
	n.clock.Advance(10 * time.Minute)
	if _, err := n.ccConfig("svc-post", postSecret, oauth2.AuthStyleInParams, "").Token(context.Background()); err != nil {
		t.Fatalf("after the delay: %v", err)
	}
}

func TestPrivateKeyJWT(t *testing.T) {
	n := startNode(t)
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.EdDSA, Key: n.jwtKey},
		(&jose.SignerOptions{}).WithType("JWT").WithHeader("kid", "svc-jwt-1"))
	if err != nil {
		t.Fatal(err)
	}
	assertion := func(aud string, exp time.Duration, jti string) string {
		now := n.clock.Now()
		s, err := jwt.Signed(signer).Claims(jwt.Claims{
			Issuer: "svc-jwt", Subject: "svc-jwt", Audience: jwt.Audience{aud}, ID: jti,
			IssuedAt: jwt.NewNumericDate(now), Expiry: jwt.NewNumericDate(now.Add(exp)),
		}).Serialize()
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	cfg := func(a string) *clientcredentials.Config {
		return &clientcredentials.Config{
			ClientID: "svc-jwt", TokenURL: n.Issuer + oauth.PathToken, AuthStyle: oauth2.AuthStyleInParams,
			EndpointParams: url.Values{
				"client_assertion_type": {"urn:ietf:params:oauth:client-assertion-type:jwt-bearer"},
				"client_assertion":      {a},
			},
		}
	}
	good := assertion(n.Issuer, time.Minute, "jti-1")
	tok, err := cfg(good).Token(context.Background())
	if err != nil {
		t.Fatalf("private_key_jwt: %v", err)
	}
	if c, _ := n.verifyIndependently(t, tok.AccessToken); c.ClientID != "svc-jwt" || c.Scope != "orders:read" {
		t.Errorf("claims %+v", c)
	}
	refusals := map[string]string{
		"Replayed":          good,
		"WrongAudience":     assertion("https://other.example.test", time.Minute, "jti-2"),
		"TokenEndpointAud":  assertion(n.Issuer+oauth.PathToken, time.Minute, "jti-5"), // RFC 7523bis: the issuer only
		"Expired":           assertion(n.Issuer, -2*time.Minute, "jti-3"),
		"LifetimeTooLong":   assertion(n.Issuer, time.Hour, "jti-4"),
		"TamperedSignature": good[:len(good)-4] + "AAAA",
	}
	for name, a := range refusals {
		if a == "" {
			continue
		}
		t.Run(name, func(t *testing.T) {
			_, err := cfg(a).Token(context.Background())
			if re := retrieveError(t, err); re.ErrorCode != "invalid_client" {
				t.Errorf("got %s", re.ErrorCode)
			}
		})
	}
}

func TestRevocationAndIntrospection(t *testing.T) {
	n := startNode(t)
	ctx := context.Background()
	basic := func(id, secret string) func(*http.Request) {
		return func(r *http.Request) { r.SetBasicAuth(url.QueryEscape(id), url.QueryEscape(secret)) }
	}
	asBasic := basic("svc-basic", basicSecret)
	introspect := func(tok string, auth func(*http.Request)) (int, map[string]any) {
		status, body, _ := postForm(t, n.Issuer+oauth.PathIntrospect, url.Values{"token": {tok}}, auth)
		return status, body
	}
	// svc-post authenticates in the body (client_secret_post).
	postAuth := url.Values{"client_id": {"svc-post"}, "client_secret": {postSecret}}
	withPostAuth := func(v url.Values) url.Values {
		for k, x := range postAuth {
			v[k] = x
		}
		return v
	}

	for _, tc := range []struct{ name, resource, scope string }{
		{"JWT", "https://orders.example.test", "orders:read"},
		{"Opaque", "https://billing.example.test", "billing:read"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tok, err := n.ccConfig("svc-basic", basicSecret, oauth2.AuthStyleInHeader, tc.resource, tc.scope).Token(ctx)
			if err != nil {
				t.Fatal(err)
			}
			status, body := introspect(tok.AccessToken, asBasic)
			if status != 200 || body["active"] != true || body["client_id"] != "svc-basic" || body["scope"] != tc.scope || body["aud"] != tc.resource {
				t.Fatalf("introspection of active token: %d %v", status, body)
			}
			// Another client without access to that API learns nothing.
			_, body, _ = postForm(t, n.Issuer+oauth.PathIntrospect, withPostAuth(url.Values{"token": {tok.AccessToken}}), nil)
			if tc.name == "Opaque" && (len(body) != 1 || body["active"] != false) {
				t.Errorf("svc-post introspecting a billing token: %v", body)
			}
			if tc.name == "JWT" && (len(body) != 1 || body["active"] != false) {
				t.Errorf("svc-post, a mere client of orders, introspected another client's token: %v", body)
			}
			// The orders resource server (introspect role on orders) may.
			_, body = introspect(tok.AccessToken, basic("orders-rs", rsSecret))
			if want := tc.name == "JWT"; (body["active"] == true) != want {
				t.Errorf("orders-rs introspecting a %s token: %v", tc.name, body)
			}
			// Another client cannot revoke it.
			if status, _, _ := postForm(t, n.Issuer+oauth.PathRevoke, withPostAuth(url.Values{"token": {tok.AccessToken}}), nil); status != 200 {
				t.Errorf("revoking another client's token = %d, want a silent 200", status)
			}
			if _, err := n.Verifier.Verify(ctx, tok.AccessToken); err != nil {
				t.Fatalf("revoked by another client: %v", err)
			}
			status, _, _ = postForm(t, n.Issuer+oauth.PathRevoke, url.Values{"token": {tok.AccessToken}, "token_type_hint": {"access_token"}}, asBasic)
			if status != 200 {
				t.Fatalf("revoke = %d", status)
			}
			// Refused before expiry, by introspection and in-process.
			if _, body := introspect(tok.AccessToken, asBasic); len(body) != 1 || body["active"] != false {
				t.Errorf("introspection after revoke = %v, want exactly {\"active\":false}", body)
			}
			if _, err := n.Verifier.Verify(ctx, tok.AccessToken); err == nil {
				t.Error("in-process verifier accepts a revoked token")
			}
			// Revoking again, or revoking garbage, is still 200 (RFC 7009 2.2).
			for _, again := range []string{tok.AccessToken, "not-a-token", "a.b.c"} {
				if status, _, _ := postForm(t, n.Issuer+oauth.PathRevoke, url.Values{"token": {again}}, asBasic); status != 200 {
					t.Errorf("revoke %q = %d", again, status)
				}
			}
		})
	}
	t.Run("RevocationSurvivesRestartOfState", func(t *testing.T) {
		tok, err := n.ccConfig("svc-basic", basicSecret, oauth2.AuthStyleInHeader, "https://orders.example.test").Token(ctx)
		if err != nil {
			t.Fatal(err)
		}
		postForm(t, n.Issuer+oauth.PathRevoke, url.Values{"token": {tok.AccessToken}}, asBasic)
		revs, err := n.Store.FindRevocations(ctx, n.clock.Now())
		if err != nil {
			t.Fatal(err)
		}
		found := false
		for _, r := range revs {
			found = found || r.TokenID != ""
		}
		if !found {
			t.Error("the store does not list the revocation, so a restart would forget it")
		}
	})
	t.Run("InactiveAnswersAreIdentical", func(t *testing.T) {
		expired, err := n.ccConfig("svc-basic", basicSecret, oauth2.AuthStyleInHeader, "https://orders.example.test").Token(ctx)
		if err != nil {
			t.Fatal(err)
		}
		n.clock.Advance(11 * time.Minute)
		defer n.clock.Advance(-11 * time.Minute)
		for name, tok := range map[string]string{"Expired": expired.AccessToken, "Unknown": "gha_nothing", "Garbage": "x.y.z", "Huge": strings.Repeat("a", 20000)} {
			status, body := introspect(tok, asBasic)
			if status != 200 || len(body) != 1 || body["active"] != false {
				t.Errorf("%s: %d %v", name, status, body)
			}
		}
	})
	t.Run("CallerMustAuthenticate", func(t *testing.T) {
		for _, ep := range []string{oauth.PathIntrospect, oauth.PathRevoke} {
			status, body, _ := postForm(t, n.Issuer+ep, url.Values{"token": {"x"}}, nil)
			if status != 401 || body["error"] != "invalid_client" {
				t.Errorf("%s without client auth: %d %v", ep, status, body)
			}
		}
	})
}

func TestDynamicRegistration(t *testing.T) {
	n := startNode(t)
	ctx := context.Background()
	register := func(auth string, body string) (int, map[string]any) {
		req, _ := http.NewRequest(http.MethodPost, n.Issuer+oauth.PathRegister, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		if auth != "" {
			req.Header.Set("Authorization", "Bearer "+auth)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var m map[string]any
		raw, _ := io.ReadAll(resp.Body)
		_ = json.Unmarshal(raw, &m)
		return resp.StatusCode, m
	}
	meta := `{"client_name":"Reports","grant_types":["client_credentials"],"scope":"orders:read","unknown_member":"ignored"}`

	t.Run("NoInitialAccessToken", func(t *testing.T) {
		if status, body := register("", meta); status != 401 || body["error"] != "invalid_token" {
			t.Errorf("%d %v", status, body)
		}
	})
	t.Run("NonAdminToken", func(t *testing.T) {
		tok, err := n.ccConfig("svc-basic", basicSecret, oauth2.AuthStyleInHeader, "https://orders.example.test").Token(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if status, _ := register(tok.AccessToken, meta); status != 403 {
			t.Errorf("status %d", status)
		}
	})
	t.Run("AdminToken", func(t *testing.T) {
		status, body := register(n.adminToken(t), meta)
		if status != 201 {
			t.Fatalf("register: %d %v", status, body)
		}
		id, _ := body["client_id"].(string)
		secret, _ := body["client_secret"].(string)
		if id == "" || len(secret) < 43 || body["client_secret_expires_at"] != float64(0) {
			t.Fatalf("registration response %v", body)
		}
		tok, err := n.ccConfig(id, secret, oauth2.AuthStyleInHeader, "", "orders:read").Token(ctx)
		if err != nil {
			t.Fatalf("token for the registered client: %v", err)
		}
		if c, _ := n.verifyIndependently(t, tok.AccessToken); c.Audience[0] != "https://orders.example.test" {
			t.Errorf("aud %v", c.Audience)
		}
		// The stored secret is a hash, never the secret itself.
		cl, err := n.Store.FindClientByID(ctx, id)
		if err != nil || strings.Contains(string(cl.SecretHash), secret) || len(cl.SecretHash) != 32 {
			t.Errorf("stored secret hash: %v len %d", err, len(cl.SecretHash))
		}
	})
	t.Run("RegistrationTokenFromAdminAPI", func(t *testing.T) {
		req, _ := http.NewRequest(http.MethodPost, n.AdminURL+"/admin/v1/registration-tokens", strings.NewReader(`{"expires_in":600}`))
		req.Header.Set("Authorization", "Bearer "+n.adminToken(t))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var rt struct{ Token string }
		_ = json.NewDecoder(resp.Body).Decode(&rt)
		resp.Body.Close()
		if resp.StatusCode != 201 || !strings.HasPrefix(rt.Token, "ghi_") {
			t.Fatalf("registration token: %d %q", resp.StatusCode, rt.Token)
		}
		if status, body := register(rt.Token, meta); status != 201 {
			t.Errorf("register with registration token: %d %v", status, body)
		}
		n.clock.Advance(11 * time.Minute)
		defer n.clock.Advance(-11 * time.Minute)
		if status, _ := register(rt.Token, meta); status != 401 {
			t.Errorf("expired registration token accepted: %d", status)
		}
	})
	t.Run("BadMetadata", func(t *testing.T) {
		admin := n.adminToken(t)
		for name, body := range map[string]string{
			"AdminScope":              `{"grant_types":["client_credentials"],"scope":"admin"}`,
			"UnknownScope":            `{"grant_types":["client_credentials"],"scope":"nope:read"}`,
			"BadAuthMethod":           `{"token_endpoint_auth_method":"client_secret_jwt"}`,
			"UnsupportedGrant":        `{"grant_types":["password"]}`,
			"WrongType":               `{"client_name":42}`,
			"DuplicateKey":            `{"client_name":"a","client_name":"b"}`,
			"NotJSON":                 `{"client_name":`,
			"PrivateKeyNoJWKS":        `{"grant_types":["client_credentials"],"token_endpoint_auth_method":"private_key_jwt"}`,
			"PublicClientCredentials": `{"grant_types":["client_credentials"],"token_endpoint_auth_method":"none"}`,
			"TokenResponseType":       `{"response_types":["token"],"redirect_uris":["https://a.example/cb"]}`,
		} {
			status, resp := register(admin, body)
			if status != 400 || resp["error"] != "invalid_client_metadata" {
				t.Errorf("%s: %d %v", name, status, resp)
			}
		}
		for name, body := range map[string]string{
			"Relative":       `{"redirect_uris":["/relative"]}`,
			"PlainHTTP":      `{"redirect_uris":["http://app.example/cb"]}`,
			"NoRedirectURIs": `{"client_name":"x"}`,
		} {
			if status, resp := register(admin, body); status != 400 || resp["error"] != "invalid_redirect_uri" {
				t.Errorf("%s: %d %v", name, status, resp)
			}
		}
	})
	t.Run("PublicCodeClient", func(t *testing.T) {
		status, body := register(n.adminToken(t), `{"token_endpoint_auth_method":"none","redirect_uris":["http://127.0.0.1/cb"],"scope":"orders:read"}`)
		if status != 201 || body["client_secret"] != nil || body["client_id"] == "" {
			t.Fatalf("public client registration: %d %v", status, body)
		}
		if rt, _ := json.Marshal(body["response_types"]); string(rt) != `["code"]` {
			t.Errorf("response_types = %s", rt)
		}
	})
}

func TestKeyRotation(t *testing.T) {
	n := startNode(t)
	ctx := context.Background()
	get := func() string {
		tok, err := n.ccConfig("svc-basic", basicSecret, oauth2.AuthStyleInHeader, "https://orders.example.test").Token(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return tok.AccessToken
	}
	var jwksBefore struct{ Keys []struct{ Kid string } }
	resp, _ := http.Get(n.Issuer + oauth.PathJWKS)
	_ = json.NewDecoder(resp.Body).Decode(&jwksBefore)
	resp.Body.Close()
	if len(jwksBefore.Keys) != 2 {
		t.Fatalf("JWKS has %d keys; want the signing key and the next one published ahead", len(jwksBefore.Keys))
	}
	old := get()
	_, oldKid := n.verifyIndependently(t, old)
	if err := n.Keys.Rotate(ctx); err != nil {
		t.Fatal(err)
	}
	fresh := get()
	_, newKid := n.verifyIndependently(t, fresh)
	if newKid == oldKid {
		t.Fatal("new tokens still use the old key")
	}
	published := false
	for _, k := range jwksBefore.Keys {
		published = published || k.Kid == newKid
	}
	if !published {
		t.Error("the new signing key was not in the JWKS before it signed")
	}
	// Tokens signed by the old key keep verifying until they expire.
	n.verifyIndependently(t, old)
	if _, err := n.Verifier.Verify(ctx, old); err != nil {
		t.Errorf("old-key token refused after rotation: %v", err)
	}
	// Once every token of the old key has expired, the key leaves the JWKS.
	n.clock.Advance(12 * time.Minute)
	if err := n.Keys.Tick(ctx); err != nil {
		t.Fatal(err)
	}
	if _, ok := n.Keyring.PublicKey(oldKid); ok {
		t.Error("retired key still published after its tokens expired")
	}
	if _, ok := n.Keyring.PublicKey(newKid); !ok {
		t.Error("current key missing")
	}
}

func TestScheduledKeyRotation(t *testing.T) {
	n := startNode(t)
	ctx := context.Background()
	first := n.Keyring.SigningKeyID()
	n.clock.Advance(29 * 24 * time.Hour)
	if err := n.Keys.Tick(ctx); err != nil {
		t.Fatal(err)
	}
	if n.Keyring.SigningKeyID() != first {
		t.Fatal("rotated before the rotation period")
	}
	n.clock.Advance(2 * 24 * time.Hour)
	if err := n.Keys.Tick(ctx); err != nil {
		t.Fatal(err)
	}
	second := n.Keyring.SigningKeyID()
	if second == first {
		t.Fatal("no rotation after the 30-day period")
	}
	// The new next key was created just now: the following scheduled
	// rotation waits until it has been published for the prepublish time,
	// however the clock moves.
	if _, ok := n.Keyring.PublicKey(first); !ok {
		t.Error("the retired key left the JWKS at once")
	}
}

func TestAdminAPIAuthentication(t *testing.T) {
	n := startNode(t)
	ctx := context.Background()
	svc, err := n.ccConfig("svc-basic", basicSecret, oauth2.AuthStyleInHeader, "https://orders.example.test").Token(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for name, tc := range map[string]struct {
		auth   string
		status int
	}{
		"NoToken":     {"", 401},
		"Garbage":     {"Bearer not-a-token", 401},
		"BasicScheme": {"Basic " + adminSecret, 401},
		"NonAdmin":    {"Bearer " + svc.AccessToken, 403},
		"AdminToken":  {"Bearer " + n.adminToken(t), 201},
	} {
		t.Run(name, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodPost, n.AdminURL+"/admin/v1/registration-tokens", strings.NewReader(`{}`))
			if tc.auth != "" {
				req.Header.Set("Authorization", tc.auth)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tc.status {
				t.Errorf("status %d, want %d: %s", resp.StatusCode, tc.status, body)
			}
			if tc.status >= 400 && resp.Header.Get("Content-Type") != "application/problem+json" {
				t.Errorf("error content type %q", resp.Header.Get("Content-Type"))
			}
			if tc.status == 401 && !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Bearer") {
				t.Errorf("WWW-Authenticate = %q", resp.Header.Get("WWW-Authenticate"))
			}
		})
	}
}

func TestRestartKeepsState(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	n := startNodeIn(t, dir, nil)
	revoked, err := n.ccConfig("svc-basic", basicSecret, oauth2.AuthStyleInHeader, "https://orders.example.test").Token(ctx)
	if err != nil {
		t.Fatal(err)
	}
	kept, err := n.ccConfig("svc-basic", basicSecret, oauth2.AuthStyleInHeader, "https://orders.example.test").Token(ctx)
	if err != nil {
		t.Fatal(err)
	}
	postForm(t, n.Issuer+oauth.PathRevoke, url.Values{"token": {revoked.AccessToken}}, func(r *http.Request) {
		r.SetBasicAuth("svc-basic", url.QueryEscape(basicSecret))
	})
	secret, _ := os.ReadFile(filepath.Join(n.dataDir, "secrets", "svc-generated.secret"))
	kid := n.Keyring.SigningKeyID()
	if err := n.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}

	m := startNodeIn(t, dir, nil)
	// The new node has a new port, hence a new default issuer; verify with
	// the old issuer as a resource server configured for it would.
	v := *m.Verifier
	v.Issuer = n.Issuer
	if _, err := v.Verify(ctx, revoked.AccessToken); token.ReasonOf(err) != token.ReasonRevoked {
		t.Errorf("revoked token after restart: %v", err)
	}
	if _, err := v.Verify(ctx, kept.AccessToken); err != nil {
		t.Errorf("valid token after restart: %v", err)
	}
	if m.Keyring.SigningKeyID() != kid {
		t.Error("a restart changed the signing key")
	}
	if _, err := m.ccConfig("svc-generated", strings.TrimSpace(string(secret)), oauth2.AuthStyleInHeader, "").Token(ctx); err != nil {
		t.Errorf("generated secret after restart: %v", err)
	}
	if strings.Contains(m.stderr.String(), "Generated a secret") {
		t.Error("a restart generated a new client secret")
	}
	if err := m.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}

	// Restarting with svc-post removed from the file disables it, and its
	// tokens stop working at once.
	p := startNodeIn(t, dir, func(c *config.Config) {
		var keep []config.Client
		for _, cl := range c.Clients {
			if cl.ID != "svc-post" {
				keep = append(keep, cl)
			}
		}
		c.Clients = keep
	})
	if _, err := p.ccConfig("svc-post", postSecret, oauth2.AuthStyleInParams, "").Token(ctx); err == nil {
		t.Error("a client removed from the config still gets tokens")
	}
}

func TestOAuthRefusesPlainHTTPFromRemote(t *testing.T) {
	n := startNode(t)
	h := n.OAuth.Handler()
	for _, path := range []string{oauth.PathToken, oauth.PathIntrospect, oauth.PathRevoke, oauth.PathRegister} {
		req := httptest.NewRequest("POST", "http://gh.example"+path, strings.NewReader("grant_type=client_credentials"))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth("svc-basic", url.QueryEscape(basicSecret))
		req.RemoteAddr = "203.0.113.9:5555"
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if w.Code != 400 || !strings.Contains(w.Body.String(), "HTTPS") {
			t.Errorf("%s from a remote client over HTTP: %d %s", path, w.Code, w.Body)
		}
	}
	// Discovery stays available, and loopback works (the rest of the suite).
	req := httptest.NewRequest("GET", "http://gh.example"+oauth.PathMetadata, nil)
	req.RemoteAddr = "203.0.113.9:5555"
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	if w.Code != 200 {
		t.Errorf("metadata: %d", w.Code)
	}
}

// TestClientLockoutIsPerAddress: failing in a client's name from one
// address does not lock the client out from its own.
func TestClientLockoutIsPerAddress(t *testing.T) {
	n := startNode(t)
	from2 := &http.Client{Transport: &http.Transport{DialContext: (&net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.2")}}).DialContext}}
	ctx2 := context.WithValue(context.Background(), oauth2.HTTPClient, from2)
	var last *oauth2.RetrieveError
	for i := 0; i < 7; i++ {
		_, err := n.ccConfig("svc-post", "wrong-"+postSecret, oauth2.AuthStyleInParams, "").Token(ctx2)
		last = retrieveError(t, err)
	}
	if last.Response.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("the attacker's address was not slowed down: %d", last.Response.StatusCode)
	}
	if _, err := n.ccConfig("svc-post", postSecret, oauth2.AuthStyleInParams, "").Token(context.Background()); err != nil {
		t.Errorf("svc-post from its own address: %v", err)
	}
}

// TestOAuthBehindTrustedProxy: behind a trusted proxy the token endpoint
// sees clients as the gateway does. Its failure limiter keys on the
// address the proxy names, so one client's failed secrets do not slow
// down another behind the same proxy (keyed on the proxy, they did); and a
// client the proxy says used HTTPS may send credentials to a plain-HTTP
// listener, while one it names without that is refused like any remote
// client in clear.
func TestOAuthBehindTrustedProxy(t *testing.T) {
	n := startNodeWith(t, func(c *config.Config) {
		c.Gateway.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32"), netip.MustParsePrefix("::1/128")}
	})
	tokenURL := n.Issuer + oauth.PathToken
	ask := func(client, proto, secret string) (int, map[string]any) {
		status, body, _ := postForm(t, tokenURL, url.Values{"grant_type": {"client_credentials"}, "resource": {"https://orders.example.test"}},
			func(r *http.Request) {
				r.SetBasicAuth("svc-basic", url.QueryEscape(secret))
				r.Header.Set("X-Forwarded-For", client)
				if proto != "" {
					r.Header.Set("X-Forwarded-Proto", proto)
				}
			})
		return status, body
	}
	const attacker, user = "192.0.2.66", "198.51.100.7"
	status := 0
	for range 30 {
		if status, _ = ask(attacker, "https", "wrong-secret"); status == http.StatusTooManyRequests {
			break
		}
	}
	if status != http.StatusTooManyRequests {
		t.Fatalf("30 failed secrets from %s: last %d, want 429 at some point", attacker, status)
	}
	if status, body := ask(user, "https", basicSecret); status != 200 {
		t.Fatalf("another client behind the same proxy: %d %v, want 200", status, body)
	}
	if status, body := ask(attacker, "https", basicSecret); status != http.StatusTooManyRequests {
		t.Fatalf("the slowed-down address with the right secret: %d %v, want 429", status, body)
	}
	// Plain HTTP from a remote client: refused unless the proxy says
	// HTTPS; the proxy's own requests are loopback's.
	if status, body := ask(user, "", basicSecret); status != 400 || !strings.Contains(fmt.Sprint(body["error_description"]), "HTTPS") {
		t.Fatalf("remote client in clear: %d %v, want 400 use HTTPS", status, body)
	}
	if status, body := ask(user, "http", basicSecret); status != 400 {
		t.Fatalf("remote client, proxy says http: %d %v, want 400", status, body)
	}
	if status, body := ask("127.0.0.1", "", basicSecret); status != 200 {
		t.Fatalf("loopback client in clear: %d %v, want 200", status, body)
	}
}
