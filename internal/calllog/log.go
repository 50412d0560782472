// Package calllog keeps a record of every request through the gateway and
// the usage of every credential, without making the request path wait on
// the store.
//
// A Log takes finished calls on a bounded in-memory queue (Add never
// blocks); one writer goroutine inserts them in batches, one transaction
// each. When the queue is full or the store fails, calls spill to
// append-only segment files on disk and are replayed, oldest segment first,
// once the store takes writes again; only what cannot be spilled either
// (the disk is full, a segment is corrupt) is lost, and counted. The writer
// also applies retention, by age and by row count, in small batches.
//
// A Recorder is the gateway side: it wraps the ResponseWriter to learn the
// status, bytes and timings of each request and hands the call to the Log,
// the usage Tracker and the Metrics.
package calllog

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gatehouse/gatehouse"
)

// Store is where the call log goes.
type Store interface {
	// InsertCalls appends calls in one transaction.
	InsertCalls(ctx context.Context, cs []gatehouse.Call) error
	// DeleteCallsBefore deletes about limit calls older than before and
	// returns how many went. A store that keeps calls in groups (pages)
	// may go over limit by one group, and may keep older calls in a group
	// with newer ones: fewer than limit deleted means none is left to
	// delete now.
	DeleteCallsBefore(ctx context.Context, before time.Time, limit int) (int, error)
	// TrimCalls deletes about limit of the earliest inserted calls beyond
	// the keep inserted last, as DeleteCallsBefore.
	TrimCalls(ctx context.Context, keep int64, limit int) (int, error)
}

// Defaults of Options.
const (
	DefaultQueueSize     = 16384
	DefaultBatchSize     = 128
	DefaultFlushInterval = 100 * time.Millisecond
	DefaultMaxAge        = 30 * 24 * time.Hour
	DefaultMaxRows       = 10_000_000
	DefaultMaxSpillBytes = 1 << 30
	DefaultRetryInterval = time.Second
	DefaultPruneInterval = time.Minute
	DefaultWriteTimeout  = 10 * time.Second
	// pruneBatch is how many rows one retention DELETE removes: small
	// enough that the writer is never held for long.
	pruneBatch = 2000
	// pruneSlice is how long the writer prunes between two batches when
	// retention is behind.
	pruneSlice = 100 * time.Millisecond
)

// Options configure a Log. Zero values mean the defaults above.
type Options struct {
	SpillDir      string // required
	QueueSize     int
	BatchSize     int
	FlushInterval time.Duration
	// MaxAge and MaxRows bound the log; a negative value disables the
	// bound.
	MaxAge  time.Duration
	MaxRows int64
	// MaxSpillBytes bounds the spill directory; beyond it calls are lost.
	MaxSpillBytes int64
	// RetryInterval is how long the writer waits, after the store failed,
	// before trying it again; meanwhile batches go to the spill.
	RetryInterval time.Duration
	PruneInterval time.Duration
	// WriteTimeout bounds one write to the store (a batch, a replayed
	// segment, a retention step); a store that holds its lock longer
	// counts as failing. Default 10s.
	WriteTimeout time.Duration
	Log          *slog.Logger
	Now          func() time.Time // the clock of retention by age
}

func (o *Options) setDefaults() {
	def := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&o.QueueSize, DefaultQueueSize)
	def(&o.BatchSize, DefaultBatchSize)
	defd := func(v *time.Duration, d time.Duration) {
		if *v == 0 {
			*v = d
		}
	}
	defd(&o.FlushInterval, DefaultFlushInterval)
	defd(&o.MaxAge, DefaultMaxAge)
	defd(&o.RetryInterval, DefaultRetryInterval)
	defd(&o.PruneInterval, DefaultPruneInterval)
	defd(&o.WriteTimeout, DefaultWriteTimeout)
	if o.MaxRows == 0 {
		o.MaxRows = DefaultMaxRows
	}
	if o.MaxSpillBytes <= 0 {
		o.MaxSpillBytes = DefaultMaxSpillBytes
	}
	if o.Log == nil {
		o.Log = slog.Default()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
}

