package edge

import (
	"context"
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
// Only requests that announce a stream are watched (an Upgrade header, or
// Accept: text/event-stream, as EventSource sends): watching every request
// would cost a context and a map entry each. A client that streams a
// response without announcing it keeps its stream until the token is next
// checked, on its next request.
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

// announcesStream reports whether r asks for a long-lived exchange.
func announcesStream(r *http.Request) bool {
	if r.Header.Get("Upgrade") != "" {
		return true
	}
	for _, v := range r.Header["Accept"] {
		if strings.Contains(strings.ToLower(v), "text/event-stream") {
			return true
		}
	}
	return false
}

// watch registers a stream for claims and returns the request to serve and
// the function to call when it ends. Requests that announce no stream are
// returned as they are.
func (g *StreamGuard) watch(r *http.Request, claims *gatehouse.AccessClaims) (*http.Request, func()) {
	if g == nil || !announcesStream(r) {
		return r, func() {}
	}
	ctx, cancel := context.WithCancelCause(r.Context())
	s := &stream{claims: claims, cancel: cancel}
	g.mu.Lock()
	if g.live == nil {
		g.live = map[*stream]struct{}{}
	}
	g.live[s] = struct{}{}
	g.mu.Unlock()
	return r.WithContext(ctx), func() {
		g.mu.Lock()
		delete(g.live, s)
		g.mu.Unlock()
		cancel(nil)
	}
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
