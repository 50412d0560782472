package edge

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse"
)

// closeCounter is a response body that notes being closed.
type closeCounter struct {
	io.Reader
	closed atomic.Int32
}

func (c *closeCounter) Close() error { c.closed.Add(1); return nil }

func TestStreamGuard(t *testing.T) {
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	now := start
	revoked := map[string]bool{}
	g := &StreamGuard{Refused: func(c *gatehouse.AccessClaims) bool { return revoked[c.ID] }, Now: func() time.Time { return now }}
	exp := now.Add(time.Minute)
	type resp struct {
		status int
		length int64
		ctype  string
	}
	json := resp{200, 2, "application/json"}
	sse := resp{200, 12, "Text/Event-Stream; charset=utf-8"} // a stream even with a length
	chunked := resp{200, -1, "text/plain"}
	for _, tc := range []struct {
		name    string
		method  string
		hdr     map[string]string
		resp    resp
		claims  *gatehouse.AccessClaims
		revoke  bool
		advance time.Duration
		watched bool
		ended   bool
	}{
		{"JSONResponseNotWatched", "GET", nil, json, &gatehouse.AccessClaims{ID: "a", ExpiresAt: exp}, true, 0, false, false},
		{"JSONNotWatchedEvenIfAsked", "GET", map[string]string{"Accept": "text/event-stream"}, json, &gatehouse.AccessClaims{ID: "a2", ExpiresAt: exp}, true, 0, false, false},
		{"NoContentNotWatched", "GET", nil, resp{204, -1, ""}, &gatehouse.AccessClaims{ID: "a3", ExpiresAt: exp}, true, 0, false, false},
		{"HEADNotWatched", "HEAD", nil, chunked, &gatehouse.AccessClaims{ID: "a4", ExpiresAt: exp}, true, 0, false, false},
		{"PublicRouteNotWatched", "GET", nil, chunked, nil, false, 0, false, false},
		{"EventStreamUnannouncedRevoked", "GET", map[string]string{"Accept": "text/html"}, sse, &gatehouse.AccessClaims{ID: "b", ExpiresAt: exp}, true, 0, true, true},
		{"ChunkedRevoked", "GET", nil, chunked, &gatehouse.AccessClaims{ID: "b2", ExpiresAt: exp}, true, 0, true, true},
		{"ChunkedStillValid", "GET", nil, chunked, &gatehouse.AccessClaims{ID: "b3", ExpiresAt: exp}, false, 30 * time.Second, true, false},
		{"LargeDownloadRevoked", "GET", nil, resp{200, 1<<20 + 1, "application/octet-stream"}, &gatehouse.AccessClaims{ID: "b4", ExpiresAt: exp}, true, 0, true, true},
		{"MiBDownloadNotWatched", "GET", nil, resp{200, 1 << 20, "application/octet-stream"}, &gatehouse.AccessClaims{ID: "b5", ExpiresAt: exp}, true, 0, false, false},
		{"WebSocketExpired", "GET", map[string]string{"Upgrade": "websocket"}, resp{101, 0, ""}, &gatehouse.AccessClaims{ID: "c", ExpiresAt: exp}, false, time.Minute, true, true},
		{"WebSocketStillValid", "GET", map[string]string{"Upgrade": "websocket"}, resp{101, 0, ""}, &gatehouse.AccessClaims{ID: "d", ExpiresAt: exp}, false, 30 * time.Second, true, false},
		{"APIKeyWithoutExpiry", "GET", map[string]string{"Upgrade": "websocket"}, resp{101, 0, ""}, &gatehouse.AccessClaims{ID: "e"}, false, 1000 * time.Hour, true, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			now = start
			r := httptest.NewRequest(tc.method, "/x", nil)
			for k, v := range tc.hdr {
				r.Header.Set(k, v)
			}
			if tc.claims != nil {
				r = r.WithContext(context.WithValue(r.Context(), ctxKey{}, tc.claims))
			}
			body := &closeCounter{Reader: strings.NewReader("data")}
			res := &http.Response{StatusCode: tc.resp.status, ContentLength: tc.resp.length, Header: http.Header{}, Body: body, Request: r}
			if tc.resp.ctype != "" {
				res.Header.Set("Content-Type", tc.resp.ctype)
			}
			before := g.Len()
			end := g.Watch(res)
			if got := g.Len() - before; (got == 1) != tc.watched || (end != nil) != tc.watched {
				t.Fatalf("watched %v (end %v), want %v", got == 1, end != nil, tc.watched)
			}
			if tc.claims != nil {
				revoked[tc.claims.ID] = tc.revoke
			}
			now = now.Add(tc.advance)
			if n := g.Sweep(); (n == 1) != tc.ended {
				t.Fatalf("swept %d streams, want ended %v", n, tc.ended)
			}
			// The guard closes bodies on goroutines of their own.
			for deadline := time.Now().Add(2 * time.Second); tc.ended && body.closed.Load() == 0 && time.Now().Before(deadline); {
				time.Sleep(time.Millisecond)
			}
			if ended := body.closed.Load() > 0; ended != tc.ended {
				t.Fatalf("ended %v, want %v", ended, tc.ended)
			}
			if end != nil {
				end()
			}
			if g.Len() != before {
				t.Errorf("%d streams left after the handler returned", g.Len()-before)
			}
		})
	}
	if g.Len() != 0 {
		t.Errorf("%d streams left after they ended", g.Len())
	}
}

