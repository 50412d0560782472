package sqlite

import (
	"context"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/gatehouse/gatehouse"
)

// checkRevision reads the revision of the row of table whose keyCol is key
// and compares it with expected (0: no check). CodeNotFound if there is no
// such row, a *RevisionError if expected is stale.
func checkRevision(ctx context.Context, tx *sql.Tx, table, keyCol, key, kind string, expected int64) (int64, error) {
	var rev int64
	err := tx.QueryRowContext(ctx, `SELECT revision FROM `+table+` WHERE `+keyCol+` = ?`, key).Scan(&rev)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, gatehouse.Errorf(gatehouse.CodeNotFound, "%s not found", kind)
	} else if err != nil {
		return 0, err
	}
	if expected != 0 && expected != rev {
		return 0, &gatehouse.RevisionError{Kind: kind, ID: key, Expected: expected, Actual: rev}
	}
	return rev, nil
}

// Cursors are opaque to callers: the base64url of a version tag and the
// last key of the previous page. The tag lets the format change later.
func encodeCursor(key string) string {
	return base64.RawURLEncoding.EncodeToString([]byte("1:" + key))
}

func decodeCursor(c string) (string, error) {
	b, err := base64.RawURLEncoding.Strict().DecodeString(c)
	key, ok := strings.CutPrefix(string(b), "1:")
	// Only the canonical form (the decoder skips line breaks, say): one
	// position, one cursor.
	if err != nil || !ok || encodeCursor(key) != c {
		return "", gatehouse.Errorf(gatehouse.CodeInvalid, "invalid cursor")
	}
	return key, nil
}

// findPage runs selectSQL with where, keyset-paginated on keyCol: the rows
// after the page's cursor, at most its limit, and the next cursor.
func findPage[T any](ctx context.Context, q querier, selectSQL, keyCol string, where []string, args []any,
	p gatehouse.Page, what string, scan func(scanner) (T, error), key func(T) string) ([]T, string, error) {
	if p.Cursor != "" {
		after, err := decodeCursor(p.Cursor)
		if err != nil {
			return nil, "", err
		}
		where, args = append(where, keyCol+` > ?`), append(args, after)
	}
	query := selectSQL
	if len(where) > 0 {
		query += ` WHERE ` + strings.Join(where, ` AND `)
	}
	limit := p.PageLimit()
	query += ` ORDER BY ` + keyCol + ` LIMIT ?`
	args = append(args, limit+1)
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, "", formatError(err, "find "+what+"s", what)
	}
	defer rows.Close()
	out := []T{}
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, "", formatError(err, "find "+what+"s", what)
		}
		out = append(out, v)
	}
	if err := rows.Err(); err != nil {
		return nil, "", formatError(err, "find "+what+"s", what)
	}
	next := ""
	if len(out) > limit {
		out = out[:limit]
		next = encodeCursor(key(out[limit-1]))
	}
	return out, next, nil
}

// querier is a pool or a transaction.
type querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

func insertStateChange(ctx context.Context, tx *sql.Tx, c gatehouse.StateChange) error {
	if c.At.IsZero() || c.Kind == "" || c.ID == "" || c.To == "" {
		return gatehouse.Errorf(gatehouse.CodeInvalid, "a state change needs a kind, an id, a new state and a time")
	}
	_, err := tx.ExecContext(ctx, `INSERT INTO state_changes (kind, object_id, from_state, to_state, actor, reason, at)
		VALUES (?, ?, ?, ?, ?, ?, ?)`, c.Kind, c.ID, c.From, c.To, c.Actor, c.Reason, c.At.UnixNano())
	return err
}

// checkChange requires change exactly when the state moves from stored to
// now, and that it describes that move.
func checkChange(kind, id, stored, now string, change *gatehouse.StateChange) error {
	switch {
	case stored == now && change == nil:
		return nil
	case stored == now:
		return gatehouse.Errorf(gatehouse.CodeInvalid, "%s %s: a state change was given but the state stays %s", kind, id, now)
	case change == nil:
		return gatehouse.Errorf(gatehouse.CodeInvalid, "%s %s: the state moves from %s to %s without a recorded step; use the transition methods", kind, id, stored, now)
	case change.Kind != kind || change.ID != id || change.From != stored || change.To != now:
		return gatehouse.Errorf(gatehouse.CodeInvalid, "%s %s: the recorded step (%s -> %s) does not match the stored state %s -> %s", kind, id, change.From, change.To, stored, now)
	}
	return nil
}

