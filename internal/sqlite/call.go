package sqlite

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/internal/callpage"
)

// The call log is stored in pages (migration 0010): one row of
// call_pages holds up to maxPageCalls calls encoded by internal/callpage,
// with their time bounds and a filter of their keys (callkeys.go).

// maxPageCalls bounds the calls of one page. The log writer's batches are
// smaller (128 by default); a replayed spill segment or a larger
// batch_size is cut into pages of this many. A query decodes whole pages,
// so this also bounds the work of reading one call.
const maxPageCalls = 1024

// callWriter is the state InsertCalls reuses from one page to the next.
type callWriter struct {
	mu   sync.Mutex
	enc  callpage.Encoder
	buf  []byte
	keys []byte
	// last is the last call id given out, read from the store by the
	// first insert (loaded). Ids of a failed insert are not given again:
	// the log has a gap, never a repeat.
	last   int64
	loaded bool
	// insert is the page INSERT, prepared at Open: parsing it for each
	// page cost a fifth of the writer's CPU.
	insert *sql.Stmt
}

// insertPageSQL writes a page (a trigger keeps call_span, migration 0011).
const insertPageSQL = `INSERT INTO call_pages (first_id, last_id, n, min_at, max_at, keys, data) VALUES (?, ?, ?, ?, ?, ?, ?)`

// InsertCalls appends cs to the call log in one transaction and sets each
// call's ID, increasing, never given before. CodeInvalid, with
// nothing written, for a call without a time. On any error nothing is
// written and the IDs are left zero.
func (db *DB) InsertCalls(ctx context.Context, cs []gatehouse.Call) error {
	for i := range cs {
		switch t := cs[i].Time; {
		case t.IsZero():
			return gatehouse.Errorf(gatehouse.CodeInvalid, "call time required")
		case !gatehouse.StorableTime(t):
			return gatehouse.Errorf(gatehouse.CodeInvalid, "call time %s out of range", t.UTC().Format(time.RFC3339))
		}
	}
	if len(cs) == 0 {
		return nil
	}
	err := db.callTx(ctx, func(tx *sql.Tx) error {
		w := &db.calls
		if !w.loaded {
			last, err := lastCallID(ctx, tx)
			if err != nil {
				return err
			}
			w.last, w.loaded = last, true
		}
		for i := range cs {
			cs[i].ID = w.last + 1 + int64(i)
		}
		w.last += int64(len(cs))
		return db.insertPages(ctx, tx, cs)
	})
	if err != nil {
		for i := range cs {
			cs[i].ID = 0
		}
		return formatError(err, "insert calls", "call")
	}
	return nil
}

// callTx runs fn in one write transaction, holding the call writer's lock
// (fn may use db.calls), and commits when fn returns nil.
func (db *DB) callTx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	db.calls.mu.Lock()
	defer db.calls.mu.Unlock()
	tx, err := db.writer.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if err := fn(tx); err != nil {
		return err
	}
	return tx.Commit()
}

// insertPages writes cs, with their ids set, as pages of at most
// maxPageCalls.
func (db *DB) insertPages(ctx context.Context, tx *sql.Tx, cs []gatehouse.Call) error {
	for start := 0; start < len(cs); start += maxPageCalls {
		if err := db.insertPage(ctx, tx, cs[start:min(start+maxPageCalls, len(cs))]); err != nil {
			return err
		}
	}
	return nil
}

// lastPageLastID is the last stored call's id, 0 without pages: the last
// page's (pages are inserted in id order), found by rowid.
const lastPageLastID = `coalesce((SELECT last_id FROM call_pages ORDER BY id DESC LIMIT 1), 0)`

// lastCallID is the last call id given out: the last page's, or the one
// call_ids keeps for ids of pages since deleted (and of rows before
// migration 0010), whichever is larger.
func lastCallID(ctx context.Context, tx *sql.Tx) (int64, error) {
	var last int64
	err := tx.QueryRowContext(ctx, `SELECT max(last_id, `+lastPageLastID+`) FROM call_ids`).Scan(&last)
	return last, err
}

