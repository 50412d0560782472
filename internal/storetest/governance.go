package storetest

import (
	"errors"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse"
	"github.com/google/go-cmp/cmp"
)

// diffExact compares governance objects, revisions included.
func diffExact(got, want any) string { return cmp.Diff(got, want, exact) }

func wantStale(t *testing.T, err error) {
	t.Helper()
	var re *gatehouse.RevisionError
	if !errors.As(err, &re) || gatehouse.ErrorCode(err) != gatehouse.CodeStale {
		t.Fatalf("error %v: want a *RevisionError (stale)", err)
	}
}

// newAPI returns an API version with every stored field set.
func newAPI(name string) *gatehouse.API {
	rl := &gatehouse.RateLimit{Rate: 10, Period: time.Second, Burst: 5}
	return &gatehouse.API{
		Name: name, Audience: "https://" + name + ".example", Scopes: []string{"read", "write"},
		Family: "orders", Version: "v2", Approval: gatehouse.ApprovalManual, Description: "Orders, version 2",
		OpenAPI:     []byte(`{"openapi":"3.1.0","info":{"title":"Orders","version":"2"},"paths":{}}`),
		TokenFormat: gatehouse.FormatOpaque, AccessTokenTTL: 7 * time.Minute,
		Lifecycle: gatehouse.LifecycleDeprecated, SunsetAt: t0.Add(90 * 24 * time.Hour),
		Upstream: gatehouse.Upstream{Targets: []string{"http://10.0.0.1:8080", "http://10.0.0.2:8080"}},
		Routes: []gatehouse.Route{
			{Path: "/orders/*", Methods: []string{"GET"}, Scopes: []string{"read"}, ScopeMode: "any",
				Credential: gatehouse.CredentialBearer, AllowQueryToken: true, RateLimit: rl},
			{Path: "/health", Credential: gatehouse.CredentialNone},
		},
		Hosts: []string{"api.example"},
		UpstreamPolicy: gatehouse.UpstreamPolicy{Balance: gatehouse.BalanceLeastConn, Forwarding: gatehouse.ForwardingNone, ConnectTimeout: time.Second,
			ReadTimeout: 3 * time.Second, Retries: -1, HealthPath: "/health", HealthInterval: 5 * time.Second},
		UpstreamAuth: gatehouse.UpstreamAuth{IdentityHeaders: true, MintToken: true, MintAudience: "urn:orders",
			StaticHeader: "X-Key", SealedStaticValue: []byte{1, 2, 3}},
		Traffic: gatehouse.Traffic{PerClient: rl, SpikeArrest: &gatehouse.RateLimit{Rate: 100, Period: time.Minute},
			Quota: gatehouse.Quota{Daily: 1000, Monthly: 20000}, IPAllow: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")},
			IPDeny: []netip.Prefix{netip.MustParsePrefix("10.9.0.0/16")}},
		ExternalIssuers: []string{"corp"},
		Source:          gatehouse.SourceAdmin,
		CreatedAt:       t0, UpdatedAt: t0.Add(time.Second),
	}
}

func createAPI(t *testing.T, s Store, a *gatehouse.API) {
	t.Helper()
	if err := s.CreateAPI(t.Context(), a); err != nil {
		t.Fatalf("CreateAPI(%q): %v", a.Name, err)
	}
}

// publishedAPI returns a minimal published API with auto approval.
func publishedAPI(name string) *gatehouse.API {
	return &gatehouse.API{Name: name, Audience: "https://" + name + ".example", Scopes: []string{"read", "write"},
		Lifecycle: gatehouse.LifecyclePublished, Source: gatehouse.SourceConfig, CreatedAt: t0, UpdatedAt: t0}
}

// subscribe opens a subscription of app to api through the domain.
func subscribe(t *testing.T, s Store, id, app string, api *gatehouse.API) *gatehouse.Subscription {
	t.Helper()
	sub, c, err := gatehouse.NewSubscription(id, app, api, nil, time.Time{}, "dev", t0)
	must(t, err)
	sub.Source = gatehouse.SourceAdmin
	must(t, s.CreateSubscription(t.Context(), sub, c))
	return sub
}

