// Package oauth is Gatehouse's authorization server surface: the token
// endpoint with one handler type per grant, client authentication,
// revocation (RFC 7009), introspection (RFC 7662), dynamic client
// registration (RFC 7591), and discovery (RFC 8414) with the JWKS.
package oauth

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/netip"
	"strings"
	"time"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/internal/dpop"
	"github.com/gatehouse/gatehouse/internal/token"
)

// Endpoint paths on the public listener.
const (
	PathMetadata   = "/.well-known/oauth-authorization-server"
	PathJWKS       = "/.well-known/jwks.json"
	PathToken      = "/oauth/token"
	PathRevoke     = "/oauth/revoke"
	PathIntrospect = "/oauth/introspect"
	PathRegister   = "/oauth/register"
	PathAuthorize  = "/oauth/authorize"
	PathAccount    = "/oauth/account"
	PathStyle      = "/oauth/static/style.css"
)

// PrefixCode marks authorization codes.
const PrefixCode = "ghc_"

// ClientStore is what the server needs to know about clients.
type ClientStore interface {
	FindClientByID(ctx context.Context, id string) (*gatehouse.Client, error)
	CreateClient(ctx context.Context, c *gatehouse.Client) error
	// UpdateClient replaces the client (RFC 7592 update and delete).
	UpdateClient(ctx context.Context, c *gatehouse.Client) error
}

// TokenStore keeps the records of issued tokens. Error contract as in
// internal/storetest.
type TokenStore interface {
	CreateToken(ctx context.Context, t *gatehouse.Token) error
	FindTokenByHash(ctx context.Context, hash []byte) (*gatehouse.Token, error)
	FindTokenByID(ctx context.Context, id string) (*gatehouse.Token, error)
	RevokeToken(ctx context.Context, id string, at time.Time) (bool, error)
	RevokeGrant(ctx context.Context, grantID string, at time.Time) (int, error)
}

// AssertionStore remembers client assertion ids so each is accepted once.
type AssertionStore interface {
	UseAssertionID(ctx context.Context, clientID, jti string, exp, now time.Time) error
}

// UserStore finds the people who log in.
type UserStore interface {
	FindUserByID(ctx context.Context, id string) (*gatehouse.User, error)
	FindUserByUsername(ctx context.Context, username string) (*gatehouse.User, error)
}

// ConsentStore remembers what users allowed.
type ConsentStore interface {
	SaveConsent(ctx context.Context, c *gatehouse.Consent) error
	FindConsent(ctx context.Context, subject, clientID string) (*gatehouse.Consent, error)
	FindConsents(ctx context.Context, subject string) ([]*gatehouse.Consent, error)
	DeleteConsent(ctx context.Context, subject, clientID string) error
}

// CodeStore keeps authorization codes. Contract in internal/storetest.
type CodeStore interface {
	CreateAuthCode(ctx context.Context, c *gatehouse.AuthCode) error
	FindAuthCode(ctx context.Context, hash []byte) (*gatehouse.AuthCode, error)
	RedeemAuthCode(ctx context.Context, hash []byte, now time.Time, g *gatehouse.Grant, tokens []*gatehouse.Token) error
}

// GrantStore keeps grants and rotates their refresh tokens.
type GrantStore interface {
	FindGrantByID(ctx context.Context, id string) (*gatehouse.Grant, error)
	FindGrants(ctx context.Context, subject string) ([]*gatehouse.Grant, error)
	RotateRefreshToken(ctx context.Context, oldID string, now time.Time, successor, access *gatehouse.Token) error
}

// EventStore records security events.
type EventStore interface {
	RecordEvent(ctx context.Context, e *gatehouse.SecurityEvent) error
}

// Catalog resolves APIs by name and by resource identifier.
type Catalog interface {
	API(name string) *gatehouse.API
	APIByAudience(audience string) *gatehouse.API
	APIs() []*gatehouse.API
}

