package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/gatehouse/gatehouse"
)

// CreateKey stores k. CodeConflict if a key with its ID exists, or if k is
// a next or current key and there already is one; CodeInvalid if it has no
// ID or an unknown state.
func (db *DB) CreateKey(ctx context.Context, k *gatehouse.SigningKey) error {
	if k.ID == "" {
		return gatehouse.Errorf(gatehouse.CodeInvalid, "signing key id required")
	}
	err := db.writeTx(ctx, func(tx *sql.Tx) error {
		if k.State == gatehouse.KeyNext || k.State == gatehouse.KeyCurrent {
			// The unique index would refuse it too, but not say why.
			if id, err := keyInState(ctx, tx, k.State); err != nil {
				return err
			} else if id != "" {
				return gatehouse.Errorf(gatehouse.CodeConflict, "there already is a %s signing key", k.State)
			}
		}
		return insertKey(ctx, tx, k)
	})
	return formatError(err, "create key", "signing key")
}

func insertKey(ctx context.Context, tx *sql.Tx, k *gatehouse.SigningKey) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO signing_keys (id, algorithm, state, private_key, created_at,
		activated_at, retired_at, remove_after) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
		k.ID, k.Algorithm, string(k.State), blobValue(k.PrivateKey), timeValue(k.CreatedAt),
		timeValue(k.ActivatedAt), timeValue(k.RetiredAt), timeValue(k.RemoveAfter))
	return err
}

// keyInState returns the id of the key in state, or "" if there is none.
// Only next and current have at most one key.
func keyInState(ctx context.Context, tx *sql.Tx, state gatehouse.KeyState) (string, error) {
	var id string
	err := tx.QueryRowContext(ctx, `SELECT id FROM signing_keys WHERE state = ?`, string(state)).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	return id, err
}

// FindKeys returns every key, oldest (by CreatedAt) first.
func (db *DB) FindKeys(ctx context.Context) ([]*gatehouse.SigningKey, error) {
	rows, err := db.reader.QueryContext(ctx, `SELECT id, algorithm, state, private_key, created_at,
		activated_at, retired_at, remove_after FROM signing_keys ORDER BY created_at, rowid`)
	if err != nil {
		return nil, formatError(err, "find keys", "signing key")
	}
	defer rows.Close()
	ks := []*gatehouse.SigningKey{}
	for rows.Next() {
		var k gatehouse.SigningKey
		var created, activated, retired, removeAfter sql.NullInt64
		if err := rows.Scan(&k.ID, &k.Algorithm, &k.State, &k.PrivateKey, &created, &activated, &retired,
			&removeAfter); err != nil {
			return nil, formatError(err, "find keys", "signing key")
		}
		k.CreatedAt, k.ActivatedAt = timeOf(created), timeOf(activated)
		k.RetiredAt, k.RemoveAfter = timeOf(retired), timeOf(removeAfter)
		ks = append(ks, &k)
	}
	if err := rows.Err(); err != nil {
		return nil, formatError(err, "find keys", "signing key")
	}
	return ks, nil
}

// RotateKeys, in one transaction, checks that the current key is
// expectCurrent ("" for none), retires it (RetiredAt=now,
// RemoveAfter=removeAfter), makes the next key current (ActivatedAt=now) and
// stores newNext as the next key, whatever its State says. CodeConflict if
// the current key is not expectCurrent, if there is no next key to activate,
// or if newNext's ID is taken; nothing changes then. CodeInvalid if newNext
// is missing or now or removeAfter is zero.
func (db *DB) RotateKeys(ctx context.Context, expectCurrent string, newNext *gatehouse.SigningKey, now, removeAfter time.Time) error {
	switch {
	case newNext == nil || newNext.ID == "":
		return gatehouse.Errorf(gatehouse.CodeInvalid, "next signing key required")
	case now.IsZero() || removeAfter.IsZero():
		return gatehouse.Errorf(gatehouse.CodeInvalid, "rotation and removal times required")
	}
	err := db.writeTx(ctx, func(tx *sql.Tx) error {
		current, err := keyInState(ctx, tx, gatehouse.KeyCurrent)
		if err != nil {
			return err
		} else if current != expectCurrent {
			return gatehouse.Errorf(gatehouse.CodeConflict, "current signing key is %q, not %q", current, expectCurrent)
		}
		next, err := keyInState(ctx, tx, gatehouse.KeyNext)
		if err != nil {
			return err
		} else if next == "" {
			return gatehouse.Errorf(gatehouse.CodeConflict, "no next signing key to activate")
		}
		// In this order, so that the one-current and one-next unique index
		// holds after every statement.
		if current != "" {
			if _, err := tx.ExecContext(ctx, `UPDATE signing_keys SET state = 'retired', retired_at = ?,
				remove_after = ? WHERE id = ?`, now.UnixNano(), removeAfter.UnixNano(), current); err != nil {
				return err
			}
		}
		if _, err := tx.ExecContext(ctx, `UPDATE signing_keys SET state = 'current', activated_at = ?
			WHERE id = ?`, now.UnixNano(), next); err != nil {
			return err
		}
		k := *newNext
		k.State = gatehouse.KeyNext
		return insertKey(ctx, tx, &k)
	})
	return formatError(err, "rotate keys", "signing key")
}

// DeleteRemovedKeys deletes the retired keys whose RemoveAfter is before now
// and returns how many.
func (db *DB) DeleteRemovedKeys(ctx context.Context, now time.Time) (int, error) {
	res, err := db.writer.ExecContext(ctx, `DELETE FROM signing_keys
		WHERE state = 'retired' AND remove_after IS NOT NULL AND remove_after < ?`, now.UnixNano())
	if err != nil {
		return 0, formatError(err, "delete removed keys", "signing key")
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, formatError(err, "delete removed keys", "signing key")
	}
	return int(n), nil
}
