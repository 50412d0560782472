package oauth

import (
	"errors"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// maxFormBytes caps an OAuth request body; real ones are a few hundred
// bytes, a client assertion a few KiB.
const maxFormBytes = 64 << 10

// form holds the parameters of a POST to an OAuth endpoint.
type form struct {
	values url.Values
}

// readForm reads an application/x-www-form-urlencoded body strictly: the
// content type must be right, the body is capped, parameters come only from
// the body (credentials in a URL end up in logs), and no parameter may repeat
// except those in multi (RFC 6749 3.1 and 3.2).
func readForm(w http.ResponseWriter, r *http.Request, multi ...string) (*form, *Error) {
	if r.Method != http.MethodPost {
		return nil, &Error{Status: http.StatusMethodNotAllowed, Code: "invalid_request", Description: "use POST", allow: "POST"}
	}
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "application/x-www-form-urlencoded" {
		return nil, errInvalidRequest("content type must be application/x-www-form-urlencoded")
	}
	body, err := readBody(w, r, maxFormBytes)
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, &Error{Status: http.StatusRequestEntityTooLarge, Code: "invalid_request", Description: "request body too large"}
		}
		return nil, errInvalidRequest("cannot read request body")
	}
	return parseForm(string(body), multi...)
}

// bodyTimeout bounds reading an OAuth request body. They are small, so a
// client trickling one is holding a connection on purpose; the public
// listener has no whole-request deadline because gateway streams may last.
const bodyTimeout = 10 * time.Second

// readBody reads at most limit bytes of the request body within
// bodyTimeout. After a complete body the deadline is cleared so that it
// cannot touch the rest of the connection; after a failed one it stays, so
// that the server's attempt to drain the unread body also gives up and the
// connection closes.
func readBody(w http.ResponseWriter, r *http.Request, limit int64) ([]byte, error) {
	rc := http.NewResponseController(w)
	deadline := rc.SetReadDeadline(time.Now().Add(bodyTimeout)) == nil
	b, err := io.ReadAll(http.MaxBytesReader(nil, r.Body, limit))
	if err == nil && deadline {
		_ = rc.SetReadDeadline(time.Time{})
	}
	return b, err
}

// parseForm parses a urlencoded body; it is the fuzzed trust boundary.
func parseForm(body string, multi ...string) (*form, *Error) {
	vals, err := url.ParseQuery(body)
	if err != nil {
		return nil, errInvalidRequest("malformed form body")
	}
	for k, v := range vals {
		if len(v) > 1 && !contains(multi, k) {
			return nil, errInvalidRequest("parameter " + quoteParam(k) + " must not be repeated")
		}
	}
	return &form{values: vals}, nil
}

func (f *form) get(k string) string { return f.values.Get(k) }
func (f *form) has(k string) bool   { _, ok := f.values[k]; return ok }
func (f *form) all(k string) []string {
	return f.values[k]
}

// quoteParam shows a parameter name in an error without echoing anything
// long or odd back to the caller.
func quoteParam(k string) string {
	if len(k) > 40 {
		k = k[:40] + "..."
	}
	for _, c := range k {
		if c < 0x20 || c > 0x7e {
			return "(unprintable)"
		}
	}
	// error_description may not contain '"' or '\\' (RFC 6749 5.2).
	if strings.ContainsAny(k, "\"\\") {
		return "(invalid name)"
	}
	return "'" + k + "'"
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
