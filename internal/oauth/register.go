package oauth

import (
	"context"
	"encoding/json"
	"errors"
	"mime"
	"net/http"
	"net/url"
	"strings"
	"unicode"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/internal/jose"
	"github.com/gatehouse/gatehouse/internal/token"
)

// registrationRequest is the RFC 7591 client metadata Gatehouse reads.
// Unknown members are ignored, as section 2 requires.
type registrationRequest struct {
	ClientName              string          `json:"client_name"`
	TokenEndpointAuthMethod string          `json:"token_endpoint_auth_method"`
	GrantTypes              []string        `json:"grant_types"`
	ResponseTypes           []string        `json:"response_types"`
	RedirectURIs            []string        `json:"redirect_uris"`
	Scope                   string          `json:"scope"`
	JWKS                    json.RawMessage `json:"jwks"`
	JWKSURI                 string          `json:"jwks_uri"`
	// DPoPBoundAccessTokens asks that every token request of the client
	// carry a DPoP proof (RFC 9449 §5.2).
	DPoPBoundAccessTokens bool `json:"dpop_bound_access_tokens"`
	mtlsMetadata
}

// registrationResponse is the RFC 7591 section 3.2.1 answer.
type registrationResponse struct {
	ClientID                string          `json:"client_id"`
	ClientSecret            string          `json:"client_secret,omitempty"`
	ClientIDIssuedAt        int64           `json:"client_id_issued_at"`
	ClientSecretExpiresAt   *int64          `json:"client_secret_expires_at,omitempty"`
	ClientName              string          `json:"client_name,omitempty"`
	TokenEndpointAuthMethod string          `json:"token_endpoint_auth_method"`
	GrantTypes              []string        `json:"grant_types"`
	ResponseTypes           []string        `json:"response_types,omitempty"`
	RedirectURIs            []string        `json:"redirect_uris,omitempty"`
	Scope                   string          `json:"scope,omitempty"`
	JWKS                    json.RawMessage `json:"jwks,omitempty"`
	DPoPBoundAccessTokens   bool            `json:"dpop_bound_access_tokens,omitempty"`
	mtlsMetadata
	// RFC 7592: where and with what the client manages its registration.
	RegistrationAccessToken string `json:"registration_access_token,omitempty"`
	RegistrationClientURI   string `json:"registration_client_uri"`
}

// handleRegister is RFC 7591 dynamic client registration, open only to a
// caller presenting an initial access token: an access token for the admin
// API with scope admin, or a registration token handed out by the admin API.
func (s *Server) handleRegister(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	if r.Method != http.MethodPost {
		writeError(w, &Error{Status: http.StatusMethodNotAllowed, Code: "invalid_request", Description: "use POST", allow: "POST"})
		return
	}
	if e := s.checkInitialAccessToken(ctx, r); e != nil {
		w.Header().Set("WWW-Authenticate", bearerChallenge(e))
		writeError(w, e)
		return
	}
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "application/json" {
		writeError(w, errInvalidClientMetadata("content type must be application/json"))
		return
	}
	body, err := readBody(w, r, maxFormBytes)
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			writeError(w, &Error{Status: http.StatusRequestEntityTooLarge, Code: "invalid_client_metadata", Description: "request body too large"})
			return
		}
		writeError(w, errInvalidRequest("cannot read request body"))
		return
	}
	var req registrationRequest
	if err := jose.DecodeJSON(body, &req); err != nil {
		writeError(w, errInvalidClientMetadata("malformed client metadata: "+jsonProblem(err)))
		return
	}
	client, e := s.clientFromMetadata(&req)
	if e != nil {
		writeError(w, e)
		return
	}
	var secret string
	if client.AuthMethod == gatehouse.AuthSecretBasic || client.AuthMethod == gatehouse.AuthSecretPost {
		secret = gatehouse.NewSecret(token.PrefixClientSecret)
		client.SecretHash = gatehouse.HashSecret(secret)
	}
	now := s.now()
	client.ID = token.NewID()
	client.Source = gatehouse.SourceDynamic
	client.CreatedAt, client.UpdatedAt = now, now
	if err := s.Clients.CreateClient(ctx, client); err != nil {
		writeError(w, s.internalError(ctx, "create client", err))
		return
	}
	mgmt, e := s.issueManagementToken(ctx, client.ID, now)
	if e != nil {
		writeError(w, e)
		return
	}
	s.log().InfoContext(ctx, "client registered", "client_id", client.ID, "auth_method", string(client.AuthMethod))
	resp := s.registrationResponse(client, req.Scope, secret)
	resp.RegistrationAccessToken = mgmt
	writeJSON(w, http.StatusCreated, resp)
}

