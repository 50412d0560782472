package app

import (
	"context"
	"fmt"
	"reflect"
	"slices"
	"time"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/internal/config"
	"github.com/gatehouse/gatehouse/internal/token"
)

// syncConfig makes the store's config-owned objects match the serve
// config: teams and APIs, then clients (syncClients) and users, then the
// subscriptions (each client's apis entries, and the file's
// subscriptions), then removals. Each object changes in its own
// transaction.
func (n *Node) syncConfig(ctx context.Context, cfg *config.Config) error {
	p := &planner{db: n.Store, box: n.box, owner: gatehouse.SourceConfig, now: n.now(), dataDir: cfg.DataDir, stderr: n.stderr, log: n.log}
	d := desiredFrom(cfg)
	tc, tr, err := p.planTeams(ctx, d.teams)
	if err != nil {
		return fmt.Errorf("config teams: %w", err)
	}
	ac, ar, err := p.planAPIs(ctx, d.apis)
	if err != nil {
		return fmt.Errorf("config apis: %w", err)
	}
	if err := run(ctx, append(tc, ac...)); err != nil {
		return fmt.Errorf("config: %w", err)
	}
	if err := syncClients(ctx, n.Store, cfg, n.env, n.stderr, n.log, p.now); err != nil {
		return err
	}
	if err := syncUsers(ctx, n.Store, cfg.Users, n.log, p.now); err != nil {
		return err
	}
	sc, sr, err := p.planSubs(ctx, d.subs)
	if err != nil {
		return fmt.Errorf("config subscriptions: %w", err)
	}
	for _, c := range sc {
		if c.Op == "skip" {
			n.log.Warn("config subscription not reopened", "subscription", c.ID, "why", c.Note)
		}
	}
	if err := run(ctx, append(append(append(sc, sr...), ar...), tr...)); err != nil {
		return fmt.Errorf("config: %w", err)
	}
	return nil
}

// storeAPIs returns the catalog as stored, static upstream credentials
// opened, access token lifetimes within what the node was sized for.
func (n *Node) storeAPIs(ctx context.Context) ([]gatehouse.API, error) {
	stored, err := allAPIs(ctx, n.Store)
	if err != nil {
		return nil, fmt.Errorf("load apis: %w", err)
	}
	out := make([]gatehouse.API, 0, len(stored))
	for _, a := range stored {
		if err := unsealAPI(n.box, a); err != nil {
			return nil, err
		}
		if n.maxTTL > 0 && a.AccessTokenTTL > n.maxTTL {
			n.log.Warn("api access_token_ttl beyond the longest one at start: shortened until a restart", "api", a.Name, "ttl", a.AccessTokenTTL, "max", n.maxTTL)
			a.AccessTokenTTL = n.maxTTL
		}
		if a.Lifecycle == gatehouse.LifecycleDeprecated {
			if a.DeprecatedAt, err = n.deprecatedAt(ctx, a.Name); err != nil {
				return nil, err
			}
		}
		out = append(out, *a)
	}
	return out, nil
}

// deprecatedAt returns when the API's latest step to deprecated was
// recorded (zero when none was), for the Deprecation header.
func (n *Node) deprecatedAt(ctx context.Context, api string) (time.Time, error) {
	steps, err := allPages(func(p gatehouse.Page) ([]gatehouse.StateChange, string, error) {
		return n.Store.FindStateChanges(ctx, gatehouse.StateChangeFilter{Kind: gatehouse.ObjectAPI, ID: api, Page: p})
	})
	if err != nil {
		return time.Time{}, fmt.Errorf("lifecycle of api %s: %w", api, err)
	}
	var at time.Time
	for _, s := range steps {
		if s.To == string(gatehouse.LifecycleDeprecated) && s.At.After(at) {
			at = s.At
		}
	}
	return at, nil
}

