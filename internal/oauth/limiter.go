package oauth

import (
	"math"
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

// Wait returns how long key must still wait before its next attempt; zero
// means it may try now.
func (l *FailureLimiter) Wait(key string, now time.Time) time.Duration {
	return l.WaitScaled(key, now, 1)
}

// WaitScaled is Wait with factor times as many free failures, for keys
// that aggregate many callers (an address).
func (l *FailureLimiter) WaitScaled(key string, now time.Time, factor int) time.Duration {
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
	d := delay(f.n-free, base, max)
	if wait := f.last.Add(d).Sub(now); wait > 0 {
		return wait
	}
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
	// Still full: drop arbitrary entries rather than grow without bound.
	for k := range l.entries {
		if len(l.entries) < maxKeys*9/10 {
			break
		}
		delete(l.entries, k)
	}
}
