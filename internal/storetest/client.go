package storetest

import (
	"testing"
	"time"

	"github.com/gatehouse/gatehouse"
)

// newClient returns a client with every field set.
func newClient(id string) *gatehouse.Client {
	return &gatehouse.Client{
		ID:           id,
		Name:         "Client " + id,
		AuthMethod:   gatehouse.AuthPrivateKeyJWT,
		SecretHash:   gatehouse.HashSecret("secret-" + id),
		JWKS:         []byte(`{"keys":[{"kty":"OKP","crv":"Ed25519","x":"` + id + `"}]}`),
		GrantTypes:   []string{gatehouse.GrantClientCredentials, gatehouse.GrantRefreshToken},
		RedirectURIs: []string{"https://app.example/cb", "https://app.example/cb2?x=1"},
		Access: []gatehouse.Access{
			{API: "orders", Scopes: []string{"orders:read", "orders:write"}, DefaultScopes: []string{"orders:read"}, Introspect: true},
			{API: "billing", Scopes: []string{"billing:read"}},
		},
		TokenFormat: gatehouse.FormatOpaque,
		TLSSubject:  gatehouse.TLSSubject{DN: "CN=" + id + ",O=Example"},
		// Mutual-TLS and token exchange settings (RFC 8705, RFC 8693).
		CertificateBoundTokens: true,
		TokenExchange: []gatehouse.ExchangeRule{
			{From: "orders", To: []string{"billing", "inventory"}},
			{From: "billing", To: []string{"orders"}},
		},
		Source:    gatehouse.SourceConfig,
		Disabled:  true,
		DPoPBound: true,
		// A zone other than UTC: the instant must survive, not the zone.
		CreatedAt: t0.In(time.FixedZone("X", 5*3600)),
		UpdatedAt: t0.Add(time.Second + 1),
	}
}

func createClient(t *testing.T, s Store, c *gatehouse.Client) {
	t.Helper()
	if err := s.CreateClient(t.Context(), c); err != nil {
		t.Fatalf("CreateClient(%q): %v", c.ID, err)
	}
}

var createClientTests = []test{
	{"RoundTrip", func(t *testing.T, s Store) {
		want := newClient("a")
		createClient(t, s, want)
		got, err := s.FindClientByID(t.Context(), "a")
		must(t, err)
		if d := diff(got, want); d != "" {
			t.Fatalf("FindClientByID (-got +want):\n%s", d)
		}
	}},
	{"ZeroFields", func(t *testing.T, s Store) {
		want := &gatehouse.Client{ID: "bare"}
		createClient(t, s, want)
		got, err := s.FindClientByID(t.Context(), "bare")
		must(t, err)
		if d := diff(got, want); d != "" {
			t.Fatalf("FindClientByID (-got +want):\n%s", d)
		}
		if !got.CreatedAt.IsZero() || got.SecretHash != nil {
			t.Fatalf("zero fields came back set: CreatedAt=%v SecretHash=%x", got.CreatedAt, got.SecretHash)
		}
	}},
	{"Conflict", func(t *testing.T, s Store) {
		createClient(t, s, newClient("a"))
		other := newClient("a")
		other.Name = "Other"
		wantCode(t, s.CreateClient(t.Context(), other), gatehouse.CodeConflict)
		got, err := s.FindClientByID(t.Context(), "a")
		must(t, err)
		if got.Name != "Client a" {
			t.Fatalf("Name = %q after a refused create, want %q", got.Name, "Client a")
		}
	}},
	{"NoID", func(t *testing.T, s Store) {
		wantCode(t, s.CreateClient(t.Context(), newClient("")), gatehouse.CodeInvalid)
	}},
}

var findClientByIDTests = []test{
	{"NotFound", func(t *testing.T, s Store) {
		createClient(t, s, newClient("a"))
		c, err := s.FindClientByID(t.Context(), "b")
		wantCode(t, err, gatehouse.CodeNotFound)
		if c != nil {
			t.Fatalf("client = %+v with an error, want nil", c)
		}
	}},
	{"NotFoundMessage", func(t *testing.T, s Store) {
		_, err := s.FindClientByID(t.Context(), "b")
		if got, want := gatehouse.ErrorMessage(err), "client not found"; got != want {
			t.Fatalf("message = %q, want %q", got, want)
		}
	}},
	{"ReturnsCopy", func(t *testing.T, s Store) {
		createClient(t, s, newClient("a"))
		got, err := s.FindClientByID(t.Context(), "a")
		must(t, err)
		got.GrantTypes[0] = "changed"
		got.Access[0].Scopes[0] = "changed"
		again, err := s.FindClientByID(t.Context(), "a")
		must(t, err)
		if d := diff(again, newClient("a")); d != "" {
			t.Fatalf("changing a result changed the store (-got +want):\n%s", d)
		}
	}},
}

