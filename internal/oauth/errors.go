package oauth

import (
	"encoding/json"
	"net/http"
	"strconv"
)

// Error is an OAuth error response (RFC 6749 section 5.2, RFC 7591 section
// 3.2.2, RFC 6750 section 3.1). Description is shown to the client, so it
// says what is wrong without revealing secrets or whether a token exists.
type Error struct {
	Status      int
	Code        string
	Description string
	// RetryAfter, when positive, is sent as Retry-After seconds.
	RetryAfter int
	// basicChallenge asks for HTTP Basic credentials (RFC 6749 5.2: a 401
	// answer to a client that used the Authorization header).
	basicChallenge bool
	// allow is sent as the Allow header of a 405 (RFC 9110 15.5.6).
	allow string
	// noChallengeCode leaves the error code out of a Bearer challenge.
	noChallengeCode bool
	// dpopNonce is sent as the DPoP-Nonce header of a use_dpop_nonce
	// answer (RFC 9449 §8).
	dpopNonce string
}

func (e *Error) Error() string { return "oauth: " + e.Code + ": " + e.Description }

func errInvalidRequest(desc string) *Error {
	return &Error{Status: http.StatusBadRequest, Code: "invalid_request", Description: desc}
}
func errInvalidClient(desc string) *Error {
	return &Error{Status: http.StatusUnauthorized, Code: "invalid_client", Description: desc}
}
func errInvalidGrant(desc string) *Error {
	return &Error{Status: http.StatusBadRequest, Code: "invalid_grant", Description: desc}
}
func errUnauthorizedClient(desc string) *Error {
	return &Error{Status: http.StatusBadRequest, Code: "unauthorized_client", Description: desc}
}
func errUnsupportedGrantType(desc string) *Error {
	return &Error{Status: http.StatusBadRequest, Code: "unsupported_grant_type", Description: desc}
}
func errInvalidScope(desc string) *Error {
	return &Error{Status: http.StatusBadRequest, Code: "invalid_scope", Description: desc}
}
func errInvalidTarget(desc string) *Error {
	return &Error{Status: http.StatusBadRequest, Code: "invalid_target", Description: desc}
}
func errInvalidClientMetadata(desc string) *Error {
	return &Error{Status: http.StatusBadRequest, Code: "invalid_client_metadata", Description: desc}
}
func errInvalidRedirectURI(desc string) *Error {
	return &Error{Status: http.StatusBadRequest, Code: "invalid_redirect_uri", Description: desc}
}
func errServer() *Error {
	return &Error{Status: http.StatusInternalServerError, Code: "server_error", Description: "internal error"}
}

// writeJSON writes v with the headers every OAuth response needs: tokens and
// token metadata must never be cached (RFC 6749 5.1).
func writeJSON(w http.ResponseWriter, status int, v any) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	h.Set("Pragma", "no-cache")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, e *Error) {
	if e.RetryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(e.RetryAfter))
	}
	if e.allow != "" {
		w.Header().Set("Allow", e.allow)
	}
	if e.dpopNonce != "" {
		w.Header().Set("DPoP-Nonce", e.dpopNonce)
	}
	if e.basicChallenge {
		w.Header().Set("WWW-Authenticate", `Basic realm="gatehouse", charset="UTF-8"`)
	}
	writeJSON(w, e.Status, struct {
		Error       string `json:"error"`
		Description string `json:"error_description,omitempty"`
	}{e.Code, safeDescription(e.Description)})
}

// safeDescription keeps error_description within RFC 6749 5.2's character
// set (%x20-21 / %x23-5B / %x5D-7E), whatever a message embedded.
func safeDescription(d string) string {
	b := []byte(d)
	for i, c := range b {
		switch {
		case c == '"':
			b[i] = '\''
		case c == '\\':
			b[i] = '/'
		case c < 0x20 || c > 0x7e:
			b[i] = '?'
		}
	}
	return string(b)
}
