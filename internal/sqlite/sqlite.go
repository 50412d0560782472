// Package sqlite is Gatehouse's default store: one SQLite file, embedded
// ordered migrations, and the pure Go driver modernc.org/sqlite (no cgo).
//
// Times are stored as INTEGER unix nanoseconds, so every time.Time comes back
// as the same instant (in UTC) and comparisons made in SQL agree exactly with
// time.Time's Before and After. The zero time is stored as NULL. The range is
// that of time.Time.UnixNano: years 1678 to 2262.
package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"time"

	"github.com/gatehouse/gatehouse"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// DB is the store. It holds two pools on the same file: a writer with a
// single connection and readers that refuse writes.
type DB struct {
	// SQLite allows one writer at a time. Serialising writers in Go, on one
	// connection, means they queue on a mutex instead of spinning on
	// SQLITE_BUSY; readers never wait for them thanks to WAL.
	writer *sql.DB
	reader *sql.DB

	// Prepared once for the hot paths: issuing a token, resolving an opaque
	// token and authenticating a client.
	createTokenStmt     *sql.Stmt
	findTokenByHashStmt *sql.Stmt
	findTokenByIDStmt   *sql.Stmt
	findClientByIDStmt  *sql.Stmt
	// findSubsByClientStmt: the token endpoint reads an app's
	// subscriptions on every request.
	findSubsByClientStmt *sql.Stmt

	inserter *tokenInserter // group commit of CreateToken; see batch.go

	calls callWriter // the call log's pages; see call.go

	log *slog.Logger // nil: quiet
}

// Open opens the database file at path, creating it (mode 0600) and its
// directory (mode 0700) if needed, and applies the migrations it lacks. An
// existing file keeps its mode.
func Open(ctx context.Context, path string) (*DB, error) {
	return OpenLogged(ctx, path, nil)
}

