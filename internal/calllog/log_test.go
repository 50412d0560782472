package calllog_test

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/internal/calllog"
	"github.com/gatehouse/gatehouse/internal/sqlite"
)

// clock is a settable time source.
type clock struct{ ns atomic.Int64 }

func newClock(t time.Time) *clock {
	c := &clock{}
	c.ns.Store(t.UnixNano())
	return c
}
func (c *clock) Now() time.Time          { return time.Unix(0, c.ns.Load()).UTC() }
func (c *clock) Advance(d time.Duration) { c.ns.Add(int64(d)) }

var t0 = time.Date(2031, 3, 4, 5, 6, 7, 0, time.UTC)

func openStore(t testing.TB, path string) *sqlite.DB {
	t.Helper()
	db, err := sqlite.Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func openLog(t testing.TB, store calllog.Store, dir string, adjust func(*calllog.Options)) *calllog.Log {
	t.Helper()
	o := calllog.Options{SpillDir: filepath.Join(dir, "spill"), FlushInterval: 10 * time.Millisecond,
		RetryInterval: 10 * time.Millisecond, WriteTimeout: 10 * time.Second, Log: quiet()}
	if adjust != nil {
		adjust(&o)
	}
	l, err := calllog.Open(store, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close(context.Background()) })
	return l
}

func call(i int, at time.Time) *gatehouse.Call {
	return &gatehouse.Call{Time: at, RequestID: fmt.Sprintf("r%06d", i), API: "orders", Route: "/orders/*",
		Method: "GET", Path: "/orders/1", Status: 200, ClientID: "c1", TokenID: "t1", ClientAddr: "192.0.2.1"}
}

// allCalls returns every stored call, oldest first.
func allCalls(t *testing.T, db *sqlite.DB) []gatehouse.Call {
	t.Helper()
	cs, err := db.FindCalls(context.Background(), gatehouse.CallFilter{Ascending: true})
	if err != nil {
		t.Fatal(err)
	}
	return cs
}

// wantExactlyOnce fails unless the store holds r000000..r(n-1), each once.
func wantExactlyOnce(t *testing.T, db *sqlite.DB, n int) {
	t.Helper()
	cs := allCalls(t, db)
	seen := map[string]int{}
	for _, c := range cs {
		seen[c.RequestID]++
	}
	for i := range n {
		if id := fmt.Sprintf("r%06d", i); seen[id] != 1 {
			t.Fatalf("%s stored %d times, want once (%d calls stored, want %d)", id, seen[id], len(cs), n)
		}
	}
	if len(cs) != n {
		t.Fatalf("%d calls stored, want %d", len(cs), n)
	}
}

