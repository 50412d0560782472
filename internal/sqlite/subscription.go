package sqlite

import (
	"context"
	"database/sql"
	"errors"

	"github.com/gatehouse/gatehouse"
)

const selectSubscriptionSQL = `SELECT id, client_id, api, scopes, approved_scopes, state, reason, expires_at,
	source, revision, created_at, updated_at FROM subscriptions`

// CreateSubscription stores s with revision 1 and records change (its
// first step, see gatehouse.NewSubscription) in one transaction.
// CodeNotFound if the app or the API does not exist; CodeConflict if the
// app already has an open subscription to the API or the id is taken;
// CodeInvalid without an id.
func (db *DB) CreateSubscription(ctx context.Context, s *gatehouse.Subscription, change gatehouse.StateChange) error {
	if s.ID == "" {
		return gatehouse.Errorf(gatehouse.CodeInvalid, "subscription id required")
	}
	if change.Kind != gatehouse.ObjectSubscription || change.ID != s.ID || change.From != "" || change.To != string(s.State) {
		return gatehouse.Errorf(gatehouse.CodeInvalid, "subscription %s: the recorded step does not describe its creation", s.ID)
	}
	scopes, err := jsonList(s.Scopes)
	if err != nil {
		return err
	}
	approved, err := jsonList(s.ApprovedScopes)
	if err != nil {
		return err
	}
	err = db.writeTx(ctx, func(tx *sql.Tx) error {
		var one int
		if err := tx.QueryRowContext(ctx, `SELECT 1 FROM clients WHERE id = ?`, s.ClientID).Scan(&one); errors.Is(err, sql.ErrNoRows) {
			return gatehouse.Errorf(gatehouse.CodeNotFound, "app %s not found", s.ClientID)
		} else if err != nil {
			return err
		}
		if err := tx.QueryRowContext(ctx, `SELECT 1 FROM apis WHERE name = ?`, s.API).Scan(&one); errors.Is(err, sql.ErrNoRows) {
			return gatehouse.Errorf(gatehouse.CodeNotFound, "api %s not found", s.API)
		} else if err != nil {
			return err
		}
		if err := tx.QueryRowContext(ctx, `SELECT 1 FROM subscriptions WHERE client_id = ? AND api = ?
			AND state IN ('pending', 'approved', 'suspended')`, s.ClientID, s.API).Scan(&one); err == nil {
			return gatehouse.Errorf(gatehouse.CodeConflict, "app %s already has an open subscription to api %s", s.ClientID, s.API)
		} else if !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO subscriptions (id, client_id, api, scopes, approved_scopes, state,
			reason, expires_at, source, revision, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 1, ?, ?)`,
			s.ID, s.ClientID, s.API, scopes, approved, string(s.State), s.Reason, timeValue(s.ExpiresAt), string(s.Source),
			timeValue(s.CreatedAt), timeValue(s.UpdatedAt)); err != nil {
			return err
		}
		return insertStateChange(ctx, tx, change)
	})
	if err != nil {
		return formatError(err, "create subscription", "subscription")
	}
	s.Revision = 1
	return nil
}

// FindSubscription returns the subscription with that id, or CodeNotFound.
func (db *DB) FindSubscription(ctx context.Context, id string) (*gatehouse.Subscription, error) {
	s, err := scanSubscription(db.reader.QueryRowContext(ctx, selectSubscriptionSQL+` WHERE id = ?`, id))
	if err != nil {
		return nil, formatError(err, "find subscription", "subscription")
	}
	return s, nil
}

// FindSubscriptions returns a page of the subscriptions matching f, ordered
// by id.
func (db *DB) FindSubscriptions(ctx context.Context, f gatehouse.SubscriptionFilter) ([]*gatehouse.Subscription, string, error) {
	var where []string
	var args []any
	if f.ClientID != "" {
		where, args = append(where, `client_id = ?`), append(args, f.ClientID)
	}
	if f.API != "" {
		where, args = append(where, `api = ?`), append(args, f.API)
	}
	if f.State != "" {
		where, args = append(where, `state = ?`), append(args, string(f.State))
	}
	if f.Source != "" {
		where, args = append(where, `source = ?`), append(args, string(f.Source))
	}
	if f.Team != "" {
		where, args = append(where, `client_id IN (SELECT id FROM clients WHERE team = ?)`), append(args, f.Team)
	}
	return findPage(ctx, db.reader, selectSubscriptionSQL, "id", where, args, f.Page, "subscription", scanSubscription,
		func(s *gatehouse.Subscription) string { return s.ID })
}

// FindSubscriptionsByClient returns every subscription of the app, open
// or closed, ordered by id: what the token endpoint reads on every
// request, with a prepared statement.
func (db *DB) FindSubscriptionsByClient(ctx context.Context, clientID string) ([]*gatehouse.Subscription, error) {
	rows, err := db.findSubsByClientStmt.QueryContext(ctx, clientID)
	if err != nil {
		return nil, formatError(err, "find subscriptions", "subscription")
	}
	defer rows.Close()
	out := []*gatehouse.Subscription{}
	for rows.Next() {
		s, err := scanSubscription(rows)
		if err != nil {
			return nil, formatError(err, "find subscriptions", "subscription")
		}
		out = append(out, s)
	}
	if err := rows.Err(); err != nil {
		return nil, formatError(err, "find subscriptions", "subscription")
	}
	return out, nil
}

// UpdateSubscription replaces the subscription's scopes, approved scopes,
// state, reason, expiry, source and UpdatedAt (ClientID and API never
// change). change is required exactly when the state moves and is recorded
// in the same transaction; a move to suspended, revoked or expired also
// writes a Cutoff (app, the API's audience, change.At) so that the app's
// existing tokens for the API are refused. CodeNotFound if it does not
// exist, a *RevisionError if s.Revision is set and stale, CodeConflict if
// reopening it would make a second open subscription.
func (db *DB) UpdateSubscription(ctx context.Context, s *gatehouse.Subscription, change *gatehouse.StateChange) error {
	scopes, err := jsonList(s.Scopes)
	if err != nil {
		return err
	}
	approved, err := jsonList(s.ApprovedScopes)
	if err != nil {
		return err
	}
	err = db.writeTx(ctx, func(tx *sql.Tx) error {
		rev, err := checkRevision(ctx, tx, "subscriptions", "id", s.ID, "subscription", s.Revision)
		if err != nil {
			return err
		}
		var stored, clientID, api string
		if err := tx.QueryRowContext(ctx, `SELECT state, client_id, api FROM subscriptions WHERE id = ?`, s.ID).Scan(&stored, &clientID, &api); err != nil {
			return err
		}
		if clientID != s.ClientID || api != s.API {
			return gatehouse.Errorf(gatehouse.CodeInvalid, "subscription %s: the app and the API of a subscription never change", s.ID)
		}
		if err := checkChange(gatehouse.ObjectSubscription, s.ID, stored, string(s.State), change); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE subscriptions SET scopes = ?, approved_scopes = ?, state = ?, reason = ?,
			expires_at = ?, source = ?, revision = revision + 1, updated_at = ? WHERE id = ?`,
			scopes, approved, string(s.State), s.Reason, timeValue(s.ExpiresAt), string(s.Source), timeValue(s.UpdatedAt), s.ID); err != nil {
			return err
		}
		if change != nil {
			if err := insertStateChange(ctx, tx, *change); err != nil {
				return err
			}
			switch s.State {
			case gatehouse.SubSuspended, gatehouse.SubRevoked, gatehouse.SubExpired:
				var aud string
				err := tx.QueryRowContext(ctx, `SELECT audience FROM apis WHERE name = ?`, api).Scan(&aud)
				if err != nil && !errors.Is(err, sql.ErrNoRows) {
					return err
				}
				if err == nil {
					if err := upsertCutoff(ctx, tx, gatehouse.Cutoff{ClientID: clientID, Audience: aud, At: change.At}); err != nil {
						return err
					}
				}
			}
		}
		s.Revision = rev + 1
		return nil
	})
	return formatError(err, "update subscription", "subscription")
}

func scanSubscription(sc scanner) (*gatehouse.Subscription, error) {
	var s gatehouse.Subscription
	var scopes, approved string
	var expires, created, updated sql.NullInt64
	if err := sc.Scan(&s.ID, &s.ClientID, &s.API, &scopes, &approved, &s.State, &s.Reason, &expires, &s.Source,
		&s.Revision, &created, &updated); err != nil {
		return nil, err
	}
	var err error
	if s.Scopes, err = parseList(scopes, "subscription", s.ID); err != nil {
		return nil, err
	}
	if s.ApprovedScopes, err = parseList(approved, "subscription", s.ID); err != nil {
		return nil, err
	}
	s.ExpiresAt, s.CreatedAt, s.UpdatedAt = timeOf(expires), timeOf(created), timeOf(updated)
	return &s, nil
}
