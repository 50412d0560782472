package sqlite

import (
	"database/sql"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"
)

// openRaw opens path the way Open opens the writer, without migrating.
func openRaw(t *testing.T, path string) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+path+"?_txlock=immediate")
	if err != nil {
		t.Fatal(err)
	}
	db.SetMaxOpenConns(1)
	t.Cleanup(func() { db.Close() })
	return db
}

func versions(t *testing.T, db *sql.DB) []int {
	t.Helper()
	rows, err := db.Query(`SELECT version FROM schema_migrations ORDER BY version`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var vs []int
	for rows.Next() {
		var v int
		if err := rows.Scan(&v); err != nil {
			t.Fatal(err)
		}
		vs = append(vs, v)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return vs
}

func tableExists(t *testing.T, db *sql.DB, name string) bool {
	t.Helper()
	var n int
	if err := db.QueryRow(`SELECT COUNT(*) FROM sqlite_schema WHERE type = 'table' AND name = ?`, name).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n == 1
}

func TestMigrate(t *testing.T) {
	// Re-running 0001 would fail: CREATE TABLE without IF NOT EXISTS.
	v1 := fstest.MapFS{
		"migrations/0001_one.sql": {Data: []byte(`CREATE TABLE one (x INTEGER); INSERT INTO one VALUES (1);`)},
	}
	v2 := fstest.MapFS{
		"migrations/0001_one.sql": v1["migrations/0001_one.sql"],
		"migrations/0002_two.sql": {Data: []byte(`CREATE TABLE two (y INTEGER); INSERT INTO one VALUES (2);`)},
	}

	t.Run("Idempotent", func(t *testing.T) {
		db := openRaw(t, filepath.Join(t.TempDir(), "db"))
		for range 2 {
			if err := migrate(t.Context(), db, v1); err != nil {
				t.Fatal(err)
			}
		}
		if got := versions(t, db); len(got) != 1 || got[0] != 1 {
			t.Fatalf("versions %v, want [1]", got)
		}
		var n int
		if err := db.QueryRow(`SELECT COUNT(*) FROM one`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n != 1 {
			t.Fatalf("0001's insert ran %d times, want once", n)
		}
	})

	t.Run("AppliesOnlyNew", func(t *testing.T) {
		db := openRaw(t, filepath.Join(t.TempDir(), "db"))
		if err := migrate(t.Context(), db, v1); err != nil {
			t.Fatal(err)
		}
		if tableExists(t, db, "two") {
			t.Fatal("table two exists at version 1")
		}
		if err := migrate(t.Context(), db, v2); err != nil {
			t.Fatal(err)
		}
		if !tableExists(t, db, "two") {
			t.Fatal("0002 was not applied")
		}
		if got := versions(t, db); len(got) != 2 || got[1] != 2 {
			t.Fatalf("versions %v, want [1 2]", got)
		}
		var n int
		if err := db.QueryRow(`SELECT COUNT(*) FROM one`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n != 2 {
			t.Fatalf("table one has %d rows, want 2 (one per migration)", n)
		}
	})

	t.Run("FailedMigrationRollsBack", func(t *testing.T) {
		db := openRaw(t, filepath.Join(t.TempDir(), "db"))
		bad := fstest.MapFS{
			"migrations/0001_one.sql": v1["migrations/0001_one.sql"],
			"migrations/0002_bad.sql": {Data: []byte(`CREATE TABLE two (y INTEGER); SELECT * FROM missing;`)},
		}
		err := migrate(t.Context(), db, bad)
		if err == nil || !strings.Contains(err.Error(), "0002_bad.sql") {
			t.Fatalf("migrate = %v, want an error naming 0002_bad.sql", err)
		}
		if tableExists(t, db, "two") {
			t.Fatal("the failed migration's first statement was kept")
		}
		if got := versions(t, db); len(got) != 1 {
			t.Fatalf("versions %v, want [1]", got)
		}
	})

	t.Run("RefusesNewerDatabase", func(t *testing.T) {
		db := openRaw(t, filepath.Join(t.TempDir(), "db"))
		if err := migrate(t.Context(), db, v2); err != nil {
			t.Fatal(err)
		}
		if err := migrate(t.Context(), db, v1); err == nil {
			t.Fatal("migrating a version 2 database with version 1's migrations succeeded")
		}
	})

	t.Run("BadNames", func(t *testing.T) {
		for name, fsys := range map[string]fstest.MapFS{
			"NoNumber": {"migrations/init.sql": {}},
			"Gap":      {"migrations/0001_a.sql": {}, "migrations/0003_c.sql": {}},
			"Twice":    {"migrations/0001_a.sql": {}, "migrations/001_b.sql": {}},
			"Zero":     {"migrations/0000_a.sql": {}},
		} {
			t.Run(name, func(t *testing.T) {
				if _, err := loadMigrations(fsys); err == nil {
					t.Fatal("loadMigrations succeeded")
				}
			})
		}
	})

	t.Run("Embedded", func(t *testing.T) {
		ms, err := loadMigrations(migrationFS)
		if err != nil {
			t.Fatal(err)
		}
		if len(ms) == 0 || ms[0].name != "0001_init.sql" {
			t.Fatalf("embedded migrations %v, want 0001_init.sql first", ms)
		}
		db, err := Open(t.Context(), filepath.Join(t.TempDir(), "db"))
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		if got := versions(t, db.writer); len(got) != len(ms) {
			t.Fatalf("versions %v after Open, want %d", got, len(ms))
		}
		for _, table := range []string{"clients", "tokens", "revoked_grants", "signing_keys", "assertion_ids",
			"users", "consents", "auth_codes", "grants", "security_events"} {
			if !tableExists(t, db.reader, table) {
				t.Errorf("table %s missing", table)
			}
		}
	})
}
