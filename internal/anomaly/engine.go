package anomaly

import (
	"context"
	"fmt"
	"net/netip"
	"sync/atomic"
	"time"
)

// Defaults of Options.
const (
	DefaultMaxKeys = 50_000
	DefaultQueue   = 8192
)

// Options tune an Engine. Zero values mean the documented defaults.
type Options struct {
	// MaxKeys caps the keys (tokens, clients, addresses) each rule tracks.
	// When full, the stalest-looking entry is dropped to make room, so an
	// attacker spraying keys can blind a rule only for the keys it evicts,
	// never grow memory. A key costs about 250 bytes, so the default
	// (DefaultMaxKeys) bounds a rule at about 12 MB.
	MaxKeys int
	// Queue is how many observations may wait for the engine's goroutine;
	// beyond it observations are dropped and counted. Default DefaultQueue.
	Queue int
	// OnHit receives every hit, on the engine's goroutine: it should hand
	// slow work (webhooks) on rather than block.
	OnHit func(context.Context, Hit)
}

// Engine applies rules to observations. Observe may be called from any
// goroutine; Run processes them until its context ends.
type Engine struct {
	rules   []*ruleState
	ch      chan Observation
	onHit   func(context.Context, Hit)
	maxKeys int

	observed atomic.Uint64
	dropped  atomic.Uint64
	hits     atomic.Uint64
	evicted  atomic.Uint64
}

// New returns an engine for rules, which must be valid (Rule.Validate) and
// uniquely named.
func New(rules []Rule, opt Options) (*Engine, error) {
	if opt.MaxKeys <= 0 {
		opt.MaxKeys = DefaultMaxKeys
	}
	if opt.Queue <= 0 {
		opt.Queue = DefaultQueue
	}
	e := &Engine{ch: make(chan Observation, opt.Queue), onHit: opt.OnHit, maxKeys: opt.MaxKeys}
	names := map[string]bool{}
	for _, r := range rules {
		if err := r.Validate(); err != nil {
			return nil, fmt.Errorf("anomaly rule %s: %w", r.Name, err)
		}
		if names[r.Name] {
			return nil, fmt.Errorf("anomaly rule %s: duplicate name", r.Name)
		}
		names[r.Name] = true
		e.rules = append(e.rules, &ruleState{Rule: r, width: r.Window / buckets, keys: map[string]*keyState{}})
	}
	if e.onHit == nil {
		e.onHit = func(context.Context, Hit) {}
	}
	return e, nil
}

// Observe hands o to the engine without ever blocking. It reports false
// when the queue was full and o was dropped (counted in Stats).
func (e *Engine) Observe(o Observation) bool {
	select {
	case e.ch <- o:
		return true
	default:
		e.dropped.Add(1)
		return false
	}
}

// Run applies the rules to observations until ctx ends.
func (e *Engine) Run(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case o := <-e.ch:
			e.process(ctx, o)
		}
	}
}

// Stats are the engine's counters since it was made.
type Stats struct {
	Observed, Dropped, Hits, Evicted uint64
	Queued                           int
}

// Stats returns the engine's counters.
func (e *Engine) Stats() Stats {
	return Stats{Observed: e.observed.Load(), Dropped: e.dropped.Load(), Hits: e.hits.Load(),
		Evicted: e.evicted.Load(), Queued: len(e.ch)}
}

// process applies every rule to o.
func (e *Engine) process(ctx context.Context, o Observation) {
	e.observed.Add(1)
	for _, r := range e.rules {
		if h, ok := e.apply(r, o); ok {
			e.hits.Add(1)
			e.onHit(ctx, h)
		}
	}
}

// ruleState is a rule and what it tracks, keyed by credential, client or
// address.
type ruleState struct {
	Rule
	width time.Duration
	keys  map[string]*keyState
	seen  uint64 // observations applied, for periodic sweeps
}

// keyState is one tracked key. Only the fields of the rule's kind are used.
type keyState struct {
	last     int64 // Unix nanoseconds (smaller than time.Time: memory is per key)
	quietTil int64 // no new hit for this key before
	count    counter
	base     baseline
	nets     []netSeen
}

type netSeen struct {
	net  netip.Prefix
	last time.Time
}