// flushUntil retries Flush until it succeeds (the store may need a retry
// interval to be tried again).
func flushUntil(t *testing.T, l *calllog.Log) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		err := l.Flush(context.Background())
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("flush: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// lockStore holds SQLite's write lock on path from another connection, as
// a backup tool or a stuck process would, until the returned func is
// called.
func lockStore(t *testing.T, path string) (release func()) {
	t.Helper()
	raw, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := raw.Conn(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conn.ExecContext(context.Background(), "BEGIN EXCLUSIVE"); err != nil {
		t.Fatal(err)
	}
	return func() {
		if _, err := conn.ExecContext(context.Background(), "ROLLBACK"); err != nil {
			t.Fatal(err)
		}
		conn.Close()
		raw.Close()
	}
}

func TestLogWritesInBatches(t *testing.T) {
	dir := t.TempDir()
	db := openStore(t, filepath.Join(dir, "calls.db"))
	l := openLog(t, db, dir, func(o *calllog.Options) { o.BatchSize = 7 })
	for i := range 100 {
		l.Add(call(i, t0.Add(time.Duration(i)*time.Millisecond)))
	}
	if err := l.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	wantExactlyOnce(t, db, 100)
	if s := l.Stats(); s.Written != 100 || s.Spilled != 0 || s.Lost != 0 || s.Queued != 0 {
		t.Fatalf("stats %+v", s)
	}
}

// TestLogWakesForFullBatches: the writer sleeps until the tick unless a
// full batch is queued; full batches are written at once, the rest on
// the tick (here an hour away) or at Flush.
func TestLogWakesForFullBatches(t *testing.T) {
	dir := t.TempDir()
	db := openStore(t, filepath.Join(dir, "calls.db"))
	l := openLog(t, db, dir, func(o *calllog.Options) { o.BatchSize, o.QueueSize, o.FlushInterval = 10, 100, time.Hour })
	for i := range 25 {
		l.Add(call(i, t0))
	}
	deadline := time.Now().Add(10 * time.Second)
	for l.Stats().Written < 20 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	time.Sleep(50 * time.Millisecond) // time to write more, if it wrongly would
	if s := l.Stats(); s.Written != 20 {
		t.Fatalf("stats %+v: want 20 written before the tick", s)
	}
	if err := l.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	wantExactlyOnce(t, db, 25)
}

// TestLogSurvivesStoreOutage holds the store's write lock while calls
// arrive (more than the queue holds), then releases it: every call is
// stored exactly once, none lost, and the spill directory is empty again.
func TestLogSurvivesStoreOutage(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "calls.db")
	db := openStore(t, path)
	l := openLog(t, db, dir, func(o *calllog.Options) { o.QueueSize = 64; o.BatchSize = 16; o.WriteTimeout = 300 * time.Millisecond })

	release := lockStore(t, path)
	const n = 3000
	for i := range n {
		l.Add(call(i, t0.Add(time.Duration(i)*time.Millisecond)))
	}
	if err := l.Flush(context.Background()); err == nil {
		t.Fatal("flush succeeded while the store was locked")
	}
	if s := l.Stats(); s.Spilled == 0 || s.Written != 0 {
		t.Fatalf("stats during the outage %+v: want spilled calls and none written", s)
	}
	if segs, _ := filepath.Glob(filepath.Join(dir, "spill", "seg-*.spill")); len(segs) == 0 {
		t.Fatal("no spill segment on disk during the outage")
	}
	release()

	flushUntil(t, l)
	wantExactlyOnce(t, db, n)
	s := l.Stats()
	if s.Lost != 0 || s.Written != n || s.Replayed == 0 || s.SpillBytes != 0 {
		t.Fatalf("stats after recovery %+v", s)
	}
	if segs, _ := filepath.Glob(filepath.Join(dir, "spill", "seg-*.spill")); len(segs) != 0 {
		t.Fatalf("segments left after replay: %v", segs)
	}
}

// TestLogCloseSpillsAndReopenReplays closes the Log while the store is
// locked: the queue goes to disk, and a new Log (a restart) stores it.
func TestLogCloseSpillsAndReopenReplays(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "calls.db")
	db := openStore(t, path)
	l := openLog(t, db, dir, func(o *calllog.Options) {
		o.FlushInterval, o.BatchSize, o.WriteTimeout = time.Hour, 8192, 300*time.Millisecond
	})
	release := lockStore(t, path)
	for i := range 500 {
		l.Add(call(i, t0))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := l.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if s := l.Stats(); s.Spilled != 500 || s.Lost != 0 {
		t.Fatalf("stats after close %+v, want 500 spilled", s)
	}
	release()

	l2 := openLog(t, db, dir, nil)
	flushUntil(t, l2)
	wantExactlyOnce(t, db, 500)
}

func TestLogCloseDrains(t *testing.T) {
	dir := t.TempDir()
	db := openStore(t, filepath.Join(dir, "calls.db"))
	l := openLog(t, db, dir, func(o *calllog.Options) { o.FlushInterval = time.Hour })
	for i := range 1000 {
		l.Add(call(i, t0))
	}
	if err := l.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	wantExactlyOnce(t, db, 1000)
	// After Close, calls are counted lost rather than silently dropped.
	l.Add(call(1000, t0))
	if s := l.Stats(); s.Lost != 1 {
		t.Fatalf("lost %d after close, want 1", s.Lost)
	}
}

// TestLogDropsUnstorableCalls: a call whose time no store can hold is
// counted lost, the rest of its batch is stored, nothing is spilled (it
// would be replayed and refused for ever), and the log goes on.
func TestLogDropsUnstorableCalls(t *testing.T) {
	dir := t.TempDir()
	db := openStore(t, filepath.Join(dir, "calls.db"))
	l := openLog(t, db, dir, nil)
	l.Add(call(0, t0))
	l.Add(call(1, time.Date(3000, 1, 1, 0, 0, 0, 0, time.UTC)))
	l.Add(call(2, t0))
	flushUntil(t, l)
	if s := l.Stats(); s.Lost != 1 || s.Spilled != 0 || s.Written != 2 {
		t.Fatalf("stats %+v, want 1 lost, 0 spilled, 2 written", s)
	}
	l.Add(call(3, t0))
	flushUntil(t, l)
	if got := len(allCalls(t, db)); got != 3 {
		t.Fatalf("%d calls stored, want 3", got)
	}
	// The store refuses such a call on its own too.
	if err := db.InsertCalls(t.Context(), []gatehouse.Call{*call(9, time.Date(1500, 1, 1, 0, 0, 0, 0, time.UTC))}); gatehouse.ErrorCode(err) != gatehouse.CodeInvalid {
		t.Fatalf("InsertCalls of year 1500: %v, want CodeInvalid", err)
	}
}

func TestLogRetention(t *testing.T) {
	t.Run("MaxAge", func(t *testing.T) {
		dir := t.TempDir()
		db := openStore(t, filepath.Join(dir, "calls.db"))
		clk := newClock(t0)
		l := openLog(t, db, dir, func(o *calllog.Options) { o.MaxAge = time.Hour; o.MaxRows = -1; o.Now = clk.Now })
		// 12000 calls over 12 hours: several prune batches go.
		for i := range 12000 {
			l.Add(call(i, t0.Add(time.Duration(i)*3600*time.Millisecond)))
		}
		flushUntil(t, l)
		if got := len(allCalls(t, db)); got != 12000 {
			t.Fatalf("%d calls before the clock moves, want 12000", got)
		}
		clk.Advance(12 * time.Hour) // now t0+12h: keep calls from t0+11h on
		flushUntil(t, l)
		// The store keeps a batch's calls together (a page) and prunes
		// them together: the batch that straddles the cut stays whole.
		cs := allCalls(t, db)
		if len(cs) < 1000 || len(cs) >= 1000+calllog.DefaultBatchSize {
			t.Fatalf("%d calls after pruning, want the 1000 from the cut on and at most one batch more", len(cs))
		}
		if cut := t0.Add(11 * time.Hour); cs[len(cs)-1000].Time.Before(cut) || !cs[len(cs)-1001].Time.Before(cut) {
			t.Fatalf("calls from %v kept, want those from the cut %v", cs[len(cs)-1000].Time, cut)
		}
		if s := l.Stats(); s.Pruned != uint64(12000-len(cs)) {
			t.Fatalf("pruned %d, want %d", s.Pruned, 12000-len(cs))
		}
	})
	t.Run("MaxRows", func(t *testing.T) {
		dir := t.TempDir()
		db := openStore(t, filepath.Join(dir, "calls.db"))
		l := openLog(t, db, dir, func(o *calllog.Options) { o.MaxAge = -1; o.MaxRows = 2500 })
		for i := range 13000 {
			l.Add(call(i, t0))
		}
		flushUntil(t, l)
		cs := allCalls(t, db)
		if len(cs) < 2500 || len(cs) >= 2500+calllog.DefaultBatchSize {
			t.Fatalf("%d calls, want the latest 2500 inserted and at most one batch more", len(cs))
		}
		if got := cs[len(cs)-2500].RequestID; got != "r010500" {
			t.Fatalf("2500th newest is %s, want r010500", got)
		}
	})
}

// TestLogCorruptSegment replays a segment whose middle was damaged: the
// calls before the damage are stored, the damage counts as lost, and the
// segment is removed.
func TestLogCorruptSegment(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "calls.db")
	db := openStore(t, path)
	release := lockStore(t, path)
	l := openLog(t, db, dir, func(o *calllog.Options) { o.FlushInterval, o.WriteTimeout = time.Hour, 300*time.Millisecond })
	for i := range 10 {
		l.Add(call(i, t0))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	l.Close(ctx)
	release()
	segs, _ := filepath.Glob(filepath.Join(dir, "spill", "seg-*.spill"))
	if len(segs) != 1 {
		t.Fatalf("segments %v, want one", segs)
	}
	data, err := os.ReadFile(segs[0])
	if err != nil {
		t.Fatal(err)
	}
	data[len(data)/2] ^= 0xff // somewhere in the fifth or sixth frame
	if err := os.WriteFile(segs[0], data, 0o600); err != nil {
		t.Fatal(err)
	}
	l2 := openLog(t, db, dir, nil)
	flushUntil(t, l2)
	cs := allCalls(t, db)
	if len(cs) < 4 || len(cs) > 5 {
		t.Fatalf("%d calls recovered, want the 4 or 5 before the damage", len(cs))
	}
	if s := l2.Stats(); s.Lost != 1 {
		t.Fatalf("lost %d, want 1", s.Lost)
	}
	if left, _ := filepath.Glob(filepath.Join(dir, "spill", "seg-*.spill")); len(left) != 0 {
		t.Fatalf("segments left: %v", left)
	}
}

func TestLogSpillLimit(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "calls.db")
	db := openStore(t, path)
	release := lockStore(t, path)
	defer release()
	l := openLog(t, db, dir, func(o *calllog.Options) {
		o.MaxSpillBytes, o.QueueSize, o.WriteTimeout = 10<<10, 64, 300*time.Millisecond
	})
	for i := range 500 {
		l.Add(call(i, t0))
	}
	l.Flush(context.Background())
	s := l.Stats()
	if s.Lost == 0 || s.Spilled == 0 || s.Lost+s.Spilled != 500 {
		t.Fatalf("stats %+v: want some spilled, the rest lost, 500 in all", s)
	}
	if s.SpillBytes > 10<<10 {
		t.Fatalf("spill holds %d bytes, over its limit", s.SpillBytes)
	}
}

