// Package admin is the admin listener's surface: health, metrics and the
// admin REST API under /admin/v1, authenticated with Gatehouse's own access
// tokens for the built-in admin API (audience urn:gatehouse:admin, scope
// admin).
package admin

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/internal/token"
)

// TokenStore records the registration tokens the admin API hands out.
type TokenStore interface {
	CreateToken(ctx context.Context, t *gatehouse.Token) error
}

// KeyRotator rotates the signing keys now.
type KeyRotator interface {
	Rotate(ctx context.Context) error
}

// UserGrants revokes everything a user authorized.
type UserGrants interface {
	FindUserByID(ctx context.Context, id string) (*gatehouse.User, error)
	RevokeGrantsBySubject(ctx context.Context, subject string, at time.Time) ([]string, error)
	RecordEvent(ctx context.Context, e *gatehouse.SecurityEvent) error
}

// ClientFinder looks clients up.
type ClientFinder interface {
	FindClientByID(ctx context.Context, id string) (*gatehouse.Client, error)
}

// Pinger reports whether the store answers.
type Pinger interface {
	Ping(ctx context.Context) error
}

// Handler serves the admin listener.
type Handler struct {
	Verifier *token.Verifier
	Tokens   TokenStore
	Keys     KeyRotator
	Keyring  *token.Keyring
	Store    Pinger
	Users    UserGrants
	Clients  ClientFinder
	Calls    CallStore // the call log; nil when it is disabled
	// APIByName resolves an API of the catalog.
	APIByName func(name string) *gatehouse.API
	// Revocations is updated before a revoking call returns, so the
	// gateway and introspection refuse the tokens at once.
	Revocations *token.Revocations
	// GrantLifetime bounds how long a revoked grant must be remembered.
	GrantLifetime time.Duration
	Stale         StaleLister  // idle revocation's upcoming work (stale.go); optional
	Metrics       http.Handler // the Prometheus handler
	Log           *slog.Logger
	Now           func() time.Time
}

// maxRegistrationTokenTTL bounds how long a registration token lives.
const maxRegistrationTokenTTL = 30 * 24 * time.Hour

// Routes returns the admin listener's handler.
func (h *Handler) Routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = io.WriteString(w, "ok\n")
	})
	mux.HandleFunc("GET /readyz", h.ready)
	if h.Metrics != nil {
		mux.Handle("GET /metrics", h.Metrics)
	}
	mux.Handle("POST /admin/v1/registration-tokens", h.auth(h.createRegistrationToken))
	mux.Handle("POST /admin/v1/keys/rotate", h.auth(h.rotateKeys))
	mux.Handle("POST /admin/v1/users/{id}/revoke-grants", h.auth(h.revokeUserGrants))
	mux.Handle("POST /admin/v1/api-keys", h.auth(h.createAPIKey))
	mux.Handle("GET /admin/v1/tokens/stale", h.auth(h.listStale))
	mux.Handle("GET /admin/v1/calls", h.auth(h.listCalls))
	mux.Handle("GET /admin/v1/calls/export", h.auth(h.exportCalls))
	mux.Handle("/admin/", h.auth(func(w http.ResponseWriter, r *http.Request) {
		writeProblem(w, http.StatusNotFound, "not found", "no such admin resource")
	}))
	return mux
}

func (h *Handler) now() time.Time {
	if h.Now != nil {
		return h.Now()
	}
	return time.Now()
}

func (h *Handler) ready(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	if err := h.Store.Ping(ctx); err != nil {
		h.Log.Error("readiness check failed", "err", err)
		http.Error(w, "store unavailable", http.StatusServiceUnavailable)
		return
	}
	_, _ = io.WriteString(w, "ready\n")
}

// auth admits only requests bearing a valid admin access token (RFC 6750).
func (h *Handler) auth(next http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		scheme, tok, ok := strings.Cut(r.Header.Get("Authorization"), " ")
		if !ok || !strings.EqualFold(scheme, "Bearer") || tok == "" {
			w.Header().Set("WWW-Authenticate", `Bearer realm="gatehouse-admin"`)
			writeProblem(w, http.StatusUnauthorized, "unauthorized", "an admin access token is required")
			return
		}
		claims, err := h.Verifier.Verify(r.Context(), tok)
		if err != nil {
			if token.ReasonOf(err) == "" {
				h.Log.Error("admin token check failed", "err", err)
				writeProblem(w, http.StatusInternalServerError, "internal error", "internal error")
				return
			}
			h.Log.Info("admin authentication failed", "reason", string(token.ReasonOf(err)), "ip", r.RemoteAddr)
			w.Header().Set("WWW-Authenticate", `Bearer realm="gatehouse-admin", error="invalid_token"`)
			writeProblem(w, http.StatusUnauthorized, "unauthorized", "the access token is not valid")
			return
		}
		if claims.Audience != gatehouse.AdminAudience || !claims.HasScope(gatehouse.AdminScope) {
			w.Header().Set("WWW-Authenticate", `Bearer realm="gatehouse-admin", error="insufficient_scope", scope="admin"`)
			writeProblem(w, http.StatusForbidden, "forbidden", "the token is not an admin token (audience "+gatehouse.AdminAudience+", scope admin)")
			return
		}
		next(w, r)
	})
}

