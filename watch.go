package gatehouse

import "time"

// Security event types of watching how credentials are used (issue 6).
const (
	// EventAnomalyPrefix starts the type of an anomaly rule's hit:
	// "anomaly." followed by the rule kind, such as anomaly.token_replay.
	EventAnomalyPrefix = "anomaly."
	// EventIdleRevoked: a grant, API key or client secret unused for its
	// idle limit was revoked by the background job.
	EventIdleRevoked = "idle_revoked"
)

// IdleFilter selects active credentials unused since UnusedSince: by their
// last recorded use, or by their creation when never used. Zero fields do
// not filter, but UnusedSince and Now are required.
type IdleFilter struct {
	Kind        UsageKind // "" for grants, API keys and client secrets
	ClientID    string
	Audience    string // grants and API keys of one API (client secrets have none)
	UnusedSince time.Time
	Now         time.Time // what has expired by Now is not active
	Limit       int
}

// IdleCredential is an active grant, API key or client secret and its last
// use.
type IdleCredential struct {
	Kind      UsageKind
	ID        string // grant id, API key (token) id, or client id
	ClientID  string
	Subject   string
	Audience  string
	CreatedAt time.Time
	LastUsed  time.Time // zero when never used
	ExpiresAt time.Time // zero for client secrets
}

// Idle returns when c was last active: its last use, or its creation.
func (c *IdleCredential) Idle() time.Time {
	if c.LastUsed.IsZero() {
		return c.CreatedAt
	}
	return c.LastUsed
}

// StaleCredential is a credential idle revocation takes at RevokeAt: its
// idle time plus the limit of Rule (an API's or a client's).
type StaleCredential struct {
	IdleCredential
	Rule     string // "api NAME" or "client ID"
	Limit    time.Duration
	RevokeAt time.Time
}
