package sqlite

import (
	"context"
	"database/sql"
	"time"

	"github.com/gatehouse/gatehouse"
)

// UseAssertionID records that the client used jti in an assertion valid
// until exp (RFC 7523 section 3, item 7). CodeConflict if it already did and
// that entry has not expired at now (an entry expires when now reaches its
// exp, like a token). Expired entries of every client are deleted on the
// way, so the table holds only live ones.
func (db *DB) UseAssertionID(ctx context.Context, clientID, jti string, exp, now time.Time) error {
	switch {
	case clientID == "" || jti == "":
		return gatehouse.Errorf(gatehouse.CodeInvalid, "client id and jti required")
	case exp.IsZero() || now.IsZero():
		return gatehouse.Errorf(gatehouse.CodeInvalid, "assertion expiry and current time required")
	}
	err := db.writeTx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM assertion_ids WHERE exp <= ?`, now.UnixNano()); err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, `INSERT INTO assertion_ids (client_id, jti, exp) VALUES (?, ?, ?)
			ON CONFLICT (client_id, jti) DO NOTHING`, clientID, jti, exp.UnixNano())
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return gatehouse.Errorf(gatehouse.CodeConflict, "assertion already used")
		}
		return nil
	})
	return formatError(err, "use assertion id", "assertion id")
}
