package oauth

import (
	"errors"
	"net/http"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/internal/dpop"
)

// DPoP error codes at the token endpoint (RFC 9449 §5, §8).
const (
	codeInvalidDPoPProof = dpop.CodeInvalidProof
	codeUseDPoPNonce     = dpop.CodeUseNonce
)

func errInvalidDPoPProof(desc string) *Error {
	return &Error{Status: http.StatusBadRequest, Code: codeInvalidDPoPProof, Description: desc}
}

// tokenDPoP checks the DPoP header of a token request (RFC 9449 §5) and
// returns the proof, whose key's thumbprint the new tokens are bound to, or
// nil when the request has no proof. It runs before the client
// authenticates, so that a use_dpop_nonce round trip does not consume a
// client assertion, but it does not record the proof: the token endpoint
// calls useDPoP once a confidential client has authenticated, and a public
// client's grant once the code or refresh token it presents is found valid
// (TokenRequest.UseProof), so a request refused before that (no or bad
// credentials, the failure limiter, a made-up code) neither uses up a proof
// its legitimate sender will retry with nor fills the replay cache.
//
// The proof's htu must name the token endpoint as the client used it
// (RFC 9449 §4.3 step 9): the one the metadata advertises (the issuer's
// URL, right behind a TLS-terminating proxy too), or this request's own URL
// (the listener's scheme and the Host header), for clients that reach a
// listener directly under another name, such as the HTTPS listener. A
// proof's htu only stops its replay at another server; here a replayed
// proof could only get a token bound to its owner's key.
func (s *Server) tokenDPoP(w http.ResponseWriter, r *http.Request) (*dpop.Proof, *Error) {
	proofs := r.Header.Values("DPoP")
	switch {
	case len(proofs) == 0:
		return nil, nil
	case len(proofs) > 1:
		return nil, errInvalidDPoPProof("send exactly one DPoP header")
	case s.DPoP == nil:
		return nil, errInvalidDPoPProof("DPoP is not enabled on this server")
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	p, err := s.DPoP.CheckAny(proofs[0], http.MethodPost, []string{s.Issuer + PathToken, scheme + "://" + r.Host + PathToken}, "")
	if err != nil {
		return nil, s.dpopError(r, err)
	}
	if n := s.DPoP.NextNonce(p); n != "" {
		w.Header().Set("DPoP-Nonce", n)
	}
	return p, nil
}

// useDPoP records the checked proof of an authenticated token request as
// used (RFC 9449 §11.1): a proof accepted once is refused after, "proof was
// already used". It returns the thumbprint the new tokens are bound to, ""
// without a proof.
func (s *Server) useDPoP(r *http.Request, p *dpop.Proof) (string, *Error) {
	if p == nil {
		return "", nil
	}
	if err := s.DPoP.Use(p); err != nil {
		return "", s.dpopError(r, err)
	}
	return p.Thumbprint, nil
}

// dpopError turns a failed proof check into the token endpoint's answer:
// 400 invalid_dpop_proof, or 400 use_dpop_nonce with a DPoP-Nonce header
// (RFC 9449 §8). A full replay cache is an overload, not the client's fault.
func (s *Server) dpopError(r *http.Request, err error) *Error {
	var de *dpop.Error
	if !errors.As(err, &de) {
		return s.internalError(r.Context(), "verify dpop proof", err)
	}
	if errors.Is(err, dpop.ErrReplayCacheFull) {
		s.log().WarnContext(r.Context(), "dpop replay cache full")
		return &Error{Status: http.StatusServiceUnavailable, Code: "temporarily_unavailable", Description: "server busy; retry later", RetryAfter: 1}
	}
	e := &Error{Status: http.StatusBadRequest, Code: de.Code, Description: de.Message}
	if de.Code == codeUseDPoPNonce {
		e.dpopNonce = de.Nonce
	}
	return e
}

// checkClientDPoP refuses an unbound token request from a client that
// must use DPoP (RFC 9449 §5.2, dpop_bound_access_tokens).
func checkClientDPoP(c *gatehouse.Client, jkt string) *Error {
	if c.DPoPBound && jkt == "" {
		return errInvalidDPoPProof("this client must send a DPoP proof: its tokens are always DPoP-bound")
	}
	return nil
}

// checkBinding refuses a request whose proof is not by the key a code or
// refresh token is bound to (RFC 9449 §5, §10).
func checkBinding(boundJKT, jkt, what string) *Error {
	if boundJKT == "" || boundJKT == jkt {
		return nil
	}
	if jkt == "" {
		return errInvalidDPoPProof("the " + what + " is bound to a DPoP key: send a DPoP proof by that key")
	}
	return errInvalidDPoPProof("the DPoP proof is not by the key the " + what + " is bound to")
}

// dpopAlgs lists the proof algorithms the token endpoint accepts, for the
// metadata (RFC 9449 §5.1).
func (s *Server) dpopAlgs() []string {
	if s.DPoP == nil {
		return nil
	}
	algs := s.DPoP.AllowedAlgs
	if len(algs) == 0 {
		algs = dpop.DefaultAllowedAlgs
	}
	out := make([]string, len(algs))
	for i, a := range algs {
		out[i] = string(a)
	}
	return out
}
