package app

import (
	"bytes"
	"context"
	"database/sql"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/internal/sqlite"
)

// applyFile is a catalog with every kind of object apply manages.
const applyFile = `
teams:
  - name: payments
    description: Pays for things ($$ only)
apis:
  - name: orders-v1
    family: orders
    version: v1
    audience: https://orders.example.test/v1
    scopes: [orders:read]
    lifecycle: deprecated
    sunset: 2031-06-30T00:00:00Z
    upstream: {targets: ['http://127.0.0.1:9']}
    routes: [{path: /v1/orders/*, scopes: [orders:read]}]
  - name: orders-v2
    family: orders
    version: v2
    approval: manual
    description: Second version
    openapi: orders-v2.json
    audience: https://orders.example.test/v2
    scopes: [orders:read, orders:write]
    upstream: {targets: ['http://127.0.0.1:9'], retries: 0, forwarding: none}
    upstream_auth: {static_header: X-Key, static_value: '${ORDERS_KEY}'}
    traffic: {per_client: {rate: 10, period: 1s, burst: 5}, quota: {daily: 1000}, ip_deny: [10.9.0.0/16]}
    routes:
      - {path: /v2/orders/*, methods: [GET], scopes: [orders:read]}
      - {path: /v2/health, credential: none}
clients:
  - id: shop
    name: The shop
    team: payments
    auth_method: client_secret_basic
    apis:
      - {api: orders-v1, scopes: [orders:read], default_scopes: [orders:read]}
    networks: {allow: [10.0.0.0/8]}
  - id: reports
    team: payments
    auth_method: client_secret_post
subscriptions:
  - {app: reports, api: orders-v2, scopes: [orders:read, orders:write], approved_scopes: [orders:read], state: approved}
  - {app: shop, api: orders-v2, scopes: [orders:write], state: pending}
`

const openAPIDoc = `{"openapi":"3.1.0","info":{"title":"Orders","version":"2"},"paths":{}}`

func writeApplyFile(t *testing.T, dir, body string) string {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, "orders-v2.json"), []byte(openAPIDoc), 0o600); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, "catalog.yaml")
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func runMain(t *testing.T, env map[string]string, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := Main(context.Background(), args, mapEnv(env), strings.NewReader(""), &out, &errb)
	return code, out.String(), errb.String()
}

