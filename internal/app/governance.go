package app

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/internal/config"
	"github.com/gatehouse/gatehouse/internal/seal"
	"github.com/gatehouse/gatehouse/internal/sqlite"
	"github.com/gatehouse/gatehouse/internal/token"
)

// removedReason marks subscriptions a file's owner revoked because the file
// no longer lists them; only those are created again when the file lists
// them again. A subscription an administrator revoked stays revoked.
const removedReason = "removed from the file"

// desired is the state a config file asks for: the objects its owner
// (the serve config, or `gatehouse apply`) manages.
type desired struct {
	teams   []gatehouse.Team
	apis    []gatehouse.API
	clients []config.Client
	subs    []desiredSub
}

// desiredSub is one subscription a file asks for. Mirror marks the
// approved subscription an apis entry of a client implies.
type desiredSub struct {
	config.Subscription
	mirror bool
}

func desiredFrom(cfg *config.Config) *desired {
	d := &desired{teams: cfg.Teams, apis: cfg.APIs, clients: cfg.Clients}
	for _, c := range cfg.Clients {
		for _, a := range c.Access {
			d.subs = append(d.subs, desiredSub{mirror: true, Subscription: config.Subscription{
				App: c.ID, API: a.API, Scopes: a.Scopes, ApprovedScopes: a.Scopes, State: gatehouse.SubApproved}})
		}
	}
	for _, s := range cfg.Subscriptions {
		d.subs = append(d.subs, desiredSub{Subscription: s})
	}
	return d
}

// change is one step of a plan: what it does, for the diff, and how.
type change struct {
	Op     string // create, update, delete, skip
	Kind   string // team, api, client, subscription
	ID     string
	Fields []string // for updates: what differs
	Note   string
	do     func(ctx context.Context) error
}

func (c change) String() string {
	s := c.Op + " " + c.Kind + " " + c.ID
	if len(c.Fields) > 0 {
		s += ": " + strings.Join(c.Fields, ", ")
	}
	if c.Note != "" {
		s += " (" + c.Note + ")"
	}
	return s
}

// planner computes the changes that make the store match a file for the
// objects of one owner (SourceConfig for the serve config, SourceApply for
// `gatehouse apply`). Objects of the other file owner are never touched;
// objects made through the admin API are taken over when the file names
// them.
type planner struct {
	db      *sqlite.DB
	box     *seal.Box
	owner   gatehouse.ClientSource
	now     time.Time
	dataDir string
	stderr  io.Writer
	log     *slog.Logger
	// withClients plans clients too (apply); the serve config's clients
	// are synced by syncClients.
	withClients bool
}

// other is the file owner whose objects p must not touch.
func (p *planner) other() gatehouse.ClientSource {
	if p.owner == gatehouse.SourceConfig {
		return gatehouse.SourceApply
	}
	return gatehouse.SourceConfig
}

func (p *planner) actor() string { return string(p.owner) }

func ownedElsewhere(kind, id string, src gatehouse.ClientSource) error {
	switch src {
	case gatehouse.SourceConfig:
		return fmt.Errorf("%s %q is defined by the serve config file; change it there, or remove it there first", kind, id)
	case gatehouse.SourceApply:
		return fmt.Errorf("%s %q is managed by `gatehouse apply`; remove it from that file first", kind, id)
	}
	return fmt.Errorf("%s %q was created another way (%s); rename it in the file", kind, id, src)
}

// plan returns the changes, creations and updates first (teams, APIs,
// clients, subscriptions), then removals in the reverse order.
func (p *planner) plan(ctx context.Context, d *desired) ([]change, error) {
	var out, removals []change
	add := func(cs, rs []change, err error) error {
		out, removals = append(out, cs...), append(rs, removals...)
		return err
	}
	if err := add(p.planTeams(ctx, d.teams)); err != nil {
		return nil, err
	}
	if err := add(p.planAPIs(ctx, d.apis)); err != nil {
		return nil, err
	}
	if p.withClients {
		if err := add(p.planClients(ctx, d.clients)); err != nil {
			return nil, err
		}
	}
	if err := add(p.planSubs(ctx, d.subs)); err != nil {
		return nil, err
	}
	return append(out, removals...), nil
}

