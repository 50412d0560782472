-- Usage of credentials (issue 6): one row per grant, API key or client
-- secret, merged in batches by RecordUsage.
CREATE TABLE usage (
	kind       TEXT NOT NULL,
	id         TEXT NOT NULL,
	client_id  TEXT NOT NULL,
	api        TEXT NOT NULL,
	first_used INTEGER NOT NULL,
	last_used  INTEGER NOT NULL,
	last_addr  TEXT NOT NULL,
	uses       INTEGER NOT NULL,
	PRIMARY KEY (kind, id)
) WITHOUT ROWID;

-- ListUsage: idle candidates (last use before T), per kind and per client.
CREATE INDEX usage_last_used ON usage (last_used);
CREATE INDEX usage_client ON usage (client_id, last_used);

-- The call log: one row per request through the gateway. id is the rowid,
-- the tiebreak of the (at, id) keyset cursor and the order of insertion,
-- which retention by row count prunes from the lowest.
CREATE TABLE calls (
	id          INTEGER PRIMARY KEY,
	at          INTEGER NOT NULL,
	request_id  TEXT NOT NULL,
	api         TEXT NOT NULL,
	route       TEXT NOT NULL,
	method      TEXT NOT NULL,
	path        TEXT NOT NULL,
	status      INTEGER NOT NULL,
	client_id   TEXT NOT NULL,
	subject     TEXT NOT NULL,
	token_id    TEXT NOT NULL,
	grant_id    TEXT NOT NULL,
	client_addr TEXT NOT NULL,
	user_agent  TEXT NOT NULL,
	bytes_in    INTEGER NOT NULL,
	bytes_out   INTEGER NOT NULL,
	upstream_ns INTEGER NOT NULL,
	total_ns    INTEGER NOT NULL,
	reason      TEXT NOT NULL
);

-- One index per query filter, each ending in the keyset (at, id: the rowid
-- is part of every index). Retention by age walks calls_at from the oldest.
CREATE INDEX calls_at ON calls (at);
CREATE INDEX calls_api ON calls (api, at);
CREATE INDEX calls_client ON calls (client_id, at);
CREATE INDEX calls_status ON calls (status, at);
CREATE INDEX calls_token ON calls (token_id, at);
