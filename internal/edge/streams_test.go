package edge

import (
	"context"
	"errors"
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
	for _, tc := range []struct {
		name    string
		hdr     map[string]string
		claims  gatehouse.AccessClaims
		revoke  bool
		advance time.Duration
		watched bool
		ended   bool
	}{
		{"PlainRequestNotWatched", nil, gatehouse.AccessClaims{ID: "a", ExpiresAt: now.Add(time.Minute)}, true, 0, false, false},
		{"EventStreamRevoked", map[string]string{"Accept": "text/html, Text/Event-Stream"}, gatehouse.AccessClaims{ID: "b", ExpiresAt: now.Add(time.Minute)}, true, 0, true, true},
		{"WebSocketExpired", map[string]string{"Upgrade": "websocket"}, gatehouse.AccessClaims{ID: "c", ExpiresAt: now.Add(time.Minute)}, false, time.Minute, true, true},
		{"WebSocketStillValid", map[string]string{"Upgrade": "websocket"}, gatehouse.AccessClaims{ID: "d", ExpiresAt: now.Add(time.Minute)}, false, 30 * time.Second, true, false},
		{"APIKeyWithoutExpiry", map[string]string{"Upgrade": "websocket"}, gatehouse.AccessClaims{ID: "e"}, false, 1000 * time.Hour, true, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			now = start
			r := httptest.NewRequest("GET", "/x", nil)
			for k, v := range tc.hdr {
				r.Header.Set(k, v)
			}
			claims := tc.claims
			before := g.Len()
			r2, done := g.watch(r, &claims)
			defer done()
			if got := g.Len() - before; (got == 1) != tc.watched {
				t.Fatalf("watched %v, want %v", got == 1, tc.watched)
			}
			revoked[claims.ID] = tc.revoke
			now = now.Add(tc.advance)
			g.Sweep()
			err := r2.Context().Err()
			if (err != nil) != tc.ended {
				t.Fatalf("ended %v, want %v", err != nil, tc.ended)
			}
			if tc.ended && !errors.Is(context.Cause(r2.Context()), ErrCredentialEnded) {
				t.Errorf("cause %v", context.Cause(r2.Context()))
			}
		})
	}
	if g.Len() != 0 {
		t.Errorf("%d streams left after they ended", g.Len())
	}
}
