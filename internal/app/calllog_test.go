package app

import (
	"bufio"
	"context"
	"database/sql"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/internal/calllog"
	"github.com/gatehouse/gatehouse/internal/config"
)

// newWatchUpstream is an upstream that also accepts WebSocket upgrades on
// /orders/ws (and echoes what it gets) and answers /orders/big with 100 KB.
func newWatchUpstream(t *testing.T) *upstream {
	base := newUpstream(t)
	u := &upstream{}
	u.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/orders/ws":
			conn, brw, err := http.NewResponseController(w).Hijack()
			if err != nil {
				return
			}
			defer conn.Close()
			brw.WriteString("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")
			brw.Flush()
			buf := make([]byte, 5)
			if _, err := io.ReadFull(brw, buf); err == nil {
				conn.Write(buf)
			}
		case "/orders/big":
			io.Copy(io.Discard, r.Body)
			w.Write([]byte(strings.Repeat("x", 100_000)))
		default:
			base.Config.Handler.ServeHTTP(w, r)
		}
	}))
	t.Cleanup(u.Close)
	return u
}

// upgradeWebSocket opens a WebSocket to /orders/ws through the gateway
// with tok and returns the connection, a reader on it positioned after the
// 101 answer, and that answer. The connection is closed with the test.
func upgradeWebSocket(t *testing.T, n *testNode, tok string) (net.Conn, *bufio.Reader, *http.Response) {
	t.Helper()
	u, _ := url.Parse(n.PublicURL)
	conn, err := net.Dial("tcp", u.Host)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	fmt.Fprintf(conn, "GET /orders/ws HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nAuthorization: Bearer %s\r\n\r\n", u.Host, tok)
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("upgrade: %d", resp.StatusCode)
	}
	return conn, br, resp
}

// webSocket opens a WebSocket through the gateway, sends hello, reads the
// echo, closes it and returns the request id.
func webSocket(t *testing.T, n *testNode, tok string) string {
	t.Helper()
	conn, br, resp := upgradeWebSocket(t, n, tok)
	defer conn.Close()
	conn.Write([]byte("hello"))
	echo := make([]byte, 5)
	if _, err := io.ReadFull(br, echo); err != nil || string(echo) != "hello" {
		t.Fatalf("echo %q, %v", echo, err)
	}
	return resp.Header.Get("X-Request-Id")
}

// do sends one request and returns its status and X-Request-Id.
func do(t *testing.T, n *testNode, method, path, body string, hdr map[string]string) (int, string) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, _ := http.NewRequest(method, n.PublicURL+path, rd)
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, resp.Body)
	return resp.StatusCode, resp.Header.Get("X-Request-Id")
}

func bearer(tok string) map[string]string { return map[string]string{"Authorization": "Bearer " + tok} }

