package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"time"

	"github.com/gatehouse/gatehouse"
)

const selectGrantSQL = `SELECT id, client_id, subject, audience, scopes, created_at, expires_at, revoked_at
	FROM grants`

// grantArgs returns the parameters of insertGrantTx.
func grantArgs(g *gatehouse.Grant) ([]any, error) {
	scopes, err := json.Marshal(g.Scopes)
	if err != nil {
		return nil, err
	}
	return []any{g.ID, g.ClientID, g.Subject, g.Audience, string(scopes),
		timeValue(g.CreatedAt), timeValue(g.ExpiresAt), timeValue(g.RevokedAt)}, nil
}

// insertGrantTx stores a grant (its grantArgs). Grants are created only by
// RedeemAuthCode, together with their first tokens.
func insertGrantTx(ctx context.Context, tx *sql.Tx, args []any) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO grants (id, client_id, subject, audience, scopes, created_at,
		expires_at, revoked_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`, args...)
	return err
}

// FindGrantByID returns the grant with that ID, revoked or not, or
// CodeNotFound. Grants that were revoked by id only (RevokeGrant of a
// client credentials family, say) have no record and are not found.
func (db *DB) FindGrantByID(ctx context.Context, id string) (*gatehouse.Grant, error) {
	g, err := scanGrant(db.reader.QueryRowContext(ctx, selectGrantSQL+` WHERE id = ?`, id))
	if err != nil {
		return nil, formatError(err, "find grant", "grant")
	}
	return g, nil
}

// FindGrants returns the subject's unrevoked grants, newest (by CreatedAt)
// first, including those past their ExpiresAt: the store does not know the
// time.
func (db *DB) FindGrants(ctx context.Context, subject string) ([]*gatehouse.Grant, error) {
	rows, err := db.reader.QueryContext(ctx, selectGrantSQL+` WHERE subject = ? AND revoked_at IS NULL
		ORDER BY created_at DESC, rowid DESC`, subject)
	if err != nil {
		return nil, formatError(err, "find grants", "grant")
	}
	defer rows.Close()
	gs := []*gatehouse.Grant{}
	for rows.Next() {
		g, err := scanGrant(rows)
		if err != nil {
			return nil, formatError(err, "find grants", "grant")
		}
		gs = append(gs, g)
	}
	if err := rows.Err(); err != nil {
		return nil, formatError(err, "find grants", "grant")
	}
	return gs, nil
}

// RevokeGrantsBySubject revokes, in one transaction and each as RevokeGrant
// would, every unrevoked grant of the subject, and returns their ids in
// order. Grants revoked before keep their time and are not returned.
// CodeInvalid for an empty subject or a zero time.
//
// Authorization codes not yet redeemed are not touched: their grants do
// not exist yet. The caller that must stop them too (a disabled user) has
// to refuse the redemption.
func (db *DB) RevokeGrantsBySubject(ctx context.Context, subject string, at time.Time) ([]string, error) {
	if subject == "" {
		return nil, gatehouse.Errorf(gatehouse.CodeInvalid, "subject required")
	} else if at.IsZero() {
		return nil, gatehouse.Errorf(gatehouse.CodeInvalid, "revocation time required")
	}
	ids := []string{}
	err := db.writeTx(ctx, func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, `SELECT id FROM grants WHERE subject = ? AND revoked_at IS NULL ORDER BY id`,
			subject)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var id string
			if err := rows.Scan(&id); err != nil {
				return err
			}
			ids = append(ids, id)
		}
		if err := rows.Err(); err != nil {
			return err
		}
		for _, id := range ids {
			if _, err := revokeGrantTx(ctx, tx, id, at); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, formatError(err, "revoke grants by subject", "grant")
	}
	return ids, nil
}

func scanGrant(s scanner) (*gatehouse.Grant, error) {
	var g gatehouse.Grant
	var scopes string
	var created, expires, revoked sql.NullInt64
	if err := s.Scan(&g.ID, &g.ClientID, &g.Subject, &g.Audience, &scopes, &created, &expires, &revoked); err != nil {
		return nil, err
	}
	if err := json.Unmarshal([]byte(scopes), &g.Scopes); err != nil {
		return nil, fmt.Errorf("grant %q: scopes: %w", g.ID, err)
	}
	g.CreatedAt, g.ExpiresAt, g.RevokedAt = timeOf(created), timeOf(expires), timeOf(revoked)
	return &g, nil
}
