package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"

	"github.com/gatehouse/gatehouse"
)

const selectConsentSQL = `SELECT subject, client_id, audience, scopes, granted_at FROM consents`

// SaveConsent stores c, replacing the consent the subject gave the client
// before, if any, whole (audience and scopes are not merged). CodeInvalid
// without a subject or a client id.
func (db *DB) SaveConsent(ctx context.Context, c *gatehouse.Consent) error {
	if c.Subject == "" || c.ClientID == "" {
		return gatehouse.Errorf(gatehouse.CodeInvalid, "consent subject and client id required")
	}
	scopes, err := json.Marshal(c.Scopes)
	if err != nil {
		return fmt.Errorf("sqlite: save consent: %w", err)
	}
	_, err = db.writer.ExecContext(ctx, `INSERT INTO consents (subject, client_id, audience, scopes, granted_at)
		VALUES (?, ?, ?, ?, ?)
		ON CONFLICT (subject, client_id) DO UPDATE SET
			audience = excluded.audience, scopes = excluded.scopes, granted_at = excluded.granted_at`,
		c.Subject, c.ClientID, c.Audience, string(scopes), timeValue(c.GrantedAt))
	return formatError(err, "save consent", "consent")
}

// FindConsent returns the subject's consent for the client, or CodeNotFound.
func (db *DB) FindConsent(ctx context.Context, subject, clientID string) (*gatehouse.Consent, error) {
	c, err := scanConsent(db.reader.QueryRowContext(ctx, selectConsentSQL+` WHERE subject = ? AND client_id = ?`,
		subject, clientID))
	if err != nil {
		return nil, formatError(err, "find consent", "consent")
	}
	return c, nil
}

// FindConsents returns the subject's consents ordered by client id.
func (db *DB) FindConsents(ctx context.Context, subject string) ([]*gatehouse.Consent, error) {
	rows, err := db.reader.QueryContext(ctx, selectConsentSQL+` WHERE subject = ? ORDER BY client_id`, subject)
	if err != nil {
		return nil, formatError(err, "find consents", "consent")
	}
	defer rows.Close()
	cs := []*gatehouse.Consent{}
	for rows.Next() {
		c, err := scanConsent(rows)
		if err != nil {
			return nil, formatError(err, "find consents", "consent")
		}
		cs = append(cs, c)
	}
	if err := rows.Err(); err != nil {
		return nil, formatError(err, "find consents", "consent")
	}
	return cs, nil
}

// DeleteConsent withdraws the subject's consent for the client, or returns
// CodeNotFound if there was none. Grants already given stay: revoking them
// is a separate decision.
func (db *DB) DeleteConsent(ctx context.Context, subject, clientID string) error {
	res, err := db.writer.ExecContext(ctx, `DELETE FROM consents WHERE subject = ? AND client_id = ?`,
		subject, clientID)
	if err != nil {
		return formatError(err, "delete consent", "consent")
	}
	return mustChangeOne(res, "delete consent", "consent")
}

func scanConsent(s scanner) (*gatehouse.Consent, error) {
	var c gatehouse.Consent
	var scopes string
	var granted sql.NullInt64
	if err := s.Scan(&c.Subject, &c.ClientID, &c.Audience, &scopes, &granted); err != nil {
		return nil, err
	}
	if err := json.Unmarshal([]byte(scopes), &c.Scopes); err != nil {
		return nil, fmt.Errorf("consent %q/%q: scopes: %w", c.Subject, c.ClientID, err)
	}
	c.GrantedAt = timeOf(granted)
	return &c, nil
}
