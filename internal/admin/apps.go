package admin

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/internal/jose"
	"github.com/gatehouse/gatehouse/internal/token"
)

type appView struct {
	ID           string   `json:"id"`
	Name         string   `json:"name"`
	Team         string   `json:"team"`
	AuthMethod   string   `json:"auth_method"`
	GrantTypes   []string `json:"grant_types"`
	RedirectURIs []string `json:"redirect_uris"`
	TokenFormat  string   `json:"token_format,omitempty"`
	Source       string   `json:"source"`
	Disabled     bool     `json:"disabled"`
	Revision     int64    `json:"revision"`
	CreatedAt    string   `json:"created_at,omitempty"`
	UpdatedAt    string   `json:"updated_at,omitempty"`
	// ClientSecret is set once, in the answer that created it.
	ClientSecret string `json:"client_secret,omitempty"`
}

func viewApp(c *gatehouse.Client) appView {
	v := appView{ID: c.ID, Name: c.Name, Team: c.Team, AuthMethod: string(c.AuthMethod), GrantTypes: c.GrantTypes,
		RedirectURIs: c.RedirectURIs, TokenFormat: string(c.TokenFormat), Source: string(c.Source), Disabled: c.Disabled,
		Revision: c.Revision, CreatedAt: rfc3339(c.CreatedAt), UpdatedAt: rfc3339(c.UpdatedAt)}
	if v.GrantTypes == nil {
		v.GrantTypes = []string{}
	}
	if v.RedirectURIs == nil {
		v.RedirectURIs = []string{}
	}
	return v
}

func writeApp(w http.ResponseWriter, status int, c *gatehouse.Client, secret string) {
	v := viewApp(c)
	v.ClientSecret = secret
	w.Header().Set("ETag", revTag(c.Revision))
	writeJSON(w, status, v)
}

// findApp finds an app the caller may see. Another team's app, and the
// built-in admin client, do not exist for a developer: 404, like an id
// that was never issued.
func (h *Handler) findApp(r *http.Request, p *Principal, id string) (*gatehouse.Client, error) {
	c, err := h.Apps.FindClientByID(r.Context(), id)
	if gatehouse.ErrorCode(err) == gatehouse.CodeNotFound || (err == nil && !p.SeesTeam(c.Team)) {
		return nil, notFound("app")
	}
	return c, err
}

func (h *Handler) listApps(w http.ResponseWriter, r *http.Request, p *Principal) error {
	pg, err := parseQuery(r, "team", "source")
	if err != nil {
		return err
	}
	q := r.URL.Query()
	f := gatehouse.ClientFilter{Team: q.Get("team"), Source: gatehouse.ClientSource(q.Get("source")), Page: pageOf(pg)}
	if p.IsDeveloper() {
		if f.Team != "" && f.Team != p.Team {
			writeJSON(w, http.StatusOK, storeList([]appView{}, ""))
			return nil
		}
		f.Team = p.Team
	}
	apps, next, err := h.Apps.FindClientPage(r.Context(), f)
	if err != nil {
		return listErr(err, pg)
	}
	views := []appView{}
	for _, c := range apps {
		if p.SeesTeam(c.Team) { // the store filtered already; belt and braces
			views = append(views, viewApp(c))
		}
	}
	writeJSON(w, http.StatusOK, storeList(views, next))
	return nil
}

func (h *Handler) getApp(w http.ResponseWriter, r *http.Request, p *Principal) error {
	c, err := h.findApp(r, p, r.PathValue("id"))
	if err != nil {
		return err
	}
	writeApp(w, http.StatusOK, c, "")
	return nil
}

type appRequest struct {
	Name         *string   `json:"name"`
	Team         *string   `json:"team"`
	AuthMethod   *string   `json:"auth_method"`
	GrantTypes   *[]string `json:"grant_types"`
	RedirectURIs *[]string `json:"redirect_uris"`
	JWKS         *jsonRaw  `json:"jwks"`
	Disabled     *bool     `json:"disabled"`
}

