package edge

import (
	"context"
	"log/slog"
	"net/http"
	"net/netip"
	"net/url"
	"strings"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/internal/dpop"
	"github.com/gatehouse/gatehouse/internal/token"
)

// Networks decides whether an address may be used.
type Networks interface {
	Allowed(addr netip.Addr) bool
}

// Checks runs the credential checks of the gateway. Fields are set before
// the first request and not changed after.
type Checks struct {
	// Info returns what the router matched; requests without a match never
	// reach the checks.
	Info func(r *http.Request) (RequestInfo, bool)
	// SetClaims, when set, records the accepted credential's claims where
	// Info returns them to the rest of the chain (RequestInfo.Claims), and
	// reports whether it did. Otherwise, or when it reports false, they go
	// in a copy of the request with a new context (ClaimsFrom), which costs
	// two allocations per request.
	SetClaims func(r *http.Request, c *gatehouse.AccessClaims) bool
	Tokens    TokenVerifier
	External  ExternalVerifier // optional
	// AllowPlainHTTP accepts credentials on plain HTTP from non-loopback
	// clients. Off by default: a token sent in clear is as good as leaked.
	AllowPlainHTTP bool
	// ClientNetworks returns the network restrictions of a client, or nil.
	ClientNetworks func(clientID string) Networks
	// Secure reports whether a plain-HTTP request came through a trusted
	// proxy that terminated TLS (proxy.SecureFrom). Asked only when a
	// credential arrives in clear from another machine.
	Secure func(*http.Request) bool
	// Origin returns the scheme and host the client used, by the gateway's
	// rules for trusted proxies (proxy.ExternalOrigin), for the htu of DPoP
	// proofs. Nil: the listener's scheme and the Host header.
	Origin func(*http.Request) (scheme, host string)
	// DPoP verifies DPoP proofs (RFC 9449 §7); DPoPNonce is the same with
	// NonceRequired, for APIs with dpop_nonce. Give both one replay cache.
	// With DPoP nil, DPoP-bound tokens are refused.
	DPoP, DPoPNonce *dpop.Verifier
	Log             *slog.Logger
}

func (c *Checks) log() *slog.Logger {
	if c.Log != nil {
		return c.Log
	}
	return slog.Default()
}

// Authenticate is the middleware that admits only requests whose
// credential the route accepts.
func (c *Checks) Authenticate(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		info, ok := c.Info(r)
		if !ok {
			next.ServeHTTP(w, r)
			return
		}
		rt := info.Route
		if !rt.AllowQueryToken && queryHasAccessToken(r.URL.RawQuery) {
			w.Header().Set("WWW-Authenticate", bearerChallenge("invalid_request", "", ""))
			writeProblem(w, http.StatusBadRequest, "invalid_request", "access tokens in the URL are not accepted; send them in the Authorization header", info.RequestID)
			return
		}
		var claims *gatehouse.AccessClaims
		var isDPoP bool
		switch rt.Credential {
		case gatehouse.CredentialNone:
			next.ServeHTTP(w, r)
			return
		case gatehouse.CredentialAPIKey:
			claims = c.apiKey(w, r, info)
		default:
			claims, isDPoP = c.bearer(w, r, info)
		}
		if claims == nil {
			return // refused; the answer is written
		}
		noteAccepted(r.Context(), claims, rt.Credential == gatehouse.CredentialAPIKey)
		noteClaims(w, claims)
		if !hasScopes(claims, rt) {
			need := strings.Join(rt.Scopes, " ")
			if isDPoP {
				w.Header().Set("WWW-Authenticate", c.dpopChallenge("insufficient_scope", "")+`, scope="`+need+`"`)
			} else {
				w.Header().Set("WWW-Authenticate", bearerChallenge("insufficient_scope", "", need))
			}
			writeProblem(w, http.StatusForbidden, "insufficient_scope", "the token lacks the scope this route requires: "+need, info.RequestID)
			return
		}
		if c.ClientNetworks != nil {
			if n := c.ClientNetworks(claims.ClientID); n != nil && !n.Allowed(info.ClientAddr) {
				writeProblem(w, http.StatusForbidden, "forbidden", "this client may not call from this network", info.RequestID)
				return
			}
		}
		if c.SetClaims == nil || !c.SetClaims(r, claims) {
			r = r.WithContext(context.WithValue(r.Context(), ctxKey{}, claims))
		}
		next.ServeHTTP(w, r)
	})
}

