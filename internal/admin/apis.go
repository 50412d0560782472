package admin

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/gatehouse/gatehouse"
)

type apiView struct {
	Name           string      `json:"name"`
	Family         string      `json:"family"`
	Version        string      `json:"version"`
	Audience       string      `json:"audience"`
	Scopes         []string    `json:"scopes"`
	Description    string      `json:"description"`
	Approval       string      `json:"approval"`
	Lifecycle      string      `json:"lifecycle"`
	SunsetAt       string      `json:"sunset_at,omitempty"`
	TokenFormat    string      `json:"token_format,omitempty"`
	AccessTokenTTL int64       `json:"access_token_ttl,omitempty"` // seconds
	Upstream       *[]string   `json:"upstream,omitempty"`         // omitted for developers
	Routes         []routeView `json:"routes"`
	HasOpenAPI     bool        `json:"has_openapi"`
	Source         string      `json:"source"`
	Revision       int64       `json:"revision"`
	CreatedAt      string      `json:"created_at,omitempty"`
	UpdatedAt      string      `json:"updated_at,omitempty"`
}

type routeView struct {
	Path       string   `json:"path"`
	Methods    []string `json:"methods,omitempty"`
	Scopes     []string `json:"scopes,omitempty"`
	Credential string   `json:"credential,omitempty"`
}

// viewAPI shows a to p; developers do not see where the gateway sends
// the API's traffic (upstream is omitted for them).
func viewAPI(p *Principal, a *gatehouse.API) apiView {
	v := apiView{Name: a.Name, Family: a.FamilyName(), Version: a.Version, Audience: a.Audience, Scopes: a.Scopes,
		Description: a.Description, Approval: string(a.Approval), Lifecycle: string(a.Lifecycle), SunsetAt: rfc3339(a.SunsetAt),
		TokenFormat: string(a.TokenFormat), AccessTokenTTL: int64(a.AccessTokenTTL / time.Second),
		HasOpenAPI: len(a.OpenAPI) > 0, Source: string(a.Source), Revision: a.Revision,
		CreatedAt: rfc3339(a.CreatedAt), UpdatedAt: rfc3339(a.UpdatedAt), Routes: []routeView{}}
	if v.Approval == "" {
		v.Approval = string(gatehouse.ApprovalAuto)
	}
	if v.Lifecycle == "" {
		v.Lifecycle = string(gatehouse.LifecyclePublished)
	}
	if v.Scopes == nil {
		v.Scopes = []string{}
	}
	if !p.IsDeveloper() {
		up := a.Upstream.Targets
		if up == nil {
			up = []string{}
		}
		v.Upstream = &up
	}
	for _, rt := range a.Routes {
		v.Routes = append(v.Routes, routeView{Path: rt.Path, Methods: rt.Methods, Scopes: rt.Scopes, Credential: rt.Credential})
	}
	return v
}

func writeAPI(w http.ResponseWriter, status int, p *Principal, a *gatehouse.API) {
	w.Header().Set("ETag", revTag(a.Revision))
	writeJSON(w, status, viewAPI(p, a))
}

// visibleAPI reports whether p may see a: developers see what can be
// subscribed to or is still in use, not drafts.
func visibleAPI(p *Principal, a *gatehouse.API) bool {
	return !p.IsDeveloper() || a.Lifecycle != gatehouse.LifecycleDraft
}

func (h *Handler) findAPI(r *http.Request, p *Principal) (*gatehouse.API, error) {
	a, err := h.APIs.FindAPI(r.Context(), r.PathValue("name"))
	if gatehouse.ErrorCode(err) == gatehouse.CodeNotFound || (err == nil && (a.Name == gatehouse.AdminAPIName || !visibleAPI(p, a))) {
		return nil, notFound("API")
	}
	return a, err
}

// configOwned refuses changes to objects the serve config file owns: the
// next reload would undo them.
func configOwned(src gatehouse.ClientSource, what string) error {
	if src == gatehouse.SourceConfig {
		return &Problem{Type: typeConflict, Title: "conflict", Status: http.StatusConflict,
			Detail: "this " + what + " is defined in the config file; change it there", Field: "source", Reason: "owned by the config file"}
	}
	return nil
}