// FindStateChanges returns the recorded lifecycle steps matching f, oldest
// first, and the cursor of the next page.
func (db *DB) FindStateChanges(ctx context.Context, f gatehouse.StateChangeFilter) ([]gatehouse.StateChange, string, error) {
	var where []string
	var args []any
	if f.Kind != "" {
		where, args = append(where, `kind = ?`), append(args, f.Kind)
	}
	if f.ID != "" {
		where, args = append(where, `object_id = ?`), append(args, f.ID)
	}
	if f.Cursor != "" {
		after, err := decodeCursor(f.Cursor)
		seq, perr := strconv.ParseInt(after, 10, 64)
		if err != nil || perr != nil {
			return nil, "", gatehouse.Errorf(gatehouse.CodeInvalid, "invalid cursor")
		}
		where, args = append(where, `seq > ?`), append(args, seq)
	}
	q := `SELECT seq, kind, object_id, from_state, to_state, actor, reason, at FROM state_changes`
	if len(where) > 0 {
		q += ` WHERE ` + strings.Join(where, ` AND `)
	}
	limit := f.PageLimit()
	q += ` ORDER BY seq LIMIT ?`
	rows, err := db.reader.QueryContext(ctx, q, append(args, limit+1)...)
	if err != nil {
		return nil, "", formatError(err, "find state changes", "state change")
	}
	defer rows.Close()
	out := []gatehouse.StateChange{}
	var seqs []int64
	for rows.Next() {
		var c gatehouse.StateChange
		var seq, at int64
		if err := rows.Scan(&seq, &c.Kind, &c.ID, &c.From, &c.To, &c.Actor, &c.Reason, &at); err != nil {
			return nil, "", formatError(err, "find state changes", "state change")
		}
		c.At = time.Unix(0, at).UTC()
		out, seqs = append(out, c), append(seqs, seq)
	}
	if err := rows.Err(); err != nil {
		return nil, "", formatError(err, "find state changes", "state change")
	}
	next := ""
	if len(out) > limit {
		out = out[:limit]
		next = encodeCursor(strconv.FormatInt(seqs[limit-1], 10))
	}
	return out, next, nil
}

// Teams.

const selectTeamSQL = `SELECT name, description, source, revision, created_at, updated_at FROM teams`

// CreateTeam stores t with revision 1. CodeConflict if the name is taken,
// CodeInvalid without a name.
func (db *DB) CreateTeam(ctx context.Context, t *gatehouse.Team) error {
	if t.Name == "" {
		return gatehouse.Errorf(gatehouse.CodeInvalid, "team name required")
	}
	_, err := db.writer.ExecContext(ctx, `INSERT INTO teams (name, description, source, revision, created_at, updated_at)
		VALUES (?, ?, ?, 1, ?, ?)`, t.Name, t.Description, string(t.Source), timeValue(t.CreatedAt), timeValue(t.UpdatedAt))
	if err != nil {
		return formatError(err, "create team", "team")
	}
	t.Revision = 1
	return nil
}

// FindTeam returns the team with that name, or CodeNotFound.
func (db *DB) FindTeam(ctx context.Context, name string) (*gatehouse.Team, error) {
	t, err := scanTeam(db.reader.QueryRowContext(ctx, selectTeamSQL+` WHERE name = ?`, name))
	if err != nil {
		return nil, formatError(err, "find team", "team")
	}
	return t, nil
}

// FindTeams returns a page of teams ordered by name.
func (db *DB) FindTeams(ctx context.Context, f gatehouse.TeamFilter) ([]*gatehouse.Team, string, error) {
	return findPage(ctx, db.reader, selectTeamSQL, "name", nil, nil, f.Page, "team", scanTeam,
		func(t *gatehouse.Team) string { return t.Name })
}

