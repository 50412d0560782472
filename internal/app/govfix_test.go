package app

import (
	"context"
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/internal/config"
	"github.com/gatehouse/gatehouse/internal/sqlite"
)

// approvedLedgerToken gives ledger-app an approved subscription to ledger
// and returns its id and a token that passes the gateway.
func (n *testNode) approvedLedgerToken(t *testing.T) (string, string) {
	t.Helper()
	ctx := context.Background()
	api, err := n.Store.FindAPI(ctx, "ledger")
	if err != nil {
		t.Fatal(err)
	}
	sub, step, err := gatehouse.NewSubscription("sub-ledger", "ledger-app", api, []string{"ledger:read"}, time.Time{}, "dev", n.clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	sub.Source = gatehouse.SourceAdmin
	sub.ApprovedScopes, sub.State, step.To = sub.Scopes, gatehouse.SubApproved, "approved"
	if err := n.Store.CreateSubscription(ctx, sub, step); err != nil {
		t.Fatal(err)
	}
	if err := n.GovernanceChanged(ctx); err != nil {
		t.Fatal(err)
	}
	status, body := n.ledgerToken(t, ledgerSecret, "")
	if status != 200 {
		t.Fatalf("ledger token: %d %v", status, body)
	}
	tok := body["access_token"].(string)
	if resp, _ := n.call(t, "GET", "/ledger/1", tok, nil); resp.StatusCode != 200 {
		t.Fatalf("call with the approved token: %d", resp.StatusCode)
	}
	return sub.ID, tok
}

// TestPublishingAConflictingAPIIsRefused: an API whose routes collide
// with a published API's is accepted as a draft, but publishing it is
// refused before anything is stored; it stays a draft, and later admin
// changes (a suspension) answer success and take effect at once.
func TestPublishingAConflictingAPIIsRefused(t *testing.T) {
	n, up := ledgerNode(t)
	adm := n.adminToken(t)
	base := n.AdminURL + "/admin/v1"
	subID, tok := n.approvedLedgerToken(t)

	status, body := jsonCall(t, "POST", base+"/apis", adm, `{"name":"dupr","audience":"https://dupr.local","scopes":["d"],
		"upstream":["`+up.URL+`"],"routes":[{"path":"/ledger/*"}]}`)
	if status != 201 || body["lifecycle"] != "draft" {
		t.Fatalf("create a draft: %d %v", status, body)
	}
	status, body = jsonCall(t, "POST", base+"/apis/dupr/publish", adm, ``)
	if (status != 422 && status != 409) || !strings.Contains(body["detail"].(string), "conflict") {
		t.Fatalf("publish a conflicting API: %d %v, want 409 or 422 naming the conflict", status, body)
	}
	if _, body = jsonCall(t, "GET", base+"/apis/dupr", adm, ``); body["lifecycle"] != "draft" {
		t.Fatalf("after the refused publish: %v, want still a draft", body)
	}
	steps, _, err := n.Store.FindStateChanges(context.Background(), gatehouse.StateChangeFilter{Kind: gatehouse.ObjectAPI, ID: "dupr"})
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range steps {
		if s.To != "draft" {
			t.Fatalf("a lifecycle step of dupr was recorded: %+v", s)
		}
	}

	status, body = jsonCall(t, "POST", base+"/subscriptions/"+subID+"/suspend", adm, `{"reason":"abuse"}`)
	if status != 200 || body["state"] != "suspended" {
		t.Fatalf("suspend: %d %v", status, body)
	}
	if resp, _ := n.call(t, "GET", "/ledger/1", tok, nil); resp.StatusCode != 401 {
		t.Fatalf("call after the suspension: %d, want 401", resp.StatusCode)
	}
}

// TestBrokenStoredCatalogStillEnforces: when the stored catalog does not
// compile (written by another process), the running routing table stays,
// a warning is logged, and enforcement still follows the store: an admin
// suspension answers 200 and refuses the token at the gateway at once.
func TestBrokenStoredCatalogStillEnforces(t *testing.T) {
	n, up := ledgerNode(t)
	ctx := context.Background()
	adm := n.adminToken(t)
	base := n.AdminURL + "/admin/v1"
	subID, tok := n.approvedLedgerToken(t)

	now := n.clock.Now()
	if err := n.Store.CreateAPI(ctx, &gatehouse.API{Name: "dupr", Audience: "https://dupr.local", Scopes: []string{"d"},
		Lifecycle: gatehouse.LifecyclePublished, Approval: gatehouse.ApprovalAuto, Source: gatehouse.SourceAdmin,
		Upstream: gatehouse.Upstream{Targets: []string{up.URL}}, Routes: []gatehouse.Route{{Path: "/ledger/*"}},
		CreatedAt: now, UpdatedAt: now}); err != nil {
		t.Fatal(err)
	}
	if err := n.GovernanceChanged(ctx); err != nil {
		t.Fatalf("a catalog that does not compile failed the whole reload: %v", err)
	}
	if !strings.Contains(n.logs.String(), "catalog from the store not loaded") {
		t.Error("the refused catalog is not logged")
	}
	if n.catalog.API("dupr") != nil {
		t.Error("the catalog took an API whose routes did not compile")
	}
	status, body := jsonCall(t, "POST", base+"/subscriptions/"+subID+"/suspend", adm, `{"reason":"abuse"}`)
	if status != 200 || body["state"] != "suspended" {
		t.Fatalf("suspend with a broken stored catalog: %d %v", status, body)
	}
	if resp, _ := n.call(t, "GET", "/ledger/1", tok, nil); resp.StatusCode != 401 {
		t.Fatalf("call after the suspension: %d, want 401", resp.StatusCode)
	}
	// Other admin writes answer success too.
	if status, body := jsonCall(t, "POST", base+"/teams", adm, `{"name":"green"}`); status != 201 {
		t.Fatalf("create a team: %d %v", status, body)
	}
}

// TestUpstreamCredentialsRefused: the admin API refuses upstream targets
// with user info or a query without echoing them, and developers never
// see an API's upstream.
func TestUpstreamCredentialsRefused(t *testing.T) {
	n, _ := ledgerNode(t)
	adm := n.adminToken(t)
	base := n.AdminURL + "/admin/v1"
	if status, body := jsonCall(t, "POST", base+"/apis", adm, `{"name":"plain","audience":"https://plain.local","scopes":["d"],"upstream":["http://127.0.0.1:29000"],"routes":[{"path":"/plain/*"}]}`); status != 201 {
		t.Fatalf("create an API: %d %v", status, body)
	}
	for _, target := range []string{"http://svc:S3cretPass@127.0.0.1:29000", "http://127.0.0.1:29000/x?key=S3cretPass", "http://127.0.0.1:29000/#S3cretPass"} {
		for _, req := range []struct{ method, path, body string }{
			{"POST", "/apis", `{"name":"creds","audience":"https://creds.local","scopes":["d"],"upstream":["` + target + `"],"routes":[{"path":"/creds/*"}]}`},
			{"PATCH", "/apis/plain", `{"upstream":["` + target + `"]}`},
		} {
			status, body := jsonCall(t, req.method, base+req.path, adm, req.body, "If-Match", "*")
			raw, _ := json.Marshal(body)
			if status != 422 || body["field"] != "upstream.0" {
				t.Errorf("%s %s with %s: %d %s, want 422 on upstream.0", req.method, req.path, target, status, raw)
			}
			if strings.Contains(string(raw), "S3cretPass") {
				t.Errorf("%s %s: the problem echoes the secret: %s", req.method, req.path, raw)
			}
		}
	}
	if _, body := jsonCall(t, "GET", base+"/apis/ledger", adm, ``); body["upstream"] == nil {
		t.Errorf("an administrator does not see the upstream: %v", body)
	}
	dev := n.mintAdmin(t, n.account(t, "dora", gatehouse.RoleDeveloper, "blue"), gatehouse.DeveloperScope)
	status, one := jsonCall(t, "GET", base+"/apis/ledger", dev, ``)
	if status != 200 {
		t.Fatalf("developer reads ledger: %d %v", status, one)
	}
	_, list := jsonCall(t, "GET", base+"/apis", dev, ``)
	items := list["items"].([]any)
	if len(items) == 0 {
		t.Fatal("the developer lists no API")
	}
	for _, v := range append(items, any(one)) {
		if _, ok := v.(map[string]any)["upstream"]; ok {
			t.Errorf("a developer sees an upstream: %v", v)
		}
	}
}

// TestStartPortInUse: Start on a port another process holds returns an
// error (and closes what it opened) instead of panicking.
func TestStartPortInUse(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	cfg := config.Default()
	cfg.DataDir = filepath.Join(t.TempDir(), "data")
	cfg.Public.Addr = ln.Addr().String()
	cfg.Admin.Addr = "127.0.0.1:0"
	env := func(k string) (string, bool) {
		if k == "GATEHOUSE_BOOTSTRAP_SECRET" {
			return adminSecret, true
		}
		return "", false
	}
	n, err := Start(context.Background(), Options{Config: cfg, Env: env})
	if err == nil {
		_ = n.Shutdown(context.Background())
		t.Fatal("Start on a port in use succeeded")
	}
	if n != nil || !strings.Contains(err.Error(), "public listener") {
		t.Fatalf("Start on a port in use: %v %v", n, err)
	}
}

// TestStartOnAStoreThatDoesNotCompile: a store whose catalog has a route
// conflict (written before the admin API checked) makes Start return an
// error naming the conflict, without panicking or showing credentials.
func TestStartOnAStoreThatDoesNotCompile(t *testing.T) {
	ctx := context.Background()
	cfg := config.Default()
	cfg.DataDir = filepath.Join(t.TempDir(), "data")
	cfg.Public.Addr, cfg.Admin.Addr = "127.0.0.1:0", "127.0.0.1:0"
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		t.Fatal(err)
	}
	db, err := sqlite.Open(ctx, filepath.Join(cfg.DataDir, "gatehouse.db"))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	for _, name := range []string{"one", "two"} {
		if err := db.CreateAPI(ctx, &gatehouse.API{Name: name, Audience: "https://" + name + ".local", Scopes: []string{"d"},
			Lifecycle: gatehouse.LifecyclePublished, Approval: gatehouse.ApprovalAuto, Source: gatehouse.SourceAdmin,
			Upstream: gatehouse.Upstream{Targets: []string{"http://127.0.0.1:29000"}}, Routes: []gatehouse.Route{{Path: "/b/*"}},
			CreatedAt: now, UpdatedAt: now}); err != nil {
			t.Fatal(err)
		}
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	env := func(k string) (string, bool) {
		if k == "GATEHOUSE_BOOTSTRAP_SECRET" {
			return adminSecret, true
		}
		return "", false
	}
	n, err := Start(ctx, Options{Config: cfg, Env: env})
	if err == nil {
		_ = n.Shutdown(ctx)
		t.Fatal("Start on a catalog with a route conflict succeeded")
	}
	if !strings.Contains(err.Error(), "route conflict") {
		t.Fatalf("Start: %v, want the route conflict named", err)
	}
}