// Server serves the OAuth endpoints. Fields are set by the composition root
// before Handler is called and not changed after.
type Server struct {
	Issuer     string
	Policy     gatehouse.TokenPolicy
	Catalog    Catalog
	Clients    ClientStore
	Tokens     TokenStore
	Assertions AssertionStore
	Users      UserStore
	Consents   ConsentStore
	Codes      CodeStore
	Grants     GrantStore
	Events     EventStore
	// Subscriptions and Credentials are optional (see access.go).
	Subscriptions SubscriptionStore
	Credentials   CredentialStore
	// SessionKey signs login cookies and CSRF tokens; RefreshKey derives
	// refresh successors. Each at least 32 random bytes, kept secret.
	SessionKey  []byte
	RefreshKey  []byte
	Keys        *token.Keyring
	Minter      *token.Minter
	Verifier    *token.Verifier
	Revocations *token.Revocations
	// DPoP verifies DPoP proofs at the token endpoint (RFC 9449 §5); its
	// NonceRequired makes the endpoint demand server nonces. Nil refuses
	// requests that carry a proof.
	DPoP *dpop.Verifier
	// Limiter slows down failed client authentication per client and per
	// IP; nil disables it (tests only).
	Limiter *FailureLimiter
	// AllowPlainHTTP accepts credentials (client secrets, assertions,
	// passwords, tokens) over plain HTTP from clients that are not on
	// loopback. Off by default: RFC 6749 sections 2.3.1 and 3.2 require TLS.
	AllowPlainHTTP bool
	// Client returns the address of the client that sent r and whether it
	// reached Gatehouse over HTTPS, trusted proxies considered (the
	// gateway's rules: proxy.ClientOf). It keys the failure limiters and
	// the plain-HTTP refusal. Nil: the TCP peer, and r.TLS.
	Client func(r *http.Request) (addr netip.Addr, secure bool)
	// ClientCAs verifies the certificates of tls_client_auth clients; nil
	// refuses them. MutualTLS says the node has an HTTPS listener that asks
	// for client certificates, so the RFC 8705 methods are advertised.
	ClientCAs *x509.CertPool
	MutualTLS bool
	// MTLSBaseURL is the HTTPS listener's URL when it is not the issuer's
	// (scheme, host and port): clients reach the mutual-TLS endpoints there,
	// so the metadata lists them in mtls_endpoint_aliases (RFC 8705 §5).
	// Empty: no aliases. Set before the server handles requests.
	MTLSBaseURL string
	// LoginLimiter slows down failed logins per account and per IP.
	LoginLimiter *FailureLimiter
	Metrics      *Metrics       // optional
	Watcher      RefusalWatcher // optional; anomaly detection
	Log          *slog.Logger
	Now          func() time.Time

	grants    map[string]GrantHandler
	loggedOut loggedOut
	// ClientUsed, when set, is told of each successful authentication of a
	// confidential client (secret or assertion), for usage tracking. It
	// must not block.
	ClientUsed func(clientID, addr string, at time.Time)
	// GrantUsed, when set, is told of each refresh of a grant: a client
	// whose access tokens go to resource servers other than the gateway
	// still shows its grant in use. It must not block.
	GrantUsed func(grantID, clientID, api string, at time.Time)
}

// GrantHandler issues tokens for one grant_type (RFC 6749 section 4). The
// token endpoint has authenticated the client and checked that it may use
// the grant before calling Handle.
type GrantHandler interface {
	GrantType() string
	// PublicClients reports whether public clients (no authentication) may
	// use the grant.
	PublicClients() bool
	Handle(ctx context.Context, req *TokenRequest) (*TokenResponse, *Error)
}

// TokenRequest is a parsed, client-authenticated token request.
type TokenRequest struct {
	Client *gatehouse.Client
	Form   *form
	Now    time.Time
	// Cnf is the key the request proved it holds, which new access tokens
	// are bound to: JKT from a verified DPoP proof (RFC 9449 §5), X5TS256
	// from the client certificate (RFC 8705 §3). Zero: bearer tokens.
	Cnf gatehouse.Confirmation
	// CredentialID is the app credential the client authenticated with,
	// "" for its primary secret or keys.
	CredentialID string
	// useProof, when set, records the request's DPoP proof as used; a
	// grant open to public clients calls it through UseProof once the
	// grant it was presented is found valid, before issuing anything.
	useProof func() *Error
}

// UseProof records the request's DPoP proof as used (RFC 9449 §11.1), if
// that is still to do: for a public client it is left to the grant, which
// calls this once the code or refresh token presented is found valid, so
// that requests with made-up grants never fill the replay cache. An error
// (the proof was used before, or the cache is full) refuses the request.
func (r *TokenRequest) UseProof() *Error {
	f := r.useProof
	if f == nil {
		return nil
	}
	r.useProof = nil
	return f()
}

// TokenResponse is the successful token endpoint answer (RFC 6749 5.1).
type TokenResponse struct {
	AccessToken  string `json:"access_token"`
	TokenType    string `json:"token_type"`
	ExpiresIn    int64  `json:"expires_in"`
	RefreshToken string `json:"refresh_token,omitempty"`
	Scope        string `json:"scope,omitempty"`
	// IssuedTokenType is set by token exchange (RFC 8693 section 2.2.1).
	IssuedTokenType string `json:"issued_token_type,omitempty"`
}

