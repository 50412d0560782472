package app

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/internal/anomaly"
	"github.com/gatehouse/gatehouse/internal/config"
	"github.com/gatehouse/gatehouse/internal/oauth"
	"github.com/gatehouse/gatehouse/internal/webhook"
)

// hookSecret is the webhook HMAC key of the tests, random per run.
var hookSecret = "hook-" + encodeRand(32)

func encodeRand(n int) string {
	const hexdig = "0123456789abcdef"
	b := randBytes(n)
	out := make([]byte, 2*n)
	for i, c := range b {
		out[2*i], out[2*i+1] = hexdig[c>>4], hexdig[c&15]
	}
	return string(out)
}

// hookReceiver is a real HTTP server that verifies every delivery's
// signature and keeps the payloads; the first `fail` deliveries get 500.
type hookReceiver struct {
	*httptest.Server
	mu       sync.Mutex
	payloads []webhook.Payload
	raw      []string
	bad      int
	fail     int
	attempts int
}

func newHookReceiver(t *testing.T, fail int) *hookReceiver {
	h := &hookReceiver{fail: fail}
	h.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		h.mu.Lock()
		defer h.mu.Unlock()
		h.attempts++
		if err := webhook.Verify([]byte(hookSecret), r.Header.Get(webhook.SignatureHeader), body, time.Now(), 0); err != nil {
			h.bad++
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		if h.fail > 0 {
			h.fail--
			w.WriteHeader(http.StatusInternalServerError)
			return
		}
		var p webhook.Payload
		if err := json.Unmarshal(body, &p); err != nil {
			h.bad++
		}
		h.payloads = append(h.payloads, p)
		h.raw = append(h.raw, string(body))
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(h.Close)
	return h
}

// byType returns the payloads received of type typ.
func (h *hookReceiver) byType(typ string) []webhook.Payload {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []webhook.Payload
	for _, p := range h.payloads {
		if p.Type == typ {
			out = append(out, p)
		}
	}
	return out
}

func (h *hookReceiver) all() (payloads []webhook.Payload, raw []string, bad, attempts int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]webhook.Payload(nil), h.payloads...), append([]string(nil), h.raw...), h.bad, h.attempts
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// settle waits until the anomaly engine has processed every observation
// handed to it so far.
func (n *testNode) settle(t *testing.T) {
	t.Helper()
	e := n.alerting.engine
	last := e.Stats().Observed
	stableSince := time.Now()
	eventually(t, "the anomaly queue to drain", func() bool {
		st := e.Stats()
		if st.Observed != last || st.Queued > 0 {
			last, stableSince = st.Observed, time.Now()
			return false
		}
		return time.Since(stableSince) > 50*time.Millisecond
	})
}

func (n *testNode) events(t *testing.T, typ string) []*gatehouse.SecurityEvent {
	t.Helper()
	es, err := n.Store.FindEvents(context.Background(), gatehouse.EventFilter{Type: typ})
	if err != nil {
		t.Fatal(err)
	}
	return es
}

func (n *testNode) waitEvent(t *testing.T, typ string) *gatehouse.SecurityEvent {
	t.Helper()
	var es []*gatehouse.SecurityEvent
	eventually(t, "a "+typ+" event", func() bool { es = n.events(t, typ); return len(es) > 0 })
	return es[0]
}

// alertNode is a gateway node with every anomaly rule and a webhook.
func alertNode(t *testing.T, up *upstream, hook *hookReceiver, rules ...anomaly.Rule) *testNode {
	return gatewayNode(t, up, func(c *config.Config) {
		c.Gateway.AllowPlainHTTPTokens = true // remote clients are simulated through X-Forwarded-For
		for i := range rules {
			if err := rules[i].Validate(); err != nil {
				t.Fatal(err)
			}
		}
		c.Anomaly.Rules = rules
		c.Webhooks = []config.Webhook{{Name: "soc", URL: hook.URL, Secret: []byte(hookSecret),
			Events: []string{"anomaly.*", gatehouse.EventRefreshReuse}, MaxAttempts: 5}}
		for i := range c.APIs {
			if c.APIs[i].Name == "orders" {
				c.APIs[i].Routes = append(c.APIs[i].Routes, gatehouse.Route{Path: "/keyed/*", Credential: gatehouse.CredentialAPIKey, Scopes: []string{"orders:read"}})
			}
		}
	})
}

