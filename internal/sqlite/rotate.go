package sqlite

import (
	"context"
	"database/sql"
	"time"

	"github.com/gatehouse/gatehouse"
)

// RotateClientSecret replaces the primary secret of client id with
// newHash and, when previous is set, keeps the old secret as that
// credential (typically expiring after an overlap), in one transaction.
// revision, when set, must be the client's stored revision (a
// *RevisionError otherwise). It returns the client's new revision.
// CodeNotFound if there is no such client; CodeInvalid without a new hash
// or with a previous credential of another kind, app or without a hash.
func (db *DB) RotateClientSecret(ctx context.Context, id string, revision int64, newHash []byte, previous *gatehouse.Credential, at time.Time) (int64, error) {
	switch {
	case len(newHash) == 0:
		return 0, gatehouse.Errorf(gatehouse.CodeInvalid, "a new secret hash is required")
	case previous != nil && (previous.ID == "" || previous.ClientID != id || previous.Kind != gatehouse.CredentialSecret || len(previous.Hash) == 0):
		return 0, gatehouse.Errorf(gatehouse.CodeInvalid, "the previous secret is kept as a client_secret credential of the same app, with its hash")
	}
	var rev int64
	err := db.writeTx(ctx, func(tx *sql.Tx) error {
		cur, err := checkRevision(ctx, tx, "clients", "id", id, "client", revision)
		if err != nil {
			return err
		}
		if previous != nil {
			if _, err := tx.ExecContext(ctx, `INSERT INTO credentials (id, client_id, kind, hash, jwk, api, label, expires_at,
				revoked_at, revision, created_at) VALUES (?, ?, ?, ?, NULL, '', ?, ?, NULL, 1, ?)`,
				previous.ID, id, string(previous.Kind), previous.Hash, previous.Label,
				timeValue(previous.ExpiresAt), timeValue(previous.CreatedAt)); err != nil {
				return err
			}
		}
		if _, err := tx.ExecContext(ctx, `UPDATE clients SET secret_hash = ?, revision = revision + 1, updated_at = ? WHERE id = ?`,
			newHash, timeValue(at), id); err != nil {
			return err
		}
		rev = cur + 1
		return nil
	})
	if err != nil {
		return 0, formatError(err, "rotate client secret", "client")
	}
	if previous != nil {
		previous.Revision = 1
	}
	return rev, nil
}