// registrationResponse is the RFC 7591 3.2.1 / RFC 7592 3 view of a
// registered client; secret is set only when it was just generated.
func (s *Server) registrationResponse(client *gatehouse.Client, scope, secret string) registrationResponse {
	resp := registrationResponse{
		ClientID:                client.ID,
		ClientSecret:            secret,
		ClientIDIssuedAt:        client.CreatedAt.Unix(),
		ClientName:              client.Name,
		TokenEndpointAuthMethod: string(client.AuthMethod),
		GrantTypes:              client.GrantTypes,
		RedirectURIs:            client.RedirectURIs,
		Scope:                   scope,
		DPoPBoundAccessTokens:   client.DPoPBound,
		mtlsMetadata:            mtlsMetadataOf(client),
		RegistrationClientURI:   s.Issuer + PathRegister + "/" + client.ID,
	}
	if client.AllowsGrant(gatehouse.GrantAuthorizationCode) {
		resp.ResponseTypes = []string{"code"}
	}
	if len(client.SecretHash) > 0 {
		never := int64(0)
		resp.ClientSecretExpiresAt = &never
	}
	if len(client.JWKS) > 0 {
		resp.JWKS = client.JWKS
	}
	return resp
}

func (s *Server) checkInitialAccessToken(ctx context.Context, r *http.Request) *Error {
	h := r.Header.Get("Authorization")
	scheme, tok, ok := strings.Cut(h, " ")
	if h == "" || !ok || !strings.EqualFold(scheme, "Bearer") || tok == "" {
		// RFC 6750 3.1: no error code when no credential was sent.
		return &Error{Status: http.StatusUnauthorized, Code: "invalid_token", Description: "an initial access token is required", noChallengeCode: true}
	}
	bad := &Error{Status: http.StatusUnauthorized, Code: "invalid_token", Description: "the initial access token is not valid"}
	if strings.HasPrefix(tok, token.PrefixRegistration) {
		rec, err := s.Tokens.FindTokenByHash(ctx, gatehouse.HashSecret(tok))
		if gatehouse.ErrorCode(err) == gatehouse.CodeNotFound {
			return bad
		} else if err != nil {
			return s.internalError(ctx, "find registration token", err)
		}
		if rec.Kind != gatehouse.KindRegistration || !rec.Active(s.now()) {
			return bad
		}
		return nil
	}
	claims, err := s.Verifier.Verify(ctx, tok)
	if err != nil {
		if token.ReasonOf(err) == "" {
			return s.internalError(ctx, "verify token", err)
		}
		return bad
	}
	// No proof of possession is checked here, so a key-bound (DPoP or
	// certificate) token would lose its binding: refused.
	if claims.Cnf.Bound() {
		return &Error{Status: http.StatusUnauthorized, Code: "invalid_token",
			Description: "key-bound tokens are not accepted here; use a bearer token"}
	}
	if claims.Audience != gatehouse.AdminAudience || !claims.HasScope(gatehouse.AdminScope) {
		return &Error{Status: http.StatusForbidden, Code: "insufficient_scope", Description: "registration needs an admin token"}
	}
	return nil
}

func bearerChallenge(e *Error) string {
	if e.Status >= 500 || e.noChallengeCode {
		return `Bearer realm="gatehouse"`
	}
	return `Bearer realm="gatehouse", error="` + e.Code + `"`
}

