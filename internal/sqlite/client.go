package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/gatehouse/gatehouse"
)

const selectClientSQL = `SELECT id, name, auth_method, secret_hash, jwks, grant_types, redirect_uris,
	access, token_format, source, disabled, created_at, updated_at, dpop_bound, tls_subject,
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
		grant_types, redirect_uris, access, token_format, source, disabled, created_at, updated_at, dpop_bound,
		tls_subject, certificate_bound_tokens, token_exchange)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		c.ID, c.Name, string(c.AuthMethod), v.secretHash, v.jwks, v.grantTypes, v.redirectURIs, v.access,
		string(c.TokenFormat), string(c.Source), c.Disabled, timeValue(c.CreatedAt), timeValue(c.UpdatedAt), c.DPoPBound,
		v.tlsSubject, c.CertificateBoundTokens, v.exchange)
	return formatError(err, "create client", "client")
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

// UpdateClient replaces every field of the stored client but ID and
// CreatedAt. CodeNotFound if it does not exist.
func (db *DB) UpdateClient(ctx context.Context, c *gatehouse.Client) error {
	v, err := clientValues(c)
	if err != nil {
		return fmt.Errorf("sqlite: update client: %w", err)
	}
	res, err := db.writer.ExecContext(ctx, `UPDATE clients SET name = ?, auth_method = ?, secret_hash = ?,
		jwks = ?, grant_types = ?, redirect_uris = ?, access = ?, token_format = ?, source = ?, disabled = ?,
		updated_at = ?, dpop_bound = ?, tls_subject = ?, certificate_bound_tokens = ?, token_exchange = ? WHERE id = ?`,
		c.Name, string(c.AuthMethod), v.secretHash, v.jwks, v.grantTypes, v.redirectURIs, v.access,
		string(c.TokenFormat), string(c.Source), c.Disabled, timeValue(c.UpdatedAt), c.DPoPBound,
		v.tlsSubject, c.CertificateBoundTokens, v.exchange, c.ID)
	if err != nil {
		return formatError(err, "update client", "client")
	}
	return mustChangeOne(res, "update client", "client")
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
	secretHash, jwks                 any
	grantTypes, redirectURIs, access string
	tlsSubject, exchange             any // NULL when unset
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
	v.grantTypes, v.redirectURIs, v.access = string(grantTypes), string(redirectURIs), string(access)
	v.tlsSubject, v.exchange, err = mtlsValues(c)
	return v, err
}

// scanner is a *sql.Row or *sql.Rows.
type scanner interface {
	Scan(dest ...any) error
}

func scanClient(s scanner) (*gatehouse.Client, error) {
	var c gatehouse.Client
	var grantTypes, redirectURIs, access string
	var created, updated sql.NullInt64
	var tlsSubject, exchange *string
	if err := s.Scan(&c.ID, &c.Name, &c.AuthMethod, &c.SecretHash, &c.JWKS, &grantTypes, &redirectURIs,
		&access, &c.TokenFormat, &c.Source, &c.Disabled, &created, &updated, &c.DPoPBound, &tlsSubject,
		&c.CertificateBoundTokens, &exchange); err != nil {
		return nil, err
	}
	if err := scanMTLS(&c, tlsSubject, exchange); err != nil {
		return nil, fmt.Errorf("client %q: mutual TLS or token exchange: %w", c.ID, err)
	}
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
