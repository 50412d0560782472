package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/gatehouse/gatehouse"
)

// grantHorizon is storetest.GrantRevocationHorizon (a test checks): the
// least time a revoked grant stays in FindRevocations.
const grantHorizon = 24 * time.Hour

const selectTokenSQL = `SELECT id, hash, kind, format, client_id, subject, audience, scopes, grant_id,
	issued_at, expires_at, revoked_at, rotated_at, successor_id, cnf_jkt, cnf_x5t_s256, act, credential_id FROM tokens`

// grantRevokedSQL is true when the grant whose id is the parameter named by
// %[1]s has been revoked. revoked_grants alone is not enough: a revoked
// grant with no tokens left is forgotten there after grantHorizon, while
// grants.revoked_at stays.
const grantRevokedSQL = `(EXISTS (SELECT 1 FROM revoked_grants WHERE grant_id = %[1]s)
	OR EXISTS (SELECT 1 FROM grants WHERE id = %[1]s AND revoked_at IS NOT NULL))`

// createTokenSQL inserts a token unless its grant has been revoked, in one
// statement, so that a refresh racing a revocation of its family cannot add
// a live token to the dead family. Its parameters are tokenArgs.
var createTokenSQL = `INSERT INTO tokens (id, hash, kind, format, client_id, subject, audience, scopes,
	grant_id, issued_at, expires_at, revoked_at, rotated_at, successor_id, cnf_jkt, cnf_x5t_s256, act, credential_id)
	SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18
	WHERE ?9 IS NULL OR NOT ` + fmt.Sprintf(grantRevokedSQL, "?9")

// CreateToken stores t. CodeConflict if a token with its ID or hash exists
// or its grant has been revoked; CodeInvalid if it lacks an ID, a hash or an
// expiry.
func (db *DB) CreateToken(ctx context.Context, t *gatehouse.Token) error {
	args, err := tokenArgs(t)
	if err != nil {
		return formatError(err, "create token", "token")
	}
	return db.insertToken(ctx, args)
}

// tokenArgs checks that t has its keys and returns the parameters of
// createTokenSQL.
func tokenArgs(t *gatehouse.Token) ([]any, error) {
	switch {
	case t == nil:
		return nil, gatehouse.Errorf(gatehouse.CodeInvalid, "token required")
	case t.ID == "":
		return nil, gatehouse.Errorf(gatehouse.CodeInvalid, "token id required")
	case len(t.Hash) == 0:
		return nil, gatehouse.Errorf(gatehouse.CodeInvalid, "token hash required")
	case t.ExpiresAt.IsZero():
		return nil, gatehouse.Errorf(gatehouse.CodeInvalid, "token expiry required")
	}
	scopes, err := json.Marshal(t.Scopes)
	if err != nil {
		return nil, err
	}
	act, err := actValue(t.Act)
	if err != nil {
		return nil, err
	}
	return []any{t.ID, t.Hash, string(t.Kind), string(t.Format),
		t.ClientID, t.Subject, t.Audience, string(scopes), stringValue(t.GrantID),
		timeValue(t.IssuedAt), timeValue(t.ExpiresAt), timeValue(t.RevokedAt),
		timeValue(t.RotatedAt), stringValue(t.SuccessorID), stringValue(t.Cnf.JKT), stringValue(t.Cnf.X5TS256), act,
		stringValue(t.CredentialID)}, nil
}

// insertTokensTx stores tokens (their tokenArgs) in tx, as CreateToken
// would, for the methods that issue tokens together with another change.
// A taken ID or hash is not reported as CodeConflict, which those methods
// reserve for reuse: it is a caller's bug (or a collision of random ids),
// so it is an internal error.
func (db *DB) insertTokensTx(ctx context.Context, tx *sql.Tx, args [][]any) error {
	stmt := tx.StmtContext(ctx, db.createTokenStmt)
	defer stmt.Close()
	for _, a := range args {
		res, err := stmt.ExecContext(ctx, a...)
		if err != nil {
			return notConflict(err, fmt.Sprintf("token %q", a[0]))
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return gatehouse.Errorf(gatehouse.CodeConflict, "grant revoked")
		}
	}
	return nil
}

