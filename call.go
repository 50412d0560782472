package gatehouse

import "time"

// Call is one request through the gateway, as the call log keeps it. It
// holds no token or secret: TokenID is the token's jti, or a short SHA-256
// prefix of a credential without one, and Path has secret-looking query
// values redacted.
type Call struct {
	// ID is assigned by the store, increasing in insertion order; zero
	// before the call is stored.
	ID         int64
	Time       time.Time // when the request arrived
	RequestID  string
	API        string // empty when no route matched
	Route      string // the route's pattern (and methods), never the raw path
	Method     string
	Path       string // path and redacted query
	Status     int
	ClientID   string
	Subject    string
	TokenID    string
	GrantID    string
	ClientAddr string
	UserAgent  string // capped
	BytesIn    int64
	BytesOut   int64
	Upstream   time.Duration // until the upstream's response headers; zero if not proxied
	Total      time.Duration // until the response was written
	// Reason is the gateway's short code for a refusal (invalid_token,
	// rate_limited, not_found...), with the token check's reason after a
	// colon where there is one (invalid_token:expired); empty when the
	// request was proxied.
	Reason string
}

// CallFilter selects calls. Zero fields do not filter. Calls come newest
// first, or oldest first with Ascending.
type CallFilter struct {
	From, To  time.Time // From <= Time < To
	API       string
	ClientID  string
	TokenID   string
	StatusMin int // inclusive; 0 means no bound
	StatusMax int // inclusive; 0 means no bound
	Ascending bool
	// After is the cursor: the calls that come after this one in the
	// order asked for (keyset on Time, ID).
	After *CallCursor
	Limit int // <= 0: no limit
}

// CallCursor is a position in the call log.
type CallCursor struct {
	Time time.Time
	ID   int64
}

// StorableTime reports whether t can be a stored Call's Time: set, and
// within what Unix nanoseconds can count (years 1678 to 2262), the form
// stores keep it in.
func StorableTime(t time.Time) bool {
	return !t.IsZero() && time.Unix(0, t.UnixNano()).Equal(t)
}
