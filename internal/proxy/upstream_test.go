package proxy

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse"
	"github.com/google/go-cmp/cmp"
)

func TestRoundRobin(t *testing.T) {
	a, b, c := echoUpstream(t, "a"), echoUpstream(t, "b"), echoUpstream(t, "c")
	gw := serveGateway(t, &Gateway{}, apiTo("api", urls(a, b, c), route("/x")))
	counts := map[string]int{}
	for range 30 {
		counts[getSeen(t, gw.URL+"/x").Name]++
	}
	if diff := cmp.Diff(map[string]int{"a": 10, "b": 10, "c": 10}, counts); diff != "" {
		t.Errorf("distribution (-want +got):\n%s", diff)
	}
}

// TestLeastConn holds one request open on a target, then checks that every
// following request goes to the idle target. Round robin would split them.
func TestLeastConn(t *testing.T) {
	release := make(chan struct{})
	var held atomic.Int32
	holding := func(name string) *httptest.Server {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/hold" {
				held.Add(1)
				<-release
			}
			echoHandler(name)(w, r)
		}))
		t.Cleanup(srv.Close)
		return srv
	}
	a, b := holding("a"), holding("b")
	api := apiTo("api", urls(a, b), route("/*"))
	api.UpstreamPolicy.Balance = gatehouse.BalanceLeastConn
	gw := serveGateway(t, &Gateway{}, api)

	done := make(chan seen)
	go func() {
		res, err := http.Get(gw.URL + "/hold")
		if err != nil {
			t.Error(err)
			close(done)
			return
		}
		defer res.Body.Close()
		var s seen
		_ = decodeJSON(res, &s)
		done <- s
	}()
	eventually(t, "the held request to arrive", func() bool { return held.Load() == 1 })

	counts := map[string]int{}
	for range 10 {
		counts[getSeen(t, gw.URL+"/quick").Name]++
	}
	close(release)
	heldBy := (<-done).Name
	idle := map[string]string{"a": "b", "b": "a"}[heldBy]
	if diff := cmp.Diff(map[string]int{idle: 10}, counts); diff != "" {
		t.Errorf("with %s busy, distribution (-want +got):\n%s", heldBy, diff)
	}
}

func TestRetry(t *testing.T) {
	live := echoUpstream(t, "live")
	var liveBodies atomic.Int32
	counting := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		liveBodies.Add(1)
		echoHandler("live")(w, r)
	}))
	defer counting.Close()
	dead := "http://" + closedAddr(t)

	t.Run("IdempotentRetriedOnAnotherTarget", func(t *testing.T) {
		gw := serveGateway(t, &Gateway{}, apiTo("api", []string{dead, live.URL}, route("/x")))
		for _, method := range []string{"GET", "HEAD", "OPTIONS", "PUT", "DELETE"} {
			for range 4 { // round robin starts on the dead target every other time
				req, _ := http.NewRequest(method, gw.URL+"/x", nil)
				res, body := do(t, req)
				if res.StatusCode != http.StatusOK {
					t.Fatalf("%s: status %d, body %s", method, res.StatusCode, body)
				}
			}
		}
	})
	t.Run("NeverPOST", func(t *testing.T) {
		gw := serveGateway(t, &Gateway{}, apiTo("api", []string{dead, counting.URL}, route("/x")))
		statuses := map[int]int{}
		for range 10 {
			req, _ := http.NewRequest(http.MethodPost, gw.URL+"/x", strings.NewReader("{}"))
			res, body := do(t, req)
			statuses[res.StatusCode]++
			if res.StatusCode == http.StatusBadGateway {
				if e := decodeError(t, res, body, http.StatusBadGateway); strings.Contains(e.Message, "refused") {
					t.Errorf("the error leaks the cause: %q", e.Message)
				}
			}
		}
		if diff := cmp.Diff(map[int]int{200: 5, 502: 5}, statuses); diff != "" {
			t.Errorf("statuses (-want +got):\n%s", diff)
		}
		if got := liveBodies.Load(); got != 5 {
			t.Errorf("live target got %d POSTs, want 5", got)
		}
	})
	t.Run("PUTWithBodyNotRetried", func(t *testing.T) {
		gw := serveGateway(t, &Gateway{}, apiTo("api", []string{dead, live.URL}, route("/x")))
		failed := 0
		for range 4 {
			req, _ := http.NewRequest(http.MethodPut, gw.URL+"/x", strings.NewReader("body"))
			if res, _ := do(t, req); res.StatusCode == http.StatusBadGateway {
				failed++
			}
		}
		if failed != 2 {
			t.Errorf("%d of 4 PUTs with a body failed, want 2: a body that cannot be replayed is not retried", failed)
		}
	})
	t.Run("RetriesDisabled", func(t *testing.T) {
		api := apiTo("api", []string{dead, live.URL}, route("/x"))
		api.UpstreamPolicy.Retries = -1
		gw := serveGateway(t, &Gateway{}, api)
		failed := 0
		for range 4 {
			if res, _ := get(t, gw.URL+"/x"); res.StatusCode == http.StatusBadGateway {
				failed++
			}
		}
		if failed != 2 {
			t.Errorf("%d of 4 GETs failed with retries off, want 2", failed)
		}
	})
	t.Run("AllDead", func(t *testing.T) {
		gw := serveGateway(t, &Gateway{}, apiTo("api", []string{dead, "http://" + closedAddr(t)}, route("/x")))
		res, body := get(t, gw.URL+"/x")
		if e := decodeError(t, res, body, http.StatusBadGateway); e.Error != "bad_gateway" {
			t.Errorf("error %q", e.Error)
		}
	})
}

