package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"sync"

	"github.com/gatehouse/gatehouse"
)

// maxBatch bounds how many token inserts share one transaction.
const maxBatch = 256

// tokenInserter is a group commit for CreateToken. Issuing a token writes
// one small row, and on SQLite most of a commit's cost is the commit itself
// (WAL append and lock dance), paid once per transaction on the single
// writer. Concurrent CreateToken calls therefore queue here and one
// goroutine writes whatever has queued in one transaction. Each insert is
// its own statement, so a conflicting row fails alone (SQLite rolls back the
// statement, not the transaction) and every caller gets its own answer only
// after the commit that made its row durable. With no concurrency a batch is
// one row and nothing changes.
type tokenInserter struct {
	queue   chan *tokenInsert
	closing chan struct{}
	stopped chan struct{}
	once    sync.Once
}

type tokenInsert struct {
	args []any
	done chan error
}

var errClosed = errors.New("sqlite: store closed")

func (db *DB) startInserter() {
	db.inserter = &tokenInserter{
		queue:   make(chan *tokenInsert, 4*maxBatch),
		closing: make(chan struct{}),
		stopped: make(chan struct{}),
	}
	go db.runInserter()
}

func (db *DB) stopInserter() {
	if db.inserter == nil {
		return
	}
	db.inserter.once.Do(func() { close(db.inserter.closing) })
	<-db.inserter.stopped
}

// insertToken queues one insert and waits for its commit.
func (db *DB) insertToken(ctx context.Context, args []any) error {
	in := db.inserter
	it := &tokenInsert{args: args, done: make(chan error, 1)}
	select {
	case in.queue <- it:
	case <-in.closing:
		return errClosed
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case err := <-it.done:
		return err
	case <-in.stopped:
		// The loop may have written it just before stopping.
		select {
		case err := <-it.done:
			return err
		default:
			return errClosed
		}
	}
}

func (db *DB) runInserter() {
	in := db.inserter
	defer close(in.stopped)
	batch := make([]*tokenInsert, 0, maxBatch)
	for {
		select {
		case it := <-in.queue:
			batch = append(batch[:0], it)
		case <-in.closing:
			// Finish what is queued, then stop.
			for {
				select {
				case it := <-in.queue:
					db.writeBatch([]*tokenInsert{it})
				default:
					return
				}
			}
		}
	fill:
		for len(batch) < maxBatch {
			select {
			case it := <-in.queue:
				batch = append(batch, it)
			default:
				break fill
			}
		}
		db.writeBatch(batch)
	}
}

func (db *DB) writeBatch(batch []*tokenInsert) {
	errs := make([]error, len(batch))
	// The batch is not tied to any one caller's context: a caller that
	// gave up must not abort the others' inserts.
	err := db.writeTx(context.Background(), func(tx *sql.Tx) error {
		stmt := tx.Stmt(db.createTokenStmt)
		defer stmt.Close()
		for i, it := range batch {
			res, err := stmt.Exec(it.args...)
			if err != nil {
				errs[i] = formatError(err, "create token", "token")
				continue
			}
			if n, err := res.RowsAffected(); err != nil {
				errs[i] = formatError(err, "create token", "token")
			} else if n == 0 {
				errs[i] = gatehouse.Errorf(gatehouse.CodeConflict, "grant revoked")
			}
		}
		return nil
	})
	for i, it := range batch {
		if err != nil && errs[i] == nil {
			errs[i] = formatError(err, "create token", "token")
		}
		it.done <- errs[i]
	}
}