// insertPage writes cs, with their ids set, as one page and its keys.
func (db *DB) insertPage(ctx context.Context, tx *sql.Tx, cs []gatehouse.Call) error {
	w := &db.calls
	data, err := w.enc.Encode(w.buf[:0], cs)
	if err != nil {
		return err
	}
	w.buf = data
	w.keys = appendKeyFilter(w.keys[:0], cs)
	minAt, maxAt := cs[0].Time.UnixNano(), cs[0].Time.UnixNano()
	for i := range cs {
		at := cs[i].Time.UnixNano()
		minAt, maxAt = min(minAt, at), max(maxAt, at)
	}
	st := tx.StmtContext(ctx, w.insert)
	_, err = st.ExecContext(ctx, cs[0].ID, cs[len(cs)-1].ID, len(cs), minAt, maxAt, w.keys, data)
	return err
}

// FindCalls returns the calls matching f in the order it asks for, keyset
// paginated on (time, id) by f.After.
//
// It walks the pages' headers in the order of their latest call time
// (newest first) or earliest (oldest first), skips those whose key filter
// cannot hold f's client, token or API, and decodes and filters the calls
// of the others. Calls of neighbouring pages overlap in time, so the walk
// stops only when no further page can hold a call that sorts before the
// f.Limit-th found.
func (db *DB) FindCalls(ctx context.Context, f gatehouse.CallFilter) ([]gatehouse.Call, error) {
	found, err := db.findCalls(ctx, &f)
	if err != nil {
		return nil, formatError(err, "find calls", "call")
	}
	if found == nil {
		found = []gatehouse.Call{}
	}
	return found, nil
}