// apply runs one rule on o, returning a hit when it fires.
func (e *Engine) apply(r *ruleState, o Observation) (Hit, bool) {
	key, ok := r.keyOf(&o)
	if !ok {
		return Hit{}, false
	}
	k := e.state(r, key, o.At)
	var n int
	switch r.Kind {
	case KindTokenNetworks:
		n = k.addNetwork(o.Addr, o.At, r.Window, r.Threshold+1)
	case KindRateSpike:
		b := bucketOf(o.At, r.Window)
		k.base.fold(&k.count, b)
		n = k.count.add(b, 1)
		if k.base.folded < minSpikeHistory*buckets || float64(n) <= r.Factor*k.base.perWindow() {
			return Hit{}, false
		}
	default:
		n = k.count.add(bucketOf(o.At, r.Window), 1)
	}
	if n <= r.Threshold || o.At.UnixNano() < k.quietTil {
		return Hit{}, false
	}
	// One hit per key per window: a burst is one alert, not hundreds.
	k.quietTil = o.At.Add(r.Window).UnixNano()
	return Hit{
		Rule: r.Name, Kind: r.Kind, Action: r.Action, At: o.At, Key: key,
		ClientID: o.ClientID, Subject: o.Subject, CredentialID: o.CredentialID, APIKey: o.APIKey, GrantID: o.GrantID,
		ExpiresAt: o.ExpiresAt, Addr: o.Addr, External: o.External, Refusal: o.Refusal, Count: n, Threshold: r.Threshold, Window: r.Window,
	}, true
}

// keyOf returns what rule r counts o by, or false when o is not its
// business.
func (r *ruleState) keyOf(o *Observation) (string, bool) {
	switch r.Kind {
	case KindTokenNetworks:
		// Only credentials that were accepted: a refused token says
		// nothing about where its owner uses it.
		return o.CredentialID, o.CredentialID != "" && o.Refusal == RefusalNone && o.Addr.IsValid() && o.Status != 401
	case KindTokenReplay:
		switch o.Refusal {
		case RefusalRevoked:
		case RefusalExpired:
			// A client often sends its token once more just after it
			// expired, then refreshes: that is normal.
			if o.ExpiredAt.IsZero() || o.At.Sub(o.ExpiredAt) < r.Grace {
				return "", false
			}
		default:
			return "", false
		}
		return o.CredentialID, o.CredentialID != ""
	case KindRefreshReuse:
		return o.ClientID, o.Refusal == RefusalRotated && o.ClientID != ""
	case KindAuthFailures:
		if o.Status != 401 && o.Status != 403 {
			return "", false
		}
		if o.ClientID != "" {
			return "client " + o.ClientID, true
		}
		return "address " + o.Addr.String(), o.Addr.IsValid()
	case KindRateSpike:
		return o.ClientID, o.ClientID != "" && o.Refusal == RefusalNone
	}
	return "", false
}

// state returns the tracked state of key, making room when the rule is at
// its cap.
func (e *Engine) state(r *ruleState, key string, now time.Time) *keyState {
	r.seen++
	if k, ok := r.keys[key]; ok {
		k.last = now.UnixNano()
		return k
	}
	if len(r.keys) >= e.maxKeys || r.seen%4096 == 0 {
		r.sweep(now)
	}
	if len(r.keys) >= e.maxKeys {
		// Still full of live keys: drop one. Map order is random, so an
		// attacker cannot choose which key is forgotten.
		for victim := range r.keys {
			delete(r.keys, victim)
			e.evicted.Add(1)
			break
		}
	}
	k := &keyState{last: now.UnixNano()}
	k.base.done = bucketOf(now, r.Window) - 1
	r.keys[key] = k
	return k
}

// sweep forgets keys nothing happened to for long enough that their state
// no longer matters: one window for counts, many for a rate baseline.
func (r *ruleState) sweep(now time.Time) {
	idle := 2 * r.Window
	if r.Kind == KindRateSpike {
		idle = 32 * r.Window
	}
	for key, k := range r.keys {
		if now.UnixNano()-k.last > int64(idle) && now.UnixNano() >= k.quietTil {
			delete(r.keys, key)
		}
	}
}

// addNetwork records a use from addr's network and returns how many
// distinct networks were seen within window. At most max networks are
// kept: once over the threshold the count cannot grow further anyway.
func (k *keyState) addNetwork(addr netip.Addr, now time.Time, window time.Duration, max int) int {
	p := networkOf(addr)
	live := k.nets[:0]
	found := false
	for _, s := range k.nets {
		if now.Sub(s.last) > window {
			continue
		}
		if s.net == p {
			s.last, found = now, true
		}
		live = append(live, s)
	}
	if !found {
		if len(live) >= max {
			// Replace the stalest: the newest network must count.
			oldest := 0
			for i := range live {
				if live[i].last.Before(live[oldest].last) {
					oldest = i
				}
			}
			live[oldest] = netSeen{net: p, last: now}
		} else {
			live = append(live, netSeen{net: p, last: now})
		}
	}
	k.nets = live
	return len(live)
}

// networkOf returns the client network of addr: its /24 for IPv4 (and
// IPv4-mapped IPv6), its /64 for IPv6.
func networkOf(addr netip.Addr) netip.Prefix {
	addr = addr.Unmap()
	bits := 64
	if addr.Is4() {
		bits = 24
	}
	p, _ := addr.Prefix(bits)
	return p
}