// GovernanceChanged rebuilds, from the store, the catalog, the routing
// table, the client networks and the enforcement state (suspended clients,
// cutoffs, revocations). Call it after changing the store (the admin API
// does, after every change); when it returns, the very next request on
// this node sees the change. A catalog whose routes do not compile is
// not loaded (a warning is logged and the running catalog and routing
// table stay), but the enforcement state is loaded all the same: a
// suspension or revocation never waits for the catalog. It returns an
// error only when the enforcement state could not be loaded.
func (n *Node) GovernanceChanged(ctx context.Context) error {
	n.govMu.Lock()
	defer n.govMu.Unlock()
	counter, err := n.Store.ChangeCounter(ctx)
	if err != nil {
		return fmt.Errorf("store change counter: %w", err)
	}
	if err := n.reloadCatalog(ctx); err != nil {
		if ctx.Err() != nil {
			return err
		}
		// The admin API validates every change that alters the routing
		// table before storing it, so this is another writer's doing
		// (or two admin changes that conflict only together).
		n.log.Warn("catalog from the store not loaded; the running catalog and routing table stay", "err", err)
	}
	if err := n.loadEnforcement(ctx); err != nil {
		return err
	}
	clients, err := n.Store.FindClients(ctx, gatehouse.ClientFilter{})
	if err != nil {
		return fmt.Errorf("load clients: %w", err)
	}
	if err := n.gateway.setClients(clients); err != nil {
		return err
	}
	n.seenChanges = counter
	return nil
}

// reloadCatalog loads the catalog and the routing table from the store,
// both or neither.
func (n *Node) reloadCatalog(ctx context.Context) error {
	apis, err := n.storeAPIs(ctx)
	if err != nil {
		return err
	}
	if sameAPIs(n.catalog.APIs(), apis) {
		// Most changes are to apps and subscriptions: the routing table
		// need not be rebuilt.
		return nil
	}
	if err := n.gateway.load(apis); err != nil {
		return err
	}
	n.catalog.set(apis)
	return nil
}

// loadEnforcement loads what refuses tokens: disabled clients, cutoffs
// and revocations.
func (n *Node) loadEnforcement(ctx context.Context) error {
	now := n.now()
	clients, err := n.Store.FindClients(ctx, gatehouse.ClientFilter{})
	if err != nil {
		return fmt.Errorf("load clients: %w", err)
	}
	var disabled []string
	for _, c := range clients {
		if c.Disabled {
			disabled = append(disabled, c.ID)
		}
	}
	n.Revocations.SetSuspendedClients(disabled)
	cuts, err := n.Store.FindCutoffs(ctx, n.cutoffHorizon(now))
	if err != nil {
		return fmt.Errorf("load cutoffs: %w", err)
	}
	n.Revocations.SetCutoffs(cuts)
	blocked, err := n.blockedPairs(ctx, now)
	if err != nil {
		return err
	}
	n.Revocations.SetBlocked(blocked)
	revs, err := n.Store.FindRevocations(ctx, now)
	if err != nil {
		return fmt.Errorf("load revocations: %w", err)
	}
	n.Revocations.Add(revs...)
	return nil
}

// blockedPairs lists the (app, audience) pairs whose subscription grants
// nothing now: the open one, or else the latest, is not approved or has
// expired. Apps with no subscription to an API are not listed (their
// direct access, if any, decides).
func (n *Node) blockedPairs(ctx context.Context, now time.Time) ([]gatehouse.Cutoff, error) {
	subs, err := allSubscriptions(ctx, n.Store)
	if err != nil {
		return nil, fmt.Errorf("load subscriptions: %w", err)
	}
	current := map[string]*gatehouse.Subscription{}
	for _, s := range subs {
		k := subKey(s.ClientID, s.API)
		cur := current[k]
		if cur == nil || (cur.State.Final() && (!s.State.Final() || s.UpdatedAt.After(cur.UpdatedAt))) {
			current[k] = s
		}
	}
	var out []gatehouse.Cutoff
	for _, s := range current {
		if s.Active(now) {
			continue
		}
		if api := n.catalog.API(s.API); api != nil {
			out = append(out, gatehouse.Cutoff{ClientID: s.ClientID, Audience: api.Audience})
		}
	}
	return out, nil
}

// cutoffHorizon is how far back a cutoff can still refuse something: the
// longest a token (access or refresh) lives, and the clock leeway.
func (n *Node) cutoffHorizon(now time.Time) time.Time {
	return now.Add(-max(n.maxTTL, n.policy.AccessTokenTTL, n.policy.RefreshTokenTTL) - n.policy.Leeway - time.Minute)
}

