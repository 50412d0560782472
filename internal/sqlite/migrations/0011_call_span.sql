-- The widest time span of any call page (max_at - min_at, Unix ns), never
-- lowered. A page holding a call at or before time T has min_at <= T, so
-- max_at <= T + max_span: a query with a keyset cursor or a time bound can
-- start its index walk there instead of at the newest (or oldest) page and
-- reading every header on the way. Open fills it from the pages once (with
-- overflow-safe arithmetic in Go); each page insert raises it when wider.
CREATE TABLE call_span (
	one      INTEGER PRIMARY KEY CHECK (one = 1),
	max_span INTEGER NOT NULL
);
