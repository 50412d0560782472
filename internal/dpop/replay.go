package dpop

import (
	"container/heap"
	"sync"
	"time"
)

// DefaultReplayCapacity is the number of live (key, jti) pairs a ReplayCache
// holds when created with a capacity of zero. An entry lives IatWindow plus
// at most Leeway (65 s by default), so this admits about 2,000 accepted
// proofs a second per node; an entry costs about 250 bytes, so the cache
// stays under about 35 MB. Size it as peak proofs per second times the
// window.
const DefaultReplayCapacity = 1 << 17

// ReplayCache remembers the (key thumbprint, jti) pairs of accepted proofs
// until the proofs could no longer be accepted anyway, so that each is
// accepted once (RFC 9449 §11.1). It is keyed by key and jti, not by the proof
// string: re-encoding a proof (another valid ECDSA signature over the same
// claims) must not make it new, and two clients may pick the same jti.
//
// It is bounded. When it is full of live entries it refuses new proofs
// (ErrReplayCacheFull) rather than evicting one: evicting a live entry would
// make that proof replayable for the rest of its window, which is the one
// thing the cache exists to prevent. Refusing fails closed and is visible as
// an overload, and expired entries are dropped first, so it only happens when
// more proofs arrive than the cache was sized for.
//
// It is safe for concurrent use. The zero value is not usable; use
// NewReplayCache.
type ReplayCache struct {
	mu   sync.Mutex
	max  int
	seen map[replayKey]int64 // expiry, unix nanoseconds
	exp  expiryHeap
}

type replayKey struct{ thumbprint, jti string }

// NewReplayCache returns a cache holding at most max live entries, or
// DefaultReplayCapacity if max <= 0.
func NewReplayCache(max int) *ReplayCache {
	if max <= 0 {
		max = DefaultReplayCapacity
	}
	return &ReplayCache{max: max, seen: make(map[replayKey]int64)}
}

// Use records that the proof with this key thumbprint and jti was accepted
// at now and stays acceptable until until. It returns ErrReplayed if the pair
// is already recorded and not expired, ErrReplayCacheFull if the cache holds
// max live entries; nothing is recorded then.
func (c *ReplayCache) Use(thumbprint, jti string, until, now time.Time) error {
	k := replayKey{thumbprint, jti}
	n, u := now.UnixNano(), until.UnixNano()
	c.mu.Lock()
	defer c.mu.Unlock()
	// Entries leave in expiry order, so each is popped once: amortised
	// O(log n) per Use, with no background goroutine to own.
	for len(c.exp) > 0 && c.exp[0].exp < n {
		e := heap.Pop(&c.exp).(expiry)
		if c.seen[e.key] == e.exp {
			delete(c.seen, e.key)
		}
	}
	if exp, ok := c.seen[k]; ok && exp >= n {
		return ErrReplayed
	}
	if len(c.seen) >= c.max {
		return ErrReplayCacheFull
	}
	c.seen[k] = u
	heap.Push(&c.exp, expiry{key: k, exp: u})
	return nil
}

// Len returns the number of entries, live or not yet dropped.
func (c *ReplayCache) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.seen)
}

type expiry struct {
	key replayKey
	exp int64
}

// expiryHeap is a min-heap on exp (container/heap).
type expiryHeap []expiry

func (h expiryHeap) Len() int           { return len(h) }
func (h expiryHeap) Less(i, j int) bool { return h[i].exp < h[j].exp }
func (h expiryHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *expiryHeap) Push(x any)        { *h = append(*h, x.(expiry)) }
func (h *expiryHeap) Pop() any {
	old := *h
	e := old[len(old)-1]
	old[len(old)-1] = expiry{}
	*h = old[:len(old)-1]
	return e
}
