package sqlite

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/gatehouse/gatehouse"
)

// insertCallPrefix is OR FAIL: a constraint error (none is expected; every
// column is bound a non-NULL value and id is the rowid) then leaves the
// rows before it in place instead of undoing the statement alone, so
// SQLite keeps no statement journal of the pages a multi-row INSERT
// changes (measured: about 7% of the writer's CPU). InsertCalls rolls the
// whole transaction back on any error, so nothing partial is committed.
const insertCallPrefix = `INSERT OR FAIL INTO calls (at, request_id, api, route, method, path, status, client_id,
	subject, token_id, grant_id, client_addr, user_agent, bytes_in, bytes_out, upstream_ns, total_ns, reason) VALUES `

const callParams = `(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`

// callCols is how many values one call binds.
const callCols = 18

// callRows is how many calls one prepared INSERT writes: a multi-row
// statement costs one driver round trip instead of callRows, which doubles
// ingest (BenchmarkInsertCalls).
const callRows = 32

// insertCallsSQL is an INSERT of n rows.
func insertCallsSQL(n int) string {
	return insertCallPrefix + strings.Repeat(callParams+`, `, n-1) + callParams
}

// callArgs boxes calls' values for an INSERT. Boxing a string or an int64
// of 256 or more allocates, and the calls of a batch mostly repeat the
// previous one's API, route, method, client, token, address, user agent
// and status: a value equal to the previous call's in the same column
// reuses its box (BenchmarkLogWrite: 15 allocations per call down to 4
// with one token).
type callArgs struct {
	prev [callCols]any
}

func (a *callArgs) str(col int, s string) any {
	if p, ok := a.prev[col].(string); ok && p == s {
		return a.prev[col]
	}
	v := any(s)
	a.prev[col] = v
	return v
}

func (a *callArgs) num(col int, n int64) any {
	if p, ok := a.prev[col].(int64); ok && p == n {
		return a.prev[col]
	}
	v := any(n)
	a.prev[col] = v
	return v
}

// set sets nv, callCols values, to c's in the order of insertCallPrefix's
// columns.
func (a *callArgs) set(nv []driver.NamedValue, c *gatehouse.Call) {
	nv[0].Value = c.Time.UnixNano()
	nv[1].Value = a.str(1, c.RequestID)
	nv[2].Value = a.str(2, c.API)
	nv[3].Value = a.str(3, c.Route)
	nv[4].Value = a.str(4, c.Method)
	nv[5].Value = a.str(5, c.Path)
	nv[6].Value = a.num(6, int64(c.Status))
	nv[7].Value = a.str(7, c.ClientID)
	nv[8].Value = a.str(8, c.Subject)
	nv[9].Value = a.str(9, c.TokenID)
	nv[10].Value = a.str(10, c.GrantID)
	nv[11].Value = a.str(11, c.ClientAddr)
	nv[12].Value = a.str(12, c.UserAgent)
	nv[13].Value = a.num(13, c.BytesIn)
	nv[14].Value = a.num(14, c.BytesOut)
	nv[15].Value = a.num(15, int64(c.Upstream))
	nv[16].Value = a.num(16, int64(c.Total))
	nv[17].Value = a.str(17, c.Reason)
}

// InsertCalls appends cs to the call log in one transaction, with prepared
// statements, and sets each call's ID. CodeInvalid, with nothing written,
// for a call without a time.
//
// It works on the driver's connection (database/sql's Conn.Raw): through
// database/sql every statement's 576 arguments were checked, converted and
// copied into a new []driver.NamedValue (1,347 bytes allocated per call
// stored, 592 without), 6 to 12% of the writer's instructions
// (callgrind, BenchmarkInsertCalls and BenchmarkLogWrite); here one slice
// is filled in place with values the driver takes as they are (int64 and
// string).
func (db *DB) InsertCalls(ctx context.Context, cs []gatehouse.Call) error {
	for i := range cs {
		if cs[i].Time.IsZero() {
			return gatehouse.Errorf(gatehouse.CodeInvalid, "call time required")
		}
	}
	if len(cs) == 0 {
		return nil
	}
	ids := make([]int64, len(cs))
	conn, err := db.writer.Conn(ctx)
	if err != nil {
		return formatError(err, "insert calls", "call")
	}
	defer conn.Close()
	err = conn.Raw(func(dc any) error {
		c, ok := dc.(rawConn)
		if !ok {
			return fmt.Errorf("driver connection %T cannot begin a transaction and prepare", dc)
		}
		tx, err := c.BeginTx(ctx, driver.TxOptions{})
		if err != nil {
			return err
		}
		if err := insertCalls(ctx, c, cs, ids); err != nil {
			// The error that matters is insertCalls's; a failed
			// rollback leaves nothing to undo.
			_ = tx.Rollback()
			return err
		}
		// A Commit that fails rolls back (modernc.org/sqlite's tx.Commit).
		return tx.Commit()
	})
	if err != nil {
		return formatError(err, "insert calls", "call")
	}
	for i := range cs {
		cs[i].ID = ids[i]
	}
	return nil
}

