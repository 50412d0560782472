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

// CreateAuthCode stores c. CodeConflict if a code with its hash exists;
// CodeInvalid if it lacks a hash, a grant id (a reuse could not revoke what
// the first redemption issued) or an expiry.
func (db *DB) CreateAuthCode(ctx context.Context, c *gatehouse.AuthCode) error {
	switch {
	case len(c.Hash) == 0:
		return gatehouse.Errorf(gatehouse.CodeInvalid, "authorization code hash required")
	case c.GrantID == "":
		return gatehouse.Errorf(gatehouse.CodeInvalid, "authorization code grant id required")
	case c.ExpiresAt.IsZero():
		return gatehouse.Errorf(gatehouse.CodeInvalid, "authorization code expiry required")
	}
	scopes, err := json.Marshal(c.Scopes)
	if err != nil {
		return fmt.Errorf("sqlite: create authorization code: %w", err)
	}
	_, err = db.writer.ExecContext(ctx, `INSERT INTO auth_codes (hash, client_id, subject, redirect_uri,
		code_challenge, audience, scopes, grant_id, created_at, expires_at, used_at, dpop_jkt)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		c.Hash, c.ClientID, c.Subject, c.RedirectURI, c.CodeChallenge, c.Audience, string(scopes), c.GrantID,
		timeValue(c.CreatedAt), timeValue(c.ExpiresAt), timeValue(c.UsedAt), stringValue(c.DPoPJKT))
	return formatError(err, "create authorization code", "authorization code")
}

// FindAuthCode returns the code whose hash is hash, used or not, or
// CodeNotFound.
func (db *DB) FindAuthCode(ctx context.Context, hash []byte) (*gatehouse.AuthCode, error) {
	var c gatehouse.AuthCode
	var scopes string
	var created, expires, used sql.NullInt64
	var jkt sql.NullString
	err := db.reader.QueryRowContext(ctx, `SELECT hash, client_id, subject, redirect_uri, code_challenge,
		audience, scopes, grant_id, created_at, expires_at, used_at, dpop_jkt FROM auth_codes WHERE hash = ?`, hash).
		Scan(&c.Hash, &c.ClientID, &c.Subject, &c.RedirectURI, &c.CodeChallenge, &c.Audience, &scopes,
			&c.GrantID, &created, &expires, &used, &jkt)
	if err != nil {
		return nil, formatError(err, "find authorization code", "authorization code")
	}
	if err := json.Unmarshal([]byte(scopes), &c.Scopes); err != nil {
		return nil, fmt.Errorf("sqlite: find authorization code: scopes: %w", err)
	}
	c.CreatedAt, c.ExpiresAt, c.UsedAt = timeOf(created), timeOf(expires), timeOf(used)
	c.DPoPJKT = jkt.String
	return &c, nil
}

// RedeemAuthCode exchanges the code whose hash is hash at now, in one
// transaction. If the code is unused and unexpired (now before ExpiresAt)
// it is marked used at now, and grant g and tokens are stored. Otherwise:
//   - already used (expired since or not): the code's grant is revoked at
//     now exactly as RevokeGrant does (every token issued from the first
//     redemption with it), that revocation is committed, and the error is
//     CodeConflict;
//   - unknown: CodeNotFound; expired: CodeInvalid; nothing is written.
//
// The input is checked against the code inside the transaction: g.ID must be
// the code's GrantID and every token must carry it (CodeInvalid, nothing
// written), so that a later reuse revokes everything this call issues. A
// code whose grant was revoked before it was redeemed is CodeInvalid too.
// g is stored as given but must not be revoked. A grant or token whose key
// is taken is an internal error, not a conflict, which means reuse here.
func (db *DB) RedeemAuthCode(ctx context.Context, hash []byte, now time.Time, g *gatehouse.Grant, tokens []*gatehouse.Token) error {
	switch {
	case len(hash) == 0:
		return gatehouse.Errorf(gatehouse.CodeInvalid, "authorization code hash required")
	case now.IsZero():
		return gatehouse.Errorf(gatehouse.CodeInvalid, "redemption time required")
	case g == nil || g.ID == "":
		return gatehouse.Errorf(gatehouse.CodeInvalid, "grant id required")
	case !g.RevokedAt.IsZero():
		return gatehouse.Errorf(gatehouse.CodeInvalid, "a new grant cannot be revoked")
	}
	gargs, err := grantArgs(g)
	if err != nil {
		return fmt.Errorf("sqlite: redeem authorization code: %w", err)
	}
	targs := make([][]any, len(tokens))
	for i, t := range tokens {
		if targs[i], err = tokenArgs(t); err != nil {
			return formatError(err, "redeem authorization code", "token")
		} else if t.GrantID != g.ID {
			return gatehouse.Errorf(gatehouse.CodeInvalid, "token %q does not belong to grant %q", t.ID, g.ID)
		}
	}

	var reused bool
	err = db.writeTx(ctx, func(tx *sql.Tx) error {
		var grantID string
		err := tx.QueryRowContext(ctx, `UPDATE auth_codes SET used_at = ?1
			WHERE hash = ?2 AND used_at IS NULL AND expires_at > ?1 RETURNING grant_id`,
			now.UnixNano(), hash).Scan(&grantID)
		if errors.Is(err, sql.ErrNoRows) {
			var used sql.NullInt64
			if err := tx.QueryRowContext(ctx, `SELECT used_at, grant_id FROM auth_codes WHERE hash = ?`,
				hash).Scan(&used, &grantID); err != nil {
				return err // sql.ErrNoRows: unknown code
			}
			if !used.Valid {
				return gatehouse.Errorf(gatehouse.CodeInvalid, "authorization code expired")
			}
			// RFC 6749 section 4.1.2: a code used twice revokes what the
			// first use issued. This must commit although the call fails.
			reused = true
			_, err := revokeGrantTx(ctx, tx, grantID, now)
			return err
		} else if err != nil {
			return err
		}
		if grantID != g.ID {
			return gatehouse.Errorf(gatehouse.CodeInvalid, "grant %q is not the authorization code's", g.ID)
		}
		var revoked bool
		if err := tx.QueryRowContext(ctx, `SELECT `+fmt.Sprintf(grantRevokedSQL, "?1"), g.ID).Scan(&revoked); err != nil {
			return err
		} else if revoked {
			return gatehouse.Errorf(gatehouse.CodeInvalid, "authorization code's grant revoked")
		}
		if err := insertGrantTx(ctx, tx, gargs); err != nil {
			return notConflict(err, fmt.Sprintf("grant %q", g.ID))
		}
		return db.insertTokensTx(ctx, tx, targs)
	})
	if err == nil && reused {
		err = gatehouse.Errorf(gatehouse.CodeConflict, "authorization code already used")
	}
	return formatError(err, "redeem authorization code", "authorization code")
}

// DeleteExpiredAuthCodes deletes the codes that expired before `before`,
// used or not, and returns how many. A reuse after that is CodeNotFound:
// keep codes past their expiry for as long as reuse should still revoke.
func (db *DB) DeleteExpiredAuthCodes(ctx context.Context, before time.Time) (int, error) {
	res, err := db.writer.ExecContext(ctx, `DELETE FROM auth_codes WHERE expires_at < ?`, before.UnixNano())
	if err != nil {
		return 0, formatError(err, "delete expired authorization codes", "authorization code")
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, formatError(err, "delete expired authorization codes", "authorization code")
	}
	return int(n), nil
}
