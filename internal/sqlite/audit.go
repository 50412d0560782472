package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"strings"

	"github.com/gatehouse/gatehouse"
)

// AppendAudit reads the head and inserts the entry build makes from it, in
// one write transaction. The writer is a single connection and its
// transactions are BEGIN IMMEDIATE, so the head cannot move between the
// read and the insert, even with another process on the same file.
func (db *DB) AppendAudit(ctx context.Context, build func(head gatehouse.AuditHead) (*gatehouse.AuditEntry, error)) (*gatehouse.AuditEntry, error) {
	var e *gatehouse.AuditEntry
	err := db.writeTx(ctx, func(tx *sql.Tx) error {
		head, err := auditHead(ctx, tx)
		if err != nil {
			return err
		}
		if e, err = build(head); err != nil {
			return err
		}
		return insertAudit(ctx, tx, head, e)
	})
	if err != nil {
		return nil, formatError(err, "append audit entry", "audit entry")
	}
	return e, nil
}

// AppendAuditEvents drains the audit outbox: in one write transaction it
// takes up to limit security events in the order they were recorded,
// appends the entry build makes for each after the current head (each
// build sees the previous entry as head), and removes them from the
// outbox. It returns how many it appended; nothing is written if build or
// an insert fails.
func (db *DB) AppendAuditEvents(ctx context.Context, limit int, build func(head gatehouse.AuditHead, e *gatehouse.SecurityEvent) (*gatehouse.AuditEntry, error)) (int, error) {
	if limit <= 0 {
		return 0, gatehouse.Errorf(gatehouse.CodeInvalid, "limit must be positive")
	}
	n := 0
	err := db.writeTx(ctx, func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, `SELECT o.seq, e.id, e.type, e.client_id, e.subject, e.grant_id, e.detail, e.at
			FROM audit_outbox o JOIN security_events e ON e.id = o.event_id ORDER BY o.seq LIMIT ?`, limit)
		if err != nil {
			return err
		}
		var seqs []int64
		var events []*gatehouse.SecurityEvent
		for rows.Next() {
			var seq int64
			var e gatehouse.SecurityEvent
			var grantID sql.NullString
			var at sql.NullInt64
			if err := rows.Scan(&seq, &e.ID, &e.Type, &e.ClientID, &e.Subject, &grantID, &e.Detail, &at); err != nil {
				rows.Close()
				return err
			}
			e.GrantID, e.At = grantID.String, timeOf(at)
			seqs, events = append(seqs, seq), append(events, &e)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		head, err := auditHead(ctx, tx)
		if err != nil {
			return err
		}
		for i, ev := range events {
			e, err := build(head, ev)
			if err != nil {
				return err
			}
			if err := insertAudit(ctx, tx, head, e); err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx, `DELETE FROM audit_outbox WHERE seq = ?`, seqs[i]); err != nil {
				return err
			}
			head = gatehouse.AuditHead{Seq: e.Seq, Hash: e.Hash}
		}
		n = len(events)
		return nil
	})
	if err != nil {
		return 0, formatError(err, "append audit events", "audit entry")
	}
	return n, nil
}