// FindTokenByHash returns the token whose hash is hash, or CodeNotFound.
func (db *DB) FindTokenByHash(ctx context.Context, hash []byte) (*gatehouse.Token, error) {
	t, err := scanToken(db.findTokenByHashStmt.QueryRowContext(ctx, hash))
	if err != nil {
		return nil, formatError(err, "find token", "token")
	}
	return t, nil
}

// FindTokenByID returns the token with that ID (jti), or CodeNotFound.
func (db *DB) FindTokenByID(ctx context.Context, id string) (*gatehouse.Token, error) {
	t, err := scanToken(db.findTokenByIDStmt.QueryRowContext(ctx, id))
	if err != nil {
		return nil, formatError(err, "find token", "token")
	}
	return t, nil
}

func scanToken(s scanner) (*gatehouse.Token, error) {
	var t gatehouse.Token
	var scopes string
	var grantID, successorID, jkt, x5t, act, credentialID sql.NullString
	var issued, expires, revoked, rotated sql.NullInt64
	if err := s.Scan(&t.ID, &t.Hash, &t.Kind, &t.Format, &t.ClientID, &t.Subject, &t.Audience, &scopes,
		&grantID, &issued, &expires, &revoked, &rotated, &successorID, &jkt, &x5t, &act, &credentialID); err != nil {
		return nil, err
	}
	if err := json.Unmarshal([]byte(scopes), &t.Scopes); err != nil {
		return nil, fmt.Errorf("token %q: scopes: %w", t.ID, err)
	}
	t.GrantID, t.SuccessorID, t.CredentialID = grantID.String, successorID.String, credentialID.String
	t.Cnf = gatehouse.Confirmation{JKT: jkt.String, X5TS256: x5t.String}
	if act.Valid {
		var err error
		if t.Act, err = actOf(act.String); err != nil {
			return nil, fmt.Errorf("token %q: act: %w", t.ID, err)
		}
	}
	t.IssuedAt, t.ExpiresAt, t.RevokedAt = timeOf(issued), timeOf(expires), timeOf(revoked)
	t.RotatedAt = timeOf(rotated)
	return &t, nil
}

// RevokeToken sets the token's RevokedAt to at unless it is already
// revoked, and reports whether this call revoked it. CodeNotFound if there
// is no such token, CodeInvalid for a zero time.
func (db *DB) RevokeToken(ctx context.Context, id string, at time.Time) (bool, error) {
	if at.IsZero() {
		return false, gatehouse.Errorf(gatehouse.CodeInvalid, "revocation time required")
	}
	var revoked bool
	err := db.writeTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE tokens SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL`,
			at.UnixNano(), id)
		if err != nil {
			return err
		}
		n, err := res.RowsAffected()
		if err != nil {
			return err
		} else if n == 1 {
			revoked = true
			return nil
		}
		// Nothing changed: already revoked, or no such token.
		var one int
		return tx.QueryRowContext(ctx, `SELECT 1 FROM tokens WHERE id = ?`, id).Scan(&one)
	})
	if err != nil {
		return false, formatError(err, "revoke token", "token")
	}
	return revoked, nil
}

// RevokeGrant revokes every unrevoked token of the grant at `at` and records
// the grant as revoked, keeping the first revocation time if it already
// was. It returns how many tokens it revoked. CodeInvalid for an empty id
// or a zero time.
func (db *DB) RevokeGrant(ctx context.Context, grantID string, at time.Time) (int, error) {
	if grantID == "" {
		return 0, gatehouse.Errorf(gatehouse.CodeInvalid, "grant id required")
	} else if at.IsZero() {
		return 0, gatehouse.Errorf(gatehouse.CodeInvalid, "revocation time required")
	}
	var n int64
	err := db.writeTx(ctx, func(tx *sql.Tx) (err error) {
		n, err = revokeGrantTx(ctx, tx, grantID, at)
		return err
	})
	if err != nil {
		return 0, formatError(err, "revoke grant", "grant")
	}
	return int(n), nil
}

// revokeGrantTx is RevokeGrant within tx: every path that revokes a grant
// (RevokeGrant, the reuse of an authorization code, RevokeGrantsBySubject)
// goes through it, so that they all leave the same state behind.
func revokeGrantTx(ctx context.Context, tx *sql.Tx, grantID string, at time.Time) (int64, error) {
	res, err := tx.ExecContext(ctx, `UPDATE tokens SET revoked_at = ? WHERE grant_id = ? AND revoked_at IS NULL`,
		at.UnixNano(), grantID)
	if err != nil {
		return 0, err
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, err
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO revoked_grants (grant_id, revoked_at) VALUES (?, ?)
		ON CONFLICT (grant_id) DO NOTHING`, grantID, at.UnixNano()); err != nil {
		return 0, err
	}
	// The grant row, if any, takes the revocation time revoked_grants kept,
	// so that both agree on the first revocation.
	if _, err := tx.ExecContext(ctx, `UPDATE grants
		SET revoked_at = COALESCE((SELECT revoked_at FROM revoked_grants WHERE grant_id = ?1), ?2)
		WHERE id = ?1 AND revoked_at IS NULL`, grantID, at.UnixNano()); err != nil {
		return 0, err
	}
	return n, nil
}

