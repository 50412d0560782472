package edge

import (
	"bufio"
	"context"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/gatehouse/gatehouse"
)

// StreamGuard ends long-lived exchanges (WebSocket upgrades and server-sent
// event streams) whose credential stops being valid while they run: the
// token, its grant or its client is revoked, or the token expires. A
// request is checked once, when it starts; a stream outlives that check,
// so the guard looks again every Interval and cancels the request's
// context, which makes ReverseProxy close both the client's and the
// upstream's side.
//
// Requests with an Upgrade header are watched from the start; any other
// authenticated request is watched once its response header shows a
// stream (text/event-stream, or no Content-Length), whatever the client
// asked for: the client chooses its request headers, so they cannot
// decide. A response of known length is not watched (it ends by itself).
type StreamGuard struct {
	// Refused reports whether claims must now be refused (revocation,
	// suspension). Expiry is checked by the guard.
	Refused func(*gatehouse.AccessClaims) bool
	// Now is the clock; time.Now when nil.
	Now func() time.Time
	// Interval between checks; a second when zero.
	Interval time.Duration

	mu   sync.Mutex
	live map[*stream]struct{}
}

type stream struct {
	claims *gatehouse.AccessClaims
	cancel context.CancelCauseFunc
}

// ErrCredentialEnded is the cause of a stream's cancellation.
var ErrCredentialEnded = errorString("the stream's credential was revoked or expired")

type errorString string

func (e errorString) Error() string { return string(e) }

// watch starts watching the exchange of r, served with ctx (r's context
// with what the checks added), for claims. It returns the writer and
// context to serve the request with, and the watch, whose end must be
// called when the handler returns. A request with an Upgrade header is
// watched from the start (ReverseProxy hijacks a WebSocket without writing
// a header). Any other request is watched once its response header shows
// a stream: Content-Type text/event-stream, no Content-Length (chunked or
// of unknown length), or a protocol switch. What the client asked for
// (Accept) does not matter: the upstream decides what it sends.
func (g *StreamGuard) watch(ctx context.Context, w http.ResponseWriter, r *http.Request, claims *gatehouse.AccessClaims) (http.ResponseWriter, context.Context, *streamWriter) {
	if g == nil {
		return w, ctx, nil
	}
	ctx, cancel := context.WithCancelCause(ctx)
	sw := &streamWriter{ResponseWriter: w, g: g, s: stream{claims: claims, cancel: cancel}}
	if r.Header.Get("Upgrade") != "" {
		sw.register()
		return w, ctx, sw
	}
	return sw, ctx, sw
}

// streamWriter is the ResponseWriter of a request that may turn out to be
// a stream: it registers the request with its guard when the response
// header is written and is a stream's.
type streamWriter struct {
	http.ResponseWriter
	g          *StreamGuard
	s          stream
	decided    bool
	registered bool
}

func (sw *streamWriter) register() {
	sw.decided, sw.registered = true, true
	sw.g.mu.Lock()
	if sw.g.live == nil {
		sw.g.live = map[*stream]struct{}{}
	}
	sw.g.live[&sw.s] = struct{}{}
	sw.g.mu.Unlock()
}

// end stops watching and releases the request's context.
func (sw *streamWriter) end() {
	if sw == nil {
		return
	}
	if sw.registered {
		sw.g.mu.Lock()
		delete(sw.g.live, &sw.s)
		sw.g.mu.Unlock()
	}
	sw.s.cancel(nil)
}

// decide registers the request if the response header about to be sent
// with code is a stream's.
func (sw *streamWriter) decide(code int) {
	if sw.decided || (code >= 100 && code < 200 && code != http.StatusSwitchingProtocols) {
		return // decided, or an informational header with more to come
	}
	sw.decided = true
	if code == http.StatusNoContent || code == http.StatusNotModified {
		return
	}
	h := sw.ResponseWriter.Header()
	if code == http.StatusSwitchingProtocols || h.Get("Content-Length") == "" || isEventStream(h.Get("Content-Type")) {
		sw.register()
	}
}

func isEventStream(ct string) bool {
	const es = "text/event-stream"
	ct = strings.TrimSpace(ct)
	return len(ct) >= len(es) && strings.EqualFold(ct[:len(es)], es)
}

func (sw *streamWriter) WriteHeader(code int) {
	sw.decide(code)
	sw.ResponseWriter.WriteHeader(code)
}

func (sw *streamWriter) Write(p []byte) (int, error) {
	sw.decide(http.StatusOK)
	return sw.ResponseWriter.Write(p)
}

// Flush sends what is buffered (and the header, with 200, if not yet
// written).
func (sw *streamWriter) Flush() {
	_ = sw.FlushError()
}

// FlushError is Flush with its error, as http.ResponseController uses it.
func (sw *streamWriter) FlushError() error {
	sw.decide(http.StatusOK)
	return http.NewResponseController(sw.ResponseWriter).Flush()
}

// Hijack hands over the connection; what is hijacked is watched.
func (sw *streamWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	if !sw.registered {
		sw.register()
	}
	return http.NewResponseController(sw.ResponseWriter).Hijack()
}

// Unwrap lets http.ResponseController reach the server's writer.
func (sw *streamWriter) Unwrap() http.ResponseWriter { return sw.ResponseWriter }

// SetRefusal passes the call log's note on (see refusalRecorder).
func (sw *streamWriter) SetRefusal(reason string) { noteRefusal(sw.ResponseWriter, reason) }

// SetClaims passes the call log's note on (see refusalRecorder).
func (sw *streamWriter) SetClaims(c *gatehouse.AccessClaims) { noteClaims(sw.ResponseWriter, c) }

// Len returns the number of streams being watched.
func (g *StreamGuard) Len() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return len(g.live)
}

// Sweep ends every watched stream whose credential is no longer valid and
// returns how many it ended.
func (g *StreamGuard) Sweep() int {
	now := time.Now()
	if g.Now != nil {
		now = g.Now()
	}
	g.mu.Lock()
	var ended []*stream
	for s := range g.live {
		if (!s.claims.ExpiresAt.IsZero() && !now.Before(s.claims.ExpiresAt)) || (g.Refused != nil && g.Refused(s.claims)) {
			ended = append(ended, s)
			delete(g.live, s)
		}
	}
	g.mu.Unlock()
	for _, s := range ended {
		s.cancel(ErrCredentialEnded)
	}
	return len(ended)
}

// Run sweeps every Interval until ctx ends.
func (g *StreamGuard) Run(ctx context.Context) {
	iv := g.Interval
	if iv <= 0 {
		iv = time.Second
	}
	t := time.NewTicker(iv)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			g.Sweep()
		}
	}
}
