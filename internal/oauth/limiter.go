package oauth

import (
	"cmp"
	"math"
	"slices"
	"sync"
	"time"
)

// FailureLimiter slows down repeated failed authentication per key (a client
// id, a client IP). The first Free failures cost nothing; after that each
// further attempt must wait an exponentially growing delay (capped at Max)
// since the last failure, and attempts made sooner are refused without
// checking the credentials, so guessing a secret cannot go faster than the
// delay allows. Failures are forgotten after Window without one.
type FailureLimiter struct {
	Free   int           // failures allowed without delay; default 5
	Base   time.Duration // first delay; default 1s
	Max    time.Duration // longest delay; default 5m
	Window time.Duration // forget after this long without failure; default 15m
	// MaxKeys bounds memory under a flood of distinct keys; default 100000.
	MaxKeys int

	mu      sync.Mutex
	entries map[string]*failures
}

type failures struct {
	n    int
	last time.Time
}

func (l *FailureLimiter) defaults() (free int, base, max, window time.Duration, maxKeys int) {
	free, base, max, window, maxKeys = l.Free, l.Base, l.Max, l.Window, l.MaxKeys
	if free == 0 {
		free = 5
	}
	if base == 0 {
		base = time.Second
	}
	if max == 0 {
		max = 5 * time.Minute
	}
	if window == 0 {
		window = 15 * time.Minute
	}
	if maxKeys == 0 {
		maxKeys = 100000
	}
	return
}

// Reserve returns how long key must still wait before its next attempt
// (zero: it may try now), with factor times as many free failures for keys
// that aggregate many callers (an address, an account from everywhere).
// It also takes the attempt: when key may try now but is past its free
// failures, its clock restarts now, so that attempts made at the same
// moment (in parallel, from many addresses) wait for the delay like
// sequential ones instead of all being let through before any has failed.
// Call it right before checking the credentials.
func (l *FailureLimiter) Reserve(key string, now time.Time, factor int) time.Duration {
	free, base, max, window, _ := l.defaults()
	free *= factor
	l.mu.Lock()
	defer l.mu.Unlock()
	f := l.entries[key]
	if f == nil {
		return 0
	}
	if now.Sub(f.last) > window {
		delete(l.entries, key)
		return 0
	}
	if f.n < free {
		return 0
	}
	if wait := f.last.Add(delay(f.n-free, base, max)).Sub(now); wait > 0 {
		return wait
	}
	f.last = now
	return 0
}

func delay(excess int, base, max time.Duration) time.Duration {
	if excess > 30 {
		return max
	}
	d := time.Duration(float64(base) * math.Pow(2, float64(excess)))
	if d > max || d <= 0 {
		return max
	}
	return d
}

// Fail records a failed attempt for key.
func (l *FailureLimiter) Fail(key string, now time.Time) {
	_, _, _, window, maxKeys := l.defaults()
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.entries == nil {
		l.entries = make(map[string]*failures)
	}
	f := l.entries[key]
	if f == nil {
		if len(l.entries) >= maxKeys {
			l.pruneLocked(now, window, maxKeys)
		}
		f = &failures{}
		l.entries[key] = f
	}
	f.n++
	f.last = now
}

// Succeed forgets the failures of key.
func (l *FailureLimiter) Succeed(key string) {
	l.mu.Lock()
	delete(l.entries, key)
	l.mu.Unlock()
}

func (l *FailureLimiter) pruneLocked(now time.Time, window time.Duration, maxKeys int) {
	for k, f := range l.entries {
		if now.Sub(f.last) > window {
			delete(l.entries, k)
		}
	}
	if len(l.entries) < maxKeys*9/10 {
		return
	}
	// Still full: drop the keys with the fewest failures, oldest first,
	// rather than grow without bound. Arbitrary ones would let a flood of
	// made-up keys (one failure each) wipe the count of a key under attack.
	type entry struct {
		key string
		f   *failures
	}
	all := make([]entry, 0, len(l.entries))
	for k, f := range l.entries {
		all = append(all, entry{k, f})
	}
	slices.SortFunc(all, func(a, b entry) int {
		return cmp.Or(cmp.Compare(a.f.n, b.f.n), a.f.last.Compare(b.f.last))
	})
	for _, e := range all[:len(all)-maxKeys*9/10] {
		delete(l.entries, e.key)
	}
}