// TestStreamGuardEndsSilentStream closes a real net/http response body
// while it is being read and the upstream sends nothing: the read must end
// at once, since a revoked stream must not wait for the upstream's next
// event to be cut.
func TestStreamGuardEndsSilentStream(t *testing.T) {
	release := make(chan struct{})
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		_, _ = io.WriteString(w, "data: first\n\n")
		w.(http.Flusher).Flush()
		select { // then silence
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer up.Close()
	defer close(release)

	var revoked atomic.Bool
	g := &StreamGuard{Refused: func(*gatehouse.AccessClaims) bool { return revoked.Load() }}
	claims := &gatehouse.AccessClaims{ID: "s", ExpiresAt: time.Now().Add(time.Hour)}
	req, _ := http.NewRequestWithContext(context.WithValue(t.Context(), ctxKey{}, claims), "GET", up.URL, nil)
	res, err := up.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	end := g.Watch(res)
	if end == nil {
		t.Fatal("an event stream was not watched")
	}
	defer end()
	buf := make([]byte, 64)
	if n, err := res.Body.Read(buf); err != nil || !strings.Contains(string(buf[:n]), "first") {
		t.Fatalf("first event: %q %v", buf[:n], err)
	}
	readErr := make(chan error, 1)
	go func() {
		_, err := res.Body.Read(buf) // blocks: the upstream is silent
		readErr <- err
	}()
	revoked.Store(true)
	if n := g.Sweep(); n != 1 {
		t.Fatalf("swept %d streams, want 1", n)
	}
	select {
	case err := <-readErr:
		if err == nil {
			t.Error("the read of an ended stream succeeded")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("closing the body did not end the pending read")
	}
}

// blockingBody is a body whose Close waits until released, as closing an
// HTTP/2 response body can wait for a slow client's request body.
type blockingBody struct {
	io.Reader
	release chan struct{}
}

func (b *blockingBody) Close() error { <-b.release; return nil }

// TestSweepNeverBlocks: one stream whose body is slow to close must not
// hold up the sweep, nor the ending of the other streams.
func TestSweepNeverBlocks(t *testing.T) {
	g := &StreamGuard{Refused: func(*gatehouse.AccessClaims) bool { return true }}
	stream := func(id string, body io.ReadCloser) func() {
		r := httptest.NewRequest("GET", "/x", nil)
		r = r.WithContext(context.WithValue(r.Context(), ctxKey{}, &gatehouse.AccessClaims{ID: id}))
		return g.Watch(&http.Response{StatusCode: 200, ContentLength: -1, Header: http.Header{}, Body: body, Request: r})
	}
	slow := &blockingBody{Reader: strings.NewReader(""), release: make(chan struct{})}
	defer close(slow.release)
	fast := &closeCounter{Reader: strings.NewReader("")}
	defer stream("slow", slow)()
	defer stream("fast", fast)()
	swept := make(chan int, 1)
	go func() { swept <- g.Sweep() }()
	select {
	case n := <-swept:
		if n != 2 {
			t.Fatalf("swept %d streams, want 2", n)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("Sweep blocked on a body slow to close")
	}
	for deadline := time.Now().Add(2 * time.Second); fast.closed.Load() == 0; {
		if time.Now().After(deadline) {
			t.Fatal("the other stream was not ended")
		}
		time.Sleep(time.Millisecond)
	}
}