// watchStore polls the store's change counter and reloads from the store
// when another process (`gatehouse apply`, another node) changed it.
func (n *Node) watchStore(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			c, err := n.Store.ChangeCounter(ctx)
			if err != nil {
				if ctx.Err() == nil {
					n.log.Error("store change counter", "err", err)
				}
				continue
			}
			n.govMu.Lock()
			seen := n.seenChanges
			n.govMu.Unlock()
			if c == seen {
				continue
			}
			if err := n.GovernanceChanged(ctx); err != nil && ctx.Err() == nil {
				n.log.Error("reload from the store failed; retried at the next poll", "err", err)
			}
		}
	}
}

// RevokeAppTokens refuses every token the app was issued up to now, at the
// gateway and at refresh (bulk revocation by app), records a security
// event, and takes effect on this node before it returns.
func (n *Node) RevokeAppTokens(ctx context.Context, clientID, actor, reason string) error {
	if _, err := n.Store.FindClientByID(ctx, clientID); err != nil {
		return err
	}
	now := n.now()
	c := gatehouse.Cutoff{ClientID: clientID, At: now}
	e := &gatehouse.SecurityEvent{ID: token.NewID(), Type: gatehouse.EventAppTokensRevoked, ClientID: clientID,
		Detail: fmt.Sprintf("every token of app %s revoked by %s: %s", clientID, actor, reason), At: now}
	if err := n.Store.BulkRevoke(ctx, c, e); err != nil {
		return err
	}
	n.Revocations.AddCutoff(c)
	return nil
}

// RevokeAPITokens refuses every token issued for the API up to now, to any
// app (bulk revocation by API), records a security event, and takes effect
// on this node before it returns.
func (n *Node) RevokeAPITokens(ctx context.Context, apiName, actor, reason string) error {
	api, err := n.Store.FindAPI(ctx, apiName)
	if err != nil {
		return err
	}
	now := n.now()
	c := gatehouse.Cutoff{Audience: api.Audience, At: now}
	e := &gatehouse.SecurityEvent{ID: token.NewID(), Type: gatehouse.EventAPITokensRevoked,
		Detail: fmt.Sprintf("every token for api %s revoked by %s: %s", apiName, actor, reason), At: now}
	if err := n.Store.BulkRevoke(ctx, c, e); err != nil {
		return err
	}
	n.Revocations.AddCutoff(c)
	return nil
}

// sameAPIs reports whether the catalog cur (with the built-in admin API
// first) holds exactly apis.
func sameAPIs(cur []*gatehouse.API, apis []gatehouse.API) bool {
	if len(cur) != len(apis)+1 {
		return false
	}
	for i := range apis {
		if !reflect.DeepEqual(*cur[i+1], apis[i]) {
			return false
		}
	}
	return true
}

// expireSubscriptions records the expiry of every open subscription whose
// ExpiresAt has passed (the step, and the cutoff that refuses its
// tokens), then reloads if any did. The token endpoint and the gateway
// already stop honouring an expired subscription at its time; this makes
// the state say so.
func (n *Node) expireSubscriptions(ctx context.Context) (int, error) {
	now := n.now()
	subs, err := allSubscriptions(ctx, n.Store)
	if err != nil {
		return 0, err
	}
	count := 0
	for _, s := range subs {
		if s.State.Final() || s.ExpiresAt.IsZero() || now.Before(s.ExpiresAt) {
			continue
		}
		step, err := s.Expire("gatehouse", now)
		if err != nil {
			return count, err
		}
		if err := n.Store.UpdateSubscription(ctx, s, &step); err != nil {
			if gatehouse.ErrorCode(err) == gatehouse.CodeStale {
				continue // changed meanwhile; the next round looks again
			}
			return count, err
		}
		count++
	}
	if count > 0 {
		return count, n.GovernanceChanged(ctx)
	}
	return 0, nil
}