// apply copies the request onto c and checks the result as a whole.
func (req *appRequest) apply(c *gatehouse.Client) error {
	if req.Name != nil {
		if err := checkText("name", *req.Name, 200); err != nil {
			return err
		}
		c.Name = *req.Name
	}
	if req.AuthMethod != nil {
		switch m := gatehouse.AuthMethod(*req.AuthMethod); m {
		case gatehouse.AuthSecretBasic, gatehouse.AuthSecretPost, gatehouse.AuthPrivateKeyJWT, gatehouse.AuthNone:
			c.AuthMethod = m
		default:
			return invalidField("auth_method", "must be client_secret_basic, client_secret_post, private_key_jwt or none")
		}
	}
	if req.GrantTypes != nil {
		for i, g := range *req.GrantTypes {
			if g != gatehouse.GrantClientCredentials && g != gatehouse.GrantAuthorizationCode && g != gatehouse.GrantRefreshToken {
				return invalidField("grant_types."+strconv.Itoa(i), "must be client_credentials, authorization_code or refresh_token")
			}
		}
		c.GrantTypes = *req.GrantTypes
	}
	if req.RedirectURIs != nil {
		for i, u := range *req.RedirectURIs {
			if msg := checkRedirectURI(u); msg != "" {
				return invalidField("redirect_uris."+strconv.Itoa(i), msg)
			}
		}
		c.RedirectURIs = *req.RedirectURIs
	}
	if req.JWKS != nil {
		if _, err := jose.ParseJWKSet(*req.JWKS); err != nil {
			return invalidField("jwks", "not a usable JWK Set: "+strings.TrimPrefix(err.Error(), "jose: "))
		}
		c.JWKS = *req.JWKS
	}
	if req.Disabled != nil {
		c.Disabled = *req.Disabled
	}
	switch {
	case len(c.GrantTypes) == 0:
		return invalidField("grant_types", "at least one grant type is needed")
	case c.AuthMethod == gatehouse.AuthNone && c.AllowsGrant(gatehouse.GrantClientCredentials):
		return invalidField("grant_types", "a public client (auth_method none) cannot use client_credentials")
	case c.AllowsGrant(gatehouse.GrantAuthorizationCode) && len(c.RedirectURIs) == 0:
		return invalidField("redirect_uris", "the authorization code flow needs at least one redirect URI")
	case c.AuthMethod == gatehouse.AuthPrivateKeyJWT && len(c.JWKS) == 0:
		return invalidField("jwks", "private_key_jwt needs the app's public keys")
	case c.AuthMethod != gatehouse.AuthPrivateKeyJWT && req.JWKS != nil:
		return invalidField("jwks", "only used with private_key_jwt")
	}
	return nil
}

// checkRedirectURI allows https, loopback http (RFC 8252 7.3) and
// reverse-domain private schemes (RFC 8252 7.1): the rules of RFC 7591
// registration.
func checkRedirectURI(u string) string {
	if len(u) > 2048 || strings.ContainsAny(u, "#*\x00\r\n\t ") {
		return "must be an absolute URI without a fragment, wildcard or whitespace"
	}
	pu, err := url.Parse(u)
	if err != nil || !pu.IsAbs() || pu.User != nil {
		return "must be an absolute URI without user information"
	}
	switch scheme := strings.ToLower(pu.Scheme); {
	case scheme == "https" && pu.Host != "":
	case scheme == "http" && (pu.Hostname() == "localhost" || pu.Hostname() == "127.0.0.1" || pu.Hostname() == "::1"):
	case strings.Contains(scheme, "."):
	default:
		return "must use https, loopback http, or a reverse-domain private scheme"
	}
	return ""
}

