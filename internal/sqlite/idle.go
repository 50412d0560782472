package sqlite

import (
	"context"
	"database/sql"
	"time"

	"github.com/gatehouse/gatehouse"
)

// The three kinds of credential idle revocation watches, each joined with
// its usage record; coalesce(last use, creation) is how long it has been
// idle. Expired and revoked credentials are not active and not listed.
const (
	idleGrantsSQL = `SELECT 'grant' AS kind, g.id AS id, g.client_id, g.subject, g.audience, g.created_at AS created, u.last_used AS used, g.expires_at
		FROM grants g LEFT JOIN usage u ON u.kind = 'grant' AND u.id = g.id
		WHERE g.revoked_at IS NULL AND g.expires_at > ?1 AND coalesce(u.last_used, g.created_at) < ?2
		AND (?3 = '' OR g.client_id = ?3) AND (?4 = '' OR g.audience = ?4)`
	idleAPIKeysSQL = `SELECT 'api_key' AS kind, t.id AS id, t.client_id, t.subject, t.audience, t.issued_at AS created, u.last_used AS used, t.expires_at
		FROM tokens t LEFT JOIN usage u ON u.kind = 'api_key' AND u.id = t.id
		WHERE t.kind = 'api_key' AND t.revoked_at IS NULL AND t.expires_at > ?1 AND coalesce(u.last_used, t.issued_at) < ?2
		AND (?3 = '' OR t.client_id = ?3) AND (?4 = '' OR t.audience = ?4)`
	idleSecretsSQL = `SELECT 'client_secret' AS kind, c.id AS id, c.id, '', '', c.created_at AS created, u.last_used AS used, NULL
		FROM clients c LEFT JOIN usage u ON u.kind = 'client_secret' AND u.id = c.id
		WHERE c.secret_hash IS NOT NULL AND length(c.secret_hash) > 0 AND c.disabled = 0
		AND coalesce(u.last_used, c.created_at) < ?2 AND (?3 = '' OR c.id = ?3)
		AND ?4 = '' AND ?1 = ?1` // secrets have no audience, nor expiry (?1 is named so every query takes the same arguments)
)

// FindIdleCredentials returns the active grants, API keys and client
// secrets matching f, longest idle first. CodeInvalid without
// f.UnusedSince or f.Now.
func (db *DB) FindIdleCredentials(ctx context.Context, f gatehouse.IdleFilter) ([]*gatehouse.IdleCredential, error) {
	if f.UnusedSince.IsZero() || f.Now.IsZero() {
		return nil, gatehouse.Errorf(gatehouse.CodeInvalid, "find idle credentials: UnusedSince and Now are required")
	}
	var q string
	switch f.Kind {
	case "":
		q = idleGrantsSQL + " UNION ALL " + idleAPIKeysSQL + " UNION ALL " + idleSecretsSQL
	case gatehouse.UsageGrant:
		q = idleGrantsSQL
	case gatehouse.UsageAPIKey:
		q = idleAPIKeysSQL
	case gatehouse.UsageClientSecret:
		q = idleSecretsSQL
	default:
		return nil, gatehouse.Errorf(gatehouse.CodeInvalid, "find idle credentials: unknown kind %q", f.Kind)
	}
	q = `SELECT * FROM (` + q + `) ORDER BY coalesce(used, created), kind, id`
	args := []any{f.Now.UnixNano(), f.UnusedSince.UnixNano(), f.ClientID, f.Audience}
	if f.Limit > 0 {
		q += ` LIMIT ?5`
		args = append(args, f.Limit)
	}
	rows, err := db.reader.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, formatError(err, "find idle credentials", "credential")
	}
	defer rows.Close()
	out := []*gatehouse.IdleCredential{}
	for rows.Next() {
		var c gatehouse.IdleCredential
		var kind string
		var created, last, exp sql.NullInt64
		if err := rows.Scan(&kind, &c.ID, &c.ClientID, &c.Subject, &c.Audience, &created, &last, &exp); err != nil {
			return nil, formatError(err, "find idle credentials", "credential")
		}
		c.Kind, c.CreatedAt, c.LastUsed, c.ExpiresAt = gatehouse.UsageKind(kind), timeOf(created), timeOf(last), timeOf(exp)
		out = append(out, &c)
	}
	if err := rows.Err(); err != nil {
		return nil, formatError(err, "find idle credentials", "credential")
	}
	return out, nil
}

// RevokeClientSecret removes the client's secret, so that it can no longer
// authenticate with one, and reports whether it had one. CodeNotFound when
// there is no such client.
func (db *DB) RevokeClientSecret(ctx context.Context, clientID string, at time.Time) (bool, error) {
	var changed bool
	err := db.writeTx(ctx, func(tx *sql.Tx) error {
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM clients WHERE id = ?`, clientID).Scan(&n); err != nil {
			return err
		}
		if n == 0 {
			return gatehouse.Errorf(gatehouse.CodeNotFound, "client %q not found", clientID)
		}
		res, err := tx.ExecContext(ctx, `UPDATE clients SET secret_hash = NULL, updated_at = ? WHERE id = ? AND secret_hash IS NOT NULL`,
			at.UnixNano(), clientID)
		if err != nil {
			return err
		}
		k, err := res.RowsAffected()
		changed = k > 0
		return err
	})
	return changed, formatError(err, "revoke client secret", "client")
}