// FindRevocations returns, in one snapshot:
//   - each revoked token that has not expired at now, until its expiry,
//     unless its grant is revoked (the grant's entry covers it);
//   - each revoked grant, until the later of its tokens' latest expiry and
//     its revocation time plus grantHorizon, if that is after now. The
//     horizon covers a grant whose tokens were never stored or are already
//     deleted.
//
// Entries are ordered by Until.
func (db *DB) FindRevocations(ctx context.Context, now time.Time) ([]gatehouse.Revocation, error) {
	rows, err := db.reader.QueryContext(ctx, `
		SELECT id, '', expires_at FROM tokens
		WHERE revoked_at IS NOT NULL AND expires_at > ?1
			AND (grant_id IS NULL OR grant_id NOT IN (SELECT grant_id FROM revoked_grants))
		UNION ALL
		SELECT '', grant_id, until FROM (
			SELECT g.grant_id, MAX(g.revoked_at + ?2,
				COALESCE((SELECT MAX(t.expires_at) FROM tokens t WHERE t.grant_id = g.grant_id), 0)) AS until
			FROM revoked_grants g
		)
		WHERE until > ?1
		ORDER BY 3, 1, 2`,
		now.UnixNano(), int64(grantHorizon))
	if err != nil {
		return nil, formatError(err, "find revocations", "revocation")
	}
	defer rows.Close()
	rs := []gatehouse.Revocation{}
	for rows.Next() {
		var r gatehouse.Revocation
		var until int64
		if err := rows.Scan(&r.TokenID, &r.GrantID, &until); err != nil {
			return nil, formatError(err, "find revocations", "revocation")
		}
		r.Until = time.Unix(0, until).UTC()
		rs = append(rs, r)
	}
	if err := rows.Err(); err != nil {
		return nil, formatError(err, "find revocations", "revocation")
	}
	return rs, nil
}