// OpenLogged is Open, telling log (nil: nothing) about upgrade work that
// takes long, such as moving a call log written before migration 0010
// into pages (about 7 s per million calls).
func OpenLogged(ctx context.Context, path string, log *slog.Logger) (*DB, error) {
	if path == "" {
		return nil, errors.New("sqlite: open: empty path")
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("sqlite: open: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(abs), 0o700); err != nil {
		return nil, fmt.Errorf("sqlite: open: %w", err)
	}
	// Create the file ourselves: SQLite would create it 0644, and it holds
	// token hashes and (encrypted) private keys. SQLite gives the -wal and
	// -shm files the mode of the database file.
	f, err := os.OpenFile(abs, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("sqlite: open: %w", err)
	}
	if err := f.Close(); err != nil {
		return nil, fmt.Errorf("sqlite: open: %w", err)
	}

	db := &DB{log: log}
	if err := db.open(ctx, abs); err != nil {
		db.Close()
		return nil, err
	}
	db.startInserter()
	return db, nil
}

func (db *DB) open(ctx context.Context, abs string) (err error) {
	// A file: URI, so that a path containing '?' or '#' is not mistaken for
	// parameters.
	name := (&url.URL{Scheme: "file", Path: abs}).String()
	common := url.Values{}
	// Wait for a lock instead of failing at once when another process (a
	// backup, the sqlite3 shell) holds it.
	common.Add("_pragma", "busy_timeout(5000)")
	// SQLite does not enforce foreign keys unless asked, per connection.
	common.Add("_pragma", "foreign_keys(1)")
	// In WAL mode a commit needs no fsync and survives a process crash; only
	// an OS crash or power loss can lose the last commits. Tokens are cheap
	// to reissue, and issuing thousands per second needs this.
	common.Add("_pragma", "synchronous(NORMAL)")

	w := cloneValues(common)
	// WAL lets readers run while a write is in progress. It is a property of
	// the file, so setting it on the writer is enough.
	w.Add("_pragma", "journal_mode(WAL)")
	// BEGIN IMMEDIATE takes the write lock up front: a transaction that reads
	// and then writes cannot fail to upgrade its lock halfway.
	w.Set("_txlock", "immediate")
	// A statement that changes several rows in a transaction keeps a
	// statement journal so that it can be undone alone; in a temporary
	// file that costs a write(2) per page (it was most of the old
	// per-call-row call log writer's CPU). In memory it is a copy.
	w.Add("_pragma", "temp_store(MEMORY)")
	// 32 MiB of page cache for the writer (SQLite's default is 2 MiB):
	// inserts into indexes larger than the cache (the tokens' hashes)
	// otherwise read a page back from the file for most rows. It is an
	// upper bound, filled only as pages are used.
	w.Add("_pragma", "cache_size(-32768)")
	if db.writer, err = sql.Open("sqlite", name+"?"+w.Encode()); err != nil {
		return fmt.Errorf("sqlite: open: %w", err)
	}
	db.writer.SetMaxOpenConns(1)
	db.writer.SetMaxIdleConns(1)
	db.writer.SetConnMaxLifetime(0)
	db.writer.SetConnMaxIdleTime(0)

	if err := migrate(ctx, db.writer, migrationFS); err != nil {
		return fmt.Errorf("sqlite: migrate: %w", err)
	}

	r := cloneValues(common)
	// A read path that writes by mistake fails loudly instead of competing
	// with the writer for the lock.
	r.Add("_pragma", "query_only(1)")
	if db.reader, err = sql.Open("sqlite", name+"?"+r.Encode()); err != nil {
		return fmt.Errorf("sqlite: open: %w", err)
	}
	n := max(4, runtime.GOMAXPROCS(0))
	db.reader.SetMaxOpenConns(n)
	// Keep idle readers open: closing one throws away its prepared
	// statements and page cache.
	db.reader.SetMaxIdleConns(n)
	db.reader.SetConnMaxLifetime(0)
	db.reader.SetConnMaxIdleTime(0)

	for _, p := range []struct {
		stmt **sql.Stmt
		pool *sql.DB
		sql  string
	}{
		{&db.createTokenStmt, db.writer, createTokenSQL},
		{&db.findTokenByHashStmt, db.reader, selectTokenSQL + ` WHERE hash = ?`},
		{&db.findTokenByIDStmt, db.reader, selectTokenSQL + ` WHERE id = ?`},
		{&db.findClientByIDStmt, db.reader, selectClientSQL + ` WHERE id = ?`},
		{&db.findSubsByClientStmt, db.reader, selectSubscriptionSQL + ` WHERE client_id = ? ORDER BY id`},
		{&db.calls.insert, db.writer, insertPageSQL},
	} {
		if *p.stmt, err = p.pool.PrepareContext(ctx, p.sql); err != nil {
			return fmt.Errorf("sqlite: prepare: %w", err)
		}
	}
	if err := db.moveLegacyCalls(ctx); err != nil {
		return fmt.Errorf("sqlite: migrate: %w", err)
	}
	return nil
}

func cloneValues(v url.Values) url.Values {
	c := make(url.Values, len(v))
	for k, vs := range v {
		c[k] = append([]string(nil), vs...)
	}
	return c
}

// Close closes the statements and both pools. It is safe on a DB that
// failed to open.
func (db *DB) Close() error {
	db.stopInserter()
	var errs []error
	for _, s := range []*sql.Stmt{db.createTokenStmt, db.findTokenByHashStmt, db.findTokenByIDStmt, db.findClientByIDStmt, db.findSubsByClientStmt, db.calls.insert} {
		if s != nil {
			errs = append(errs, s.Close())
		}
	}
	// Readers first, so that the writer's is the last connection and
	// SQLite checkpoints and removes the WAL file when it closes.
	for _, p := range []*sql.DB{db.reader, db.writer} {
		if p != nil {
			errs = append(errs, p.Close())
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("sqlite: close: %w", err)
	}
	return nil
}

// writeTx runs fn in one write transaction on the writer connection and
// commits if fn returns nil. fn must use only tx: the writer has a single
// connection, which tx holds.
func (db *DB) writeTx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	tx, err := db.writer.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback() // no-op after Commit
	if err := fn(tx); err != nil {
		return err
	}
	return tx.Commit()
}

// formatError translates driver errors at the edge: a missing row becomes
// CodeNotFound, a key violation CodeConflict, a CHECK or NOT NULL violation
// CodeInvalid, each with a message naming what (for example "client").
// Anything else is an internal error, wrapped with op for the logs.
func formatError(err error, op, what string) error {
	var gerr *gatehouse.Error
	var serr *sqlite.Error
	switch {
	case err == nil:
		return nil
	case errors.As(err, &gerr):
		return err
	case errors.Is(err, sql.ErrNoRows):
		return gatehouse.Errorf(gatehouse.CodeNotFound, "%s not found", what)
	case errors.As(err, &serr):
		switch serr.Code() {
		case sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY, sqlite3.SQLITE_CONSTRAINT_UNIQUE:
			return gatehouse.Errorf(gatehouse.CodeConflict, "%s already exists", what)
		case sqlite3.SQLITE_CONSTRAINT_CHECK, sqlite3.SQLITE_CONSTRAINT_NOTNULL:
			return gatehouse.Errorf(gatehouse.CodeInvalid, "invalid %s", what)
		}
	}
	return fmt.Errorf("sqlite: %s: %w", op, err)
}

// notConflict returns err, except that a key violation becomes an internal
// error naming what: for rows whose key the caller chose and a taken key is
// a bug, in methods where CodeConflict means something else (reuse).
func notConflict(err error, what string) error {
	var serr *sqlite.Error
	if errors.As(err, &serr) {
		switch serr.Code() {
		case sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY, sqlite3.SQLITE_CONSTRAINT_UNIQUE:
			// %v, not %w, so that formatError does not translate it back.
			return fmt.Errorf("%s: key taken: %v", what, err)
		}
	}
	return err
}

// timeValue is t as stored: unix nanoseconds, or NULL for the zero time.
func timeValue(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UnixNano()
}

// timeOf is the inverse of timeValue.
func timeOf(n sql.NullInt64) time.Time {
	if !n.Valid {
		return time.Time{}
	}
	return time.Unix(0, n.Int64).UTC()
}

// blobValue stores an empty slice as NULL, so that nil and empty read back
// the same (nil).
func blobValue(b []byte) any {
	if len(b) == 0 {
		return nil
	}
	return b
}

// stringValue stores "" as NULL, for optional keys such as a token's grant.
func stringValue(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// The interface guard, var _ storetest.Store = (*DB)(nil), is in
// sqlite_test.go: storetest imports package testing and go-cmp, which this
// package would otherwise link into the gatehouse binary.