// revisions returns every governed object's revision, to prove a run that
// changes nothing writes nothing.
func revisions(t *testing.T, dataDir string) map[string]int64 {
	t.Helper()
	db, err := sqlite.Open(context.Background(), filepath.Join(dataDir, "gatehouse.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx := context.Background()
	out := map[string]int64{}
	teams, _ := allTeams(ctx, db)
	for _, x := range teams {
		out["team "+x.Name] = x.Revision
	}
	apis, _ := allAPIs(ctx, db)
	for _, x := range apis {
		out["api "+x.Name] = x.Revision
	}
	clients, _ := db.FindClients(ctx, gatehouse.ClientFilter{})
	for _, x := range clients {
		out["client "+x.ID] = x.Revision
	}
	subs, _ := allSubscriptions(ctx, db)
	for _, x := range subs {
		out["subscription "+x.ClientID+" "+x.API+" "+string(x.State)] = x.Revision
	}
	counter, _ := db.ChangeCounter(ctx)
	out["counter"] = counter
	return out
}

func TestApplyIdempotent(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	env := map[string]string{"GATEHOUSE_DATA": data, "ORDERS_KEY": "upstream-key-" + strings.Repeat("k", 20)}
	file := writeApplyFile(t, dir, applyFile)

	code, out, stderr := runMain(t, env, "apply", "-f", file, "--dry-run")
	if code != ExitChanges || !strings.Contains(out, "create api orders-v2") || !strings.Contains(out, "dry run") {
		t.Fatalf("dry run: %d\n%s\n%s", code, out, stderr)
	}
	if _, err := os.Stat(filepath.Join(data, "secrets")); err == nil {
		t.Error("a dry run generated secrets")
	}
	if r := revisions(t, data); len(r) != 1 || r["counter"] != 0 {
		t.Fatalf("a dry run changed the store: %v", r)
	}

	code, out, stderr = runMain(t, env, "apply", "-f", file)
	if code != ExitOK {
		t.Fatalf("apply: %d\n%s\n%s", code, out, stderr)
	}
	for _, want := range []string{"create team payments", "create api orders-v1", "create client shop (a secret is generated)",
		"create subscription shop -> orders-v1 (approved)", "create subscription shop -> orders-v2 (pending)",
		"create subscription reports -> orders-v2 (approved)"} {
		if !strings.Contains(out, want) {
			t.Errorf("apply output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out+stderr, env["ORDERS_KEY"]) {
		t.Error("the static upstream credential was printed")
	}
	before := revisions(t, data)

	// Twice: nothing to do, nothing written.
	code, out, _ = runMain(t, env, "apply", "-f", file, "--dry-run")
	if code != ExitOK || strings.TrimSpace(out) != "no changes" {
		t.Fatalf("second dry run: %d\n%s", code, out)
	}
	code, out, _ = runMain(t, env, "apply", "-f", file)
	if code != ExitOK || strings.TrimSpace(out) != "no changes" {
		t.Fatalf("second apply: %d\n%s", code, out)
	}
	after := revisions(t, data)
	for k, v := range before {
		if after[k] != v {
			t.Errorf("%s: revision %d -> %d after applying the same file", k, v, after[k])
		}
	}

	// What the store holds.
	db, err := sqlite.Open(context.Background(), filepath.Join(data, "gatehouse.db"))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	v2, err := db.FindAPI(ctx, "orders-v2")
	if err != nil {
		t.Fatal(err)
	}
	if v2.Source != gatehouse.SourceApply || v2.Approval != gatehouse.ApprovalManual || string(v2.OpenAPI) != openAPIDoc ||
		v2.UpstreamAuth.StaticValue != "" || len(v2.UpstreamAuth.SealedStaticValue) == 0 {
		t.Errorf("orders-v2 stored: %+v", v2)
	}
	subs, _, _ := db.FindSubscriptions(ctx, gatehouse.SubscriptionFilter{ClientID: "reports"})
	if len(subs) != 1 || strings.Join(subs[0].ApprovedScopes, " ") != "orders:read" {
		t.Errorf("reports' subscription: %+v", subs)
	}
	db.Close()

	// Edits: a changed description, a suspension, a removed API.
	edited := strings.Replace(applyFile, "description: Second version", "description: Version two", 1)
	edited = strings.Replace(edited, "approved_scopes: [orders:read], state: approved", "approved_scopes: [orders:read], state: suspended, reason: audit", 1)
	edited = edited[:strings.Index(edited, "  - name: orders-v2")] + edited[strings.Index(edited, "clients:"):]
	edited = strings.Replace(edited, "subscriptions:\n  - {app: reports, api: orders-v2, scopes: [orders:read, orders:write], approved_scopes: [orders:read], state: suspended, reason: audit}\n  - {app: shop, api: orders-v2, scopes: [orders:write], state: pending}\n", "", 1)
	file = writeApplyFile(t, dir, edited)
	code, out, stderr = runMain(t, env, "apply", "-f", file)
	if code != ExitOK || !strings.Contains(out, "delete api orders-v2") {
		t.Fatalf("apply of the edited file: %d\n%s\n%s", code, out, stderr)
	}
	db, _ = sqlite.Open(ctx, filepath.Join(data, "gatehouse.db"))
	defer db.Close()
	if _, err := db.FindAPI(ctx, "orders-v2"); gatehouse.ErrorCode(err) != gatehouse.CodeNotFound {
		t.Errorf("removed API: %v", err)
	}
	steps, _, _ := db.FindStateChanges(ctx, gatehouse.StateChangeFilter{Kind: gatehouse.ObjectAPI, ID: "orders-v2"})
	if len(steps) != 2 || steps[1].To != "retired" || steps[1].Actor != "apply" {
		t.Errorf("steps of the removed API: %+v", steps)
	}
}

// TestApplyBadFile: problems are listed with their lines and nothing is
// written.
func TestApplyBadFile(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	env := map[string]string{"GATEHOUSE_DATA": data, "ORDERS_KEY": "k"}
	bad := strings.Replace(applyFile, "approval: manual", "approval: sometimes", 1)
	bad = strings.Replace(bad, "    team: payments\n    auth_method: client_secret_post", "    team: payment\n    auth_method: client_secret_post", 1)
	code, _, stderr := runMain(t, env, "apply", "-f", writeApplyFile(t, dir, bad))
	if code != ExitConfig {
		t.Fatalf("exit %d, want %d\n%s", code, ExitConfig, stderr)
	}
	for _, want := range []string{"catalog.yaml:18: apis[1].approval", "catalog.yaml:38: clients[1].team", "nothing was changed"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, stderr)
		}
	}
	if _, err := os.Stat(filepath.Join(data, "gatehouse.db")); err == nil {
		if r := revisions(t, data); r["counter"] != 0 {
			t.Errorf("a bad file changed the store: %v", r)
		}
	}
	if code, _, _ := runMain(t, env, "apply"); code != ExitUsage {
		t.Errorf("apply without -f: %d", code)
	}
}

// TestExportApplyRoundTrip: export, apply the export to an empty store,
// export again: the same file, and the same catalog.
func TestExportApplyRoundTrip(t *testing.T) {
	dir := t.TempDir()
	first := filepath.Join(dir, "first")
	env := map[string]string{"GATEHOUSE_DATA": first, "ORDERS_KEY": "upstream-key-" + strings.Repeat("k", 20)}
	if code, out, stderr := runMain(t, env, "apply", "-f", writeApplyFile(t, dir, applyFile)); code != ExitOK {
		t.Fatalf("apply: %d\n%s\n%s", code, out, stderr)
	}
	exp1 := filepath.Join(dir, "export1", "catalog.yaml")
	os.MkdirAll(filepath.Dir(exp1), 0o700)
	if code, _, stderr := runMain(t, env, "export", "-o", exp1); code != ExitOK {
		t.Fatalf("export: %d %s", code, stderr)
	}
	text, _ := os.ReadFile(exp1)
	if strings.Contains(string(text), env["ORDERS_KEY"]) || strings.Contains(string(text), "secret_sha256") {
		t.Fatal("the export holds a secret")
	}
	if !strings.Contains(string(text), "static_value: ${GATEHOUSE_STATIC_VALUE_ORDERS_V2}") {
		t.Errorf("the static value is not a reference:\n%s", text)
	}
	if doc, err := os.ReadFile(filepath.Join(dir, "export1", "openapi", "orders-v2.json")); err != nil || string(doc) != openAPIDoc {
		t.Errorf("exported OpenAPI document: %q %v", doc, err)
	}

	second := filepath.Join(dir, "second")
	env2 := map[string]string{"GATEHOUSE_DATA": second, "GATEHOUSE_STATIC_VALUE_ORDERS_V2": env["ORDERS_KEY"], "ORDERS_KEY": env["ORDERS_KEY"]}
	if code, out, stderr := runMain(t, env2, "apply", "-f", exp1); code != ExitOK {
		t.Fatalf("apply of the export: %d\n%s\n%s\n%s", code, out, stderr, text)
	}
	exp2 := filepath.Join(dir, "export2", "catalog.yaml")
	os.MkdirAll(filepath.Dir(exp2), 0o700)
	if code, _, stderr := runMain(t, env2, "export", "-o", exp2); code != ExitOK {
		t.Fatalf("second export: %d %s", code, stderr)
	}
	text2, _ := os.ReadFile(exp2)
	if string(text) != string(text2) {
		t.Errorf("the exports differ:\n--- first\n%s\n--- second\n%s", text, text2)
	}
	// The original file, applied to the second store, changes nothing but
	// ownership-neutral details: the catalogs are the same.
	if code, out, _ := runMain(t, env2, "apply", "-f", filepath.Join(dir, "catalog.yaml"), "--dry-run"); code != ExitOK {
		t.Errorf("the original file against the reproduced store: %d\n%s", code, out)
	}
	// The static credential came through, sealed under the second store's key.
	db, _ := sqlite.Open(context.Background(), filepath.Join(second, "gatehouse.db"))
	defer db.Close()
	v2, _ := db.FindAPI(context.Background(), "orders-v2")
	if err := func() error {
		_, box, err := openState(context.Background(), second, mapEnv(env2))
		if err != nil {
			return err
		}
		return unsealAPI(box, v2)
	}(); err != nil || v2.UpstreamAuth.StaticValue != env["ORDERS_KEY"] {
		t.Errorf("static value in the second store: %v", err)
	}
}

// TestApplyAfterForwardingUpgrade: an API stored before
// upstream.forwarding existed has no value for it; applying the same file
// again must not report a change for the default.
func TestApplyAfterForwardingUpgrade(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	env := map[string]string{"GATEHOUSE_DATA": data, "ORDERS_KEY": "upstream-key-" + strings.Repeat("k", 20)}
	file := writeApplyFile(t, dir, applyFile)
	if code, out, stderr := runMain(t, env, "apply", "-f", file); code != ExitOK {
		t.Fatalf("apply: %d\n%s\n%s", code, out, stderr)
	}
	raw, err := sql.Open("sqlite", "file:"+filepath.Join(data, "gatehouse.db")+"?_pragma=busy_timeout(5000)")
	if err != nil {
		t.Fatal(err)
	}
	res, err := raw.ExecContext(context.Background(),
		`UPDATE apis SET spec = json_remove(spec, '$.upstream_policy.forwarding') WHERE json_extract(spec, '$.upstream_policy.forwarding') = 'x_forwarded'`)
	if err != nil {
		t.Fatal(err)
	}
	if n, _ := res.RowsAffected(); n != 1 { // orders-v1; orders-v2 says none
		t.Fatalf("%d stored APIs with the default forwarding, want 1", n)
	}
	raw.Close()
	if code, out, _ := runMain(t, env, "apply", "-f", file, "--dry-run"); code != ExitOK || strings.Contains(out, "update api") {
		t.Errorf("dry run after the upgrade: %d\n%s", code, out)
	}
}

// TestApplyAndServeOwnership: apply refuses objects the serve config owns,
// and a running node picks up what apply changed.
func TestApplyReachesRunningNode(t *testing.T) {
	n := startNode(t)
	dir := t.TempDir()
	env := map[string]string{"GATEHOUSE_DATA": n.dataDir, "ORDERS_KEY": "k"}
	clash := "apis:\n  - name: orders\n    audience: https://elsewhere.example.test\n"
	p := filepath.Join(dir, "clash.yaml")
	os.WriteFile(p, []byte(clash), 0o600)
	code, _, stderr := runMain(t, env, "apply", "-f", p)
	if code != ExitError || !strings.Contains(stderr, `api "orders" is defined by the serve config file`) {
		t.Fatalf("apply over a config API: %d %s", code, stderr)
	}
	extra := "apis:\n  - name: stock\n    audience: https://stock.example.test\n    scopes: [stock:read]\n"
	os.WriteFile(p, []byte(extra), 0o600)
	if code, out, stderr := runMain(t, env, "apply", "-f", p); code != ExitOK {
		t.Fatalf("apply: %d %s %s", code, out, stderr)
	}
	// The node's catalog has it within the poll interval (2 s).
	for i := 0; n.catalog.API("stock") == nil; i++ {
		if i > 60 {
			t.Fatal("the running node did not pick up the applied API")
		}
		sleepBriefly()
	}
}

func sleepBriefly() { time.Sleep(100 * time.Millisecond) }

// auditEntries returns the audit log of the store in dataDir as
// "action type id" lines, for the entries made by apply.
func applyAuditEntries(t *testing.T, dataDir string) []string {
	t.Helper()
	db, err := sqlite.Open(context.Background(), filepath.Join(dataDir, "gatehouse.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	es, err := db.FindAuditEntries(context.Background(), gatehouse.AuditFilter{Actor: "cli apply"})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range es {
		if e.Outcome != gatehouse.AuditSuccess {
			t.Errorf("entry %d: outcome %q", e.Seq, e.Outcome)
		}
		out = append(out, e.Action+" "+e.TargetType+" "+e.TargetID)
	}
	return out
}

// TestApplyAudited: every change apply makes has its audit entry (actor
// "cli apply"); a dry run and a run with nothing to change add none, and
// the chain still verifies.
func TestApplyAudited(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	env := map[string]string{"GATEHOUSE_DATA": data, "ORDERS_KEY": "upstream-key-" + strings.Repeat("k", 20)}
	file := writeApplyFile(t, dir, applyFile)

	if code, out, stderr := runMain(t, env, "apply", "-f", file, "--dry-run"); code != ExitChanges {
		t.Fatalf("dry run: %d\n%s\n%s", code, out, stderr)
	}
	if es := applyAuditEntries(t, data); len(es) != 0 {
		t.Fatalf("a dry run was audited: %q", es)
	}
	code, out, stderr := runMain(t, env, "apply", "-f", file)
	if code != ExitOK {
		t.Fatalf("apply: %d\n%s\n%s", code, out, stderr)
	}
	var made []string
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		if op, rest, ok := strings.Cut(l, " "); ok && (op == "create" || op == "update" || op == "delete") {
			kind, id, _ := strings.Cut(rest, " ")
			id, _, _ = strings.Cut(id, " (")
			made = append(made, "cli apply "+op+" "+kind+" "+id)
		}
	}
	es := applyAuditEntries(t, data)
	if len(made) < 6 || strings.Join(es, "\n") != strings.Join(made, "\n") {
		t.Fatalf("audit entries:\n%s\nwant one per change:\n%s", strings.Join(es, "\n"), strings.Join(made, "\n"))
	}

	if code, out, _ := runMain(t, env, "apply", "-f", file); code != ExitOK || strings.TrimSpace(out) != "no changes" {
		t.Fatalf("second apply: %d\n%s", code, out)
	}
	edited := strings.Replace(applyFile, "description: Second version", "description: Version two", 1)
	file = writeApplyFile(t, dir, edited)
	if code, out, stderr := runMain(t, env, "apply", "-f", file); code != ExitOK {
		t.Fatalf("apply of the edited file: %d\n%s\n%s", code, out, stderr)
	}
	es2 := applyAuditEntries(t, data)
	if len(es2) != len(es)+1 || es2[len(es)] != "cli apply update api orders-v2" {
		t.Fatalf("after an unchanged and an edited apply:\n%s", strings.Join(es2[len(es):], "\n"))
	}

	// verify needs the node's signing keys, which apply does not make.
	if code, out, errs := runCLI(t, data, "keys", "rotate"); code != ExitOK {
		t.Fatalf("keys rotate: %d\n%s\n%s", code, out, errs)
	}
	if code, out, errs := runCLI(t, data, "audit", "verify"); code != ExitOK {
		t.Fatalf("audit verify: %d\n%s\n%s", code, out, errs)
	}
}