// rawConn is what InsertCalls needs of the driver's connection.
type rawConn interface {
	driver.ConnBeginTx
	driver.ConnPrepareContext
}

// insertCalls inserts cs in statements of callRows calls (one shorter at
// the end) on c, in its open transaction, and sets ids.
func insertCalls(ctx context.Context, c rawConn, cs []gatehouse.Call, ids []int64) error {
	var full driver.Stmt // of callRows calls, prepared once there is a full chunk
	defer func() {
		if full != nil {
			full.Close()
		}
	}()
	nv := make([]driver.NamedValue, min(len(cs), callRows)*callCols)
	for i := range nv {
		nv[i].Ordinal = i + 1
	}
	var box callArgs
	for start := 0; start < len(cs); start += callRows {
		chunk := cs[start:min(start+callRows, len(cs))]
		for i := range chunk {
			box.set(nv[i*callCols:(i+1)*callCols], &chunk[i])
		}
		var last int64
		var err error
		if len(chunk) == callRows {
			if full == nil {
				if full, err = c.PrepareContext(ctx, insertCallsSQL(callRows)); err != nil {
					return err
				}
			}
			last, err = execInsert(ctx, full, nv)
		} else {
			var st driver.Stmt
			if st, err = c.PrepareContext(ctx, insertCallsSQL(len(chunk))); err != nil {
				return err
			}
			last, err = execInsert(ctx, st, nv[:len(chunk)*callCols])
			st.Close()
		}
		if err != nil {
			return err
		}
		// The rows of one INSERT get consecutive rowids (each is the
		// largest plus one), ending at the last insert id.
		for i := range chunk {
			ids[start+i] = last - int64(len(chunk)-1-i)
		}
	}
	return nil
}

// execInsert runs an INSERT and returns its last insert id.
func execInsert(ctx context.Context, st driver.Stmt, nv []driver.NamedValue) (int64, error) {
	x, ok := st.(driver.StmtExecContext)
	if !ok {
		return 0, fmt.Errorf("driver statement %T cannot execute with a context", st)
	}
	res, err := x.ExecContext(ctx, nv)
	if err != nil {
		return 0, err
	}
	return res.LastInsertId()
}

const selectCallSQL = `SELECT id, at, request_id, api, route, method, path, status, client_id, subject,
	token_id, grant_id, client_addr, user_agent, bytes_in, bytes_out, upstream_ns, total_ns, reason FROM calls`

// FindCalls returns the calls matching f in the order it asks for, keyset
// paginated on (time, id) by f.After.
func (db *DB) FindCalls(ctx context.Context, f gatehouse.CallFilter) ([]gatehouse.Call, error) {
	q, args := findCallsQuery(f)
	rows, err := db.reader.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, formatError(err, "find calls", "call")
	}
	defer rows.Close()
	cs := []gatehouse.Call{}
	for rows.Next() {
		var c gatehouse.Call
		var at, up, total int64
		if err := rows.Scan(&c.ID, &at, &c.RequestID, &c.API, &c.Route, &c.Method, &c.Path, &c.Status,
			&c.ClientID, &c.Subject, &c.TokenID, &c.GrantID, &c.ClientAddr, &c.UserAgent,
			&c.BytesIn, &c.BytesOut, &up, &total, &c.Reason); err != nil {
			return nil, formatError(err, "find calls", "call")
		}
		c.Time, c.Upstream, c.Total = time.Unix(0, at).UTC(), time.Duration(up), time.Duration(total)
		cs = append(cs, c)
	}
	if err := rows.Err(); err != nil {
		return nil, formatError(err, "find calls", "call")
	}
	return cs, nil
}