// clientFromMetadata validates registration metadata into a client. Scopes
// map to the published APIs that define them; the admin API can never be
// obtained by registration.
func (s *Server) clientFromMetadata(req *registrationRequest) (*gatehouse.Client, *Error) {
	c := &gatehouse.Client{Name: req.ClientName, DPoPBound: req.DPoPBoundAccessTokens}
	if len(c.Name) > 200 || strings.ContainsFunc(c.Name, func(r rune) bool {
		// Control and bidi characters could disguise the name on the
		// consent page.
		return unicode.IsControl(r) || unicode.Is(unicode.Bidi_Control, r)
	}) {
		return nil, errInvalidClientMetadata("client_name must be one line of at most 200 characters without control characters")
	}
	switch m := gatehouse.AuthMethod(req.TokenEndpointAuthMethod); m {
	case "":
		c.AuthMethod = gatehouse.AuthSecretBasic // RFC 7591 2: the default
	case gatehouse.AuthSecretBasic, gatehouse.AuthSecretPost, gatehouse.AuthPrivateKeyJWT, gatehouse.AuthNone,
		gatehouse.AuthTLSClient, gatehouse.AuthSelfSignedTLS:
		c.AuthMethod = m
	default:
		return nil, errInvalidClientMetadata("token_endpoint_auth_method must be client_secret_basic, client_secret_post, private_key_jwt, tls_client_auth, self_signed_tls_client_auth or none")
	}
	if e := s.registerMTLS(req, c); e != nil {
		return nil, e
	}
	// RFC 7591 2: grant_types defaults to authorization_code and
	// response_types to code; the two must agree.
	c.GrantTypes = req.GrantTypes
	if len(c.GrantTypes) == 0 {
		c.GrantTypes = []string{gatehouse.GrantAuthorizationCode}
	}
	for _, gt := range c.GrantTypes {
		if _, ok := s.grants[gt]; !ok {
			return nil, errInvalidClientMetadata("grant type " + quoteParam(gt) + " is not supported")
		}
		if gt == gatehouse.GrantTokenExchange {
			// Exchange rules are policy the config file owns.
			return nil, errInvalidClientMetadata("token exchange is only for clients defined in the configuration file")
		}
	}
	responseTypes := req.ResponseTypes
	if len(responseTypes) == 0 && c.AllowsGrant(gatehouse.GrantAuthorizationCode) {
		responseTypes = []string{"code"}
	}
	for _, rt := range responseTypes {
		if rt != "code" {
			return nil, errInvalidClientMetadata("response type " + quoteParam(rt) + " is not supported; only code")
		}
	}
	if (len(responseTypes) > 0) != c.AllowsGrant(gatehouse.GrantAuthorizationCode) {
		return nil, errInvalidClientMetadata("response_types code and grant type authorization_code go together")
	}
	if c.AuthMethod == gatehouse.AuthNone && c.AllowsGrant(gatehouse.GrantClientCredentials) {
		return nil, errInvalidClientMetadata("a public client (token_endpoint_auth_method none) cannot use client_credentials")
	}
	for _, u := range req.RedirectURIs {
		if msg := checkRedirectURI(u); msg != "" {
			return nil, errInvalidRedirectURI(msg)
		}
	}
	if c.AllowsGrant(gatehouse.GrantAuthorizationCode) && len(req.RedirectURIs) == 0 {
		return nil, errInvalidRedirectURI("the authorization code flow needs at least one redirect URI")
	}
	c.RedirectURIs = req.RedirectURIs
	if req.JWKSURI != "" {
		return nil, errInvalidClientMetadata("jwks_uri is not supported; register the keys inline with jwks")
	}
	if c.AuthMethod == gatehouse.AuthPrivateKeyJWT {
		if len(req.JWKS) == 0 {
			return nil, errInvalidClientMetadata("private_key_jwt needs jwks")
		}
		if _, err := jose.ParseJWKSet(req.JWKS); err != nil {
			return nil, errInvalidClientMetadata("jwks: " + err.Error())
		}
		c.JWKS = req.JWKS
	} else if len(req.JWKS) > 0 && c.AuthMethod != gatehouse.AuthSelfSignedTLS {
		return nil, errInvalidClientMetadata("jwks is only used with private_key_jwt and self_signed_tls_client_auth")
	}
	scopes, e := parseScope(req.Scope)
	if e != nil {
		return nil, errInvalidClientMetadata("scope: " + e.Description)
	}
	for _, sc := range scopes {
		found, manual := false, ""
		for _, api := range s.Catalog.APIs() {
			if api.Name == gatehouse.AdminAPIName || !servable(api) || !api.HasScope(sc) {
				continue
			}
			if api.Manual() {
				// Registration must not bypass an administrator's approval.
				manual = api.Name
				continue
			}
			found = true
			acc := c.AccessFor(api.Name)
			if acc == nil {
				c.Access = append(c.Access, gatehouse.Access{API: api.Name})
				acc = &c.Access[len(c.Access)-1]
			}
			acc.Scopes = append(acc.Scopes, sc)
		}
		if !found && manual != "" {
			return nil, errInvalidClientMetadata("scope " + quoteParam(sc) + " belongs to API " + quoteParam(manual) +
				", which approves subscriptions manually; register without it and subscribe through the admin API")
		}
		if !found {
			return nil, errInvalidClientMetadata("scope " + quoteParam(sc) + " is not offered by any API")
		}
	}
	return c, nil
}

// checkRedirectURI says what is wrong with a redirect URI a client asks to
// register, or "". Allowed: https URLs, http on loopback (RFC 8252 7.3), and
// private-use schemes in reverse-domain form (RFC 8252 7.1), such as
// com.example.app:/callback. Never userinfo, fragments, wildcards, or
// schemes a browser would execute.
func checkRedirectURI(u string) string {
	if len(u) > 2048 || strings.ContainsAny(u, "#*\x00\r\n\t ") {
		return "redirect URIs must be absolute URIs without a fragment, wildcard or whitespace"
	}
	pu, err := url.Parse(u)
	if err != nil || !pu.IsAbs() || pu.User != nil {
		return "redirect URIs must be absolute URIs without user information"
	}
	switch scheme := strings.ToLower(pu.Scheme); {
	case scheme == "https":
		if pu.Host == "" {
			return "an https redirect URI needs a host"
		}
	case scheme == "http":
		if !isLoopbackIP(pu.Hostname()) && pu.Hostname() != "localhost" {
			return "http redirect URIs are only allowed on loopback; use https"
		}
	case strings.Contains(scheme, "."):
		// A private-use scheme of a native app (reverse domain name).
	default:
		return "redirect URI scheme " + quoteParam(pu.Scheme) + " is not allowed; use https, loopback http, or a reverse-domain private scheme"
	}
	return ""
}

// jsonProblem describes a JSON decoding error without echoing input.
func jsonProblem(err error) string {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		return "member " + quoteParam(te.Field) + " has the wrong type"
	}
	msg := err.Error()
	if len(msg) > 120 {
		msg = msg[:120]
	}
	return msg
}
