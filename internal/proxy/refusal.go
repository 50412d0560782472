package proxy

import "net/http"

// refusalRecorder is implemented by a ResponseWriter that wants to know why
// the gateway answered a request itself (the call log's calllog.Exchange).
type refusalRecorder interface{ SetRefusal(reason string) }

// noteRefusal tells w, if it listens, the error code of the answer.
func noteRefusal(w http.ResponseWriter, code string) {
	if n, ok := w.(refusalRecorder); ok {
		n.SetRefusal(code)
	}
}
