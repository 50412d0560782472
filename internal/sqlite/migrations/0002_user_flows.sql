-- User-delegated tokens: users, consents, authorization codes, grants,
-- refresh token rotation and security events. Same conventions as 0001:
-- times are INTEGER unix nanoseconds (NULL is the zero time.Time), lists are
-- JSON text. There are no foreign keys to users or clients, as in 0001:
-- the store keeps history (grants, events) of users and clients that may be
-- gone, and the surfaces check existence where it matters.

CREATE TABLE users (
	id            TEXT PRIMARY KEY,
	-- Compared as stored (BINARY): whoever creates users normalises them.
	username      TEXT NOT NULL UNIQUE,
	password_hash TEXT NOT NULL, -- argon2id, PHC string format
	disabled      INTEGER NOT NULL,
	created_at    INTEGER,
	updated_at    INTEGER
);

CREATE TABLE consents (
	subject    TEXT NOT NULL,
	client_id  TEXT NOT NULL,
	audience   TEXT NOT NULL,
	scopes     TEXT NOT NULL, -- JSON array of strings
	granted_at INTEGER,
	PRIMARY KEY (subject, client_id)
) WITHOUT ROWID;

-- Only the code's SHA-256 is stored; the hash is the key.
CREATE TABLE auth_codes (
	hash           BLOB PRIMARY KEY,
	client_id      TEXT NOT NULL,
	subject        TEXT NOT NULL,
	redirect_uri   TEXT NOT NULL,
	code_challenge TEXT NOT NULL,
	audience       TEXT NOT NULL,
	scopes         TEXT NOT NULL, -- JSON array of strings
	grant_id       TEXT NOT NULL, -- the grant a redemption creates, a reuse revokes
	created_at     INTEGER,
	expires_at     INTEGER NOT NULL,
	used_at        INTEGER        -- NULL until redeemed
) WITHOUT ROWID;

CREATE INDEX auth_codes_expires_at ON auth_codes (expires_at);

-- A grant is the family of tokens from one authorization. revoked_at mirrors
-- revoked_grants (which also holds grants that have no row here, such as
-- client credentials families) and, unlike it, is never forgotten.
CREATE TABLE grants (
	id         TEXT PRIMARY KEY,
	client_id  TEXT NOT NULL,
	subject    TEXT NOT NULL,
	audience   TEXT NOT NULL,
	scopes     TEXT NOT NULL, -- JSON array of strings
	created_at INTEGER,
	expires_at INTEGER,
	revoked_at INTEGER
);

-- FindGrants: a subject's grants, newest first.
CREATE INDEX grants_subject ON grants (subject, created_at);

CREATE TABLE security_events (
	id        TEXT PRIMARY KEY,
	type      TEXT NOT NULL,
	client_id TEXT NOT NULL,
	subject   TEXT NOT NULL,
	grant_id  TEXT, -- NULL when the event concerns no grant
	detail    TEXT NOT NULL,
	at        INTEGER NOT NULL
);

-- FindEvents filters by type or grant and lists newest first.
CREATE INDEX security_events_type ON security_events (type, at);
CREATE INDEX security_events_grant_id ON security_events (grant_id, at) WHERE grant_id IS NOT NULL;
CREATE INDEX security_events_at ON security_events (at);

-- A rotated refresh token stays as a tombstone until its own expiry, so that
-- presenting it again is recognised as reuse.
ALTER TABLE tokens ADD COLUMN rotated_at INTEGER;
ALTER TABLE tokens ADD COLUMN successor_id TEXT;
