package gatehouse

import (
	"net/netip"
	"time"
)

// Credential kinds a route accepts.
const (
	CredentialBearer = "bearer"  // an access token in the Authorization header (default)
	CredentialAPIKey = "api_key" // an API key in the X-API-Key header
	CredentialNone   = "none"    // public route: no credential checked or forwarded
)

// Balance strategies for an upstream with several targets.
const (
	BalanceRoundRobin = "round_robin"
	BalanceLeastConn  = "least_conn"
)

// Forwarding header sets: what the gateway tells an upstream about the
// client and the address it used (UpstreamPolicy.Forwarding).
const (
	// ForwardingXForwarded sends X-Forwarded-For, X-Forwarded-Host,
	// X-Forwarded-Proto and X-Real-Ip: what most frameworks read (default).
	ForwardingXForwarded = "x_forwarded"
	// ForwardingRFC7239 sends the standard Forwarded header (RFC 7239) alone.
	ForwardingRFC7239 = "forwarded"
	// ForwardingBoth sends both sets.
	ForwardingBoth = "both"
	// ForwardingNone sends neither: the upstream learns nothing of the
	// client's address or of the host it asked for (third-party upstreams).
	ForwardingNone = "none"
)

// UpstreamPolicy is how the gateway talks to an API's targets.
type UpstreamPolicy struct {
	Balance        string        // round_robin (default) or least_conn
	Forwarding     string        // a Forwarding* set; "" is ForwardingXForwarded
	ConnectTimeout time.Duration // default 5s
	ReadTimeout    time.Duration // response header timeout; default 30s
	// Retries is how many other targets an idempotent request may be
	// retried on after a connection failure. Zero means the default, 1;
	// a negative value means no retries (config `retries: 0`).
	Retries int
	// HealthPath, when set, is probed with GET every HealthInterval
	// (default 10s); a target failing it leaves the rotation until it passes.
	HealthPath     string
	HealthInterval time.Duration
}

// UpstreamAuth is what the gateway sends upstream instead of the client's
// token, which it never forwards.
type UpstreamAuth struct {
	// IdentityHeaders adds X-Gatehouse-Client-Id, -Subject, -Scopes and
	// -Request-Id.
	IdentityHeaders bool
	// MintToken sends a short-lived JWT for this upstream alone (audience
	// MintAudience, signed by Gatehouse) as Authorization: Bearer.
	MintToken    bool
	MintAudience string
	// StaticHeader / StaticValue set a fixed upstream credential. The
	// value is kept encrypted at rest (see internal/seal).
	StaticHeader string
	StaticValue  string
	// SealedStaticValue is StaticValue encrypted with the master key: what
	// a store keeps (stores never see StaticValue).
	SealedStaticValue []byte
}

// RateLimit is a GCRA limit: Rate requests per Period sustained, with
// Burst more allowed at once.
type RateLimit struct {
	Rate   int
	Period time.Duration
	Burst  int
}

// Quota caps requests per client per API per calendar day and month (UTC).
// Zero means no cap.
type Quota struct {
	Daily   int64
	Monthly int64
}

// Traffic is an API's traffic policy.
type Traffic struct {
	PerClient   *RateLimit // per client on the API
	SpikeArrest *RateLimit // for the whole API, all clients together
	Quota       Quota
	IPAllow     []netip.Prefix // empty: any
	IPDeny      []netip.Prefix
}

// ExternalIssuer is an identity provider whose JWT access tokens a route
// may accept, verified with the same strict rules as Gatehouse's own.
type ExternalIssuer struct {
	Name       string
	Issuer     string   // exact iss
	JWKSURI    string   // fetched in the background and cached
	Algorithms []string // allowed algs, e.g. [RS256]
	Audience   string   // required aud
	// ScopeClaim names the claim holding scopes ("scope" space-separated
	// string by default; "scp" or "roles" arrays also work).
	ScopeClaim string
	// ScopeMap renames external scopes to the API's scopes; unmapped
	// external scopes are dropped.
	ScopeMap map[string]string
	// RefreshInterval is how often the JWKS is refetched (default 5m); an
	// unknown kid triggers at most one extra fetch per MinRefetch (30s).
	RefreshInterval time.Duration
}

// ClientNetworks restricts where a client's tokens may be used from.
type ClientNetworks struct {
	Allow []netip.Prefix
	Deny  []netip.Prefix
}