// Stats are the Log's counters since it started.
type Stats struct {
	Queued     int    // waiting in memory
	Written    uint64 // inserted into the store, replayed ones included
	Spilled    uint64 // written to a spill segment
	Replayed   uint64 // read back from a spill segment and inserted
	Lost       uint64 // neither stored nor spilled, or in a corrupt segment
	Pruned     uint64 // deleted by retention
	SpillBytes int64  // on disk now
}

// Log is the call log's writer. Create it with Open; Close it last.
type Log struct {
	store Store
	o     Options
	spill *spiller
	queue chan gatehouse.Call
	// full wakes the writer once the queue holds wakeAt calls. The writer
	// does not wait on the queue itself: under load that woke it for
	// nearly every call, a goroutine switch each, while it only writes
	// full batches or on the tick anyway.
	full   chan struct{}
	wakeAt int

	written, spilled, replayed, lost, pruned atomic.Uint64

	closing atomic.Bool
	flushq  chan chan error
	stop    chan context.Context
	done    chan struct{}
	closeMu sync.Mutex
	closed  bool

	// Owned by the writer goroutine.
	down      bool      // the store failed; spill until retryAt
	retryAt   time.Time // monotonic
	lastPrune time.Time
	pruning   bool
}

// Open starts a Log writing to store, spilling to o.SpillDir. Segments
// left in the spill directory by an earlier run are replayed.
func Open(store Store, o Options) (*Log, error) {
	if o.SpillDir == "" {
		return nil, errors.New("call log: spill directory required")
	}
	o.setDefaults()
	sp, err := openSpiller(o.SpillDir, o.MaxSpillBytes)
	if err != nil {
		return nil, fmt.Errorf("call log: %w", err)
	}
	l := &Log{
		store: store, o: o, spill: sp,
		queue:  make(chan gatehouse.Call, o.QueueSize),
		full:   make(chan struct{}, 1),
		wakeAt: max(1, min(o.BatchSize, o.QueueSize/2)),
		flushq: make(chan chan error),
		stop:   make(chan context.Context),
		done:   make(chan struct{}),
	}
	go l.run()
	return l, nil
}

// Add hands c to the writer without blocking: onto the queue, or to the
// spill when the queue is full.
func (l *Log) Add(c *gatehouse.Call) {
	if !l.closing.Load() {
		select {
		case l.queue <- *c:
			if len(l.queue) >= l.wakeAt {
				select {
				case l.full <- struct{}{}:
				default: // a wake-up is already pending
				}
			}
			return
		default:
		}
	}
	l.spillCalls([]gatehouse.Call{*c})
}

// Stats returns the counters.
func (l *Log) Stats() Stats {
	return Stats{
		Queued: len(l.queue), Written: l.written.Load(), Spilled: l.spilled.Load(),
		Replayed: l.replayed.Load(), Lost: l.lost.Load(), Pruned: l.pruned.Load(),
		SpillBytes: l.spill.bytes(),
	}
}

