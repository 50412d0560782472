package gatehouse

import "time"

// AuthMethod is how a client authenticates at the token endpoint
// (RFC 7591 token_endpoint_auth_method).
type AuthMethod string

const (
	AuthSecretBasic   AuthMethod = "client_secret_basic"
	AuthSecretPost    AuthMethod = "client_secret_post"
	AuthPrivateKeyJWT AuthMethod = "private_key_jwt"
	AuthNone          AuthMethod = "none" // public client
	// AuthTLSClient is mutual TLS with a certificate from a trusted CA whose
	// subject matches the client's TLSSubject (RFC 8705 section 2.1).
	AuthTLSClient AuthMethod = "tls_client_auth"
	// AuthSelfSignedTLS is mutual TLS with a certificate registered in the
	// client's JWKS (x5c), matched by its SHA-256 (RFC 8705 section 2.2).
	AuthSelfSignedTLS AuthMethod = "self_signed_tls_client_auth"
)

// MutualTLS reports whether m authenticates with a client certificate.
func (m AuthMethod) MutualTLS() bool { return m == AuthTLSClient || m == AuthSelfSignedTLS }

// Grant types Gatehouse knows about.
const (
	GrantClientCredentials = "client_credentials"
	GrantAuthorizationCode = "authorization_code"
	GrantRefreshToken      = "refresh_token"
	GrantTokenExchange     = "urn:ietf:params:oauth:grant-type:token-exchange" // RFC 8693
)

// ClientSource says where a client was defined, so that config reloads only
// touch the clients the config file owns.
type ClientSource string

const (
	SourceConfig    ClientSource = "config"
	SourceDynamic   ClientSource = "dynamic"   // RFC 7591 registration
	SourceBootstrap ClientSource = "bootstrap" // the first admin client
)

// Client is an OAuth client (an app).
type Client struct {
	ID   string
	Name string

	AuthMethod AuthMethod
	// SecretHash is SHA-256 of the client secret (see HashSecret). Gatehouse
	// only accepts secrets of at least MinSecretBytes of entropy, so a fast
	// hash is enough and keeps the token endpoint cheap. Nil when the client
	// has no secret.
	SecretHash []byte
	// JWKS holds the client's public keys (a JWK Set, JSON) for
	// private_key_jwt.
	JWKS []byte

	GrantTypes   []string
	RedirectURIs []string
	// Access lists the APIs the client may get tokens for and with which scopes.
	Access []Access
	// TokenFormat overrides the API's and the policy's format for this client.
	TokenFormat TokenFormat

	// Networks restricts where the client's tokens are accepted from.
	Networks ClientNetworks
	// DPoPBound makes every token request of the client carry a DPoP proof,
	// so it only ever gets DPoP-bound tokens (RFC 9449 §5.2,
	// dpop_bound_access_tokens).
	DPoPBound bool

	// TLSSubject is what a tls_client_auth client's certificate must name.
	TLSSubject TLSSubject
	// CertificateBoundTokens requires a client certificate at the token
	// endpoint and binds every access token to it (RFC 8705 section 3,
	// tls_client_certificate_bound_access_tokens). Tokens of mutual-TLS
	// clients are always bound.
	CertificateBoundTokens bool
	// TokenExchange says which tokens the client may exchange for which
	// APIs (RFC 8693). Empty: none.
	TokenExchange []ExchangeRule

	// Team is the team that owns the app, or "" (config and built-in
	// clients may belong to none).
	Team      string
	Source    ClientSource
	Disabled  bool
	Revision  int64
	CreatedAt time.Time
	UpdatedAt time.Time
}

// Access is what a client may ask of one API.
type Access struct {
	API           string   // API name
	Scopes        []string // allowed scopes
	DefaultScopes []string // granted when a request names no scope
	// Introspect lets the client introspect any token for this API: the
	// role of a resource server. Never granted by dynamic registration.
	Introspect bool
}

// TLSSubject names the one certificate field a tls_client_auth client is
// recognised by (RFC 8705 section 2.1.2): exactly one field is set.
type TLSSubject struct {
	DN    string // RFC 4514 subject distinguished name
	DNS   string // a dNSName subjectAltName
	URI   string // a uniformResourceIdentifier subjectAltName
	IP    string // an iPAddress subjectAltName, in text form
	Email string // an rfc822Name subjectAltName
}

// IsZero reports whether no field is set.
func (s TLSSubject) IsZero() bool { return s == TLSSubject{} }

// ExchangeRule lets a client exchange access tokens for API From for new
// tokens for any of the APIs To (by name).
type ExchangeRule struct {
	From string
	To   []string
}

// MayExchange reports whether the client may exchange a token for API from
// into one for API to.
func (c *Client) MayExchange(from, to string) bool {
	for _, r := range c.TokenExchange {
		if r.From != from {
			continue
		}
		for _, t := range r.To {
			if t == to {
				return true
			}
		}
	}
	return false
}

// ExchangeTargets returns the APIs a token for API from may be exchanged
// into by the client.
func (c *Client) ExchangeTargets(from string) []string {
	var out []string
	for _, r := range c.TokenExchange {
		if r.From == from {
			out = append(out, r.To...)
		}
	}
	return out
}

// AllowsGrant reports whether the client may use grant type gt.
func (c *Client) AllowsGrant(gt string) bool {
	for _, g := range c.GrantTypes {
		if g == gt {
			return true
		}
	}
	return false
}

// AccessFor returns the client's access entry for the named API, or nil.
func (c *Client) AccessFor(api string) *Access {
	for i := range c.Access {
		if c.Access[i].API == api {
			return &c.Access[i]
		}
	}
	return nil
}

// ClientFilter selects clients in FindClients. Zero fields do not filter.
type ClientFilter struct {
	Source ClientSource
	Team   string
	// Limit caps FindClients; FindClientPage uses Page instead.
	Limit int
	Page  Page
}
