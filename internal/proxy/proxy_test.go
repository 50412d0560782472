package proxy

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse"
)

// TestStreaming proves that streams are not buffered: the upstream sends
// its second event only after the client has read the first through the
// gateway, which a buffering proxy would never deliver. Server-sent events
// and a plain chunked response are both streams.
func TestStreaming(t *testing.T) {
	for _, contentType := range []string{"text/event-stream", "application/x-ndjson"} {
		t.Run(contentType, func(t *testing.T) {
			firstRead := make(chan struct{})
			up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", contentType)
				fmt.Fprint(w, "data: one\n\n")
				w.(http.Flusher).Flush()
				select {
				case <-firstRead:
				case <-time.After(10 * time.Second):
					return
				}
				fmt.Fprint(w, "data: two\n\n")
			}))
			defer up.Close()
			gw := serveGateway(t, &Gateway{}, apiTo("events", urls(up), route("/events")))

			res, err := http.Get(gw.URL + "/events")
			if err != nil {
				t.Fatal(err)
			}
			defer res.Body.Close()
			events := make(chan string)
			go func() {
				defer close(events)
				sc := bufio.NewScanner(res.Body)
				for sc.Scan() {
					if line := sc.Text(); line != "" {
						events <- line
					}
				}
			}()
			for i, want := range []string{"data: one", "data: two"} {
				select {
				case got := <-events:
					if got != want {
						t.Fatalf("event %d = %q, want %q", i, got, want)
					}
				case <-time.After(5 * time.Second):
					t.Fatalf("event %d did not arrive: the gateway buffers the stream", i)
				}
				if i == 0 {
					close(firstRead)
				}
			}
		})
	}
}

// TestWebSocketUpgrade passes an HTTP/1.1 Upgrade through the gateway to a
// raw echo server and talks over the upgraded connection.
func TestWebSocketUpgrade(t *testing.T) {
	var sawAuth atomic.Value
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sawAuth.Store(r.Header.Get("Authorization"))
		if !strings.EqualFold(r.Header.Get("Upgrade"), "websocket") {
			http.Error(w, "upgrade required", http.StatusUpgradeRequired)
			return
		}
		conn, brw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			return
		}
		defer conn.Close()
		fmt.Fprint(brw, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")
		brw.Flush()
		_, _ = io.Copy(conn, brw) // echo until the client closes
	}))
	defer up.Close()
	gw := serveGateway(t, &Gateway{}, apiTo("ws", urls(up), route("/ws")))

	conn, err := net.Dial("tcp", strings.TrimPrefix(gw.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	fmt.Fprint(conn, "GET /ws HTTP/1.1\r\nHost: example.com\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nAuthorization: Bearer secret\r\n\r\n")
	br := bufio.NewReader(conn)
	res, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.StatusCode != http.StatusSwitchingProtocols || !strings.EqualFold(res.Header.Get("Upgrade"), "websocket") {
		t.Fatalf("status %d, Upgrade %q", res.StatusCode, res.Header.Get("Upgrade"))
	}
	if res.Header.Get("X-Request-Id") == "" {
		t.Error("no X-Request-Id on the 101")
	}
	for _, msg := range []string{"hello", "again"} {
		if _, err := io.WriteString(conn, msg); err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, len(msg))
		if _, err := io.ReadFull(br, buf); err != nil {
			t.Fatal(err)
		}
		if string(buf) != msg {
			t.Errorf("echo %q, want %q", buf, msg)
		}
	}
	if got := sawAuth.Load(); got != "" {
		t.Errorf("the upstream got Authorization %q on the upgrade", got)
	}
}