// Flush waits until every call added before it is stored (or spilled, if
// the store fails), the spill is replayed if the store takes writes, and
// retention has run. It is for tests, the CLI and shutdown paths; the
// writer does all of it on its own.
func (l *Log) Flush(ctx context.Context) error {
	reply := make(chan error, 1)
	select {
	case l.flushq <- reply:
	case <-l.done:
		return errors.New("call log closed")
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case err := <-reply:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Close stops taking calls, writes what is queued until ctx ends, spills
// the rest and closes the spill segment. Calls added after Close are
// spilled while it runs and lost after it returns.
func (l *Log) Close(ctx context.Context) error {
	l.closeMu.Lock()
	defer l.closeMu.Unlock()
	if l.closed {
		return nil
	}
	l.closed = true
	l.closing.Store(true)
	l.stop <- ctx
	<-l.done
	// An Add that raced with closing may have queued after the drain.
	l.spillCalls(l.fill(nil))
	return l.spill.close()
}

func (l *Log) run() {
	defer close(l.done)
	batch := make([]gatehouse.Call, 0, l.o.BatchSize)
	tick := time.NewTicker(l.o.FlushInterval)
	defer tick.Stop()
	l.lastPrune = time.Now()
	for {
		select {
		case <-l.full:
			// A full batch now; a rest waits for the tick.
			if batch = l.fill(batch); len(batch) >= l.wakeAt {
				l.write(batch)
				batch = batch[:0]
			}
		case <-tick.C:
			if batch = l.fill(batch); len(batch) > 0 {
				l.write(batch)
				batch = batch[:0]
			}
		case reply := <-l.flushq:
			for {
				batch = l.fill(batch)
				if len(batch) == 0 {
					break
				}
				l.write(batch)
				batch = batch[:0]
			}
			l.down = l.down && time.Now().Before(l.retryAt)
			var err error
			for !l.down && l.spill.pending() && err == nil {
				err = l.replayOne()
			}
			if err == nil && l.down {
				err = errors.New("call log: the store is failing; calls are spilled")
			}
			l.pruning = true
			for l.pruning && err == nil {
				err = l.pruneStep()
			}
			reply <- err
			continue
		case ctx := <-l.stop:
			l.drain(ctx, batch)
			return
		}
		// Between batches: one step of replay and of retention, so that
		// neither holds up the live queue for long.
		if !l.down || time.Now().After(l.retryAt) {
			l.down = false
			if l.spill.pending() {
				if err := l.replayOne(); err != nil {
					l.fail("replay spilled calls", err)
				}
			}
		}
		if time.Since(l.lastPrune) >= l.o.PruneInterval {
			l.lastPrune, l.pruning = time.Now(), true
		}
		for start := time.Now(); l.pruning && !l.down && time.Since(start) < pruneSlice; {
			if err := l.pruneStep(); err != nil {
				l.o.Log.Warn("call log retention", "err", err)
				l.pruning = false
			}
		}
		// One batch per round, so that a Flush or Close is not held up
		// behind a long queue: another round if a batch is waiting.
		if len(l.queue) >= l.wakeAt {
			select {
			case l.full <- struct{}{}:
			default:
			}
		}
	}
}

// fill takes queued calls without waiting, up to a batch.
func (l *Log) fill(batch []gatehouse.Call) []gatehouse.Call {
	for len(batch) < l.o.BatchSize {
		select {
		case c := <-l.queue:
			batch = append(batch, c)
		default:
			return batch
		}
	}
	return batch
}

// write stores batch, or spills it when the store is failing.
func (l *Log) write(batch []gatehouse.Call) {
	if batch = l.dropUnstorable(batch); len(batch) == 0 {
		return
	}
	if l.down && time.Now().Before(l.retryAt) {
		l.spillCalls(batch)
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), l.o.WriteTimeout)
	err := l.store.InsertCalls(ctx, batch)
	cancel()
	if gatehouse.ErrorCode(err) == gatehouse.CodeInvalid {
		// The store will never take this batch (a call it cannot hold):
		// spilled, it would be replayed and refused for ever.
		l.lost.Add(uint64(len(batch)))
		l.o.Log.Error("call log batch refused by the store; its calls are lost", "calls", len(batch), "err", err)
		return
	}
	if err != nil {
		l.fail("write calls", err)
		l.spillCalls(batch)
		return
	}
	if l.down {
		l.o.Log.Info("call log store writable again")
	}
	l.down = false
	l.written.Add(uint64(len(batch)))
}

// dropUnstorable removes from batch, in place, the calls no store can hold
// (gatehouse.StorableTime), counted lost: spilled, they would be replayed
// and refused for ever. The request path sets times from the clock, so
// this is a guard.
func (l *Log) dropUnstorable(batch []gatehouse.Call) []gatehouse.Call {
	kept := batch[:0]
	for _, c := range batch {
		if !gatehouse.StorableTime(c.Time) {
			l.lost.Add(1)
			l.o.Log.Error("call log: a call with a time no store can hold is lost", "request_id", c.RequestID, "time", c.Time.String())
			continue
		}
		kept = append(kept, c)
	}
	return kept
}

// fail marks the store down until the retry interval has passed.
func (l *Log) fail(op string, err error) {
	if !l.down {
		l.o.Log.Warn("call log store failed; spilling to disk", "op", op, "err", err)
	}
	l.down, l.retryAt = true, time.Now().Add(l.o.RetryInterval)
}

func (l *Log) spillCalls(cs []gatehouse.Call) {
	n, err := l.spill.append(cs)
	l.spilled.Add(uint64(n))
	if err != nil {
		l.lost.Add(uint64(len(cs) - n))
		l.o.Log.Error("call log: calls lost", "count", len(cs)-n, "err", err)
	}
}

// replayOne rolls the active segment if there is no closed one, then
// stores the oldest closed segment in one transaction and deletes it.
func (l *Log) replayOne() error {
	segs, err := l.spill.closedSegments()
	if err != nil {
		return err
	}
	if len(segs) == 0 {
		if err := l.spill.roll(); err != nil {
			return err
		}
		if segs, err = l.spill.closedSegments(); err != nil {
			return err
		}
		if len(segs) == 0 {
			// Nothing on disk (segments removed by hand): forget the
			// count, or pending would stay true for ever.
			l.spill.forget()
			return nil
		}
	}
	seg := segs[0]
	f, err := os.Open(seg.path)
	if err != nil {
		return err
	}
	var cs []gatehouse.Call
	rerr := readSegment(f, func(c gatehouse.Call) { cs = append(cs, c) })
	f.Close()
	if rerr != nil {
		// What came before the bad frame is kept; the frame is counted
		// lost (a torn last frame after a crash is the usual case).
		l.lost.Add(1)
		l.o.Log.Error("call log: corrupt spill segment", "segment", seg.path, "err", rerr, "recovered", len(cs))
	}
	// WriteTimeout per batch's worth of calls: a segment is larger than a
	// batch, and a fixed bound would make a big one fail for ever on a
	// slow disk.
	batches := (len(cs) + l.o.BatchSize - 1) / l.o.BatchSize
	ctx, cancel := context.WithTimeout(context.Background(), time.Duration(max(1, batches))*l.o.WriteTimeout)
	err = l.store.InsertCalls(ctx, cs)
	cancel()
	if gatehouse.ErrorCode(err) == gatehouse.CodeInvalid {
		// As in write: a segment the store refuses is dropped, counted.
		l.lost.Add(uint64(len(cs)))
		l.o.Log.Error("call log: spill segment refused by the store; its calls are lost", "segment", seg.path, "calls", len(cs), "err", err)
		return l.spill.remove(seg)
	}
	if err != nil {
		l.fail("replay spilled calls", err)
		return err
	}
	l.written.Add(uint64(len(cs)))
	l.replayed.Add(uint64(len(cs)))
	// A crash between the commit and this removal replays the segment
	// again: delivery is at least once.
	return l.spill.remove(seg)
}

// pruneStep deletes one batch by age, else one by row count, and clears
// l.pruning once neither has more to do.
func (l *Log) pruneStep() error {
	ctx, cancel := context.WithTimeout(context.Background(), l.o.WriteTimeout)
	defer cancel()
	if l.o.MaxAge > 0 {
		n, err := l.store.DeleteCallsBefore(ctx, l.o.Now().Add(-l.o.MaxAge), pruneBatch)
		if err != nil {
			return err
		}
		l.pruned.Add(uint64(n))
		if n >= pruneBatch {
			return nil
		}
	}
	if l.o.MaxRows > 0 {
		n, err := l.store.TrimCalls(ctx, l.o.MaxRows, pruneBatch)
		if err != nil {
			return err
		}
		l.pruned.Add(uint64(n))
		if n >= pruneBatch {
			return nil
		}
	}
	l.pruning = false
	return nil
}

// drain writes what is queued until ctx ends, then spills the rest.
func (l *Log) drain(ctx context.Context, batch []gatehouse.Call) {
	for {
		batch = l.fill(batch)
		if len(batch) == 0 {
			return
		}
		if ctx.Err() != nil {
			l.spillCalls(batch)
		} else {
			l.write(batch)
		}
		batch = batch[:0]
	}
}
