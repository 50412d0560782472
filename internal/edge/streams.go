package edge

import (
	"context"
	"io"
	"log/slog"
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
// so the guard looks again every Interval and closes the upstream
// response's body, which makes ReverseProxy abort the exchange and close
// both the client's and the upstream's connection, even when the upstream
// is silent at that moment.
//
// Watch decides from the upstream's response, never from what the client
// asked for (the client chooses its request headers): a protocol switch
// (101), an event stream (text/event-stream), a body of unknown length or
// one over 1 MiB is watched; a short response of known length is not (it
// ends soon by itself). Only
// requests with a verified credential are watched. Requests that are not
// streams cost the guard nothing: no context, no wrapper.
type StreamGuard struct {
	// Info, when set, returns what the router matched, with the claims
	// Checks.SetClaims recorded; without it, or for a request it does not
	// know, the claims are looked for in the request context (ClaimsFrom).
	Info func(r *http.Request) (RequestInfo, bool)
	// Refused reports whether claims must now be refused (revocation,
	// suspension). Expiry is checked by the guard.
	Refused func(*gatehouse.AccessClaims) bool
	// Now is the clock; time.Now when nil.
	Now func() time.Time
	// Interval between checks; a second when zero.
	Interval time.Duration
	// Log, when set, notes each stream the guard ends (ReverseProxy then
	// logs the broken copy as a warning of its own).
	Log *slog.Logger

	mu   sync.Mutex
	live map[*stream]struct{}
}

type stream struct {
	claims *gatehouse.AccessClaims
	body   io.Closer // the upstream response's body, closed to end the exchange
	g      *StreamGuard
}

// Watch is the gateway's proxy.Gateway.WatchResponse: it starts watching
// res when it is a stream of a request with verified claims, and returns
// the function that stops watching (nil when it does not watch).
func (g *StreamGuard) Watch(res *http.Response) (end func()) {
	if g == nil || res.Request == nil {
		return nil
	}
	// The response first: most are not streams, and it costs less to look
	// at than the request's claims.
	if !isStream(res) {
		return nil
	}
	var claims *gatehouse.AccessClaims
	if g.Info != nil {
		if info, ok := g.Info(res.Request); ok {
			claims = info.Claims
		}
	}
	if claims == nil {
		claims = ClaimsFrom(res.Request.Context())
	}
	if claims == nil {
		return nil
	}
	s := &stream{claims: claims, body: res.Body, g: g}
	g.mu.Lock()
	if g.live == nil {
		g.live = map[*stream]struct{}{}
	}
	g.live[s] = struct{}{}
	g.mu.Unlock()
	return s.end
}

// end stops watching s.
func (s *stream) end() {
	s.g.mu.Lock()
	delete(s.g.live, s)
	s.g.mu.Unlock()
}

// isStream reports whether res may go on for as long as the upstream
// likes.
func isStream(res *http.Response) bool {
	switch {
	case res.StatusCode == http.StatusSwitchingProtocols:
		return true
	case res.StatusCode == http.StatusNoContent || res.StatusCode == http.StatusNotModified ||
		(res.Request != nil && res.Request.Method == http.MethodHead):
		return false
	case res.ContentLength < 0 || res.ContentLength > longBody:
		return true
	default:
		// Header.Get without canonicalising the name on every response.
		var ct string
		if v := res.Header["Content-Type"]; len(v) > 0 {
			ct = v[0]
		}
		return isEventStream(ct)
	}
}

// longBody is the size from which a response of known length is watched
// like a stream: a large download can take longer than its token lives,
// and a slow reader can make any download last.
const longBody = 1 << 20

func isEventStream(ct string) bool {
	const es = "text/event-stream"
	ct = strings.TrimSpace(ct)
	return len(ct) >= len(es) && strings.EqualFold(ct[:len(es)], es)
}

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
		// Safe while ReverseProxy reads it: net/http's response bodies
		// (and the connection of a protocol switch) may be closed from
		// another goroutine, which ends a pending Read with an error.
		// Each on its own goroutine: closing an HTTP/2 response body can
		// wait for the request body, which a slow client holds, and one
		// such stream must not delay ending the others.
		go func() { _ = s.body.Close() }()
		if g.Log != nil {
			g.Log.Info("stream ended: its credential was revoked or expired", "client_id", s.claims.ClientID, "token_id", s.claims.ID)
		}
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