func TestHealthChecks(t *testing.T) {
	var aDown, bDown atomic.Bool
	withHealth := func(name string, down *atomic.Bool) *httptest.Server {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/base/healthz" {
				if down.Load() {
					w.WriteHeader(http.StatusServiceUnavailable)
				}
				return
			}
			echoHandler(name)(w, r)
		}))
		t.Cleanup(srv.Close)
		return srv
	}
	a, b := withHealth("a", &aDown), withHealth("b", &bDown)
	api := apiTo("api", []string{a.URL + "/base", b.URL + "/base"}, route("/x"))
	api.UpstreamPolicy.HealthPath = "/healthz"
	api.UpstreamPolicy.HealthInterval = 10 * time.Millisecond
	g := &Gateway{}
	gw := serveGateway(t, g, api)
	healthy := func() map[string]bool {
		out := map[string]bool{}
		for _, s := range g.Targets() {
			out[strings.TrimSuffix(s.Target, "/base")] = s.Healthy
		}
		return out
	}
	servedBy := func() map[string]int {
		counts := map[string]int{}
		for range 6 {
			counts[getSeen(t, gw.URL+"/x").Name]++
		}
		return counts
	}
	eventually(t, "a first probe", func() bool {
		ts := g.Targets()
		return !ts[0].CheckedAt.IsZero() && !ts[1].CheckedAt.IsZero()
	})

	aDown.Store(true)
	eventually(t, "a to leave the rotation", func() bool { return !healthy()[a.URL] })
	if diff := cmp.Diff(map[string]int{"b": 6}, servedBy()); diff != "" {
		t.Errorf("with a down (-want +got):\n%s", diff)
	}

	bDown.Store(true)
	eventually(t, "b to leave the rotation", func() bool { return !healthy()[b.URL] })
	res, body := get(t, gw.URL+"/x")
	if e := decodeError(t, res, body, http.StatusBadGateway); e.Message != "no upstream is available" {
		t.Errorf("message %q", e.Message)
	}

	aDown.Store(false)
	bDown.Store(false)
	eventually(t, "both to return", func() bool { h := healthy(); return h[a.URL] && h[b.URL] })
	if diff := cmp.Diff(map[string]int{"a": 3, "b": 3}, servedBy()); diff != "" {
		t.Errorf("after recovery (-want +got):\n%s", diff)
	}
}

