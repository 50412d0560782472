package sqlite

import (
	"context"
	"database/sql"
	"strings"
	"time"

	"github.com/gatehouse/gatehouse"
)

const recordUsageSQL = `INSERT INTO usage (kind, id, client_id, api, first_used, last_used, last_addr, uses)
	VALUES (?, ?, ?, ?, ?, ?, ?, ?)
	ON CONFLICT (kind, id) DO UPDATE SET
		first_used = min(first_used, excluded.first_used),
		last_addr = CASE WHEN excluded.last_used >= last_used AND excluded.last_addr <> '' THEN excluded.last_addr ELSE last_addr END,
		api = CASE WHEN excluded.last_used >= last_used AND excluded.api <> '' THEN excluded.api ELSE api END,
		client_id = CASE WHEN client_id = '' THEN excluded.client_id ELSE client_id END,
		last_used = max(last_used, excluded.last_used),
		uses = uses + excluded.uses`

// RecordUsage merges us into the stored usage in one transaction (see
// gatehouse.Usage.Merge). CodeInvalid, with nothing written, when a record
// lacks a kind, an id or its times, or has a negative count.
func (db *DB) RecordUsage(ctx context.Context, us []gatehouse.Usage) error {
	for i := range us {
		u := &us[i]
		switch {
		case u.Kind == "" || u.ID == "":
			return gatehouse.Errorf(gatehouse.CodeInvalid, "usage kind and id required")
		case u.FirstUsed.IsZero() || u.LastUsed.IsZero() || u.LastUsed.Before(u.FirstUsed):
			return gatehouse.Errorf(gatehouse.CodeInvalid, "usage of %s %s: first and last use required, in order", u.Kind, u.ID)
		case u.Count < 0:
			return gatehouse.Errorf(gatehouse.CodeInvalid, "usage of %s %s: negative count", u.Kind, u.ID)
		}
	}
	if len(us) == 0 {
		return nil
	}
	err := db.writeTx(ctx, func(tx *sql.Tx) error {
		st, err := tx.PrepareContext(ctx, recordUsageSQL)
		if err != nil {
			return err
		}
		defer st.Close()
		for i := range us {
			u := &us[i]
			if _, err := st.ExecContext(ctx, string(u.Kind), u.ID, u.ClientID, u.API,
				u.FirstUsed.UnixNano(), u.LastUsed.UnixNano(), u.LastAddr, u.Count); err != nil {
				return err
			}
		}
		return nil
	})
	return formatError(err, "record usage", "usage")
}

const selectUsageSQL = `SELECT kind, id, client_id, api, first_used, last_used, last_addr, uses FROM usage`

// FindUsage returns the usage of one credential; CodeNotFound if it was
// never recorded.
func (db *DB) FindUsage(ctx context.Context, kind gatehouse.UsageKind, id string) (*gatehouse.Usage, error) {
	row := db.reader.QueryRowContext(ctx, selectUsageSQL+` WHERE kind = ? AND id = ?`, string(kind), id)
	u, err := scanUsage(row)
	if err != nil {
		return nil, formatError(err, "find usage", "usage")
	}
	return u, nil
}

// ListUsage returns the usage records matching f, least recently used
// first (then by kind and id).
func (db *DB) ListUsage(ctx context.Context, f gatehouse.UsageFilter) ([]*gatehouse.Usage, error) {
	var where []string
	var args []any
	if f.Kind != "" {
		where, args = append(where, `kind = ?`), append(args, string(f.Kind))
	}
	if f.ClientID != "" {
		where, args = append(where, `client_id = ?`), append(args, f.ClientID)
	}
	if f.API != "" {
		where, args = append(where, `api = ?`), append(args, f.API)
	}
	if !f.UnusedSince.IsZero() {
		where, args = append(where, `last_used < ?`), append(args, f.UnusedSince.UnixNano())
	}
	q := selectUsageSQL
	if len(where) > 0 {
		q += ` WHERE ` + strings.Join(where, ` AND `)
	}
	q += ` ORDER BY last_used, kind, id`
	if f.Limit > 0 {
		q += ` LIMIT ?`
		args = append(args, f.Limit)
	}
	rows, err := db.reader.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, formatError(err, "list usage", "usage")
	}
	defer rows.Close()
	us := []*gatehouse.Usage{}
	for rows.Next() {
		u, err := scanUsage(rows)
		if err != nil {
			return nil, formatError(err, "list usage", "usage")
		}
		us = append(us, u)
	}
	if err := rows.Err(); err != nil {
		return nil, formatError(err, "list usage", "usage")
	}
	return us, nil
}

// DeleteUsage forgets the usage of credentials last used before `before`
// (long revoked or expired ones); it returns how many records went.
func (db *DB) DeleteUsage(ctx context.Context, before time.Time) (int, error) {
	if before.IsZero() {
		return 0, gatehouse.Errorf(gatehouse.CodeInvalid, "delete usage: a time is required")
	}
	res, err := db.writer.ExecContext(ctx, `DELETE FROM usage WHERE last_used < ?`, before.UnixNano())
	if err != nil {
		return 0, formatError(err, "delete usage", "usage")
	}
	n, err := res.RowsAffected()
	return int(n), formatError(err, "delete usage", "usage")
}

func scanUsage(s scanner) (*gatehouse.Usage, error) {
	var u gatehouse.Usage
	var kind string
	var first, last sql.NullInt64
	if err := s.Scan(&kind, &u.ID, &u.ClientID, &u.API, &first, &last, &u.LastAddr, &u.Count); err != nil {
		return nil, err
	}
	u.Kind, u.FirstUsed, u.LastUsed = gatehouse.UsageKind(kind), timeOf(first), timeOf(last)
	return &u, nil
}