var teamTests = []test{
	{"RoundTripAndRevision", func(t *testing.T, s Store) {
		ctx := t.Context()
		team := &gatehouse.Team{Name: "blue", Description: "Blue team", Source: gatehouse.SourceAdmin, CreatedAt: t0, UpdatedAt: t0}
		must(t, s.CreateTeam(ctx, team))
		if team.Revision != 1 {
			t.Fatalf("revision after create %d", team.Revision)
		}
		got, err := s.FindTeam(ctx, "blue")
		must(t, err)
		if d := diffExact(got, team); d != "" {
			t.Fatalf("FindTeam (-got +want):\n%s", d)
		}
		wantCode(t, s.CreateTeam(ctx, &gatehouse.Team{Name: "blue"}), gatehouse.CodeConflict)
		wantCode(t, s.CreateTeam(ctx, &gatehouse.Team{}), gatehouse.CodeInvalid)

		got.Description = "changed"
		must(t, s.UpdateTeam(ctx, got))
		if got.Revision != 2 {
			t.Fatalf("revision after update %d, want 2", got.Revision)
		}
		stale := *team // revision 1
		stale.Description = "lost update"
		wantStale(t, s.UpdateTeam(ctx, &stale))
		again, err := s.FindTeam(ctx, "blue")
		must(t, err)
		if again.Description != "changed" || again.Revision != 2 {
			t.Fatalf("after a stale update: %+v", again)
		}
		wantCode(t, s.UpdateTeam(ctx, &gatehouse.Team{Name: "nope"}), gatehouse.CodeNotFound)
	}},
	{"DeleteRefusedWhileUsed", func(t *testing.T, s Store) {
		ctx := t.Context()
		must(t, s.CreateTeam(ctx, &gatehouse.Team{Name: "blue"}))
		c := newClient("a")
		c.Team = "blue"
		createClient(t, s, c)
		wantCode(t, s.DeleteTeam(ctx, "blue", 0), gatehouse.CodeConflict)
		must(t, s.DeleteClient(ctx, "a"))
		u := newUser("u1", "dev")
		u.Role, u.Team = gatehouse.RoleDeveloper, "blue"
		must(t, s.CreateUser(ctx, u))
		wantCode(t, s.DeleteTeam(ctx, "blue", 0), gatehouse.CodeConflict)
		u.Team = ""
		must(t, s.UpdateUser(ctx, u))
		wantStale(t, s.DeleteTeam(ctx, "blue", 7))
		must(t, s.DeleteTeam(ctx, "blue", 1))
		_, err := s.FindTeam(ctx, "blue")
		wantCode(t, err, gatehouse.CodeNotFound)
		wantCode(t, s.DeleteTeam(ctx, "blue", 0), gatehouse.CodeNotFound)
	}},
	{"Pages", func(t *testing.T, s Store) {
		ctx := t.Context()
		names := []string{"e", "a", "d", "b", "c"}
		for _, n := range names {
			must(t, s.CreateTeam(ctx, &gatehouse.Team{Name: n}))
		}
		var got []string
		cursor, pages := "", 0
		for {
			page, next, err := s.FindTeams(ctx, gatehouse.TeamFilter{Page: gatehouse.Page{Cursor: cursor, Limit: 2}})
			must(t, err)
			pages++
			for _, tm := range page {
				got = append(got, tm.Name)
			}
			if next == "" {
				break
			}
			if pages > 5 {
				t.Fatal("pages never end")
			}
			cursor = next
		}
		if !slices.Equal(got, []string{"a", "b", "c", "d", "e"}) || pages != 3 {
			t.Fatalf("pages %d, names %v", pages, got)
		}
		_, _, err := s.FindTeams(ctx, gatehouse.TeamFilter{Page: gatehouse.Page{Cursor: "not a cursor!"}})
		wantCode(t, err, gatehouse.CodeInvalid)
	}},
}

