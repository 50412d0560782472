package admin

import (
	"net/http"
	"strings"
)

// route is one operation of the admin API.
type route struct {
	method, path string
	// dev marks the routes a developer token may call; their handlers
	// limit it to the caller's team.
	dev bool
	h   func(w http.ResponseWriter, r *http.Request, p *Principal) error
}

const (
	adminOnly = false
	devToo    = true
)

// routes is the admin API: the one table the router, the OpenAPI
// document's test and the authorization tests all read.
func (h *Handler) routes() []route {
	return []route{
		{"GET", "/admin/v1/openapi.json", devToo, h.openAPI},

		{"POST", "/admin/v1/registration-tokens", adminOnly, h.createRegistrationToken},
		{"POST", "/admin/v1/keys/rotate", adminOnly, h.rotateKeys},
		{"POST", "/admin/v1/users/{id}/revoke-grants", adminOnly, h.revokeUserGrants},
		{"POST", "/admin/v1/api-keys", adminOnly, h.createAPIKey},

		{"GET", "/admin/v1/tokens", adminOnly, h.listTokens},
		{"GET", "/admin/v1/tokens/{id}", adminOnly, h.getToken},
		{"POST", "/admin/v1/tokens/{id}/revoke", adminOnly, h.revokeToken},
	}
}

// APIRoutes lists the admin API's operations as "METHOD /path" patterns.
func (h *Handler) APIRoutes() []string {
	var out []string
	for _, rt := range h.routes() {
		out = append(out, rt.method+" "+rt.path)
	}
	return out
}

// Routes returns the admin listener's handler.
func (h *Handler) Routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /readyz", h.ready)
	if h.Metrics != nil {
		mux.Handle("GET /metrics", h.Metrics)
	}
	for _, rt := range h.routes() {
		mux.Handle(rt.method+" "+rt.path, h.serve(&rt))
	}
	// Anything else under /admin/ is authenticated first, so that the
	// shape of the API is not probed without a token, then answered 405
	// (with Allow) or 404.
	mux.HandleFunc("/admin/", func(w http.ResponseWriter, r *http.Request) {
		if _, p := h.authenticate(r); p != nil {
			h.challenge(w, p)
			writeProblem(w, p)
			return
		}
		if allow := allowed(mux, r); len(allow) > 0 {
			w.Header().Set("Allow", strings.Join(allow, ", "))
			writeProblem(w, problem(http.StatusMethodNotAllowed, typeMethod, "method not allowed", "use "+strings.Join(allow, " or ")))
			return
		}
		writeProblem(w, notFound("admin resource"))
	})
	return mux
}

// allowed lists the methods some route serves for r's path.
func allowed(mux *http.ServeMux, r *http.Request) []string {
	var out []string
	for _, m := range []string{"GET", "POST", "PUT", "PATCH", "DELETE"} {
		c := r.Clone(r.Context())
		c.Method = m
		if _, pat := mux.Handler(c); pat != "" && pat != "/admin/" {
			out = append(out, m)
		}
	}
	return out
}

// serve authenticates, authorizes and runs one route, turning its error
// into a problem document.
func (h *Handler) serve(rt *route) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, prob := h.authenticate(r)
		if prob != nil {
			h.challenge(w, prob)
			writeProblem(w, prob)
			return
		}
		if !p.allowed(r.Method, rt) {
			need := "admin"
			if r.Method == http.MethodGet {
				need = "admin or admin:read"
			}
			w.Header().Set("WWW-Authenticate", `Bearer realm="gatehouse-admin", error="insufficient_scope", scope="`+strings.Fields(need)[0]+`"`)
			writeProblem(w, problem(http.StatusForbidden, typeForbidden, "forbidden", "this operation needs scope "+need))
			return
		}
		if err := rt.h(w, r, p); err != nil {
			writeError(w, r, h.Log, err)
		}
	})
}

// challenge sets the RFC 6750 challenge of an authentication problem.
func (h *Handler) challenge(w http.ResponseWriter, p *Problem) {
	switch {
	case p.Status == http.StatusUnauthorized && p.Detail == "an admin access token is required":
		w.Header().Set("WWW-Authenticate", `Bearer realm="gatehouse-admin"`)
	case p.Status == http.StatusUnauthorized:
		w.Header().Set("WWW-Authenticate", `Bearer realm="gatehouse-admin", error="invalid_token"`)
	case p.Status == http.StatusForbidden:
		w.Header().Set("WWW-Authenticate", `Bearer realm="gatehouse-admin", error="insufficient_scope", scope="admin"`)
	}
}
