package gatehouse

import "time"

// TokenFormat is how an access token is represented on the wire.
type TokenFormat string

const (
	FormatJWT    TokenFormat = "jwt"    // RFC 9068 JWT, verified locally with the JWKS
	FormatOpaque TokenFormat = "opaque" // random string, resolved by its hash
)

// TokenKind says what a stored token is for.
type TokenKind string

const (
	KindAccess       TokenKind = "access"
	KindRefresh      TokenKind = "refresh"
	KindRegistration TokenKind = "registration" // RFC 7591 initial access token
	KindAPIKey       TokenKind = "api_key"      // a long-lived key for one client on one API
	// KindClientManagement is an RFC 7592 registration access token: it
	// lets a dynamically registered client read, update and delete its
	// own registration.
	KindClientManagement TokenKind = "client_management"
)

// Token is the stored record of a token Gatehouse issued. The token string
// itself is never stored: Hash is its SHA-256.
type Token struct {
	ID       string // jti; unique
	Hash     []byte // SHA-256 of the token string
	Kind     TokenKind
	Format   TokenFormat
	ClientID string
	Subject  string
	Audience string
	Scopes   []string
	GrantID  string // shared by every token minted from one authorization
	// CredentialID is the app credential the client authenticated with
	// when the token was issued ("" for the client's primary secret or
	// keys), so that revoking a credential revokes exactly its tokens.
	CredentialID string
	IssuedAt     time.Time
	ExpiresAt    time.Time
	RevokedAt    time.Time // zero while not revoked

	// RotatedAt is set when a refresh token was exchanged for its successor
	// (SuccessorID). A rotated token is kept as a tombstone so that presenting
	// it again is recognised as reuse.
	RotatedAt   time.Time
	SuccessorID string

	// Act is the delegation chain of a token made by token exchange
	// (RFC 8693); nil otherwise.
	Act *Actor
	// Cnf is the key the token is bound to (DPoP or client certificate);
	// zero for a bearer token. A refresh token carries it when refreshing
	// must prove possession of the same key.
	Cnf Confirmation
}

// Active reports whether the token is neither revoked, rotated nor expired
// at now.
func (t *Token) Active(now time.Time) bool {
	return t.RevokedAt.IsZero() && t.RotatedAt.IsZero() && now.Before(t.ExpiresAt)
}

// Revocation is one entry of the revocation state: a revoked token id or a
// revoked grant id, kept until Until (the latest expiry of what it covers).
type Revocation struct {
	TokenID string // set for a single revoked token
	GrantID string // set for a revoked grant
	Until   time.Time
}

// AccessClaims are the claims of an access token (RFC 9068 section 2.2),
// whatever its format.
type AccessClaims struct {
	Issuer    string
	Subject   string
	Audience  string // exactly one API's resource identifier
	ClientID  string
	Scopes    []string
	ID        string // jti
	GrantID   string
	IssuedAt  time.Time
	ExpiresAt time.Time
	// Act is the delegation chain (RFC 8693 act claim) of a token made by
	// token exchange; nil for a token issued to its subject's own client.
	Act *Actor
	// Cnf is the token's key binding (RFC 7800 cnf); zero for a bearer
	// token.
	Cnf Confirmation
}

// HasScope reports whether the claims carry scope s.
func (c *AccessClaims) HasScope(s string) bool {
	for _, x := range c.Scopes {
		if x == s {
			return true
		}
	}
	return false
}

// TokenFilter selects tokens in FindTokens. Zero fields do not filter.
// Tokens come ordered by ID; After and Limit page through them.
type TokenFilter struct {
	ClientID string
	Subject  string
	Audience string
	Kind     TokenKind
	// ActiveAt, when set, keeps only tokens Active at that time.
	ActiveAt time.Time
	After    string // only IDs greater than After
	Limit    int    // 0: no limit
}