// Handler returns the public OAuth endpoints. The grant handlers are fixed
// here: one per grant type, chosen by grant_type from a map.
func (s *Server) Handler() http.Handler {
	s.grants = map[string]GrantHandler{}
	for _, g := range []GrantHandler{
		&ClientCredentials{Server: s},
		&AuthorizationCode{Server: s},
		&RefreshToken{Server: s},
		&TokenExchange{Server: s},
	} {
		s.grants[g.GrantType()] = g
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+PathMetadata, s.handleMetadata)
	mux.HandleFunc("GET "+PathJWKS, s.handleJWKS)
	mux.HandleFunc(PathToken, s.requireTLS(s.handleToken))
	mux.HandleFunc(PathRevoke, s.requireTLS(s.handleRevoke))
	mux.HandleFunc(PathIntrospect, s.requireTLS(s.handleIntrospect))
	mux.HandleFunc(PathRegister, s.requireTLS(s.handleRegister))
	mux.HandleFunc(PathRegister+"/{id}", s.requireTLS(s.handleClientConfiguration))
	mux.HandleFunc(PathAuthorize, s.requireTLS(s.handleAuthorize))
	mux.HandleFunc(PathAccount, s.requireTLS(s.handleAccount))
	mux.HandleFunc("GET "+PathStyle, handleStyle)
	return mux
}

// secureOrLocal reports whether a plain-HTTP request is one requireTLS lets
// through: from loopback (the client's address, so a proxy on this host
// that forwards for others does not count), or through a trusted proxy
// that says the client used HTTPS; as the gateway judges its requests.
func (s *Server) secureOrLocal(r *http.Request) bool {
	if s.Client == nil {
		ip, err := netip.ParseAddr(peerIP(r))
		return err == nil && ip.IsLoopback()
	}
	a, secure := s.Client(r)
	return secure || a.IsLoopback()
}

// requireTLS refuses requests that carry credentials over plain HTTP from
// another machine (RFC 6749 3.1, 3.2: TLS is required). Loopback is allowed
// for development, and so is a trusted proxy that terminated TLS.
func (s *Server) requireTLS(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if r.TLS == nil && !s.AllowPlainHTTP && !s.secureOrLocal(r) {
			e := errInvalidRequest("use HTTPS: credentials are refused over plain HTTP")
			if r.URL.Path == PathAuthorize || r.URL.Path == PathAccount {
				s.errorPage(w, e)
			} else {
				writeError(w, e)
			}
			return
		}
		h(w, r)
	}
}

func (s *Server) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

func (s *Server) log() *slog.Logger {
	if s.Log != nil {
		return s.Log
	}
	return slog.Default()
}

// internalError logs err (never a token: callers pass store or crypto
// errors only) and returns the generic server_error.
func (s *Server) internalError(ctx context.Context, what string, err error) *Error {
	s.log().ErrorContext(ctx, what, "err", err)
	return errServer()
}

// Metadata is the RFC 8414 authorization server metadata.
type Metadata struct {
	Issuer                                     string   `json:"issuer"`
	AuthorizationEndpoint                      string   `json:"authorization_endpoint,omitempty"`
	TokenEndpoint                              string   `json:"token_endpoint"`
	JWKSURI                                    string   `json:"jwks_uri"`
	RegistrationEndpoint                       string   `json:"registration_endpoint"`
	RevocationEndpoint                         string   `json:"revocation_endpoint"`
	IntrospectionEndpoint                      string   `json:"introspection_endpoint"`
	ScopesSupported                            []string `json:"scopes_supported,omitempty"`
	ResponseTypesSupported                     []string `json:"response_types_supported"`
	GrantTypesSupported                        []string `json:"grant_types_supported"`
	TokenEndpointAuthMethods                   []string `json:"token_endpoint_auth_methods_supported"`
	TokenEndpointAuthSigningAlgs               []string `json:"token_endpoint_auth_signing_alg_values_supported"`
	RevocationEndpointAuthMethods              []string `json:"revocation_endpoint_auth_methods_supported"`
	IntrospectionEndpointAuthMethods           []string `json:"introspection_endpoint_auth_methods_supported"`
	IntrospectionEndpointAuthSigningAlgs       []string `json:"introspection_endpoint_auth_signing_alg_values_supported"`
	RevocationEndpointAuthSigningAlgs          []string `json:"revocation_endpoint_auth_signing_alg_values_supported"`
	AccessTokenSigningAlgs                     []string `json:"access_token_signing_alg_values_supported,omitempty"`
	ResourceIndicatorsSupported                bool     `json:"resource_indicators_supported,omitempty"`
	CodeChallengeMethodsSupported              []string `json:"code_challenge_methods_supported,omitempty"`
	ResponseModesSupported                     []string `json:"response_modes_supported,omitempty"`
	PromptValuesSupported                      []string `json:"prompt_values_supported,omitempty"`
	AuthorizationResponseIssParameterSupported bool     `json:"authorization_response_iss_parameter_supported,omitempty"`
	DPoPSigningAlgs                            []string `json:"dpop_signing_alg_values_supported,omitempty"`

	// RFC 8705 section 3.3.
	TLSClientCertificateBoundAccessTokens bool `json:"tls_client_certificate_bound_access_tokens,omitempty"`
	// RFC 8705 section 5: where the endpoints are for mutual TLS, when
	// that is not where the endpoints above are.
	MTLSEndpointAliases *MTLSEndpointAliases `json:"mtls_endpoint_aliases,omitempty"`
}

