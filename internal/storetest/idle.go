package storetest

import (
	"testing"
	"time"

	"github.com/gatehouse/gatehouse"
)

func wantIdle(t *testing.T, s Store, f gatehouse.IdleFilter, want []string) {
	t.Helper()
	got, err := s.FindIdleCredentials(t.Context(), f)
	if err != nil {
		t.Fatalf("FindIdleCredentials(%+v): %v", f, err)
	}
	ids := []string{}
	for _, c := range got {
		ids = append(ids, string(c.Kind)+":"+c.ID)
	}
	if d := diff(ids, want); d != "" {
		t.Fatalf("FindIdleCredentials(%+v) (-got +want):\n%s", f, d)
	}
}

// idleWorld stores, all created at t0: grants g-used (used at t0+2h),
// g-never (never used), g-revoked, g-other (another client and API); API
// keys k-used (used at t0+3h) and k-never; client c-secret (its secret
// used at t0+1h) and c-public (no secret).
func idleWorld(t *testing.T, s Store) {
	t.Helper()
	for _, id := range []string{"g-used", "g-never", "g-revoked"} {
		issue(t, s, newGrant(id, "user-1", t0))
	}
	other := newGrant("g-other", "user-2", t0)
	other.ClientID, other.Audience = "client-2", "https://billing.example"
	issue(t, s, other)
	if _, err := s.RevokeGrant(t.Context(), "g-revoked", t0.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"k-used", "k-never"} {
		k := newToken(id, "", t0.Add(90*24*time.Hour))
		k.Kind, k.GrantID, k.IssuedAt = gatehouse.KindAPIKey, "", t0
		createToken(t, s, k)
	}
	c := newClient("c-secret")
	c.Disabled = false
	createClient(t, s, c)
	pub := newClient("c-public")
	pub.Disabled, pub.SecretHash = false, nil
	createClient(t, s, pub)
	recordUsage(t, s,
		use(gatehouse.UsageGrant, "g-used", "client-1", t0.Add(time.Hour), t0.Add(2*time.Hour), "192.0.2.1", 4),
		use(gatehouse.UsageAPIKey, "k-used", "client-1", t0.Add(time.Hour), t0.Add(3*time.Hour), "192.0.2.1", 2),
		use(gatehouse.UsageClientSecret, "c-secret", "c-secret", t0.Add(time.Hour), t0.Add(time.Hour), "192.0.2.1", 1),
	)
}

var findIdleCredentialsTests = []test{
	{"ByLastUseOrCreation", func(t *testing.T, s Store) {
		idleWorld(t, s)
		now := t0.Add(10 * time.Hour)
		// Idle since before t0+1m: only what was never used.
		wantIdle(t, s, gatehouse.IdleFilter{UnusedSince: t0.Add(time.Minute), Now: now},
			[]string{"api_key:k-never", "grant:g-never", "grant:g-other"})
		// Before t0+150m: also the secret (t0+1h) and g-used (t0+2h), in
		// order of idleness.
		wantIdle(t, s, gatehouse.IdleFilter{UnusedSince: t0.Add(150 * time.Minute), Now: now},
			[]string{"api_key:k-never", "grant:g-never", "grant:g-other", "client_secret:c-secret", "grant:g-used"})
	}},
	{"Filters", func(t *testing.T, s Store) {
		idleWorld(t, s)
		f := gatehouse.IdleFilter{UnusedSince: t0.Add(4 * time.Hour), Now: t0.Add(10 * time.Hour)}
		byClient := f
		byClient.ClientID = "client-2"
		wantIdle(t, s, byClient, []string{"grant:g-other"})
		byAPI := f
		byAPI.Audience = "https://orders.example"
		wantIdle(t, s, byAPI, []string{"api_key:k-never", "grant:g-never", "grant:g-used", "api_key:k-used"})
		byKind := f
		byKind.Kind = gatehouse.UsageAPIKey
		wantIdle(t, s, byKind, []string{"api_key:k-never", "api_key:k-used"})
		secrets := f
		secrets.Kind = gatehouse.UsageClientSecret
		wantIdle(t, s, secrets, []string{"client_secret:c-secret"})
		limited := f
		limited.Limit = 2
		wantIdle(t, s, limited, []string{"api_key:k-never", "grant:g-never"})
	}},
	{"ExpiredIsNotActive", func(t *testing.T, s Store) {
		idleWorld(t, s)
		// Grants end 30 days after t0; the keys after 90.
		wantIdle(t, s, gatehouse.IdleFilter{Kind: gatehouse.UsageGrant, UnusedSince: t0.Add(time.Hour), Now: t0.Add(31 * 24 * time.Hour)}, []string{})
	}},
	{"Fields", func(t *testing.T, s Store) {
		idleWorld(t, s)
		got, err := s.FindIdleCredentials(t.Context(), gatehouse.IdleFilter{Kind: gatehouse.UsageGrant, ClientID: "client-1",
			UnusedSince: t0.Add(150 * time.Minute), Now: t0.Add(time.Hour)})
		must(t, err)
		want := []*gatehouse.IdleCredential{
			{Kind: gatehouse.UsageGrant, ID: "g-never", ClientID: "client-1", Subject: "user-1", Audience: "https://orders.example",
				CreatedAt: t0, ExpiresAt: t0.Add(30 * 24 * time.Hour)},
			{Kind: gatehouse.UsageGrant, ID: "g-used", ClientID: "client-1", Subject: "user-1", Audience: "https://orders.example",
				CreatedAt: t0, LastUsed: t0.Add(2 * time.Hour), ExpiresAt: t0.Add(30 * 24 * time.Hour)},
		}
		if d := diff(got, want); d != "" {
			t.Fatalf("(-got +want):\n%s", d)
		}
		if !got[0].Idle().Equal(t0) || !got[1].Idle().Equal(t0.Add(2*time.Hour)) {
			t.Errorf("Idle() = %s, %s", got[0].Idle(), got[1].Idle())
		}
	}},
	{"Invalid", func(t *testing.T, s Store) {
		_, err := s.FindIdleCredentials(t.Context(), gatehouse.IdleFilter{Now: t0})
		wantCode(t, err, gatehouse.CodeInvalid)
		_, err = s.FindIdleCredentials(t.Context(), gatehouse.IdleFilter{Kind: "password", UnusedSince: t0, Now: t0})
		wantCode(t, err, gatehouse.CodeInvalid)
	}},
}

var revokeClientSecretTests = []test{
	{"RemovesTheSecret", func(t *testing.T, s Store) {
		idleWorld(t, s)
		changed, err := s.RevokeClientSecret(t.Context(), "c-secret", t0.Add(time.Hour))
		must(t, err)
		if !changed {
			t.Fatal("changed = false")
		}
		c, err := s.FindClientByID(t.Context(), "c-secret")
		must(t, err)
		if len(c.SecretHash) != 0 || c.AuthMethod != gatehouse.AuthPrivateKeyJWT {
			t.Fatalf("client after revocation: %+v", c)
		}
		wantIdle(t, s, gatehouse.IdleFilter{Kind: gatehouse.UsageClientSecret, UnusedSince: t0.Add(24 * time.Hour), Now: t0}, []string{})
		changed, err = s.RevokeClientSecret(t.Context(), "c-secret", t0.Add(2*time.Hour))
		must(t, err)
		if changed {
			t.Error("second revocation reported a change")
		}
	}},
	{"NotFound", func(t *testing.T, s Store) {
		_, err := s.RevokeClientSecret(t.Context(), "ghost", t0)
		wantCode(t, err, gatehouse.CodeNotFound)
	}},
}