var apiTests = []test{
	{"RoundTrip", func(t *testing.T, s Store) {
		want := newAPI("orders-v2")
		createAPI(t, s, want)
		got, err := s.FindAPI(t.Context(), "orders-v2")
		must(t, err)
		if d := diffExact(got, want); d != "" {
			t.Fatalf("FindAPI (-got +want):\n%s", d)
		}
	}},
	{"StaticValueNeverStored", func(t *testing.T, s Store) {
		a := publishedAPI("x")
		a.UpstreamAuth = gatehouse.UpstreamAuth{StaticHeader: "X-Key", StaticValue: "clear-text-secret"}
		createAPI(t, s, a)
		got, err := s.FindAPI(t.Context(), "x")
		must(t, err)
		if got.UpstreamAuth.StaticValue != "" {
			t.Fatal("the clear static value was stored")
		}
	}},
	{"Defaults", func(t *testing.T, s Store) {
		createAPI(t, s, &gatehouse.API{Name: "x", Audience: "https://x.example", CreatedAt: t0})
		got, err := s.FindAPI(t.Context(), "x")
		must(t, err)
		if got.Approval != gatehouse.ApprovalAuto || got.Lifecycle != gatehouse.LifecyclePublished || got.Family != "x" || got.Revision != 1 {
			t.Fatalf("defaults: %+v", got)
		}
	}},
	{"Conflicts", func(t *testing.T, s Store) {
		createAPI(t, s, publishedAPI("x"))
		wantCode(t, s.CreateAPI(t.Context(), publishedAPI("x")), gatehouse.CodeConflict)
		same := publishedAPI("y")
		same.Audience = "https://x.example"
		wantCode(t, s.CreateAPI(t.Context(), same), gatehouse.CodeConflict)
		wantCode(t, s.CreateAPI(t.Context(), &gatehouse.API{Name: "z"}), gatehouse.CodeInvalid)
		wantCode(t, s.CreateAPI(t.Context(), &gatehouse.API{Audience: "https://z.example"}), gatehouse.CodeInvalid)
	}},
	{"LifecycleRecorded", func(t *testing.T, s Store) {
		ctx := t.Context()
		a := publishedAPI("x")
		a.Lifecycle = gatehouse.LifecycleDraft
		createAPI(t, s, a)

		a.Lifecycle = gatehouse.LifecyclePublished // moved without a recorded step
		wantCode(t, s.UpdateAPI(ctx, a, nil), gatehouse.CodeInvalid)
		a.Lifecycle = gatehouse.LifecycleDraft

		c, err := a.SetLifecycle(gatehouse.LifecyclePublished, time.Time{}, "alice", "ready", t0.Add(time.Hour))
		must(t, err)
		must(t, s.UpdateAPI(ctx, a, &c))
		c2, err := a.SetLifecycle(gatehouse.LifecycleDeprecated, t0.Add(48*time.Hour), "bob", "v3 is out", t0.Add(2*time.Hour))
		must(t, err)
		must(t, s.UpdateAPI(ctx, a, &c2))
		if a.Revision != 3 {
			t.Fatalf("revision %d, want 3", a.Revision)
		}
		got, err := s.FindAPI(ctx, "x")
		must(t, err)
		if got.Lifecycle != gatehouse.LifecycleDeprecated || !got.SunsetAt.Equal(t0.Add(48*time.Hour)) {
			t.Fatalf("stored %s sunset %v", got.Lifecycle, got.SunsetAt)
		}
		steps, next, err := s.FindStateChanges(ctx, gatehouse.StateChangeFilter{Kind: gatehouse.ObjectAPI, ID: "x"})
		must(t, err)
		want := []gatehouse.StateChange{
			{Kind: "api", ID: "x", From: "", To: "draft", Actor: "config", Reason: "created", At: t0},
			c, c2,
		}
		if d := diff(steps, want); d != "" || next != "" {
			t.Fatalf("steps (-got +want):\n%s next %q", d, next)
		}
		// A step that does not describe the stored move is refused.
		bad := c2
		a.Lifecycle, bad.From, bad.To = gatehouse.LifecycleRetired, "published", "retired"
		wantCode(t, s.UpdateAPI(ctx, a, &bad), gatehouse.CodeInvalid)
	}},
	{"StaleRevision", func(t *testing.T, s Store) {
		a := publishedAPI("x")
		createAPI(t, s, a)
		b := *a
		a.Description = "first"
		must(t, s.UpdateAPI(t.Context(), a, nil))
		b.Description = "second"
		wantStale(t, s.UpdateAPI(t.Context(), &b, nil))
		got, _ := s.FindAPI(t.Context(), "x")
		if got.Description != "first" {
			t.Fatalf("description %q", got.Description)
		}
		wantCode(t, s.UpdateAPI(t.Context(), publishedAPI("nope"), nil), gatehouse.CodeNotFound)
	}},
	{"Delete", func(t *testing.T, s Store) {
		ctx := t.Context()
		a := publishedAPI("x")
		createAPI(t, s, a)
		createClient(t, s, newClient("app"))
		subscribe(t, s, "s1", "app", a)
		wantCode(t, s.DeleteAPI(ctx, "x", 0), gatehouse.CodeConflict)
		c, _ := a.SetLifecycle(gatehouse.LifecycleDeprecated, t0.Add(time.Hour), "a", "", t0)
		must(t, s.UpdateAPI(ctx, a, &c))
		c, _ = a.SetLifecycle(gatehouse.LifecycleRetired, time.Time{}, "a", "", t0)
		must(t, s.UpdateAPI(ctx, a, &c))
		wantStale(t, s.DeleteAPI(ctx, "x", 1))
		must(t, s.DeleteAPI(ctx, "x", a.Revision))
		_, err := s.FindSubscription(ctx, "s1")
		wantCode(t, err, gatehouse.CodeNotFound)
		wantCode(t, s.DeleteAPI(ctx, "x", 0), gatehouse.CodeNotFound)
	}},
	{"Filters", func(t *testing.T, s Store) {
		for _, a := range []*gatehouse.API{
			{Name: "orders-v1", Audience: "https://o1", Family: "orders", Lifecycle: gatehouse.LifecycleRetired, Source: gatehouse.SourceConfig},
			{Name: "orders-v2", Audience: "https://o2", Family: "orders", Lifecycle: gatehouse.LifecyclePublished, Source: gatehouse.SourceApply},
			{Name: "stock", Audience: "https://s", Lifecycle: gatehouse.LifecyclePublished, Source: gatehouse.SourceApply},
		} {
			a.CreatedAt = t0
			createAPI(t, s, a)
		}
		names := func(f gatehouse.APIFilter) []string {
			as, _, err := s.FindAPIs(t.Context(), f)
			must(t, err)
			var out []string
			for _, a := range as {
				out = append(out, a.Name)
			}
			return out
		}
		for _, tc := range []struct {
			f    gatehouse.APIFilter
			want []string
		}{
			{gatehouse.APIFilter{}, []string{"orders-v1", "orders-v2", "stock"}},
			{gatehouse.APIFilter{Family: "orders"}, []string{"orders-v1", "orders-v2"}},
			{gatehouse.APIFilter{Lifecycle: gatehouse.LifecyclePublished}, []string{"orders-v2", "stock"}},
			{gatehouse.APIFilter{Source: gatehouse.SourceConfig}, []string{"orders-v1"}},
			{gatehouse.APIFilter{Family: "stock"}, []string{"stock"}},
		} {
			if got := names(tc.f); !slices.Equal(got, tc.want) {
				t.Errorf("%+v: %v, want %v", tc.f, got, tc.want)
			}
		}
	}},
}