// BenchmarkLogIngest measures sustained ingest through the Log into a real
// SQLite file: the producer keeps the queue from overflowing (no spill),
// so the rate is the writer's. Calls come from 50 clients with 5,000 tokens
// (each index insert lands on a random page). Target: >= 20,000 calls/s.
func BenchmarkLogIngest(b *testing.B) {
	dir := b.TempDir()
	db := openStore(b, filepath.Join(dir, "calls.db"))
	if err := db.SetWALAutoCheckpoint(context.Background(), 10000); err != nil { // as the node does
		b.Fatal(err)
	}
	l := openLog(b, db, dir, func(o *calllog.Options) { o.WriteTimeout, o.FlushInterval = time.Minute, 100*time.Millisecond })
	c := call(0, t0)
	b.ReportAllocs()
	cpu0 := cpuTime()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for l.Stats().Queued > calllog.DefaultQueueSize*3/4 {
			time.Sleep(100 * time.Microsecond)
		}
		c.RequestID = fmt.Sprintf("r%d", i)
		c.TokenID = fmt.Sprintf("t%d", i%5000)
		c.ClientID = fmt.Sprintf("client-%d", i%50)
		c.Time = t0.Add(time.Duration(i) * time.Microsecond)
		l.Add(c)
	}
	if err := l.Flush(context.Background()); err != nil {
		b.Fatal(err)
	}
	b.StopTimer()
	if s := l.Stats(); s.Spilled != 0 || s.Written != uint64(b.N) {
		b.Fatalf("stats %+v: want all %d written, none spilled", s, b.N)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "calls/s")
	b.ReportMetric(float64((cpuTime()-cpu0).Microseconds())/float64(b.N), "cpu-µs/call")
}

