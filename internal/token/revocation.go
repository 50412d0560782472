package token

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/gatehouse/gatehouse"
)

// Revocations is the in-memory revocation state every verification consults,
// cache hit or not: revoked token ids and revoked grant ids, each kept until
// the latest expiry of what it covers. It is small (only revoked, unexpired
// things), so it fits in memory on every node. Keys are ids, never token
// strings or signatures, which an attacker could vary (ECDSA malleability).
//
// Reads happen on every request and writes only on revocation, so readers
// load an immutable snapshot without locking and writers copy it.
type Revocations struct {
	mu   sync.Mutex // serialises writers
	snap atomic.Pointer[revocationSet]
	// maxBump is the latest iat the token endpoint moved past a cutoff
	// (see NoteIssued); guarded by mu.
	maxBump time.Time
}

type revocationSet struct {
	tokens  map[string]time.Time
	grants  map[string]time.Time
	clients map[string]struct{} // suspended clients: all their tokens refused
	// cutoffs refuse the tokens of a (client, audience) pair issued at or
	// before a time; "" in either place matches any. Replaced as a whole.
	// Keyed by client, then audience, so that a client with none costs
	// one lookup.
	cutoffs map[string]map[string]cutoffVal
	// blocked holds the (client, audience) pairs whose subscription does
	// not grant anything now (pending, suspended, revoked, rejected,
	// expired): every token of the pair is refused, whenever issued.
	blocked map[string]map[string]struct{}
}

// cutoffVal is a cutoff as recorded (raw) and as enforced (eff): eff also
// covers the tokens whose iat the token endpoint had moved into the future
// past an earlier cutoff (whole seconds, see NoteIssued) before this one.
type cutoffVal struct{ raw, eff time.Time }

// NewRevocations returns an empty revocation state.
func NewRevocations() *Revocations {
	r := &Revocations{}
	r.snap.Store(&revocationSet{tokens: map[string]time.Time{}, grants: map[string]time.Time{}, clients: map[string]struct{}{},
		cutoffs: map[string]map[string]cutoffVal{}})
	return r
}

func (s *revocationSet) clone() *revocationSet {
	c := &revocationSet{tokens: make(map[string]time.Time, len(s.tokens)+1), grants: make(map[string]time.Time, len(s.grants)+1),
		clients: make(map[string]struct{}, len(s.clients)+1), cutoffs: s.cutoffs, blocked: s.blocked}
	for k := range s.clients {
		c.clients[k] = struct{}{}
	}
	for k, v := range s.tokens {
		c.tokens[k] = v
	}
	for k, v := range s.grants {
		c.grants[k] = v
	}
	return c
}

// covers reports whether s already holds every revocation of revs, each
// at least until its Until.
func (s *revocationSet) covers(revs []gatehouse.Revocation) bool {
	for _, rv := range revs {
		if rv.TokenID != "" {
			if until, ok := s.tokens[rv.TokenID]; !ok || until.Before(rv.Until) {
				return false
			}
		}
		if rv.GrantID != "" {
			if until, ok := s.grants[rv.GrantID]; !ok || until.Before(rv.Until) {
				return false
			}
		}
	}
	return true
}

// Add records revocations (loaded from the store at start, or just made).
// When Add returns, every later Revoked call sees them.
func (r *Revocations) Add(revs ...gatehouse.Revocation) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.snap.Load().covers(revs) {
		return // the periodic sync mostly re-reads what is known: no copy
	}
	next := r.snap.Load().clone()
	for _, rv := range revs {
		if rv.TokenID != "" {
			next.tokens[rv.TokenID] = later(next.tokens[rv.TokenID], rv.Until)
		}
		if rv.GrantID != "" {
			next.grants[rv.GrantID] = later(next.grants[rv.GrantID], rv.Until)
		}
	}
	r.snap.Store(next)
}

// SetSuspended suspends (or resumes) a client: while suspended, every token
// of the client is refused, cached or not.
func (r *Revocations) SetSuspended(clientID string, suspended bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	next := r.snap.Load().clone()
	if suspended {
		next.clients[clientID] = struct{}{}
	} else {
		delete(next.clients, clientID)
	}
	r.snap.Store(next)
}

// SetCutoffs replaces the cutoffs (the store's, loaded at start and after
// every governance change). A cutoff refuses every token of its client for
// its audience issued at or before its time.
func (r *Revocations) SetCutoffs(cs []gatehouse.Cutoff) {
	r.mu.Lock()
	defer r.mu.Unlock()
	prev := r.snap.Load().cutoffs
	m := map[string]map[string]cutoffVal{}
	for _, c := range cs {
		inner := m[c.ClientID]
		if inner == nil {
			inner = map[string]cutoffVal{}
			m[c.ClientID] = inner
		}
		if cur, ok := inner[c.Audience]; ok && !c.At.After(cur.raw) {
			continue
		}
		if p, ok := prev[c.ClientID][c.Audience]; ok && p.raw.Equal(c.At) {
			inner[c.Audience] = p // known: keep what it enforced
		} else {
			inner[c.Audience] = cutoffVal{raw: c.At, eff: later(c.At, r.maxBump)}
		}
	}
	next := r.snap.Load().clone()
	next.cutoffs = m
	r.snap.Store(next)
}