func (h *Handler) createRegistrationToken(w http.ResponseWriter, r *http.Request) {
	var req struct {
		ExpiresIn int64 `json:"expires_in"`
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 4096))
	if err != nil {
		writeProblem(w, http.StatusRequestEntityTooLarge, "body too large", "request body over 4096 bytes")
		return
	}
	if len(strings.TrimSpace(string(body))) > 0 {
		dec := json.NewDecoder(strings.NewReader(string(body)))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&req); err != nil || dec.More() {
			writeProblem(w, http.StatusBadRequest, "invalid request", "body must be one JSON object {\"expires_in\": seconds}")
			return
		}
	}
	ttl := time.Duration(req.ExpiresIn) * time.Second
	if req.ExpiresIn == 0 {
		ttl = 24 * time.Hour
	}
	if ttl <= 0 || ttl > maxRegistrationTokenTTL {
		writeProblem(w, http.StatusBadRequest, "invalid request", "expires_in must be between 1 and 2592000 seconds")
		return
	}
	now := h.now().Truncate(time.Second)
	tok := gatehouse.NewSecret(token.PrefixRegistration)
	rec := &gatehouse.Token{
		ID: token.NewID(), Hash: gatehouse.HashSecret(tok), Kind: gatehouse.KindRegistration,
		Format: gatehouse.FormatOpaque, ClientID: gatehouse.AdminClientID, Subject: gatehouse.AdminClientID,
		IssuedAt: now, ExpiresAt: now.Add(ttl),
	}
	if err := h.Tokens.CreateToken(r.Context(), rec); err != nil {
		h.Log.Error("create registration token", "err", err)
		writeProblem(w, http.StatusInternalServerError, "internal error", "internal error")
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusCreated, struct {
		Token     string `json:"token"`
		ID        string `json:"id"`
		ExpiresAt string `json:"expires_at"`
	}{tok, rec.ID, rec.ExpiresAt.UTC().Format(time.RFC3339)})
}

func (h *Handler) rotateKeys(w http.ResponseWriter, r *http.Request) {
	if err := h.Keys.Rotate(r.Context()); err != nil {
		if gatehouse.ErrorCode(err) == gatehouse.CodeConflict {
			writeProblem(w, http.StatusConflict, "conflict", "another rotation happened at the same time; retry")
			return
		}
		h.Log.Error("rotate keys", "err", err)
		writeProblem(w, http.StatusInternalServerError, "internal error", "internal error")
		return
	}
	writeJSON(w, http.StatusOK, struct {
		SigningKID string `json:"signing_kid"`
	}{h.Keyring.SigningKeyID()})
}

// revokeUserGrants revokes every grant of one user: all their refresh and
// access tokens stop working before the call returns.
func (h *Handler) revokeUserGrants(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	id := r.PathValue("id")
	if _, err := h.Users.FindUserByID(ctx, id); gatehouse.ErrorCode(err) == gatehouse.CodeNotFound {
		writeProblem(w, http.StatusNotFound, "not found", "no user with that id")
		return
	} else if err != nil {
		h.Log.Error("find user", "err", err)
		writeProblem(w, http.StatusInternalServerError, "internal error", "internal error")
		return
	}
	now := h.now()
	ids, err := h.Users.RevokeGrantsBySubject(ctx, id, now)
	if err != nil {
		h.Log.Error("revoke user grants", "err", err)
		writeProblem(w, http.StatusInternalServerError, "internal error", "internal error")
		return
	}
	if ids == nil {
		ids = []string{}
	}
	revs := make([]gatehouse.Revocation, len(ids))
	for i, g := range ids {
		revs[i] = gatehouse.Revocation{GrantID: g, Until: now.Add(h.GrantLifetime)}
	}
	h.Revocations.Add(revs...)
	if err := h.Users.RecordEvent(ctx, &gatehouse.SecurityEvent{ID: token.NewID(), Type: gatehouse.EventUserGrantsRevoked,
		Subject: id, Detail: "every grant of the user revoked by an administrator", At: now}); err != nil {
		h.Log.Error("record event", "err", err)
	}
	h.Log.Warn("user grants revoked", "subject", id, "grants", len(ids))
	writeJSON(w, http.StatusOK, struct {
		Revoked []string `json:"revoked_grants"`
	}{ids})
}

