-- Governance: teams, accounts with roles, the API catalog (one row per API
-- version), app ownership, credentials, subscriptions, the recorded
-- lifecycle steps, token cutoffs and a change counter. Same conventions as
-- 0001: times are INTEGER unix nanoseconds (NULL is the zero time), lists are
-- JSON text, no foreign keys (the store keeps history of objects that may be
-- gone; the methods check references where it matters). Every governed row
-- has a revision for optimistic concurrency: 1 on insert, +1 per update.

CREATE TABLE teams (
	name        TEXT PRIMARY KEY,
	description TEXT NOT NULL,
	source      TEXT NOT NULL,
	revision    INTEGER NOT NULL,
	created_at  INTEGER,
	updated_at  INTEGER
);

ALTER TABLE users ADD COLUMN role TEXT NOT NULL DEFAULT '';
ALTER TABLE users ADD COLUMN team TEXT NOT NULL DEFAULT '';
ALTER TABLE users ADD COLUMN revision INTEGER NOT NULL DEFAULT 1;
CREATE INDEX users_team ON users (team) WHERE team <> '';

ALTER TABLE clients ADD COLUMN team TEXT NOT NULL DEFAULT '';
ALTER TABLE clients ADD COLUMN revision INTEGER NOT NULL DEFAULT 1;
ALTER TABLE clients ADD COLUMN networks TEXT NOT NULL DEFAULT '{}'; -- JSON {allow, deny}
CREATE INDEX clients_team ON clients (team, id);

-- The credential an access token was issued with, so that revoking the
-- credential revokes exactly its tokens.
ALTER TABLE tokens ADD COLUMN credential_id TEXT;
CREATE INDEX tokens_credential_id ON tokens (credential_id) WHERE credential_id IS NOT NULL;
CREATE INDEX tokens_client_audience ON tokens (client_id, audience);

CREATE TABLE apis (
	name        TEXT PRIMARY KEY,
	audience    TEXT NOT NULL UNIQUE,
	family      TEXT NOT NULL,
	version     TEXT NOT NULL,
	description TEXT NOT NULL,
	scopes      TEXT NOT NULL, -- JSON array of strings
	approval    TEXT NOT NULL CHECK (approval IN ('auto', 'manual')),
	lifecycle   TEXT NOT NULL CHECK (lifecycle IN ('draft', 'published', 'deprecated', 'retired')),
	sunset_at   INTEGER,
	openapi     BLOB,          -- the imported OpenAPI document, as given
	spec        TEXT NOT NULL, -- JSON: routes, upstream, traffic... (see api.go)
	source      TEXT NOT NULL,
	revision    INTEGER NOT NULL,
	created_at  INTEGER,
	updated_at  INTEGER
);

CREATE INDEX apis_family ON apis (family, name);

CREATE TABLE subscriptions (
	id              TEXT PRIMARY KEY,
	client_id       TEXT NOT NULL,
	api             TEXT NOT NULL,
	scopes          TEXT NOT NULL, -- JSON array: asked for
	approved_scopes TEXT NOT NULL, -- JSON array: granted
	state           TEXT NOT NULL CHECK (state IN ('pending', 'approved', 'rejected', 'suspended', 'revoked', 'expired')),
	reason          TEXT NOT NULL,
	expires_at      INTEGER,
	source          TEXT NOT NULL,
	revision        INTEGER NOT NULL,
	created_at      INTEGER,
	updated_at      INTEGER
);

-- At most one open subscription of an app to an API; closed ones stay as
-- history and the app may subscribe again.
CREATE UNIQUE INDEX subscriptions_open ON subscriptions (client_id, api)
	WHERE state IN ('pending', 'approved', 'suspended');
CREATE INDEX subscriptions_client ON subscriptions (client_id, id);
CREATE INDEX subscriptions_api ON subscriptions (api, id);
CREATE INDEX subscriptions_state ON subscriptions (state, id);

CREATE TABLE credentials (
	id         TEXT PRIMARY KEY,
	client_id  TEXT NOT NULL,
	kind       TEXT NOT NULL CHECK (kind IN ('client_secret', 'private_key_jwt', 'api_key')),
	hash       BLOB UNIQUE,   -- SHA-256 of a secret or API key
	jwk        BLOB,          -- public key of private_key_jwt
	api        TEXT NOT NULL,
	label      TEXT NOT NULL,
	expires_at INTEGER,
	revoked_at INTEGER,
	revision   INTEGER NOT NULL,
	created_at INTEGER
);

