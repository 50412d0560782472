package traffic

import (
	"math"
	"strings"
	"time"

	"github.com/gatehouse/gatehouse"
)

// Limiter enforces gatehouse.RateLimit policies with the generic cell rate
// algorithm (GCRA, ITU-T I.371; the "virtual scheduling" form). Each key
// holds one number, its theoretical arrival time (TAT): the instant at which
// the key's capacity is fully restored. With emission interval
// T = Period/Rate and burst tolerance τ = Burst·T, a request at t is allowed
// when max(TAT, t) − t ≤ τ, and then moves TAT forward by T. So Burst+1
// requests pass at once, then one per T; over any span Δ a key is admitted
// at most Burst + 1 + ⌊Δ/T⌋ requests.
//
// T is rounded up to a whole nanosecond so that a limit never admits more
// than stated; where Period/Rate is not whole, the sustained rate is lower
// by under one part in T nanoseconds (one in 10^7 for 100 per second).
//
// Memory is bounded by the cap given to NewLimiter. An entry whose TAT has
// passed means exactly what a missing entry means, so it is forgotten:
// inserting a new key first inspects a few entries and deletes dead ones,
// and Sweep clears them all for an owner that wants a schedule. When a
// shard is full of live entries, the inserting key evicts the sampled entry
// with the earliest TAT, the one closest to being forgotten anyway. The
// evicted key may then get up to Burst+1 requests more than its limit; that
// is the chosen failure mode, because the alternatives are worse: refusing
// new keys turns a capacity problem into an outage for new clients, and
// admitting them untracked lets every new client run unlimited for as long
// as the table stays full. Evictions counts these, so an operator sees a
// cap that is too small.
//
// A Limiter is safe for concurrent use. The zero value is not usable; call
// NewLimiter.
type Limiter struct {
	t *table[int64] // key → TAT in Unix nanoseconds
}

// Decision is a Limiter's answer for one request.
type Decision struct {
	Allowed bool
	// Limit is how many requests the key may make at once from rest:
	// Burst+1. It is zero when the policy was not a valid limit (see Allow).
	Limit int
	// Remaining is how many more requests would be allowed right now.
	Remaining int
	// ResetAfter is how long until the key is back at rest, with Limit
	// requests available.
	ResetAfter time.Duration
	// RetryAfter is how long until a request would be allowed: zero when
	// this one was, otherwise exact: a request at now+RetryAfter passes
	// (unless another takes its place first).
	RetryAfter time.Duration
}

// maxSpan caps the emission interval and the burst tolerance, about 36
// years each, so that TAT arithmetic on Unix nanoseconds cannot overflow
// before the year 2190 whatever the policy says.
const maxSpan = int64(1) << 60

// NewLimiter returns a Limiter that tracks at most maxKeys keys
// (DefaultMaxKeys if maxKeys <= 0; rounded down to a multiple of its shard
// count).
func NewLimiter(maxKeys int) *Limiter {
	return &Limiter{t: newTable[int64](maxKeys)}
}

// Allow decides whether the request for key at now is within lim and, only
// if it is, charges it. Refused requests cost nothing.
//
// A policy with Rate or Period not positive is no limit: Allow admits the
// request, records nothing and returns a Decision with Limit 0. Config
// validation is the place to reject such policies; failing closed here
// would turn a typo into an outage. A negative Burst counts as zero.
//
// For a key seen before and not evicted, Allow does not allocate.
func (l *Limiter) Allow(key string, lim gatehouse.RateLimit, now time.Time) Decision {
	interval, tolerance, limit, ok := gcraParams(lim)
	if !ok {
		return Decision{Allowed: true}
	}
	t := now.UnixNano()
	s := l.t.shard(key)
	s.mu.Lock()
	tat, found := s.m[key]
	if !found || tat < t {
		tat = t
	}
	if tat-t > tolerance {
		s.mu.Unlock()
		return Decision{
			Limit:      limit,
			ResetAfter: time.Duration(tat - t),
			RetryAfter: time.Duration(tat - t - tolerance),
		}
	}
	newTAT := tat + interval
	if found {
		s.m[key] = newTAT
	} else {
		l.insert(s, key, newTAT, t)
	}
	s.mu.Unlock()
	return Decision{
		Allowed:    true,
		Limit:      limit,
		Remaining:  int((tolerance - (tat - t)) / interval),
		ResetAfter: time.Duration(newTAT - t),
	}
}

// gcraParams turns a policy into the emission interval and burst tolerance
// in nanoseconds, and the Limit a Decision reports.
func gcraParams(lim gatehouse.RateLimit) (interval, tolerance int64, limit int, ok bool) {
	if lim.Rate <= 0 || lim.Period <= 0 {
		return 0, 0, 0, false
	}
	p, r := int64(lim.Period), int64(lim.Rate)
	interval = p / r
	if p%r != 0 {
		interval++
	}
	interval = min(interval, maxSpan)
	burst := int64(max(lim.Burst, 0))
	if burst > maxSpan/interval {
		tolerance = maxSpan
	} else {
		tolerance = burst * interval
	}
	limit = math.MaxInt
	if lim.Burst < math.MaxInt {
		limit = max(lim.Burst, 0) + 1
	}
	return interval, tolerance, limit, true
}

// insert adds a key not in s, whose lock the caller holds. It first looks
// at a few entries and deletes those whose TAT has passed. If the shard is
// still full, it evicts the live sampled entry with the earliest TAT.
func (l *Limiter) insert(s *shard[int64], key string, tat, now int64) {
	var victim string
	victimTAT := int64(math.MaxInt64)
	n := 0
	for k, v := range s.m {
		if v <= now {
			delete(s.m, k)
		} else if v < victimTAT {
			victim, victimTAT = k, v
		}
		if n++; n == probes {
			break
		}
	}
	if len(s.m) >= l.t.per && victimTAT != math.MaxInt64 {
		delete(s.m, victim)
		s.dropped++
	}
	// A clone, so that the table never pins a larger buffer the caller's
	// key may be a slice of; this is the only allocation for a new key
	// besides map growth.
	s.m[strings.Clone(key)] = tat
}

// Sweep forgets every key at rest at now, returning how many. Allow
// reclaims dead entries as it inserts new ones, so Sweep is optional; an
// owner may call it on a ticker to return memory after a burst of one-off
// keys. It locks one shard at a time.
func (l *Limiter) Sweep(now time.Time) int {
	t := now.UnixNano()
	return l.t.sweep(func(tat int64) bool { return tat <= t })
}

// Len is the number of keys held, live or not yet reclaimed.
func (l *Limiter) Len() int { return l.t.len() }

// Cap is the most keys the Limiter holds.
func (l *Limiter) Cap() int { return l.t.capacity() }

// Evictions is how many live entries were forgotten to make room for new
// keys because a shard was full. Anything above zero means the cap is too
// small for the traffic.
func (l *Limiter) Evictions() uint64 { return l.t.dropped() }