// maxAPIKeyTTL bounds an API key's life; keys are rotated, not eternal.
const maxAPIKeyTTL = 366 * 24 * time.Hour

// createAPIKey issues an API key for one client on one API with some of the
// scopes the client may have there. The key is shown once; only its hash is
// kept, and it is revoked like a token (RFC 7009 by its client, or here).
func (h *Handler) createAPIKey(w http.ResponseWriter, r *http.Request) {
	var req struct {
		ClientID  string   `json:"client_id"`
		API       string   `json:"api"`
		Scopes    []string `json:"scopes"`
		ExpiresIn int64    `json:"expires_in"`
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 8192))
	if err != nil {
		writeProblem(w, http.StatusRequestEntityTooLarge, "body too large", "request body over 8192 bytes")
		return
	}
	dec := json.NewDecoder(strings.NewReader(string(body)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil || dec.More() {
		writeProblem(w, http.StatusBadRequest, "invalid request", "body must be one JSON object {client_id, api, scopes, expires_in}")
		return
	}
	ctx := r.Context()
	client, err := h.Clients.FindClientByID(ctx, req.ClientID)
	if gatehouse.ErrorCode(err) == gatehouse.CodeNotFound || (err == nil && client.Disabled) {
		writeProblem(w, http.StatusUnprocessableEntity, "invalid client_id", "no active client with that id")
		return
	} else if err != nil {
		h.Log.Error("find client", "err", err)
		writeProblem(w, http.StatusInternalServerError, "internal error", "internal error")
		return
	}
	api := h.APIByName(req.API)
	acc := client.AccessFor(req.API)
	if api == nil || acc == nil {
		writeProblem(w, http.StatusUnprocessableEntity, "invalid api", "the client has no access to an API with that name")
		return
	}
	for _, sc := range req.Scopes {
		if !api.HasScope(sc) || !slices.Contains(acc.Scopes, sc) {
			writeProblem(w, http.StatusUnprocessableEntity, "invalid scopes", "scope "+strconv.Quote(sc)+" is not one the client may have on this API")
			return
		}
	}
	ttl := time.Duration(req.ExpiresIn) * time.Second
	if req.ExpiresIn == 0 {
		ttl = 90 * 24 * time.Hour
	}
	if ttl <= 0 || ttl > maxAPIKeyTTL {
		writeProblem(w, http.StatusBadRequest, "invalid expires_in", "expires_in must be between 1 and 31622400 seconds (366 days)")
		return
	}
	now := h.now().Truncate(time.Second)
	key := gatehouse.NewSecret(token.PrefixAPIKey)
	rec := &gatehouse.Token{
		ID: token.NewID(), Hash: gatehouse.HashSecret(key), Kind: gatehouse.KindAPIKey, Format: gatehouse.FormatOpaque,
		ClientID: client.ID, Subject: client.ID, Audience: api.Audience, Scopes: req.Scopes, IssuedAt: now, ExpiresAt: now.Add(ttl),
	}
	if err := h.Tokens.CreateToken(ctx, rec); err != nil {
		h.Log.Error("create API key", "err", err)
		writeProblem(w, http.StatusInternalServerError, "internal error", "internal error")
		return
	}
	h.Log.Info("API key created", "client_id", client.ID, "api", api.Name, "key_id", rec.ID)
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusCreated, struct {
		Key       string `json:"api_key"`
		ID        string `json:"id"`
		ExpiresAt string `json:"expires_at"`
	}{key, rec.ID, rec.ExpiresAt.UTC().Format(time.RFC3339)})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// writeProblem writes an RFC 9457 problem document.
func writeProblem(w http.ResponseWriter, status int, title, detail string) {
	w.Header().Set("Content-Type", "application/problem+json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(struct {
		Type   string `json:"type"`
		Title  string `json:"title"`
		Status int    `json:"status"`
		Detail string `json:"detail"`
	}{"about:blank", title, status, detail})
}