func run(ctx context.Context, cs []change) error {
	for _, c := range cs {
		if c.do == nil {
			continue
		}
		if err := c.do(ctx); err != nil {
			return fmt.Errorf("%s: %w", c, err)
		}
	}
	return nil
}

// Teams.

func (p *planner) planTeams(ctx context.Context, want []gatehouse.Team) (cs, rs []change, err error) {
	stored, err := allTeams(ctx, p.db)
	if err != nil {
		return nil, nil, err
	}
	byName := map[string]*gatehouse.Team{}
	for _, t := range stored {
		byName[t.Name] = t
	}
	inFile := map[string]bool{}
	for _, t := range want {
		t := t
		inFile[t.Name] = true
		old := byName[t.Name]
		switch {
		case old == nil:
			t.Source, t.CreatedAt, t.UpdatedAt = p.owner, p.now, p.now
			cs = append(cs, change{Op: "create", Kind: "team", ID: t.Name, do: func(ctx context.Context) error { return p.db.CreateTeam(ctx, &t) }})
		case old.Source == p.other():
			return nil, nil, ownedElsewhere("team", t.Name, old.Source)
		default:
			var fields []string
			if old.Description != t.Description {
				fields = append(fields, "description")
			}
			if old.Source != p.owner {
				fields = append(fields, "owner")
			}
			if len(fields) > 0 {
				upd := *old
				upd.Description, upd.Source, upd.UpdatedAt = t.Description, p.owner, p.now
				cs = append(cs, change{Op: "update", Kind: "team", ID: t.Name, Fields: fields, do: func(ctx context.Context) error { return p.db.UpdateTeam(ctx, &upd) }})
			}
		}
	}
	for _, old := range stored {
		if old.Source == p.owner && !inFile[old.Name] {
			old := old
			rs = append(rs, change{Op: "delete", Kind: "team", ID: old.Name, do: func(ctx context.Context) error { return p.db.DeleteTeam(ctx, old.Name, old.Revision) }})
		}
	}
	return cs, rs, nil
}

// APIs.

// comparableAPI is a in the form two APIs are compared in: defaults
// applied, bookkeeping and secrets left out (the static value is compared
// on its own, in clear).
func comparableAPI(a gatehouse.API) gatehouse.API {
	a.Family = a.FamilyName()
	if a.Approval == "" {
		a.Approval = gatehouse.ApprovalAuto
	}
	if a.Lifecycle == "" {
		a.Lifecycle = gatehouse.LifecyclePublished
	}
	if a.UpstreamPolicy.Forwarding == "" { // stored before the setting existed
		a.UpstreamPolicy.Forwarding = gatehouse.ForwardingXForwarded
	}
	if !a.SunsetAt.IsZero() {
		a.SunsetAt = a.SunsetAt.UTC()
	}
	a.Source, a.Revision, a.CreatedAt, a.UpdatedAt = "", 0, time.Time{}, time.Time{}
	a.UpstreamAuth.StaticValue, a.UpstreamAuth.SealedStaticValue = "", nil
	return a
}

// sealAPI returns a with its static upstream credential sealed, as stored.
func sealAPI(box *seal.Box, a gatehouse.API) gatehouse.API {
	if a.UpstreamAuth.StaticValue != "" {
		a.UpstreamAuth.SealedStaticValue = box.Seal([]byte(a.UpstreamAuth.StaticValue), []byte("api:"+a.Name))
		a.UpstreamAuth.StaticValue = ""
	}
	return a
}

