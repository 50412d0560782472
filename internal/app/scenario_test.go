package app

import (
	"bytes"
	"context"
	"encoding/base64"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/internal/anomaly"
	"github.com/gatehouse/gatehouse/internal/config"
	"github.com/gatehouse/gatehouse/internal/oauth"
)

// secretSet collects every token, code, secret and password a scenario
// produces or tries.
type secretSet struct {
	names  []string
	values []string
}

func (s *secretSet) add(name, v string) {
	if v == "" {
		panic("empty secret " + name)
	}
	s.names, s.values = append(s.names, name), append(s.values, v)
}

// forms are the ways a secret could show up in text: as it is, base64
// (standard and URL alphabets, padded or not), percent-encoded for a query
// or a path, in a Basic credential, and its last 24 characters (a
// truncated or partly masked log line still leaks the random part).
func forms(name, v string) map[string]string {
	f := map[string]string{
		name:                          v,
		name + " (base64)":            base64.StdEncoding.EncodeToString([]byte(v)),
		name + " (base64 raw)":        base64.RawStdEncoding.EncodeToString([]byte(v)),
		name + " (base64url)":         base64.URLEncoding.EncodeToString([]byte(v)),
		name + " (base64url raw)":     base64.RawURLEncoding.EncodeToString([]byte(v)),
		name + " (query-escaped)":     url.QueryEscape(v),
		name + " (path-escaped)":      url.PathEscape(v),
		name + " (JSON-escaped <>&)":  strings.NewReplacer("<", `\u003c`, ">", `\u003e`, "&", `\u0026`).Replace(v),
		name + " (in a Basic header)": base64.StdEncoding.EncodeToString([]byte("x:" + v))[4:],
	}
	if len(v) >= 32 {
		f[name+" (tail)"] = v[len(v)-24:]
	}
	for k, s := range f {
		if len(s) < 8 {
			delete(f, k) // too short to search for without false hits
		}
	}
	return f
}

