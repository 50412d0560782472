package sqlite

import (
	"database/sql"
	"io/fs"
	"path/filepath"
	"testing"
	"testing/fstest"
	"time"

	"github.com/gatehouse/gatehouse"
	"github.com/google/go-cmp/cmp"
)

// TestUpgradeFrom0001 opens a database written by a Gatehouse that had
// only 0001: Open must apply 0002 and keep every row, and the old rows must
// work with the new methods.
func TestUpgradeFrom0001(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "gatehouse.db")
	sql0001, err := fs.ReadFile(migrationFS, "migrations/0001_init.sql")
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2031, 3, 4, 5, 6, 7, 123456789, time.UTC)
	exp := t0.Add(time.Hour)

	raw, err := sql.Open("sqlite", "file:"+path+"?_txlock=immediate")
	if err != nil {
		t.Fatal(err)
	}
	raw.SetMaxOpenConns(1)
	if err := migrate(ctx, raw, fstest.MapFS{"migrations/0001_init.sql": {Data: sql0001}}); err != nil {
		raw.Close()
		t.Fatal(err)
	}
	// Rows as the 0001 code wrote them: a client, a live refresh token of
	// grant g1, a revoked token, and a revoked grant g2 with no tokens.
	for _, q := range []struct {
		sql  string
		args []any
	}{
		{`INSERT INTO clients (id, name, auth_method, grant_types, redirect_uris, access, token_format, source,
			disabled, created_at) VALUES ('c1', 'Client', 'none', '["refresh_token"]', '[]', 'null', '', 'config', 0, ?)`,
			[]any{t0.UnixNano()}},
		{`INSERT INTO tokens (id, hash, kind, format, client_id, subject, audience, scopes, grant_id, issued_at,
			expires_at) VALUES ('rt1', ?, 'refresh', 'opaque', 'c1', 'u1', 'https://orders.example', '["a"]', 'g1', ?, ?)`,
			[]any{gatehouse.HashSecret("rt1"), t0.UnixNano(), exp.UnixNano()}},
		{`INSERT INTO tokens (id, hash, kind, format, client_id, subject, audience, scopes, grant_id, issued_at,
			expires_at, revoked_at) VALUES ('at1', ?, 'access', 'jwt', 'c1', 'u1', '', 'null', NULL, ?, ?, ?)`,
			[]any{gatehouse.HashSecret("at1"), t0.UnixNano(), exp.UnixNano(), t0.UnixNano()}},
		{`INSERT INTO revoked_grants (grant_id, revoked_at) VALUES ('g2', ?)`, []any{t0.UnixNano()}},
	} {
		if _, err := raw.ExecContext(ctx, q.sql, q.args...); err != nil {
			raw.Close()
			t.Fatal(err)
		}
	}
	if err := raw.Close(); err != nil {
		t.Fatal(err)
	}

	db, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	// Every later migration applies on top of 0001's data.
	all, err := loadMigrations(migrationFS)
	if err != nil {
		t.Fatal(err)
	}
	if got := versions(t, db.writer); len(got) != len(all) || got[len(got)-1] != all[len(all)-1].version {
		t.Fatalf("versions %v after Open, want 1 to %d", got, all[len(all)-1].version)
	}

	if c, err := db.FindClientByID(ctx, "c1"); err != nil || !c.CreatedAt.Equal(t0) {
		t.Fatalf("client after upgrade: %+v, %v", c, err)
	}
	rt := &gatehouse.Token{ID: "rt1", Hash: gatehouse.HashSecret("rt1"), Kind: gatehouse.KindRefresh,
		Format: gatehouse.FormatOpaque, ClientID: "c1", Subject: "u1", Audience: "https://orders.example",
		Scopes: []string{"a"}, GrantID: "g1", IssuedAt: t0, ExpiresAt: exp}
	at := &gatehouse.Token{ID: "at1", Hash: gatehouse.HashSecret("at1"), Kind: gatehouse.KindAccess,
		Format: gatehouse.FormatJWT, ClientID: "c1", Subject: "u1", IssuedAt: t0, ExpiresAt: exp, RevokedAt: t0}
	for _, want := range []*gatehouse.Token{rt, at} {
		got, err := db.FindTokenByID(ctx, want.ID)
		if err != nil {
			t.Fatal(err)
		}
		if d := cmp.Diff(got, want); d != "" {
			t.Fatalf("token %s after upgrade (-got +want):\n%s", want.ID, d)
		}
	}
	revs, err := db.FindRevocations(ctx, t0)
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(revs, []gatehouse.Revocation{
		{TokenID: "at1", Until: exp},
		{GrantID: "g2", Until: t0.Add(grantHorizon)},
	}); d != "" {
		t.Fatalf("revocations after upgrade (-got +want):\n%s", d)
	}

	// The old refresh token rotates with the new columns, and the grant
	// revoked before the upgrade still refuses tokens.
	next := *rt
	next.ID, next.Hash, next.IssuedAt = "rt2", gatehouse.HashSecret("rt2"), t0.Add(time.Minute)
	access := next
	access.ID, access.Hash, access.Kind = "at2", gatehouse.HashSecret("at2"), gatehouse.KindAccess
	if err := db.RotateRefreshToken(ctx, "rt1", t0.Add(time.Minute), &next, &access); err != nil {
		t.Fatal(err)
	}
	got, err := db.FindTokenByID(ctx, "rt1")
	if err != nil {
		t.Fatal(err)
	}
	if !got.RotatedAt.Equal(t0.Add(time.Minute)) || got.SuccessorID != "rt2" {
		t.Fatalf("rotated old token: RotatedAt %v, SuccessorID %q", got.RotatedAt, got.SuccessorID)
	}
	err = db.CreateToken(ctx, &gatehouse.Token{ID: "t3", Hash: []byte{3}, GrantID: "g2", ExpiresAt: exp})
	if gatehouse.ErrorCode(err) != gatehouse.CodeConflict {
		t.Fatalf("token in a grant revoked before the upgrade: %v, want a conflict", err)
	}
}