// DeleteExpiredTokens deletes the tokens that expired before `before` and
// returns how many. In the same transaction it forgets revoked grants that
// have no tokens left and whose horizon ended before `before`: FindRevocations
// would no longer return them.
func (db *DB) DeleteExpiredTokens(ctx context.Context, before time.Time) (int, error) {
	var n int64
	err := db.writeTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM tokens WHERE expires_at < ?`, before.UnixNano())
		if err != nil {
			return err
		}
		if n, err = res.RowsAffected(); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `DELETE FROM revoked_grants
			WHERE revoked_at + ? < ?
				AND NOT EXISTS (SELECT 1 FROM tokens t WHERE t.grant_id = revoked_grants.grant_id)`,
			int64(grantHorizon), before.UnixNano())
		return err
	})
	if err != nil {
		return 0, formatError(err, "delete expired tokens", "token")
	}
	return int(n), nil
}

// rotateSQL is the refresh token compare-and-set: it marks the token
// rotated only if it is still active at ?1, and returns its grant. The
// writer runs one transaction at a time, and this check and the change are
// one statement anyway, so two rotations of one token cannot both see it
// active (Keycloak #45647 was a check-then-act race here).
var rotateSQL = `UPDATE tokens SET rotated_at = ?1, successor_id = ?2
	WHERE id = ?3 AND kind = 'refresh' AND rotated_at IS NULL AND revoked_at IS NULL AND expires_at > ?1
		AND (grant_id IS NULL OR NOT ` + fmt.Sprintf(grantRevokedSQL, "tokens.grant_id") + `)
	RETURNING grant_id`

// RotateRefreshToken, in one transaction, marks the refresh token oldID
// rotated at now with successor as its successor, and stores successor and
// access, if oldID is still active: not rotated, not revoked, not expired at
// now and its grant not revoked. Otherwise nothing is written and the error
// is CodeConflict (the token exists but is not active: the caller treats it
// as reuse) or CodeNotFound (no such token, or it is not a refresh token).
//
// CodeInvalid if successor or access lacks an ID, a hash or an expiry, or
// belongs to another grant than oldID (every token of a family carries its
// grant id, or revoking the family would miss it). A successor or access
// whose ID or hash is taken is an internal error, not a conflict, because a
// conflict here means reuse.
func (db *DB) RotateRefreshToken(ctx context.Context, oldID string, now time.Time, successor, access *gatehouse.Token) error {
	if oldID == "" {
		return gatehouse.Errorf(gatehouse.CodeInvalid, "refresh token id required")
	} else if now.IsZero() {
		return gatehouse.Errorf(gatehouse.CodeInvalid, "rotation time required")
	}
	var args [][]any
	for _, t := range []*gatehouse.Token{successor, access} {
		a, err := tokenArgs(t)
		if err != nil {
			return formatError(err, "rotate refresh token", "token")
		}
		args = append(args, a)
	}
	err := db.writeTx(ctx, func(tx *sql.Tx) error {
		var grantID sql.NullString
		err := tx.QueryRowContext(ctx, rotateSQL, now.UnixNano(), successor.ID, oldID).Scan(&grantID)
		if errors.Is(err, sql.ErrNoRows) {
			var kind string
			err := tx.QueryRowContext(ctx, `SELECT kind FROM tokens WHERE id = ?`, oldID).Scan(&kind)
			if errors.Is(err, sql.ErrNoRows) || (err == nil && kind != string(gatehouse.KindRefresh)) {
				return gatehouse.Errorf(gatehouse.CodeNotFound, "refresh token not found")
			} else if err != nil {
				return err
			}
			return gatehouse.Errorf(gatehouse.CodeConflict, "refresh token already rotated, revoked or expired")
		} else if err != nil {
			return err
		}
		if successor.GrantID != grantID.String || access.GrantID != grantID.String {
			return gatehouse.Errorf(gatehouse.CodeInvalid, "new tokens must belong to the refresh token's grant")
		}
		return db.insertTokensTx(ctx, tx, args)
	})
	return formatError(err, "rotate refresh token", "token")
}

// FindTokens returns the tokens matching f ordered by ID.
func (db *DB) FindTokens(ctx context.Context, f gatehouse.TokenFilter) ([]*gatehouse.Token, error) {
	q := selectTokenSQL + ` WHERE id > ?`
	args := []any{f.After}
	for _, c := range []struct{ col, v string }{
		{"client_id", f.ClientID}, {"subject", f.Subject}, {"audience", f.Audience}, {"kind", string(f.Kind)},
	} {
		if c.v != "" {
			q += ` AND ` + c.col + ` = ?`
			args = append(args, c.v)
		}
	}
	if !f.ActiveAt.IsZero() {
		q += ` AND revoked_at IS NULL AND rotated_at IS NULL AND expires_at > ?`
		args = append(args, f.ActiveAt.UnixNano())
	}
	q += ` ORDER BY id`
	if f.Limit > 0 {
		q += ` LIMIT ?`
		args = append(args, f.Limit)
	}
	rows, err := db.reader.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("find tokens: %w", err)
	}
	defer rows.Close()
	var out []*gatehouse.Token
	for rows.Next() {
		t, err := scanToken(rows)
		if err != nil {
			return nil, fmt.Errorf("find tokens: %w", err)
		}
		out = append(out, t)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("find tokens: %w", err)
	}
	return out, nil
}