// TestCallLogRecordsEveryRequest sends proxied, refused, streamed and
// upgraded requests through a whole node and finds exactly one call per
// request, with its fields, in the store and through the admin API.
func TestCallLogRecordsEveryRequest(t *testing.T) {
	up := newWatchUpstream(t)
	n := gatewayNode(t, up, func(c *config.Config) {
		c.Gateway.AllowPlainHTTPTokens = true // a remote client is simulated with X-Forwarded-For
		for i := range c.APIs {
			if c.APIs[i].Name == "orders" {
				c.APIs[i].Routes = append(c.APIs[i].Routes, gatehouse.Route{Path: "/keyed/*", Credential: gatehouse.CredentialAPIKey})
			}
		}
	})
	tok := n.ordersToken(t, "orders:read")
	claims, _ := n.Verifier.Verify(context.Background(), tok)
	badTok := "gha_" + strings.Repeat("Z", 43)

	type want struct {
		status           int
		api, route       string
		reason           string // prefix
		client, tokenID  string // tokenID: "jti", "hash" or ""
		path             string
		bytesIn, minOut  int64
		upstream         bool
		userAgent        string
		method, clientIP string
	}
	wants := map[string]want{}
	add := func(w want, status int, id string) {
		t.Helper()
		if status != w.status {
			t.Fatalf("request for %s: status %d, want %d", w.path, status, w.status)
		}
		if id == "" || wants[id].status != 0 {
			t.Fatalf("request id %q missing or repeated", id)
		}
		wants[id] = w
	}
	ok := want{status: 200, api: "orders", route: "/orders/*", client: "svc-basic", tokenID: "jti", upstream: true, method: "GET"}

	w := ok
	w.path, w.userAgent, w.clientIP = "/orders/1?token=REDACTED&page=2&code=REDACTED&q=REDACTED", "watch-test/1", "203.0.113.7"
	s, id := do(t, n, "GET", "/orders/1?token=abc123&page=2&code=xyz&q="+url.QueryEscape(badTok), "",
		map[string]string{"Authorization": "Bearer " + tok, "User-Agent": "watch-test/1", "X-Forwarded-For": "203.0.113.7"})
	add(w, s, id)

	w = ok
	w.method, w.path, w.bytesIn, w.minOut = "POST", "/orders/big", 11, 100_000
	s, id = do(t, n, "POST", "/orders/big", "hello world", bearer(tok))
	add(w, s, id)

	s, id = do(t, n, "GET", "/orders/2", "", nil)
	add(want{status: 401, api: "orders", route: "/orders/*", reason: "unauthorized", path: "/orders/2", method: "GET"}, s, id)

	s, id = do(t, n, "GET", "/orders/3", "", bearer(badTok))
	add(want{status: 401, api: "orders", route: "/orders/*", reason: "invalid_token:", tokenID: "hash", path: "/orders/3", method: "GET"}, s, id)

	s, id = do(t, n, "GET", "/orders-write/1", "", bearer(tok))
	add(want{status: 403, api: "orders", route: "/orders-write/*", reason: "insufficient_scope", tokenID: "jti", client: "svc-basic", path: "/orders-write/1", method: "GET"}, s, id)

	s, id = do(t, n, "GET", "/nowhere", "", nil)
	add(want{status: 404, reason: "not_found", path: "/nowhere", method: "GET"}, s, id)

	s, id = do(t, n, "GET", "/keyed/1", "", map[string]string{"X-API-Key": "ghk_" + strings.Repeat("Q", 43)})
	add(want{status: 401, api: "orders", route: "/keyed/*", reason: "invalid_api_key:", tokenID: "hash", path: "/keyed/1", method: "GET"}, s, id)

	for i := range 4 { // burst 2: three at once, then 429
		w := want{status: 200, api: "orders", route: "/limited/*", client: "svc-basic", tokenID: "jti", upstream: true, path: "/limited/x", method: "GET"}
		if i == 3 {
			w.status, w.reason, w.upstream = 429, "rate_limited", false
		}
		s, id = do(t, n, "GET", "/limited/x", "", bearer(tok))
		add(w, s, id)
	}

	w = ok
	w.route, w.path, w.minOut = "/events", "/events", int64(3*len("data: event-0\n\n"))
	s, id = do(t, n, "GET", "/events", "", bearer(tok))
	add(w, s, id)

	w = ok
	w.status, w.path, w.bytesIn, w.minOut = 101, "/orders/ws", 5, 5
	add(w, 101, webSocket(t, n, tok))

	// A call is logged when its handler returns; the WebSocket's returns
	// once both connections are closed, just after the client's.
	var calls []gatehouse.Call
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		flushCalls(t, n)
		var err error
		calls, err = n.watch.calls.FindCalls(context.Background(), gatehouse.CallFilter{Ascending: true})
		if err != nil {
			t.Fatal(err)
		}
		if len(calls) >= len(wants) || time.Now().After(deadline) {
			break
		}
	}
	if len(calls) != len(wants) {
		t.Fatalf("%d calls logged for %d requests", len(calls), len(wants))
	}
	for _, c := range calls {
		w, found := wants[c.RequestID]
		if !found {
			t.Fatalf("call %+v is for no request of the test (or logged twice)", c)
		}
		delete(wants, c.RequestID)
		where := fmt.Sprintf("call for %s %s (%d)", c.Method, c.Path, c.Status)
		check := func(what string, got, want any) {
			t.Helper()
			if got != want {
				t.Errorf("%s: %s %v, want %v", where, what, got, want)
			}
		}
		check("status", c.Status, w.status)
		check("api", c.API, w.api)
		check("route", c.Route, w.route)
		check("method", c.Method, w.method)
		check("path", c.Path, w.path)
		check("client", c.ClientID, w.client)
		if !strings.HasPrefix(c.Reason, w.reason) || (w.reason == "") != (c.Reason == "") {
			t.Errorf("%s: reason %q, want %q", where, c.Reason, w.reason)
		}
		switch w.tokenID {
		case "jti":
			check("token id", c.TokenID, claims.ID)
			check("grant id", c.GrantID, claims.GrantID)
			check("subject", c.Subject, claims.Subject)
		case "hash":
			if !strings.HasPrefix(c.TokenID, "sha256:") || len(c.TokenID) != len("sha256:")+16 {
				t.Errorf("%s: token id %q, want a short hash", where, c.TokenID)
			}
		default:
			check("token id", c.TokenID, "")
		}
		if w.clientIP == "" {
			w.clientIP = "127.0.0.1"
		}
		check("client address", c.ClientAddr, w.clientIP)
		if w.userAgent != "" {
			check("user agent", c.UserAgent, w.userAgent)
		}
		check("bytes in", c.BytesIn, w.bytesIn)
		if c.BytesOut < w.minOut || c.BytesOut == 0 {
			t.Errorf("%s: bytes out %d, want at least %d", where, c.BytesOut, max(1, w.minOut))
		}
		if w.upstream != (c.Upstream > 0) {
			t.Errorf("%s: upstream latency %v, want it set: %v", where, c.Upstream, w.upstream)
		}
		if c.Total <= 0 || c.Total < c.Upstream {
			t.Errorf("%s: total latency %v (upstream %v)", where, c.Total, c.Upstream)
		}
		if !c.Time.Equal(n.clock.Now()) {
			t.Errorf("%s: time %v, want the node's clock %v", where, c.Time, n.clock.Now())
		}
		if c.RequestID == "" || strings.Contains(c.Path+c.TokenID, tok) || strings.Contains(c.Path, badTok) {
			t.Errorf("%s: a token reached the log or no request id", where)
		}
	}
	if len(wants) > 0 {
		t.Errorf("requests without a call: %v", wants)
	}

	t.Run("AdminAPI", func(t *testing.T) { checkAdminCalls(t, n, len(calls)) })
	t.Run("Metrics", func(t *testing.T) { checkGatewayMetrics(t, n) })
	t.Run("Usage", func(t *testing.T) {
		if err := n.watch.usage.Flush(context.Background()); err != nil {
			t.Fatal(err)
		}
		u, err := n.Store.FindUsage(context.Background(), gatehouse.UsageClientSecret, "svc-basic")
		if err != nil || u.Count < 1 || u.LastAddr != "127.0.0.1" {
			t.Errorf("client secret usage %+v, %v", u, err)
		}
	})
}