var appTests = []test{
	{"TeamNetworksRevision", func(t *testing.T, s Store) {
		ctx := t.Context()
		c := newClient("a")
		c.Team = "blue"
		c.Networks = gatehouse.ClientNetworks{Allow: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")},
			Deny: []netip.Prefix{netip.MustParsePrefix("10.1.0.0/16")}}
		createClient(t, s, c)
		got, err := s.FindClientByID(ctx, "a")
		must(t, err)
		if d := diffExact(got, c); d != "" || got.Revision != 1 {
			t.Fatalf("FindClientByID (-got +want):\n%s", d)
		}
		stale := *got
		got.Name = "renamed"
		must(t, s.UpdateClient(ctx, got))
		if got.Revision != 2 {
			t.Fatalf("revision %d", got.Revision)
		}
		stale.Name = "lost"
		wantStale(t, s.UpdateClient(ctx, &stale))
		stale.Revision = 0 // no check: as before governance
		must(t, s.UpdateClient(ctx, &stale))
	}},
	{"PagesByTeam", func(t *testing.T, s Store) {
		for _, id := range []string{"a", "b", "c", "d"} {
			c := newClient(id)
			if id != "c" {
				c.Team = "blue"
			}
			createClient(t, s, c)
		}
		p1, next, err := s.FindClientPage(t.Context(), gatehouse.ClientFilter{Team: "blue", Page: gatehouse.Page{Limit: 2}})
		must(t, err)
		p2, last, err := s.FindClientPage(t.Context(), gatehouse.ClientFilter{Team: "blue", Page: gatehouse.Page{Limit: 2, Cursor: next}})
		must(t, err)
		if len(p1) != 2 || p1[0].ID != "a" || p1[1].ID != "b" || len(p2) != 1 || p2[0].ID != "d" || last != "" {
			t.Fatalf("pages %v %v, last cursor %q", ids(p1), ids(p2), last)
		}
		all, err := s.FindClients(t.Context(), gatehouse.ClientFilter{Team: "blue"})
		must(t, err)
		if len(all) != 3 {
			t.Fatalf("FindClients by team: %v", ids(all))
		}
	}},
	{"DeleteApp", func(t *testing.T, s Store) {
		ctx := t.Context()
		a := publishedAPI("x")
		createAPI(t, s, a)
		createClient(t, s, newClient("app"))
		createClient(t, s, newClient("other"))
		subscribe(t, s, "s1", "app", a)
		subscribe(t, s, "s2", "other", a)
		cred := &gatehouse.Credential{ID: "k1", ClientID: "app", Kind: gatehouse.CredentialSecret, Hash: gatehouse.HashSecret("k1"), CreatedAt: t0}
		must(t, s.CreateCredential(ctx, cred))
		wantStale(t, s.DeleteApp(ctx, "app", 9, "alice", t0.Add(time.Minute)))
		must(t, s.DeleteApp(ctx, "app", 1, "alice", t0.Add(time.Minute)))
		_, err := s.FindClientByID(ctx, "app")
		wantCode(t, err, gatehouse.CodeNotFound)
		sub, err := s.FindSubscription(ctx, "s1")
		must(t, err)
		if sub.State != gatehouse.SubRevoked {
			t.Fatalf("subscription of a deleted app: %s", sub.State)
		}
		other, _ := s.FindSubscription(ctx, "s2")
		if other.State != gatehouse.SubApproved {
			t.Fatalf("another app's subscription: %s", other.State)
		}
		k, err := s.FindCredential(ctx, "k1")
		must(t, err)
		if k.RevokedAt.IsZero() {
			t.Fatal("credential of a deleted app not revoked")
		}
		cuts, err := s.FindCutoffs(ctx, t0)
		must(t, err)
		if d := diff(cuts, []gatehouse.Cutoff{{ClientID: "app", At: t0.Add(time.Minute)}}); d != "" {
			t.Fatalf("cutoffs (-got +want):\n%s", d)
		}
		wantCode(t, s.DeleteApp(ctx, "app", 0, "alice", t0), gatehouse.CodeNotFound)
	}},
}