// createApp registers an app for a team. A developer creates apps for
// their own team only. A client secret, when the method needs one, is in
// this answer and never again.
func (h *Handler) createApp(w http.ResponseWriter, r *http.Request, p *Principal) error {
	var req appRequest
	if err := readJSON(w, r, &req, maxBody, false); err != nil {
		return err
	}
	now := h.now()
	c := &gatehouse.Client{ID: token.NewID(), AuthMethod: gatehouse.AuthSecretBasic,
		GrantTypes: []string{gatehouse.GrantClientCredentials}, Source: gatehouse.SourceAdmin, CreatedAt: now, UpdatedAt: now}
	if req.Team != nil {
		c.Team = *req.Team
	}
	if p.IsDeveloper() {
		if c.Team != "" && c.Team != p.Team {
			return invalidField("team", "a developer creates apps for their own team")
		}
		c.Team = p.Team
	}
	if c.Team == "" {
		return invalidField("team", "is required: every app belongs to a team")
	}
	if _, err := h.Teams.FindTeam(r.Context(), c.Team); gatehouse.ErrorCode(err) == gatehouse.CodeNotFound {
		return invalidField("team", "no such team")
	} else if err != nil {
		return err
	}
	if req.Disabled != nil && *req.Disabled {
		return invalidField("disabled", "an app is created enabled")
	}
	if err := req.apply(c); err != nil {
		return err
	}
	var secret string
	if c.AuthMethod == gatehouse.AuthSecretBasic || c.AuthMethod == gatehouse.AuthSecretPost {
		secret = gatehouse.NewSecret(token.PrefixClientSecret)
		c.SecretHash = gatehouse.HashSecret(secret)
	}
	if err := h.Apps.CreateClient(r.Context(), c); err != nil {
		return err
	}
	if err := h.changed(r.Context()); err != nil {
		return err
	}
	h.Log.Info("app created", "client_id", c.ID, "team", c.Team)
	w.Header().Set("Location", "/admin/v1/apps/"+c.ID)
	writeApp(w, http.StatusCreated, c, secret)
	return nil
}

func (h *Handler) updateApp(w http.ResponseWriter, r *http.Request, p *Principal) error {
	rev, err := ifMatch(r, false)
	if err != nil {
		return err
	}
	var req appRequest
	if err := readJSON(w, r, &req, maxBody, false); err != nil {
		return err
	}
	c, err := h.findApp(r, p, r.PathValue("id"))
	if err != nil {
		return err
	}
	if err := changeableApp(c); err != nil {
		return err
	}
	if req.Team != nil && *req.Team != c.Team {
		if p.IsDeveloper() {
			return invalidField("team", "a developer cannot move an app to another team")
		}
		if _, err := h.Teams.FindTeam(r.Context(), *req.Team); gatehouse.ErrorCode(err) == gatehouse.CodeNotFound {
			return invalidField("team", "no such team")
		} else if err != nil {
			return err
		}
		c.Team = *req.Team
	}
	if req.AuthMethod != nil && gatehouse.AuthMethod(*req.AuthMethod) != c.AuthMethod {
		return invalidField("auth_method", "is fixed when the app is created; create a new app")
	}
	if p.IsDeveloper() && req.Disabled != nil && *req.Disabled != c.Disabled {
		// Disabling is an administrator's decision; a developer could
		// otherwise undo it.
		return &Problem{Type: typeForbidden, Title: "forbidden", Status: http.StatusForbidden,
			Detail: "only an administrator enables or disables an app", Field: "disabled", Reason: "administrators only"}
	}
	if err := req.apply(c); err != nil {
		return err
	}
	c.Revision, c.UpdatedAt = rev, h.now()
	if err := h.Apps.UpdateClient(r.Context(), c); err != nil {
		return err
	}
	if err := h.changed(r.Context()); err != nil {
		return err
	}
	writeApp(w, http.StatusOK, c, "")
	return nil
}

// changeableApp refuses changes to apps the admin API does not own: the
// built-in admin client and the config file's clients.
func changeableApp(c *gatehouse.Client) error {
	if c.ID == gatehouse.AdminClientID || c.Source == gatehouse.SourceBootstrap {
		return &Problem{Type: typeConflict, Title: "conflict", Status: http.StatusConflict,
			Detail: "the built-in administrator client is not changed through the admin API", Field: "id", Reason: "built in"}
	}
	return configOwned(c.Source, "app")
}

