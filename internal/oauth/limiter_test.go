package oauth

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestReserveParallel: once a key is past its free failures, attempts made
// at the same moment are let through one at a time, not all at once.
func TestReserveParallel(t *testing.T) {
	l := &FailureLimiter{}
	start := time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)
	for range 5 + 20 { // 20 past the free five: the delay is the 5-minute cap
		l.Fail("k", start)
	}
	now := start.Add(6 * time.Minute) // the delay has passed
	var allowed atomic.Int32
	var wg sync.WaitGroup
	for range 50 {
		wg.Go(func() {
			if l.Reserve("k", now, 1) == 0 {
				allowed.Add(1)
			}
		})
	}
	wg.Wait()
	if got := allowed.Load(); got != 1 {
		t.Fatalf("%d of 50 parallel attempts allowed, want 1", got)
	}
	if w := l.Reserve("k", now.Add(time.Minute), 1); w != 4*time.Minute {
		t.Fatalf("a minute later: wait %v, want 4m (the taken attempt restarted the clock)", w)
	}
}

// TestReserveFree: under the free failures (times factor) nothing waits
// and nothing is taken.
func TestReserveFree(t *testing.T) {
	l := &FailureLimiter{}
	now := time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)
	for i := range 19 {
		l.Fail("acct", now)
		if w := l.Reserve("acct", now, 4); w != 0 {
			t.Fatalf("after %d failures (20 free): wait %v", i+1, w)
		}
	}
	l.Fail("acct", now)
	if w := l.Reserve("acct", now, 4); w != time.Second {
		t.Fatalf("after 20 failures: wait %v, want 1s", w)
	}
	if w := l.Reserve("acct", now.Add(16*time.Minute), 4); w != 0 {
		t.Fatalf("after the window: wait %v, want 0", w)
	}
}

// TestPruneKeepsKeysUnderAttack: a flood of made-up keys with a failure
// each does not wipe the count of a key with many.
func TestPruneKeepsKeysUnderAttack(t *testing.T) {
	l := &FailureLimiter{MaxKeys: 100}
	now := time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)
	for range 50 {
		l.Fail("login-account:alice", now)
	}
	for i := range 10_000 {
		l.Fail(fmt.Sprintf("login-account:made-up-%d", i), now.Add(time.Duration(i)*time.Millisecond))
	}
	if n := len(l.entries); n > 100 {
		t.Fatalf("%d keys kept, MaxKeys 100", n)
	}
	if w := l.Reserve("login-account:alice", now.Add(10*time.Second), 1); w == 0 {
		t.Fatal("alice's failures were dropped by the flood")
	}
}