// TestHealthCheckOwnership checks that Load stops the checks of upstreams it
// drops, keeps those it keeps, and that Close stops the rest.
func TestHealthCheckOwnership(t *testing.T) {
	var mu sync.Mutex
	probes := map[string]int{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		probes[r.URL.Path]++
		mu.Unlock()
	}))
	defer srv.Close()
	count := func(p string) int { mu.Lock(); defer mu.Unlock(); return probes[p] }
	api := func(name string) gatehouse.API {
		a := apiTo(name, urls(srv), route("/"+name))
		a.UpstreamPolicy.HealthPath = "/" + name
		a.UpstreamPolicy.HealthInterval = 5 * time.Millisecond
		return a
	}
	g := &Gateway{Logger: quietLogger()}
	g.Load(mustCompile(t, api("one"), api("two")))
	eventually(t, "probes of both", func() bool { return count("/one") > 2 && count("/two") > 2 })
	before := g.snap.Load().pools[0]

	g.Load(mustCompile(t, api("one")))
	if after := g.snap.Load().pools[0]; after != before {
		t.Error("an unchanged upstream got a new pool on reload")
	}
	time.Sleep(10 * time.Millisecond) // a probe sent before Load may still be arriving
	n := count("/two")
	time.Sleep(30 * time.Millisecond)
	if got := count("/two"); got != n {
		t.Errorf("the dropped upstream was probed %d more times", got-n)
	}

	g.Close()
	time.Sleep(10 * time.Millisecond)
	n = count("/one")
	time.Sleep(30 * time.Millisecond)
	if got := count("/one"); got != n {
		t.Errorf("probes went on after Close: %d more", got-n)
	}
}

func TestUpstreamTimeout(t *testing.T) {
	release := make(chan struct{})
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		<-release
	}))
	defer slow.Close()
	defer close(release)
	api := apiTo("api", urls(slow), route("/x"))
	api.UpstreamPolicy.ReadTimeout = 50 * time.Millisecond
	gw := serveGateway(t, &Gateway{}, api)
	res, body := get(t, gw.URL+"/x")
	e := decodeError(t, res, body, http.StatusGatewayTimeout)
	if diff := cmp.Diff(errorBody{"gateway_timeout", "the upstream did not answer in time", e.RequestID}, e); diff != "" {
		t.Errorf("body (-want +got):\n%s", diff)
	}
}

// TestActiveReturnsToZero checks the per-target count of requests in flight
// (least_conn's measure, shown by Targets) after every way an exchange can
// end: a whole answer, an answer cut off mid-body (ReverseProxy aborts the
// handler with a panic), an upstream error answer, and a connection failure
// retried on the other target.
func TestActiveReturnsToZero(t *testing.T) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/cut":
			// Promise 1000 bytes, send 10, drop the connection.
			w.Header().Set("Content-Length", "1000")
			w.WriteHeader(http.StatusOK)
			_, _ = w.Write([]byte("0123456789"))
			w.(http.Flusher).Flush()
			conn, _, err := http.NewResponseController(w).Hijack()
			if err == nil {
				conn.Close()
			}
		case "/fail":
			w.WriteHeader(http.StatusInternalServerError)
		default:
			echoHandler("up")(w, r)
		}
	}))
	t.Cleanup(up.Close)
	dead := httptest.NewServer(http.NotFoundHandler())
	deadURL := dead.URL
	dead.Close() // connections to it are refused
	api := apiTo("api", []string{deadURL, up.URL}, route("/*"))
	api.UpstreamPolicy.Balance = gatehouse.BalanceLeastConn
	api.UpstreamPolicy.Retries = 1
	g := &Gateway{}
	gw := serveGateway(t, g, api)

	for _, path := range []string{"/ok", "/cut", "/fail", "/ok", "/ok"} {
		res, err := http.Get(gw.URL + path)
		if err == nil {
			_, _ = io.Copy(io.Discard, res.Body)
			res.Body.Close()
		}
	}
	// The handler of a cut exchange may finish just after the client saw
	// the connection drop.
	deadline := time.Now().Add(5 * time.Second)
	for {
		var active []int64
		busy := false
		for _, st := range g.Targets() {
			active = append(active, st.Active)
			busy = busy || st.Active != 0
		}
		if len(active) != 2 {
			t.Fatalf("targets: %v", g.Targets())
		}
		if !busy {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("requests in flight after every exchange ended: %v", active)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