// unsealAPI opens a stored API's static upstream credential.
func unsealAPI(box *seal.Box, a *gatehouse.API) error {
	if len(a.UpstreamAuth.SealedStaticValue) == 0 {
		return nil
	}
	v, err := box.Open(a.UpstreamAuth.SealedStaticValue, []byte("api:"+a.Name))
	if err != nil {
		return fmt.Errorf("api %s: open the static upstream credential: %w", a.Name, err)
	}
	a.UpstreamAuth.StaticValue = string(v)
	return nil
}

func (p *planner) planAPIs(ctx context.Context, want []gatehouse.API) (cs, rs []change, err error) {
	stored, err := allAPIs(ctx, p.db)
	if err != nil {
		return nil, nil, err
	}
	byName := map[string]*gatehouse.API{}
	for _, a := range stored {
		byName[a.Name] = a
	}
	inFile := map[string]bool{}
	for _, a := range want {
		inFile[a.Name] = true
		old := byName[a.Name]
		if old == nil {
			na := sealAPI(p.box, a)
			na.Source, na.CreatedAt, na.UpdatedAt = p.owner, p.now, p.now
			cs = append(cs, change{Op: "create", Kind: "api", ID: a.Name, Note: string(comparableAPI(a).Lifecycle),
				do: func(ctx context.Context) error { return p.db.CreateAPI(ctx, &na) }})
			continue
		}
		if old.Source == p.other() {
			return nil, nil, ownedElsewhere("api", a.Name, old.Source)
		}
		oldClear := *old
		if err := unsealAPI(p.box, &oldClear); err != nil {
			return nil, nil, err
		}
		fields := diffFields(comparableAPI(oldClear), comparableAPI(a))
		if oldClear.UpstreamAuth.StaticValue != a.UpstreamAuth.StaticValue {
			fields = append(fields, "UpstreamAuth.StaticValue")
		}
		if old.Source != p.owner {
			fields = append(fields, "owner")
		}
		if len(fields) == 0 {
			continue
		}
		upd := a
		if oldClear.UpstreamAuth.StaticValue == a.UpstreamAuth.StaticValue {
			upd.UpstreamAuth.StaticValue, upd.UpstreamAuth.SealedStaticValue = "", old.UpstreamAuth.SealedStaticValue
		} else {
			upd = sealAPI(p.box, upd)
		}
		upd.Source, upd.Revision, upd.CreatedAt, upd.UpdatedAt = p.owner, old.Revision, old.CreatedAt, p.now
		var step *gatehouse.StateChange
		from, to := comparableAPI(*old).Lifecycle, comparableAPI(a).Lifecycle
		if from != to {
			// The file is the truth for its objects; the step is recorded
			// all the same, and the state machine is not asked: a file may
			// well publish a draft and retire it in one edit.
			step = &gatehouse.StateChange{Kind: gatehouse.ObjectAPI, ID: a.Name, From: string(from), To: string(to),
				Actor: p.actor(), Reason: "the file says " + string(to), At: p.now}
		}
		cs = append(cs, change{Op: "update", Kind: "api", ID: a.Name, Fields: fields,
			do: func(ctx context.Context) error { return p.db.UpdateAPI(ctx, &upd, step) }})
	}
	for _, old := range stored {
		if old.Source != p.owner || inFile[old.Name] {
			continue
		}
		old := old
		rs = append(rs, change{Op: "delete", Kind: "api", ID: old.Name, do: func(ctx context.Context) error {
			lc := comparableAPI(*old).Lifecycle
			if lc != gatehouse.LifecycleDraft && lc != gatehouse.LifecycleRetired {
				// Removed from its file: retired first, so that the step
				// is on record, then deleted.
				step := &gatehouse.StateChange{Kind: gatehouse.ObjectAPI, ID: old.Name, From: string(lc), To: string(gatehouse.LifecycleRetired),
					Actor: p.actor(), Reason: removedReason, At: p.now}
				old.Lifecycle, old.SunsetAt, old.UpdatedAt = gatehouse.LifecycleRetired, time.Time{}, p.now
				if err := p.db.UpdateAPI(ctx, old, step); err != nil {
					return err
				}
			}
			return p.db.DeleteAPI(ctx, old.Name, old.Revision)
		}})
	}
	return cs, rs, nil
}