func insertAudit(ctx context.Context, tx *sql.Tx, head gatehouse.AuditHead, e *gatehouse.AuditEntry) error {
	if e == nil || e.Seq != head.Seq+1 {
		return gatehouse.Errorf(gatehouse.CodeInvalid, "audit entry must follow seq %d", head.Seq)
	}
	if e.Time.IsZero() {
		return gatehouse.Errorf(gatehouse.CodeInvalid, "audit entry time required")
	}
	_, err := tx.ExecContext(ctx, `INSERT INTO audit_log (seq, at, actor, action, target_type, target_id,
		outcome, details, prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		e.Seq, e.Time.UnixNano(), e.Actor, e.Action, e.TargetType, e.TargetID, e.Outcome,
		string(e.Details), e.PrevHash, e.Hash)
	return err
}

type queryer interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

func auditHead(ctx context.Context, q queryer) (gatehouse.AuditHead, error) {
	var h gatehouse.AuditHead
	err := q.QueryRowContext(ctx, `SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1`).Scan(&h.Seq, &h.Hash)
	if errors.Is(err, sql.ErrNoRows) {
		return gatehouse.AuditHead{}, nil
	}
	return h, err
}

// AuditHead returns the newest entry's seq and hash; zero for an empty log.
func (db *DB) AuditHead(ctx context.Context) (gatehouse.AuditHead, error) {
	h, err := auditHead(ctx, db.reader)
	return h, formatError(err, "audit head", "audit entry")
}

// FindAuditEntries returns the entries matching f in ascending seq.
func (db *DB) FindAuditEntries(ctx context.Context, f gatehouse.AuditFilter) ([]*gatehouse.AuditEntry, error) {
	var where []string
	var args []any
	if f.AfterSeq > 0 {
		where, args = append(where, `seq > ?`), append(args, f.AfterSeq)
	}
	if !f.Since.IsZero() {
		where, args = append(where, `at >= ?`), append(args, f.Since.UnixNano())
	}
	if !f.Until.IsZero() {
		where, args = append(where, `at < ?`), append(args, f.Until.UnixNano())
	}
	if f.Action != "" {
		where, args = append(where, `action = ?`), append(args, f.Action)
	}
	if f.Actor != "" {
		where, args = append(where, `actor = ?`), append(args, f.Actor)
	}
	q := `SELECT seq, at, actor, action, target_type, target_id, outcome, details, prev_hash, hash FROM audit_log`
	if len(where) > 0 {
		q += ` WHERE ` + strings.Join(where, ` AND `)
	}
	q += ` ORDER BY seq`
	if f.Limit > 0 {
		q += ` LIMIT ?`
		args = append(args, f.Limit)
	}
	rows, err := db.reader.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, formatError(err, "find audit entries", "audit entry")
	}
	defer rows.Close()
	var es []*gatehouse.AuditEntry
	for rows.Next() {
		var e gatehouse.AuditEntry
		var at sql.NullInt64
		var details string
		if err := rows.Scan(&e.Seq, &at, &e.Actor, &e.Action, &e.TargetType, &e.TargetID, &e.Outcome,
			&details, &e.PrevHash, &e.Hash); err != nil {
			return nil, formatError(err, "find audit entries", "audit entry")
		}
		e.Time, e.Details = timeOf(at), []byte(details)
		es = append(es, &e)
	}
	if err := rows.Err(); err != nil {
		return nil, formatError(err, "find audit entries", "audit entry")
	}
	return es, nil
}

// CreateAuditCheckpoint stores c. CodeInvalid without a seq, a 32-byte
// hash, a time, a key id or a JWS.
func (db *DB) CreateAuditCheckpoint(ctx context.Context, c *gatehouse.AuditCheckpoint) error {
	switch {
	case c.Seq < 1:
		return gatehouse.Errorf(gatehouse.CodeInvalid, "checkpoint seq must be positive")
	case len(c.Hash) != 32:
		return gatehouse.Errorf(gatehouse.CodeInvalid, "checkpoint hash must be 32 bytes")
	case c.At.IsZero() || c.KeyID == "" || c.JWS == "":
		return gatehouse.Errorf(gatehouse.CodeInvalid, "checkpoint time, key id and jws required")
	}
	_, err := db.writer.ExecContext(ctx, `INSERT INTO audit_checkpoints (seq, hash, at, kid, jws) VALUES (?, ?, ?, ?, ?)`,
		c.Seq, c.Hash, c.At.UnixNano(), c.KeyID, c.JWS)
	return formatError(err, "create audit checkpoint", "audit checkpoint")
}

const selectCheckpointSQL = `SELECT seq, hash, at, kid, jws FROM audit_checkpoints`

// LatestAuditCheckpoint returns the most recently stored checkpoint;
// CodeNotFound when there is none.
func (db *DB) LatestAuditCheckpoint(ctx context.Context) (*gatehouse.AuditCheckpoint, error) {
	cs, err := db.findCheckpoints(ctx, selectCheckpointSQL+` ORDER BY id DESC LIMIT 1`)
	if err != nil {
		return nil, err
	}
	if len(cs) == 0 {
		return nil, gatehouse.Errorf(gatehouse.CodeNotFound, "audit checkpoint not found")
	}
	return cs[0], nil
}

// FindAuditCheckpoints returns every checkpoint, oldest first.
func (db *DB) FindAuditCheckpoints(ctx context.Context) ([]*gatehouse.AuditCheckpoint, error) {
	return db.findCheckpoints(ctx, selectCheckpointSQL+` ORDER BY id`)
}

func (db *DB) findCheckpoints(ctx context.Context, q string) ([]*gatehouse.AuditCheckpoint, error) {
	rows, err := db.reader.QueryContext(ctx, q)
	if err != nil {
		return nil, formatError(err, "find audit checkpoints", "audit checkpoint")
	}
	defer rows.Close()
	var cs []*gatehouse.AuditCheckpoint
	for rows.Next() {
		var c gatehouse.AuditCheckpoint
		var at sql.NullInt64
		if err := rows.Scan(&c.Seq, &c.Hash, &at, &c.KeyID, &c.JWS); err != nil {
			return nil, formatError(err, "find audit checkpoints", "audit checkpoint")
		}
		c.At = timeOf(at)
		cs = append(cs, &c)
	}
	if err := rows.Err(); err != nil {
		return nil, formatError(err, "find audit checkpoints", "audit checkpoint")
	}
	return cs, nil
}