// adminGet calls the admin API and returns the status and body.
func adminGet(t *testing.T, n *testNode, tok, path string) (int, []byte) {
	t.Helper()
	req, _ := http.NewRequest("GET", n.AdminURL+path, nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, body
}

func checkAdminCalls(t *testing.T, n *testNode, total int) {
	admin := n.adminToken(t)
	// Pages of 2 over every call, newest first, until next_cursor ends.
	var seen []calllog.Record
	cursor := ""
	for range total + 2 {
		status, body := adminGet(t, n, admin, "/admin/v1/calls?limit=2&cursor="+cursor)
		if status != 200 {
			t.Fatalf("list: %d %s", status, body)
		}
		var page struct {
			Calls      []calllog.Record `json:"calls"`
			NextCursor string           `json:"next_cursor"`
		}
		if err := json.Unmarshal(body, &page); err != nil {
			t.Fatal(err)
		}
		seen = append(seen, page.Calls...)
		if cursor = page.NextCursor; cursor == "" {
			break
		}
	}
	ids := map[int64]bool{}
	for i, r := range seen {
		if ids[r.ID] || (i > 0 && r.ID > seen[i-1].ID) {
			t.Fatalf("page order broken at %d: %+v", i, r)
		}
		ids[r.ID] = true
	}
	if len(seen) != total {
		t.Fatalf("%d calls through the pages, want %d", len(seen), total)
	}
	for _, tc := range []struct {
		query string
		want  int
	}{
		{"status=4xx", 6},
		{"status=401&api=orders", 3},
		{"client=svc-basic&status=200-299", 6},
		{"api=orders&status=101", 1},
	} {
		status, body := adminGet(t, n, admin, "/admin/v1/calls?"+tc.query)
		var page struct{ Calls []calllog.Record }
		json.Unmarshal(body, &page)
		if status != 200 || len(page.Calls) != tc.want {
			t.Errorf("%s: %d with %d calls, want %d", tc.query, status, len(page.Calls), tc.want)
		}
	}
	if status, body := adminGet(t, n, admin, "/admin/v1/calls?status=6xx"); status != 400 || !strings.Contains(string(body), "status") {
		t.Errorf("bad status filter: %d %s", status, body)
	}
	if status, _ := adminGet(t, n, "nope", "/admin/v1/calls"); status != 401 {
		t.Errorf("without an admin token: %d", status)
	}

	// Exports parse back, oldest first.
	status, body := adminGet(t, n, admin, "/admin/v1/calls/export?format=ndjson")
	if status != 200 {
		t.Fatalf("ndjson export: %d", status)
	}
	lines := strings.Split(strings.TrimSpace(string(body)), "\n")
	var prev calllog.Record
	for i, line := range lines {
		var r calllog.Record
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatalf("ndjson line %d: %v", i, err)
		}
		if i > 0 && r.ID < prev.ID {
			t.Fatalf("ndjson not oldest first at line %d", i)
		}
		prev = r
	}
	if len(lines) != total {
		t.Fatalf("ndjson export has %d lines, want %d", len(lines), total)
	}
	status, body = adminGet(t, n, admin, "/admin/v1/calls/export?format=csv&status=429")
	rows, err := csv.NewReader(strings.NewReader(string(body))).ReadAll()
	if status != 200 || err != nil || len(rows) != 2 {
		t.Fatalf("csv export: %d, %v, %d rows", status, err, len(rows))
	}
	if rows[0][7] != "status" || rows[1][7] != "429" || rows[1][18] != "rate_limited" {
		t.Fatalf("csv rows %v", rows)
	}
}

