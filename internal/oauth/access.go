package oauth

import (
	"context"
	"time"

	"github.com/gatehouse/gatehouse"
)

// SubscriptionStore lists an app's subscriptions. With it, a subscription
// decides what an app may get for its API; without it (tests of the bare
// protocol), Client.Access alone does.
type SubscriptionStore interface {
	// FindSubscriptionsByClient returns every subscription of the app.
	FindSubscriptionsByClient(ctx context.Context, clientID string) ([]*gatehouse.Subscription, error)
}

// CredentialStore lists an app's extra credentials (rotated secrets and
// keys), which authenticate it besides its primary secret or keys.
type CredentialStore interface {
	FindCredentials(ctx context.Context, f gatehouse.CredentialFilter) ([]*gatehouse.Credential, error)
}

// grantable is what a client may ask of one API now.
type grantable struct {
	api string
	// acc holds the allowed scopes and the defaults granted when a request
	// names none.
	acc gatehouse.Access
	// blocked, when set, says why nothing is granted: the subscription's
	// state ("pending approval", "suspended"...).
	blocked string
	// until is the subscription's expiry (zero: none); no token outlives it.
	until time.Time
}

// clientAccess returns what client may ask for, API by API: a subscription
// decides for its API (approved and unexpired: its approved scopes, within
// the client's Access entry when it has one); an Access entry without a
// subscription (the built-in admin client, RFC 7591 registrations) grants
// as it says.
func (s *Server) clientAccess(ctx context.Context, client *gatehouse.Client, now time.Time) ([]grantable, *Error) {
	subs, err := s.subscriptionsOf(ctx, client.ID)
	if err != nil {
		return nil, s.internalError(ctx, "find subscriptions", err)
	}
	var out []grantable
	seen := map[string]bool{}
	for i := range client.Access {
		acc := client.Access[i]
		seen[acc.API] = true
		if sub := subs[acc.API]; sub != nil {
			out = append(out, fromSubscription(sub, &acc, now))
		} else {
			out = append(out, grantable{api: acc.API, acc: acc})
		}
	}
	for _, sub := range orderedSubs(subs) {
		if !seen[sub.API] {
			out = append(out, fromSubscription(sub, nil, now))
		}
	}
	return out, nil
}

// subscriptionsOf returns, per API, the subscription of the app that
// counts: the open one (pending, approved, suspended), else the latest.
func (s *Server) subscriptionsOf(ctx context.Context, clientID string) (map[string]*gatehouse.Subscription, error) {
	out := map[string]*gatehouse.Subscription{}
	if s.Subscriptions == nil {
		return out, nil
	}
	page, err := s.Subscriptions.FindSubscriptionsByClient(ctx, clientID)
	if err != nil {
		return nil, err
	}
	for _, sub := range page {
		cur := out[sub.API]
		switch {
		case cur == nil:
			out[sub.API] = sub
		case !cur.State.Final():
		case !sub.State.Final() || sub.UpdatedAt.After(cur.UpdatedAt):
			out[sub.API] = sub
		}
	}
	return out, nil
}

func orderedSubs(m map[string]*gatehouse.Subscription) []*gatehouse.Subscription {
	out := make([]*gatehouse.Subscription, 0, len(m))
	for _, s := range m {
		out = append(out, s)
	}
	// Deterministic: by API name.
	for i := 1; i < len(out); i++ {
		for j := i; j > 0 && out[j].API < out[j-1].API; j-- {
			out[j], out[j-1] = out[j-1], out[j]
		}
	}
	return out
}

func fromSubscription(sub *gatehouse.Subscription, acc *gatehouse.Access, now time.Time) grantable {
	g := grantable{api: sub.API, until: sub.ExpiresAt}
	switch st := sub.StateAt(now); st {
	case gatehouse.SubApproved:
	case gatehouse.SubPending:
		g.blocked = "pending approval"
		return g
	default:
		g.blocked = string(st)
		return g
	}
	allowed := []string{}
	for _, sc := range sub.ApprovedScopes {
		if acc == nil || contains(acc.Scopes, sc) {
			allowed = append(allowed, sc)
		}
	}
	g.acc = gatehouse.Access{API: sub.API, Scopes: allowed}
	if acc != nil {
		g.acc.Introspect = acc.Introspect
		for _, sc := range acc.DefaultScopes {
			if contains(allowed, sc) {
				g.acc.DefaultScopes = append(g.acc.DefaultScopes, sc)
			}
		}
	} else {
		g.acc.DefaultScopes = allowed
	}
	return g
}

// grantableFor returns the client's entry for api, or nil.
func grantableFor(gs []grantable, api string) *grantable {
	for i := range gs {
		if gs[i].api == api {
			return &gs[i]
		}
	}
	return nil
}

// currentScopes returns the scopes of granted that client may still have
// on api (possibly empty), or an invalid_grant error when the client lost
// access to api (no access, or its subscription is no longer approved).
func (s *Server) currentScopes(ctx context.Context, granted []string, client *gatehouse.Client, api *gatehouse.API, now time.Time) ([]string, *Error) {
	gs, e := s.clientAccess(ctx, client, now)
	if e != nil {
		return nil, e
	}
	g := grantableFor(gs, api.Name)
	switch {
	case g == nil:
		return nil, errInvalidGrant("the client no longer has access to this API")
	case g.blocked != "":
		return nil, errInvalidGrant("the client's subscription to this API is " + g.blocked)
	}
	out := []string{}
	for _, sc := range granted {
		if contains(g.acc.Scopes, sc) && api.HasScope(sc) {
			out = append(out, sc)
		}
	}
	return out, nil
}