CREATE INDEX credentials_client ON credentials (client_id, id);

-- Every lifecycle step of an API, subscription or credential, in order.
CREATE TABLE state_changes (
	seq        INTEGER PRIMARY KEY AUTOINCREMENT,
	kind       TEXT NOT NULL,
	object_id  TEXT NOT NULL,
	from_state TEXT NOT NULL,
	to_state   TEXT NOT NULL,
	actor      TEXT NOT NULL,
	reason     TEXT NOT NULL,
	at         INTEGER NOT NULL
);

CREATE INDEX state_changes_object ON state_changes (kind, object_id, seq);

-- Access tokens of client_id for audience issued at or before at are
-- refused ('' matches any). Only the latest cutoff per pair matters: it
-- covers every earlier one.
CREATE TABLE cutoffs (
	client_id TEXT NOT NULL,
	audience  TEXT NOT NULL,
	at        INTEGER NOT NULL,
	PRIMARY KEY (client_id, audience)
) WITHOUT ROWID;

CREATE INDEX cutoffs_at ON cutoffs (at);

-- The change counter moves on every change to the catalog, apps,
-- subscriptions, credentials, accounts and cutoffs, so that a node notices
-- changes made by another process with one cheap read. Token revocations
-- do not move it: they are frequent, and nodes sync them on their own.
CREATE TABLE changes (
	id      INTEGER PRIMARY KEY CHECK (id = 1),
	counter INTEGER NOT NULL
);
INSERT INTO changes (id, counter) VALUES (1, 0);

CREATE TRIGGER teams_ins AFTER INSERT ON teams BEGIN UPDATE changes SET counter = counter + 1; END;
CREATE TRIGGER teams_upd AFTER UPDATE ON teams BEGIN UPDATE changes SET counter = counter + 1; END;
CREATE TRIGGER teams_del AFTER DELETE ON teams BEGIN UPDATE changes SET counter = counter + 1; END;
CREATE TRIGGER users_ins AFTER INSERT ON users BEGIN UPDATE changes SET counter = counter + 1; END;
CREATE TRIGGER users_upd AFTER UPDATE ON users BEGIN UPDATE changes SET counter = counter + 1; END;
CREATE TRIGGER users_del AFTER DELETE ON users BEGIN UPDATE changes SET counter = counter + 1; END;
CREATE TRIGGER clients_ins AFTER INSERT ON clients BEGIN UPDATE changes SET counter = counter + 1; END;
CREATE TRIGGER clients_upd AFTER UPDATE ON clients BEGIN UPDATE changes SET counter = counter + 1; END;
CREATE TRIGGER clients_del AFTER DELETE ON clients BEGIN UPDATE changes SET counter = counter + 1; END;
CREATE TRIGGER apis_ins AFTER INSERT ON apis BEGIN UPDATE changes SET counter = counter + 1; END;
CREATE TRIGGER apis_upd AFTER UPDATE ON apis BEGIN UPDATE changes SET counter = counter + 1; END;
CREATE TRIGGER apis_del AFTER DELETE ON apis BEGIN UPDATE changes SET counter = counter + 1; END;
CREATE TRIGGER subscriptions_ins AFTER INSERT ON subscriptions BEGIN UPDATE changes SET counter = counter + 1; END;
CREATE TRIGGER subscriptions_upd AFTER UPDATE ON subscriptions BEGIN UPDATE changes SET counter = counter + 1; END;
CREATE TRIGGER subscriptions_del AFTER DELETE ON subscriptions BEGIN UPDATE changes SET counter = counter + 1; END;
CREATE TRIGGER credentials_ins AFTER INSERT ON credentials BEGIN UPDATE changes SET counter = counter + 1; END;
CREATE TRIGGER credentials_upd AFTER UPDATE ON credentials BEGIN UPDATE changes SET counter = counter + 1; END;
CREATE TRIGGER credentials_del AFTER DELETE ON credentials BEGIN UPDATE changes SET counter = counter + 1; END;
CREATE TRIGGER cutoffs_ins AFTER INSERT ON cutoffs BEGIN UPDATE changes SET counter = counter + 1; END;
CREATE TRIGGER cutoffs_upd AFTER UPDATE ON cutoffs BEGIN UPDATE changes SET counter = counter + 1; END;