func TestBodyLimit(t *testing.T) {
	var reached atomic.Int32
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		reached.Add(1)
		echoHandler("up")(w, r)
	}))
	defer up.Close()
	gw := serveGateway(t, &Gateway{MaxBodyBytes: 1024}, apiTo("api", urls(up), route("/x")))

	t.Run("WithinLimit", func(t *testing.T) {
		req, _ := http.NewRequest(http.MethodPost, gw.URL+"/x", strings.NewReader(strings.Repeat("a", 1024)))
		if s := doSeen(t, req); s.BodyLen != 1024 {
			t.Errorf("upstream got %d bytes", s.BodyLen)
		}
	})
	t.Run("ContentLengthTooLarge", func(t *testing.T) {
		before := reached.Load()
		req, _ := http.NewRequest(http.MethodPost, gw.URL+"/x", strings.NewReader(strings.Repeat("a", 1025)))
		res, body := do(t, req)
		if e := decodeError(t, res, body, http.StatusRequestEntityTooLarge); e.Error != "request_too_large" {
			t.Errorf("error %q", e.Error)
		}
		if reached.Load() != before {
			t.Error("the upstream was called for a body declared too large")
		}
	})
	t.Run("ChunkedTooLarge", func(t *testing.T) {
		// An io.Reader of unknown length makes the client send chunks.
		body := io.MultiReader(strings.NewReader(strings.Repeat("a", 4096)))
		req, _ := http.NewRequest(http.MethodPost, gw.URL+"/x", body)
		if req.ContentLength != 0 {
			t.Fatalf("ContentLength %d: the request is not chunked", req.ContentLength)
		}
		res, resBody := do(t, req)
		decodeError(t, res, resBody, http.StatusRequestEntityTooLarge)
		if !res.Close {
			t.Error("the connection was kept after a body over the limit")
		}
	})
	t.Run("ChunkedTooLargeBehindWrapper", func(t *testing.T) {
		// A writer wrapped by an outer layer (the call log's) must still
		// make the server close the connection: the rest of the body is
		// never read.
		g := &Gateway{MaxBodyBytes: 1024, Logger: quietLogger()}
		g.Load(mustCompile(t, apiTo("api", urls(up), route("/x"))))
		defer g.Close()
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			g.ServeHTTP(unwrapper{w}, r)
		}))
		defer srv.Close()
		req, _ := http.NewRequest(http.MethodPost, srv.URL+"/x", io.MultiReader(strings.NewReader(strings.Repeat("a", 4096))))
		res, resBody := do(t, req)
		decodeError(t, res, resBody, http.StatusRequestEntityTooLarge)
		if !res.Close {
			t.Error("the connection was kept after a body over the limit")
		}
	})
}

// unwrapper wraps a ResponseWriter the way middleware does, saying so with
// Unwrap.
type unwrapper struct{ http.ResponseWriter }

func (u unwrapper) Unwrap() http.ResponseWriter { return u.ResponseWriter }

// TestSnapshotSwapUnderLoad sends many concurrent requests while the table
// is swapped back and forth: none may fail, and each is served by the old
// or the new table.
func TestSnapshotSwapUnderLoad(t *testing.T) {
	a, b := echoUpstream(t, "a"), echoUpstream(t, "b")
	tableA := mustCompile(t, apiTo("api", urls(a), route("/x")))
	tableB := mustCompile(t, apiTo("api", urls(b), route("/x"), route("/only-b")))
	g := &Gateway{Logger: quietLogger()}
	g.Load(tableA)
	defer g.Close()
	gw := httptest.NewServer(g)
	defer gw.Close()

	stop := make(chan struct{})
	var swaps sync.WaitGroup
	swaps.Go(func() {
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			if i%2 == 0 {
				g.Load(tableB)
			} else {
				g.Load(tableA)
			}
			time.Sleep(100 * time.Microsecond)
		}
	})
	var clients sync.WaitGroup
	var served [2]atomic.Int32
	for range 8 {
		clients.Go(func() {
			for range 30 {
				res, err := http.Get(gw.URL + "/x")
				if err != nil {
					t.Error(err)
					return
				}
				var s seen
				err = decodeJSON(res, &s)
				res.Body.Close()
				switch {
				case err != nil || res.StatusCode != http.StatusOK:
					t.Errorf("status %d, err %v", res.StatusCode, err)
				case s.Name == "a":
					served[0].Add(1)
				case s.Name == "b":
					served[1].Add(1)
				default:
					t.Errorf("served by %q", s.Name)
				}
			}
		})
	}
	clients.Wait()
	close(stop)
	swaps.Wait()
	if served[0].Load() == 0 || served[1].Load() == 0 {
		t.Errorf("served a %d, b %d times: the swap did not take effect under load", served[0].Load(), served[1].Load())
	}
}

// TestInFlightKeepsTable checks that a request keeps the table it started
// with, even when the next table drops its API.
func TestInFlightKeepsTable(t *testing.T) {
	arrived, release := make(chan struct{}), make(chan struct{})
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(arrived)
		<-release
		fmt.Fprint(w, "old")
	}))
	defer slow.Close()
	other := echoUpstream(t, "new")
	g := &Gateway{Logger: quietLogger()}
	g.Load(mustCompile(t, apiTo("old", urls(slow), route("/x"))))
	defer g.Close()
	gw := httptest.NewServer(g)
	defer gw.Close()

	type result struct {
		status int
		body   string
	}
	done := make(chan result)
	go func() {
		res, err := http.Get(gw.URL + "/x")
		if err != nil {
			done <- result{}
			return
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		done <- result{res.StatusCode, string(b)}
	}()
	<-arrived
	g.Load(mustCompile(t, apiTo("new", urls(other), route("/y"))))
	if res, body := get(t, gw.URL+"/x"); res.StatusCode != http.StatusNotFound {
		t.Errorf("new request to the dropped route: status %d, body %s", res.StatusCode, body)
	}
	close(release)
	if got := <-done; got != (result{200, "old"}) {
		t.Errorf("in-flight request got %+v, want 200 old", got)
	}
}

