package dpop

import "errors"

// Error codes a DPoP failure is reported with (RFC 9449 §5, §7.1, §8, §9).
const (
	// CodeInvalidProof: the DPoP proof is missing, malformed, badly signed,
	// stale, replayed or for another request. The token endpoint answers 400
	// with {"error":"invalid_dpop_proof"}; a resource server answers 401 with
	// WWW-Authenticate: DPoP error="invalid_dpop_proof".
	CodeInvalidProof = "invalid_dpop_proof"
	// CodeUseNonce: the server wants a nonce it issued in the proof. The
	// response must carry Error.Nonce in the DPoP-Nonce header (RFC 9449 §8.1,
	// §9.1).
	CodeUseNonce = "use_dpop_nonce"
)

// Causes callers can tell apart with errors.Is on an *Error.
var (
	// ErrReplayed: a proof with the same key and jti was already accepted
	// within its validity window (RFC 9449 §11.1).
	ErrReplayed = errors.New("dpop: proof replayed")
	// ErrReplayCacheFull: the replay cache holds as many live entries as it
	// may. The proof may be fine; this is an overload, so a caller may answer
	// 503 rather than blame the client.
	ErrReplayCacheFull = errors.New("dpop: replay cache full")
)

// Error is a refused DPoP proof. Code is the RFC 9449 error code; Message is
// safe to send to the client (it never echoes the proof); Nonce is set with
// CodeUseNonce and goes in the DPoP-Nonce response header. The underlying
// cause, when there is one, is reachable with errors.Is and errors.As and is
// meant for logs only.
type Error struct {
	Code    string
	Message string
	Nonce   string
	cause   error
}

func (e *Error) Error() string {
	if e.cause != nil {
		return "dpop: " + e.Code + ": " + e.Message + ": " + e.cause.Error()
	}
	return "dpop: " + e.Code + ": " + e.Message
}

func (e *Error) Unwrap() error { return e.cause }

func invalid(msg string) *Error { return &Error{Code: CodeInvalidProof, Message: msg} }

func invalidCause(msg string, cause error) *Error {
	return &Error{Code: CodeInvalidProof, Message: msg, cause: cause}
}