// MTLSEndpointAliases are the endpoints on the HTTPS listener (RFC 8705
// section 5) that take client certificates.
type MTLSEndpointAliases struct {
	TokenEndpoint         string `json:"token_endpoint"`
	RevocationEndpoint    string `json:"revocation_endpoint"`
	IntrospectionEndpoint string `json:"introspection_endpoint"`
}

// Metadata returns what this server supports, and only that.
func (s *Server) Metadata() Metadata {
	authMethods := []string{string(gatehouse.AuthSecretBasic), string(gatehouse.AuthSecretPost), string(gatehouse.AuthPrivateKeyJWT)}
	if s.MutualTLS {
		authMethods = append(authMethods, string(gatehouse.AuthTLSClient), string(gatehouse.AuthSelfSignedTLS))
	}
	var grants []string
	for _, gt := range []string{gatehouse.GrantAuthorizationCode, gatehouse.GrantClientCredentials, gatehouse.GrantRefreshToken, gatehouse.GrantTokenExchange} {
		if _, ok := s.grants[gt]; ok {
			grants = append(grants, gt)
		}
	}
	var scopes []string
	seen := map[string]bool{}
	for _, api := range s.Catalog.APIs() {
		if api.Name == gatehouse.AdminAPIName || !servable(api) {
			continue // not advertised to the world
		}
		for _, sc := range api.Scopes {
			if !seen[sc] {
				seen[sc] = true
				scopes = append(scopes, sc)
			}
		}
	}
	md := Metadata{
		Issuer:                               s.Issuer,
		TokenEndpoint:                        s.Issuer + PathToken,
		JWKSURI:                              s.Issuer + PathJWKS,
		RegistrationEndpoint:                 s.Issuer + PathRegister,
		RevocationEndpoint:                   s.Issuer + PathRevoke,
		IntrospectionEndpoint:                s.Issuer + PathIntrospect,
		ScopesSupported:                      scopes,
		ResponseTypesSupported:               []string{},
		GrantTypesSupported:                  grants,
		TokenEndpointAuthMethods:             authMethods,
		TokenEndpointAuthSigningAlgs:         assertionAlgs,
		RevocationEndpointAuthMethods:        authMethods,
		RevocationEndpointAuthSigningAlgs:    assertionAlgs,
		IntrospectionEndpointAuthMethods:     authMethods,
		IntrospectionEndpointAuthSigningAlgs: assertionAlgs,
		AccessTokenSigningAlgs:               []string{s.Policy.SigningAlgorithm},
		ResourceIndicatorsSupported:          true,
		DPoPSigningAlgs:                      s.dpopAlgs(),
	}
	md.TLSClientCertificateBoundAccessTokens = s.MutualTLS
	if s.MutualTLS && s.MTLSBaseURL != "" {
		base := strings.TrimSuffix(s.MTLSBaseURL, "/")
		md.MTLSEndpointAliases = &MTLSEndpointAliases{
			TokenEndpoint:         base + PathToken,
			RevocationEndpoint:    base + PathRevoke,
			IntrospectionEndpoint: base + PathIntrospect,
		}
	}
	if _, ok := s.grants[gatehouse.GrantAuthorizationCode]; ok {
		md.AuthorizationEndpoint = s.Issuer + PathAuthorize
		md.ResponseTypesSupported = []string{"code"}
		md.ResponseModesSupported = []string{"query"}
		md.CodeChallengeMethodsSupported = []string{"S256"}
		md.AuthorizationResponseIssParameterSupported = true
		md.PromptValuesSupported = []string{"none", "login", "consent"}
		md.TokenEndpointAuthMethods = append(md.TokenEndpointAuthMethods, string(gatehouse.AuthNone))
		md.RevocationEndpointAuthMethods = append(md.RevocationEndpointAuthMethods, string(gatehouse.AuthNone))
	}
	return md
}

func (s *Server) handleMetadata(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "public, max-age=300")
	_ = json.NewEncoder(w).Encode(s.Metadata())
}

func (s *Server) handleJWKS(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/jwk-set+json")
	// Short cache: a rotation promotes a key published at least one
	// rotation earlier, so verifiers that cache this for minutes are fine.
	w.Header().Set("Cache-Control", "public, max-age=300")
	_, _ = w.Write(s.Keys.JWKS())
}
