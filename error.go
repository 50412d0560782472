// Package gatehouse holds the domain vocabulary shared by every other package:
// APIs, clients, tokens, signing keys and the error type. It imports only the
// standard library and does no I/O.
package gatehouse

import (
	"errors"
	"fmt"
)

// Error codes. They are stable and machine-readable; surfaces translate them to
// their own wire formats (HTTP status, OAuth error codes, exit codes).
const (
	CodeConflict     = "conflict"     // the resource exists or changed concurrently
	CodeInternal     = "internal"     // a bug or an unavailable dependency
	CodeInvalid      = "invalid"      // the input is malformed or breaks a rule
	CodeNotFound     = "not_found"    // no such resource
	CodeUnauthorized = "unauthorized" // missing or bad credentials
	CodeForbidden    = "forbidden"    // authenticated but not allowed
	CodeUnavailable  = "unavailable"  // temporarily unable to serve; retry later
)

// Error is an application error with a machine code and a message that is safe
// to show to the caller. Errors of any other type are internal: their text is
// logged but never sent on the wire.
type Error struct {
	Code    string
	Message string
}

func (e *Error) Error() string {
	return fmt.Sprintf("gatehouse error: code=%s message=%s", e.Code, e.Message)
}

// Errorf returns an *Error with the given code and formatted message.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// ErrorCode returns the code of the first *Error in err's chain, CodeInternal
// for any other non-nil error, and "" for nil.
func ErrorCode(err error) string {
	var e *Error
	if err == nil {
		return ""
	} else if errors.As(err, &e) {
		return e.Code
	}
	return CodeInternal
}

// ErrorMessage returns the safe message of the first *Error in err's chain, or
// "internal error" for any other non-nil error.
func ErrorMessage(err error) string {
	var e *Error
	if err == nil {
		return ""
	} else if errors.As(err, &e) {
		return e.Message
	}
	return "internal error"
}