var allRules = []anomaly.Rule{
	{Name: "stolen-token", Kind: anomaly.KindTokenNetworks, Threshold: 2, Window: time.Hour, Action: anomaly.ActionRevoke},
	{Name: "replay", Kind: anomaly.KindTokenReplay, Threshold: 1, Window: time.Hour, Action: anomaly.ActionRevoke},
	{Name: "reuse", Kind: anomaly.KindRefreshReuse, Threshold: 0, Window: time.Hour},
	{Name: "failures", Kind: anomaly.KindAuthFailures, Threshold: 5, Window: time.Minute},
	{Name: "spike", Kind: anomaly.KindRateSpike, Threshold: 20, Window: 8 * time.Second, Factor: 5},
}

func xff(addr string) map[string]string { return map[string]string{"X-Forwarded-For": addr} }

func TestAnomalyRulesEndToEnd(t *testing.T) {
	up := newUpstream(t)
	hook := newHookReceiver(t, 1) // the first delivery fails: it must be retried
	n := alertNode(t, up, hook, allRules...)
	n.addUser(t, "alice")

	t.Run("NormalTrafficIsQuiet", func(t *testing.T) {
		// Three services with their own tokens, a user app refreshing,
		// a token that expired once: the day-to-day.
		for range 3 {
			tok := n.ordersToken(t, "orders:read")
			for i := range 5 {
				if resp, _ := n.call(t, "GET", "/orders/"+string(rune('a'+i)), tok, xff("203.0.113.10")); resp.StatusCode != 200 {
					t.Fatalf("normal call: %d", resp.StatusCode)
				}
				n.clock.Advance(time.Second)
			}
		}
		first := n.grantTokens(t, n.webApp())
		if status, body := n.refresh(t, first.RefreshToken, nil); status != 200 {
			t.Fatalf("refresh: %d %v", status, body)
		}
		old := n.ordersToken(t, "orders:read")
		n.clock.Advance(11 * time.Minute)
		if resp, _ := n.call(t, "GET", "/orders/1", old, nil); resp.StatusCode != 401 {
			t.Fatalf("expired token: %d", resp.StatusCode)
		}
		n.settle(t)
		for _, k := range anomaly.Kinds {
			if es := n.events(t, gatehouse.EventAnomalyPrefix+string(k)); len(es) > 0 {
				t.Errorf("rule %s fired on normal traffic: %+v", k, es[0])
			}
		}
	})

	t.Run("TokenFromTooManyNetworksIsRevoked", func(t *testing.T) {
		tok := n.ordersToken(t, "orders:read")
		for _, a := range []string{"203.0.113.7", "203.0.113.99", "192.0.2.7", "100.64.1.2"} {
			if resp, _ := n.call(t, "GET", "/orders/1", tok, xff(a)); resp.StatusCode != 200 {
				t.Fatalf("call from %s: %d", a, resp.StatusCode)
			}
		}
		ev := n.waitEvent(t, "anomaly.token_networks")
		if ev.ClientID != "svc-basic" || !strings.Contains(ev.Detail, "revoked token") {
			t.Errorf("event %+v", ev)
		}
		// Revoked before the event was written: refused at once.
		if resp, _ := n.call(t, "GET", "/orders/1", tok, xff("203.0.113.7")); resp.StatusCode != 401 {
			t.Errorf("token after the revoke action: %d", resp.StatusCode)
		}
	})

	t.Run("APIKeyFromTooManyNetworksIsRevoked", func(t *testing.T) {
		status, k := n.adminJSON(t, "POST", "/admin/v1/api-keys", `{"client_id":"svc-post","api":"orders","scopes":["orders:read"],"expires_in":86400}`)
		key, _ := k["api_key"].(string)
		if status != 201 || key == "" {
			t.Fatalf("API key: %d %v", status, k)
		}
		before := len(n.events(t, "anomaly.token_networks"))
		for _, a := range []string{"203.0.113.70", "192.0.2.70", "100.64.7.7"} {
			if resp, _ := n.call(t, "GET", "/keyed/1", "", map[string]string{"X-API-Key": key, "X-Forwarded-For": a}); resp.StatusCode != 200 {
				t.Fatalf("key from %s: %d", a, resp.StatusCode)
			}
		}
		eventually(t, "a second token_networks event", func() bool { return len(n.events(t, "anomaly.token_networks")) > before })
		if resp, _ := n.call(t, "GET", "/keyed/1", "", map[string]string{"X-API-Key": key, "X-Forwarded-For": "203.0.113.70"}); resp.StatusCode != 401 {
			t.Errorf("API key after the revoke action: %d", resp.StatusCode)
		}
		eventually(t, "the key's webhook", func() bool {
			for _, p := range hook.byType("anomaly.token_networks") {
				if p.APIKeyID != "" && strings.HasPrefix(p.Revoked, "api key ") && p.ClientID == "svc-post" {
					return true
				}
			}
			return false
		})
	})

	t.Run("RevokedTokenReplayed", func(t *testing.T) {
		tok := n.ordersToken(t, "orders:read")
		postForm(t, n.Issuer+oauth.PathRevoke, url.Values{"token": {tok}}, func(r *http.Request) {
			r.SetBasicAuth("svc-basic", url.QueryEscape(basicSecret))
		})
		for range 2 {
			if resp, _ := n.call(t, "GET", "/orders/1", tok, xff("192.0.2.50")); resp.StatusCode != 401 {
				t.Fatalf("revoked token: %d", resp.StatusCode)
			}
		}
		ev := n.waitEvent(t, "anomaly.token_replay")
		if ev.ClientID != "svc-basic" || !strings.Contains(ev.Detail, "2 > 1") {
			t.Errorf("event %+v", ev)
		}
	})

	t.Run("RefreshReuse", func(t *testing.T) {
		first := n.grantTokens(t, n.webApp())
		if status, body := n.refresh(t, first.RefreshToken, nil); status != 200 {
			t.Fatalf("refresh: %d %v", status, body)
		}
		if status, _ := n.refresh(t, first.RefreshToken, nil); status != 400 {
			t.Fatalf("reuse: %d", status)
		}
		ev := n.waitEvent(t, "anomaly.refresh_reuse")
		if ev.ClientID != "web-app" || ev.GrantID == "" {
			t.Errorf("event %+v", ev)
		}
		// The family was revoked by the reuse; the family's access token
		// is refused at the gateway.
		if resp, _ := n.call(t, "GET", "/orders/1", first.AccessToken, nil); resp.StatusCode != 401 {
			t.Errorf("family token after reuse: %d", resp.StatusCode)
		}
	})

	t.Run("BurstOfFailures", func(t *testing.T) {
		for range 6 {
			if resp, _ := n.call(t, "GET", "/orders/1", "not-a-token", xff("192.0.2.77")); resp.StatusCode != 401 {
				t.Fatalf("bogus token: %d", resp.StatusCode)
			}
		}
		var ev *gatehouse.SecurityEvent
		eventually(t, "the failure burst", func() bool {
			for _, e := range n.events(t, "anomaly.auth_failures") {
				if strings.Contains(e.Detail, "192.0.2.77") {
					ev = e
				}
			}
			return ev != nil
		})
	})

	t.Run("RateSpike", func(t *testing.T) {
		tok, err := n.ccConfig("svc-post", postSecret, oauth2.AuthStyleInParams, "", "orders:read").Token(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		// One call a second for 30 s, then 40 at once.
		for range 30 {
			n.call(t, "GET", "/orders/1", tok.AccessToken, nil)
			n.clock.Advance(time.Second)
		}
		n.settle(t)
		if es := n.events(t, "anomaly.rate_spike"); len(es) > 0 {
			t.Fatalf("steady rate fired: %+v", es[0])
		}
		for range 40 {
			n.call(t, "GET", "/orders/1", tok.AccessToken, nil)
		}
		ev := n.waitEvent(t, "anomaly.rate_spike")
		if ev.ClientID != "svc-post" {
			t.Errorf("event %+v", ev)
		}
	})

	t.Run("WebhookGotSignedAlerts", func(t *testing.T) {
		for _, typ := range []string{"anomaly.token_networks", "anomaly.token_replay", "anomaly.refresh_reuse", "anomaly.auth_failures", "anomaly.rate_spike", gatehouse.EventRefreshReuse} {
			eventually(t, "a webhook for "+typ, func() bool { return len(hook.byType(typ)) > 0 })
		}
		p := hook.byType("anomaly.token_networks")[0]
		if p.Rule != "stolen-token" || p.Action != "revoke" || !strings.HasPrefix(p.Revoked, "token ") || p.TokenID == "" || p.ClientID != "svc-basic" || p.Count != 3 || p.Address == "" {
			t.Errorf("payload %+v", p)
		}
		_, _, bad, attempts := hook.all()
		if bad != 0 {
			t.Errorf("%d deliveries with a bad signature or body", bad)
		}
		if got, _, _, _ := hook.all(); attempts != len(got)+1 {
			t.Errorf("%d attempts for %d payloads; want exactly one retry after the 500", attempts, len(got))
		}
	})

	t.Run("Metrics", func(t *testing.T) {
		eventually(t, "the retried delivery to be counted", func() bool { return n.alerting.hooks.Stats().Retried.Load() == 1 })
		status, body := adminGet(t, n, n.adminToken(t), "/metrics")
		if status != 200 {
			t.Fatalf("metrics: %d", status)
		}
		for _, want := range []string{
			`gatehouse_anomaly_alerts_total{rule="stolen-token"} 2`,
			`gatehouse_anomaly_alerts_total{rule="spike"} 1`,
			`gatehouse_anomaly_observations_dropped_total 0`,
			`gatehouse_webhook_retries_total 1`,
			`gatehouse_webhook_failed_total 0`,
		} {
			if !strings.Contains(string(body), want) {
				t.Errorf("metrics lack %q", want)
			}
		}
	})
}

// TestAnomalyOff: without rules, webhooks or tracing, nothing wraps the
// request path.
func TestAnomalyOff(t *testing.T) {
	n := startNode(t)
	if n.alerting.watching() || n.alerting.engine != nil || n.alerting.hooks != nil {
		t.Fatalf("watch on without config: %+v", n.watch)
	}
}

// TestReloadAlerting: the anomaly engine, webhook senders and exporter are
// built at start, so a reload that changes them is refused (nothing
// applied); idle limits do change on reload.
func TestReloadAlerting(t *testing.T) {
	n := startNode(t)
	next := *n.cfg
	next.Anomaly.Rules = []anomaly.Rule{{Name: "f", Kind: anomaly.KindAuthFailures, Threshold: 5, Window: time.Minute, Action: anomaly.ActionAlert}}
	if err := n.Reload(context.Background(), &next); err == nil || !strings.Contains(err.Error(), "anomaly") {
		t.Errorf("reload with new anomaly rules: %v", err)
	}
	next = *n.cfg
	next.Tracing = config.TracingConfig{OTLPEndpoint: "http://127.0.0.1:4318", ServiceName: "g", SampleRatio: 1}
	if err := n.Reload(context.Background(), &next); err == nil || !strings.Contains(err.Error(), "tracing") {
		t.Errorf("reload with tracing: %v", err)
	}
	next = *n.cfg
	next.Idle = config.IdleConfig{APIs: map[string]time.Duration{"orders": time.Hour}}
	if err := n.Reload(context.Background(), &next); err != nil {
		t.Fatalf("reload with idle limits: %v", err)
	}
	// An API key nobody used, made two hours ago, is now stale.
	status, k := n.adminJSON(t, "POST", "/admin/v1/api-keys", `{"client_id":"svc-basic","api":"orders","scopes":["orders:read"],"expires_in":86400}`)
	if status != 201 {
		t.Fatalf("API key: %d %v", status, k)
	}
	n.clock.Advance(2 * time.Hour)
	stale, err := n.idle.Stale(context.Background(), 0)
	if err != nil || len(stale) != 1 || stale[0].Rule != "api orders" {
		t.Errorf("stale after reload: %v %v", stale, err)
	}
}
