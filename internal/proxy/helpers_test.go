package proxy

import (
	"bufio"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse"
)

// seen is what an echo upstream reports about the request it received.
type seen struct {
	Name    string      `json:"name"`
	Method  string      `json:"method"`
	Path    string      `json:"path"` // escaped, as received
	Query   string      `json:"query"`
	Host    string      `json:"host"`
	Header  http.Header `json:"header"`
	BodyLen int         `json:"body_len"`
}

// echoUpstream starts an upstream that answers 200 with what it saw.
func echoUpstream(t testing.TB, name string) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(echoHandler(name))
	t.Cleanup(srv.Close)
	return srv
}

func echoHandler(name string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(seen{
			Name: name, Method: r.Method, Path: r.URL.EscapedPath(), Query: r.URL.RawQuery,
			Host: r.Host, Header: r.Header, BodyLen: len(body),
		})
	}
}

// apiTo is a published API routing to the given upstream servers.
func apiTo(name string, targets []string, routes ...gatehouse.Route) gatehouse.API {
	a := testAPI(name, routes...)
	a.Upstream.Targets = targets
	return a
}

func urls(srvs ...*httptest.Server) []string {
	var out []string
	for _, s := range srvs {
		out = append(out, s.URL)
	}
	return out
}

func quietLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }

// serveGateway loads apis into g and serves it on a loopback listener.
func serveGateway(t testing.TB, g *Gateway, apis ...gatehouse.API) *httptest.Server {
	t.Helper()
	if g.Logger == nil {
		g.Logger = quietLogger()
	}
	g.Load(mustCompile(t, apis...))
	t.Cleanup(func() { g.Close() })
	srv := httptest.NewServer(g)
	t.Cleanup(srv.Close)
	return srv
}

// do sends a request and returns the response with its body read.
func do(t testing.TB, req *http.Request) (*http.Response, []byte) {
	t.Helper()
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatalf("read body: %v", err)
	}
	return res, body
}

func get(t testing.TB, url string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	return do(t, req)
}

// decodeSeen decodes an echo upstream's answer that came through the gateway.
func decodeSeen(t testing.TB, res *http.Response, body []byte) seen {
	t.Helper()
	if res.StatusCode != http.StatusOK {
		t.Fatalf("status %d, want 200; body %s", res.StatusCode, body)
	}
	var s seen
	if err := json.Unmarshal(body, &s); err != nil {
		t.Fatalf("decode %s: %v", body, err)
	}
	return s
}

// errorBody is the gateway's JSON error.
type errorBody struct {
	Error     string `json:"error"`
	Message   string `json:"message"`
	RequestID string `json:"request_id"`
}

func decodeError(t testing.TB, res *http.Response, body []byte, wantStatus int) errorBody {
	t.Helper()
	if res.StatusCode != wantStatus {
		t.Fatalf("status %d, want %d; body %s", res.StatusCode, wantStatus, body)
	}
	if ct := res.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q, want application/json", ct)
	}
	var e errorBody
	dec := json.NewDecoder(strings.NewReader(string(body)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&e); err != nil {
		t.Fatalf("decode error body %s: %v", body, err)
	}
	if e.RequestID == "" || e.RequestID != res.Header.Get("X-Request-Id") {
		t.Errorf("request_id %q, X-Request-Id %q: want the same, non-empty", e.RequestID, res.Header.Get("X-Request-Id"))
	}
	return e
}

// rawRequest writes a request as given on a new connection to addr and
// returns the response, for request-targets an http.Client would clean up.
func rawRequest(t testing.TB, addr, raw string) (*http.Response, []byte) {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(conn, raw); err != nil {
		t.Fatal(err)
	}
	res, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("read response to %q: %v", raw, err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	return res, body
}

// closedAddr returns a loopback address nobody listens on.
func closedAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

// eventually polls cond until it holds or the deadline passes.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// getSeen GETs url through the gateway and decodes what the upstream saw.
func getSeen(t testing.TB, url string) seen {
	t.Helper()
	res, body := get(t, url)
	return decodeSeen(t, res, body)
}

// doSeen sends req through the gateway and decodes what the upstream saw.
func doSeen(t testing.TB, req *http.Request) seen {
	t.Helper()
	res, body := do(t, req)
	return decodeSeen(t, res, body)
}

func decodeJSON(res *http.Response, v any) error {
	return json.NewDecoder(res.Body).Decode(v)
}
