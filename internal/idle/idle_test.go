package idle

import (
	"context"
	"errors"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/internal/sqlite"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// world is a real SQLite store holding two API keys of client c1 for API
// A, created at t0: k-used (used at t0+5h) and k-never; and client c2
// whose secret was never used.
func world(t *testing.T) *sqlite.DB {
	t.Helper()
	db, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "g.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	ctx := context.Background()
	for _, id := range []string{"k-used", "k-never"} {
		if err := db.CreateToken(ctx, &gatehouse.Token{ID: id, Hash: gatehouse.HashSecret(id), Kind: gatehouse.KindAPIKey,
			Format: gatehouse.FormatOpaque, ClientID: "c1", Subject: "c1", Audience: "https://a.example",
			IssuedAt: t0, ExpiresAt: t0.Add(365 * 24 * time.Hour)}); err != nil {
			t.Fatal(err)
		}
	}
	for _, id := range []string{"c1", "c2"} {
		if err := db.CreateClient(ctx, &gatehouse.Client{ID: id, Name: id, AuthMethod: gatehouse.AuthSecretBasic,
			SecretHash: gatehouse.HashSecret("s-" + id), Source: gatehouse.SourceDynamic, CreatedAt: t0}); err != nil {
			t.Fatal(err)
		}
	}
	if err := db.RecordUsage(ctx, []gatehouse.Usage{
		{Kind: gatehouse.UsageAPIKey, ID: "k-used", ClientID: "c1", FirstUsed: t0.Add(5 * time.Hour), LastUsed: t0.Add(5 * time.Hour), Count: 1},
		{Kind: gatehouse.UsageClientSecret, ID: "c1", ClientID: "c1", FirstUsed: t0.Add(5 * time.Hour), LastUsed: t0.Add(5 * time.Hour), Count: 1},
	}); err != nil {
		t.Fatal(err)
	}
	return db
}

func ids(cs []*gatehouse.StaleCredential) []string {
	var out []string
	for _, c := range cs {
		out = append(out, string(c.Kind)+":"+c.ID+"@"+c.RevokeAt.Sub(t0).String()+"("+c.Rule+")")
	}
	return out
}

func TestStale(t *testing.T) {
	db := world(t)
	now := t0.Add(3 * time.Hour)
	j := &Job{Store: db, Now: func() time.Time { return now }}
	j.SetRules([]Rule{
		{Name: "api a", Audience: "https://a.example", Limit: 24 * time.Hour},
		{Name: "client c1", ClientID: "c1", Limit: 4 * time.Hour},
		{Name: "client c2", ClientID: "c2", Limit: 48 * time.Hour},
	})
	for _, tc := range []struct {
		within time.Duration
		want   []string
	}{
		{0, nil},
		// k-never: 4 h under its client's limit, sooner than its API's 24 h.
		{2 * time.Hour, []string{"api_key:k-never@4h0m0s(client c1)"}},
		// k-used and c1's secret were used at t0+5h: due at 9 h.
		{6 * time.Hour, []string{"api_key:k-never@4h0m0s(client c1)"}},
		{7 * time.Hour, []string{"api_key:k-never@4h0m0s(client c1)", "api_key:k-used@9h0m0s(client c1)", "client_secret:c1@9h0m0s(client c1)"}},
		{46 * time.Hour, []string{"api_key:k-never@4h0m0s(client c1)", "api_key:k-used@9h0m0s(client c1)", "client_secret:c1@9h0m0s(client c1)", "client_secret:c2@48h0m0s(client c2)"}},
	} {
		got, err := j.Stale(context.Background(), tc.within)
		if err != nil {
			t.Fatal(err)
		}
		if g, w := ids(got), tc.want; len(g) != len(w) || (len(g) > 0 && !equal(g, w)) {
			t.Errorf("Stale(%s) = %v, want %v", tc.within, g, w)
		}
	}
	// A secret the config owns is never listed.
	j.KeepSecret = func(id string) bool { return id == "c2" }
	got, err := j.Stale(context.Background(), 46*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range got {
		if c.ID == "c2" {
			t.Errorf("config-owned secret listed: %+v", c)
		}
	}
}

func TestSweep(t *testing.T) {
	db := world(t)
	now := t0.Add(10 * time.Hour)
	var revoked []string
	j := &Job{Store: db, Now: func() time.Time { return now }, Log: slog.New(slog.DiscardHandler), Revoke: func(ctx context.Context, c *gatehouse.StaleCredential) error {
		if c.ID == "k-used" {
			return errors.New("store down")
		}
		revoked = append(revoked, c.ID)
		var err error
		if c.Kind == gatehouse.UsageClientSecret {
			_, err = db.RevokeClientSecret(ctx, c.ID, now)
		} else {
			_, err = db.RevokeToken(ctx, c.ID, now)
		}
		return err
	}}
	j.SetRules([]Rule{{Name: "client c1", ClientID: "c1", Limit: 4 * time.Hour}})
	n, err := j.Sweep(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	// k-used fails and is retried next time; the others proceed.
	if n != 2 || !equal(revoked, []string{"k-never", "c1"}) {
		t.Errorf("swept %d: %v", n, revoked)
	}
	// What was revoked is no longer idle (not active); k-used still is.
	left, err := j.Stale(context.Background(), 0)
	if err != nil {
		t.Fatal(err)
	}
	if g := ids(left); !equal(g, []string{"api_key:k-used@9h0m0s(client c1)"}) {
		t.Errorf("after the sweep: %v", g)
	}
	j.SetRules(nil)
	if n, err := j.Sweep(context.Background()); n != 0 || err != nil {
		t.Errorf("sweep without rules: %d %v", n, err)
	}
}

func equal(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
