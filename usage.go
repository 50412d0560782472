package gatehouse

import "time"

// UsageKind says what a usage record counts the uses of.
type UsageKind string

const (
	// UsageGrant is a grant, the family of every token minted from one
	// authorization: any of its access tokens presented at the gateway.
	// Its ID is the grant id.
	UsageGrant UsageKind = "grant"
	// UsageAPIKey is an API key presented at the gateway. Its ID is the
	// key's token id.
	UsageAPIKey UsageKind = "api_key"
	// UsageClientSecret is a client's secret (or other credential) used to
	// authenticate at the OAuth endpoints. Its ID is the client id.
	UsageClientSecret UsageKind = "client_secret"
)

// Usage is how often and when a credential was used. Usage is counted in
// memory and written in batches: what the store holds lags the real use by
// up to one flush interval.
type Usage struct {
	Kind      UsageKind
	ID        string
	ClientID  string // the client the credential belongs to, if known
	API       string // the API it was last used on, if any
	FirstUsed time.Time
	LastUsed  time.Time
	LastAddr  string // client address of the last use
	Count     int64  // uses
}

// Merge adds the uses in o (same Kind and ID) to u: the earliest first use,
// the latest last use with its address and API, and the sum of the counts.
// It is what RecordUsage does with a stored record.
func (u *Usage) Merge(o Usage) {
	if u.FirstUsed.IsZero() || (!o.FirstUsed.IsZero() && o.FirstUsed.Before(u.FirstUsed)) {
		u.FirstUsed = o.FirstUsed
	}
	if !o.LastUsed.Before(u.LastUsed) {
		u.LastUsed = o.LastUsed
		if o.LastAddr != "" {
			u.LastAddr = o.LastAddr
		}
		if o.API != "" {
			u.API = o.API
		}
	}
	if u.ClientID == "" {
		u.ClientID = o.ClientID
	}
	u.Count += o.Count
}

// UsageFilter selects usage records. Zero fields do not filter.
type UsageFilter struct {
	Kind     UsageKind
	ClientID string
	API      string
	// UnusedSince keeps records whose last use is before it: the
	// candidates of idle revocation. Credentials never used have no record.
	UnusedSince time.Time
	Limit       int
}
