package admin

import (
	"net/http"

	"github.com/gatehouse/gatehouse"
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

		{"GET", "/admin/v1/audit", adminOnly, h.withAudit(h.listAudit)},
		{"GET", "/admin/v1/audit/export", adminOnly, h.withAudit(h.exportAudit)},

		{"GET", "/admin/v1/calls", adminOnly, h.listCalls},
		{"GET", "/admin/v1/tokens/stale", adminOnly, h.listStale},
		{"GET", "/admin/v1/calls/export", adminOnly, h.exportCalls},

		{"GET", "/admin/v1/teams", devToo, h.listTeams},
		{"POST", "/admin/v1/teams", adminOnly, h.createTeam},
		{"GET", "/admin/v1/teams/{name}", devToo, h.getTeam},
		{"PATCH", "/admin/v1/teams/{name}", adminOnly, h.updateTeam},
		{"DELETE", "/admin/v1/teams/{name}", adminOnly, h.deleteTeam},

		{"GET", "/admin/v1/accounts", adminOnly, h.listAccounts},
		{"GET", "/admin/v1/accounts/{id}", adminOnly, h.getAccount},
		{"PATCH", "/admin/v1/accounts/{id}", adminOnly, h.updateAccount},

		{"GET", "/admin/v1/apis", devToo, h.listAPIs},
		{"POST", "/admin/v1/apis", adminOnly, h.createAPI},
		{"GET", "/admin/v1/apis/{name}", devToo, h.getAPI},
		{"PATCH", "/admin/v1/apis/{name}", adminOnly, h.updateAPI},
		{"DELETE", "/admin/v1/apis/{name}", adminOnly, h.deleteAPI},
		{"POST", "/admin/v1/apis/{name}/publish", adminOnly, h.lifecycleAction(gatehouse.LifecyclePublished)},
		{"POST", "/admin/v1/apis/{name}/deprecate", adminOnly, h.lifecycleAction(gatehouse.LifecycleDeprecated)},
		{"POST", "/admin/v1/apis/{name}/retire", adminOnly, h.lifecycleAction(gatehouse.LifecycleRetired)},
		{"GET", "/admin/v1/apis/{name}/openapi", devToo, h.getAPIDoc},
		{"PUT", "/admin/v1/apis/{name}/openapi", adminOnly, h.putAPIDoc},
		{"GET", "/admin/v1/apis/{name}/history", devToo, h.apiHistory},
		{"POST", "/admin/v1/apis/{name}/revoke-tokens", adminOnly, h.revokeAPITokens},

		{"GET", "/admin/v1/apps", devToo, h.listApps},
		{"POST", "/admin/v1/apps", devToo, h.createApp},
		{"GET", "/admin/v1/apps/{id}", devToo, h.getApp},
		{"PATCH", "/admin/v1/apps/{id}", devToo, h.updateApp},
		{"DELETE", "/admin/v1/apps/{id}", devToo, h.deleteApp},
		{"POST", "/admin/v1/apps/{id}/rotate-secret", devToo, h.rotateSecret},
		{"POST", "/admin/v1/apps/{id}/revoke-tokens", devToo, h.revokeAppTokens},
		{"GET", "/admin/v1/apps/{id}/credentials", devToo, h.listCredentials},
		{"POST", "/admin/v1/apps/{id}/credentials", devToo, h.createCredential},
		{"GET", "/admin/v1/apps/{id}/credentials/{cid}", devToo, h.getCredential},
		{"POST", "/admin/v1/apps/{id}/credentials/{cid}/revoke", devToo, h.revokeCredential},

		{"GET", "/admin/v1/subscriptions", devToo, h.listSubscriptions},
		{"POST", "/admin/v1/subscriptions", devToo, h.createSubscription},
		{"GET", "/admin/v1/subscriptions/{id}", devToo, h.getSubscription},
		{"GET", "/admin/v1/subscriptions/{id}/history", devToo, h.subscriptionHistory},
		{"POST", "/admin/v1/subscriptions/{id}/approve", adminOnly, h.subscriptionAction(gatehouse.ActionApprove)},
		{"POST", "/admin/v1/subscriptions/{id}/reject", adminOnly, h.subscriptionAction(gatehouse.ActionReject)},
		{"POST", "/admin/v1/subscriptions/{id}/suspend", adminOnly, h.subscriptionAction(gatehouse.ActionSuspend)},
		{"POST", "/admin/v1/subscriptions/{id}/resume", adminOnly, h.subscriptionAction(gatehouse.ActionResume)},
		{"POST", "/admin/v1/subscriptions/{id}/revoke", devToo, h.subscriptionAction(gatehouse.ActionRevoke)},

		{"GET", "/admin/v1/tokens", adminOnly, h.listTokens},
		{"GET", "/admin/v1/tokens/{id}", adminOnly, h.getToken},
		{"POST", "/admin/v1/tokens/{id}/revoke", adminOnly, h.revokeToken},
		{"POST", "/admin/v1/users/{id}/revoke-grants", adminOnly, h.revokeUserGrants},

		{"POST", "/admin/v1/registration-tokens", adminOnly, h.createRegistrationToken},
		{"POST", "/admin/v1/api-keys", adminOnly, h.createAPIKey},
		{"POST", "/admin/v1/keys/rotate", adminOnly, h.rotateKeys},
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
	return h.auditRequests(mux)
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