func (db *DB) findCalls(ctx context.Context, f *gatehouse.CallFilter) ([]gatehouse.Call, error) {
	var keys []uint64
	for _, k := range [...]struct{ prefix, v string }{{keyClient, f.ClientID}, {keyToken, f.TokenID}, {keyAPI, f.API}} {
		if k.v != "" {
			keys = append(keys, keyHash(k.prefix, k.v))
		}
	}
	// One connection, so that a walk never waits for a second one from the
	// pool (which concurrent walks could all be holding), and one read
	// transaction on it: the widest span, the walk and the reads of page
	// data see one snapshot, so a page committed meanwhile (perhaps wider
	// than the span read) is either seen with its span or not at all.
	conn, err := db.reader.Conn(ctx)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	tx, err := conn.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	widest := int64(math.MaxInt64) // no row: no bound
	if f.After != nil || !f.From.IsZero() || !f.To.IsZero() {
		if err := tx.QueryRowContext(ctx, `SELECT max_span FROM call_span`).Scan(&widest); err != nil && !errors.Is(err, sql.ErrNoRows) {
			return nil, err
		}
	}
	q, args := findPagesQuery(*f, widest)
	rows, err := tx.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	less := callOrder(f.Ascending)
	var found, spare, page []gatehouse.Call
	var filter, data []byte
walk:
	for rows.Next() {
		var id, minAt, maxAt int64
		if err := rows.Scan(&id, &minAt, &maxAt, &filter); err != nil {
			return nil, err
		}
		if f.Limit > 0 && len(found) >= f.Limit {
			// found is sorted and cut to f.Limit: its last call is the
			// bar a call must pass. Every call of this page and the
			// ones after it is at least as late (or early) as the
			// page's bound, so once the bound is past the bar's time
			// nothing later can pass it. At an equal time a larger (or
			// smaller) id still could.
			bar := found[len(found)-1].Time.UnixNano()
			if (!f.Ascending && maxAt < bar) || (f.Ascending && minAt > bar) {
				break
			}
		}
		for _, h := range keys {
			if !mayHoldKey(filter, h) {
				continue walk
			}
		}
		if err := tx.QueryRowContext(ctx, `SELECT data FROM call_pages WHERE id = ?`, id).Scan(&data); err != nil {
			return nil, err
		}
		if page, err = callpage.Decode(page[:0], data); err != nil {
			return nil, fmt.Errorf("page %d: %w", id, err)
		}
		n := len(found)
		for i := range page {
			if matchCall(f, &page[i]) {
				found = append(found, page[i])
			}
		}
		if f.Limit > 0 && len(found) > n {
			// Keep found sorted and at most f.Limit long: sort the
			// page's matches (mostly in order already) and merge. Pages
			// come in time order, so their matches mostly all sort after
			// those found before: then a cut is enough, and the calls
			// found are not copied again for every page.
			slices.SortFunc(found[n:], less)
			if n == 0 || less(found[n-1], found[n]) <= 0 {
				found = found[:min(len(found), f.Limit)]
			} else {
				found, spare = mergeCalls(spare[:0], found[:n], found[n:], f.Limit, less), found
			}
		}
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if f.Limit <= 0 {
		slices.SortFunc(found, less)
	}
	return found, nil
}

// mergeCalls appends to dst the first (at most limit) calls of a and b,
// both sorted by less, in that order.
func mergeCalls(dst, a, b []gatehouse.Call, limit int, less func(a, b gatehouse.Call) int) []gatehouse.Call {
	for len(dst) < limit && (len(a) > 0 || len(b) > 0) {
		if len(b) == 0 || len(a) > 0 && less(a[0], b[0]) <= 0 {
			dst, a = append(dst, a[0]), a[1:]
		} else {
			dst, b = append(dst, b[0]), b[1:]
		}
	}
	return dst
}

// callOrder compares calls in FindCalls's order: newest first (time, then
// id, descending) or oldest first.
func callOrder(ascending bool) func(a, b gatehouse.Call) int {
	if ascending {
		return func(a, b gatehouse.Call) int {
			return cmp.Or(a.Time.Compare(b.Time), cmp.Compare(a.ID, b.ID))
		}
	}
	return func(a, b gatehouse.Call) int {
		return cmp.Or(b.Time.Compare(a.Time), cmp.Compare(b.ID, a.ID))
	}
}

// matchCall is whether c passes every condition of f.
func matchCall(f *gatehouse.CallFilter, c *gatehouse.Call) bool {
	switch {
	case !f.From.IsZero() && c.Time.Before(f.From),
		!f.To.IsZero() && !c.Time.Before(f.To),
		f.API != "" && c.API != f.API,
		f.ClientID != "" && c.ClientID != f.ClientID,
		f.TokenID != "" && c.TokenID != f.TokenID,
		f.StatusMin > 0 && c.Status < f.StatusMin,
		f.StatusMax > 0 && c.Status > f.StatusMax:
		return false
	}
	if a := f.After; a != nil {
		o := cmp.Or(c.Time.Compare(a.Time), cmp.Compare(c.ID, a.ID))
		if f.Ascending {
			return o > 0
		}
		return o < 0
	}
	return true
}

// findPagesQuery is the SQL and arguments that list the pages which may
// hold calls matching f by their time bounds, in the order FindCalls reads
// them: id, time bounds and key filter, never the data.
//
// The order comes from an index (INDEXED BY: never a sort, which would
// read every page in range before returning the first).
func findPagesQuery(f gatehouse.CallFilter, widest int64) (string, []any) {
	var where []string
	var args []any
	add := func(cond string, v int64) {
		where, args = append(where, cond), append(args, v)
	}
	// Each bound on one end of a page also bounds its other end by the
	// widest page span, which lets the walk start in the index where the
	// first page that can match is, instead of at its end. A saturated
	// span (a page over 292 years wide) may be wider still: no bound then.
	lower := func(v int64) { // min_at >= v - widest
		if widest < math.MaxInt64 && v >= math.MinInt64+widest {
			add(`min_at >= ?`, v-widest)
		}
	}
	upper := func(v int64, strict bool) { // max_at <= v + widest (or <)
		if widest < math.MaxInt64 && v <= math.MaxInt64-widest {
			if strict {
				add(`max_at < ?`, v+widest)
			} else {
				add(`max_at <= ?`, v+widest)
			}
		}
	}
	if !f.From.IsZero() {
		from := f.From.UnixNano()
		add(`max_at >= ?`, from)
		lower(from)
	}
	if !f.To.IsZero() {
		to := f.To.UnixNano()
		add(`min_at < ?`, to)
		upper(to, true)
	}
	if c := f.After; c != nil {
		at := c.Time.UnixNano()
		if f.Ascending {
			add(`max_at >= ?`, at)
			lower(at)
		} else {
			add(`min_at <= ?`, at)
			upper(at, false)
		}
	}
	// Pages of equal bounds may come in any order: the walk's stop test
	// compares bounds strictly.
	q := `SELECT id, min_at, max_at, keys FROM call_pages INDEXED BY call_pages_max_at`
	order := ` ORDER BY max_at DESC`
	if f.Ascending {
		q = `SELECT id, min_at, max_at, keys FROM call_pages INDEXED BY call_pages_min_at`
		order = ` ORDER BY min_at`
	}
	if len(where) > 0 {
		q += ` WHERE ` + strings.Join(where, ` AND `)
	}
	return q + order, args
}

// DeleteCallsBefore deletes the oldest pages whose calls are all older than
// before, limit calls or a little more (pages are deleted whole), and
// returns how many calls went. A page
// holding a call newer than before stays whole: calls outlive a retention
// age by at most their page's time span, normally the log's flush
// interval.
func (db *DB) DeleteCallsBefore(ctx context.Context, before time.Time, limit int) (int, error) {
	if limit <= 0 {
		return 0, gatehouse.Errorf(gatehouse.CodeInvalid, "delete calls: limit must be positive")
	}
	b := before.UnixNano()
	n, err := db.deletePages(ctx, limit,
		`SELECT id, n, max_at FROM call_pages INDEXED BY call_pages_max_at ORDER BY max_at`,
		func(maxAt int64) bool { return maxAt >= b })
	return n, formatError(err, "delete calls", "call")
}

// TrimCalls deletes the earliest inserted pages whose calls are all beyond
// the last keep calls inserted, limit calls or a little more as for
// DeleteCallsBefore, and returns how many calls went. It never counts
// calls: ids grow with each insert, so at most keep calls plus one page
// remain once it returns fewer than limit.
func (db *DB) TrimCalls(ctx context.Context, keep int64, limit int) (int, error) {
	if limit <= 0 || keep < 0 {
		return 0, gatehouse.Errorf(gatehouse.CodeInvalid, "trim calls: limit must be positive and keep not negative")
	}
	var bound int64
	if err := db.writer.QueryRowContext(ctx, `SELECT `+lastPageLastID).Scan(&bound); err != nil {
		return 0, formatError(err, "trim calls", "call")
	}
	bound -= keep
	// last_id grows with id: the walk stops at the first page to keep.
	n, err := db.deletePages(ctx, limit, `SELECT id, n, last_id FROM call_pages ORDER BY id`,
		func(lastID int64) bool { return lastID > bound })
	return n, formatError(err, "trim calls", "call")
}

// deletePages deletes, in one transaction, the pages that sel lists (id, n,
// and a value for stop) in order, until stop says to keep one or they hold
// limit calls: the last page may take them over limit, so that fewer than
// limit deleted means nothing more to delete.
func (db *DB) deletePages(ctx context.Context, limit int, sel string, stop func(int64) bool) (int, error) {
	calls := 0
	err := db.callTx(ctx, func(tx *sql.Tx) error {
		ids, n, err := pagesToDelete(ctx, tx, limit, sel, stop)
		if err != nil || len(ids) == 0 {
			return err
		}
		// Keep the last id given out, in case these are the last pages.
		if _, err := tx.ExecContext(ctx, `UPDATE call_ids SET last_id = max(last_id, `+lastPageLastID+`)`); err != nil {
			return err
		}
		in := `(` + strings.Repeat(`?, `, len(ids)-1) + `?)`
		if _, err := tx.ExecContext(ctx, `DELETE FROM call_pages WHERE id IN `+in, ids...); err != nil {
			return err
		}
		calls = n
		return nil
	})
	return calls, err
}

// pagesToDelete reads deletePages's selection: the ids of the pages to
// delete and how many calls they hold.
func pagesToDelete(ctx context.Context, tx *sql.Tx, limit int, sel string, stop func(int64) bool) ([]any, int, error) {
	rows, err := tx.QueryContext(ctx, sel)
	if err != nil {
		return nil, 0, err
	}
	defer rows.Close()
	var ids []any
	calls := 0
	for calls < limit && rows.Next() {
		var id, v int64
		var n int
		if err := rows.Scan(&id, &n, &v); err != nil {
			return nil, 0, err
		}
		if stop(v) {
			break
		}
		ids, calls = append(ids, id), calls+n
	}
	return ids, calls, rows.Err()
}

// legacyBatch is how many rows of the old calls table one transaction of
// moveLegacyCalls moves (a variable for tests).
var legacyBatch = 8192

// moveLegacyCalls moves the rows of the calls table (before migration
// 0010) into pages, keeping their ids, legacyBatch rows per transaction
// (each moves its rows and deletes them, so an interrupted move resumes
// where it stopped), then drops the table. A store without that table
// returns at once.
func (db *DB) moveLegacyCalls(ctx context.Context) error {
	if ok, err := hasLegacyCalls(ctx, db.writer); err != nil || !ok {
		return err
	}
	// The ids span (two rowid probes) tells how long it may take without
	// counting the rows.
	var span int64
	if err := db.writer.QueryRowContext(ctx, `SELECT coalesce(max(id) - min(id) + 1, 0) FROM calls`).Scan(&span); err != nil {
		return fmt.Errorf("move calls into pages: %w", err)
	}
	start := time.Now()
	if span > 0 && db.log != nil {
		db.log.Info("moving the call log into pages (first start after an upgrade; about 7 s per million calls)",
			"calls_at_most", span)
	}
	moved := 0
	for {
		n, err := db.moveLegacyBatch(ctx)
		if err != nil {
			return fmt.Errorf("move calls into pages: %w", err)
		}
		if n == 0 {
			break
		}
		moved += n
	}
	if moved > 0 && db.log != nil {
		db.log.Info("call log moved into pages", "calls", moved, "took", time.Since(start).Round(time.Millisecond).String())
	}
	return nil
}

// hasLegacyCalls reports whether the calls table of before migration 0010
// is still there.
func hasLegacyCalls(ctx context.Context, q interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}) (bool, error) {
	var n int
	err := q.QueryRowContext(ctx, `SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'calls'`).Scan(&n)
	return n > 0, err
}