// findCallsQuery is FindCalls's SQL and arguments.
func findCallsQuery(f gatehouse.CallFilter) (string, []any) {
	var where []string
	var args []any
	if !f.From.IsZero() {
		where, args = append(where, `at >= ?`), append(args, f.From.UnixNano())
	}
	if !f.To.IsZero() {
		where, args = append(where, `at < ?`), append(args, f.To.UnixNano())
	}
	if f.API != "" {
		where, args = append(where, `api = ?`), append(args, f.API)
	}
	// calls_client and calls_token are partial indexes, of non-empty ids:
	// SQLite uses one only when the query states its condition, which it
	// cannot infer from a bound parameter.
	if f.ClientID != "" {
		where, args = append(where, `client_id = ? AND client_id != ''`), append(args, f.ClientID)
	}
	if f.TokenID != "" {
		where, args = append(where, `token_id = ? AND token_id != ''`), append(args, f.TokenID)
	}
	if f.StatusMin > 0 {
		where, args = append(where, `status >= ?`), append(args, f.StatusMin)
	}
	if f.StatusMax > 0 {
		where, args = append(where, `status <= ?`), append(args, f.StatusMax)
	}
	order := ` ORDER BY at DESC, id DESC`
	if f.Ascending {
		order = ` ORDER BY at, id`
	}
	if c := f.After; c != nil {
		// Row values compare lexicographically and SQLite uses the index
		// for them.
		op := `<`
		if f.Ascending {
			op = `>`
		}
		where, args = append(where, `(at, id) `+op+` (?, ?)`), append(args, c.Time.UnixNano(), c.ID)
	}
	q := selectCallSQL
	if len(where) > 0 {
		q += ` WHERE ` + strings.Join(where, ` AND `)
	}
	q += order
	if f.Limit > 0 {
		q += ` LIMIT ?`
		args = append(args, f.Limit)
	}
	return q, args
}

// DeleteCallsBefore deletes at most limit calls older than before, oldest
// first, and returns how many went. Callers prune in small batches so that
// the writer is never held for long.
func (db *DB) DeleteCallsBefore(ctx context.Context, before time.Time, limit int) (int, error) {
	if limit <= 0 {
		return 0, gatehouse.Errorf(gatehouse.CodeInvalid, "delete calls: limit must be positive")
	}
	res, err := db.writer.ExecContext(ctx, `DELETE FROM calls WHERE id IN
		(SELECT id FROM calls WHERE at < ? ORDER BY at LIMIT ?)`, before.UnixNano(), limit)
	return affected(res, err, "delete calls")
}

// TrimCalls deletes at most limit of the earliest inserted calls beyond the
// last keep ones, and returns how many went. It looks only at the smallest
// and largest id (two index probes), never counts rows: ids grow with each
// insert, so at most keep calls remain once it returns fewer than limit.
func (db *DB) TrimCalls(ctx context.Context, keep int64, limit int) (int, error) {
	if limit <= 0 || keep < 0 {
		return 0, gatehouse.Errorf(gatehouse.CodeInvalid, "trim calls: limit must be positive and keep not negative")
	}
	res, err := db.writer.ExecContext(ctx, `DELETE FROM calls WHERE id IN
		(SELECT id FROM calls WHERE id <= (SELECT max(id) FROM calls) - ? ORDER BY id LIMIT ?)`, keep, limit)
	return affected(res, err, "trim calls")
}

func affected(res sql.Result, err error, op string) (int, error) {
	if err != nil {
		return 0, formatError(err, op, "call")
	}
	n, err := res.RowsAffected()
	return int(n), formatError(err, op, "call")
}

// SetWALAutoCheckpoint sets how many WAL pages accumulate before a commit
// copies them into the database file (SQLite's default is 1000). The call
// log raises it: its index pages are rewritten by many transactions in a
// row, and a larger WAL copies each of them once per checkpoint instead of
// once every few batches (measured: about 10% less CPU per call, 20% more
// calls per second). The WAL file then grows to about pages x 4 KiB.
func (db *DB) SetWALAutoCheckpoint(ctx context.Context, pages int) error {
	if pages < 1 {
		return gatehouse.Errorf(gatehouse.CodeInvalid, "wal_autocheckpoint: pages must be positive")
	}
	// The writer pool holds its one connection for ever, so the setting
	// stays with it.
	_, err := db.writer.ExecContext(ctx, `PRAGMA wal_autocheckpoint = `+strconv.Itoa(pages))
	return formatError(err, "set wal_autocheckpoint", "setting")
}
