package app

import (
	"context"
	"fmt"
	"sort"
	"time"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/internal/config"
	"github.com/gatehouse/gatehouse/internal/idle"
	"github.com/gatehouse/gatehouse/internal/token"
)

// idleRules turns the config's idle limits into the job's rules, APIs
// first, each group in name order.
func idleRules(cfg *config.Config) []idle.Rule {
	var rules []idle.Rule
	for _, name := range sortedKeys(cfg.Idle.APIs) {
		if api := cfg.API(name); api != nil {
			rules = append(rules, idle.Rule{Name: "api " + name, Audience: api.Audience, Limit: cfg.Idle.APIs[name]})
		}
	}
	for _, id := range sortedKeys(cfg.Idle.Clients) {
		rules = append(rules, idle.Rule{Name: "client " + id, ClientID: id, Limit: cfg.Idle.Clients[id]})
	}
	return rules
}

func sortedKeys(m map[string]time.Duration) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

// configOwnsSecret reports whether the config file defines client id's
// secret: the file is its source of truth, so the idle job leaves it.
func configOwnsSecret(cfg *config.Config) func(string) bool {
	owned := map[string]bool{}
	for _, c := range cfg.Clients {
		owned[c.ID] = true
	}
	return func(id string) bool { return owned[id] }
}

// newIdleJob builds the idle revocation job of node n. Its revocations go
// through the OAuth server (as RFC 7009 revocation does: store, then the
// in-memory state, before the call returns) and are recorded as security
// events.
func newIdleJob(cfg *config.Config, n *Node, events eventRecorder) *idle.Job {
	j := &idle.Job{Store: n.Store, KeepSecret: configOwnsSecret(cfg), Log: n.log, Now: n.now}
	j.SetRules(idleRules(cfg))
	j.Revoke = func(ctx context.Context, c *gatehouse.StaleCredential) error {
		var err error
		ev := &gatehouse.SecurityEvent{ID: token.NewID(), Type: gatehouse.EventIdleRevoked, ClientID: c.ClientID,
			Subject: c.Subject, At: n.now()}
		switch c.Kind {
		case gatehouse.UsageGrant:
			ev.GrantID = c.ID
			err = n.OAuth.RevokeByID(ctx, "", c.ID)
		case gatehouse.UsageAPIKey:
			err = n.OAuth.RevokeByID(ctx, c.ID, "")
		case gatehouse.UsageClientSecret:
			_, err = n.Store.RevokeClientSecret(ctx, c.ID, n.now())
		default:
			err = fmt.Errorf("unknown credential kind %q", c.Kind)
		}
		if err != nil {
			return err
		}
		last := "never used; created " + c.CreatedAt.UTC().Format(time.RFC3339)
		if !c.LastUsed.IsZero() {
			last = "last used " + c.LastUsed.UTC().Format(time.RFC3339)
		}
		ev.Detail = fmt.Sprintf("%s %s revoked: %s, idle limit %s (%s)", c.Kind, c.ID, last, c.Limit, c.Rule)
		if err := events.RecordEvent(ctx, ev); err != nil {
			n.log.Error("record security event", "type", ev.Type, "err", err)
		}
		n.log.Info("idle credential revoked", "kind", string(c.Kind), "id", c.ID, "client_id", c.ClientID, "rule", c.Rule)
		return nil
	}
	return j
}