func (h *Handler) listAPIs(w http.ResponseWriter, r *http.Request, p *Principal) error {
	pg, err := parseQuery(r, "family", "lifecycle")
	if err != nil {
		return err
	}
	q := r.URL.Query()
	f := gatehouse.APIFilter{Family: q.Get("family"), Lifecycle: gatehouse.Lifecycle(q.Get("lifecycle")), Page: pageOf(pg)}
	switch f.Lifecycle {
	case "", gatehouse.LifecycleDraft, gatehouse.LifecyclePublished, gatehouse.LifecycleDeprecated, gatehouse.LifecycleRetired:
	default:
		return invalidParam("lifecycle", "must be draft, published, deprecated or retired")
	}
	apis, next, err := h.APIs.FindAPIs(r.Context(), f)
	if err != nil {
		return listErr(err, pg)
	}
	views := []apiView{}
	for _, a := range apis {
		if a.Name != gatehouse.AdminAPIName && visibleAPI(p, a) {
			views = append(views, viewAPI(p, a))
		}
	}
	writeJSON(w, http.StatusOK, storeList(views, next))
	return nil
}

func (h *Handler) getAPI(w http.ResponseWriter, r *http.Request, p *Principal) error {
	a, err := h.findAPI(r, p)
	if err != nil {
		return err
	}
	writeAPI(w, http.StatusOK, p, a)
	return nil
}

// apiRequest creates or changes an API version. On PATCH, absent members
// stay as they are.
type apiRequest struct {
	Name           string          `json:"name"`
	Family         *string         `json:"family"`
	Version        *string         `json:"version"`
	Audience       *string         `json:"audience"`
	Scopes         *[]string       `json:"scopes"`
	Description    *string         `json:"description"`
	Approval       *string         `json:"approval"`
	TokenFormat    *string         `json:"token_format"`
	AccessTokenTTL *int64          `json:"access_token_ttl"`
	Upstream       *[]string       `json:"upstream"`
	Routes         *[]routeRequest `json:"routes"`
}

type routeRequest struct {
	Path       string   `json:"path"`
	Methods    []string `json:"methods"`
	Scopes     []string `json:"scopes"`
	Credential string   `json:"credential"`
}