// scrape reads the admin listener's /metrics.
func scrape(t *testing.T, n *testNode) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := http.Get(n.AdminURL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	p := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return mfs
}

// metricValue is the value of the series of name with exactly labels, or
// -1 when there is none.
func metricValue(mfs map[string]*dto.MetricFamily, name string, labels map[string]string) float64 {
	mf := mfs[name]
	if mf == nil {
		return -1
	}
next:
	for _, m := range mf.Metric {
		if len(m.Label) != len(labels) {
			continue
		}
		for _, l := range m.Label {
			if labels[l.GetName()] != l.GetValue() {
				continue next
			}
		}
		switch {
		case m.Counter != nil:
			return m.Counter.GetValue()
		case m.Gauge != nil:
			return m.Gauge.GetValue()
		case m.Histogram != nil:
			return float64(m.Histogram.GetSampleCount())
		}
	}
	return -1
}

func checkGatewayMetrics(t *testing.T, n *testNode) {
	mfs := scrape(t, n)
	for _, tc := range []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"gatehouse_gateway_requests_total", map[string]string{"api": "orders", "route": "/orders/*", "code": "200"}, 2},
		{"gatehouse_gateway_requests_total", map[string]string{"api": "orders", "route": "/limited/*", "code": "429"}, 1},
		{"gatehouse_gateway_requests_total", map[string]string{"api": "", "route": "", "code": "404"}, 1},
		{"gatehouse_gateway_refusals_total", map[string]string{"api": "orders", "reason": "invalid_token"}, 1},
		{"gatehouse_gateway_rate_limited_total", map[string]string{"api": "orders", "reason": "rate_limited"}, 1},
		{"gatehouse_gateway_token_validations_total", map[string]string{"api": "orders", "credential": "bearer", "outcome": "valid"}, 9},
		{"gatehouse_gateway_token_validations_total", map[string]string{"api": "orders", "credential": "bearer", "outcome": "missing"}, 1},
		{"gatehouse_gateway_token_validations_total", map[string]string{"api": "orders", "credential": "api_key", "outcome": "unknown_token"}, 1},
		{"gatehouse_gateway_request_duration_seconds", map[string]string{"api": "orders"}, 12},
		{"gatehouse_gateway_upstream_duration_seconds", map[string]string{"api": "orders"}, 7},
		{"gatehouse_calllog_written_total", nil, 13},
		{"gatehouse_calllog_lost_total", nil, 0},
		{"gatehouse_calllog_queue_depth", nil, 0},
	} {
		if got := metricValue(mfs, tc.name, tc.labels); got != tc.want {
			t.Errorf("%s%v = %v, want %v", tc.name, tc.labels, got, tc.want)
		}
	}
	if got := metricValue(mfs, "gatehouse_token_requests_total", map[string]string{"grant_type": "client_credentials", "outcome": "issued"}); got < 1 {
		t.Errorf("token issuance metric %v", got)
	}
}

