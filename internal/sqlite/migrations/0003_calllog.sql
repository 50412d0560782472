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

-- Every index costs the writer a B-tree insert per call (random ones for
-- client and token ids), so only the filters that select few rows out of
-- many are indexed: time, client and token id (the rowid, part of every
-- index, is the keyset tiebreak). API and status filters walk calls_at in
-- time order and are fast with a time range or for common values.
-- Retention by age walks calls_at from the oldest.
CREATE INDEX calls_at ON calls (at);
CREATE INDEX calls_client ON calls (client_id, at);
CREATE INDEX calls_token ON calls (token_id, at);