// TestDeprecatedHeadersOnRefusals checks that a middleware refusal on a
// deprecated API still tells the client about the deprecation.
func TestDeprecatedHeadersOnRefusals(t *testing.T) {
	api := apiTo("api", []string{"http://" + closedAddr(t)}, route("/x"))
	api.Lifecycle = gatehouse.LifecycleDeprecated
	g := &Gateway{Middleware: []func(http.Handler) http.Handler{func(http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			WriteError(w, r, http.StatusUnauthorized, "invalid_token", "no")
		})
	}}}
	gw := serveGateway(t, g, api)
	res, body := get(t, gw.URL+"/x")
	decodeError(t, res, body, http.StatusUnauthorized)
	if res.Header.Get("Deprecation") != "@0" {
		t.Errorf("Deprecation %q", res.Header.Get("Deprecation"))
	}
}

// TestStalledBodyTimesOut: a client that stops sending its body does not
// hold the connection (and one to the upstream) forever.
func TestStalledBodyTimesOut(t *testing.T) {
	up := echoUpstream(t, "up")
	gw := serveGateway(t, &Gateway{BodyIdleTimeout: 200 * time.Millisecond}, apiTo("orders", urls(up), route("/v1/*", "POST")))
	conn, err := net.Dial("tcp", strings.TrimPrefix(gw.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	start := time.Now()
	if _, err := io.WriteString(conn, "POST /v1/x HTTP/1.1\r\nHost: example.com\r\nContent-Length: 100\r\n\r\nab"); err != nil {
		t.Fatal(err)
	}
	_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 4096)
	n, _ := conn.Read(buf) // an answer, or the connection closed
	if el := time.Since(start); el > 3*time.Second {
		t.Fatalf("stalled body held the connection for %v", el)
	}
	if n > 0 && !strings.HasPrefix(string(buf[:n]), "HTTP/1.1 408") {
		t.Errorf("a stalled body got %q, want 408 or a closed connection", buf[:n])
	}
}

// TestMalformedClientBody: a request body the client breaks (bad chunked
// encoding, or cut short) is the client's fault: 400, never the 502 that
// blames the upstream.
func TestMalformedClientBody(t *testing.T) {
	up := echoUpstream(t, "up")
	gw := serveGateway(t, &Gateway{}, apiTo("orders", urls(up), route("/v1/*", "POST")))
	for _, tc := range []struct{ name, raw string }{
		{"BadChunkSize", "POST /v1/x HTTP/1.1\r\nHost: example.com\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nabcd\r\nzz\r\nxx\r\n0\r\n\r\n"},
		{"MissingChunkCRLF", "POST /v1/x HTTP/1.1\r\nHost: example.com\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nabcdXX1\r\na\r\n0\r\n\r\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			conn, err := net.Dial("tcp", strings.TrimPrefix(gw.URL, "http://"))
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			if _, err := io.WriteString(conn, tc.raw); err != nil {
				t.Fatal(err)
			}
			_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
			res, err := http.ReadResponse(bufio.NewReader(conn), nil)
			if err != nil {
				t.Fatalf("no answer: %v", err)
			}
			body, _ := io.ReadAll(res.Body)
			if res.StatusCode != http.StatusBadRequest {
				t.Errorf("status %d (%s), want 400", res.StatusCode, body)
			}
		})
	}
}

