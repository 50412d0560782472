package edge

import (
	"net/http"

	"github.com/gatehouse/gatehouse"
)

// refusalRecorder is implemented by a ResponseWriter that wants to know why
// the gateway refused a request and whose credential it carried (the call
// log's calllog.Exchange).
type refusalRecorder interface {
	SetRefusal(reason string)
	SetClaims(c *gatehouse.AccessClaims)
}

// noteRefusal tells w, if it listens, the short reason of a refusal: the
// error code of the answer, or code:detail for a failed token check.
func noteRefusal(w http.ResponseWriter, reason string) {
	if n, ok := w.(refusalRecorder); ok {
		n.SetRefusal(reason)
	}
}

// noteClaims tells w, if it listens, the verified claims of the request's
// credential, before the checks that may still refuse it (scopes,
// networks, limits).
func noteClaims(w http.ResponseWriter, c *gatehouse.AccessClaims) {
	if n, ok := w.(refusalRecorder); ok {
		n.SetClaims(c)
	}
}
