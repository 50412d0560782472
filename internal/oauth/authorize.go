package oauth

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/gatehouse/gatehouse"
)

// authzRequest is a validated authorization request (RFC 6749 4.1.1 with
// RFC 7636 and RFC 8707).
type authzRequest struct {
	Client      *gatehouse.Client
	RedirectURI string // where to send the response
	// RedirectParam is redirect_uri as the request sent it ("" when
	// omitted); the token request must repeat exactly that (RFC 6749 4.1.3).
	RedirectParam string
	State         string
	API           *gatehouse.API
	Scopes        []string
	Challenge     string
	// DPoPJKT binds the code to a DPoP key (RFC 9449 §10).
	DPoPJKT string
	Prompt  string
	Raw     string // the request's query string, carried through the login and consent forms
}

// redirectError is an error answered by redirecting to the client.
type redirectError struct {
	*Error
	redirectURI, state string
}

// authzParams may each appear once (RFC 6749 3.1); resource may repeat but
// a token is for one resource, which selectAPI enforces.
var authzParams = []string{"response_type", "client_id", "redirect_uri", "scope", "state", "code_challenge", "code_challenge_method", "prompt", "request", "request_uri", "response_mode", "nonce", "dpop_jkt"}

// parseAuthorize validates an authorization request. A problem with the
// client or the redirect URI is returned as fatal: it is shown to the user
// and never redirected (RFC 6749 4.1.2.1), or an attacker could use Gatehouse
// as an open redirector. Anything else is a redirectError sent back to the
// verified redirect URI.
func (s *Server) parseAuthorize(ctx context.Context, raw string) (*authzRequest, *redirectError, *Error) {
	if len(raw) > 16<<10 {
		return nil, nil, errInvalidRequest("authorization request too large")
	}
	vals, err := url.ParseQuery(raw)
	if err != nil {
		return nil, nil, errInvalidRequest("malformed authorization request")
	}
	for _, k := range authzParams {
		if len(vals[k]) > 1 {
			if k == "client_id" || k == "redirect_uri" {
				return nil, nil, errInvalidRequest("parameter " + quoteParam(k) + " must not be repeated")
			}
		}
	}
	clientID := vals.Get("client_id")
	if clientID == "" {
		return nil, nil, errInvalidRequest("missing client_id")
	}
	client, ferr := s.Clients.FindClientByID(ctx, clientID)
	if gatehouse.ErrorCode(ferr) == gatehouse.CodeNotFound || (ferr == nil && client.Disabled) {
		return nil, nil, errInvalidRequest("unknown client")
	} else if ferr != nil {
		return nil, nil, s.internalError(ctx, "find client", ferr)
	}
	redirect, ok := matchRedirectURI(client.RedirectURIs, vals.Get("redirect_uri"))
	if !ok {
		return nil, nil, errInvalidRequest("the redirect_uri is not registered for this client")
	}
	req := &authzRequest{Client: client, RedirectURI: redirect, RedirectParam: vals.Get("redirect_uri"), State: vals.Get("state"), Raw: raw, Prompt: vals.Get("prompt")}
	fail := func(e *Error) (*authzRequest, *redirectError, *Error) {
		return nil, &redirectError{Error: e, redirectURI: redirect, state: req.State}, nil
	}
	for _, k := range authzParams {
		if len(vals[k]) > 1 {
			return fail(errInvalidRequest("parameter " + quoteParam(k) + " must not be repeated"))
		}
	}
	if !client.AllowsGrant(gatehouse.GrantAuthorizationCode) {
		return fail(&Error{Status: 400, Code: "unauthorized_client", Description: "client may not use the authorization code flow"})
	}
	if !vals.Has("response_type") {
		return fail(errInvalidRequest("missing response_type"))
	}
	if rt := vals.Get("response_type"); rt != "code" {
		return fail(&Error{Status: 400, Code: "unsupported_response_type", Description: "only response_type=code is supported"})
	}
	if vals.Has("request") || vals.Has("request_uri") {
		return fail(&Error{Status: 400, Code: "request_not_supported", Description: "request objects are not supported"})
	}
	if rm := vals.Get("response_mode"); rm != "" && rm != "query" {
		return fail(errInvalidRequest("only response_mode=query is supported"))
	}
	switch req.Prompt {
	case "", "none", "login", "consent":
	default:
		return fail(errInvalidRequest("prompt must be none, login or consent"))
	}
	// PKCE (RFC 7636, RFC 9700 2.1.1): S256 only; required for public clients.
	req.Challenge = vals.Get("code_challenge")
	method := vals.Get("code_challenge_method")
	switch {
	case req.Challenge == "" && method != "":
		return fail(errInvalidRequest("code_challenge_method without code_challenge"))
	case req.Challenge == "" && client.AuthMethod == gatehouse.AuthNone:
		return fail(errInvalidRequest("PKCE is required: send code_challenge with code_challenge_method=S256"))
	case req.Challenge != "" && method != "S256":
		return fail(errInvalidRequest("code_challenge_method must be S256"))
	case req.Challenge != "" && !validChallenge(req.Challenge):
		return fail(errInvalidRequest("code_challenge must be the base64url SHA-256 of the verifier (43 characters)"))
	}
	// RFC 9449 §10: dpop_jkt is the thumbprint of the key that must redeem
	// the code; same form as a challenge (base64url SHA-256).
	if req.DPoPJKT = vals.Get("dpop_jkt"); vals.Has("dpop_jkt") && !validChallenge(req.DPoPJKT) {
		return fail(errInvalidRequest("dpop_jkt must be the base64url SHA-256 JWK thumbprint of the DPoP key (43 characters)"))
	}
	api, g, e := s.selectAPI(ctx, client, vals["resource"], s.now())
	if e != nil {
		return fail(e)
	}
	req.API = api
	if req.Scopes, e = selectScopes(vals.Get("scope"), vals.Has("scope"), api, &g.acc); e != nil {
		return fail(e)
	}
	return req, nil, nil
}

