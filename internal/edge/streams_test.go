package edge

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse"
)

func TestStreamGuard(t *testing.T) {
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	now := start
	revoked := map[string]bool{}
	g := &StreamGuard{Refused: func(c *gatehouse.AccessClaims) bool { return revoked[c.ID] }, Now: func() time.Time { return now }}
	json := func(w http.ResponseWriter) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Content-Length", "2")
		w.WriteHeader(200)
	}
	sse := func(w http.ResponseWriter) {
		w.Header().Set("Content-Type", "Text/Event-Stream; charset=utf-8")
		w.Header().Set("Content-Length", "12") // a stream even so
		w.WriteHeader(200)
	}
	chunked := func(w http.ResponseWriter) { io.WriteString(w, "part") } // implicit 200, no length
	flushed := func(w http.ResponseWriter) {
		if err := http.NewResponseController(w).Flush(); err != nil {
			t.Errorf("flush through the watch: %v", err)
		}
	}
	informational := func(w http.ResponseWriter) { w.Header().Set("Link", "</a>"); w.WriteHeader(103) }
	noContent := func(w http.ResponseWriter) { w.WriteHeader(204) }
	nothing := func(http.ResponseWriter) {}
	exp := now.Add(time.Minute)
	for _, tc := range []struct {
		name    string
		hdr     map[string]string
		respond func(http.ResponseWriter)
		claims  gatehouse.AccessClaims
		revoke  bool
		advance time.Duration
		watched bool
		ended   bool
	}{
		{"JSONResponseNotWatched", nil, json, gatehouse.AccessClaims{ID: "a", ExpiresAt: exp}, true, 0, false, false},
		{"JSONNotWatchedEvenIfAsked", map[string]string{"Accept": "text/event-stream"}, json, gatehouse.AccessClaims{ID: "a2", ExpiresAt: exp}, true, 0, false, false},
		{"NoContentNotWatched", nil, noContent, gatehouse.AccessClaims{ID: "a3", ExpiresAt: exp}, true, 0, false, false},
		{"InformationalNotYetWatched", nil, informational, gatehouse.AccessClaims{ID: "a4", ExpiresAt: exp}, true, 0, false, false},
		{"EventStreamUnannouncedRevoked", map[string]string{"Accept": "text/html"}, sse, gatehouse.AccessClaims{ID: "b", ExpiresAt: exp}, true, 0, true, true},
		{"ChunkedRevoked", nil, chunked, gatehouse.AccessClaims{ID: "b2", ExpiresAt: exp}, true, 0, true, true},
		{"FlushedRevoked", nil, flushed, gatehouse.AccessClaims{ID: "b3", ExpiresAt: exp}, true, 0, true, true},
		{"WebSocketExpired", map[string]string{"Upgrade": "websocket"}, nothing, gatehouse.AccessClaims{ID: "c", ExpiresAt: exp}, false, time.Minute, true, true},
		{"WebSocketStillValid", map[string]string{"Upgrade": "websocket"}, nothing, gatehouse.AccessClaims{ID: "d", ExpiresAt: exp}, false, 30 * time.Second, true, false},
		{"APIKeyWithoutExpiry", map[string]string{"Upgrade": "websocket"}, nothing, gatehouse.AccessClaims{ID: "e"}, false, 1000 * time.Hour, true, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			now = start
			r := httptest.NewRequest("GET", "/x", nil)
			for k, v := range tc.hdr {
				r.Header.Set(k, v)
			}
			claims := tc.claims
			before := g.Len()
			rec := httptest.NewRecorder()
			w, ctx, sw := g.watch(r.Context(), rec, r, &claims)
			tc.respond(w)
			if got := g.Len() - before; (got == 1) != tc.watched {
				t.Fatalf("watched %v, want %v", got == 1, tc.watched)
			}
			revoked[claims.ID] = tc.revoke
			now = now.Add(tc.advance)
			g.Sweep()
			err := ctx.Err()
			if (err != nil) != tc.ended {
				t.Fatalf("ended %v, want %v", err != nil, tc.ended)
			}
			if tc.ended && !errors.Is(context.Cause(ctx), ErrCredentialEnded) {
				t.Errorf("cause %v", context.Cause(ctx))
			}
			sw.end()
			if g.Len() != before {
				t.Errorf("%d streams left after the handler returned", g.Len()-before)
			}
			if ctx.Err() == nil {
				t.Error("context not released when the handler returned")
			}
		})
	}
	if g.Len() != 0 {
		t.Errorf("%d streams left after they ended", g.Len())
	}
}

// The watch's writer keeps what the call log and the proxy need of the
// writer under it: flushing, unwrapping, and the refusal notes.
func TestStreamWriterPassesThrough(t *testing.T) {
	g := &StreamGuard{}
	r := httptest.NewRequest("GET", "/x", nil)
	rec := httptest.NewRecorder()
	note := &noteRecorder{ResponseWriter: rec}
	w, _, sw := g.watch(r.Context(), note, r, &gatehouse.AccessClaims{ID: "x"})
	defer sw.end()
	if u, ok := w.(interface{ Unwrap() http.ResponseWriter }); !ok || u.Unwrap() != note {
		t.Fatal("the watch's writer does not unwrap to the server's")
	}
	noteRefusal(w, "rate_limited")
	noteClaims(w, &gatehouse.AccessClaims{ID: "x"})
	if note.reason != "rate_limited" || note.claims == nil {
		t.Errorf("notes not passed on: %q %v", note.reason, note.claims)
	}
	w.(http.Flusher).Flush()
	if !rec.Flushed || rec.Code != 200 || g.Len() != 1 {
		t.Errorf("flushed %v code %d watched %d", rec.Flushed, rec.Code, g.Len())
	}
}

type noteRecorder struct {
	http.ResponseWriter
	reason string
	claims *gatehouse.AccessClaims
}

func (n *noteRecorder) SetRefusal(r string)                 { n.reason = r }
func (n *noteRecorder) SetClaims(c *gatehouse.AccessClaims) { n.claims = c }
func (n *noteRecorder) Flush()                              { n.ResponseWriter.(http.Flusher).Flush() }
