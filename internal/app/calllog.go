package app

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"path/filepath"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/internal/calllog"
	"github.com/gatehouse/gatehouse/internal/config"
	"github.com/gatehouse/gatehouse/internal/sqlite"
)

// callLogDB is the call log's own SQLite file under the data directory:
// its writes and retention never compete with token issuance for the main
// store's single writer, and it can be moved, backed up or deleted alone.
func callLogDB(dataDir string) string { return filepath.Join(dataDir, "calllog", "calls.db") }

// watch is the node's observation of the gateway: call log, usage and
// metrics.
type watch struct {
	calls    *sqlite.DB   // nil when the call log is disabled
	log      *calllog.Log // nil when the call log is disabled
	usage    *calllog.Tracker
	recorder *calllog.Recorder
}

// startWatch opens the call log (if enabled) and the usage tracker, and
// registers their metrics.
func startWatch(ctx context.Context, cfg *config.Config, store *sqlite.DB, reg prometheus.Registerer, log *slog.Logger, now func() time.Time, writeTimeout time.Duration) (*watch, error) {
	w := &watch{usage: calllog.NewTracker(store, log)}
	calllog.RegisterTracker(reg, w.usage)
	w.recorder = &calllog.Recorder{
		Usage: w.usage, Metrics: calllog.NewMetrics(reg), Now: now,
		Info: func(r *http.Request) (calllog.Route, bool) {
			i, ok := requestInfo(r)
			return calllog.Route{API: i.API, Route: i.Route, RouteKey: i.RouteKey, RequestID: i.RequestID, ClientAddr: i.ClientAddr}, ok
		},
	}
	c := cfg.CallLog
	if !c.Enabled {
		return w, nil
	}
	db, err := sqlite.OpenLogged(ctx, callLogDB(cfg.DataDir), log)
	if err != nil {
		return nil, fmt.Errorf("call log: %w", err)
	}
	// A 40 MB WAL rather than 4 MB: fewer checkpoints rewriting the same
	// index pages.
	if err := db.SetWALAutoCheckpoint(ctx, 10000); err != nil {
		db.Close()
		return nil, fmt.Errorf("call log: %w", err)
	}
	l, err := calllog.Open(db, calllog.Options{
		SpillDir: filepath.Join(cfg.DataDir, "calllog", "spill"), QueueSize: c.QueueSize, BatchSize: c.BatchSize,
		FlushInterval: c.FlushInterval, MaxAge: orNone(c.MaxAge), MaxRows: orNoneN(c.MaxRows),
		MaxSpillBytes: c.MaxSpillBytes, WriteTimeout: writeTimeout, Log: log, Now: now,
	})
	if err != nil {
		db.Close()
		return nil, err
	}
	calllog.RegisterLog(reg, l)
	w.calls, w.log, w.recorder.Log = db, l, l
	return w, nil
}

// orNone maps the config's 0 (no limit) to calllog's negative.
func orNone(d time.Duration) time.Duration {
	if d == 0 {
		return -1
	}
	return d
}

func orNoneN(n int64) int64 {
	if n == 0 {
		return -1
	}
	return n
}

// callStore is the admin API's view of the call log: nil (no interface
// value) when it is disabled.
func (w *watch) callStore() interface {
	FindCalls(ctx context.Context, f gatehouse.CallFilter) ([]gatehouse.Call, error)
} {
	if w.calls == nil {
		return nil
	}
	return w.calls
}

// close drains the call log (bounded by ctx; the rest spills) and closes
// its store. The usage tracker's final flush runs when its goroutine ends.
func (w *watch) close(ctx context.Context, log *slog.Logger) {
	if w.log != nil {
		if err := w.log.Close(ctx); err != nil {
			log.Error("close call log", "err", err)
		}
	}
	if w.calls != nil {
		if err := w.calls.Close(); err != nil {
			log.Error("close call log store", "err", err)
		}
	}
}
