package app

import (
	"bufio"
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"
	_ "modernc.org/sqlite"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/internal/audit"
	"github.com/gatehouse/gatehouse/internal/sqlite"
)

// adminCall makes an admin API request and returns the status and body.
func (n *testNode) adminCall(t *testing.T, method, path, tok, body string) (int, []byte, http.Header) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, n.AdminURL+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b, resp.Header
}

type auditPage struct {
	Items      []audit.Wire `json:"items"`
	NextCursor string       `json:"next_cursor"`
}

func (n *testNode) auditList(t *testing.T, tok, query string) auditPage {
	t.Helper()
	status, body, _ := n.adminCall(t, http.MethodGet, "/admin/v1/audit?"+query, tok, "")
	if status != 200 {
		t.Fatalf("GET /admin/v1/audit?%s: %d %s", query, status, body)
	}
	var p auditPage
	if err := json.Unmarshal(body, &p); err != nil {
		t.Fatal(err)
	}
	return p
}

// runCLI runs the gatehouse command against a data directory.
func runCLI(t *testing.T, dataDir string, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := Main(context.Background(), args, mapEnv(map[string]string{"GATEHOUSE_DATA": dataDir}), strings.NewReader(""), &out, &errb)
	return code, out.String(), errb.String()
}

// attacker opens the database file directly, as someone with write access
// to the data directory would, and drops the speed-bump triggers.
func attacker(t *testing.T, path string) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(5000)")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func mustExec(t *testing.T, db *sql.DB, q string, args ...any) {
	t.Helper()
	if _, err := db.Exec(q, args...); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
}

