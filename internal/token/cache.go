package token

import (
	"crypto/sha256"
	"sync"
	"time"
	"unsafe"

	"github.com/gatehouse/gatehouse"
)

const cacheShards = 32

// Cache holds the claims of tokens verified before, keyed by the SHA-256 of
// the token string, until each token's exp. A token reused many times is
// verified once. It is bounded: when a shard is full, expired entries go
// first, then a tenth of the shard chosen arbitrarily (Go's map iteration order), which costs a few
// re-verifications and never correctness.
type Cache struct {
	shards   [cacheShards]cacheShard
	perShard int
}

type cacheShard struct {
	mu sync.RWMutex
	m  map[[32]byte]*gatehouse.AccessClaims
}

// NewCache returns a cache holding about max entries (at least cacheShards).
func NewCache(max int) *Cache {
	per := max / cacheShards
	if per < 1 {
		per = 1
	}
	c := &Cache{perShard: per}
	for i := range c.shards {
		c.shards[i].m = make(map[[32]byte]*gatehouse.AccessClaims)
	}
	return c
}

// Key returns the cache key of a token string without copying it.
func Key(tok string) [32]byte {
	// The hash only reads the bytes, so viewing the string's memory as a
	// slice is safe and saves an allocation per request.
	return sha256.Sum256(unsafe.Slice(unsafe.StringData(tok), len(tok)))
}

// Get returns the claims cached under key if they have not expired at now.
// The claims are shared and must not be modified.
func (c *Cache) Get(key [32]byte, now time.Time) (*gatehouse.AccessClaims, bool) {
	s := &c.shards[key[0]%cacheShards]
	s.mu.RLock()
	cl, ok := s.m[key]
	s.mu.RUnlock()
	if !ok || !now.Before(cl.ExpiresAt) {
		return nil, false
	}
	return cl, true
}

// Put caches claims under key until claims.ExpiresAt.
func (c *Cache) Put(key [32]byte, claims *gatehouse.AccessClaims, now time.Time) {
	s := &c.shards[key[0]%cacheShards]
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.m) >= c.perShard {
		for k, v := range s.m {
			if !now.Before(v.ExpiresAt) {
				delete(s.m, k)
			}
		}
		// Still full of live tokens: drop a tenth at once so the scan above
		// runs once per many inserts, not on every one.
		for k := range s.m {
			if len(s.m) < c.perShard-c.perShard/10 {
				break
			}
			delete(s.m, k)
		}
	}
	s.m[key] = claims
}

// Len returns the number of cached entries.
func (c *Cache) Len() int {
	n := 0
	for i := range c.shards {
		c.shards[i].mu.RLock()
		n += len(c.shards[i].m)
		c.shards[i].mu.RUnlock()
	}
	return n
}
