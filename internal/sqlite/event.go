package sqlite

import (
	"context"
	"database/sql"
	"strings"

	"github.com/gatehouse/gatehouse"
)

// RecordEvent appends e. CodeConflict if an event with its ID exists;
// CodeInvalid without an ID, a type or a time.
func (db *DB) RecordEvent(ctx context.Context, e *gatehouse.SecurityEvent) error {
	switch {
	case e.ID == "":
		return gatehouse.Errorf(gatehouse.CodeInvalid, "event id required")
	case e.Type == "":
		return gatehouse.Errorf(gatehouse.CodeInvalid, "event type required")
	case e.At.IsZero():
		return gatehouse.Errorf(gatehouse.CodeInvalid, "event time required")
	}
	_, err := db.writer.ExecContext(ctx, `INSERT INTO security_events (id, type, client_id, subject, grant_id,
		detail, at) VALUES (?, ?, ?, ?, ?, ?, ?)`,
		e.ID, e.Type, e.ClientID, e.Subject, stringValue(e.GrantID), e.Detail, e.At.UnixNano())
	return formatError(err, "record event", "event")
}

// FindEvents returns the events matching f, newest first; events recorded
// with the same time come latest recorded first. A Limit of zero or less
// does not limit.
func (db *DB) FindEvents(ctx context.Context, f gatehouse.EventFilter) ([]*gatehouse.SecurityEvent, error) {
	var where []string
	var args []any
	if f.Type != "" {
		where, args = append(where, `type = ?`), append(args, f.Type)
	}
	if f.GrantID != "" {
		where, args = append(where, `grant_id = ?`), append(args, f.GrantID)
	}
	q := `SELECT id, type, client_id, subject, grant_id, detail, at FROM security_events`
	if len(where) > 0 {
		q += ` WHERE ` + strings.Join(where, ` AND `)
	}
	q += ` ORDER BY at DESC, rowid DESC`
	if f.Limit > 0 {
		q += ` LIMIT ?`
		args = append(args, f.Limit)
	}
	rows, err := db.reader.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, formatError(err, "find events", "event")
	}
	defer rows.Close()
	es := []*gatehouse.SecurityEvent{}
	for rows.Next() {
		var e gatehouse.SecurityEvent
		var grantID sql.NullString
		var at sql.NullInt64
		if err := rows.Scan(&e.ID, &e.Type, &e.ClientID, &e.Subject, &grantID, &e.Detail, &at); err != nil {
			return nil, formatError(err, "find events", "event")
		}
		e.GrantID, e.At = grantID.String, timeOf(at)
		es = append(es, &e)
	}
	if err := rows.Err(); err != nil {
		return nil, formatError(err, "find events", "event")
	}
	return es, nil
}