func ids(cs []*gatehouse.Client) []string {
	var out []string
	for _, c := range cs {
		out = append(out, c.ID)
	}
	return out
}

var subscriptionTests = []test{
	{"RoundTrip", func(t *testing.T, s Store) {
		ctx := t.Context()
		a := publishedAPI("x")
		a.Approval = gatehouse.ApprovalManual
		createAPI(t, s, a)
		createClient(t, s, newClient("app"))
		sub, c, err := gatehouse.NewSubscription("s1", "app", a, []string{"read", "write"}, t0.Add(time.Hour), "dev", t0)
		must(t, err)
		sub.Source = gatehouse.SourceAdmin
		must(t, s.CreateSubscription(ctx, sub, c))
		got, err := s.FindSubscription(ctx, "s1")
		must(t, err)
		if d := diffExact(got, sub); d != "" || got.Revision != 1 {
			t.Fatalf("FindSubscription (-got +want):\n%s", d)
		}
	}},
	{"References", func(t *testing.T, s Store) {
		ctx := t.Context()
		a := publishedAPI("x")
		createAPI(t, s, a)
		sub, c, _ := gatehouse.NewSubscription("s1", "ghost", a, nil, time.Time{}, "dev", t0)
		wantCode(t, s.CreateSubscription(ctx, sub, c), gatehouse.CodeNotFound)
		createClient(t, s, newClient("app"))
		b := publishedAPI("gone")
		sub, c, _ = gatehouse.NewSubscription("s1", "app", b, nil, time.Time{}, "dev", t0)
		wantCode(t, s.CreateSubscription(ctx, sub, c), gatehouse.CodeNotFound)
		sub, c, _ = gatehouse.NewSubscription("s1", "app", a, nil, time.Time{}, "dev", t0)
		c.To = "pending" // does not describe it
		wantCode(t, s.CreateSubscription(ctx, sub, c), gatehouse.CodeInvalid)
	}},
	{"OneOpenPerAppAndAPI", func(t *testing.T, s Store) {
		ctx := t.Context()
		a := publishedAPI("x")
		createAPI(t, s, a)
		createClient(t, s, newClient("app"))
		first := subscribe(t, s, "s1", "app", a)
		sub, c, _ := gatehouse.NewSubscription("s2", "app", a, nil, time.Time{}, "dev", t0)
		wantCode(t, s.CreateSubscription(ctx, sub, c), gatehouse.CodeConflict)
		rc, err := first.Revoke("admin", "done", t0.Add(time.Minute))
		must(t, err)
		must(t, s.UpdateSubscription(ctx, first, &rc))
		must(t, s.CreateSubscription(ctx, sub, c)) // closed ones do not count
	}},
	{"SuspendWritesCutoff", func(t *testing.T, s Store) {
		ctx := t.Context()
		a := publishedAPI("x")
		createAPI(t, s, a)
		createClient(t, s, newClient("app"))
		sub := subscribe(t, s, "s1", "app", a)
		before, err := s.ChangeCounter(ctx)
		must(t, err)
		c, err := sub.Suspend("admin", "abuse", t0.Add(time.Minute))
		must(t, err)
		must(t, s.UpdateSubscription(ctx, sub, &c))
		if sub.Revision != 2 {
			t.Fatalf("revision %d", sub.Revision)
		}
		cuts, err := s.FindCutoffs(ctx, t0)
		must(t, err)
		if d := diff(cuts, []gatehouse.Cutoff{{ClientID: "app", Audience: "https://x.example", At: t0.Add(time.Minute)}}); d != "" {
			t.Fatalf("cutoffs (-got +want):\n%s", d)
		}
		after, err := s.ChangeCounter(ctx)
		must(t, err)
		if after == before {
			t.Fatal("the change counter did not move")
		}
		got, _ := s.FindSubscription(ctx, "s1")
		if got.State != gatehouse.SubSuspended || got.Reason != "abuse" {
			t.Fatalf("stored %s %q", got.State, got.Reason)
		}
		rc, err := got.Resume("admin", "", t0.Add(2*time.Minute))
		must(t, err)
		must(t, s.UpdateSubscription(ctx, got, &rc))
		steps, _, err := s.FindStateChanges(ctx, gatehouse.StateChangeFilter{Kind: gatehouse.ObjectSubscription, ID: "s1"})
		must(t, err)
		var path []string
		for _, st := range steps {
			path = append(path, st.From+">"+st.To)
		}
		if !slices.Equal(path, []string{">approved", "approved>suspended", "suspended>approved"}) {
			t.Fatalf("steps %v", path)
		}
	}},
	{"StateMovesNeedAStep", func(t *testing.T, s Store) {
		ctx := t.Context()
		a := publishedAPI("x")
		createAPI(t, s, a)
		createClient(t, s, newClient("app"))
		sub := subscribe(t, s, "s1", "app", a)
		sub.State = gatehouse.SubRevoked
		wantCode(t, s.UpdateSubscription(ctx, sub, nil), gatehouse.CodeInvalid)
		sub.State = gatehouse.SubApproved
		sub.ApprovedScopes = []string{"read"} // no state move: no step needed
		must(t, s.UpdateSubscription(ctx, sub, nil))
		stale := *sub
		stale.Revision = 1
		wantStale(t, s.UpdateSubscription(ctx, &stale, nil))
		moved := *sub
		moved.API = "y"
		wantCode(t, s.UpdateSubscription(ctx, &moved, nil), gatehouse.CodeInvalid)
	}},
	{"Filters", func(t *testing.T, s Store) {
		ctx := t.Context()
		x, y := publishedAPI("x"), publishedAPI("y")
		y.Approval = gatehouse.ApprovalManual
		createAPI(t, s, x)
		createAPI(t, s, y)
		blue := newClient("blue-app")
		blue.Team = "blue"
		createClient(t, s, blue)
		createClient(t, s, newClient("red-app"))
		subscribe(t, s, "s1", "blue-app", x)
		subscribe(t, s, "s2", "blue-app", y)
		subscribe(t, s, "s3", "red-app", x)
		list := func(f gatehouse.SubscriptionFilter) []string {
			subs, _, err := s.FindSubscriptions(ctx, f)
			must(t, err)
			var out []string
			for _, s := range subs {
				out = append(out, s.ID)
			}
			return out
		}
		for _, tc := range []struct {
			f    gatehouse.SubscriptionFilter
			want []string
		}{
			{gatehouse.SubscriptionFilter{}, []string{"s1", "s2", "s3"}},
			{gatehouse.SubscriptionFilter{ClientID: "blue-app"}, []string{"s1", "s2"}},
			{gatehouse.SubscriptionFilter{API: "x"}, []string{"s1", "s3"}},
			{gatehouse.SubscriptionFilter{State: gatehouse.SubPending}, []string{"s2"}},
			{gatehouse.SubscriptionFilter{Team: "blue"}, []string{"s1", "s2"}},
			{gatehouse.SubscriptionFilter{Team: "blue", State: gatehouse.SubApproved}, []string{"s1"}},
			{gatehouse.SubscriptionFilter{Page: gatehouse.Page{Limit: 1}}, []string{"s1"}},
		} {
			if got := list(tc.f); !slices.Equal(got, tc.want) {
				t.Errorf("%+v: %v, want %v", tc.f, got, tc.want)
			}
		}
		byClient, err := s.FindSubscriptionsByClient(ctx, "blue-app")
		must(t, err)
		if len(byClient) != 2 || byClient[0].ID != "s1" || byClient[1].ID != "s2" {
			t.Errorf("FindSubscriptionsByClient: %v", byClient)
		}
		none, err := s.FindSubscriptionsByClient(ctx, "nobody")
		must(t, err)
		if len(none) != 0 {
			t.Errorf("subscriptions of nobody: %v", none)
		}
	}},
}