// TestUsageTracking counts uses of a grant, an API key and a client secret
// in memory and finds them, merged, in the store after a flush.
func TestUsageTracking(t *testing.T) {
	up := newUpstream(t)
	n := gatewayNode(t, up, func(c *config.Config) {
		c.Gateway.AllowPlainHTTPTokens = true
		for i := range c.APIs {
			if c.APIs[i].Name == "orders" {
				c.APIs[i].Routes = append(c.APIs[i].Routes, gatehouse.Route{Path: "/keyed/*", Credential: gatehouse.CredentialAPIKey})
			}
		}
	})
	ctx := context.Background()
	n.addUser(t, "alice")
	tok := n.grantTokens(t, n.webApp())
	claims, err := n.Verifier.Verify(ctx, tok.AccessToken)
	if err != nil || claims.GrantID == "" {
		t.Fatalf("claims %+v, %v: want a grant", claims, err)
	}
	start := n.clock.Now()
	for _, addr := range []string{"192.0.2.1", "203.0.113.5", "203.0.113.9"} {
		if s, _ := do(t, n, "GET", "/orders/1", "", map[string]string{"Authorization": "Bearer " + tok.AccessToken, "X-Forwarded-For": addr}); s != 200 {
			t.Fatalf("gateway call: %d", s)
		}
		n.clock.Advance(time.Minute)
	}
	// A refused credential is not a use.
	do(t, n, "GET", "/orders/1", "", bearer("gha_"+strings.Repeat("x", 43)))

	req, _ := http.NewRequest("POST", n.AdminURL+"/admin/v1/api-keys", strings.NewReader(`{"client_id":"svc-basic","api":"orders","expires_in":86400}`))
	req.Header.Set("Authorization", "Bearer "+n.adminToken(t))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var k struct {
		Key string `json:"api_key"`
		ID  string `json:"id"`
	}
	json.NewDecoder(resp.Body).Decode(&k)
	resp.Body.Close()
	if k.Key == "" || k.ID == "" {
		t.Fatalf("create API key: %d", resp.StatusCode)
	}
	for range 2 {
		if s, _ := do(t, n, "GET", "/keyed/1", "", map[string]string{"X-API-Key": k.Key}); s != 200 {
			t.Fatalf("API key call: %d", s)
		}
	}
	if err := n.watch.usage.Flush(ctx); err != nil {
		t.Fatal(err)
	}

	g, err := n.Store.FindUsage(ctx, gatehouse.UsageGrant, claims.GrantID)
	if err != nil {
		t.Fatal(err)
	}
	want := gatehouse.Usage{Kind: gatehouse.UsageGrant, ID: claims.GrantID, ClientID: "web-app", API: "orders",
		FirstUsed: start, LastUsed: start.Add(2 * time.Minute), LastAddr: "203.0.113.9", Count: 3}
	if !g.FirstUsed.Equal(want.FirstUsed) || !g.LastUsed.Equal(want.LastUsed) {
		t.Errorf("grant usage times %v..%v, want %v..%v", g.FirstUsed, g.LastUsed, want.FirstUsed, want.LastUsed)
	}
	g.FirstUsed, g.LastUsed = want.FirstUsed, want.LastUsed
	if *g != want {
		t.Errorf("grant usage %+v, want %+v", *g, want)
	}
	key, err := n.Store.FindUsage(ctx, gatehouse.UsageAPIKey, k.ID)
	if err != nil || key.Count != 2 || key.ClientID != "svc-basic" {
		t.Errorf("API key usage %+v, %v", key, err)
	}
	sec, err := n.Store.FindUsage(ctx, gatehouse.UsageClientSecret, "web-app")
	if err != nil || sec.Count < 1 {
		t.Errorf("client secret usage %+v, %v", sec, err)
	}

	// A refresh is a use of the grant too (its access tokens may go to
	// resource servers that are not behind the gateway).
	if status, body := n.refresh(t, tok.RefreshToken, nil); status != 200 {
		t.Fatalf("refresh: %d %v", status, body)
	}
	if err := n.watch.usage.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	g, _ = n.Store.FindUsage(ctx, gatehouse.UsageGrant, claims.GrantID)
	if g.Count != 4 || !g.LastUsed.Equal(n.clock.Now()) || g.LastAddr != "203.0.113.9" {
		t.Errorf("grant usage after a refresh %+v: want 4 uses, the last now, the address of the last gateway call", g)
	}

	// An hour on, only the API key is used again: the grant is idle.
	n.clock.Advance(time.Hour)
	do(t, n, "GET", "/keyed/1", "", map[string]string{"X-API-Key": k.Key})
	if err := n.watch.usage.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	idle, err := n.Store.ListUsage(ctx, gatehouse.UsageFilter{UnusedSince: n.clock.Now().Add(-30 * time.Minute), Kind: gatehouse.UsageGrant})
	if err != nil || len(idle) != 1 || idle[0].ID != claims.GrantID {
		t.Errorf("idle grants %v, %v: want the one grant", idle, err)
	}
	key, _ = n.Store.FindUsage(ctx, gatehouse.UsageAPIKey, k.ID)
	if key.Count != 3 || !key.LastUsed.Equal(n.clock.Now()) {
		t.Errorf("API key usage after the hour %+v", key)
	}
}

