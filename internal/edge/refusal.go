package edge

import "net/http"

// refusalRecorder is implemented by a ResponseWriter that wants to know why
// the gateway refused a request (the call log's calllog.Exchange).
type refusalRecorder interface{ SetRefusal(reason string) }

// noteRefusal tells w, if it listens, the short reason of a refusal: the
// error code of the answer, or code:detail for a failed token check.
func noteRefusal(w http.ResponseWriter, reason string) {
	if n, ok := w.(refusalRecorder); ok {
		n.SetRefusal(reason)
	}
}