// queryHasAccessToken is url.Values.Has("access_token") on the parsed raw
// query, without parsing it (a map per request) when the name cannot be in
// it: in a query without escapes, names decode only '+', so access_token
// is there only as written.
func queryHasAccessToken(raw string) bool {
	if raw == "" || !strings.Contains(raw, "access_token") && !strings.Contains(raw, "%") {
		return false
	}
	q, _ := url.ParseQuery(raw)
	return q.Has("access_token")
}

// plainHTTPRefused reports (and answers) a credential sent in clear from
// another machine.
func (c *Checks) plainHTTPRefused(w http.ResponseWriter, r *http.Request, info RequestInfo) bool {
	if r.TLS != nil || c.AllowPlainHTTP || info.ClientAddr.IsLoopback() || (c.Secure != nil && c.Secure(r)) {
		return false
	}
	writeProblem(w, http.StatusBadRequest, "invalid_request", "credentials are refused over plain HTTP; use HTTPS (and treat the credential you sent as exposed)", info.RequestID)
	return true
}

// bearer checks the route's access token: Authorization: Bearer, or
// Authorization: DPoP with a DPoP proof (RFC 9449 §7). It returns the
// claims and whether the DPoP scheme was used, or nil once it has answered.
func (c *Checks) bearer(w http.ResponseWriter, r *http.Request, info RequestInfo) (*gatehouse.AccessClaims, bool) {
	tok, isDPoP, present, msg := extractToken(r)
	if present && info.Route.AllowQueryToken && r.URL.Query().Has("access_token") {
		// RFC 6750 section 2: one method per request.
		present, msg = true, "send the access token in one place only"
	}
	if !present && info.Route.AllowQueryToken {
		if q := r.URL.Query()["access_token"]; len(q) == 1 {
			tok, present = q[0], true
		} else if len(q) > 1 {
			present, msg = true, "send one access_token"
		}
	}
	if !present {
		// RFC 6750 3.1: no error code when the request had no credential.
		// Each scheme the API takes gets its challenge (RFC 9449 §7.1).
		if info.API.DPoP != gatehouse.DPoPRequired {
			w.Header().Add("WWW-Authenticate", bearerChallenge("", "", ""))
		}
		if c.DPoP != nil {
			w.Header().Add("WWW-Authenticate", c.dpopChallenge("", ""))
		}
		writeProblem(w, http.StatusUnauthorized, "unauthorized", "this route needs an access token", info.RequestID)
		return nil, false
	}
	if msg != "" {
		w.Header().Set("WWW-Authenticate", bearerChallenge("invalid_request", "", ""))
		writeProblem(w, http.StatusBadRequest, "invalid_request", msg, info.RequestID)
		return nil, false
	}
	if c.plainHTTPRefused(w, r, info) {
		return nil, false
	}
	claims, err := c.verify(r.Context(), info.API, tok)
	if err != nil {
		if token.ReasonOf(err) == "" {
			c.log().ErrorContext(r.Context(), "token check failed", "request_id", info.RequestID, "err", err)
			writeProblem(w, http.StatusServiceUnavailable, "temporarily_unavailable", "the token could not be checked; retry later", info.RequestID)
			return nil, false
		}
		c.log().InfoContext(r.Context(), "token refused", "request_id", info.RequestID, "api", info.API.Name, "reason", string(token.ReasonOf(err)))
		noteRefused(r.Context(), err, false)
		if isDPoP {
			w.Header().Set("WWW-Authenticate", c.dpopChallenge("invalid_token", ""))
		} else {
			w.Header().Set("WWW-Authenticate", bearerChallenge("invalid_token", "", ""))
		}
		writeProblem(w, http.StatusUnauthorized, "invalid_token", "the access token is invalid, expired or revoked", info.RequestID)
		noteRefusal(w, "invalid_token:"+string(token.ReasonOf(err)))
		return nil, false
	}
	if certificateMismatch(r, claims) {
		c.log().InfoContext(r.Context(), "token refused", "request_id", info.RequestID, "api", info.API.Name, "reason", "certificate_mismatch")
		if isDPoP {
			w.Header().Set("WWW-Authenticate", c.dpopChallenge("invalid_token", ""))
		} else {
			w.Header().Set("WWW-Authenticate", bearerChallenge("invalid_token", "", ""))
		}
		writeProblem(w, http.StatusUnauthorized, "invalid_token", "the access token is bound to a client certificate; present that certificate over HTTPS", info.RequestID)
		return nil, false
	}
	if !c.checkDPoP(w, r, info, tok, isDPoP, claims) {
		return nil, false
	}
	return claims, isDPoP
}