var credentialTests = []test{
	apiKeyTest,
	{"RoundTrip", func(t *testing.T, s Store) {
		ctx := t.Context()
		createClient(t, s, newClient("app"))
		want := []*gatehouse.Credential{
			{ID: "c1", ClientID: "app", Kind: gatehouse.CredentialSecret, Hash: gatehouse.HashSecret("one"), Label: "2031 Q1",
				ExpiresAt: t0.Add(time.Hour), CreatedAt: t0},
			{ID: "c2", ClientID: "app", Kind: gatehouse.CredentialPrivateKeyJWT, JWK: []byte(`{"kty":"OKP"}`), CreatedAt: t0},
			{ID: "c3", ClientID: "app", Kind: gatehouse.CredentialKey, Hash: gatehouse.HashSecret("three"), API: "x", CreatedAt: t0},
		}
		for _, c := range want {
			must(t, s.CreateCredential(ctx, c))
		}
		got, err := s.FindCredentials(ctx, gatehouse.CredentialFilter{ClientID: "app"})
		must(t, err)
		if d := diffExact(got, want); d != "" {
			t.Fatalf("FindCredentials (-got +want):\n%s", d)
		}
		keys, err := s.FindCredentials(ctx, gatehouse.CredentialFilter{ClientID: "app", Kind: gatehouse.CredentialKey})
		must(t, err)
		if len(keys) != 1 || keys[0].ID != "c3" {
			t.Fatalf("by kind: %v", keys)
		}
		dup := &gatehouse.Credential{ID: "c4", ClientID: "app", Kind: gatehouse.CredentialSecret, Hash: gatehouse.HashSecret("one")}
		wantCode(t, s.CreateCredential(ctx, dup), gatehouse.CodeConflict)
		wantCode(t, s.CreateCredential(ctx, &gatehouse.Credential{ID: "c5", ClientID: "app", Kind: gatehouse.CredentialSecret}), gatehouse.CodeInvalid)
		wantCode(t, s.CreateCredential(ctx, &gatehouse.Credential{ID: "c6", ClientID: "ghost", Kind: gatehouse.CredentialKey,
			Hash: gatehouse.HashSecret("six")}), gatehouse.CodeNotFound)
	}},
	{"RevokeRevokesItsTokensOnly", func(t *testing.T, s Store) {
		ctx := t.Context()
		createClient(t, s, newClient("app"))
		cred := &gatehouse.Credential{ID: "cred-1", ClientID: "app", Kind: gatehouse.CredentialSecret, Hash: gatehouse.HashSecret("one"), CreatedAt: t0}
		must(t, s.CreateCredential(ctx, cred))
		mine := newToken("mine", "", t0.Add(time.Hour))
		other := newToken("other", "", t0.Add(time.Hour))
		other.CredentialID = "cred-2"
		expired := newToken("expired", "", t0.Add(-time.Second))
		createToken(t, s, mine)
		createToken(t, s, other)
		createToken(t, s, expired)
		c, err := cred.Revoke("alice", "leaked", t0)
		must(t, err)
		revs, err := s.RevokeCredential(ctx, cred, c)
		must(t, err)
		if d := diff(revs, []gatehouse.Revocation{{TokenID: "mine", Until: t0.Add(time.Hour)}}); d != "" {
			t.Fatalf("revocations (-got +want):\n%s", d)
		}
		for id, revoked := range map[string]bool{"mine": true, "other": false, "expired": false} {
			tok, err := s.FindTokenByID(ctx, id)
			must(t, err)
			if !tok.RevokedAt.IsZero() != revoked {
				t.Errorf("token %s revoked at %v", id, tok.RevokedAt)
			}
		}
		got, _ := s.FindCredential(ctx, "cred-1")
		if !got.RevokedAt.Equal(t0) || got.Revision != 2 {
			t.Fatalf("stored %+v", got)
		}
		got.RevokedAt = time.Time{}
		c2, _ := got.Revoke("alice", "", t0)
		_, err = s.RevokeCredential(ctx, got, c2)
		wantCode(t, err, gatehouse.CodeConflict)
		steps, _, _ := s.FindStateChanges(ctx, gatehouse.StateChangeFilter{Kind: gatehouse.ObjectCredential})
		if len(steps) != 1 || steps[0].Reason != "leaked" {
			t.Fatalf("steps %+v", steps)
		}
	}},
}