// deleteApp deletes an app; its tokens are refused at once.
func (h *Handler) deleteApp(w http.ResponseWriter, r *http.Request, p *Principal) error {
	rev, err := ifMatch(r, false)
	if err != nil {
		return err
	}
	c, err := h.findApp(r, p, r.PathValue("id"))
	if err != nil {
		return err
	}
	if err := changeableApp(c); err != nil {
		return err
	}
	if err := h.Apps.DeleteApp(r.Context(), c.ID, rev, p.actor(), h.now()); err != nil {
		return err
	}
	h.Revocations.SetSuspended(c.ID, true)
	if err := h.changed(r.Context()); err != nil {
		return err
	}
	h.Log.Warn("app deleted", "client_id", c.ID)
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// revokeAppTokens is bulk revocation by app: every token the app holds,
// for every API, is refused from now on; new ones can be issued.
func (h *Handler) revokeAppTokens(w http.ResponseWriter, r *http.Request, p *Principal) error {
	reason, err := readReason(w, r)
	if err != nil {
		return err
	}
	c, err := h.findApp(r, p, r.PathValue("id"))
	if err != nil {
		return err
	}
	return h.cutoff(w, r, p, gatehouse.Cutoff{ClientID: c.ID}, gatehouse.EventAppTokensRevoked, c.ID, reason)
}

// revokeAPITokens is bulk revocation by API: every token of every app for
// the API is refused from now on.
func (h *Handler) revokeAPITokens(w http.ResponseWriter, r *http.Request, p *Principal) error {
	reason, err := readReason(w, r)
	if err != nil {
		return err
	}
	a, err := h.findAPI(r, p)
	if err != nil {
		return err
	}
	return h.cutoff(w, r, p, gatehouse.Cutoff{Audience: a.Audience}, gatehouse.EventAPITokensRevoked, a.Name, reason)
}

func (h *Handler) cutoff(w http.ResponseWriter, r *http.Request, p *Principal, c gatehouse.Cutoff, event, subject, reason string) error {
	ctx := r.Context()
	c.At = h.now()
	detail := "tokens of " + subject + " revoked by " + p.actor()
	if reason != "" {
		detail += ": " + reason
	}
	e := &gatehouse.SecurityEvent{ID: token.NewID(), Type: event, ClientID: c.ClientID, Detail: detail, At: c.At}
	if err := h.Subscriptions.BulkRevoke(ctx, c, e); err != nil {
		return err
	}
	h.Revocations.AddCutoff(c)
	if err := h.changed(ctx); err != nil {
		return err
	}
	h.Log.Warn("bulk token revocation", "type", event, "subject", subject)
	writeJSON(w, http.StatusOK, struct {
		ClientID string `json:"client_id,omitempty"`
		Audience string `json:"audience,omitempty"`
		At       string `json:"revoked_before"`
	}{c.ClientID, c.Audience, c.At.UTC().Format(time.RFC3339Nano)})
	return nil
}

type credentialView struct {
	ID        string `json:"id"`
	AppID     string `json:"app_id"`
	Kind      string `json:"kind"`
	Label     string `json:"label,omitempty"`
	API       string `json:"api,omitempty"`
	Status    string `json:"status"` // active, expired, revoked
	ExpiresAt string `json:"expires_at,omitempty"`
	RevokedAt string `json:"revoked_at,omitempty"`
	CreatedAt string `json:"created_at,omitempty"`
	Revision  int64  `json:"revision"`
	// Secret is the client secret or API key, set once in the answer
	// that created it.
	Secret string  `json:"secret,omitempty"`
	JWK    jsonRaw `json:"jwk,omitempty"`
}

func viewCredential(c *gatehouse.Credential, now time.Time) credentialView {
	v := credentialView{ID: c.ID, AppID: c.ClientID, Kind: string(c.Kind), Label: c.Label, API: c.API, Status: "active",
		ExpiresAt: rfc3339(c.ExpiresAt), RevokedAt: rfc3339(c.RevokedAt), CreatedAt: rfc3339(c.CreatedAt), Revision: c.Revision,
		JWK: c.JWK}
	switch {
	case !c.RevokedAt.IsZero():
		v.Status = "revoked"
	case !c.Active(now):
		v.Status = "expired"
	}
	return v
}

func (h *Handler) listCredentials(w http.ResponseWriter, r *http.Request, p *Principal) error {
	if _, err := parseQuery(r); err != nil {
		return err
	}
	c, err := h.findApp(r, p, r.PathValue("id"))
	if err != nil {
		return err
	}
	creds, err := h.Apps.FindCredentials(r.Context(), gatehouse.CredentialFilter{ClientID: c.ID})
	if err != nil {
		return err
	}
	now := h.now()
	views := make([]credentialView, len(creds))
	for i, cr := range creds {
		views[i] = viewCredential(cr, now)
	}
	writeJSON(w, http.StatusOK, storeList(views, ""))
	return nil
}

func (h *Handler) findCredential(r *http.Request, p *Principal) (*gatehouse.Credential, error) {
	app, err := h.findApp(r, p, r.PathValue("id"))
	if err != nil {
		return nil, err
	}
	cr, err := h.Apps.FindCredential(r.Context(), r.PathValue("cid"))
	if gatehouse.ErrorCode(err) == gatehouse.CodeNotFound || (err == nil && cr.ClientID != app.ID) {
		return nil, notFound("credential")
	}
	return cr, err
}

func (h *Handler) getCredential(w http.ResponseWriter, r *http.Request, p *Principal) error {
	cr, err := h.findCredential(r, p)
	if err != nil {
		return err
	}
	w.Header().Set("ETag", revTag(cr.Revision))
	writeJSON(w, http.StatusOK, viewCredential(cr, h.now()))
	return nil
}

// createCredential adds a credential to an app: a client secret or an API
// key (generated, shown once), or a public key for private_key_jwt. The
// app's other credentials stay valid, which is how a credential is rotated
// with overlap: add the new one, move the callers, revoke the old one.
func (h *Handler) createCredential(w http.ResponseWriter, r *http.Request, p *Principal) error {
	var req struct {
		Kind      string  `json:"kind"`
		Label     string  `json:"label"`
		API       string  `json:"api"`
		ExpiresAt string  `json:"expires_at"`
		JWK       jsonRaw `json:"jwk"`
	}
	if err := readJSON(w, r, &req, maxBody, false); err != nil {
		return err
	}
	app, err := h.findApp(r, p, r.PathValue("id"))
	if err != nil {
		return err
	}
	if err := changeableApp(app); err != nil {
		return err
	}
	cr, secret, err := h.newCredential(r, p, app, gatehouse.CredentialKind(req.Kind), req.Label, req.API, req.ExpiresAt, req.JWK)
	if err != nil {
		return err
	}
	if cr.Kind == gatehouse.CredentialKey {
		if cr, secret, err = h.issueAPIKey(r, cr); err != nil {
			return err
		}
	} else if err := h.Apps.CreateCredential(r.Context(), cr); err != nil {
		return err
	}
	if err := h.changed(r.Context()); err != nil {
		return err
	}
	h.Log.Info("credential created", "client_id", app.ID, "credential_id", cr.ID, "kind", string(cr.Kind))
	v := viewCredential(cr, h.now())
	v.Secret = secret
	w.Header().Set("Location", "/admin/v1/apps/"+app.ID+"/credentials/"+cr.ID)
	w.Header().Set("ETag", revTag(cr.Revision))
	writeJSON(w, http.StatusCreated, v)
	return nil
}

// noAPIKeys is the answer of a node without Handler.IssueAPIKey, naming
// the request's field that asked for a key.
func noAPIKeys(field string) *Problem {
	return &Problem{Type: typeConflict, Title: "conflict", Status: http.StatusConflict,
		Detail: "this node does not issue API keys", Field: field, Reason: "not available"}
}

// issueAPIKey issues the API key credential cr describes the way the node
// issues every API key (IssueAPIKey): under the app's subscription, with
// the token record the gateway checks it by, every scope the app may use
// on the API. Without expires_at it lives defaultAPIKeyTTL, and never
// longer than the subscription.
func (h *Handler) issueAPIKey(r *http.Request, cr *gatehouse.Credential) (*gatehouse.Credential, string, error) {
	if h.IssueAPIKey == nil {
		return nil, "", noAPIKeys("kind")
	}
	ttl := defaultAPIKeyTTL
	if !cr.ExpiresAt.IsZero() {
		ttl = cr.ExpiresAt.Sub(h.now())
	}
	if ttl > maxAPIKeyTTL {
		return nil, "", invalidField("expires_at", "an API key lives at most 366 days")
	}
	secret, issued, err := h.IssueAPIKey(r.Context(), cr.ClientID, cr.API, nil, ttl, cr.Label)
	switch gatehouse.ErrorCode(err) {
	case "":
		return issued, secret, nil
	case gatehouse.CodeNotFound:
		return nil, "", invalidField("api", "no such API")
	case gatehouse.CodeForbidden, gatehouse.CodeInvalid, gatehouse.CodeConflict:
		return nil, "", invalidField("api", gatehouse.ErrorMessage(err))
	}
	return nil, "", err
}

func (h *Handler) newCredential(r *http.Request, p *Principal, app *gatehouse.Client, kind gatehouse.CredentialKind, label, api, expires string, jwk jsonRaw) (*gatehouse.Credential, string, error) {
	if err := checkText("label", label, 200); err != nil {
		return nil, "", err
	}
	now := h.now()
	exp, err := parseTime("expires_at", expires)
	if err != nil {
		return nil, "", err
	}
	if !exp.IsZero() && !exp.After(now) {
		return nil, "", invalidField("expires_at", "must be in the future")
	}
	cr := &gatehouse.Credential{ID: token.NewID(), ClientID: app.ID, Kind: kind, Label: label, ExpiresAt: exp, CreatedAt: now}
	var secret string
	switch kind {
	case gatehouse.CredentialSecret:
		if app.AuthMethod != gatehouse.AuthSecretBasic && app.AuthMethod != gatehouse.AuthSecretPost {
			return nil, "", invalidField("kind", "the app authenticates with "+string(app.AuthMethod)+", not a client secret")
		}
		secret = gatehouse.NewSecret(token.PrefixClientSecret)
		cr.Hash = gatehouse.HashSecret(secret)
	case gatehouse.CredentialKey:
		if api == "" {
			return nil, "", invalidField("api", "an API key is for one API")
		}
		// An API the caller may not see (a draft, for a developer) is
		// answered like one that does not exist.
		if a, err := h.APIs.FindAPI(r.Context(), api); gatehouse.ErrorCode(err) == gatehouse.CodeNotFound ||
			(err == nil && (a.Name == gatehouse.AdminAPIName || !visibleAPI(p, a))) {
			return nil, "", invalidField("api", "no such API")
		} else if err != nil {
			return nil, "", err
		}
		cr.API = api
		secret = gatehouse.NewSecret(token.PrefixAPIKey)
		cr.Hash = gatehouse.HashSecret(secret)
	case gatehouse.CredentialPrivateKeyJWT:
		if app.AuthMethod != gatehouse.AuthPrivateKeyJWT {
			return nil, "", invalidField("kind", "the app authenticates with "+string(app.AuthMethod)+", not private_key_jwt")
		}
		if len(jwk) == 0 {
			return nil, "", invalidField("jwk", "a private_key_jwt credential is a public key (JWK)")
		}
		if _, err := jose.ParseJWKSet([]byte(`{"keys":[` + string(jwk) + `]}`)); err != nil {
			return nil, "", invalidField("jwk", "not a usable public key: "+strings.TrimPrefix(err.Error(), "jose: "))
		}
		cr.JWK = jwk
	default:
		return nil, "", invalidField("kind", "must be client_secret, private_key_jwt or api_key")
	}
	if kind != gatehouse.CredentialKey && api != "" {
		return nil, "", invalidField("api", "only an API key is for one API")
	}
	if kind != gatehouse.CredentialPrivateKeyJWT && len(jwk) > 0 {
		return nil, "", invalidField("jwk", "only a private_key_jwt credential has a key")
	}
	return cr, secret, nil
}

// revokeCredential revokes one credential and every token issued with it.
func (h *Handler) revokeCredential(w http.ResponseWriter, r *http.Request, p *Principal) error {
	rev, err := ifMatch(r, true)
	if err != nil {
		return err
	}
	reason, err := readReason(w, r)
	if err != nil {
		return err
	}
	cr, err := h.findCredential(r, p)
	if err != nil {
		return err
	}
	if rev != 0 && rev != cr.Revision {
		return stale()
	}
	change, err := cr.Revoke(p.actor(), reason, h.now())
	if err != nil {
		return err
	}
	revs, err := h.Apps.RevokeCredential(r.Context(), cr, change)
	if err != nil {
		return err
	}
	h.Revocations.Add(revs...)
	if err := h.changed(r.Context()); err != nil {
		return err
	}
	h.Log.Warn("credential revoked", "client_id", cr.ClientID, "credential_id", cr.ID, "tokens", len(revs))
	w.Header().Set("ETag", revTag(cr.Revision))
	writeJSON(w, http.StatusOK, viewCredential(cr, h.now()))
	return nil
}

// rotateSecret gives an app a new primary client secret, shown once. With
// overlap_seconds > 0 the previous secret keeps working that long, as a
// credential that expires (so callers can move without an outage);
// without, it stops at once. Tokens already issued are not revoked: revoke
// them with POST /apps/{id}/revoke-tokens if the old secret leaked.
func (h *Handler) rotateSecret(w http.ResponseWriter, r *http.Request, p *Principal) error {
	rev, err := ifMatch(r, true)
	if err != nil {
		return err
	}
	var req struct {
		OverlapSeconds int64 `json:"overlap_seconds"`
	}
	if err := readJSON(w, r, &req, maxBody, true); err != nil {
		return err
	}
	if req.OverlapSeconds < 0 || req.OverlapSeconds > 30*86400 {
		return invalidField("overlap_seconds", "must be from 0 to 2592000 (30 days)")
	}
	app, err := h.findApp(r, p, r.PathValue("id"))
	if err != nil {
		return err
	}
	if err := changeableApp(app); err != nil {
		return err
	}
	if app.AuthMethod != gatehouse.AuthSecretBasic && app.AuthMethod != gatehouse.AuthSecretPost {
		return invalidField("auth_method", "the app has no client secret ("+string(app.AuthMethod)+")")
	}
	if rev != 0 && rev != app.Revision {
		return stale()
	}
	now := h.now()
	var prev *gatehouse.Credential
	if req.OverlapSeconds > 0 && len(app.SecretHash) > 0 {
		prev = &gatehouse.Credential{ID: token.NewID(), ClientID: app.ID, Kind: gatehouse.CredentialSecret,
			Hash: app.SecretHash, Label: "previous secret (rotated " + now.UTC().Format(time.RFC3339) + ")",
			ExpiresAt: now.Add(time.Duration(req.OverlapSeconds) * time.Second), CreatedAt: now}
	}
	secret := gatehouse.NewSecret(token.PrefixClientSecret)
	newRev, err := h.Apps.RotateClientSecret(r.Context(), app.ID, app.Revision, gatehouse.HashSecret(secret), prev, now)
	if err != nil {
		return err
	}
	app.SecretHash, app.Revision, app.UpdatedAt = gatehouse.HashSecret(secret), newRev, now
	if err := h.changed(r.Context()); err != nil {
		return err
	}
	h.Log.Warn("client secret rotated", "client_id", app.ID, "overlap_seconds", req.OverlapSeconds)
	writeApp(w, http.StatusOK, app, secret)
	return nil
}

// readReason reads the optional body {"reason": "..."} of a revocation:
// at most 500 characters of text, recorded with the step.
func readReason(w http.ResponseWriter, r *http.Request) (string, error) {
	var req struct {
		Reason string `json:"reason"`
	}
	if err := readJSON(w, r, &req, maxBody, true); err != nil {
		return "", err
	}
	return req.Reason, checkText("reason", req.Reason, 500)
}
