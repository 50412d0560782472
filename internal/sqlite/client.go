package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/gatehouse/gatehouse"
)

const selectClientSQL = `SELECT id, name, auth_method, secret_hash, jwks, grant_types, redirect_uris,
	access, token_format, source, disabled, team, revision, networks, created_at, updated_at, dpop_bound, tls_subject,
	certificate_bound_tokens, token_exchange FROM clients`

// accessJSON is the stored form of gatehouse.Access. It has its own JSON
// names so that renaming a Go field cannot silently orphan stored data.
type accessJSON struct {
	API           string   `json:"api"`
	Scopes        []string `json:"scopes"`
	DefaultScopes []string `json:"default_scopes"`
	Introspect    bool     `json:"introspect,omitempty"`
}

// CreateClient stores c. CodeConflict if a client with its ID exists,
// CodeInvalid if it has no ID.
func (db *DB) CreateClient(ctx context.Context, c *gatehouse.Client) error {
	if c.ID == "" {
		return gatehouse.Errorf(gatehouse.CodeInvalid, "client id required")
	}
	v, err := clientValues(c)
	if err != nil {
		return fmt.Errorf("sqlite: create client: %w", err)
	}
	_, err = db.writer.ExecContext(ctx, `INSERT INTO clients (id, name, auth_method, secret_hash, jwks,
		grant_types, redirect_uris, access, token_format, source, disabled, team, revision, networks,
		created_at, updated_at, dpop_bound, tls_subject, certificate_bound_tokens, token_exchange)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1, ?, ?, ?, ?, ?, ?, ?)`,
		c.ID, c.Name, string(c.AuthMethod), v.secretHash, v.jwks, v.grantTypes, v.redirectURIs, v.access,
		string(c.TokenFormat), string(c.Source), c.Disabled, c.Team, v.networks,
		timeValue(c.CreatedAt), timeValue(c.UpdatedAt), c.DPoPBound, v.tlsSubject, c.CertificateBoundTokens, v.exchange)
	if err != nil {
		return formatError(err, "create client", "client")
	}
	c.Revision = 1
	return nil
}

// FindClientByID returns the client with that ID, or CodeNotFound.
func (db *DB) FindClientByID(ctx context.Context, id string) (*gatehouse.Client, error) {
	c, err := scanClient(db.findClientByIDStmt.QueryRowContext(ctx, id))
	if err != nil {
		return nil, formatError(err, "find client", "client")
	}
	return c, nil
}

// FindClients returns the clients that match f, ordered by ID.
func (db *DB) FindClients(ctx context.Context, f gatehouse.ClientFilter) ([]*gatehouse.Client, error) {
	var where []string
	var args []any
	if f.Source != "" {
		where, args = append(where, `source = ?`), append(args, string(f.Source))
	}
	if f.Team != "" {
		where, args = append(where, `team = ?`), append(args, f.Team)
	}
	q := selectClientSQL
	if len(where) > 0 {
		q += ` WHERE ` + strings.Join(where, ` AND `)
	}
	q += ` ORDER BY id`
	if f.Limit > 0 {
		q += ` LIMIT ?`
		args = append(args, f.Limit)
	}
	rows, err := db.reader.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, formatError(err, "find clients", "client")
	}
	defer rows.Close()
	cs := []*gatehouse.Client{}
	for rows.Next() {
		c, err := scanClient(rows)
		if err != nil {
			return nil, formatError(err, "find clients", "client")
		}
		cs = append(cs, c)
	}
	if err := rows.Err(); err != nil {
		return nil, formatError(err, "find clients", "client")
	}
	return cs, nil
}

