package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"strings"
	"time"

	"github.com/gatehouse/gatehouse"
)

const selectCredentialSQL = `SELECT id, client_id, kind, hash, jwk, api, label, expires_at, revoked_at, revision,
	created_at FROM credentials`

// CreateCredential stores c with revision 1. CodeNotFound if the app does
// not exist; CodeConflict if the id or the hash is taken; CodeInvalid
// without an id, or a secret or API key without a hash, or a key without a
// JWK.
func (db *DB) CreateCredential(ctx context.Context, c *gatehouse.Credential) error {
	switch {
	case c.ID == "":
		return gatehouse.Errorf(gatehouse.CodeInvalid, "credential id required")
	case (c.Kind == gatehouse.CredentialSecret || c.Kind == gatehouse.CredentialKey) && len(c.Hash) == 0:
		return gatehouse.Errorf(gatehouse.CodeInvalid, "credential %s: a %s needs its hash", c.ID, c.Kind)
	case c.Kind == gatehouse.CredentialPrivateKeyJWT && len(c.JWK) == 0:
		return gatehouse.Errorf(gatehouse.CodeInvalid, "credential %s: a private_key_jwt credential needs its public key", c.ID)
	}
	err := db.writeTx(ctx, func(tx *sql.Tx) error {
		var one int
		if err := tx.QueryRowContext(ctx, `SELECT 1 FROM clients WHERE id = ?`, c.ClientID).Scan(&one); errors.Is(err, sql.ErrNoRows) {
			return gatehouse.Errorf(gatehouse.CodeNotFound, "app %s not found", c.ClientID)
		} else if err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO credentials (id, client_id, kind, hash, jwk, api, label, expires_at,
			revoked_at, revision, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 1, ?)`,
			c.ID, c.ClientID, string(c.Kind), blobValue(c.Hash), blobValue(c.JWK), c.API, c.Label,
			timeValue(c.ExpiresAt), timeValue(c.RevokedAt), timeValue(c.CreatedAt))
		return err
	})
	if err != nil {
		return formatError(err, "create credential", "credential")
	}
	c.Revision = 1
	return nil
}

// FindCredential returns the credential with that id, or CodeNotFound.
func (db *DB) FindCredential(ctx context.Context, id string) (*gatehouse.Credential, error) {
	c, err := scanCredential(db.reader.QueryRowContext(ctx, selectCredentialSQL+` WHERE id = ?`, id))
	if err != nil {
		return nil, formatError(err, "find credential", "credential")
	}
	return c, nil
}

// FindCredentials returns the credentials matching f (revoked and expired
// ones included), ordered by id.
func (db *DB) FindCredentials(ctx context.Context, f gatehouse.CredentialFilter) ([]*gatehouse.Credential, error) {
	var where []string
	var args []any
	if f.ClientID != "" {
		where, args = append(where, `client_id = ?`), append(args, f.ClientID)
	}
	if f.Kind != "" {
		where, args = append(where, `kind = ?`), append(args, string(f.Kind))
	}
	q := selectCredentialSQL
	if len(where) > 0 {
		q += ` WHERE ` + strings.Join(where, ` AND `)
	}
	rows, err := db.reader.QueryContext(ctx, q+` ORDER BY id`, args...)
	if err != nil {
		return nil, formatError(err, "find credentials", "credential")
	}
	defer rows.Close()
	out := []*gatehouse.Credential{}
	for rows.Next() {
		c, err := scanCredential(rows)
		if err != nil {
			return nil, formatError(err, "find credentials", "credential")
		}
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, formatError(err, "find credentials", "credential")
	}
	return out, nil
}

// RevokeCredential stores the revocation of c (after c.Revoke, which made
// change), records the step and revokes every unexpired token issued with
// the credential, in one transaction. It returns those tokens' revocations
// for token.Revocations. CodeNotFound if it does not exist, a
// *RevisionError if c.Revision is set and stale, CodeConflict if it was
// already revoked.
func (db *DB) RevokeCredential(ctx context.Context, c *gatehouse.Credential, change gatehouse.StateChange) ([]gatehouse.Revocation, error) {
	if c.RevokedAt.IsZero() || change.Kind != gatehouse.ObjectCredential || change.ID != c.ID {
		return nil, gatehouse.Errorf(gatehouse.CodeInvalid, "credential %s: revoke it first (Credential.Revoke)", c.ID)
	}
	var revs []gatehouse.Revocation
	err := db.writeTx(ctx, func(tx *sql.Tx) error {
		rev, err := checkRevision(ctx, tx, "credentials", "id", c.ID, "credential", c.Revision)
		if err != nil {
			return err
		}
		var revoked sql.NullInt64
		if err := tx.QueryRowContext(ctx, `SELECT revoked_at FROM credentials WHERE id = ?`, c.ID).Scan(&revoked); err != nil {
			return err
		}
		if revoked.Valid {
			return gatehouse.Errorf(gatehouse.CodeConflict, "credential %s was already revoked", c.ID)
		}
		if _, err := tx.ExecContext(ctx, `UPDATE credentials SET revoked_at = ?, revision = revision + 1 WHERE id = ?`,
			timeValue(c.RevokedAt), c.ID); err != nil {
			return err
		}
		if err := insertStateChange(ctx, tx, change); err != nil {
			return err
		}
		at := c.RevokedAt.UnixNano()
		rows, err := tx.QueryContext(ctx, `UPDATE tokens SET revoked_at = ?1 WHERE credential_id = ?2
			AND revoked_at IS NULL AND expires_at > ?1 RETURNING id, expires_at`, at, c.ID)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var id string
			var exp int64
			if err := rows.Scan(&id, &exp); err != nil {
				return err
			}
			revs = append(revs, gatehouse.Revocation{TokenID: id, Until: time.Unix(0, exp).UTC()})
		}
		if err := rows.Err(); err != nil {
			return err
		}
		c.Revision = rev + 1
		return nil
	})
	if err != nil {
		return nil, formatError(err, "revoke credential", "credential")
	}
	return revs, nil
}

func scanCredential(s scanner) (*gatehouse.Credential, error) {
	var c gatehouse.Credential
	var expires, revoked, created sql.NullInt64
	if err := s.Scan(&c.ID, &c.ClientID, &c.Kind, &c.Hash, &c.JWK, &c.API, &c.Label, &expires, &revoked, &c.Revision,
		&created); err != nil {
		return nil, err
	}
	c.ExpiresAt, c.RevokedAt, c.CreatedAt = timeOf(expires), timeOf(revoked), timeOf(created)
	return &c, nil
}

// CreateAPIKey stores an api_key credential and the token record the
// gateway verifies the key by (its CredentialID set to the credential's
// id), in one transaction, so that revoking the credential revokes the
// key. Errors as CreateCredential and CreateToken.
func (db *DB) CreateAPIKey(ctx context.Context, c *gatehouse.Credential, t *gatehouse.Token) error {
	switch {
	case c.ID == "" || c.Kind != gatehouse.CredentialKey || len(c.Hash) == 0:
		return gatehouse.Errorf(gatehouse.CodeInvalid, "an api_key credential needs an id and a hash")
	case t.Kind != gatehouse.KindAPIKey || t.CredentialID != c.ID || t.ClientID != c.ClientID:
		return gatehouse.Errorf(gatehouse.CodeInvalid, "the API key's token must be of kind api_key, for the credential's app, naming the credential")
	}
	args, err := tokenArgs(t)
	if err != nil {
		return formatError(err, "create api key", "token")
	}
	err = db.writeTx(ctx, func(tx *sql.Tx) error {
		var one int
		if err := tx.QueryRowContext(ctx, `SELECT 1 FROM clients WHERE id = ?`, c.ClientID).Scan(&one); errors.Is(err, sql.ErrNoRows) {
			return gatehouse.Errorf(gatehouse.CodeNotFound, "app %s not found", c.ClientID)
		} else if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO credentials (id, client_id, kind, hash, jwk, api, label, expires_at,
			revoked_at, revision, created_at) VALUES (?, ?, ?, ?, NULL, ?, ?, ?, NULL, 1, ?)`,
			c.ID, c.ClientID, string(c.Kind), c.Hash, c.API, c.Label, timeValue(c.ExpiresAt), timeValue(c.CreatedAt)); err != nil {
			return err
		}
		_, err := tx.StmtContext(ctx, db.createTokenStmt).ExecContext(ctx, args...)
		return err
	})
	if err != nil {
		return formatError(err, "create api key", "credential")
	}
	c.Revision = 1
	return nil
}