// TestLogsCommand reads the call log of a node with `gatehouse logs`.
func TestLogsCommand(t *testing.T) {
	up := newUpstream(t)
	n := gatewayNode(t, up, nil)
	tok := n.ordersToken(t, "orders:read")
	for _, p := range []string{"/orders/1", "/orders/2", "/nowhere", "/nowhere/else"} {
		do(t, n, "GET", p, "", bearer(tok))
	}
	flushCalls(t, n)
	run := func(args ...string) (int, string, string) {
		var out, errb strings.Builder
		code := Main(context.Background(), append([]string{"logs", "--data", n.dataDir}, args...), mapEnv(nil), nil, &out, &errb)
		return code, out.String(), errb.String()
	}
	code, out, errs := run("-o", "ndjson", "--status", "404")
	if code != ExitOK {
		t.Fatalf("ndjson: exit %d: %s", code, errs)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 2 {
		t.Fatalf("ndjson: %d lines, want 2:\n%s", len(lines), out)
	}
	var first calllog.Record
	if err := json.Unmarshal([]byte(lines[0]), &first); err != nil || first.Path != "/nowhere" || first.Reason != "not_found" {
		t.Fatalf("ndjson first line %+v, %v", first, err)
	}
	code, out, _ = run("-o", "csv", "--api", "orders", "--client", "svc-basic")
	rows, err := csv.NewReader(strings.NewReader(out)).ReadAll()
	if code != ExitOK || err != nil || len(rows) != 3 || rows[1][6] != "/orders/1" {
		t.Fatalf("csv: exit %d, %v, rows %v", code, err, rows)
	}
	code, out, _ = run("--since", "1h", "--limit", "3")
	if code != ExitOK || strings.Count(strings.TrimSpace(out), "\n") != 3 || !strings.Contains(out, "STATUS") || !strings.Contains(out, "/nowhere/else") {
		t.Fatalf("table: exit %d:\n%s", code, out)
	}
	if first.TokenID != "" || rows[1][10] == "" {
		t.Fatalf("token ids: unmatched %q, matched %q", first.TokenID, rows[1][10])
	}
	code, out, _ = run("-o", "json", "--token-id", rows[1][10])
	var recs []calllog.Record
	if code != ExitOK || json.Unmarshal([]byte(out), &recs) != nil || len(recs) != 2 || recs[0].Path != "/orders/2" {
		t.Fatalf("json by token id: exit %d, %d records:\n%s", code, len(recs), out)
	}
	if code, _, errs := run("--status", "abc"); code != ExitUsage || !strings.Contains(errs, "status") {
		t.Fatalf("bad status: exit %d, %s", code, errs)
	}
	if code, _, _ := run("-o", "xml"); code != ExitUsage {
		t.Fatalf("bad format: exit %d", code)
	}
	var out2, errb strings.Builder
	if code := Main(context.Background(), []string{"logs", "--data", t.TempDir()}, mapEnv(nil), nil, &out2, &errb); code != ExitError || !strings.Contains(errb.String(), "no call log") {
		t.Fatalf("empty data dir: exit %d, %s", code, errb.String())
	}
}

// TestCallLogSurvivesStoreOutage holds the call log file's write lock from
// another connection while requests flow, then lets go: every request
// still has exactly one call, nothing is lost, and the token endpoint (on
// the main store) never noticed.
func TestCallLogSurvivesStoreOutage(t *testing.T) {
	up := newUpstream(t)
	n := gatewayNode(t, up, func(c *config.Config) { c.CallLog.QueueSize = 64; c.CallLog.BatchSize = 16 })
	tok := n.ordersToken(t, "orders:read")

	raw, err := sql.Open("sqlite", "file:"+callLogDB(n.dataDir))
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	conn, err := raw.Conn(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conn.ExecContext(context.Background(), "BEGIN EXCLUSIVE"); err != nil {
		t.Fatal(err)
	}
	ids := map[string]bool{}
	for i := range 300 {
		path := "/orders/" + strconv.Itoa(i)
		if i%10 == 0 {
			path = "/nowhere"
		}
		_, id := do(t, n, "GET", path, "", bearer(tok))
		ids[id] = true
		if i == 150 {
			// The authorization server does not depend on the call log.
			n.ordersToken(t, "orders:read")
		}
	}
	if s := n.watch.log.Stats(); s.Spilled == 0 || s.Written != 0 {
		t.Fatalf("stats while locked %+v: want spilled calls and none written", s)
	}
	if _, err := conn.ExecContext(context.Background(), "ROLLBACK"); err != nil {
		t.Fatal(err)
	}
	conn.Close()

	flushCalls(t, n)
	calls, err := n.watch.calls.FindCalls(context.Background(), gatehouse.CallFilter{})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range calls {
		if !ids[c.RequestID] {
			t.Fatalf("call %s unknown or logged twice", c.RequestID)
		}
		delete(ids, c.RequestID)
	}
	if len(ids) != 0 || len(calls) != 300 {
		t.Fatalf("%d calls stored for 300 requests; %d requests without a call", len(calls), len(ids))
	}
	mfs := scrape(t, n)
	if lost := metricValue(mfs, "gatehouse_calllog_lost_total", nil); lost != 0 {
		t.Errorf("lost %v calls", lost)
	}
	if sp := metricValue(mfs, "gatehouse_calllog_spilled_total", nil); sp <= 0 {
		t.Errorf("spilled metric %v", sp)
	}
	if rp := metricValue(mfs, "gatehouse_calllog_replayed_total", nil); rp <= 0 {
		t.Errorf("replayed metric %v", rp)
	}
}

func TestCallLogSettingsNeedRestart(t *testing.T) {
	n := startNode(t)
	next := *n.cfg
	next.CallLog.MaxRows = 5000
	if err := n.Reload(context.Background(), &next); err == nil || !strings.Contains(err.Error(), "call_log") {
		t.Fatalf("reload with another call_log: %v", err)
	}
}

// flushCalls waits until every call so far is stored; a write slowed past
// the writer's timeout (a loaded machine) spills and is retried a second
// later, so this may take a few tries.
func flushCalls(t *testing.T, n *testNode) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		err := n.watch.log.Flush(context.Background())
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the call log did not flush: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestCallLogRedactsHiddenTokens: a live token hidden mid-value, behind
// "Bearer", in a percent-encoded nested URL or in a matrix parameter, and
// short secret names, never reach the call log, its API or its exports.
func TestCallLogRedactsHiddenTokens(t *testing.T) {
	n := gatewayNode(t, newWatchUpstream(t), nil)
	tok := n.ordersToken(t, "orders:read")
	s, id := do(t, n, "GET", "/orders/x;token=SEMITOKEN123?q=Bearer%20"+tok+"&next=%2Fcb%3Faccess_token%3D"+tok+
		"&cs=ghs_abc&pw=hunter2&p=s3cret&page=3", "", bearer(tok))
	if s != 200 || id == "" {
		t.Fatalf("request: %d %q", s, id)
	}
	flushCalls(t, n)
	want := "/orders/REDACTED?q=REDACTED&next=REDACTED&cs=REDACTED&pw=REDACTED&p=REDACTED&page=3"
	admin := n.adminToken(t)
	for _, p := range []string{"/admin/v1/calls", "/admin/v1/calls/export?format=ndjson", "/admin/v1/calls/export?format=csv"} {
		status, raw := adminGet(t, n, admin, p)
		body := strings.ReplaceAll(string(raw), `\u0026`, "&") // JSON escapes '&'
		if status != 200 || !strings.Contains(body, want) {
			t.Errorf("%s: %d, lacks %q:\n%s", p, status, want, body)
		}
		for _, secret := range []string{tok, "SEMITOKEN123", "ghs_abc", "hunter2", "s3cret"} {
			if strings.Contains(body, secret) {
				t.Errorf("%s holds %q", p, secret)
			}
		}
	}
}

// TestLogsTableEscapesClientBytes: paths crafted to clear the screen, set
// the terminal title and forge a row are stored as sent (escaped) and
// printed by `gatehouse logs` with no control byte from the client; a
// token in the User-Agent is redacted in the stored record.
func TestLogsTableEscapesClientBytes(t *testing.T) {
	n := gatewayNode(t, newUpstream(t), nil)
	tok := n.ordersToken(t, "orders:read")
	jwt := "eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiJ4In0.c2ln"
	paths := []string{"/zz%1b%5b2Jx", "/v1/%1b%5d0;PWNED%07%1b%5b31mRED%0d%0aFAKE-LINE"}
	ids := map[string]string{}
	for _, p := range paths {
		_, id := do(t, n, "GET", p, "", map[string]string{"User-Agent": "evil/1 " + jwt + " " + tok})
		ids[id] = p
	}
	flushCalls(t, n)
	calls, err := n.watch.calls.FindCalls(context.Background(), gatehouse.CallFilter{})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range calls {
		p, ok := ids[c.RequestID]
		if !ok {
			continue
		}
		delete(ids, c.RequestID)
		if c.Path != p {
			t.Errorf("stored path %q, want %q as sent", c.Path, p)
		}
		if c.UserAgent != "evil/1 REDACTED REDACTED" {
			t.Errorf("stored user agent %q", c.UserAgent)
		}
	}
	if len(ids) != 0 {
		t.Fatalf("requests without a call: %v", ids)
	}
	// A record holding raw control bytes in every string column (one
	// written before paths were stored escaped).
	raw := "\x1b]0;PWNED\a\x1b[2J\r\nFAKE\t\x7f\u202e\xff"
	if err := n.watch.calls.InsertCalls(context.Background(), []gatehouse.Call{{Time: n.clock.Now(), Method: "GET" + raw,
		API: raw, Path: "/old/" + raw, Status: 200, ClientID: raw, TokenID: raw, ClientAddr: raw, Reason: raw}}); err != nil {
		t.Fatal(err)
	}
	var out, errb strings.Builder
	if code := Main(context.Background(), []string{"logs", "--data", n.dataDir}, mapEnv(nil), nil, &out, &errb); code != ExitOK {
		t.Fatalf("logs: exit %d: %s", code, errb.String())
	}
	for i, b := range []byte(out.String()) {
		if b < 0x20 && b != '\n' || b == 0x7f {
			t.Fatalf("table output holds byte %#x at %d:\n%q", b, i, out.String())
		}
	}
	if lines := strings.Count(out.String(), "\n"); lines != 4 {
		t.Errorf("table has %d lines, want a header and 3 rows:\n%s", lines, out.String())
	}
	if strings.Count(out.String(), `\x1b]0;PWNED\a\x1b[2J\r\nFAKE\t\x7f\u202e\xff`) != 7 {
		t.Errorf("table does not show the raw record's 7 string columns escaped:\n%s", out.String())
	}
	for _, p := range paths {
		if !strings.Contains(out.String(), p) {
			t.Errorf("table lacks %q:\n%s", p, out.String())
		}
	}
}

// TestTermSafe: what reaches the terminal from a stored string that holds
// raw control bytes (a record written before paths were stored escaped).
func TestTermSafe(t *testing.T) {
	for in, want := range map[string]string{
		"/orders/1":                    "/orders/1",
		"/zz\x1b[2Jx":                  `/zz\x1b[2Jx`,
		"\x1b]0;PWNED\a\r\nFAKE\t\x7f": `\x1b]0;PWNED\a\r\nFAKE\t\x7f`,
		"/caf\u00e9/\u202egnp.exe":     `/caf` + "\u00e9" + `/\u202egnp.exe`,
		"/bad\xff\xfe/\ufffd":          `/bad\xff\xfe/` + "\ufffd",
		"/c1\u009b31m":                 `/c1\u009b31m`,
	} {
		if got := termSafe(in); got != want {
			t.Errorf("termSafe(%q) = %q, want %q", in, got, want)
		}
	}
}
