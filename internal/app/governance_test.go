package app

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/internal/config"
	"github.com/gatehouse/gatehouse/internal/oauth"
	"github.com/gatehouse/gatehouse/internal/sqlite"
)

var (
	ledgerSecret  = "ledger-" + base64.RawURLEncoding.EncodeToString(randBytes(32))
	rotatedSecret = "rotated-" + base64.RawURLEncoding.EncodeToString(randBytes(32))
)

// ledgerNode is a gateway node with a manual-approval API, ledger, and an
// app of team blue, ledger-app, that has no access yet.
func ledgerNode(t *testing.T) (*testNode, *upstream) {
	up := newUpstream(t)
	n := gatewayNode(t, up, func(c *config.Config) {
		c.Teams = append(c.Teams, gatehouse.Team{Name: "blue"})
		c.APIs = append(c.APIs, gatehouse.API{Name: "ledger", Audience: "https://ledger.example.test",
			Scopes: []string{"ledger:read", "ledger:write"}, Approval: gatehouse.ApprovalManual,
			Lifecycle: gatehouse.LifecyclePublished, Upstream: gatehouse.Upstream{Targets: []string{up.URL}},
			Routes: []gatehouse.Route{{Path: "/ledger/*", Scopes: []string{"ledger:read"}, Credential: gatehouse.CredentialBearer, ScopeMode: "all"},
				{Path: "/ledger-key/*", Scopes: []string{"ledger:read"}, Credential: gatehouse.CredentialAPIKey, ScopeMode: "all"}}})
		c.Clients = append(c.Clients, config.Client{Client: gatehouse.Client{ID: "ledger-app", Team: "blue",
			AuthMethod: gatehouse.AuthSecretBasic, SecretHash: gatehouse.HashSecret(ledgerSecret),
			GrantTypes: []string{gatehouse.GrantClientCredentials}}})
	})
	return n, up
}

// ledgerToken asks for a ledger token with the client's secret; scope ""
// asks for the defaults.
func (n *testNode) ledgerToken(t *testing.T, secret, scope string) (int, map[string]any) {
	t.Helper()
	form := url.Values{"grant_type": {"client_credentials"}, "resource": {"https://ledger.example.test"}}
	if scope != "" {
		form.Set("scope", scope)
	}
	status, body, _ := postForm(t, n.PublicURL+oauth.PathToken, form, func(r *http.Request) {
		r.SetBasicAuth("ledger-app", secret)
	})
	return status, body
}

func wantOAuthError(t *testing.T, status int, body map[string]any, code, desc string) {
	t.Helper()
	if status != 400 || body["error"] != code || !strings.Contains(body["error_description"].(string), desc) {
		t.Fatalf("got %d %v, want 400 %s with %q", status, body, code, desc)
	}
}