// TestAuditLog drives the audit log end to end: admin actions, refused
// admin requests and a refresh token reuse appear in the log through the
// admin API; the export parses back line by line; `gatehouse audit verify`
// passes, then fails after a row is altered in SQLite, and fails on a fresh
// copy whose newest rows were deleted with their checkpoints.
func TestAuditLog(t *testing.T) {
	n := startNode(t)
	ctx := context.Background()
	tok := n.adminToken(t)

	// Admin actions.
	if status, body, _ := n.adminCall(t, http.MethodPost, "/admin/v1/keys/rotate", tok, ""); status != 200 {
		t.Fatalf("rotate: %d %s", status, body)
	}
	status, body, _ := n.adminCall(t, http.MethodPost, "/admin/v1/registration-tokens", tok, `{"expires_in":600}`)
	if status != 201 {
		t.Fatalf("registration token: %d %s", status, body)
	}
	var reg struct{ Token, ID string }
	json.Unmarshal(body, &reg)
	if status, _, _ := n.adminCall(t, http.MethodPost, "/admin/v1/users/nobody/revoke-grants", tok, ""); status != 404 {
		t.Fatalf("revoke grants of an unknown user: %d", status)
	}
	// Refused admin requests.
	if status, _, _ := n.adminCall(t, http.MethodGet, "/admin/v1/audit", "not-a-token", ""); status != 401 {
		t.Fatalf("bad token: %d", status)
	}
	svc, err := n.ccConfig("svc-basic", basicSecret, oauth2.AuthStyleInHeader, "https://orders.example.test").Token(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if status, _, _ := n.adminCall(t, http.MethodPost, "/admin/v1/keys/rotate", svc.AccessToken, ""); status != 403 {
		t.Fatalf("non-admin token: %d", status)
	}
	// A security event: refresh token reuse.
	n.addUser(t, "alice")
	first := n.grantTokens(t, n.webApp())
	if status, b := n.refresh(t, first.RefreshToken, nil); status != 200 {
		t.Fatalf("refresh: %d %v", status, b)
	}
	if status, _ := n.refresh(t, first.RefreshToken, nil); status != 400 {
		t.Fatalf("reuse: %d", status)
	}
	grant, err := n.Store.FindEvents(ctx, gatehouse.EventFilter{Type: gatehouse.EventRefreshReuse})
	if err != nil || len(grant) != 1 {
		t.Fatalf("reuse events: %v %v", grant, err)
	}

	// An event recorded inside a store transaction, as a bulk revocation
	// does, without audit.Events: the node's event sync appends it within
	// a second.
	if err := n.Store.RecordEvent(ctx, &gatehouse.SecurityEvent{ID: "bulk-1", Type: "app_tokens_revoked", ClientID: "svc-post",
		Detail: "every token of app svc-post revoked", At: n.clock.Now()}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for len(n.auditList(t, tok, "action=security.app_tokens_revoked").Items) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("an event recorded directly in the store never reached the audit log")
		}
		time.Sleep(20 * time.Millisecond)
	}

	all := n.auditList(t, tok, "limit=500")
	find := func(action string) *audit.Wire {
		for i := range all.Items {
			if all.Items[i].Action == action {
				return &all.Items[i]
			}
		}
		t.Fatalf("no entry with action %q in %+v", action, all.Items)
		return nil
	}
	details := func(w *audit.Wire) map[string]string {
		var m map[string]string
		if err := json.Unmarshal(w.Details, &m); err != nil {
			t.Fatalf("details %s: %v", w.Details, err)
		}
		return m
	}
	t.Run("AdminActionsRecorded", func(t *testing.T) {
		rot := find("POST /admin/v1/keys/rotate")
		if rot.Actor != gatehouse.AdminClientID || rot.Outcome != "success" || rot.TargetType != "keys" ||
			details(rot)["status"] != "200" || details(rot)["address"] != "127.0.0.1" {
			t.Errorf("rotation entry %+v %s", rot, rot.Details)
		}
		rt := find("POST /admin/v1/registration-tokens")
		if rt.TargetType != "registration-tokens" || rt.TargetID != reg.ID || rt.Outcome != "success" {
			t.Errorf("registration token entry %+v, want target id %s", rt, reg.ID)
		}
		rg := find("POST /admin/v1/users/{id}/revoke-grants")
		if rg.TargetType != "users" || rg.TargetID != "nobody" || rg.Outcome != "failure" || details(rg)["status"] != "404" {
			t.Errorf("failed revoke entry %+v %s", rg, rg.Details)
		}
	})
	t.Run("RefusalsRecorded", func(t *testing.T) {
		af := find("admin.authentication_failed")
		if af.Actor != "anonymous" || af.Outcome != "denied" || details(af)["error"] != "invalid_token" ||
			details(af)["reason"] == "" || details(af)["address"] != "127.0.0.1" {
			t.Errorf("authentication failure entry %+v %s", af, af.Details)
		}
		ad := find("admin.access_denied")
		if ad.Actor != "svc-basic" || ad.Outcome != "denied" || ad.TargetID != "/admin/v1/keys/rotate" {
			t.Errorf("access denied entry %+v %s", ad, ad.Details)
		}
		for _, e := range all.Items {
			if e.Action == "POST /admin/v1/keys/rotate" && e.Actor == "svc-basic" {
				t.Errorf("a refused request was recorded as an action: %+v", e)
			}
		}
	})
	t.Run("SecurityEventRecorded", func(t *testing.T) {
		ev := find("security.refresh_token_reuse")
		if ev.Actor != "system" || ev.TargetType != "grant" || ev.TargetID != grant[0].GrantID || details(ev)["client_id"] != "web-app" {
			t.Errorf("reuse entry %+v %s", ev, ev.Details)
		}
	})
	t.Run("NoSecretsInTheLog", func(t *testing.T) {
		raw, _ := json.Marshal(all)
		for _, s := range []string{tok, reg.Token, svc.AccessToken, first.RefreshToken, first.AccessToken, adminSecret} {
			if bytes.Contains(raw, []byte(s)) {
				t.Errorf("a token or secret appears in the audit log")
			}
		}
	})
	t.Run("FiltersAndPages", func(t *testing.T) {
		only := n.auditList(t, tok, "action="+url.QueryEscape("admin.access_denied"))
		if len(only.Items) != 1 || only.Items[0].Actor != "svc-basic" {
			t.Errorf("action filter: %+v", only.Items)
		}
		mine := n.auditList(t, tok, "actor=system")
		for _, e := range mine.Items {
			if e.Actor != "system" {
				t.Errorf("actor filter returned %+v", e)
			}
		}
		if len(mine.Items) == 0 {
			t.Error("actor filter found nothing")
		}
		var paged []audit.Wire
		cursor := ""
		for range 100 {
			p := n.auditList(t, tok, "limit=2&cursor="+cursor)
			paged = append(paged, p.Items...)
			if p.NextCursor == "" {
				break
			}
			cursor = p.NextCursor
		}
		if len(paged) != len(all.Items) {
			t.Fatalf("paging by 2 returned %d entries, want %d", len(paged), len(all.Items))
		}
		for i := range paged {
			if paged[i].Seq != all.Items[i].Seq || paged[i].Hash != all.Items[i].Hash {
				t.Fatalf("page entry %d differs", i)
			}
		}
		future := n.auditList(t, tok, "since="+url.QueryEscape(n.clock.Now().Add(1e12).UTC().Format("2006-01-02T15:04:05Z")))
		if len(future.Items) != 0 {
			t.Errorf("since in the future: %d entries", len(future.Items))
		}
		for _, q := range []string{"limit=0", "limit=501", "cursor=abc", "since=yesterday", "bogus=1", "actor=a&actor=b"} {
			status, body, hdr := n.adminCall(t, http.MethodGet, "/admin/v1/audit?"+q, tok, "")
			field, _, _ := strings.Cut(q, "=")
			if status != 400 || hdr.Get("Content-Type") != "application/problem+json" || !strings.Contains(string(body), field+": ") {
				t.Errorf("?%s: %d %s", q, status, body)
			}
		}
		if status, _, _ := n.adminCall(t, http.MethodGet, "/admin/v1/audit", svc.AccessToken, ""); status != 403 {
			t.Errorf("a non-admin token read the audit log: %d", status)
		}
	})
	t.Run("ExportParsesBack", func(t *testing.T) {
		status, body, hdr := n.adminCall(t, http.MethodGet, "/admin/v1/audit/export", tok, "")
		if status != 200 || hdr.Get("Content-Type") != "application/x-ndjson" {
			t.Fatalf("export: %d %s", status, hdr.Get("Content-Type"))
		}
		sc := bufio.NewScanner(bytes.NewReader(body))
		var lines int
		for sc.Scan() {
			e, err := audit.ParseLine(sc.Bytes())
			if err != nil {
				t.Fatalf("line %d: %v", lines+1, err)
			}
			lines++
			if e.Seq != int64(lines) {
				t.Fatalf("line %d has seq %d", lines, e.Seq)
			}
		}
		// The export request itself is a read and adds nothing, but the
		// admin calls of the subtests above did.
		if lines < len(all.Items) {
			t.Fatalf("export has %d lines, want at least %d", lines, len(all.Items))
		}
		r, err := audit.VerifyNDJSON(bytes.NewReader(body), audit.Checkpoints{}, n.Keyring)
		if err != nil || !r.OK() {
			t.Fatalf("the export does not verify: %+v %v", r, err)
		}
	})

	// Sign the head, as the 30 s ticker would.
	cp, err := n.AuditCheckpoints.Checkpoint(ctx)
	if err != nil || cp == nil {
		t.Fatalf("checkpoint: %+v %v", cp, err)
	}
	head, _ := n.Store.AuditHead(ctx)
	if cp.Seq != head.Seq {
		t.Fatalf("checkpoint seq %d, head %d", cp.Seq, head.Seq)
	}
	code, out, errs := runCLI(t, n.dataDir, "audit", "verify")
	if code != ExitOK || !strings.Contains(out, "audit log intact") || !strings.Contains(out, fmt.Sprintf("head seq %d", head.Seq)) {
		t.Fatalf("verify of an intact log: %d\n%s%s", code, out, errs)
	}
	code, out, _ = runCLI(t, n.dataDir, "audit", "export")
	if code != ExitOK || strings.Count(out, "\n") != int(head.Seq) {
		t.Fatalf("CLI export: %d, %d lines, want %d", code, strings.Count(out, "\n"), head.Seq)
	}
	exportFile := filepath.Join(t.TempDir(), "audit.ndjson")
	os.WriteFile(exportFile, []byte(out), 0o600)
	if code, vout, errs := runCLI(t, n.dataDir, "audit", "verify", "--file", exportFile); code != ExitOK {
		t.Fatalf("verify --file of the export: %d\n%s%s", code, vout, errs)
	}
	os.WriteFile(exportFile, []byte(strings.Replace(out, `"actor":"gatehouse-admin"`, `"actor":"someone-else"`, 1)), 0o600)
	if code, vout, _ := runCLI(t, n.dataDir, "audit", "verify", "--file", exportFile); code != ExitTampered || !strings.Contains(vout, "first bad seq 1") {
		t.Fatalf("verify --file of an edited export: %d\n%s", code, vout)
	}

	// A consistent copy of the whole data directory, for the second attack.
	copyDir := filepath.Join(t.TempDir(), "data")
	os.MkdirAll(filepath.Join(copyDir, "audit"), 0o700)
	dbPath := filepath.Join(n.dataDir, "gatehouse.db")
	live := attacker(t, dbPath)
	mustExec(t, live, `VACUUM INTO ?`, filepath.Join(copyDir, "gatehouse.db"))
	for _, f := range []string{"master.key", audit.CheckpointFile} {
		b, err := os.ReadFile(filepath.Join(n.dataDir, f))
		if err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(copyDir, f), b, 0o600)
	}

	t.Run("AlteredRowDetected", func(t *testing.T) {
		// The trigger refuses a plain UPDATE: a speed bump only.
		if _, err := live.Exec(`UPDATE audit_log SET actor = 'mallory' WHERE seq = 3`); err == nil || !strings.Contains(err.Error(), "append-only") {
			t.Fatalf("UPDATE without dropping the trigger: %v", err)
		}
		mustExec(t, live, `DROP TRIGGER audit_log_no_update`)
		mustExec(t, live, `UPDATE audit_log SET actor = 'mallory' WHERE seq = 3`)
		code, out, errs := runCLI(t, n.dataDir, "audit", "verify")
		t.Log(out)
		if code != ExitTampered || !strings.Contains(out, "first bad seq 3") {
			t.Fatalf("verify after an altered row: %d\n%s%s", code, out, errs)
		}
	})
	t.Run("NewestRowsDeletedDetected", func(t *testing.T) {
		cut := head.Seq - 2
		db := attacker(t, filepath.Join(copyDir, "gatehouse.db"))
		if code, out, errs := runCLI(t, copyDir, "audit", "verify"); code != ExitOK {
			t.Fatalf("the copy does not verify before the attack: %d\n%s%s", code, out, errs)
		}
		mustExec(t, db, `DROP TRIGGER audit_log_no_delete`)
		mustExec(t, db, `DROP TRIGGER audit_checkpoints_no_delete`)
		mustExec(t, db, `DELETE FROM audit_log WHERE seq > ?`, cut)
		mustExec(t, db, `DELETE FROM audit_checkpoints WHERE seq > ?`, cut)
		code, out, errs := runCLI(t, copyDir, "audit", "verify")
		t.Log(out)
		if code != ExitTampered || !strings.Contains(out, fmt.Sprintf("first bad seq %d", cut+1)) || !strings.Contains(out, "cut off") {
			t.Fatalf("verify after the newest rows were deleted: %d\n%s%s", code, out, errs)
		}
		// The file outside the database is what caught it: without it the
		// cut is invisible (the documented limit).
		os.Remove(filepath.Join(copyDir, audit.CheckpointFile))
		code, out, _ = runCLI(t, copyDir, "audit", "verify")
		if code != ExitOK || !strings.Contains(out, "warning") {
			t.Fatalf("without the checkpoint file: %d\n%s", code, out)
		}
	})
	t.Run("Usage", func(t *testing.T) {
		if code, _, _ := runCLI(t, n.dataDir, "audit"); code != ExitUsage {
			t.Errorf("audit without a verb: %d", code)
		}
		if code, _, _ := runCLI(t, n.dataDir, "audit", "export", "--since", "yesterday"); code != ExitUsage {
			t.Errorf("bad --since: %d", code)
		}
		if code, _, errs := runCLI(t, t.TempDir(), "audit", "verify"); code != ExitError || !strings.Contains(errs, "no store") {
			t.Errorf("no store: %d %s", code, errs)
		}
	})
}