// AddCutoff adds one cutoff (or moves an existing one forward) at once,
// before the store round trip of a reload.
func (r *Revocations) AddCutoff(c gatehouse.Cutoff) {
	r.mu.Lock()
	defer r.mu.Unlock()
	cur := r.snap.Load().cutoffs
	if v, ok := cur[c.ClientID][c.Audience]; ok && !c.At.After(v.raw) {
		return
	}
	m := make(map[string]map[string]cutoffVal, len(cur)+1)
	for k, v := range cur {
		m[k] = v
	}
	inner := make(map[string]cutoffVal, len(cur[c.ClientID])+1)
	for k, v := range cur[c.ClientID] {
		inner[k] = v
	}
	inner[c.Audience] = cutoffVal{raw: c.At, eff: later(c.At, r.maxBump)}
	m[c.ClientID] = inner
	next := r.snap.Load().clone()
	next.cutoffs = m
	r.snap.Store(next)
}

// SetBlocked replaces the (client, audience) pairs whose subscription
// grants nothing now; their tokens are refused whenever they were issued
// (an API key made while the subscription was suspended, say).
func (r *Revocations) SetBlocked(pairs []gatehouse.Cutoff) {
	m := map[string]map[string]struct{}{}
	for _, p := range pairs {
		if m[p.ClientID] == nil {
			m[p.ClientID] = map[string]struct{}{}
		}
		m[p.ClientID][p.Audience] = struct{}{}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	next := r.snap.Load().clone()
	next.blocked = m
	r.snap.Store(next)
}

// NoteIssued tells the revocation state that a token was stamped with iat
// after a cutoff, in the future by less than a second (iat is whole
// seconds): a cutoff added later must cover it too.
func (r *Revocations) NoteIssued(iat time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.maxBump = later(r.maxBump, iat)
}

// NotBefore returns the latest cutoff that applies to tokens of clientID
// for audience (zero if none): a token for them must be issued after it.
func (r *Revocations) NotBefore(clientID, audience string) time.Time {
	return r.snap.Load().notBefore(clientID, audience)
}

func (s *revocationSet) notBefore(clientID, audience string) time.Time {
	var t time.Time
	if len(s.cutoffs) == 0 {
		return t
	}
	if m := s.cutoffs[clientID]; m != nil {
		t = later(m[audience].eff, m[""].eff)
	}
	if m := s.cutoffs[""]; m != nil {
		t = later(t, m[audience].eff)
	}
	return t
}

// CutOff reports whether a token of clientID for audience issued at iat is
// refused by a cutoff.
func (r *Revocations) CutOff(clientID, audience string, iat time.Time) bool {
	nb := r.snap.Load().notBefore(clientID, audience)
	return !nb.IsZero() && !iat.After(nb)
}

// SetSuspendedClients replaces the set of suspended clients at once (a
// reload of every client), copying the revocation state once.
func (r *Revocations) SetSuspendedClients(ids []string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	next := r.snap.Load().clone()
	next.clients = make(map[string]struct{}, len(ids))
	for _, id := range ids {
		next.clients[id] = struct{}{}
	}
	r.snap.Store(next)
}

// Refused reports whether claims c must be refused: the token, its grant or
// its client is revoked or suspended, or a cutoff covers it.
func (r *Revocations) Refused(c *gatehouse.AccessClaims) bool {
	s := r.snap.Load()
	if _, ok := s.tokens[c.ID]; ok {
		return true
	}
	if _, ok := s.clients[c.ClientID]; ok {
		return true
	}
	if nb := s.notBefore(c.ClientID, c.Audience); !nb.IsZero() && !c.IssuedAt.After(nb) {
		return true
	}
	if len(s.blocked) > 0 {
		if _, ok := s.blocked[c.ClientID][c.Audience]; ok {
			return true
		}
	}
	if c.GrantID == "" {
		return false
	}
	_, ok := s.grants[c.GrantID]
	return ok
}

// Revoked reports whether the token with id jti, or its grant, is revoked.
func (r *Revocations) Revoked(jti, grantID string) bool {
	s := r.snap.Load()
	if _, ok := s.tokens[jti]; ok {
		return true
	}
	if grantID == "" {
		return false
	}
	_, ok := s.grants[grantID]
	return ok
}

// Prune forgets revocations whose covered tokens have all expired by now.
func (r *Revocations) Prune(now time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	next := r.snap.Load().clone()
	for id, until := range next.tokens {
		if now.After(until) {
			delete(next.tokens, id)
		}
	}
	for id, until := range next.grants {
		if now.After(until) {
			delete(next.grants, id)
		}
	}
	r.snap.Store(next)
}

// Len returns how many token and grant revocations are held.
func (r *Revocations) Len() (tokens, grants int) {
	s := r.snap.Load()
	return len(s.tokens), len(s.grants)
}

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}