// apiKeyTest checks CreateAPIKey: the credential and its token together.
var apiKeyTest = test{"APIKey", func(t *testing.T, s Store) {
	ctx := t.Context()
	createClient(t, s, newClient("app"))
	c := &gatehouse.Credential{ID: "k1", ClientID: "app", Kind: gatehouse.CredentialKey, Hash: gatehouse.HashSecret("key"), API: "x", CreatedAt: t0}
	tok := newToken("kt", "", t0.Add(time.Hour))
	tok.Kind, tok.ClientID, tok.CredentialID, tok.Hash = gatehouse.KindAPIKey, "app", "k1", gatehouse.HashSecret("key")
	bad := *tok
	bad.CredentialID = "other"
	wantCode(t, s.CreateAPIKey(ctx, c, &bad), gatehouse.CodeInvalid)
	must(t, s.CreateAPIKey(ctx, c, tok))
	if _, err := s.FindCredential(ctx, "k1"); err != nil {
		t.Fatal(err)
	}
	got, err := s.FindTokenByHash(ctx, gatehouse.HashSecret("key"))
	must(t, err)
	if got.CredentialID != "k1" || got.Kind != gatehouse.KindAPIKey {
		t.Fatalf("token %+v", got)
	}
	// Nothing half-written: a taken token hash leaves no credential.
	c2 := &gatehouse.Credential{ID: "k2", ClientID: "app", Kind: gatehouse.CredentialKey, Hash: gatehouse.HashSecret("key2"), CreatedAt: t0}
	tok2 := *tok
	tok2.ID, tok2.CredentialID = "kt2", "k2"
	wantCode(t, s.CreateAPIKey(ctx, c2, &tok2), gatehouse.CodeConflict)
	_, err = s.FindCredential(ctx, "k2")
	wantCode(t, err, gatehouse.CodeNotFound)
	step, _ := c.Revoke("admin", "", t0)
	revs, err := s.RevokeCredential(ctx, c, step)
	must(t, err)
	if len(revs) != 1 || revs[0].TokenID != "kt" {
		t.Fatalf("revoking the key's credential: %v", revs)
	}
}}