// TestAuditCheckpointAtShutdown: stopping a node signs the head, so the
// entries of its last seconds are covered.
func TestAuditCheckpointAtShutdown(t *testing.T) {
	dir := t.TempDir()
	n := startNodeIn(t, dir, nil)
	tok := n.adminToken(t)
	if status, _, _ := n.adminCall(t, http.MethodPost, "/admin/v1/keys/rotate", tok, ""); status != 200 {
		t.Fatal(status)
	}
	head, _ := n.Store.AuditHead(context.Background())
	ctx, cancel := context.WithTimeout(context.Background(), 10e9)
	defer cancel()
	if err := n.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	jwss, err := audit.ReadCheckpointFile(filepath.Join(n.dataDir, audit.CheckpointFile))
	if err != nil || len(jwss) == 0 {
		t.Fatalf("checkpoint file after shutdown: %d %v", len(jwss), err)
	}
	seq, _, _, err := audit.VerifyCheckpoint(jwss[len(jwss)-1].JWS, n.Keyring)
	if err != nil || seq != head.Seq {
		t.Fatalf("last checkpoint names seq %d (%v), want the head %d", seq, err, head.Seq)
	}
	// Restart in the same directory so that the harness's cleanup (a second
	// Shutdown) has a node to stop.
	n2 := startNodeIn(t, dir, nil)
	if code, out, _ := runCLI(t, n2.dataDir, "audit", "verify"); code != ExitOK {
		t.Errorf("verify after restart: %d\n%s", code, out)
	}
}

