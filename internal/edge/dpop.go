package edge

import (
	"errors"
	"net/http"
	"strings"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/internal/dpop"
)

// DPoP at the gateway (RFC 9449 §7). A token bound to a key (cnf.jkt) is
// accepted only with the DPoP scheme and a proof by that key for this very
// request: method, URL and the token's hash (ath), never seen before. A
// bound token sent as Bearer is refused, and so is an unbound one sent as
// DPoP. An API with dpop: required refuses unbound tokens altogether.

// checkDPoP enforces the token's binding and the API's DPoP policy on a
// request whose token verified. isDPoP says which scheme carried the token.
// It writes the refusal and returns false, or returns true.
func (c *Checks) checkDPoP(w http.ResponseWriter, r *http.Request, info RequestInfo, tok string, isDPoP bool, claims *gatehouse.AccessClaims) bool {
	bound := claims.Cnf.JKT != ""
	switch {
	case !isDPoP && bound:
		// RFC 9449 §7.2: a DPoP-bound token presented as a bearer token is
		// the very theft this binding exists to stop.
		c.log().InfoContext(r.Context(), "token refused", "request_id", info.RequestID, "api", info.API.Name, "reason", "dpop_bound_as_bearer")
		c.dpopRefusal(w, info, http.StatusUnauthorized, "invalid_token", "this access token is DPoP-bound: send it with the DPoP scheme and a DPoP proof", "")
		return false
	case !isDPoP && info.API.DPoP == gatehouse.DPoPRequired:
		c.dpopRefusal(w, info, http.StatusUnauthorized, "invalid_token", "this API requires a DPoP-bound access token", "")
		return false
	case !isDPoP:
		return true
	case !bound:
		c.dpopRefusal(w, info, http.StatusUnauthorized, "invalid_token", "the access token is not DPoP-bound; send it with the Bearer scheme", "")
		return false
	}
	proofs := r.Header["Dpop"] // Values("DPoP") without canonicalising
	if len(proofs) != 1 {
		c.dpopRefusal(w, info, http.StatusUnauthorized, dpop.CodeInvalidProof, "send exactly one DPoP proof header", "")
		return false
	}
	v := c.DPoP
	if info.API.DPoPNonce {
		v = c.DPoPNonce
	}
	if v == nil {
		c.log().ErrorContext(r.Context(), "dpop verifier missing", "request_id", info.RequestID, "api", info.API.Name)
		writeProblem(w, http.StatusServiceUnavailable, "temporarily_unavailable", "the DPoP proof could not be checked; retry later", info.RequestID)
		return false
	}
	p, err := v.Verify(proofs[0], r.Method, externalURL(r, c.Origin), tok)
	if err != nil {
		var de *dpop.Error
		switch {
		case errors.Is(err, dpop.ErrReplayCacheFull):
			c.log().WarnContext(r.Context(), "dpop replay cache full", "request_id", info.RequestID)
			w.Header().Set("Retry-After", "1")
			writeProblem(w, http.StatusServiceUnavailable, "temporarily_unavailable", "server busy; retry later", info.RequestID)
		case errors.As(err, &de):
			c.log().InfoContext(r.Context(), "dpop proof refused", "request_id", info.RequestID, "api", info.API.Name, "code", de.Code, "reason", de.Message)
			c.dpopRefusal(w, info, http.StatusUnauthorized, de.Code, de.Message, de.Nonce)
		default:
			c.log().ErrorContext(r.Context(), "dpop check failed", "request_id", info.RequestID, "err", err)
			writeProblem(w, http.StatusServiceUnavailable, "temporarily_unavailable", "the DPoP proof could not be checked; retry later", info.RequestID)
		}
		return false
	}
	if p.Thumbprint != claims.Cnf.JKT {
		c.log().InfoContext(r.Context(), "dpop proof refused", "request_id", info.RequestID, "api", info.API.Name, "reason", "proof key is not the token's")
		c.dpopRefusal(w, info, http.StatusUnauthorized, dpop.CodeInvalidProof, "the DPoP proof is not signed by the key the access token is bound to", "")
		return false
	}
	if n := v.NextNonce(p); n != "" {
		w.Header().Set("DPoP-Nonce", n)
	}
	return true
}

// dpopRefusal answers 401 with a DPoP challenge (RFC 9449 §7.1, §12.2):
// error, description and the accepted algorithms; with a nonce, the
// DPoP-Nonce header too (§9).
func (c *Checks) dpopRefusal(w http.ResponseWriter, info RequestInfo, status int, code, msg, nonce string) {
	if nonce != "" {
		w.Header().Set("DPoP-Nonce", nonce)
	}
	w.Header().Set("WWW-Authenticate", c.dpopChallenge(code, msg))
	writeProblem(w, status, code, msg, info.RequestID)
}

// dpopChallenge builds a DPoP WWW-Authenticate value (RFC 9449 §7.1). The
// description is one of our own fixed messages; quotes, backslashes and
// anything outside printable ASCII are replaced all the same, so that no
// message can break the header's syntax (RFC 6750 §3 limits
// error_description to that set).
func (c *Checks) dpopChallenge(code, desc string) string {
	desc = strings.Map(func(r rune) rune {
		switch {
		case r == '"':
			return '\''
		case r == '\\':
			return '/'
		case r < 0x20 || r > 0x7e:
			return '?'
		}
		return r
	}, desc)
	var b strings.Builder
	b.WriteString(`DPoP`)
	sep := " "
	if code != "" {
		b.WriteString(sep + `error="` + code + `"`)
		sep = ", "
	}
	if desc != "" {
		b.WriteString(sep + `error_description="` + desc + `"`)
		sep = ", "
	}
	b.WriteString(sep + `algs="` + c.dpopAlgs() + `"`)
	return b.String()
}

func (c *Checks) dpopAlgs() string {
	algs := dpop.DefaultAllowedAlgs
	if c.DPoP != nil && len(c.DPoP.AllowedAlgs) > 0 {
		algs = c.DPoP.AllowedAlgs
	}
	s := make([]string, len(algs))
	for i, a := range algs {
		s[i] = string(a)
	}
	return strings.Join(s, " ")
}

// externalURL is the URL the client used for r, which a proof's htu must
// name (RFC 9449 §4.3 step 9): the scheme and host origin gives (the
// gateway's rules for trusted proxies, proxy.ExternalOrigin), or without
// one the listener's scheme and the Host header. The query is left out;
// htu has none.
func externalURL(r *http.Request, origin func(*http.Request) (scheme, host string)) string {
	scheme, host := "http", r.Host
	if r.TLS != nil {
		scheme = "https"
	}
	if origin != nil {
		scheme, host = origin(r)
	}
	return scheme + "://" + host + r.URL.EscapedPath()
}