var cutoffTests = []test{
	{"ForwardOnly", func(t *testing.T, s Store) {
		ctx := t.Context()
		must(t, s.AddCutoff(ctx, gatehouse.Cutoff{ClientID: "a", Audience: "https://x", At: t0.Add(time.Minute)}))
		must(t, s.AddCutoff(ctx, gatehouse.Cutoff{ClientID: "a", Audience: "https://x", At: t0})) // earlier: ignored
		must(t, s.AddCutoff(ctx, gatehouse.Cutoff{Audience: "https://y", At: t0.Add(-time.Hour)}))
		wantCode(t, s.AddCutoff(ctx, gatehouse.Cutoff{At: t0}), gatehouse.CodeInvalid)
		wantCode(t, s.AddCutoff(ctx, gatehouse.Cutoff{ClientID: "a"}), gatehouse.CodeInvalid)
		got, err := s.FindCutoffs(ctx, t0.Add(-2*time.Hour))
		must(t, err)
		want := []gatehouse.Cutoff{{Audience: "https://y", At: t0.Add(-time.Hour)}, {ClientID: "a", Audience: "https://x", At: t0.Add(time.Minute)}}
		if d := diff(got, want); d != "" {
			t.Fatalf("cutoffs (-got +want):\n%s", d)
		}
		recent, _ := s.FindCutoffs(ctx, t0)
		if len(recent) != 1 {
			t.Fatalf("since t0: %v", recent)
		}
		n, err := s.DeleteCutoffsBefore(ctx, t0)
		must(t, err)
		if n != 1 {
			t.Fatalf("deleted %d", n)
		}
	}},
	{"BulkRevoke", func(t *testing.T, s Store) {
		ctx := t.Context()
		e := &gatehouse.SecurityEvent{ID: "e1", Type: gatehouse.EventAPITokensRevoked, Detail: "api x", At: t0}
		must(t, s.BulkRevoke(ctx, gatehouse.Cutoff{Audience: "https://x", At: t0}, e))
		cuts, _ := s.FindCutoffs(ctx, t0)
		evs, err := s.FindEvents(ctx, gatehouse.EventFilter{Type: gatehouse.EventAPITokensRevoked})
		must(t, err)
		if len(cuts) != 1 || len(evs) != 1 || evs[0].Detail != "api x" {
			t.Fatalf("cutoffs %v events %v", cuts, evs)
		}
		// Nothing half-written: a bad cutoff records no event either.
		wantCode(t, s.BulkRevoke(ctx, gatehouse.Cutoff{At: t0}, &gatehouse.SecurityEvent{ID: "e2", Type: "x", At: t0}), gatehouse.CodeInvalid)
		evs, _ = s.FindEvents(ctx, gatehouse.EventFilter{})
		if len(evs) != 1 {
			t.Fatalf("events after a refused bulk revocation: %d", len(evs))
		}
	}},
	{"ChangeCounter", func(t *testing.T, s Store) {
		ctx := t.Context()
		n0, err := s.ChangeCounter(ctx)
		must(t, err)
		createToken(t, s, newToken("t1", "", t0.Add(time.Hour))) // issuing tokens is not a change
		n1, _ := s.ChangeCounter(ctx)
		if n1 != n0 {
			t.Fatalf("a new token moved the counter %d -> %d", n0, n1)
		}
		createAPI(t, s, publishedAPI("x"))
		n2, _ := s.ChangeCounter(ctx)
		must(t, s.CreateTeam(ctx, &gatehouse.Team{Name: "t"}))
		n3, _ := s.ChangeCounter(ctx)
		if !(n2 > n1 && n3 > n2) {
			t.Fatalf("counter %d %d %d %d", n0, n1, n2, n3)
		}
	}},
}

var accountTests = []test{
	{"RoleAndTeam", func(t *testing.T, s Store) {
		ctx := t.Context()
		u := newUser("u1", "dev")
		u.Role, u.Team = gatehouse.RoleDeveloper, "blue"
		must(t, s.CreateUser(ctx, u))
		got, err := s.FindUserByID(ctx, "u1")
		must(t, err)
		if d := diffExact(got, u); d != "" || got.Revision != 1 {
			t.Fatalf("FindUserByID (-got +want):\n%s", d)
		}
		stale := *got
		got.Role = gatehouse.RoleAdmin
		must(t, s.UpdateUser(ctx, got))
		wantStale(t, s.UpdateUser(ctx, &stale))
		bad := newUser("u2", "x")
		bad.Role = "root"
		wantCode(t, s.CreateUser(ctx, bad), gatehouse.CodeInvalid)
	}},
}
