-- The call log is stored in pages instead of a row per call: the log
-- writer's batch of calls (up to 1,024) is one row whose data is the calls
-- encoded by internal/callpage. A row and three index entries per call
-- cost the writer about 7 µs of CPU per request on the reference machine,
-- the largest single cost on the gateway's request path; a page costs one
-- row and a few index entries for all its calls (about 1 µs per call).
--
-- Calls keep their ids (first_id..last_id, increasing with the page's id)
-- and are found by time through the pages' time bounds, and by client,
-- token or API through each page's Bloom filter of them (keys): a query
-- for one token reads the small header row of every page in its time range
-- and decodes only the pages whose filter may hold it. An index of keys
-- instead would cost a random B-tree insert per distinct token per page:
-- as much as the old per-call indexes when most calls of a page carry
-- different tokens. Open moves the rows of the old calls table into
-- pages, in small transactions, then drops it.
CREATE TABLE call_pages (
	id       INTEGER PRIMARY KEY,
	first_id INTEGER NOT NULL, -- the id of the page's first call
	last_id  INTEGER NOT NULL, -- the id of its last call
	n        INTEGER NOT NULL, -- how many calls it holds
	min_at   INTEGER NOT NULL, -- the earliest call time in it (Unix ns)
	max_at   INTEGER NOT NULL, -- the latest
	keys     BLOB NOT NULL,    -- a Bloom filter of its clients, tokens and APIs
	data     BLOB NOT NULL     -- last: the columns before it are read without it
);
-- Newest first (the usual query) walks max_at down; oldest first (the
-- export's default) walks min_at up; retention by age walks max_at up. Both
-- hold what a walk reads of each page (bounds and key filter), so a walk
-- reads index pages only, never the table's, until it decodes a page.
CREATE INDEX call_pages_max_at ON call_pages (max_at, min_at, keys);
CREATE INDEX call_pages_min_at ON call_pages (min_at, max_at, keys);

-- The last call id given out, so that ids are never given twice, even
-- once retention has emptied the log.
CREATE TABLE call_ids (
	one     INTEGER PRIMARY KEY CHECK (one = 1),
	last_id INTEGER NOT NULL
);
INSERT INTO call_ids (one, last_id) VALUES (1, (SELECT coalesce(max(id), 0) FROM calls));

-- The old table's indexes serve nothing now; without them moving its rows
-- out (and deleting them) is a walk in rowid order.
DROP INDEX IF EXISTS calls_at;
DROP INDEX IF EXISTS calls_client;
DROP INDEX IF EXISTS calls_token;
