package app

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/internal/config"
)

// clock is a settable time source shared by a node and its test.
type clock struct{ ns atomic.Int64 }

func newClock() *clock {
	c := &clock{}
	c.ns.Store(time.Now().UnixNano())
	return c
}
func (c *clock) Now() time.Time          { return time.Unix(0, c.ns.Load()) }
func (c *clock) Advance(d time.Duration) { c.ns.Add(int64(d)) }

// syncBuffer collects logs written from several goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}
func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// Secrets used by the test config. They are random per run.
var (
	adminSecret = "test-admin-" + strings.Repeat("a", 40)
	basicSecret = "basic-" + base64.RawURLEncoding.EncodeToString(randBytes(32))
	postSecret  = "post-" + base64.RawURLEncoding.EncodeToString(randBytes(32))
	webSecret   = "web-" + base64.RawURLEncoding.EncodeToString(randBytes(32))
	rsSecret    = "rs-" + base64.RawURLEncoding.EncodeToString(randBytes(32))
)

func randBytes(n int) []byte {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return b
}

const testConfig = `
tokens:
  access_token_ttl: 10m
  refresh_token_ttl: 3h
  refresh_token_idle_ttl: 1h
apis:
  - name: orders
    audience: https://orders.example.test
    scopes: [orders:read, orders:write, orders:admin]
  - name: billing
    audience: https://billing.example.test
    scopes: [billing:read]
    token_format: opaque
  - name: drafty
    audience: https://draft.example.test
    scopes: [draft:read]
    lifecycle: draft
clients:
  - id: svc-basic
    auth_method: client_secret_basic
    secret: ${BASIC_SECRET}
    apis:
      - api: orders
        scopes: [orders:read, orders:write]
        default_scopes: [orders:read]
      - api: billing
        scopes: [billing:read]
      - api: drafty
        scopes: [draft:read]
  - id: svc-post
    auth_method: client_secret_post
    secret: ${POST_SECRET}
    apis:
      - api: orders
        scopes: [orders:read]
  - id: svc-jwt
    auth_method: private_key_jwt
    jwks_file: client-jwks.json
    apis:
      - api: orders
        scopes: [orders:read]
        default_scopes: [orders:read]
  - id: web-app
    name: Web App
    auth_method: client_secret_basic
    secret: ${WEB_SECRET}
    grant_types: [authorization_code, refresh_token]
    redirect_uris: [https://app.example.test/callback]
    apis:
      - api: orders
        scopes: [orders:read, orders:write]
        default_scopes: [orders:read]
  - id: native-app
    name: Native App
    auth_method: none
    grant_types: [authorization_code, refresh_token]
    redirect_uris: [http://127.0.0.1/callback, com.example.app:/oauth2redirect]
    apis:
      - api: orders
        scopes: [orders:read]
        default_scopes: [orders:read]
  - id: orders-rs
    name: Orders resource server
    auth_method: client_secret_basic
    secret: ${RS_SECRET}
    apis:
      - api: orders
        introspect: true
  - id: svc-generated
    auth_method: client_secret_basic
    apis:
      - api: orders
        scopes: [orders:read]
`

type testNode struct {
	*Node
	clock   *clock
	logs    *syncBuffer
	stderr  *syncBuffer
	dataDir string
	jwtKey  ed25519.PrivateKey
}

// startNode runs a whole node on loopback ports chosen by the kernel, with a
// fresh data directory, and stops it when the test ends.
func startNode(t testing.TB) *testNode {
	t.Helper()
	return startNodeWith(t, nil)
}

// startNodeWith lets a test adjust the loaded config before the start.
func startNodeWith(t testing.TB, adjust func(*config.Config)) *testNode {
	t.Helper()
	return startNodeIn(t, t.TempDir(), adjust)
}

// startNodeIn starts a node whose files live in dir; a second call with
// the same dir is a restart.
func startNodeIn(t testing.TB, dir string, adjust func(*config.Config)) *testNode {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	if old, err := os.ReadFile(filepath.Join(dir, "client-key")); err == nil {
		priv = ed25519.PrivateKey(old) // a restart keeps the client's key
		pub = priv.Public().(ed25519.PublicKey)
	} else if err := os.WriteFile(filepath.Join(dir, "client-key"), priv, 0o600); err != nil {
		t.Fatal(err)
	}
	jwks, _ := json.Marshal(map[string]any{"keys": []map[string]string{{
		"kty": "OKP", "crv": "Ed25519", "kid": "svc-jwt-1", "alg": "EdDSA", "use": "sig",
		"x": base64.RawURLEncoding.EncodeToString(pub),
	}}})
	cfgPath := filepath.Join(dir, "gatehouse.yaml")
	if err := os.WriteFile(filepath.Join(dir, "client-jwks.json"), jwks, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(cfgPath, []byte(testConfig), 0o600); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{
		"BASIC_SECRET":               basicSecret,
		"POST_SECRET":                postSecret,
		"WEB_SECRET":                 webSecret,
		"RS_SECRET":                  rsSecret,
		"GATEHOUSE_BOOTSTRAP_SECRET": adminSecret,
	}
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	cfg, err := config.Load(cfgPath, lookup)
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	cfg.DataDir = filepath.Join(dir, "data")
	cfg.Public.Addr = "127.0.0.1:0"
	cfg.Admin.Addr = "127.0.0.1:0"
	if adjust != nil {
		adjust(cfg)
	}
	clk := newClock()
	logs, stderr := &syncBuffer{}, &syncBuffer{}
	n, err := Start(context.Background(), Options{
		Config: cfg, Env: lookup, Stderr: stderr,
		Log:     slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		KeyTick: time.Hour, Now: clk.Now, ExternalMinRefetch: 50 * time.Millisecond,
		CallLogWriteTimeout: 2 * time.Second,
	})
	if err != nil {
		t.Fatalf("start: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := n.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
		// No secret or token may reach the logs.
		all := logs.String()
		for _, s := range []string{adminSecret, basicSecret, postSecret, webSecret, rsSecret, userPassword} {
			if strings.Contains(all, s) {
				t.Errorf("a secret or password appears in the logs")
			}
		}
		// Every token Gatehouse issues is recognisable: a JWT starts with
		// the base64 of '{"alg":', opaque ones with a gh?_ prefix.
		for _, marker := range []string{"eyJhbGciOi", "gha_", "ghr_", "ghc_", "ghi_", "ghs_"} {
			if i := strings.Index(all, marker); i >= 0 {
				start := max(0, strings.LastIndex(all[:i], "\n"))
				t.Errorf("a token (%s...) appears in the logs, in the line starting %.120q", marker, all[start:])
			}
		}
		if !strings.Contains(all, `"msg":"gatehouse started"`) {
			t.Error("the log capture saw nothing: this check would prove nothing")
		}
	})
	return &testNode{Node: n, clock: clk, logs: logs, stderr: stderr, dataDir: cfg.DataDir, jwtKey: priv}
}

// postForm posts a form and returns the status and decoded JSON body.
func postForm(t testing.TB, u string, form url.Values, setup func(*http.Request)) (int, map[string]any, http.Header) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, u, strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if setup != nil {
		setup(req)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var m map[string]any
	if len(bytes.TrimSpace(body)) > 0 {
		if err := json.Unmarshal(body, &m); err != nil {
			t.Fatalf("response is not JSON: %q", body)
		}
	}
	return resp.StatusCode, m, resp.Header
}