// apply copies the request onto a and checks what the admin API can
// check itself; ValidateAPI checks the rest as the gateway would.
func (req *apiRequest) apply(a *gatehouse.API) error {
	if req.Family != nil {
		if *req.Family != "" {
			if err := checkName("family", *req.Family); err != nil {
				return err
			}
		}
		a.Family = *req.Family
	}
	if req.Version != nil {
		if err := checkText("version", *req.Version, 32); err != nil {
			return err
		}
		a.Version = *req.Version
	}
	if req.Audience != nil {
		u, err := url.Parse(*req.Audience)
		if err != nil || !u.IsAbs() || u.Fragment != "" || len(*req.Audience) > 512 {
			return invalidField("audience", "must be an absolute URI without a fragment (RFC 8707)")
		}
		if *req.Audience == gatehouse.AdminAudience {
			return invalidField("audience", "is Gatehouse's own admin audience")
		}
		a.Audience = *req.Audience
	}
	if req.Scopes != nil {
		seen := map[string]bool{}
		for i, s := range *req.Scopes {
			if s == "" || len(s) > 128 || seen[s] || bytes.ContainsAny([]byte(s), " \"\\\t\r\n") {
				return invalidField("scopes."+strconv.Itoa(i), "scopes are distinct, non-empty RFC 6749 scope tokens")
			}
			if s == gatehouse.AdminScope || s == gatehouse.AdminReadScope || s == gatehouse.DeveloperScope {
				return invalidField("scopes."+strconv.Itoa(i), "is reserved for the admin API")
			}
			seen[s] = true
		}
		a.Scopes = *req.Scopes
	}
	if req.Description != nil {
		if err := checkText("description", *req.Description, 2000); err != nil {
			return err
		}
		a.Description = *req.Description
	}
	if req.Approval != nil {
		switch gatehouse.Approval(*req.Approval) {
		case gatehouse.ApprovalAuto, gatehouse.ApprovalManual:
			a.Approval = gatehouse.Approval(*req.Approval)
		default:
			return invalidField("approval", "must be auto or manual")
		}
	}
	if req.TokenFormat != nil {
		switch gatehouse.TokenFormat(*req.TokenFormat) {
		case "", gatehouse.FormatJWT, gatehouse.FormatOpaque:
			a.TokenFormat = gatehouse.TokenFormat(*req.TokenFormat)
		default:
			return invalidField("token_format", "must be jwt or opaque")
		}
	}
	if req.AccessTokenTTL != nil {
		if *req.AccessTokenTTL < 0 || *req.AccessTokenTTL > 86400 {
			return invalidField("access_token_ttl", "must be from 0 (the policy's default) to 86400 seconds")
		}
		a.AccessTokenTTL = time.Duration(*req.AccessTokenTTL) * time.Second
	}
	if req.Upstream != nil {
		for i, t := range *req.Upstream {
			// The reasons never echo the URL: its user info or query
			// may be a secret.
			u, err := url.Parse(t)
			switch {
			case err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Opaque != "":
				return invalidField("upstream."+strconv.Itoa(i), "must be an http or https base URL")
			case u.User != nil:
				return invalidField("upstream."+strconv.Itoa(i), "must not contain user info; credentials do not belong in a target URL (use upstream_auth)")
			case u.RawQuery != "" || u.ForceQuery || u.Fragment != "" || strings.Contains(t, "#"):
				return invalidField("upstream."+strconv.Itoa(i), "must not have a query or fragment; give a base URL such as http://10.0.0.5:9000/base")
			}
		}
		a.Upstream.Targets = *req.Upstream
	}
	if req.Routes != nil {
		a.Routes = nil
		for i, rt := range *req.Routes {
			f := "routes." + strconv.Itoa(i)
			if len(rt.Path) == 0 || rt.Path[0] != '/' {
				return invalidField(f+".path", "must start with /")
			}
			switch rt.Credential {
			case "", gatehouse.CredentialBearer, gatehouse.CredentialAPIKey, gatehouse.CredentialNone:
			default:
				return invalidField(f+".credential", "must be bearer, api_key or none")
			}
			for j, s := range rt.Scopes {
				if !a.HasScope(s) {
					return invalidField(f+".scopes."+strconv.Itoa(j), "is not a scope of the API")
				}
			}
			a.Routes = append(a.Routes, gatehouse.Route{Path: rt.Path, Methods: rt.Methods, Scopes: rt.Scopes, Credential: rt.Credential})
		}
	}
	return nil
}

func (h *Handler) validateAPI(a *gatehouse.API) error {
	if h.ValidateAPI == nil {
		return nil
	}
	if err := h.ValidateAPI(a); err != nil {
		return invalidField("routes", gatehouse.ErrorMessage(err))
	}
	return nil
}

// createAPI adds an API version as a draft: it is published with an action.
func (h *Handler) createAPI(w http.ResponseWriter, r *http.Request, p *Principal) error {
	var req apiRequest
	if err := readJSON(w, r, &req, maxBody, false); err != nil {
		return err
	}
	if err := checkName("name", req.Name); err != nil {
		return err
	}
	if req.Audience == nil {
		return invalidField("audience", "is required")
	}
	now := h.now()
	a := &gatehouse.API{Name: req.Name, Lifecycle: gatehouse.LifecycleDraft, Approval: gatehouse.ApprovalAuto,
		Source: gatehouse.SourceAdmin, CreatedAt: now, UpdatedAt: now}
	if err := req.apply(a); err != nil {
		return err
	}
	if err := h.validateAPI(a); err != nil {
		return err
	}
	if err := h.APIs.CreateAPI(r.Context(), a); err != nil {
		if gatehouse.ErrorCode(err) == gatehouse.CodeConflict {
			return &Problem{Type: typeConflict, Title: "conflict", Status: http.StatusConflict,
				Detail: gatehouse.ErrorMessage(err), Field: "name", Reason: "an API with that name or audience exists"}
		}
		return err
	}
	if err := h.changed(r.Context()); err != nil {
		return err
	}
	w.Header().Set("Location", "/admin/v1/apis/"+a.Name)
	writeAPI(w, http.StatusCreated, p, a)
	return nil
}