// Clients (apply only).

func comparableClient(c gatehouse.Client, keepSecret bool) gatehouse.Client {
	c.Source, c.Revision, c.CreatedAt, c.UpdatedAt = "", 0, time.Time{}, time.Time{}
	if keepSecret {
		c.SecretHash = nil
	}
	return c
}

func (p *planner) planClients(ctx context.Context, want []config.Client) (cs, rs []change, err error) {
	stored, err := p.db.FindClients(ctx, gatehouse.ClientFilter{})
	if err != nil {
		return nil, nil, err
	}
	byID := map[string]*gatehouse.Client{}
	for _, c := range stored {
		byID[c.ID] = c
	}
	inFile := map[string]bool{}
	for _, cc := range want {
		cc := cc
		inFile[cc.ID] = true
		old := byID[cc.ID]
		switch {
		case old == nil:
			c := cc.Client
			c.Source, c.CreatedAt, c.UpdatedAt = p.owner, p.now, p.now
			note := ""
			if cc.GenerateSecret {
				note = "a secret is generated"
			}
			cs = append(cs, change{Op: "create", Kind: "client", ID: c.ID, Note: note, do: func(ctx context.Context) error {
				if cc.GenerateSecret {
					secret := gatehouse.NewSecret(token.PrefixClientSecret)
					c.SecretHash = gatehouse.HashSecret(secret)
					path := filepath.Join(p.dataDir, "secrets", c.ID+".secret")
					if err := writeSecretFile(path, secret); err != nil {
						return err
					}
					fmt.Fprintf(p.stderr, "Generated a secret for client %q; read it from %s (mode 0600).\n", c.ID, path)
				}
				return p.db.CreateClient(ctx, &c)
			}})
		case old.Source != p.owner && old.Source != gatehouse.SourceAdmin:
			return nil, nil, ownedElsewhere("client", cc.ID, old.Source)
		default:
			fields := diffFields(comparableClient(*old, cc.GenerateSecret), comparableClient(cc.Client, cc.GenerateSecret))
			if old.Source != p.owner {
				fields = append(fields, "owner")
			}
			if len(fields) == 0 {
				continue
			}
			c := cc.Client
			if cc.GenerateSecret {
				c.SecretHash = old.SecretHash // keep the secret generated earlier
			}
			c.Source, c.Revision, c.CreatedAt, c.UpdatedAt = p.owner, old.Revision, old.CreatedAt, p.now
			cs = append(cs, change{Op: "update", Kind: "client", ID: c.ID, Fields: fields, do: func(ctx context.Context) error { return p.db.UpdateClient(ctx, &c) }})
		}
	}
	for _, old := range stored {
		if old.Source == p.owner && !inFile[old.ID] {
			old := old
			rs = append(rs, change{Op: "delete", Kind: "client", ID: old.ID, Note: "its tokens are refused",
				do: func(ctx context.Context) error { return p.db.DeleteApp(ctx, old.ID, old.Revision, p.actor(), p.now) }})
		}
	}
	return cs, rs, nil
}

// Subscriptions.

func subKey(client, api string) string { return client + " -> " + api }