// UpdateClient replaces every field of the stored client but ID, CreatedAt
// and Revision. CodeNotFound if it does not exist; a *RevisionError if
// c.Revision is set and stale. On success c.Revision is the new revision.
func (db *DB) UpdateClient(ctx context.Context, c *gatehouse.Client) error {
	v, err := clientValues(c)
	if err != nil {
		return fmt.Errorf("sqlite: update client: %w", err)
	}
	err = db.writeTx(ctx, func(tx *sql.Tx) error {
		rev, err := checkRevision(ctx, tx, "clients", "id", c.ID, "client", c.Revision)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE clients SET name = ?, auth_method = ?, secret_hash = ?,
			jwks = ?, grant_types = ?, redirect_uris = ?, access = ?, token_format = ?, source = ?, disabled = ?,
			team = ?, networks = ?, revision = revision + 1, updated_at = ?, dpop_bound = ?, tls_subject = ?,
			certificate_bound_tokens = ?, token_exchange = ? WHERE id = ?`,
			c.Name, string(c.AuthMethod), v.secretHash, v.jwks, v.grantTypes, v.redirectURIs, v.access,
			string(c.TokenFormat), string(c.Source), c.Disabled, c.Team, v.networks, timeValue(c.UpdatedAt),
			c.DPoPBound, v.tlsSubject, c.CertificateBoundTokens, v.exchange, c.ID); err != nil {
			return err
		}
		c.Revision = rev + 1
		return nil
	})
	return formatError(err, "update client", "client")
}

// FindClientPage returns one page of the clients matching f (Source, Team
// and Page), ordered by ID, and the cursor of the next page ("" on the
// last).
func (db *DB) FindClientPage(ctx context.Context, f gatehouse.ClientFilter) ([]*gatehouse.Client, string, error) {
	var where []string
	var args []any
	if f.Source != "" {
		where, args = append(where, `source = ?`), append(args, string(f.Source))
	}
	if f.Team != "" {
		where, args = append(where, `team = ?`), append(args, f.Team)
	}
	return findPage(ctx, db.reader, selectClientSQL, "id", where, args, f.Page, "client",
		scanClient, func(c *gatehouse.Client) string { return c.ID })
}

// DeleteApp deletes the app (client) id, revokes its open subscriptions
// (recording each step with actor), revokes its credentials and writes a
// cutoff refusing every token it was issued up to at, all in one
// transaction. CodeNotFound if there is no such client; a *RevisionError if
// revision is set and stale.
func (db *DB) DeleteApp(ctx context.Context, id string, revision int64, actor string, at time.Time) error {
	err := db.writeTx(ctx, func(tx *sql.Tx) error {
		if _, err := checkRevision(ctx, tx, "clients", "id", id, "client", revision); err != nil {
			return err
		}
		rows, err := tx.QueryContext(ctx, `SELECT id, state FROM subscriptions WHERE client_id = ?
			AND state IN ('pending', 'approved', 'suspended')`, id)
		if err != nil {
			return err
		}
		var changes []gatehouse.StateChange
		for rows.Next() {
			var c gatehouse.StateChange
			if err := rows.Scan(&c.ID, &c.From); err != nil {
				rows.Close()
				return err
			}
			c.Kind, c.To, c.Actor, c.Reason, c.At = gatehouse.ObjectSubscription, string(gatehouse.SubRevoked), actor, "app deleted", at
			changes = append(changes, c)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		for _, c := range changes {
			if _, err := tx.ExecContext(ctx, `UPDATE subscriptions SET state = 'revoked', reason = ?, revision = revision + 1,
				updated_at = ? WHERE id = ?`, c.Reason, timeValue(at), c.ID); err != nil {
				return err
			}
			if err := insertStateChange(ctx, tx, c); err != nil {
				return err
			}
		}
		if _, err := tx.ExecContext(ctx, `UPDATE credentials SET revoked_at = ?, revision = revision + 1
			WHERE client_id = ? AND revoked_at IS NULL`, timeValue(at), id); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM clients WHERE id = ?`, id); err != nil {
			return err
		}
		return upsertCutoff(ctx, tx, gatehouse.Cutoff{ClientID: id, At: at})
	})
	return formatError(err, "delete app", "client")
}

// DeleteClient deletes the client with that ID, or returns CodeNotFound.
// Its tokens stay until they expire or are revoked by the caller.
func (db *DB) DeleteClient(ctx context.Context, id string) error {
	res, err := db.writer.ExecContext(ctx, `DELETE FROM clients WHERE id = ?`, id)
	if err != nil {
		return formatError(err, "delete client", "client")
	}
	return mustChangeOne(res, "delete client", "client")
}