// UpdateTeam replaces the team's description, source and UpdatedAt.
// CodeNotFound if it does not exist, a *RevisionError if t.Revision is set
// and stale.
func (db *DB) UpdateTeam(ctx context.Context, t *gatehouse.Team) error {
	err := db.writeTx(ctx, func(tx *sql.Tx) error {
		rev, err := checkRevision(ctx, tx, "teams", "name", t.Name, "team", t.Revision)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE teams SET description = ?, source = ?, revision = revision + 1,
			updated_at = ? WHERE name = ?`, t.Description, string(t.Source), timeValue(t.UpdatedAt), t.Name); err != nil {
			return err
		}
		t.Revision = rev + 1
		return nil
	})
	return formatError(err, "update team", "team")
}

// DeleteTeam deletes the team. CodeConflict while an app or an account
// belongs to it; CodeNotFound if it does not exist.
func (db *DB) DeleteTeam(ctx context.Context, name string, revision int64) error {
	err := db.writeTx(ctx, func(tx *sql.Tx) error {
		if _, err := checkRevision(ctx, tx, "teams", "name", name, "team", revision); err != nil {
			return err
		}
		var apps, users int
		if err := tx.QueryRowContext(ctx, `SELECT (SELECT count(*) FROM clients WHERE team = ?1),
			(SELECT count(*) FROM users WHERE team = ?1)`, name).Scan(&apps, &users); err != nil {
			return err
		}
		if apps > 0 || users > 0 {
			return gatehouse.Errorf(gatehouse.CodeConflict, "team %s still has %d apps and %d accounts; move or delete them first", name, apps, users)
		}
		_, err := tx.ExecContext(ctx, `DELETE FROM teams WHERE name = ?`, name)
		return err
	})
	return formatError(err, "delete team", "team")
}

func scanTeam(s scanner) (*gatehouse.Team, error) {
	var t gatehouse.Team
	var created, updated sql.NullInt64
	if err := s.Scan(&t.Name, &t.Description, &t.Source, &t.Revision, &created, &updated); err != nil {
		return nil, err
	}
	t.CreatedAt, t.UpdatedAt = timeOf(created), timeOf(updated)
	return &t, nil
}

// Cutoffs and the change counter.

func upsertCutoff(ctx context.Context, tx *sql.Tx, c gatehouse.Cutoff) error {
	if c.At.IsZero() {
		return gatehouse.Errorf(gatehouse.CodeInvalid, "a cutoff needs a time")
	}
	if c.ClientID == "" && c.Audience == "" {
		return gatehouse.Errorf(gatehouse.CodeInvalid, "a cutoff needs a client or an audience")
	}
	_, err := tx.ExecContext(ctx, `INSERT INTO cutoffs (client_id, audience, at) VALUES (?, ?, ?)
		ON CONFLICT (client_id, audience) DO UPDATE SET at = max(at, excluded.at)`, c.ClientID, c.Audience, c.At.UnixNano())
	return err
}

// AddCutoff records c (bulk revocation by app or by API). An earlier cutoff
// for the same pair is moved forward, never back.
func (db *DB) AddCutoff(ctx context.Context, c gatehouse.Cutoff) error {
	err := db.writeTx(ctx, func(tx *sql.Tx) error { return upsertCutoff(ctx, tx, c) })
	return formatError(err, "add cutoff", "cutoff")
}

// FindCutoffs returns the cutoffs at or after since.
func (db *DB) FindCutoffs(ctx context.Context, since time.Time) ([]gatehouse.Cutoff, error) {
	rows, err := db.reader.QueryContext(ctx, `SELECT client_id, audience, at FROM cutoffs WHERE at >= ?
		ORDER BY client_id, audience`, since.UnixNano())
	if err != nil {
		return nil, formatError(err, "find cutoffs", "cutoff")
	}
	defer rows.Close()
	out := []gatehouse.Cutoff{}
	for rows.Next() {
		var c gatehouse.Cutoff
		var at int64
		if err := rows.Scan(&c.ClientID, &c.Audience, &at); err != nil {
			return nil, formatError(err, "find cutoffs", "cutoff")
		}
		c.At = time.Unix(0, at).UTC()
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, formatError(err, "find cutoffs", "cutoff")
	}
	return out, nil
}

// DeleteCutoffsBefore forgets cutoffs older than before (once no token
// they could refuse is alive) and returns how many.
func (db *DB) DeleteCutoffsBefore(ctx context.Context, before time.Time) (int, error) {
	res, err := db.writer.ExecContext(ctx, `DELETE FROM cutoffs WHERE at < ?`, before.UnixNano())
	if err != nil {
		return 0, formatError(err, "delete cutoffs", "cutoff")
	}
	n, err := res.RowsAffected()
	return int(n), formatError(err, "delete cutoffs", "cutoff")
}

// ChangeCounter returns a number that moves whenever the catalog, apps,
// subscriptions, credentials, accounts, cutoffs or revocations change,
// whoever changed them (triggers keep it).
func (db *DB) ChangeCounter(ctx context.Context) (int64, error) {
	var n int64
	err := db.reader.QueryRowContext(ctx, `SELECT counter FROM changes WHERE id = 1`).Scan(&n)
	return n, formatError(err, "change counter", "change counter")
}

// jsonList encodes a list of strings for a JSON column.
func jsonList(xs []string) (string, error) {
	if xs == nil {
		xs = []string{}
	}
	b, err := json.Marshal(xs)
	return string(b), err
}

func parseList(s, what, id string) ([]string, error) {
	var xs []string
	if err := json.Unmarshal([]byte(s), &xs); err != nil {
		return nil, fmt.Errorf("%s %q: %w", what, id, err)
	}
	return xs, nil
}

// BulkRevoke writes cutoff c (bulk revocation of an app's tokens, with
// c.ClientID, or of an API's, with c.Audience) and records the security
// event e in one transaction.
func (db *DB) BulkRevoke(ctx context.Context, c gatehouse.Cutoff, e *gatehouse.SecurityEvent) error {
	if e == nil || e.ID == "" || e.Type == "" || e.At.IsZero() {
		return gatehouse.Errorf(gatehouse.CodeInvalid, "a bulk revocation records an event with an id, a type and a time")
	}
	err := db.writeTx(ctx, func(tx *sql.Tx) error {
		if err := upsertCutoff(ctx, tx, c); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO security_events (id, type, client_id, subject, grant_id,
			detail, at) VALUES (?, ?, ?, ?, ?, ?, ?)`,
			e.ID, e.Type, e.ClientID, e.Subject, stringValue(e.GrantID), e.Detail, e.At.UnixNano())
		return err
	})
	return formatError(err, "bulk revoke", "cutoff")
}