func (h *Handler) updateAPI(w http.ResponseWriter, r *http.Request, p *Principal) error {
	rev, err := ifMatch(r, false)
	if err != nil {
		return err
	}
	var req apiRequest
	if err := readJSON(w, r, &req, maxBody, false); err != nil {
		return err
	}
	if req.Name != "" {
		return invalidField("name", "an API is not renamed; create a new version")
	}
	a, err := h.findAPI(r, p)
	if err != nil {
		return err
	}
	if err := configOwned(a.Source, "API"); err != nil {
		return err
	}
	if err := req.apply(a); err != nil {
		return err
	}
	if err := h.validateAPI(a); err != nil {
		return err
	}
	a.Revision, a.UpdatedAt = rev, h.now()
	if err := h.APIs.UpdateAPI(r.Context(), a, nil); err != nil {
		return err
	}
	if err := h.changed(r.Context()); err != nil {
		return err
	}
	writeAPI(w, http.StatusOK, p, a)
	return nil
}

func (h *Handler) deleteAPI(w http.ResponseWriter, r *http.Request, p *Principal) error {
	rev, err := ifMatch(r, false)
	if err != nil {
		return err
	}
	if a, err := h.findAPI(r, p); err != nil {
		return err
	} else if err := configOwned(a.Source, "API"); err != nil {
		return err
	}
	if err := h.APIs.DeleteAPI(r.Context(), r.PathValue("name"), rev); err != nil {
		return err
	}
	if err := h.changed(r.Context()); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// lifecycleAction moves an API along its lifecycle: publish, deprecate
// (sunset_at required) or retire. Each step is recorded with the caller
// and the reason. If-Match is optional: the state machine refuses a move
// that no longer applies.
func (h *Handler) lifecycleAction(to gatehouse.Lifecycle) func(http.ResponseWriter, *http.Request, *Principal) error {
	return func(w http.ResponseWriter, r *http.Request, p *Principal) error {
		rev, err := ifMatch(r, true)
		if err != nil {
			return err
		}
		var req struct {
			SunsetAt string `json:"sunset_at"`
			Reason   string `json:"reason"`
		}
		if err := readJSON(w, r, &req, maxBody, true); err != nil {
			return err
		}
		if err := checkText("reason", req.Reason, 500); err != nil {
			return err
		}
		sunset, err := parseTime("sunset_at", req.SunsetAt)
		if err != nil {
			return err
		}
		if to != gatehouse.LifecycleDeprecated && !sunset.IsZero() {
			return invalidField("sunset_at", "only a deprecation takes a sunset date")
		}
		a, err := h.findAPI(r, p)
		if err != nil {
			return err
		}
		if err := configOwned(a.Source, "API"); err != nil {
			return err
		}
		now := h.now()
		change, err := a.SetLifecycle(to, sunset, p.actor(), req.Reason, now)
		if err != nil {
			if gatehouse.ErrorCode(err) == gatehouse.CodeInvalid {
				return invalidField("sunset_at", gatehouse.ErrorMessage(err))
			}
			return err
		}
		// The catalog with the API in its new state must still compile
		// into a routing table: a draft's routes are checked only when it
		// is published.
		if err := h.validateAPI(a); err != nil {
			return err
		}
		a.Revision = rev
		if err := h.APIs.UpdateAPI(r.Context(), a, &change); err != nil {
			return err
		}
		if err := h.changed(r.Context()); err != nil {
			return err
		}
		writeAPI(w, http.StatusOK, p, a)
		return nil
	}
}

// getOpenAPIDoc returns the imported OpenAPI document of an API version as
// it was imported (JSON or YAML).
func (h *Handler) getAPIDoc(w http.ResponseWriter, r *http.Request, p *Principal) error {
	a, err := h.findAPI(r, p)
	if err != nil {
		return err
	}
	if len(a.OpenAPI) == 0 {
		return notFound("OpenAPI document for this API (import one with PUT)")
	}
	ct := "application/yaml"
	if json.Valid(a.OpenAPI) {
		ct = "application/json"
	}
	w.Header().Set("Content-Type", ct)
	w.Header().Set("ETag", revTag(a.Revision))
	_, _ = w.Write(a.OpenAPI)
	return nil
}

// putAPIDoc imports an API version's OpenAPI document (JSON or YAML, up to
// 2 MiB), replacing the previous one.
func (h *Handler) putAPIDoc(w http.ResponseWriter, r *http.Request, p *Principal) error {
	rev, err := ifMatch(r, false)
	if err != nil {
		return err
	}
	doc, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxDocumentBody))
	if err != nil {
		return &Problem{Type: typeTooLarge, Title: "body too large", Status: http.StatusRequestEntityTooLarge,
			Detail: "an OpenAPI document is at most 2 MiB", Reason: "over " + strconv.Itoa(maxDocumentBody) + " bytes"}
	}
	if len(bytes.TrimSpace(doc)) == 0 {
		return invalidField("body", "an OpenAPI document is required")
	}
	if h.ValidateOpenAPI != nil {
		if err := h.ValidateOpenAPI(doc); err != nil {
			return invalidField("body", gatehouse.ErrorMessage(err))
		}
	} else if err := checkOpenAPIJSON(doc); err != nil {
		return err
	}
	a, err := h.findAPI(r, p)
	if err != nil {
		return err
	}
	if err := configOwned(a.Source, "API"); err != nil {
		return err
	}
	a.OpenAPI, a.Revision, a.UpdatedAt = doc, rev, h.now()
	if err := h.APIs.UpdateAPI(r.Context(), a, nil); err != nil {
		return err
	}
	if err := h.changed(r.Context()); err != nil {
		return err
	}
	writeAPI(w, http.StatusOK, p, a)
	return nil
}

