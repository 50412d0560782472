// Package idle revokes credentials nobody uses: grants (with their refresh
// tokens), API keys and client secrets whose last use, or creation when
// never used, is older than the idle limit of their API or client. A
// credential that is not there cannot leak.
package idle

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/gatehouse/gatehouse"
)

// Store finds idle credentials (contract in internal/storetest).
type Store interface {
	FindIdleCredentials(ctx context.Context, f gatehouse.IdleFilter) ([]*gatehouse.IdleCredential, error)
}

// Rule is one idle limit: for the grants and API keys of an API
// (Audience), or for everything of a client (ClientID), its secret too.
type Rule struct {
	Name     string // "api orders", "client web-app"
	Audience string
	ClientID string
	Limit    time.Duration
}

// Job lists and revokes idle credentials. Fields are set before use; the
// rules change with SetRules.
type Job struct {
	Store Store
	// Revoke revokes c at once (store and in-memory state) and records
	// the security event; it is not called by Stale.
	Revoke func(ctx context.Context, c *gatehouse.StaleCredential) error
	// KeepSecret reports client secrets the job must not revoke (those a
	// config file owns: the file would bring them back).
	KeepSecret func(clientID string) bool
	Log        *slog.Logger
	Now        func() time.Time
	// Batch caps what one rule revokes per sweep; 0 means 1000.
	Batch int

	mu    sync.Mutex
	rules []Rule
}

// SetRules replaces the idle limits (at start and on reload).
func (j *Job) SetRules(rules []Rule) {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.rules = rules
}

func (j *Job) currentRules() []Rule {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.rules
}

// Stale returns what the job revokes within `within` from now (0: what is
// due now), each credential once with its earliest revocation time, the
// soonest first.
func (j *Job) Stale(ctx context.Context, within time.Duration) ([]*gatehouse.StaleCredential, error) {
	now := j.Now()
	batch := j.Batch
	if batch <= 0 {
		batch = 1000
	}
	byKey := map[string]*gatehouse.StaleCredential{}
	for _, r := range j.currentRules() {
		f := gatehouse.IdleFilter{Audience: r.Audience, ClientID: r.ClientID, UnusedSince: now.Add(within - r.Limit), Now: now, Limit: batch}
		cs, err := j.Store.FindIdleCredentials(ctx, f)
		if err != nil {
			return nil, fmt.Errorf("idle: %s: %w", r.Name, err)
		}
		for _, c := range cs {
			if c.Kind == gatehouse.UsageClientSecret && j.KeepSecret != nil && j.KeepSecret(c.ID) {
				continue
			}
			s := &gatehouse.StaleCredential{IdleCredential: *c, Rule: r.Name, Limit: r.Limit, RevokeAt: c.Idle().Add(r.Limit)}
			k := string(c.Kind) + "\x00" + c.ID
			if old, ok := byKey[k]; !ok || s.RevokeAt.Before(old.RevokeAt) {
				byKey[k] = s
			}
		}
	}
	out := make([]*gatehouse.StaleCredential, 0, len(byKey))
	for _, s := range byKey {
		out = append(out, s)
	}
	slices.SortFunc(out, func(a, b *gatehouse.StaleCredential) int {
		if c := a.RevokeAt.Compare(b.RevokeAt); c != 0 {
			return c
		}
		if a.Kind != b.Kind {
			return compare(string(a.Kind), string(b.Kind))
		}
		return compare(a.ID, b.ID)
	})
	return out, nil
}

func compare(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// Sweep revokes every credential that is due now and returns how many it
// revoked. A failure on one credential is logged and the others proceed.
func (j *Job) Sweep(ctx context.Context) (int, error) {
	due, err := j.Stale(ctx, 0)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, c := range due {
		if err := j.Revoke(ctx, c); err != nil {
			j.log().Error("idle revocation", "kind", string(c.Kind), "id", c.ID, "err", err)
			continue
		}
		n++
	}
	return n, nil
}

// Run sweeps every `every` until ctx ends.
func (j *Job) Run(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if n, err := j.Sweep(ctx); err != nil && ctx.Err() == nil {
				j.log().Error("idle sweep", "err", err)
			} else if n > 0 {
				j.log().Info("idle credentials revoked", "count", n)
			}
		}
	}
}

func (j *Job) log() *slog.Logger {
	if j.Log != nil {
		return j.Log
	}
	return slog.Default()
}

// Entry is the JSON form of a stale credential (CLI and admin API).
type Entry struct {
	Kind      string     `json:"kind"`
	ID        string     `json:"id"`
	ClientID  string     `json:"client_id,omitempty"`
	Subject   string     `json:"subject,omitempty"`
	Audience  string     `json:"audience,omitempty"`
	CreatedAt time.Time  `json:"created_at"`
	LastUsed  *time.Time `json:"last_used"` // null when never used
	Rule      string     `json:"rule"`
	Limit     string     `json:"idle_limit"`
	RevokeAt  time.Time  `json:"revoke_at"`
}

// EntryOf returns the JSON form of c.
func EntryOf(c *gatehouse.StaleCredential) Entry {
	e := Entry{Kind: string(c.Kind), ID: c.ID, ClientID: c.ClientID, Subject: c.Subject, Audience: c.Audience,
		CreatedAt: c.CreatedAt.UTC(), Rule: c.Rule, Limit: c.Limit.String(), RevokeAt: c.RevokeAt.UTC()}
	if !c.LastUsed.IsZero() {
		t := c.LastUsed.UTC()
		e.LastUsed = &t
	}
	return e
}
