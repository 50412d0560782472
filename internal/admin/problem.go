package admin

import (
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"

	"github.com/gatehouse/gatehouse"
)

// Problem is an RFC 9457 problem document. Field and Reason are extension
// members naming what was wrong with the request and why, so that a script
// can point at the offending input without parsing Detail.
type Problem struct {
	Type   string `json:"type"`
	Title  string `json:"title"`
	Status int    `json:"status"`
	Detail string `json:"detail,omitempty"`
	// Field is the JSON member, query parameter or header at fault, as a
	// dotted path ("scopes", "versions.0.version", "cursor", "If-Match").
	Field  string `json:"field,omitempty"`
	Reason string `json:"reason,omitempty"`
}

func (p *Problem) Error() string { return "admin problem: " + p.Title + ": " + p.Detail }

// Problem types: URNs, stable and documented in the OpenAPI document and
// docs/ADMIN-API.md.
const (
	typeMalformedJSON   = "urn:gatehouse:problem:malformed-json"
	typeUnknownField    = "urn:gatehouse:problem:unknown-field"
	typeWrongType       = "urn:gatehouse:problem:wrong-type"
	typeTooLarge        = "urn:gatehouse:problem:body-too-large"
	typeMediaType       = "urn:gatehouse:problem:unsupported-media-type"
	typeInvalidValue    = "urn:gatehouse:problem:invalid-value"
	typeInvalidParam    = "urn:gatehouse:problem:invalid-parameter"
	typeTransition      = "urn:gatehouse:problem:invalid-transition"
	typeConflict        = "urn:gatehouse:problem:conflict"
	typeNotFound        = "urn:gatehouse:problem:not-found"
	typePrecondition    = "urn:gatehouse:problem:precondition-failed"
	typePreconditionReq = "urn:gatehouse:problem:precondition-required"
	typeUnauthorized    = "urn:gatehouse:problem:unauthorized"
	typeForbidden       = "urn:gatehouse:problem:forbidden"
	typeMethod          = "urn:gatehouse:problem:method-not-allowed"
	typeInternal        = "urn:gatehouse:problem:internal"
)

func problem(status int, typ, title, detail string) *Problem {
	return &Problem{Type: typ, Title: title, Status: status, Detail: detail}
}

// invalidField is a 422: the body parsed but a value breaks a rule.
func invalidField(field, reason string) *Problem {
	return &Problem{Type: typeInvalidValue, Title: "invalid value", Status: http.StatusUnprocessableEntity,
		Detail: field + ": " + reason, Field: field, Reason: reason}
}

// invalidParam is a 400 for a query parameter or path value.
func invalidParam(field, reason string) *Problem {
	return &Problem{Type: typeInvalidParam, Title: "invalid parameter", Status: http.StatusBadRequest,
		Detail: field + ": " + reason, Field: field, Reason: reason}
}

// transition is a 409 for a state change the resource's state machine
// refuses (approving a rejected subscription, publishing a retired API).
func transition(detail string) *Problem {
	return &Problem{Type: typeTransition, Title: "invalid transition", Status: http.StatusConflict, Detail: detail, Field: "state", Reason: detail}
}

func notFound(what string) *Problem {
	return problem(http.StatusNotFound, typeNotFound, "not found", "no such "+what)
}

// writeError answers with the problem err describes. *Problem is sent as
// it is; *gatehouse.Error is mapped by its code; anything else is logged
// and becomes an opaque 500.
func writeError(w http.ResponseWriter, r *http.Request, log *slog.Logger, err error) {
	var p *Problem
	if !errors.As(err, &p) {
		p = problemOf(err)
		if p.Status == http.StatusInternalServerError {
			log.ErrorContext(r.Context(), "admin request failed", "method", r.Method, "path", r.URL.Path, "err", err)
		}
	}
	writeProblem(w, p)
}

// problemOf maps a domain error to a problem.
func problemOf(err error) *Problem {
	msg := gatehouse.ErrorMessage(err)
	switch gatehouse.ErrorCode(err) {
	case gatehouse.CodeNotFound:
		return problem(http.StatusNotFound, typeNotFound, "not found", msg)
	case gatehouse.CodeConflict:
		var te *gatehouse.TransitionError
		if errors.As(err, &te) {
			return transition(te.Error())
		}
		return problem(http.StatusConflict, typeConflict, "conflict", msg)
	case gatehouse.CodeStale:
		return stale()
	case gatehouse.CodeInvalid:
		return problem(http.StatusUnprocessableEntity, typeInvalidValue, "invalid value", msg)
	case gatehouse.CodeForbidden:
		return problem(http.StatusForbidden, typeForbidden, "forbidden", msg)
	case gatehouse.CodeUnauthorized:
		return problem(http.StatusUnauthorized, typeUnauthorized, "unauthorized", msg)
	case gatehouse.CodeUnavailable:
		return problem(http.StatusServiceUnavailable, typeInternal, "unavailable", msg)
	}
	return problem(http.StatusInternalServerError, typeInternal, "internal error", "internal error")
}

func writeProblem(w http.ResponseWriter, p *Problem) {
	w.Header().Set("Content-Type", "application/problem+json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(p.Status)
	_ = json.NewEncoder(w).Encode(p)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
