package traffic

import (
	"hash/maphash"
	"sync"
)

// DefaultMaxKeys is the number of keys a Limiter or Quotas tracks when
// constructed with maxKeys <= 0. Measured with 24-byte keys, an entry costs
// about 80 bytes in a Limiter and 100 in a Quotas (map slot, string header,
// the key's bytes), so a full default table takes 80 to 100 MB. Tables grow
// only with the keys actually seen. The cap holds per shard, so the first
// shard fills (and its policy at the cap applies) slightly before the
// whole table does: at about 99.7% of a million keys.
const DefaultMaxKeys = 1 << 20

// probes is how many entries an insert of a new key inspects, in the map's
// randomised iteration order, to reclaim dead ones (and, in a Limiter, to
// pick a victim when the shard is full). Redis samples five for the same
// job; eight keeps the share of dead entries in a busy table under a half.
const probes = 8

const maxShards = 64

// table is a string-keyed map split into shards, each behind its own mutex,
// so that goroutines serving different keys rarely contend. Each shard holds
// at most per keys; what happens at the cap is up to the table's owner.
type table[V any] struct {
	seed   maphash.Seed
	mask   uint64
	per    int
	shards []shard[V]
}

type shard[V any] struct {
	mu sync.Mutex
	m  map[string]V
	// dropped counts keys the cap kept out: live entries evicted (Limiter)
	// or new keys left untracked (Quotas).
	dropped uint64
	// Padding to two cache lines (adjacent-line prefetch pairs them), so
	// that shards locked by different cores do not share one.
	_ [104]byte
}

func newTable[V any](maxKeys int) *table[V] {
	if maxKeys <= 0 {
		maxKeys = DefaultMaxKeys
	}
	// Fewer shards for a small cap, so that each still holds enough keys for
	// sampling to find dead ones, and the total stays at or under maxKeys.
	n := maxShards
	for n > 1 && maxKeys/n < 16 {
		n /= 2
	}
	t := &table[V]{
		seed:   maphash.MakeSeed(),
		mask:   uint64(n - 1),
		per:    maxKeys / n,
		shards: make([]shard[V], n),
	}
	for i := range t.shards {
		t.shards[i].m = make(map[string]V)
	}
	return t
}

func (t *table[V]) shard(key string) *shard[V] {
	return &t.shards[maphash.String(t.seed, key)&t.mask]
}

// capacity is the most keys the table holds: maxKeys rounded down to a
// multiple of the shard count.
func (t *table[V]) capacity() int { return t.per * len(t.shards) }

func (t *table[V]) len() int {
	n := 0
	for i := range t.shards {
		s := &t.shards[i]
		s.mu.Lock()
		n += len(s.m)
		s.mu.Unlock()
	}
	return n
}

func (t *table[V]) dropped() uint64 {
	var n uint64
	for i := range t.shards {
		s := &t.shards[i]
		s.mu.Lock()
		n += s.dropped
		s.mu.Unlock()
	}
	return n
}

// sweep deletes every entry dead reports true for, one shard at a time,
// and returns how many it deleted.
func (t *table[V]) sweep(dead func(V) bool) int {
	n := 0
	for i := range t.shards {
		s := &t.shards[i]
		s.mu.Lock()
		for k, v := range s.m {
			if dead(v) {
				delete(s.m, k)
				n++
			}
		}
		s.mu.Unlock()
	}
	return n
}
