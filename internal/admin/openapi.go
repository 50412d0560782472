package admin

import (
	_ "embed"
	"net/http"
	"sync"
)

// openAPIDoc is the OpenAPI 3.1 document of the whole admin API. It is a
// file of its own, not derived from the code: TestOpenAPICoversRoutes
// proves it lists exactly the routes of the router, and
// TestOpenAPIExamples that every example in it validates against its
// schema.
//
//go:embed openapi.json
var openAPIDoc []byte

var openAPITag = sync.OnceValue(func() string { return etagOf(string(openAPIDoc)) })

func (h *Handler) openAPI(w http.ResponseWriter, r *http.Request, _ *Principal) error {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("ETag", openAPITag())
	_, _ = w.Write(openAPIDoc)
	return nil
}
