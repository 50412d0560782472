package calllog

import (
	"context"
	"hash/maphash"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gatehouse/gatehouse"
)

// UsageStore is where usage is merged.
type UsageStore interface {
	RecordUsage(ctx context.Context, us []gatehouse.Usage) error
}

// DefaultUsageFlushInterval is how often Tracker.Run writes.
const DefaultUsageFlushInterval = 5 * time.Second

// maxPendingUsage bounds the credentials a Tracker holds between flushes;
// uses of more are dropped (and counted) rather than growing without end
// while the store is down.
const maxPendingUsage = 1 << 20

const usageShards = 16

type usageKey struct {
	kind gatehouse.UsageKind
	id   string
}

// Tracker counts uses of credentials in memory and merges them into the
// store in batches (Flush, Run), never per request.
type Tracker struct {
	store UsageStore
	log   *slog.Logger
	seed  maphash.Seed

	shards  [usageShards]usageShard
	pending atomic.Int64
	dropped atomic.Uint64
	flushMu sync.Mutex // one Flush at a time
}

type usageShard struct {
	mu sync.Mutex
	m  map[usageKey]*gatehouse.Usage
}

// NewTracker returns a Tracker writing to store.
func NewTracker(store UsageStore, log *slog.Logger) *Tracker {
	if log == nil {
		log = slog.Default()
	}
	t := &Tracker{store: store, log: log, seed: maphash.MakeSeed()}
	for i := range t.shards {
		t.shards[i].m = map[usageKey]*gatehouse.Usage{}
	}
	return t
}

// Use counts one use of a credential at `at` from addr.
func (t *Tracker) Use(kind gatehouse.UsageKind, id, clientID, api, addr string, at time.Time) {
	if id == "" {
		return
	}
	sh := &t.shards[maphash.String(t.seed, id)%usageShards]
	k := usageKey{kind, id}
	sh.mu.Lock()
	u := sh.m[k]
	if u == nil {
		if t.pending.Load() >= maxPendingUsage {
			sh.mu.Unlock()
			t.dropped.Add(1)
			return
		}
		u = &gatehouse.Usage{Kind: kind, ID: id, ClientID: clientID, FirstUsed: at}
		sh.m[k] = u
		t.pending.Add(1)
	}
	u.Merge(gatehouse.Usage{ClientID: clientID, API: api, FirstUsed: at, LastUsed: at, LastAddr: addr, Count: 1})
	sh.mu.Unlock()
}

// Pending is how many credentials have uses not yet written.
func (t *Tracker) Pending() int { return int(t.pending.Load()) }

// Dropped is how many uses were not counted because too many credentials
// were pending.
func (t *Tracker) Dropped() uint64 { return t.dropped.Load() }

// Flush writes the counted uses. On failure they are kept (merged with
// uses counted meanwhile) for the next Flush.
func (t *Tracker) Flush(ctx context.Context) error {
	t.flushMu.Lock()
	defer t.flushMu.Unlock()
	var us []gatehouse.Usage
	for i := range t.shards {
		sh := &t.shards[i]
		sh.mu.Lock()
		if len(sh.m) > 0 {
			for _, u := range sh.m {
				us = append(us, *u)
			}
			t.pending.Add(-int64(len(sh.m)))
			sh.m = map[usageKey]*gatehouse.Usage{}
		}
		sh.mu.Unlock()
	}
	const chunk = 1000
	for start := 0; start < len(us); start += chunk {
		part := us[start:min(start+chunk, len(us))]
		if err := t.store.RecordUsage(ctx, part); err != nil {
			t.restore(us[start:])
			return err
		}
	}
	return nil
}

// restore puts unwritten usage back.
func (t *Tracker) restore(us []gatehouse.Usage) {
	for _, u := range us {
		sh := &t.shards[maphash.String(t.seed, u.ID)%usageShards]
		k := usageKey{u.Kind, u.ID}
		sh.mu.Lock()
		if cur := sh.m[k]; cur != nil {
			cur.Merge(u)
		} else {
			c := u
			sh.m[k] = &c
			t.pending.Add(1)
		}
		sh.mu.Unlock()
	}
}

// Run flushes every interval until ctx ends, then once more (bounded by
// 5 s) so that nothing counted is left behind at shutdown.
func (t *Tracker) Run(ctx context.Context, every time.Duration) {
	if every <= 0 {
		every = DefaultUsageFlushInterval
	}
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			fctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			if err := t.Flush(fctx); err != nil {
				t.log.Error("usage: final flush", "err", err, "pending", t.Pending())
			}
			cancel()
			return
		case <-tick.C:
			if err := t.Flush(ctx); err != nil && ctx.Err() == nil {
				t.log.Warn("usage: flush", "err", err, "pending", t.Pending())
			}
		}
	}
}
