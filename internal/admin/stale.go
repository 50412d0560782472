package admin

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/internal/idle"
)

// StaleLister lists the credentials idle revocation takes within a
// duration from now.
type StaleLister interface {
	Stale(ctx context.Context, within time.Duration) ([]*gatehouse.StaleCredential, error)
}

// maxStaleWithin bounds the look-ahead of GET /admin/v1/tokens/stale.
const maxStaleWithin = 5 * 365 * 24 * time.Hour

// listStale is GET /admin/v1/tokens/stale[?within=DURATION]: the grants,
// API keys and client secrets that idle revocation takes within DURATION
// (default 0: those due now), soonest first.
func (h *Handler) listStale(w http.ResponseWriter, r *http.Request, _ *Principal) error {
	if h.Stale == nil {
		return notFound("resource: idle revocation is not available")
	}
	var within time.Duration
	if v := r.URL.Query().Get("within"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < 0 || d > maxStaleWithin {
			return invalidParam("within", "must be a duration such as 24h, between 0 and 43800h")
		}
		within = d
	}
	cs, err := h.Stale.Stale(r.Context(), within)
	if err != nil {
		return fmt.Errorf("list stale credentials: %w", err)
	}
	out := struct {
		Within string       `json:"within"`
		Stale  []idle.Entry `json:"stale"`
	}{Within: within.String(), Stale: make([]idle.Entry, len(cs))}
	for i, c := range cs {
		out.Stale[i] = idle.EntryOf(c)
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	return json.NewEncoder(w).Encode(out)
}