// verify checks tok with Gatehouse's own keys and, when they do not know
// it and the API accepts external issuers, with those; then the audience.
// Gatehouse's own tokens go first so that their cached path stays cheap.
func (c *Checks) verify(ctx context.Context, api *gatehouse.API, tok string) (*gatehouse.AccessClaims, error) {
	claims, err := c.Tokens.Verify(ctx, tok)
	if err != nil {
		switch token.ReasonOf(err) {
		case token.ReasonUnknownKey, token.ReasonIssuer, token.ReasonType:
			if c.External != nil && len(api.ExternalIssuers) > 0 && !strings.HasPrefix(tok, token.PrefixAccess) {
				return c.External.Verify(ctx, tok, api.ExternalIssuers)
			}
		}
		return nil, err
	}
	if claims.Audience != api.Audience {
		// RFC 6750 3.1: a token for another resource is invalid_token here.
		return nil, &token.InvalidError{Reason: "wrong_audience"}
	}
	return claims, nil
}

func (c *Checks) apiKey(w http.ResponseWriter, r *http.Request, info RequestInfo) *gatehouse.AccessClaims {
	vals := r.Header["X-Api-Key"] // Values("X-API-Key") without canonicalising
	switch {
	case len(vals) == 0:
		w.Header().Set("WWW-Authenticate", `APIKey realm="gatehouse", header="X-API-Key"`)
		writeProblem(w, http.StatusUnauthorized, "unauthorized", "this route needs an API key in the X-API-Key header", info.RequestID)
		return nil
	case len(vals) > 1 || len(vals[0]) > 256:
		writeProblem(w, http.StatusBadRequest, "invalid_request", "send exactly one X-API-Key header", info.RequestID)
		return nil
	}
	if c.plainHTTPRefused(w, r, info) {
		return nil
	}
	claims, err := c.Tokens.VerifyAPIKey(r.Context(), vals[0])
	if err == nil && claims.Audience != info.API.Audience {
		err = &token.InvalidError{Reason: "wrong_audience"}
	}
	if err != nil {
		if token.ReasonOf(err) == "" {
			c.log().ErrorContext(r.Context(), "API key check failed", "request_id", info.RequestID, "err", err)
			writeProblem(w, http.StatusServiceUnavailable, "temporarily_unavailable", "the API key could not be checked; retry later", info.RequestID)
			return nil
		}
		noteRefused(r.Context(), err, true)
		w.Header().Set("WWW-Authenticate", `APIKey realm="gatehouse", header="X-API-Key"`)
		writeProblem(w, http.StatusUnauthorized, "invalid_api_key", "the API key is invalid, expired or revoked", info.RequestID)
		noteRefusal(w, "invalid_api_key:"+string(token.ReasonOf(err)))
		return nil
	}
	return claims
}