// cpuTime is the CPU time (user and system) this process has used.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// TestLogSegmentsRemovedByHand: an operator deletes the spill directory's
// segments while the store is down; the Log must not spin on a count of
// bytes that are gone.
func TestLogSegmentsRemovedByHand(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "calls.db")
	db := openStore(t, path)
	release := lockStore(t, path)
	l := openLog(t, db, dir, func(o *calllog.Options) { o.QueueSize = 64; o.WriteTimeout = 100 * time.Millisecond })
	for i := range 200 {
		l.Add(call(i, t0))
	}
	l.Flush(context.Background())
	segs, _ := filepath.Glob(filepath.Join(dir, "spill", "seg-*.spill"))
	if len(segs) == 0 {
		t.Fatal("nothing spilled")
	}
	for _, s := range segs {
		os.Remove(s)
	}
	release()
	flushUntil(t, l)
	if s := l.Stats(); s.SpillBytes != 0 {
		t.Fatalf("spill bytes %d after the segments went", s.SpillBytes)
	}
	l.Add(call(1000, t0))
	flushUntil(t, l)
	if cs := allCalls(t, db); len(cs) == 0 || cs[len(cs)-1].RequestID != "r001000" {
		t.Fatalf("the Log does not write after the segments went: %d calls", len(cs))
	}
}