// matchRedirectURI finds the registered redirect URI a request names. Match
// is exact string comparison (RFC 9700 2.1), except that a native app's
// loopback redirect URI may use any port (RFC 8252 7.3). With no
// redirect_uri, a client with exactly one registered gets that one.
func matchRedirectURI(registered []string, requested string) (string, bool) {
	if requested == "" {
		if len(registered) == 1 {
			return registered[0], true
		}
		return "", false
	}
	if strings.ContainsAny(requested, "#\x00") || len(requested) > 2048 {
		return "", false
	}
	for _, r := range registered {
		if r == requested {
			return requested, true
		}
	}
	ru, err := url.Parse(requested)
	if err != nil || ru.Scheme != "http" || !isLoopbackIP(ru.Hostname()) || ru.User != nil || !validPort(ru.Port()) || strings.HasSuffix(ru.Host, ":") {
		return "", false
	}
	for _, r := range registered {
		gu, err := url.Parse(r)
		if err != nil || gu.Scheme != "http" || gu.Hostname() != ru.Hostname() || gu.User != nil {
			continue
		}
		if gu.EscapedPath() == ru.EscapedPath() && gu.RawQuery == ru.RawQuery && !ru.ForceQuery && !gu.ForceQuery {
			return requested, true
		}
	}
	return "", false
}

// validPort accepts no port or a port number 1-65535.
func validPort(p string) bool {
	if p == "" {
		return true
	}
	n, err := strconv.Atoi(p)
	return err == nil && n >= 1 && n <= 65535 && strconv.Itoa(n) == p
}

func isLoopbackIP(h string) bool {
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback() && (h == "127.0.0.1" || h == "::1")
}

func validChallenge(c string) bool {
	if len(c) != 43 {
		return false
	}
	for i := 0; i < len(c); i++ {
		if !isUnreserved(c[i]) || c[i] == '.' || c[i] == '~' {
			return false
		}
	}
	return true
}

// isUnreserved is RFC 3986's unreserved set, the alphabet of a PKCE
// verifier (RFC 7636 4.1).
func isUnreserved(c byte) bool {
	return c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '.' || c == '_' || c == '~'
}

// verifyPKCE checks a code_verifier against an S256 challenge in constant time.
func verifyPKCE(challenge, verifier string) bool {
	if len(verifier) < 43 || len(verifier) > 128 {
		return false
	}
	for i := 0; i < len(verifier); i++ {
		if !isUnreserved(verifier[i]) {
			return false
		}
	}
	sum := sha256.Sum256([]byte(verifier))
	want := base64.RawURLEncoding.EncodeToString(sum[:])
	return subtle.ConstantTimeCompare([]byte(want), []byte(challenge)) == 1
}

// redirectTo sends the authorization response to the client, always with
// iss (RFC 9207) and the untouched state.
func (s *Server) redirectTo(w http.ResponseWriter, r *http.Request, redirectURI string, params url.Values, state string) {
	if state != "" {
		params.Set("state", state)
	}
	params.Set("iss", s.Issuer)
	sep := "?"
	if strings.Contains(redirectURI, "?") {
		sep = "&"
	}
	status := http.StatusFound
	if r.Method == http.MethodPost {
		status = http.StatusSeeOther // RFC 9700 4.12: never 307 after a POST of credentials
	}
	// Set Location ourselves: http.Redirect would also write an HTML body
	// with a link, which for an odd registered scheme is a needless risk.
	h := w.Header()
	h.Set("Cache-Control", "no-store")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Location", redirectURI+sep+params.Encode())
	w.WriteHeader(status)
}

func (s *Server) redirectError(w http.ResponseWriter, r *http.Request, re *redirectError) {
	p := url.Values{"error": {re.Code}}
	if re.Description != "" {
		p.Set("error_description", re.Description)
	}
	s.redirectTo(w, r, re.redirectURI, p, re.state)
}
