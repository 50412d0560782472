package dpop

import (
	"strings"
	"sync"
)

// Bounds of a Verifier's header cache. An EC or OKP proof header is about
// 200 bytes encoded and an RSA-4096 one about 900; longer ones are parsed
// every time rather than kept.
const (
	headerCacheMax    = 4096
	headerCacheMaxLen = 1536
)

// headerCache maps an encoded proof header to what it parses to, so that a
// client's every proof does not pay again for the JSON, the JWK, the curve
// point checks and the thumbprint. Only headers that parsed are kept; the
// signature is still checked on every proof. When full, a tenth of the
// entries (chosen by map order) make room: a miss only costs a parse.
type headerCache struct {
	mu sync.RWMutex
	m  map[string]*header
}

func (c *headerCache) get(seg string) *header {
	if c == nil || len(seg) > headerCacheMaxLen {
		return nil
	}
	c.mu.RLock()
	h := c.m[seg]
	c.mu.RUnlock()
	return h
}

func (c *headerCache) put(seg string, h *header) {
	if c == nil || len(seg) > headerCacheMaxLen {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.m) >= headerCacheMax {
		drop := headerCacheMax / 10
		for k := range c.m {
			if drop == 0 {
				break
			}
			delete(c.m, k)
			drop--
		}
	}
	// A copy, so the map does not keep the whole proof alive.
	c.m[strings.Clone(seg)] = h
}
