package audit

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/gatehouse/gatehouse"
)

// Store keeps the entries.
//
// AppendAudit runs, in one transaction: read the head (the entry with the
// highest Seq, or the zero AuditHead for an empty log), call build with it,
// and insert the entry build returns, which must have Seq head.Seq+1
// (CodeInvalid otherwise). build's error is returned as is and nothing is
// written. CodeConflict if another writer took that Seq first. build must
// not block: it runs while the store's write lock is held.
//
// FindAuditEntries returns the entries matching f in ascending Seq.
//
// AppendAuditEvents drains the store's queue of security events not yet
// in the log (filled in the same transaction that records each event), in
// the order they were recorded: up to limit of them, in one transaction,
// each entry built after the previous one. It returns how many.
type Store interface {
	AppendAudit(ctx context.Context, build func(head gatehouse.AuditHead) (*gatehouse.AuditEntry, error)) (*gatehouse.AuditEntry, error)
	FindAuditEntries(ctx context.Context, f gatehouse.AuditFilter) ([]*gatehouse.AuditEntry, error)
	AppendAuditEvents(ctx context.Context, limit int, build func(head gatehouse.AuditHead, e *gatehouse.SecurityEvent) (*gatehouse.AuditEntry, error)) (int, error)
}

// Log appends records to the chain. Appends from one process are serialized
// by a mutex; across processes the store's transaction reads the head and
// inserts the next Seq atomically, and the Seq key makes a second writer of
// the same Seq fail, so the chain never forks.
type Log struct {
	Store Store
	Now   func() time.Time // default time.Now

	mu sync.Mutex
}

// appendAttempts bounds retries when another process appended first.
const appendAttempts = 3

// Append seals r after the current head and stores it in one transaction.
func (l *Log) Append(ctx context.Context, r Record) (*gatehouse.AuditEntry, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	var err error
	for range appendAttempts {
		var e *gatehouse.AuditEntry
		e, err = l.Store.AppendAudit(ctx, func(head gatehouse.AuditHead) (*gatehouse.AuditEntry, error) {
			return Seal(head, r, l.now())
		})
		if gatehouse.ErrorCode(err) != gatehouse.CodeConflict {
			return e, err
		}
	}
	return nil, err
}

// eventBatch is how many security events one transaction appends.
const eventBatch = 100

// SyncEvents appends every security event the store has queued for the
// log and returns how many. Events reach the queue in the transaction that
// records them, whoever records them (the OAuth server, a bulk revocation
// in the store, another process), so none is missed and none is appended
// twice.
func (l *Log) SyncEvents(ctx context.Context) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	total := 0
	for {
		n, err := l.Store.AppendAuditEvents(ctx, eventBatch, func(head gatehouse.AuditHead, e *gatehouse.SecurityEvent) (*gatehouse.AuditEntry, error) {
			at := e.At
			if at.IsZero() {
				at = l.now()
			}
			entry, err := Seal(head, EventRecord(e), at)
			if err != nil {
				// Never leave an event stuck at the head of the queue: keep
				// at least that it happened.
				entry, err = Seal(head, Record{Actor: gatehouse.AuditActorSystem, Action: "security.unrecordable_event",
					Outcome: gatehouse.AuditSuccess, Details: map[string]string{"event_id": CleanN(e.ID, 120)}}, at)
			}
			return entry, err
		})
		total += n
		if err != nil {
			return total, fmt.Errorf("audit: append security events: %w", err)
		}
		if n < eventBatch {
			return total, nil
		}
	}
}

// RunEventSync calls SyncEvents every interval until ctx ends, so that
// events recorded without going through Events (a bulk revocation inside a
// store transaction, another process) reach the log within an interval.
func (l *Log) RunEventSync(ctx context.Context, interval time.Duration, log *slog.Logger) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if _, err := l.SyncEvents(ctx); err != nil && ctx.Err() == nil && log != nil {
				log.Error("audit event sync failed", "err", err)
			}
		}
	}
}

// FindAuditEntries reads entries from the store.
func (l *Log) FindAuditEntries(ctx context.Context, f gatehouse.AuditFilter) ([]*gatehouse.AuditEntry, error) {
	return l.Store.FindAuditEntries(ctx, f)
}

func (l *Log) now() time.Time {
	if l.Now != nil {
		return l.Now()
	}
	return time.Now()
}

// EventStore records security events.
type EventStore interface {
	RecordEvent(ctx context.Context, e *gatehouse.SecurityEvent) error
}

// Events records security events in their store, then drains the store's
// queue into the audit log at once (SyncEvents), so the entry is there
// when the call returns. It stands in for the store wherever events are
// recorded through RecordEvent; events recorded otherwise are appended by
// the periodic RunEventSync. If the sync fails the event is still queued
// for the next one, and the error is returned for the caller to log.
type Events struct {
	Store EventStore
	Log   *Log
}

// RecordEvent records e, then appends the queued events to the audit log.
func (ev *Events) RecordEvent(ctx context.Context, e *gatehouse.SecurityEvent) error {
	if err := ev.Store.RecordEvent(ctx, e); err != nil {
		return err
	}
	_, err := ev.Log.SyncEvents(ctx)
	return err
}

// EventRecord is the audit record of a security event: actor "system"
// (Gatehouse detected or carried it out), action "security." plus the event
// type, the grant (or else the user, or else the client) as the target.
// Values are cut so that any event, whatever its text, makes a record Seal
// accepts.
func EventRecord(e *gatehouse.SecurityEvent) Record {
	r := Record{
		Actor: gatehouse.AuditActorSystem, Action: Clean("security." + e.Type), Outcome: gatehouse.AuditSuccess,
		Details: map[string]string{"event_id": CleanN(e.ID, 120)},
	}
	switch {
	case e.GrantID != "":
		r.TargetType, r.TargetID = "grant", Clean(e.GrantID)
	case e.Subject != "":
		r.TargetType, r.TargetID = "user", Clean(e.Subject)
	case e.ClientID != "":
		r.TargetType, r.TargetID = "client", Clean(e.ClientID)
	}
	// Escaped as JSON a byte may take six: 120*3 + 240 bytes stay under
	// MaxDetailsLen with room for the names.
	for k, v := range map[string]string{"client_id": CleanN(e.ClientID, 120), "subject": CleanN(e.Subject, 120),
		"grant_id": CleanN(e.GrantID, 120), "detail": CleanN(e.Detail, 240)} {
		if v != "" {
			r.Details[k] = v
		}
	}
	return r
}