func (p *planner) planSubs(ctx context.Context, want []desiredSub) (cs, rs []change, err error) {
	stored, err := allSubscriptions(ctx, p.db)
	if err != nil {
		return nil, nil, err
	}
	// Per (app, API): the open subscription, else the latest closed one.
	current := map[string]*gatehouse.Subscription{}
	for _, s := range stored {
		k := subKey(s.ClientID, s.API)
		cur := current[k]
		if cur == nil || (cur.State.Final() && (!s.State.Final() || s.UpdatedAt.After(cur.UpdatedAt))) {
			current[k] = s
		}
	}
	inFile := map[string]bool{}
	for _, ds := range want {
		ds := ds
		k := subKey(ds.App, ds.API)
		inFile[k] = true
		old := current[k]
		open := old != nil && !old.State.Final()
		switch {
		case !open && old != nil && ds.mirror && !(old.Source == p.owner && old.Reason == removedReason):
			// An administrator closed it: the file does not reopen it.
			cs = append(cs, change{Op: "skip", Kind: "subscription", ID: k, Note: "it is " + string(old.State) + " by an administrator; subscribe again through the admin API"})
		case !open:
			if ds.State.Final() && (old == nil || old.State == ds.State) {
				continue // nothing open, and the file wants it closed
			}
			s := &gatehouse.Subscription{ID: token.NewID(), ClientID: ds.App, API: ds.API, Scopes: ds.Scopes,
				ApprovedScopes: ds.ApprovedScopes, State: ds.State, Reason: ds.Reason, ExpiresAt: ds.ExpiresAt,
				Source: p.owner, CreatedAt: p.now, UpdatedAt: p.now}
			step := gatehouse.StateChange{Kind: gatehouse.ObjectSubscription, ID: s.ID, To: string(s.State), Actor: p.actor(), Reason: "created from the file", At: p.now}
			cs = append(cs, change{Op: "create", Kind: "subscription", ID: k, Note: string(s.State),
				do: func(ctx context.Context) error { return p.db.CreateSubscription(ctx, s, step) }})
		case old.Source == p.other():
			return nil, nil, ownedElsewhere("subscription", k, old.Source)
		default:
			c, err := p.updateSub(old, ds)
			if err != nil {
				return nil, nil, err
			}
			if c != nil {
				cs = append(cs, *c)
			}
		}
	}
	for _, old := range current {
		k := subKey(old.ClientID, old.API)
		if old.Source != p.owner || old.State.Final() || inFile[k] {
			continue
		}
		old := old
		rs = append(rs, change{Op: "delete", Kind: "subscription", ID: k, Note: "revoked", do: func(ctx context.Context) error {
			step, err := old.Revoke(p.actor(), removedReason, p.now)
			if err != nil {
				return err
			}
			return p.db.UpdateSubscription(ctx, old, &step)
		}})
	}
	sort.SliceStable(rs, func(i, j int) bool { return rs[i].ID < rs[j].ID })
	return cs, rs, nil
}

// updateSub plans the update of an open subscription to what the file
// says. A mirror (an apis entry) never changes the state an administrator
// set (a suspension stays); an explicit entry moves the state through the
// state machine, which may refuse.
func (p *planner) updateSub(old *gatehouse.Subscription, ds desiredSub) (*change, error) {
	upd := *old
	var fields []string
	if !slices.Equal(old.Scopes, ds.Scopes) {
		fields, upd.Scopes = append(fields, "scopes"), ds.Scopes
	}
	wantApproved := ds.ApprovedScopes
	if !slices.Equal(old.ApprovedScopes, wantApproved) && (old.State != gatehouse.SubPending || ds.State != gatehouse.SubPending) {
		fields, upd.ApprovedScopes = append(fields, "approved_scopes"), wantApproved
	}
	if !old.ExpiresAt.Equal(ds.ExpiresAt) {
		fields, upd.ExpiresAt = append(fields, "expires_at"), ds.ExpiresAt
	}
	if old.Source != p.owner {
		fields, upd.Source = append(fields, "owner"), p.owner
	}
	var step *gatehouse.StateChange
	if !ds.mirror && old.State != ds.State {
		var c gatehouse.StateChange
		var err error
		switch ds.State {
		case gatehouse.SubApproved:
			if old.State == gatehouse.SubSuspended {
				c, err = upd.Resume(p.actor(), ds.Reason, p.now)
			} else {
				c, err = upd.Approve(wantApproved, p.actor(), ds.Reason, p.now)
			}
		case gatehouse.SubSuspended:
			c, err = upd.Suspend(p.actor(), ds.Reason, p.now)
		case gatehouse.SubRejected:
			c, err = upd.Reject(p.actor(), ds.Reason, p.now)
		case gatehouse.SubRevoked:
			c, err = upd.Revoke(p.actor(), ds.Reason, p.now)
		default:
			err = fmt.Errorf("cannot move back to %s", ds.State)
		}
		if err != nil {
			return nil, fmt.Errorf("subscription %s: the file says %s: %w", subKey(old.ClientID, old.API), ds.State, err)
		}
		step = &c
		fields = append(fields, "state "+string(old.State)+" -> "+string(ds.State))
	}
	if len(fields) == 0 {
		return nil, nil
	}
	upd.UpdatedAt = p.now
	return &change{Op: "update", Kind: "subscription", ID: subKey(old.ClientID, old.API), Fields: fields,
		do: func(ctx context.Context) error { return p.db.UpdateSubscription(ctx, &upd, step) }}, nil
}

