package sqlite_test

import (
	"context"
	"database/sql"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/internal/sqlite"
	"github.com/gatehouse/gatehouse/internal/storetest"
	"github.com/google/go-cmp/cmp"
)

// open opens a new database in a temporary directory, closed at cleanup.
func open(t testing.TB, path string) *sqlite.DB {
	t.Helper()
	db, err := sqlite.Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := db.Close(); err != nil {
			t.Error(err)
		}
	})
	return db
}

func TestStore(t *testing.T) {
	storetest.Run(t, func(t *testing.T) storetest.Store {
		return open(t, filepath.Join(t.TempDir(), "gatehouse.db"))
	})
}

func TestOpen(t *testing.T) {
	t.Run("FileMode0600", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "sub", "gatehouse.db")
		db := open(t, path)
		// Write something, so the WAL file exists too.
		if err := db.CreateClient(t.Context(), &gatehouse.Client{ID: "a"}); err != nil {
			t.Fatal(err)
		}
		for _, p := range []string{path, path + "-wal"} {
			fi, err := os.Stat(p)
			if err != nil {
				t.Fatal(err)
			}
			if got := fi.Mode().Perm(); got != 0o600 {
				t.Errorf("%s: mode %v, want 0600", filepath.Base(p), got)
			}
		}
		fi, err := os.Stat(filepath.Dir(path))
		if err != nil {
			t.Fatal(err)
		}
		if got := fi.Mode().Perm(); got != 0o700 {
			t.Errorf("directory mode %v, want 0700", got)
		}
	})

	t.Run("WAL", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "gatehouse.db")
		open(t, path)
		// A separate connection sees the mode: it is a property of the file.
		raw, err := sql.Open("sqlite", path)
		if err != nil {
			t.Fatal(err)
		}
		defer raw.Close()
		var mode string
		if err := raw.QueryRow(`PRAGMA journal_mode`).Scan(&mode); err != nil {
			t.Fatal(err)
		}
		if mode != "wal" {
			t.Fatalf("journal_mode = %q, want wal", mode)
		}
	})

	t.Run("ReopenKeepsData", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "gatehouse.db")
		ctx := t.Context()
		db, err := sqlite.Open(ctx, path)
		if err != nil {
			t.Fatal(err)
		}
		want := &gatehouse.Token{ID: "t1", Hash: gatehouse.HashSecret("t1"), Kind: gatehouse.KindAccess,
			Format: gatehouse.FormatJWT, ClientID: "c1", Scopes: []string{"a"}, GrantID: "g1",
			IssuedAt: time.Unix(0, 1_700_000_000_123_456_789), ExpiresAt: time.Unix(0, 1_700_000_900_123_456_789)}
		if err := db.CreateToken(ctx, want); err != nil {
			t.Fatal(err)
		}
		if _, err := db.RevokeGrant(ctx, "g2", want.IssuedAt); err != nil {
			t.Fatal(err)
		}
		if err := db.Close(); err != nil {
			t.Fatal(err)
		}

		db = open(t, path)
		got, err := db.FindTokenByID(ctx, "t1")
		if err != nil {
			t.Fatal(err)
		}
		if d := cmp.Diff(got, want); d != "" {
			t.Fatalf("token after reopen (-got +want):\n%s", d)
		}
		if err := db.CreateToken(ctx, &gatehouse.Token{ID: "t2", Hash: []byte{1}, GrantID: "g2",
			ExpiresAt: want.ExpiresAt}); gatehouse.ErrorCode(err) != gatehouse.CodeConflict {
			t.Fatalf("token in a grant revoked before reopening: %v, want a conflict", err)
		}
	})

	t.Run("Twice", func(t *testing.T) {
		// Two stores on one file at once (two processes, say) share data.
		path := filepath.Join(t.TempDir(), "gatehouse.db")
		a, b := open(t, path), open(t, path)
		if err := a.CreateClient(t.Context(), &gatehouse.Client{ID: "a"}); err != nil {
			t.Fatal(err)
		}
		if _, err := b.FindClientByID(t.Context(), "a"); err != nil {
			t.Fatal(err)
		}
		err := b.CreateClient(t.Context(), &gatehouse.Client{ID: "a"})
		if gatehouse.ErrorCode(err) != gatehouse.CodeConflict {
			t.Fatalf("CreateClient through the second store: %v, want a conflict", err)
		}
	})

	t.Run("AwkwardPath", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "a dir?x=1#y", "gate house.db")
		open(t, path)
		if _, err := os.Stat(path); err != nil {
			t.Fatalf("database not at the given path: %v", err)
		}
	})
}

func TestInternalErrorsAreWrapped(t *testing.T) {
	db := open(t, filepath.Join(t.TempDir(), "gatehouse.db"))
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	_, err := db.FindTokenByID(ctx, "t1")
	if err == nil {
		t.Fatal("FindTokenByID with a cancelled context succeeded")
	}
	if code := gatehouse.ErrorCode(err); code != gatehouse.CodeInternal {
		t.Fatalf("code %q, want %q", code, gatehouse.CodeInternal)
	}
}

var _ storetest.Store = (*sqlite.DB)(nil)
