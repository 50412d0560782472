// Package traffic holds the gateway's traffic controls: GCRA rate limits
// and spike arrest (Limiter), calendar quotas (Quotas), the RateLimit
// response fields (WriteHeaders and friends) and IP allow/deny lists
// (IPFilter).
//
// Everything answers from memory, under a per-shard mutex held for a map
// lookup, and never does I/O on the request path. Callers pass now, so tests
// drive simulated time and never sleep; they also build the key strings
// (e.g. "client:api" or "client:api:route"), ideally once per routing
// snapshot, so a request for a known key allocates nothing.
//
// # Spike arrest
//
// Spike arrest is a Limiter keyed by API alone, with the API's
// gatehouse.Traffic.SpikeArrest limit:
//
//	spike := traffic.NewLimiter(0)            // one for all APIs' spike arrest
//	perClient := traffic.NewLimiter(0)        // another for per-client limits
//	d := spike.Allow(api.ID, *tr.SpikeArrest, now)
//
// Give it its own Limiter rather than a key prefix in the per-client one: the
// keys cannot collide, and a flood of new clients filling the per-client
// table can never evict an API's spike-arrest state.
//
// # Refused requests are free
//
// Neither limiters nor quotas charge a refused request. Tyk counted them
// (tyk#1876), so a client that kept retrying while over its limit never
// recovered; here a client is admitted again exactly RetryAfter after a
// refusal, however often it knocked in between.
//
// # Many nodes
//
// State is per process. With N gateway nodes and no reconciliation a client
// can get up to N times its limit, and a restart forgets quota counts (see
// Quotas.Counts and Quotas.Restore for the hooks persistence will use). The
// plan in DESIGN-NOTES.md ("Traffic limits across many nodes") keeps this
// request path as it is and reconciles with Redis in batches.
package traffic
