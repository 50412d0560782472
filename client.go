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
)

// Grant types Gatehouse knows about.
const (
	GrantClientCredentials = "client_credentials"
	GrantAuthorizationCode = "authorization_code"
	GrantRefreshToken      = "refresh_token"
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