var findClientsTests = []test{
	{"Filters", func(t *testing.T, s Store) {
		for _, c := range []struct {
			id     string
			source gatehouse.ClientSource
		}{
			{"d", gatehouse.SourceDynamic},
			{"b", gatehouse.SourceConfig},
			{"a", gatehouse.SourceDynamic},
			{"c", gatehouse.SourceBootstrap},
			{"e", gatehouse.SourceDynamic},
		} {
			cl := newClient(c.id)
			cl.Source = c.source
			createClient(t, s, cl)
		}
		for _, tc := range []struct {
			name   string
			filter gatehouse.ClientFilter
			want   []string
		}{
			{"All", gatehouse.ClientFilter{}, []string{"a", "b", "c", "d", "e"}},
			{"Source", gatehouse.ClientFilter{Source: gatehouse.SourceDynamic}, []string{"a", "d", "e"}},
			{"Limit", gatehouse.ClientFilter{Limit: 2}, []string{"a", "b"}},
			{"SourceAndLimit", gatehouse.ClientFilter{Source: gatehouse.SourceDynamic, Limit: 2}, []string{"a", "d"}},
			{"LimitAboveCount", gatehouse.ClientFilter{Limit: 10}, []string{"a", "b", "c", "d", "e"}},
			{"NoMatch", gatehouse.ClientFilter{Source: "nowhere"}, nil},
		} {
			t.Run(tc.name, func(t *testing.T) {
				cs, err := s.FindClients(t.Context(), tc.filter)
				must(t, err)
				var got []string
				for _, c := range cs {
					got = append(got, c.ID)
				}
				if d := diff(got, tc.want); d != "" {
					t.Fatalf("FindClients(%+v) ids (-got +want):\n%s", tc.filter, d)
				}
			})
		}
	}},
	{"FullRecords", func(t *testing.T, s Store) {
		want := []*gatehouse.Client{newClient("a"), newClient("b")}
		createClient(t, s, want[1])
		createClient(t, s, want[0])
		got, err := s.FindClients(t.Context(), gatehouse.ClientFilter{})
		must(t, err)
		if d := diff(got, want); d != "" {
			t.Fatalf("FindClients (-got +want):\n%s", d)
		}
	}},
	{"Empty", func(t *testing.T, s Store) {
		got, err := s.FindClients(t.Context(), gatehouse.ClientFilter{})
		must(t, err)
		if len(got) != 0 {
			t.Fatalf("FindClients on an empty store = %d clients", len(got))
		}
	}},
}

var updateClientTests = []test{
	{"ReplacesAllButIDAndCreatedAt", func(t *testing.T, s Store) {
		createClient(t, s, newClient("a"))
		upd := &gatehouse.Client{
			ID:           "a",
			Name:         "Renamed",
			AuthMethod:   gatehouse.AuthSecretBasic,
			SecretHash:   gatehouse.HashSecret("new"),
			GrantTypes:   []string{gatehouse.GrantAuthorizationCode},
			RedirectURIs: []string{"https://new.example/cb"},
			Access:       []gatehouse.Access{{API: "other", Scopes: []string{"x"}}},
			TokenFormat:  gatehouse.FormatJWT,
			Source:       gatehouse.SourceDynamic,
			Disabled:     false,
			CreatedAt:    t0.Add(99 * time.Hour), // ignored
			UpdatedAt:    t0.Add(time.Hour + 7),
		}
		must(t, s.UpdateClient(t.Context(), upd))
		got, err := s.FindClientByID(t.Context(), "a")
		must(t, err)
		want := *upd
		want.CreatedAt = newClient("a").CreatedAt
		want.JWKS = nil // replaced by the update's nil
		if d := diff(got, &want); d != "" {
			t.Fatalf("FindClientByID after UpdateClient (-got +want):\n%s", d)
		}
	}},
	{"OnlyThatClient", func(t *testing.T, s Store) {
		createClient(t, s, newClient("a"))
		createClient(t, s, newClient("b"))
		upd := newClient("a")
		upd.Name = "Renamed"
		must(t, s.UpdateClient(t.Context(), upd))
		got, err := s.FindClientByID(t.Context(), "b")
		must(t, err)
		if d := diff(got, newClient("b")); d != "" {
			t.Fatalf("other client changed (-got +want):\n%s", d)
		}
	}},
	{"NotFound", func(t *testing.T, s Store) {
		createClient(t, s, newClient("a"))
		wantCode(t, s.UpdateClient(t.Context(), newClient("b")), gatehouse.CodeNotFound)
		_, err := s.FindClientByID(t.Context(), "b")
		wantCode(t, err, gatehouse.CodeNotFound)
	}},
}

var deleteClientTests = []test{
	{"Deletes", func(t *testing.T, s Store) {
		createClient(t, s, newClient("a"))
		createClient(t, s, newClient("b"))
		must(t, s.DeleteClient(t.Context(), "a"))
		_, err := s.FindClientByID(t.Context(), "a")
		wantCode(t, err, gatehouse.CodeNotFound)
		if _, err := s.FindClientByID(t.Context(), "b"); err != nil {
			t.Fatalf("other client: %v", err)
		}
	}},
	{"NotFound", func(t *testing.T, s Store) {
		wantCode(t, s.DeleteClient(t.Context(), "a"), gatehouse.CodeNotFound)
	}},
	{"Twice", func(t *testing.T, s Store) {
		createClient(t, s, newClient("a"))
		must(t, s.DeleteClient(t.Context(), "a"))
		wantCode(t, s.DeleteClient(t.Context(), "a"), gatehouse.CodeNotFound)
	}},
	{"IDReusable", func(t *testing.T, s Store) {
		createClient(t, s, newClient("a"))
		must(t, s.DeleteClient(t.Context(), "a"))
		createClient(t, s, newClient("a"))
	}},
}