// TestNoSecretsInAnyOutput runs a realistic day on one node — client
// credentials, authorization code with refresh and reuse, revocation,
// failed logins and client authentication, gateway calls with good and bad
// tokens and API keys, anomaly alerts to a webhook, tracing, the call log —
// while capturing everything the node writes or sends: its structured logs
// and stderr, the webhook deliveries, the trace exports, the call log's
// exports (admin API and `gatehouse logs`) and the metrics page. No token,
// code, secret or password may appear in any of it, in any encoding. (The
// harness also scans the logs for token prefixes.)
func TestNoSecretsInAnyOutput(t *testing.T) {
	up := newUpstream(t)
	hook := newHookReceiver(t, 0)
	col := newOTLPReceiver(t)
	n := gatewayNode(t, up, func(c *config.Config) {
		c.Gateway.AllowPlainHTTPTokens = true
		rules := []anomaly.Rule{
			{Name: "stolen", Kind: anomaly.KindTokenNetworks, Threshold: 1, Window: time.Hour, Action: anomaly.ActionRevoke},
			{Name: "replay", Kind: anomaly.KindTokenReplay, Threshold: 0, Window: time.Hour, Action: anomaly.ActionRevoke},
			{Name: "reuse", Kind: anomaly.KindRefreshReuse, Threshold: 0, Window: time.Hour},
			{Name: "failures", Kind: anomaly.KindAuthFailures, Threshold: 2, Window: time.Minute},
		}
		for i := range rules {
			if err := rules[i].Validate(); err != nil {
				t.Fatal(err)
			}
		}
		c.Anomaly.Rules = rules
		c.Webhooks = []config.Webhook{{Name: "soc", URL: hook.URL, Secret: []byte(hookSecret), Events: []string{"*"}}}
		c.Tracing = config.TracingConfig{OTLPEndpoint: col.URL, ServiceName: "gatehouse", SampleRatio: 1}
		for i := range c.APIs {
			if c.APIs[i].Name == "orders" {
				c.APIs[i].Routes = append(c.APIs[i].Routes, gatehouse.Route{Path: "/keyed/*", Credential: gatehouse.CredentialAPIKey, Scopes: []string{"orders:read"}})
			}
		}
	})
	ctx := context.Background()
	var s secretSet
	for name, v := range map[string]string{"admin secret": adminSecret, "basic secret": basicSecret, "post secret": postSecret,
		"web secret": webSecret, "rs secret": rsSecret, "password": userPassword, "webhook secret": hookSecret} {
		s.add(name, v)
	}
	n.addUser(t, "alice")

	// Client credentials, used at the gateway, one from two networks.
	cc := n.ordersToken(t, "orders:read")
	s.add("client credentials token", cc)
	for _, a := range []string{"203.0.113.5", "192.0.2.5"} {
		n.call(t, "GET", "/orders/1", cc, xff(a))
	}
	// A client that puts a token in the URL (refused) must not get it logged.
	n.call(t, "GET", "/orders/1?access_token=leak-me-not-"+strings.Repeat("q", 20), "", nil)
	s.add("token in a query", "leak-me-not-"+strings.Repeat("q", 20))
	opaque, err := n.ccConfig("svc-basic", basicSecret, oauth2.AuthStyleInHeader, "https://billing.example.test", "billing:read").Token(ctx)
	if err != nil {
		t.Fatal(err)
	}
	s.add("opaque token", opaque.AccessToken)
	n.call(t, "GET", "/billing/1", opaque.AccessToken, nil)

	// Authorization code, refresh, reuse.
	cfg := n.webApp()
	v := oauth2.GenerateVerifier()
	s.add("PKCE verifier", v)
	code := n.codeFor(t, n.browser(t), cfg, v)
	s.add("authorization code", code)
	tok, err := cfg.Exchange(ctx, code, oauth2.VerifierOption(v))
	if err != nil {
		t.Fatalf("%v\n%s", err, n.logs.String())
	}
	s.add("access token", tok.AccessToken)
	s.add("refresh token", tok.RefreshToken)
	n.call(t, "GET", "/orders/2", tok.AccessToken, nil)
	status, next := n.refresh(t, tok.RefreshToken, nil)
	if status != 200 {
		t.Fatalf("refresh: %d %v", status, next)
	}
	s.add("rotated access token", next["access_token"].(string))
	s.add("rotated refresh token", next["refresh_token"].(string))
	n.refresh(t, tok.RefreshToken, nil) // reuse: the family is revoked
	n.refresh(t, tok.RefreshToken, nil) // and a revoked one replayed
	n.call(t, "GET", "/orders/3", next["access_token"].(string), nil)
	// The code again: reuse, refused.
	postForm(t, n.Issuer+oauth.PathToken, url.Values{"grant_type": {"authorization_code"}, "code": {code},
		"redirect_uri": {cfg.RedirectURL}, "code_verifier": {v}}, func(r *http.Request) { r.SetBasicAuth("web-app", url.QueryEscape(webSecret)) })

	// Revocation, then the revoked token replayed.
	rv := n.ordersToken(t, "orders:read")
	s.add("revoked token", rv)
	postForm(t, n.Issuer+oauth.PathRevoke, url.Values{"token": {rv}}, func(r *http.Request) {
		r.SetBasicAuth("svc-basic", url.QueryEscape(basicSecret))
	})
	n.call(t, "GET", "/orders/4", rv, nil)
	n.call(t, "GET", "/orders/4", rv, nil)

	// Failed logins and client authentication, with guesses that are
	// secrets too (someone's real password typed in the wrong box).
	wrongPW := "Tr0ub4dor&3-" + encodeRand(8)
	s.add("wrong password", wrongPW)
	b := n.browser(t)
	b.client.Transport = &http.Transport{DialContext: (&net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.3")}}).DialContext}
	for range 3 {
		b.login(b.get(cfg.AuthCodeURL("s", oauth2.S256ChallengeOption(oauth2.GenerateVerifier()))), "alice", wrongPW)
	}
	wrongSecret := "guess-" + encodeRand(24)
	s.add("wrong client secret", wrongSecret)
	for range 3 {
		postForm(t, n.Issuer+oauth.PathToken, url.Values{"grant_type": {"client_credentials"}}, func(r *http.Request) {
			r.SetBasicAuth("svc-post", wrongSecret)
		})
		postForm(t, n.Issuer+oauth.PathToken, url.Values{"grant_type": {"client_credentials"}, "client_id": {"svc-post"}, "client_secret": {wrongSecret}}, nil)
	}

	// Invalid bearer tokens and API keys.
	forged := cc[:len(cc)-6] + "AAAAAA"
	s.add("forged token", forged)
	for range 3 {
		n.call(t, "GET", "/orders/5", forged, xff("192.0.2.66"))
	}
	status2, k := n.adminJSON(t, "POST", "/admin/v1/api-keys", `{"client_id":"svc-basic","api":"orders","scopes":["orders:read"],"expires_in":3600}`)
	key, _ := k["api_key"].(string)
	if status2 != 201 || key == "" {
		t.Fatalf("API key: %d %v", status2, k)
	}
	s.add("API key", key)
	n.call(t, "GET", "/keyed/1", "", map[string]string{"X-API-Key": key})
	badKey := "ghk_" + encodeRand(16)
	s.add("unknown API key", badKey)
	n.call(t, "GET", "/keyed/1", "", map[string]string{"X-API-Key": badKey})
	postForm(t, n.Issuer+oauth.PathRevoke, url.Values{"token": {key}}, func(r *http.Request) {
		r.SetBasicAuth("svc-basic", url.QueryEscape(basicSecret))
	})
	n.call(t, "GET", "/keyed/1", "", map[string]string{"X-API-Key": key})
	admin := n.adminToken(t)
	s.add("admin token", admin)

	// Let the alerts, traces and call log land, then collect everything.
	for _, typ := range []string{"anomaly.token_networks", "anomaly.token_replay", "anomaly.refresh_reuse", "anomaly.auth_failures"} {
		eventually(t, "a webhook for "+typ, func() bool { return len(hook.byType(typ)) > 0 })
	}
	if err := n.alerting.tracer.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if err := n.watch.log.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	outputs := map[string]string{}
	outputs["node log"] = n.logs.String()
	outputs["node stderr"] = n.stderr.String()
	_, raw, _, _ := hook.all()
	outputs["webhook payloads"] = strings.Join(raw, "\n")
	col.mu.Lock()
	outputs["trace exports"] = string(bytes.Join(col.raw, []byte("\n")))
	col.mu.Unlock()
	for _, p := range []string{"/admin/v1/calls/export?format=ndjson", "/admin/v1/calls/export?format=csv", "/metrics"} {
		status, body := adminGet(t, n, admin, p)
		if status != 200 || len(body) == 0 {
			t.Fatalf("%s: %d", p, status)
		}
		outputs[p] = string(body)
	}
	var cli, cliErr bytes.Buffer
	if c := Main(ctx, []string{"logs", "--data", n.dataDir, "-o", "ndjson"}, mapEnv(nil), nil, &cli, &cliErr); c != ExitOK {
		t.Fatalf("gatehouse logs: %d %s", c, cliErr.String())
	}
	outputs["gatehouse logs"] = cli.String() + cliErr.String()
	// Whatever else the node wrote under its data directory as text (call
	// log spill segments and the like), but not the stores themselves,
	// which hold hashes and sealed keys by design.
	_ = filepath.WalkDir(n.dataDir, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && !strings.Contains(filepath.Base(p), ".db") && filepath.Base(p) != "master.key" {
			if b, err := os.ReadFile(p); err == nil {
				outputs["file "+strings.TrimPrefix(p, n.dataDir)] = string(b)
			}
		}
		return nil
	})

	// The capture must have seen the scenario, or the check proves nothing.
	for what, want := range map[string]string{
		"node log":                             `"msg":"anomaly detected"`,
		"webhook payloads":                     `"type":"refresh_token_reuse"`,
		"/admin/v1/calls/export?format=ndjson": `"status":401`,
		"trace exports":                        "gatehouse.api",
	} {
		if !strings.Contains(outputs[what], want) {
			t.Fatalf("the %s lack %q: the capture missed the scenario", what, want)
		}
	}
	if len(s.values) < 20 {
		t.Fatalf("only %d secrets collected", len(s.values))
	}
	checked := 0
	for i, v := range s.values {
		for form, text := range forms(s.names[i], v) {
			checked++
			for where, out := range outputs {
				if j := strings.Index(out, text); j >= 0 {
					t.Errorf("%s appears in the %s: %.160q", form, where, out[max(0, j-60):])
				}
			}
		}
	}
	t.Logf("searched %d outputs (%d bytes) for %d forms of %d secrets", len(outputs), totalLen(outputs), checked, len(s.values))
}

func totalLen(m map[string]string) int {
	n := 0
	for _, s := range m {
		n += len(s)
	}
	return n
}