// TestResponsePassesUnchanged: the gateway neither asks the upstream for a
// compression the client did not ask for (and unzips it), nor adds a
// Content-Type the upstream did not send; what the client asks for and what
// the upstream answers pass through as they are.
func TestResponsePassesUnchanged(t *testing.T) {
	gz := []byte("\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff") // a gzip header: proof the body was not touched
	var sawEncoding atomic.Value
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sawEncoding.Store(r.Header.Get("Accept-Encoding"))
		switch r.URL.Path {
		case "/gzip":
			if r.Header.Get("Accept-Encoding") == "gzip" {
				w.Header().Set("Content-Encoding", "gzip")
				w.Header().Set("Content-Type", "text/plain")
				_, _ = w.Write(gz)
				return
			}
			_, _ = io.WriteString(w, "identity")
		case "/untyped":
			w.Header()["Content-Type"] = nil // no sniffing here either
			_, _ = io.WriteString(w, "<html><body>not declared</body></html>")
		}
	}))
	defer up.Close()
	g := &Gateway{Logger: quietLogger()}
	g.Load(mustCompile(t, apiTo("a", urls(up), route("/*"))))
	defer g.Close()
	gw := httptest.NewServer(g)
	defer gw.Close()
	// A client that sends Accept-Encoding only when told to, and never unzips.
	cl := &http.Client{Transport: &http.Transport{DisableCompression: true}}
	defer cl.CloseIdleConnections()
	fetch := func(path, acceptEncoding string) (*http.Response, []byte) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, gw.URL+path, nil)
		if acceptEncoding != "" {
			req.Header.Set("Accept-Encoding", acceptEncoding)
		}
		res, err := cl.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		body, err := io.ReadAll(res.Body)
		if err != nil {
			t.Fatal(err)
		}
		return res, body
	}

	t.Run("NoAcceptEncoding", func(t *testing.T) {
		res, body := fetch("/gzip", "")
		if got := sawEncoding.Load(); got != "" {
			t.Errorf("upstream saw Accept-Encoding %q; the client sent none", got)
		}
		if string(body) != "identity" || res.Header.Get("Content-Encoding") != "" {
			t.Errorf("got %q with Content-Encoding %q, want the identity body", body, res.Header.Get("Content-Encoding"))
		}
	})
	t.Run("GzipPassesThrough", func(t *testing.T) {
		res, body := fetch("/gzip", "gzip")
		if got := sawEncoding.Load(); got != "gzip" {
			t.Errorf("upstream saw Accept-Encoding %q, want gzip", got)
		}
		if string(body) != string(gz) || res.Header.Get("Content-Encoding") != "gzip" {
			t.Errorf("got %q with Content-Encoding %q, want the upstream's gzip bytes as sent", body, res.Header.Get("Content-Encoding"))
		}
	})
	t.Run("NoContentTypeAdded", func(t *testing.T) {
		res, body := fetch("/untyped", "")
		if !strings.HasPrefix(string(body), "<html>") {
			t.Fatalf("body %q", body)
		}
		if v, ok := res.Header["Content-Type"]; ok {
			t.Errorf("Content-Type %q added to a response the upstream sent without one", v)
		}
	})
}

// TestHeadersSurviveInterimResponse: ReverseProxy sends the response
// header with every 1xx and then clears it; the final response must still
// carry what the gateway and its middleware set, and no guessed type.
func TestHeadersSurviveInterimResponse(t *testing.T) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Link", "</style.css>; rel=preload; as=style")
		w.WriteHeader(http.StatusEarlyHints)
		w.Header()["Content-Type"] = nil
		_, _ = io.WriteString(w, "<html><body>after early hints</body></html>")
	}))
	defer up.Close()
	for _, extra := range []int{0, 12} { // 12: more headers than the info keeps inline
		t.Run(fmt.Sprintf("Extra%d", extra), func(t *testing.T) {
			g := &Gateway{Logger: quietLogger(), Middleware: []func(http.Handler) http.Handler{
				func(next http.Handler) http.Handler {
					return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
						w.Header().Set("Ratelimit", `"client";r=9;t=1`)
						for i := range extra {
							w.Header().Set(fmt.Sprintf("X-Extra-%d", i), "v")
						}
						next.ServeHTTP(w, r)
					})
				},
			}}
			g.Load(mustCompile(t, apiTo("a", urls(up), route("/x"))))
			defer g.Close()
			gw := httptest.NewServer(g)
			defer gw.Close()
			res, body := get(t, gw.URL+"/x")
			if res.StatusCode != http.StatusOK || !strings.HasPrefix(string(body), "<html>") {
				t.Fatalf("status %d, body %q", res.StatusCode, body)
			}
			if res.Header.Get("X-Request-Id") == "" {
				t.Error("no X-Request-Id on the final response")
			}
			if got := res.Header.Get("Ratelimit"); got != `"client";r=9;t=1` {
				t.Errorf("Ratelimit = %q, want the middleware's", got)
			}
			if extra > 0 && res.Header.Get(fmt.Sprintf("X-Extra-%d", extra-1)) != "v" {
				t.Error("a middleware header was lost")
			}
			if v, ok := res.Header["Content-Type"]; ok {
				t.Errorf("Content-Type %q guessed", v)
			}
		})
	}
}

// TestUnknownForwardingRefused: a forwarding set the gateway does not know
// is an error, not the default (which would send client addresses).
func TestUnknownForwardingRefused(t *testing.T) {
	api := apiTo("a", []string{"http://127.0.0.1:9"}, route("/x"))
	api.UpstreamPolicy.Forwarding = "None"
	if _, err := Compile([]gatehouse.API{api}); err == nil || !strings.Contains(err.Error(), "forwarding") {
		t.Fatalf("Compile = %v, want an unknown forwarding error", err)
	}
}