// mustChangeOne returns CodeNotFound unless res changed a row.
func mustChangeOne(res sql.Result, op, what string) error {
	n, err := res.RowsAffected()
	if err != nil {
		return formatError(err, op, what)
	} else if n == 0 {
		return formatError(sql.ErrNoRows, op, what)
	}
	return nil
}

// clientEncoded holds the columns of a client that need encoding.
type clientEncoded struct {
	secretHash, jwks                           any
	grantTypes, redirectURIs, access, networks string
	tlsSubject, exchange                       any // NULL when unset
}

// networksJSON is the stored form of gatehouse.ClientNetworks.
type networksJSON struct {
	Allow []netip.Prefix `json:"allow,omitempty"`
	Deny  []netip.Prefix `json:"deny,omitempty"`
}

func clientValues(c *gatehouse.Client) (clientEncoded, error) {
	v := clientEncoded{secretHash: blobValue(c.SecretHash), jwks: blobValue(c.JWKS)}
	grantTypes, err := json.Marshal(c.GrantTypes)
	if err != nil {
		return v, err
	}
	redirectURIs, err := json.Marshal(c.RedirectURIs)
	if err != nil {
		return v, err
	}
	var as []accessJSON
	if c.Access != nil {
		as = make([]accessJSON, len(c.Access))
		for i, a := range c.Access {
			as[i] = accessJSON{API: a.API, Scopes: a.Scopes, DefaultScopes: a.DefaultScopes, Introspect: a.Introspect}
		}
	}
	access, err := json.Marshal(as)
	if err != nil {
		return v, err
	}
	networks, err := json.Marshal(networksJSON{Allow: c.Networks.Allow, Deny: c.Networks.Deny})
	if err != nil {
		return v, err
	}
	v.grantTypes, v.redirectURIs, v.access = string(grantTypes), string(redirectURIs), string(access)
	v.networks = string(networks)
	v.tlsSubject, v.exchange, err = mtlsValues(c)
	return v, err
}

// scanner is a *sql.Row or *sql.Rows.
type scanner interface {
	Scan(dest ...any) error
}

func scanClient(s scanner) (*gatehouse.Client, error) {
	var c gatehouse.Client
	var grantTypes, redirectURIs, access, networks string
	var created, updated sql.NullInt64
	var tlsSubject, exchange *string
	if err := s.Scan(&c.ID, &c.Name, &c.AuthMethod, &c.SecretHash, &c.JWKS, &grantTypes, &redirectURIs,
		&access, &c.TokenFormat, &c.Source, &c.Disabled, &c.Team, &c.Revision, &networks, &created, &updated,
		&c.DPoPBound, &tlsSubject, &c.CertificateBoundTokens, &exchange); err != nil {
		return nil, err
	}
	if err := scanMTLS(&c, tlsSubject, exchange); err != nil {
		return nil, fmt.Errorf("client %q: mutual TLS or token exchange: %w", c.ID, err)
	}
	var nets networksJSON
	if err := json.Unmarshal([]byte(networks), &nets); err != nil {
		return nil, fmt.Errorf("client %q: networks: %w", c.ID, err)
	}
	c.Networks = gatehouse.ClientNetworks{Allow: nets.Allow, Deny: nets.Deny}
	if err := json.Unmarshal([]byte(grantTypes), &c.GrantTypes); err != nil {
		return nil, fmt.Errorf("client %q: grant_types: %w", c.ID, err)
	}
	if err := json.Unmarshal([]byte(redirectURIs), &c.RedirectURIs); err != nil {
		return nil, fmt.Errorf("client %q: redirect_uris: %w", c.ID, err)
	}
	var as []accessJSON
	if err := json.Unmarshal([]byte(access), &as); err != nil {
		return nil, fmt.Errorf("client %q: access: %w", c.ID, err)
	}
	if as != nil {
		c.Access = make([]gatehouse.Access, len(as))
		for i, a := range as {
			c.Access[i] = gatehouse.Access{API: a.API, Scopes: a.Scopes, DefaultScopes: a.DefaultScopes, Introspect: a.Introspect}
		}
	}
	c.CreatedAt, c.UpdatedAt = timeOf(created), timeOf(updated)
	return &c, nil
}
