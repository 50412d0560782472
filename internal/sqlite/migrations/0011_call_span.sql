-- The widest time span of any call page (max_at - min_at, Unix ns), never
-- lowered. A page holding a call at or before time T has min_at <= T, so
-- max_at <= T + max_span: a query with a keyset cursor or a time bound can
-- start its index walk there instead of at the newest (or oldest) page and
-- reading every header on the way.
--
-- It is kept by a trigger, not by Gatehouse's insert code, so that a
-- process still running an older binary on the same file (its pages have
-- no idea of call_span) cannot leave it too small, which would hide calls.
-- A span over 292 years overflows 64-bit nanoseconds: SQLite then computes
-- a REAL, and min() saturates it to the largest integer, for which the
-- queries add no bound at all.
CREATE TABLE call_span (
	one      INTEGER PRIMARY KEY CHECK (one = 1),
	max_span INTEGER NOT NULL
);
INSERT INTO call_span (one, max_span)
	SELECT 1, coalesce(max(min(max_at - min_at, 9223372036854775807)), 0) FROM call_pages;
CREATE TRIGGER call_pages_span AFTER INSERT ON call_pages
BEGIN
	UPDATE call_span SET max_span = min(NEW.max_at - NEW.min_at, 9223372036854775807)
	WHERE one = 1 AND max_span < min(NEW.max_at - NEW.min_at, 9223372036854775807);
END;
