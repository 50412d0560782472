// Package edge holds the checks the gateway runs on every request before
// proxying it: the credential a route takes, token verification in process
// (Gatehouse's own tokens and those of configured external issuers),
// audience, scopes, client networks, plain-HTTP refusal, traffic limits and
// what is sent upstream instead of the client's token. Each check is an
// http.Handler middleware; Checks.Middleware folds them in order.
package edge

import (
	"context"
	"encoding/json"
	"net/http"
	"net/netip"
	"strings"

	"github.com/gatehouse/gatehouse"
)

// RequestInfo is what the router learned about a request.
type RequestInfo struct {
	API        *gatehouse.API
	Route      *gatehouse.Route
	RouteKey   string // stable id of the route, for per-route limits
	RequestID  string
	ClientAddr netip.Addr
	// Claims are the verified claims of the request's credential once
	// Checks.Authenticate has accepted it and recorded them with
	// Checks.SetClaims; nil before, and on routes that take no credential.
	Claims *gatehouse.AccessClaims
}

// TokenVerifier verifies Gatehouse's own access tokens and API keys.
type TokenVerifier interface {
	Verify(ctx context.Context, tok string) (*gatehouse.AccessClaims, error)
	VerifyAPIKey(ctx context.Context, key string) (*gatehouse.AccessClaims, error)
}

// ExternalVerifier verifies tokens of configured external issuers: tok
// with whichever of the issuers called names it claims to come from.
// Refusals are *token.InvalidError like the own verifier's.
type ExternalVerifier interface {
	Verify(ctx context.Context, tok string, names []string) (*gatehouse.AccessClaims, error)
}

type ctxKey struct{}

// ClaimsFrom returns the verified claims of the request's credential, if
// Checks.Authenticate put them in the context (without Checks.SetClaims).
func ClaimsFrom(ctx context.Context) *gatehouse.AccessClaims {
	c, _ := ctx.Value(ctxKey{}).(*gatehouse.AccessClaims)
	return c
}

// claimsOf returns the verified claims of r's credential, wherever
// Checks.Authenticate recorded them: in info, or in the context.
func claimsOf(r *http.Request, info RequestInfo) *gatehouse.AccessClaims {
	if info.Claims != nil {
		return info.Claims
	}
	return ClaimsFrom(r.Context())
}

// maxAuthorization caps the Authorization header before any parsing.
const maxAuthorization = 8 << 10

// problem is the JSON body of a refusal. It says what is wrong in terms that
// leak nothing: never whether a token exists or why exactly it failed.
type problem struct {
	Error     string `json:"error"`
	Message   string `json:"message"`
	RequestID string `json:"request_id,omitempty"`
}

func writeProblem(w http.ResponseWriter, status int, code, msg, reqID string) {
	noteRefusal(w, code)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(problem{Error: code, Message: msg, RequestID: reqID})
}

// bearerChallenge builds an RFC 6750 section 3 WWW-Authenticate value.
func bearerChallenge(code, desc, scope string) string {
	var b strings.Builder
	b.WriteString(`Bearer realm="gatehouse"`)
	if code != "" {
		b.WriteString(`, error="`)
		b.WriteString(code)
		b.WriteString(`"`)
	}
	if desc != "" {
		b.WriteString(`, error_description="`)
		b.WriteString(desc)
		b.WriteString(`"`)
	}
	if scope != "" {
		b.WriteString(`, scope="`)
		b.WriteString(scope)
		b.WriteString(`"`)
	}
	return b.String()
}

// extractToken returns the access token of an Authorization header with
// the Bearer (RFC 6750 2.1) or the DPoP (RFC 9449 §7.1) scheme: exactly one
// header, scheme case-insensitive, a token68 value. isDPoP says which
// scheme. present with a message means the request is malformed.
func extractToken(r *http.Request) (tok string, isDPoP, present bool, msg string) {
	// Indexed by the canonical name: Header.Values would canonicalise it
	// again on every request.
	vals := r.Header["Authorization"]
	if len(vals) == 0 {
		return "", false, false, ""
	}
	if len(vals) > 1 {
		return "", false, true, "send exactly one Authorization header"
	}
	h := vals[0]
	if len(h) > maxAuthorization {
		return "", false, true, "the Authorization header is too large"
	}
	scheme, rest, ok := strings.Cut(h, " ")
	switch {
	case ok && strings.EqualFold(scheme, "Bearer"):
	case ok && strings.EqualFold(scheme, "DPoP"):
		isDPoP = true
	default:
		return "", false, true, "use the Bearer or DPoP authentication scheme"
	}
	tok = strings.TrimLeft(rest, " ")
	if tok == "" || !isToken68(tok) {
		return "", false, true, "the access token is malformed"
	}
	return tok, isDPoP, true, ""
}

// isToken68 checks RFC 7235 token68: 1*( ALPHA / DIGIT / "-" / "." / "_" /
// "~" / "+" / "/" ) *"=". It runs on every token the gateway sees (a JWT is
// hundreds of bytes), so it looks characters up in a table, eight at a
// time: the AND of their entries is 1 only when all eight are token68.
func isToken68(s string) bool {
	i := 0
	for ; i+8 <= len(s); i += 8 {
		b := s[i : i+8]
		t := &token68Chars
		if t[b[0]]&t[b[1]]&t[b[2]]&t[b[3]]&t[b[4]]&t[b[5]]&t[b[6]]&t[b[7]] == 0 {
			break
		}
	}
	for i < len(s) && token68Chars[s[i]] != 0 {
		i++
	}
	if i == 0 {
		return false
	}
	for ; i < len(s); i++ {
		if s[i] != '=' {
			return false
		}
	}
	return true
}

// token68Chars is 1 for the bytes of token68 before its padding, else 0.
var token68Chars = func() (t [256]uint8) {
	for c := 'a'; c <= 'z'; c++ {
		t[c], t[c-'a'+'A'] = 1, 1
	}
	for c := '0'; c <= '9'; c++ {
		t[c] = 1
	}
	for _, c := range "-._~+/" {
		t[c] = 1
	}
	return t
}()

// hasScopes reports whether claims satisfy the route's scopes.
func hasScopes(c *gatehouse.AccessClaims, rt *gatehouse.Route) bool {
	if len(rt.Scopes) == 0 {
		return true
	}
	if rt.ScopeMode == "any" {
		for _, s := range rt.Scopes {
			if c.HasScope(s) {
				return true
			}
		}
		return false
	}
	for _, s := range rt.Scopes {
		if !c.HasScope(s) {
			return false
		}
	}
	return true
}