// moveLegacyBatch moves the next legacyBatch rows and returns how many it
// moved; with none left, it drops the table and returns 0.
func (db *DB) moveLegacyBatch(ctx context.Context) (int, error) {
	moved := 0
	err := db.callTx(ctx, func(tx *sql.Tx) error {
		// Another process opening the same file may have finished the
		// move while this one waited for the write lock.
		if ok, err := hasLegacyCalls(ctx, tx); err != nil || !ok {
			return err
		}
		cs, err := readLegacyCalls(ctx, tx)
		if err != nil {
			return err
		}
		if len(cs) == 0 {
			_, err := tx.ExecContext(ctx, `DROP TABLE calls`)
			return err
		}
		// Rows inserted before 0010 keep their ids; call_ids starts
		// above them.
		if err := db.insertPages(ctx, tx, cs); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM calls WHERE id <= ?`, cs[len(cs)-1].ID); err != nil {
			return err
		}
		moved = len(cs)
		return nil
	})
	return moved, err
}

// readLegacyCalls reads the next legacyBatch rows of the old calls table,
// in id order.
func readLegacyCalls(ctx context.Context, tx *sql.Tx) ([]gatehouse.Call, error) {
	rows, err := tx.QueryContext(ctx, `SELECT id, at, request_id, api, route, method, path, status, client_id, subject,
		token_id, grant_id, client_addr, user_agent, bytes_in, bytes_out, upstream_ns, total_ns, reason
		FROM calls ORDER BY id LIMIT `+strconv.Itoa(legacyBatch))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var cs []gatehouse.Call
	for rows.Next() {
		var c gatehouse.Call
		var at, up, total int64
		if err := rows.Scan(&c.ID, &at, &c.RequestID, &c.API, &c.Route, &c.Method, &c.Path, &c.Status,
			&c.ClientID, &c.Subject, &c.TokenID, &c.GrantID, &c.ClientAddr, &c.UserAgent,
			&c.BytesIn, &c.BytesOut, &up, &total, &c.Reason); err != nil {
			return nil, err
		}
		c.Time, c.Upstream, c.Total = time.Unix(0, at).UTC(), time.Duration(up), time.Duration(total)
		cs = append(cs, c)
	}
	return cs, rows.Err()
}

// SetWALAutoCheckpoint sets how many WAL pages accumulate before a commit
// copies them into the database file (SQLite's default is 1000). The call
// log raises it: the last pages of its table and indexes are rewritten by
// many transactions in a row, and a larger WAL copies each of them once per
// checkpoint instead of once every few batches. The WAL file then grows to
// about pages x 4 KiB.
func (db *DB) SetWALAutoCheckpoint(ctx context.Context, pages int) error {
	if pages < 1 {
		return gatehouse.Errorf(gatehouse.CodeInvalid, "wal_autocheckpoint: pages must be positive")
	}
	// The writer pool holds its one connection for ever, so the setting
	// stays with it.
	_, err := db.writer.ExecContext(ctx, `PRAGMA wal_autocheckpoint = `+strconv.Itoa(pages))
	return formatError(err, "set wal_autocheckpoint", "setting")
}