// TestCLICommandsAudited: commands that change the store directly are
// recorded with actor "cli", and the chain stays intact across processes.
func TestCLICommandsAudited(t *testing.T) {
	n := startNode(t)
	tok := n.adminToken(t)
	env := mapEnv(map[string]string{"GATEHOUSE_DATA": n.dataDir})
	run := func(stdin string, args ...string) int {
		var out, errb bytes.Buffer
		c := Main(context.Background(), args, env, strings.NewReader(stdin), &out, &errb)
		if strings.Contains(errb.String(), "audit log") {
			t.Errorf("%v: %s", args, errb.String())
		}
		return c
	}
	if c := run("a long enough password\n", "users", "add", "dave"); c != ExitOK {
		t.Fatalf("users add: %d", c)
	}
	if c := run("", "users", "disable", "nobody"); c != ExitError {
		t.Fatalf("users disable nobody: %d", c)
	}
	if c := run("", "keys", "rotate"); c != ExitOK {
		t.Fatalf("keys rotate: %d", c)
	}
	// An admin action from the node, between CLI appends.
	if status, _, _ := n.adminCall(t, http.MethodPost, "/admin/v1/registration-tokens", tok, ""); status != 201 {
		t.Fatal(status)
	}
	if c := run("", "users", "revoke-grants", "dave"); c != ExitOK {
		t.Fatalf("users revoke-grants: %d", c)
	}
	keys, err := n.Store.FindKeys(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	current := ""
	for _, k := range keys {
		if k.State == gatehouse.KeyCurrent {
			current = k.ID
		}
	}
	got := n.auditList(t, tok, "actor=cli")
	var actions []string
	for _, e := range got.Items {
		actions = append(actions, e.Action+" "+e.TargetID+" "+e.Outcome)
	}
	want := []string{"cli users add dave success", "cli users disable nobody failure", "cli keys rotate " + current + " success", "cli users revoke-grants dave success"}
	if strings.Join(actions, "|") != strings.Join(want, "|") {
		t.Errorf("cli entries:\n%s\nwant\n%s", strings.Join(actions, "\n"), strings.Join(want, "\n"))
	}
	if ev := n.auditList(t, tok, "action=security.user_grants_revoked"); len(ev.Items) != 1 {
		t.Errorf("the CLI's security event is not in the log: %+v", ev.Items)
	}
	if code, out, _ := runCLI(t, n.dataDir, "audit", "verify"); code != ExitOK {
		t.Errorf("verify: %d\n%s", code, out)
	}
}

// copyDataDir makes a consistent copy of n's data directory (the database,
// the master key and the checkpoint file) for an attack.
func copyDataDir(t *testing.T, n *testNode) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "data")
	os.MkdirAll(filepath.Join(dir, "audit"), 0o700)
	mustExec(t, attacker(t, filepath.Join(n.dataDir, "gatehouse.db")), `VACUUM INTO ?`, filepath.Join(dir, "gatehouse.db"))
	for _, f := range []string{"master.key", audit.CheckpointFile} {
		b, err := os.ReadFile(filepath.Join(n.dataDir, f))
		if err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(dir, f), b, 0o600)
	}
	return dir
}