// checkOpenAPIJSON is the check used when no ValidateOpenAPI is wired: a
// JSON object whose openapi member names a 3.x version.
func checkOpenAPIJSON(doc []byte) error {
	var d struct {
		OpenAPI string `json:"openapi"`
	}
	if err := json.Unmarshal(doc, &d); err != nil || len(d.OpenAPI) < 2 || d.OpenAPI[:2] != "3." {
		return invalidField("openapi", "the document must be an OpenAPI 3.x object")
	}
	return nil
}

type stateChangeView struct {
	Kind   string `json:"kind"`
	ID     string `json:"id"`
	From   string `json:"from"`
	To     string `json:"to"`
	Actor  string `json:"actor"`
	Reason string `json:"reason,omitempty"`
	At     string `json:"at"`
}

func (h *Handler) history(w http.ResponseWriter, r *http.Request, kind, id string) error {
	pg, err := parseQuery(r)
	if err != nil {
		return err
	}
	changes, next, err := h.APIs.FindStateChanges(r.Context(), gatehouse.StateChangeFilter{Kind: kind, ID: id, Page: pageOf(pg)})
	if err != nil {
		return listErr(err, pg)
	}
	views := make([]stateChangeView, len(changes))
	for i, c := range changes {
		views[i] = stateChangeView{Kind: c.Kind, ID: c.ID, From: c.From, To: c.To, Actor: c.Actor, Reason: c.Reason, At: rfc3339(c.At)}
	}
	writeJSON(w, http.StatusOK, storeList(views, next))
	return nil
}

func (h *Handler) apiHistory(w http.ResponseWriter, r *http.Request, p *Principal) error {
	a, err := h.findAPI(r, p)
	if err != nil {
		return err
	}
	return h.history(w, r, gatehouse.ObjectAPI, a.Name)
}