// IssueAPIKey issues an API key for the app on one API, as an api_key
// credential of the app (so it can be listed, rotated with overlap and
// revoked alone) and the token record the gateway checks it by; no scopes
// means every scope the app may use on the API. The app
// needs an approved, unexpired subscription to the API (or direct access
// without one) covering scopes. The key is returned once; only its hash is
// stored. It never outlives the subscription.
func (n *Node) IssueAPIKey(ctx context.Context, clientID, apiName string, scopes []string, ttl time.Duration, label string) (string, *gatehouse.Credential, error) {
	now := n.now()
	client, err := n.Store.FindClientByID(ctx, clientID)
	if err != nil {
		return "", nil, err
	}
	if client.Disabled {
		return "", nil, gatehouse.Errorf(gatehouse.CodeInvalid, "app %s is disabled", clientID)
	}
	api := n.catalog.API(apiName)
	if api == nil || api.Name == gatehouse.AdminAPIName {
		return "", nil, gatehouse.Errorf(gatehouse.CodeNotFound, "api %s not found", apiName)
	}
	if api.Lifecycle != gatehouse.LifecyclePublished && api.Lifecycle != gatehouse.LifecycleDeprecated {
		return "", nil, gatehouse.Errorf(gatehouse.CodeConflict, "api %s is %s: no keys are issued for it", apiName, api.Lifecycle)
	}
	subs, err := n.Store.FindSubscriptionsByClient(ctx, clientID)
	if err != nil {
		return "", nil, err
	}
	var sub *gatehouse.Subscription
	for _, s := range subs {
		if s.API == apiName && (sub == nil || !s.State.Final()) {
			sub = s
		}
	}
	acc := client.AccessFor(apiName)
	var allowed []string
	var until time.Time
	switch {
	case sub != nil && !sub.Active(now):
		return "", nil, gatehouse.Errorf(gatehouse.CodeForbidden, "the app's subscription to api %s is %s", apiName, sub.StateAt(now))
	case sub != nil:
		until = sub.ExpiresAt
		for _, sc := range sub.ApprovedScopes {
			if acc == nil || slices.Contains(acc.Scopes, sc) {
				allowed = append(allowed, sc)
			}
		}
	case acc != nil:
		allowed = acc.Scopes
	default:
		return "", nil, gatehouse.Errorf(gatehouse.CodeForbidden, "the app has no subscription to api %s", apiName)
	}
	if len(scopes) == 0 { // every scope the app may use there
		for _, sc := range allowed {
			if api.HasScope(sc) {
				scopes = append(scopes, sc)
			}
		}
	}
	for _, sc := range scopes {
		if !slices.Contains(allowed, sc) || !api.HasScope(sc) {
			return "", nil, gatehouse.Errorf(gatehouse.CodeInvalid, "scope %q is not approved for the app on api %s", sc, apiName)
		}
	}
	if ttl <= 0 {
		return "", nil, gatehouse.Errorf(gatehouse.CodeInvalid, "an API key needs a lifetime")
	}
	iat := now.Truncate(time.Second)
	if nb := n.Revocations.NotBefore(clientID, api.Audience); !nb.IsZero() && !iat.After(nb) {
		iat = nb.Truncate(time.Second).Add(time.Second) // see oauth mintAccess
		n.Revocations.NoteIssued(iat)
	}
	exp := iat.Add(ttl)
	if !until.IsZero() && exp.After(until) {
		exp = until
	}
	key := gatehouse.NewSecret(token.PrefixAPIKey)
	hash := gatehouse.HashSecret(key)
	cred := &gatehouse.Credential{ID: token.NewID(), ClientID: clientID, Kind: gatehouse.CredentialKey, Hash: hash,
		API: apiName, Label: label, ExpiresAt: exp, CreatedAt: now}
	rec := &gatehouse.Token{ID: token.NewID(), Hash: hash, Kind: gatehouse.KindAPIKey, Format: gatehouse.FormatOpaque,
		ClientID: clientID, Subject: clientID, Audience: api.Audience, Scopes: scopes, IssuedAt: iat, ExpiresAt: exp,
		CredentialID: cred.ID}
	if err := n.Store.CreateAPIKey(ctx, cred, rec); err != nil {
		return "", nil, err
	}
	return key, cred, nil
}

// RevokeCredential revokes one credential of an app (revision: the one
// read, 0 for no check) and every token issued with it, on this node
// before it returns and in the store for the others.
func (n *Node) RevokeCredential(ctx context.Context, id string, revision int64, actor, reason string) error {
	c, err := n.Store.FindCredential(ctx, id)
	if err != nil {
		return err
	}
	if revision != 0 {
		c.Revision = revision
	}
	step, err := c.Revoke(actor, reason, n.now())
	if err != nil {
		return err
	}
	revs, err := n.Store.RevokeCredential(ctx, c, step)
	if err != nil {
		return err
	}
	n.Revocations.Add(revs...)
	return nil
}
