package app

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/internal/oauth"
)

func mapEnv(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

// TestServeCommand runs `gatehouse serve` through Main as the binary does,
// finds the bound addresses in its log, uses it, and stops it as SIGTERM
// would (the context ends).
func TestServeCommand(t *testing.T) {
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	pr, pw := io.Pipe()
	code := make(chan int, 1)
	env := mapEnv(map[string]string{"GATEHOUSE_DATA": filepath.Join(dir, "data"), "GATEHOUSE_PUBLIC_ADDR": "127.0.0.1:0"})
	go func() {
		code <- Main(ctx, []string{"serve", "--config", "../../examples/quickstart.yaml", "--admin", "127.0.0.1:0"}, env, strings.NewReader(""), io.Discard, pw)
		pw.Close()
	}()
	var started struct{ Public, Admin, Issuer string }
	var stderr bytes.Buffer
	sc := bufio.NewScanner(pr)
	for sc.Scan() {
		line := sc.Text()
		stderr.WriteString(line + "\n")
		if strings.Contains(line, `"msg":"gatehouse started"`) {
			if err := json.Unmarshal([]byte(line), &started); err != nil {
				t.Fatal(err)
			}
			break
		}
	}
	go func() { _, _ = io.Copy(io.Discard, pr) }()
	if started.Public == "" {
		t.Fatalf("no start line; stderr:\n%s", stderr.String())
	}
	if started.Issuer != started.Public {
		t.Errorf("issuer %q should default to the public URL %q", started.Issuer, started.Public)
	}
	// The generated secrets were shown once and saved with mode 0600.
	for _, f := range []string{"admin-secret", "secrets/demo-client.secret", "master.key", "gatehouse.db"} {
		fi, err := os.Stat(filepath.Join(dir, "data", f))
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("%s has mode %v, want 0600", f, fi.Mode().Perm())
		}
	}
	secret, _ := os.ReadFile(filepath.Join(dir, "data", "admin-secret"))
	if !strings.Contains(stderr.String(), strings.TrimSpace(string(secret))) {
		t.Error("the generated admin secret was not shown on stderr")
	}
	for _, u := range []string{started.Public + oauth.PathMetadata, started.Admin + "/healthz", started.Admin + "/readyz", started.Admin + "/metrics"} {
		resp, err := http.Get(u)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Errorf("GET %s = %d", u, resp.StatusCode)
		}
	}
	cancel()
	select {
	case c := <-code:
		if c != ExitOK {
			t.Errorf("exit code %d", c)
		}
	case <-time.After(40 * time.Second):
		t.Fatal("serve did not stop after the signal")
	}
}

func TestConfigCheckCommand(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yaml")
	os.WriteFile(bad, []byte("tokens:\n  access_token_ttl: forever\napis:\n  - name: Bad Name\n"), 0o600)
	var out, errb bytes.Buffer
	if c := Main(context.Background(), []string{"config", "check", bad}, mapEnv(nil), nil, &out, &errb); c != ExitConfig {
		t.Errorf("exit %d, want %d", c, ExitConfig)
	}
	for _, want := range []string{"bad.yaml:2: tokens.access_token_ttl", "bad.yaml:4: apis[0].name"} {
		if !strings.Contains(errb.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, errb.String())
		}
	}
	out.Reset()
	if c := Main(context.Background(), []string{"config", "check", "../../examples/quickstart.yaml"}, mapEnv(nil), nil, &out, &errb); c != ExitOK {
		t.Errorf("quickstart: exit %d: %s", c, errb.String())
	}
	if c := Main(context.Background(), []string{"bogus"}, mapEnv(nil), nil, &out, &errb); c != ExitUsage {
		t.Errorf("unknown command: exit %d", c)
	}
}

func TestKeysAndUsersCommands(t *testing.T) {
	n := startNode(t)
	ctx := context.Background()
	env := mapEnv(map[string]string{"GATEHOUSE_DATA": n.dataDir})
	run := func(stdin string, args ...string) (int, string, string) {
		var out, errb bytes.Buffer
		c := Main(ctx, args, env, strings.NewReader(stdin), &out, &errb)
		return c, out.String(), errb.String()
	}
	before := n.Keyring.SigningKeyID()
	if c, out, errs := run("", "keys", "rotate"); c != ExitOK || !strings.Contains(out, "rotated") {
		t.Fatalf("keys rotate: %d %s %s", c, out, errs)
	}
	if err := n.Keys.Tick(ctx); err != nil { // what the node's 10 s ticker does
		t.Fatal(err)
	}
	if n.Keyring.SigningKeyID() == before {
		t.Error("the running node did not pick up the rotation")
	}

	if c, _, errs := run("short\n", "users", "add", "carol"); c != ExitUsage || !strings.Contains(errs, "at least 12") {
		t.Errorf("short password: %d %s", c, errs)
	}
	if c, out, errs := run("a long enough password\n", "users", "add", "carol"); c != ExitOK {
		t.Fatalf("users add: %d %s %s", c, out, errs)
	}
	if c, _, _ := run("a long enough password\n", "users", "add", "carol"); c != ExitError {
		t.Errorf("duplicate add: %d", c)
	}
	if c, _, errs := run("another long password\n", "users", "passwd", "carol"); c != ExitOK {
		t.Errorf("passwd: %d %s", c, errs)
	}
	if c, _, _ := run("", "users", "disable", "carol"); c != ExitOK {
		t.Errorf("disable: %d", c)
	}
	c, out, _ := run("", "users", "list")
	if c != ExitOK || !strings.Contains(out, "carol") || !strings.Contains(out, "disabled") {
		t.Errorf("list: %d\n%s", c, out)
	}
	u, err := n.Store.FindUserByUsername(ctx, "carol")
	if err != nil || !u.Disabled || !strings.HasPrefix(u.PasswordHash, "$argon2id$") {
		t.Errorf("stored user: %+v %v", u, err)
	}
	if c, out, _ := run("a long enough password\n", "users", "hash"); c != ExitOK || !strings.HasPrefix(out, "$argon2id$v=19$") {
		t.Errorf("hash: %d %q", c, out)
	}
	if c, _, _ := run("", "users", "disable", "nobody"); c != ExitError {
		t.Errorf("unknown user: %d", c)
	}
}

// TestStalledOAuthBody: a client trickling a token request body is cut off
// instead of holding the connection.
func TestStalledOAuthBody(t *testing.T) {
	n := startNode(t)
	conn, err := net.Dial("tcp", strings.TrimPrefix(n.PublicURL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	start := time.Now()
	if _, err := io.WriteString(conn, "POST /oauth/token HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 100\r\n\r\ngrant_type="); err != nil {
		t.Fatal(err)
	}
	_ = conn.SetReadDeadline(time.Now().Add(20 * time.Second))
	buf := make([]byte, 4096)
	got, _ := conn.Read(buf)
	if el := time.Since(start); el > 15*time.Second {
		t.Fatalf("stalled body held the connection for %v", el)
	}
	if !strings.HasPrefix(string(buf[:got]), "HTTP/1.1 400") {
		t.Errorf("answer to a stalled body: %q", buf[:got])
	}
}