// Listing everything (the store pages).

func allTeams(ctx context.Context, db *sqlite.DB) ([]*gatehouse.Team, error) {
	return allPages(func(p gatehouse.Page) ([]*gatehouse.Team, string, error) {
		return db.FindTeams(ctx, gatehouse.TeamFilter{Page: p})
	})
}

func allAPIs(ctx context.Context, db *sqlite.DB) ([]*gatehouse.API, error) {
	return allPages(func(p gatehouse.Page) ([]*gatehouse.API, string, error) {
		return db.FindAPIs(ctx, gatehouse.APIFilter{Page: p})
	})
}

func allSubscriptions(ctx context.Context, db *sqlite.DB) ([]*gatehouse.Subscription, error) {
	return allPages(func(p gatehouse.Page) ([]*gatehouse.Subscription, string, error) {
		return db.FindSubscriptions(ctx, gatehouse.SubscriptionFilter{Page: p})
	})
}

func allPages[T any](find func(gatehouse.Page) ([]T, string, error)) ([]T, error) {
	var out []T
	p := gatehouse.Page{Limit: gatehouse.MaxPageLimit}
	for {
		page, next, err := find(p)
		if err != nil {
			return nil, err
		}
		out = append(out, page...)
		if next == "" {
			return out, nil
		}
		p.Cursor = next
	}
}

// diffFields names the top-level fields of two values of one struct type
// that differ, comparing them in a canonical form where nil and empty,
// absent and zero are the same.
func diffFields(a, b any) []string {
	ca, _ := canonical(a).(map[string]any)
	cb, _ := canonical(b).(map[string]any)
	keys := map[string]bool{}
	for k := range ca {
		keys[k] = true
	}
	for k := range cb {
		keys[k] = true
	}
	var out []string
	for k := range keys {
		if !reflect.DeepEqual(ca[k], cb[k]) {
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return out
}

func canonical(v any) any {
	b, err := json.Marshal(v)
	if err != nil {
		return nil
	}
	var x any
	if err := json.Unmarshal(b, &x); err != nil {
		return nil
	}
	return stripZero(x)
}

func stripZero(x any) any {
	switch t := x.(type) {
	case map[string]any:
		for k, v := range t {
			if v = stripZero(v); isZeroJSON(v) {
				delete(t, k)
			} else {
				t[k] = v
			}
		}
		return t
	case []any:
		for i := range t {
			t[i] = stripZero(t[i])
		}
		return t
	}
	return x
}

func isZeroJSON(v any) bool {
	switch t := v.(type) {
	case nil:
		return true
	case bool:
		return !t
	case float64:
		return t == 0
	case string:
		return t == "" || t == "0001-01-01T00:00:00Z"
	case map[string]any:
		return len(t) == 0
	case []any:
		return len(t) == 0
	}
	return false
}
