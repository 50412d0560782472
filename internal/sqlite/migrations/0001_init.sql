-- Times are INTEGER unix nanoseconds (UTC instants); NULL means the zero
-- time.Time. Lists are JSON text.

CREATE TABLE clients (
	id            TEXT PRIMARY KEY,
	name          TEXT NOT NULL,
	auth_method   TEXT NOT NULL,
	secret_hash   BLOB,
	jwks          BLOB,
	grant_types   TEXT NOT NULL, -- JSON array of strings
	redirect_uris TEXT NOT NULL, -- JSON array of strings
	access        TEXT NOT NULL, -- JSON array of {api, scopes, default_scopes}
	token_format  TEXT NOT NULL,
	source        TEXT NOT NULL,
	disabled      INTEGER NOT NULL,
	created_at    INTEGER,
	updated_at    INTEGER
);

CREATE INDEX clients_source ON clients (source);

-- Tokens carry no foreign key to clients: an RFC 7591 initial access token
-- exists before its client does.
CREATE TABLE tokens (
	id         TEXT PRIMARY KEY,
	hash       BLOB NOT NULL UNIQUE,
	kind       TEXT NOT NULL,
	format     TEXT NOT NULL,
	client_id  TEXT NOT NULL,
	subject    TEXT NOT NULL,
	audience   TEXT NOT NULL,
	scopes     TEXT NOT NULL, -- JSON array of strings
	grant_id   TEXT,          -- NULL when the token belongs to no grant
	issued_at  INTEGER,
	expires_at INTEGER NOT NULL,
	revoked_at INTEGER
);

CREATE INDEX tokens_grant_id ON tokens (grant_id) WHERE grant_id IS NOT NULL;
CREATE INDEX tokens_expires_at ON tokens (expires_at);
-- FindRevocations scans only revoked tokens; keep that scan off the (much
-- larger) set of live ones.
CREATE INDEX tokens_revoked_expires_at ON tokens (expires_at) WHERE revoked_at IS NOT NULL;

CREATE TABLE revoked_grants (
	grant_id   TEXT PRIMARY KEY,
	revoked_at INTEGER NOT NULL
);

CREATE TABLE signing_keys (
	id           TEXT PRIMARY KEY,
	algorithm    TEXT NOT NULL,
	state        TEXT NOT NULL CHECK (state IN ('next', 'current', 'retired')),
	private_key  BLOB,
	created_at   INTEGER,
	activated_at INTEGER,
	retired_at   INTEGER,
	remove_after INTEGER
);

-- At most one current and one next key; a second one is a conflict, which is
-- what keeps two nodes bootstrapping at once from both succeeding.
CREATE UNIQUE INDEX signing_keys_one_per_state ON signing_keys (state) WHERE state IN ('next', 'current');

CREATE TABLE assertion_ids (
	client_id TEXT NOT NULL,
	jti       TEXT NOT NULL,
	exp       INTEGER NOT NULL,
	PRIMARY KEY (client_id, jti)
) WITHOUT ROWID;

CREATE INDEX assertion_ids_exp ON assertion_ids (exp);
