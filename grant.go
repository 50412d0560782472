package gatehouse

import "time"

// Grant is one authorization a user gave a client: the family of every
// access and refresh token descended from one authorization code. Revoking
// the grant revokes the whole family.
type Grant struct {
	ID       string
	ClientID string
	Subject  string // user id
	Audience string // the API the family's tokens are for
	Scopes   []string
	// ExpiresAt is the absolute end of the family: no refresh token of the
	// grant outlives it, however often it is rotated.
	ExpiresAt time.Time
	CreatedAt time.Time
	RevokedAt time.Time // zero while not revoked
}

// AuthCode is a stored authorization code (RFC 6749 4.1.2). Only its hash
// is kept. It is short-lived, single-use and bound to the client, the
// redirect URI and the PKCE challenge.
type AuthCode struct {
	Hash          []byte
	ClientID      string
	Subject       string
	RedirectURI   string
	CodeChallenge string // S256 challenge (RFC 7636)
	Audience      string
	Scopes        []string
	// GrantID is the grant the exchange creates; a second redemption
	// revokes it with everything issued from the first.
	GrantID   string
	CreatedAt time.Time
	ExpiresAt time.Time
	UsedAt    time.Time // zero until redeemed
	// DPoPJKT binds the code to a DPoP key (RFC 9449 §10, the dpop_jkt
	// authorization request parameter): the token request that redeems it
	// must carry a proof by the key with this thumbprint. Empty: unbound.
	DPoPJKT string
}

// Security event types.
const (
	EventRefreshReuse      = "refresh_token_reuse"
	EventCodeReuse         = "authorization_code_reuse"
	EventGrantRevoked      = "grant_revoked"
	EventLoginFailed       = "login_failed"
	EventUserGrantsRevoked = "user_grants_revoked"
	EventAppTokensRevoked  = "app_tokens_revoked" // bulk revocation by app
	EventAPITokensRevoked  = "api_tokens_revoked" // bulk revocation by API
)

// SecurityEvent records something a security team wants to know about.
type SecurityEvent struct {
	ID       string
	Type     string
	ClientID string
	Subject  string
	GrantID  string
	Detail   string // human-readable; never a token or secret
	At       time.Time
}

// EventFilter selects security events. Zero fields do not filter.
type EventFilter struct {
	Type    string
	GrantID string
	Limit   int
}