// rechain rewrites the chain of the database at path from entry from on, as
// an attacker following docs/AUDIT.md would: every hash and link recomputed
// with the audit package's own hash function.
func rechain(t *testing.T, path string, from int64) {
	t.Helper()
	store, err := sqlite.Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	es, err := store.FindAuditEntries(context.Background(), gatehouse.AuditFilter{})
	store.Close()
	if err != nil {
		t.Fatal(err)
	}
	db := attacker(t, path)
	prev := audit.Genesis
	for _, e := range es {
		if e.Seq >= from {
			e.PrevHash = prev
			e.Hash = audit.Hash(e)
			mustExec(t, db, `UPDATE audit_log SET prev_hash = ?, hash = ? WHERE seq = ?`, e.PrevHash, e.Hash, e.Seq)
		}
		prev = e.Hash
	}
}

// TestAuditVerifyRewrittenLog (finding H2): someone who can write the
// database but not read the master key rewrites the log, re-chains it,
// deletes the signing keys that signed the checkpoints and leaves the
// checkpoint file alone; verify must still fail, because every checkpoint
// is checked against the chain and the file records the keys. A legitimate
// rotation with the old keys deleted still verifies.
func TestAuditVerifyRewrittenLog(t *testing.T) {
	n := startNode(t)
	ctx := context.Background()
	tok := n.adminToken(t)
	// Entries up to seq upto, a checkpoint at every multiple of 5.
	appendTo := func(upto int64) {
		t.Helper()
		for {
			head, err := n.Store.AuditHead(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if head.Seq%5 == 0 {
				if _, err := n.AuditCheckpoints.Checkpoint(ctx); err != nil {
					t.Fatal(err)
				}
			}
			if head.Seq >= upto {
				return
			}
			if _, err := n.Audit.Append(ctx, audit.Record{Actor: "tester", Action: "test", Outcome: gatehouse.AuditSuccess}); err != nil {
				t.Fatal(err)
			}
		}
	}
	rotate := func() int64 {
		t.Helper()
		if status, body, _ := n.adminCall(t, http.MethodPost, "/admin/v1/keys/rotate", tok, ""); status != 200 {
			t.Fatalf("rotate: %d %s", status, body)
		}
		head, _ := n.Store.AuditHead(ctx)
		if _, err := n.AuditCheckpoints.Checkpoint(ctx); err != nil { // re-signs with the new key
			t.Fatal(err)
		}
		return head.Seq
	}
	appendTo(30)
	rotated := rotate() // the rotation's own entry
	appendTo(50)
	if code, out, errs := runCLI(t, n.dataDir, "audit", "verify"); code != ExitOK {
		t.Fatalf("intact log: %d\n%s%s", code, out, errs)
	}

	t.Run("RewrittenAndKeysDeleted", func(t *testing.T) {
		dir := copyDataDir(t, n)
		path := filepath.Join(dir, "gatehouse.db")
		db := attacker(t, path)
		mustExec(t, db, `DROP TRIGGER audit_log_no_update`)
		mustExec(t, db, `DROP TRIGGER audit_log_no_delete`)
		mustExec(t, db, `UPDATE audit_log SET actor = 'mallory' WHERE seq = 25`)
		mustExec(t, db, `DELETE FROM audit_log WHERE seq >= 41`)
		rechain(t, path, 25)
		mustExec(t, db, `DELETE FROM signing_keys WHERE state <> 'next'`)
		mustExec(t, db, `UPDATE signing_keys SET state = 'current'`)
		code, out, errs := runCLI(t, dir, "audit", "verify")
		t.Log(out)
		if code != ExitTampered || !strings.Contains(out, "first bad seq 25") || !strings.Contains(out, "cut off") {
			t.Fatalf("verify of a rewritten log: %d, want %d naming seq 25 and the cut\n%s%s", code, ExitTampered, out, errs)
		}
	})
	t.Run("SinceRotationHidden", func(t *testing.T) {
		// Delete the current and next keys, promote the retired one, and
		// cut everything since the rotation.
		dir := copyDataDir(t, n)
		db := attacker(t, filepath.Join(dir, "gatehouse.db"))
		mustExec(t, db, `DROP TRIGGER audit_log_no_delete`)
		mustExec(t, db, `DROP TRIGGER audit_checkpoints_no_delete`)
		mustExec(t, db, `DELETE FROM audit_log WHERE seq >= ?`, rotated)
		mustExec(t, db, `DELETE FROM audit_checkpoints WHERE seq >= ?`, rotated)
		mustExec(t, db, `DELETE FROM signing_keys WHERE state IN ('current', 'next')`)
		mustExec(t, db, `UPDATE signing_keys SET state = 'current'`)
		code, out, errs := runCLI(t, dir, "audit", "verify")
		t.Log(out)
		if code != ExitTampered || !strings.Contains(out, fmt.Sprintf("first bad seq %d", rotated)) || !strings.Contains(out, "cut off") {
			t.Fatalf("verify with everything since the rotation cut: %d, want %d naming seq %d\n%s%s", code, ExitTampered, rotated, out, errs)
		}
	})
	t.Run("FileWithoutKeys", func(t *testing.T) {
		// File lines written before keys were recorded, the signing keys
		// gone from the store: the newest checkpoint must verify.
		dir := copyDataDir(t, n)
		file := filepath.Join(dir, audit.CheckpointFile)
		raw, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		var stripped []byte
		for _, line := range bytes.SplitAfter(raw, []byte("\n")) {
			if len(line) == 0 {
				continue
			}
			var l map[string]any
			if err := json.Unmarshal(line, &l); err != nil {
				t.Fatal(err)
			}
			delete(l, "jwk")
			b, _ := json.Marshal(l)
			stripped = append(append(stripped, b...), '\n')
		}
		os.WriteFile(file, stripped, 0o600)
		db := attacker(t, filepath.Join(dir, "gatehouse.db"))
		mustExec(t, db, `DELETE FROM signing_keys WHERE state <> 'next'`)
		mustExec(t, db, `UPDATE signing_keys SET state = 'current'`)
		code, out, _ := runCLI(t, dir, "audit", "verify")
		t.Log(out)
		if code != ExitTampered || !strings.Contains(out, "newest checkpoint (naming seq 50) cannot be verified") {
			t.Fatalf("verify with the signing keys gone and no key in the file: %d\n%s", code, out)
		}
	})
	t.Run("RotationAndOldKeysDeleted", func(t *testing.T) {
		rotate()
		appendTo(55)
		removed, err := n.Store.DeleteRemovedKeys(ctx, n.clock.Now().Add(100*365*24*time.Hour))
		if err != nil || removed != 2 {
			t.Fatalf("deleted %d retired keys, want 2: %v", removed, err)
		}
		code, out, errs := runCLI(t, n.dataDir, "audit", "verify")
		t.Log(out)
		if code != ExitOK || !strings.Contains(out, "audit log intact") || strings.Contains(out, "could not be checked") {
			t.Fatalf("verify after a rotation and the old keys deleted: %d\n%s%s", code, out, errs)
		}
	})
}