// TestSubscriptionLifecycleEndToEnd: an app subscribes to a manual API and
// gets nothing until approved; approved with fewer scopes, its tokens carry
// only those and pass the gateway; suspended, its token is refused at once;
// resumed, new tokens work (in the same second) while the old one stays
// refused.
func TestSubscriptionLifecycleEndToEnd(t *testing.T) {
	n, _ := ledgerNode(t)
	ctx := context.Background()
	api, err := n.Store.FindAPI(ctx, "ledger")
	if err != nil {
		t.Fatal(err)
	}
	if api.Source != gatehouse.SourceConfig || api.Approval != gatehouse.ApprovalManual {
		t.Fatalf("ledger in the store: %+v", api)
	}

	status, body := n.ledgerToken(t, ledgerSecret, "")
	wantOAuthError(t, status, body, "invalid_target", "no subscription")

	// The developer subscribes: pending.
	sub, step, err := gatehouse.NewSubscription("sub-ledger", "ledger-app", api, []string{"ledger:read", "ledger:write"}, time.Time{}, "dev", n.clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	sub.Source = gatehouse.SourceAdmin
	if err := n.Store.CreateSubscription(ctx, sub, step); err != nil {
		t.Fatal(err)
	}
	if err := n.GovernanceChanged(ctx); err != nil {
		t.Fatal(err)
	}
	status, body = n.ledgerToken(t, ledgerSecret, "ledger:read")
	wantOAuthError(t, status, body, "invalid_target", "pending approval")

	// The admin approves with fewer scopes than asked.
	step, err = sub.Approve([]string{"ledger:read"}, "admin", "read only for now", n.clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Store.UpdateSubscription(ctx, sub, &step); err != nil {
		t.Fatal(err)
	}
	if err := n.GovernanceChanged(ctx); err != nil {
		t.Fatal(err)
	}
	status, body = n.ledgerToken(t, ledgerSecret, "ledger:read ledger:write")
	wantOAuthError(t, status, body, "invalid_scope", "ledger:write")
	status, body = n.ledgerToken(t, ledgerSecret, "")
	if status != 200 || body["scope"] != "ledger:read" {
		t.Fatalf("after approval: %d %v", status, body)
	}
	tok := body["access_token"].(string)
	if resp, _ := n.call(t, "GET", "/ledger/1", tok, nil); resp.StatusCode != 200 {
		t.Fatalf("call with the approved token: %d", resp.StatusCode)
	}

	// Suspended: the very next call is refused.
	step, err = sub.Suspend("admin", "abuse", n.clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Store.UpdateSubscription(ctx, sub, &step); err != nil {
		t.Fatal(err)
	}
	if err := n.GovernanceChanged(ctx); err != nil {
		t.Fatal(err)
	}
	if resp, _ := n.call(t, "GET", "/ledger/1", tok, nil); resp.StatusCode != 401 {
		t.Fatalf("call after the suspension: %d, want 401", resp.StatusCode)
	}
	status, body = n.ledgerToken(t, ledgerSecret, "")
	wantOAuthError(t, status, body, "invalid_target", "suspended")

	// Resumed in the same second: new tokens work, the old one does not.
	step, err = sub.Resume("admin", "", n.clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Store.UpdateSubscription(ctx, sub, &step); err != nil {
		t.Fatal(err)
	}
	if err := n.GovernanceChanged(ctx); err != nil {
		t.Fatal(err)
	}
	status, body = n.ledgerToken(t, ledgerSecret, "")
	if status != 200 {
		t.Fatalf("token after resume: %d %v", status, body)
	}
	if resp, _ := n.call(t, "GET", "/ledger/1", body["access_token"].(string), nil); resp.StatusCode != 200 {
		t.Fatalf("new token after resume: %d", resp.StatusCode)
	}
	if resp, _ := n.call(t, "GET", "/ledger/1", tok, nil); resp.StatusCode != 401 {
		t.Fatalf("token from before the suspension, after resume: %d", resp.StatusCode)
	}

	// Every step is on record.
	steps, _, err := n.Store.FindStateChanges(ctx, gatehouse.StateChangeFilter{Kind: gatehouse.ObjectSubscription, ID: "sub-ledger"})
	if err != nil {
		t.Fatal(err)
	}
	var path []string
	for _, s := range steps {
		path = append(path, s.To)
	}
	if got := strings.Join(path, ","); got != "pending,approved,suspended,approved" {
		t.Errorf("recorded steps %s", got)
	}

	// Revoked: refused for good; the app may subscribe again.
	step, _ = sub.Revoke("admin", "contract ended", n.clock.Now())
	if err := n.Store.UpdateSubscription(ctx, sub, &step); err != nil {
		t.Fatal(err)
	}
	if err := n.GovernanceChanged(ctx); err != nil {
		t.Fatal(err)
	}
	status, body = n.ledgerToken(t, ledgerSecret, "")
	wantOAuthError(t, status, body, "invalid_target", "revoked")
}

// TestCredentialRevocation: an app holds two secrets at once; revoking
// one refuses exactly the tokens issued with it, and the secret itself.
func TestCredentialRevocation(t *testing.T) {
	n, _ := ledgerNode(t)
	ctx := context.Background()
	api, _ := n.Store.FindAPI(ctx, "ledger")
	sub, step, _ := gatehouse.NewSubscription("s1", "ledger-app", api, nil, time.Time{}, "dev", n.clock.Now())
	sub.ApprovedScopes, sub.State, step.To = sub.Scopes, gatehouse.SubApproved, "approved"
	if err := n.Store.CreateSubscription(ctx, sub, step); err != nil {
		t.Fatal(err)
	}
	cred := &gatehouse.Credential{ID: "cred-rotated", ClientID: "ledger-app", Kind: gatehouse.CredentialSecret,
		Hash: gatehouse.HashSecret(rotatedSecret), CreatedAt: n.clock.Now()}
	if err := n.Store.CreateCredential(ctx, cred); err != nil {
		t.Fatal(err)
	}
	if err := n.GovernanceChanged(ctx); err != nil {
		t.Fatal(err)
	}
	status, body := n.ledgerToken(t, rotatedSecret, "ledger:read")
	if status != 200 {
		t.Fatalf("token with the rotated secret: %d %v", status, body)
	}
	viaRotated := body["access_token"].(string)
	_, body = n.ledgerToken(t, ledgerSecret, "ledger:read")
	viaPrimary := body["access_token"].(string)

	step, err := cred.Revoke("admin", "leaked", n.clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	revs, err := n.Store.RevokeCredential(ctx, cred, step)
	if err != nil {
		t.Fatal(err)
	}
	n.Revocations.Add(revs...)
	if len(revs) != 1 {
		t.Fatalf("revoked %d tokens, want exactly the one issued with the credential", len(revs))
	}
	if resp, _ := n.call(t, "GET", "/ledger/1", viaRotated, nil); resp.StatusCode != 401 {
		t.Errorf("token of the revoked credential: %d", resp.StatusCode)
	}
	if resp, _ := n.call(t, "GET", "/ledger/1", viaPrimary, nil); resp.StatusCode != 200 {
		t.Errorf("token of the other secret: %d", resp.StatusCode)
	}
	if status, _ := n.ledgerToken(t, rotatedSecret, ""); status != 401 {
		t.Errorf("authentication with the revoked secret: %d", status)
	}
}

// TestBulkRevocationAndDeletedApp: revoking by API refuses every app's
// tokens for it; deleting an app refuses its tokens; each bulk revocation
// is a security event.
func TestBulkRevocationAndDeletedApp(t *testing.T) {
	n, _ := ledgerNode(t)
	ctx := context.Background()
	ordersTok := n.ordersToken(t, "orders:read")
	if resp, _ := n.call(t, "GET", "/orders/1", ordersTok, nil); resp.StatusCode != 200 {
		t.Fatalf("before: %d", resp.StatusCode)
	}
	if err := n.RevokeAPITokens(ctx, "orders", "admin", "key compromise"); err != nil {
		t.Fatal(err)
	}
	if resp, _ := n.call(t, "GET", "/orders/1", ordersTok, nil); resp.StatusCode != 401 {
		t.Errorf("after revocation by API: %d", resp.StatusCode)
	}
	fresh := n.ordersToken(t, "orders:read")
	if resp, _ := n.call(t, "GET", "/orders/1", fresh, nil); resp.StatusCode != 200 {
		t.Errorf("a token issued after the revocation: %d", resp.StatusCode)
	}
	if err := n.RevokeAppTokens(ctx, "svc-basic", "admin", "decommissioned"); err != nil {
		t.Fatal(err)
	}
	if resp, _ := n.call(t, "GET", "/orders/1", fresh, nil); resp.StatusCode != 401 {
		t.Errorf("after revocation by app: %d", resp.StatusCode)
	}
	for _, typ := range []string{gatehouse.EventAPITokensRevoked, gatehouse.EventAppTokensRevoked} {
		evs, err := n.Store.FindEvents(ctx, gatehouse.EventFilter{Type: typ})
		if err != nil || len(evs) != 1 {
			t.Errorf("%s events: %v %v", typ, evs, err)
		}
	}

	// Deleting an app.
	api, _ := n.Store.FindAPI(ctx, "ledger")
	sub, step, _ := gatehouse.NewSubscription("s1", "ledger-app", api, nil, time.Time{}, "dev", n.clock.Now())
	sub.ApprovedScopes, sub.State, step.To = sub.Scopes, gatehouse.SubApproved, "approved"
	if err := n.Store.CreateSubscription(ctx, sub, step); err != nil {
		t.Fatal(err)
	}
	status, body := n.ledgerToken(t, ledgerSecret, "")
	if status != 200 {
		t.Fatalf("ledger token: %d %v", status, body)
	}
	tok := body["access_token"].(string)
	if err := n.Store.DeleteApp(ctx, "ledger-app", 0, "admin", n.clock.Now()); err != nil {
		t.Fatal(err)
	}
	if err := n.GovernanceChanged(ctx); err != nil {
		t.Fatal(err)
	}
	if resp, _ := n.call(t, "GET", "/ledger/1", tok, nil); resp.StatusCode != 401 {
		t.Errorf("token of a deleted app: %d", resp.StatusCode)
	}
}

// TestChangesFromAnotherProcess: a change written to the store by another
// process (here a second connection, as `gatehouse apply` would) reaches
// the running node within a few seconds, without a reload call.
func TestChangesFromAnotherProcess(t *testing.T) {
	n, _ := ledgerNode(t)
	ctx := context.Background()
	tok := n.ordersToken(t, "orders:read")
	other, err := sqlite.Open(ctx, filepath.Join(n.dataDir, "gatehouse.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	subs, _, err := other.FindSubscriptions(ctx, gatehouse.SubscriptionFilter{ClientID: "svc-basic", API: "orders"})
	if err != nil || len(subs) != 1 || subs[0].Source != gatehouse.SourceConfig || subs[0].State != gatehouse.SubApproved {
		t.Fatalf("config client's subscription: %v %v", subs, err)
	}
	sub := subs[0]
	step, err := sub.Suspend("admin", "other process", n.clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	if err := other.UpdateSubscription(ctx, sub, &step); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(6 * time.Second)
	for {
		resp, _ := n.call(t, "GET", "/orders/1", tok, nil)
		if resp.StatusCode == 401 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the node did not pick up the suspension: %d", resp.StatusCode)
		}
		time.Sleep(100 * time.Millisecond)
	}
	// A reload of the serve config does not undo the suspension.
	if err := n.Reload(ctx, n.cfg); err != nil {
		t.Fatal(err)
	}
	got, _ := other.FindSubscription(ctx, sub.ID)
	if got.State != gatehouse.SubSuspended {
		t.Errorf("after a config reload: %s", got.State)
	}
}

// TestPrivateKeyJWTCredential: a key added as a credential authenticates
// beside the registered keys, and the token records it; revoked, it no
// longer does.
func TestPrivateKeyJWTCredential(t *testing.T) {
	n := startNode(t)
	ctx := context.Background()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	jwk, _ := json.Marshal(map[string]string{"kty": "OKP", "crv": "Ed25519", "kid": "rotated", "alg": "EdDSA",
		"x": base64.RawURLEncoding.EncodeToString(pub)})
	cred := &gatehouse.Credential{ID: "key-2", ClientID: "svc-jwt", Kind: gatehouse.CredentialPrivateKeyJWT, JWK: jwk, CreatedAt: n.clock.Now()}
	if err := n.Store.CreateCredential(ctx, cred); err != nil {
		t.Fatal(err)
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.EdDSA, Key: priv},
		(&jose.SignerOptions{}).WithType("JWT").WithHeader("kid", "rotated"))
	if err != nil {
		t.Fatal(err)
	}
	ask := func(jti string) (int, map[string]any) {
		now := n.clock.Now()
		a, err := jwt.Signed(signer).Claims(jwt.Claims{Issuer: "svc-jwt", Subject: "svc-jwt", Audience: jwt.Audience{n.Issuer},
			ID: jti, IssuedAt: jwt.NewNumericDate(now), Expiry: jwt.NewNumericDate(now.Add(time.Minute))}).Serialize()
		if err != nil {
			t.Fatal(err)
		}
		status, body, _ := postForm(t, n.PublicURL+oauth.PathToken, url.Values{"grant_type": {"client_credentials"},
			"client_assertion_type": {"urn:ietf:params:oauth:client-assertion-type:jwt-bearer"}, "client_assertion": {a}}, nil)
		return status, body
	}
	status, body := ask("a1")
	if status != 200 {
		t.Fatalf("with the credential's key: %d %v", status, body)
	}
	claims, err := n.Verifier.Verify(ctx, body["access_token"].(string))
	if err != nil {
		t.Fatal(err)
	}
	rec, err := n.Store.FindTokenByID(ctx, claims.ID)
	if err != nil || rec.CredentialID != "key-2" {
		t.Fatalf("token record: %+v %v", rec, err)
	}
	step, _ := cred.Revoke("admin", "rotated out", n.clock.Now())
	revs, err := n.Store.RevokeCredential(ctx, cred, step)
	if err != nil || len(revs) != 1 {
		t.Fatalf("revoke: %v %v", revs, err)
	}
	if status, _ := ask("a2"); status != 401 {
		t.Errorf("with a revoked credential's key: %d", status)
	}
}

// TestConfigSyncWritesNothingUnchanged: a reload or a restart with the
// same config moves no revision, so ETags stay valid.
func TestConfigSyncWritesNothingUnchanged(t *testing.T) {
	dir := t.TempDir()
	n := startNodeIn(t, dir, nil)
	before := revisions(t, n.dataDir)
	if err := n.Reload(context.Background(), n.cfg); err != nil {
		t.Fatal(err)
	}
	after := revisions(t, n.dataDir)
	for k, v := range before {
		if after[k] != v {
			t.Errorf("%s: revision %d -> %d after reloading the same config", k, v, after[k])
		}
	}
	if len(before) < 10 {
		t.Fatalf("only %d objects: the check proves little", len(before))
	}
}

// TestRegistrationCannotBypassApproval: RFC 7591 registration grants no
// scope of an API whose subscriptions need approval.
func TestRegistrationCannotBypassApproval(t *testing.T) {
	n, _ := ledgerNode(t)
	req, _ := http.NewRequest(http.MethodPost, n.Issuer+oauth.PathRegister,
		strings.NewReader(`{"client_name":"Sneaky","grant_types":["client_credentials"],"scope":"ledger:read"}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+n.adminToken(t))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&body)
	if resp.StatusCode != 400 || body["error"] != "invalid_client_metadata" || !strings.Contains(body["error_description"].(string), "approves subscriptions manually") {
		t.Fatalf("registration with a manual API's scope: %d %v", resp.StatusCode, body)
	}
}

// TestSubscriptionExpiry: at its expiry a subscription grants nothing,
// tokens never outlive it, and housekeeping records the step.
func TestSubscriptionExpiry(t *testing.T) {
	n, _ := ledgerNode(t)
	ctx := context.Background()
	api, _ := n.Store.FindAPI(ctx, "ledger")
	expires := n.clock.Now().Add(2 * time.Minute)
	sub, step, _ := gatehouse.NewSubscription("s1", "ledger-app", api, nil, expires, "dev", n.clock.Now())
	if _, err := sub.Approve(nil, "admin", "", n.clock.Now()); err != nil {
		t.Fatal(err)
	}
	step.To = string(gatehouse.SubApproved)
	if err := n.Store.CreateSubscription(ctx, sub, step); err != nil {
		t.Fatal(err)
	}
	status, body := n.ledgerToken(t, ledgerSecret, "")
	if status != 200 {
		t.Fatalf("token: %d %v", status, body)
	}
	if in := body["expires_in"].(float64); in > 120 || in < 100 {
		t.Errorf("expires_in %v: the token outlives its subscription (2 minutes)", in)
	}
	if k, err := n.expireSubscriptions(ctx); err != nil || k != 0 {
		t.Fatalf("expired early: %d %v", k, err)
	}
	n.clock.Advance(2 * time.Minute)
	status, body = n.ledgerToken(t, ledgerSecret, "")
	wantOAuthError(t, status, body, "invalid_target", "expired")
	if k, err := n.expireSubscriptions(ctx); err != nil || k != 1 {
		t.Fatalf("expire: %d %v", k, err)
	}
	got, _ := n.Store.FindSubscription(ctx, "s1")
	if got.State != gatehouse.SubExpired {
		t.Errorf("state %s", got.State)
	}
}

// TestAPIKeyCredential: an API key is an app credential: issued only under
// an approved subscription, checked by the gateway, refused at once when
// the credential is revoked or the subscription suspended.
func TestAPIKeyCredential(t *testing.T) {
	n, _ := ledgerNode(t)
	ctx := context.Background()
	if _, _, err := n.IssueAPIKey(ctx, "ledger-app", "ledger", []string{"ledger:read"}, time.Hour, "ci"); gatehouse.ErrorCode(err) != gatehouse.CodeForbidden {
		t.Fatalf("a key without a subscription: %v", err)
	}
	api, _ := n.Store.FindAPI(ctx, "ledger")
	sub, step, _ := gatehouse.NewSubscription("s1", "ledger-app", api, nil, time.Time{}, "dev", n.clock.Now())
	if err := n.Store.CreateSubscription(ctx, sub, step); err != nil {
		t.Fatal(err)
	}
	if _, _, err := n.IssueAPIKey(ctx, "ledger-app", "ledger", []string{"ledger:read"}, time.Hour, "ci"); gatehouse.ErrorCode(err) != gatehouse.CodeForbidden {
		t.Fatalf("a key under a pending subscription: %v", err)
	}
	step, _ = sub.Approve([]string{"ledger:read"}, "admin", "", n.clock.Now())
	if err := n.Store.UpdateSubscription(ctx, sub, &step); err != nil {
		t.Fatal(err)
	}
	if _, _, err := n.IssueAPIKey(ctx, "ledger-app", "ledger", []string{"ledger:write"}, time.Hour, "ci"); gatehouse.ErrorCode(err) != gatehouse.CodeInvalid {
		t.Fatalf("a key with a scope not approved: %v", err)
	}
	key, cred, err := n.IssueAPIKey(ctx, "ledger-app", "ledger", []string{"ledger:read"}, time.Hour, "ci")
	if err != nil {
		t.Fatal(err)
	}
	other, _, err := n.IssueAPIKey(ctx, "ledger-app", "ledger", []string{"ledger:read"}, time.Hour, "rotation")
	if err != nil {
		t.Fatal(err)
	}
	withKey := func(k string) int {
		resp, _ := n.call(t, "GET", "/ledger-key/1", "", map[string]string{"X-API-Key": k})
		return resp.StatusCode
	}
	if s1, s2 := withKey(key), withKey(other); s1 != 200 || s2 != 200 {
		t.Fatalf("the keys: %d %d", s1, s2)
	}
	if err := n.RevokeCredential(ctx, cred.ID, cred.Revision, "admin", "leaked"); err != nil {
		t.Fatal(err)
	}
	if s1, s2 := withKey(key), withKey(other); s1 != 401 || s2 != 200 {
		t.Fatalf("after revoking the first: %d %d", s1, s2)
	}
	step, _ = sub.Suspend("admin", "", n.clock.Now())
	if err := n.Store.UpdateSubscription(ctx, sub, &step); err != nil {
		t.Fatal(err)
	}
	if err := n.GovernanceChanged(ctx); err != nil {
		t.Fatal(err)
	}
	if s := withKey(other); s != 401 {
		t.Fatalf("a key of a suspended subscription: %d", s)
	}
}

// TestOlderAPIKeyEndpointChecksSubscriptions: POST /admin/v1/api-keys
// issues keys by the same rules as an api_key credential. It used to check
// only the config's access, so an app could get a key for an API whose
// subscription was still pending, or with scopes not approved.
func TestOlderAPIKeyEndpointChecksSubscriptions(t *testing.T) {
	n, _ := ledgerNode(t)
	ctx := context.Background()
	ask := func(scopes string) (int, map[string]any) {
		return n.adminJSON(t, "POST", "/admin/v1/api-keys", `{"client_id":"ledger-app","api":"ledger","scopes":`+scopes+`,"expires_in":86400}`)
	}
	if status, body := ask(`["ledger:read"]`); status != 422 || body["field"] != "api" {
		t.Fatalf("no subscription: %d %v, want 422 on api", status, body)
	}
	api, _ := n.Store.FindAPI(ctx, "ledger")
	expires := n.clock.Now().Add(time.Hour)
	sub, step, _ := gatehouse.NewSubscription("s1", "ledger-app", api, nil, expires, "dev", n.clock.Now())
	if err := n.Store.CreateSubscription(ctx, sub, step); err != nil {
		t.Fatal(err)
	}
	if status, body := ask(`["ledger:read"]`); status != 422 || !strings.Contains(fmt.Sprint(body["detail"]), "pending") {
		t.Fatalf("pending subscription: %d %v, want 422 naming its state", status, body)
	}
	step, _ = sub.Approve([]string{"ledger:read"}, "admin", "", n.clock.Now())
	if err := n.Store.UpdateSubscription(ctx, sub, &step); err != nil {
		t.Fatal(err)
	}
	if status, body := ask(`["ledger:write"]`); status != 422 || body["field"] != "scopes" {
		t.Fatalf("a scope not approved: %d %v, want 422 on scopes", status, body)
	}
	status, body := ask(`["ledger:read"]`)
	if status != 201 || body["api_key"] == nil || body["credential_id"] == nil {
		t.Fatalf("approved: %d %v", status, body)
	}
	// A day was asked for; the subscription ends in an hour.
	if exp, _ := time.Parse(time.RFC3339, body["expires_at"].(string)); exp.After(expires) {
		t.Errorf("key expires %v, after its subscription (%v)", exp, expires)
	}
	resp, _ := n.call(t, "GET", "/ledger-key/1", "", map[string]string{"X-API-Key": body["api_key"].(string)})
	if resp.StatusCode != 200 {
		t.Fatalf("the key at the gateway: %d", resp.StatusCode)
	}
	// Its id is the token record's: revoked like a token, it stops.
	if status, b := n.adminJSON(t, "POST", "/admin/v1/tokens/"+body["id"].(string)+"/revoke", `{}`); status != 200 {
		t.Fatalf("revoke by id: %d %v", status, b)
	}
	if resp, _ := n.call(t, "GET", "/ledger-key/1", "", map[string]string{"X-API-Key": body["api_key"].(string)}); resp.StatusCode != 401 {
		t.Fatalf("revoked key: %d", resp.StatusCode)
	}
	// An app with access from the config and a suspended subscription gets
	// no key either (the config's access used to be enough).
	subs, err := n.Store.FindSubscriptionsByClient(ctx, "svc-basic")
	if err != nil {
		t.Fatal(err)
	}
	var osub *gatehouse.Subscription
	for _, s := range subs {
		if s.API == "orders" {
			osub = s
		}
	}
	if osub == nil {
		t.Fatal("svc-basic has no subscription to orders")
	}
	ostep, err := osub.Suspend("admin", "", n.clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Store.UpdateSubscription(ctx, osub, &ostep); err != nil {
		t.Fatal(err)
	}
	if status, body := n.adminJSON(t, "POST", "/admin/v1/api-keys", `{"client_id":"svc-basic","api":"orders","scopes":["orders:read"],"expires_in":86400}`); status != 422 ||
		!strings.Contains(fmt.Sprint(body["detail"]), "suspended") {
		t.Fatalf("config access, suspended subscription: %d %v, want 422 naming the state", status, body)
	}
}
