-- The audit log (issue 5): entries chained by SHA-256 and signed
-- checkpoints of the chain's head. Same conventions as 0001: times are
-- INTEGER unix nanoseconds. internal/audit computes and checks the hashes;
-- the store keeps the rows exactly as given.

CREATE TABLE audit_log (
	seq         INTEGER PRIMARY KEY CHECK (seq > 0), -- 1, 2, 3... without gaps
	at          INTEGER NOT NULL,
	actor       TEXT NOT NULL,
	action      TEXT NOT NULL,
	target_type TEXT NOT NULL,
	target_id   TEXT NOT NULL,
	outcome     TEXT NOT NULL,
	details     TEXT NOT NULL, -- a compact JSON object, hashed byte for byte
	prev_hash   BLOB NOT NULL CHECK (length(prev_hash) = 32),
	hash        BLOB NOT NULL CHECK (length(hash) = 32)
);
CREATE INDEX audit_log_at ON audit_log (at);
CREATE INDEX audit_log_actor ON audit_log (actor, seq);
CREATE INDEX audit_log_action ON audit_log (action, seq);

-- Speed bumps, not a security boundary: anyone who can write the file can
-- drop these triggers (or edit the pages). The hash chain and the signed
-- checkpoints are what detect tampering; the triggers only stop a mistaken
-- UPDATE or DELETE from a shell or a future migration.
CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN
	SELECT RAISE(ABORT, 'audit_log is append-only');
END;
CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN
	SELECT RAISE(ABORT, 'audit_log is append-only');
END;

-- Signed heads. A head may be signed again (by a newer key), so the key is
-- a row id, not the seq.
CREATE TABLE audit_checkpoints (
	id     INTEGER PRIMARY KEY AUTOINCREMENT,
	seq    INTEGER NOT NULL CHECK (seq > 0),
	hash   BLOB NOT NULL CHECK (length(hash) = 32),
	at     INTEGER NOT NULL,
	kid    TEXT NOT NULL,
	jws    TEXT NOT NULL
);
CREATE TRIGGER audit_checkpoints_no_update BEFORE UPDATE ON audit_checkpoints
BEGIN
	SELECT RAISE(ABORT, 'audit_checkpoints is append-only');
END;
CREATE TRIGGER audit_checkpoints_no_delete BEFORE DELETE ON audit_checkpoints
BEGIN
	SELECT RAISE(ABORT, 'audit_checkpoints is append-only');
END;

-- Security events reach the audit log through this outbox, filled by a
-- trigger inside whatever transaction records the event (RecordEvent, a
-- bulk revocation, anything later), so no event can be recorded without
-- being queued, and no Go code has to remember to do it. The audit log
-- drains it in order (AppendAuditEvents), appending an entry and deleting
-- the row in one transaction: exactly once, also after a crash.
CREATE TABLE audit_outbox (
	seq      INTEGER PRIMARY KEY AUTOINCREMENT, -- never reused, stable under VACUUM
	event_id TEXT NOT NULL UNIQUE
);
CREATE TRIGGER security_events_to_audit AFTER INSERT ON security_events
BEGIN
	INSERT INTO audit_outbox (event_id) VALUES (NEW.id);
END;
-- Events recorded before this migration are audited too, oldest first.
INSERT INTO audit_outbox (event_id) SELECT id FROM security_events ORDER BY at, rowid;
