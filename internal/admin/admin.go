// Package admin is the admin listener's surface: health, metrics and the
// admin REST API under /admin/v1, authenticated with Gatehouse's own access
// tokens for the built-in admin API (audience urn:gatehouse:admin; scope
// admin, admin:read or developer). Its OpenAPI 3.1 document is
// openapi.json beside this file, served at /admin/v1/openapi.json.
package admin

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/internal/token"
)

// TokenStore records and revokes tokens. Error contract as in
// internal/storetest.
type TokenStore interface {
	CreateToken(ctx context.Context, t *gatehouse.Token) error
	FindTokenByID(ctx context.Context, id string) (*gatehouse.Token, error)
	FindTokenByHash(ctx context.Context, hash []byte) (*gatehouse.Token, error)
	// FindTokens lists tokens matching f ordered by id.
	FindTokens(ctx context.Context, f gatehouse.TokenFilter) ([]*gatehouse.Token, error)
	RevokeToken(ctx context.Context, id string, at time.Time) (bool, error)
	RevokeGrant(ctx context.Context, grantID string, at time.Time) (int, error)
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
	// Accounts maps token subjects to accounts (role, team); nil means no
	// subject is an account.
	Accounts      AccountFinder
	Teams         TeamStore
	AccountsStore AccountStore
	APIs          APIStore
	Apps          AppStore
	Subscriptions SubscriptionStore
	// Changed is called after every change to the management plane and
	// before the response; it makes the node apply the change at once.
	Changed func(ctx context.Context) error
	// ValidateAPI checks an API version as the gateway will load it
	// (routes compile, upstreams parse) before it is stored.
	ValidateAPI func(a *gatehouse.API) error
	// ValidateOpenAPI checks an imported OpenAPI document (JSON or YAML).
	ValidateOpenAPI func(doc []byte) error
	Calls           CallStore // the call log; nil when it is disabled
	// IssueAPIKey issues an API key credential for an app on an API with
	// its token record, as (*app.Node).IssueAPIKey does (scopes nil: every
	// scope the app may use there). Errors: CodeNotFound for an unknown
	// API, CodeForbidden without an active subscription, CodeInvalid or
	// CodeConflict for a key that cannot be issued. Nil: no API keys.
	IssueAPIKey func(ctx context.Context, clientID, api string, scopes []string, ttl time.Duration, label string) (string, *gatehouse.Credential, error)
	// APIByName resolves an API of the catalog.
	APIByName func(name string) *gatehouse.API
	// Revocations is updated before a revoking call returns, so the
	// gateway and introspection refuse the tokens at once.
	Revocations *token.Revocations
	// GrantLifetime bounds how long a revoked grant must be remembered.
	GrantLifetime time.Duration
	Stale         StaleLister  // idle revocation's upcoming work (stale.go); optional
	Metrics       http.Handler // the Prometheus handler
	Audit         AuditLog     // records admin actions; see audit.go
	Log           *slog.Logger
	Now           func() time.Time
}

// maxRegistrationTokenTTL bounds how long a registration token lives.
const maxRegistrationTokenTTL = 30 * 24 * time.Hour

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
	_, _ = w.Write([]byte("ready\n"))
}

func (h *Handler) createRegistrationToken(w http.ResponseWriter, r *http.Request, _ *Principal) error {
	var req struct {
		ExpiresIn int64 `json:"expires_in"`
	}
	if err := readJSON(w, r, &req, 4096, true); err != nil {
		return err
	}
	ttl := time.Duration(req.ExpiresIn) * time.Second
	if req.ExpiresIn == 0 {
		ttl = 24 * time.Hour
	}
	if ttl <= 0 || ttl > maxRegistrationTokenTTL {
		return invalidField("expires_in", "must be between 1 and 2592000 seconds")
	}
	now := h.now().Truncate(time.Second)
	tok := gatehouse.NewSecret(token.PrefixRegistration)
	rec := &gatehouse.Token{
		ID: token.NewID(), Hash: gatehouse.HashSecret(tok), Kind: gatehouse.KindRegistration,
		Format: gatehouse.FormatOpaque, ClientID: gatehouse.AdminClientID, Subject: gatehouse.AdminClientID,
		IssuedAt: now, ExpiresAt: now.Add(ttl),
	}
	if err := h.Tokens.CreateToken(r.Context(), rec); err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, struct {
		Token     string `json:"token"`
		ID        string `json:"id"`
		ExpiresAt string `json:"expires_at"`
	}{tok, rec.ID, rec.ExpiresAt.UTC().Format(time.RFC3339)})
	return nil
}

func (h *Handler) rotateKeys(w http.ResponseWriter, r *http.Request, _ *Principal) error {
	if err := h.Keys.Rotate(r.Context()); err != nil {
		if gatehouse.ErrorCode(err) == gatehouse.CodeConflict {
			return problem(http.StatusConflict, typeConflict, "conflict", "another rotation happened at the same time; retry")
		}
		return err
	}
	writeJSON(w, http.StatusOK, struct {
		SigningKID string `json:"signing_kid"`
	}{h.Keyring.SigningKeyID()})
	return nil
}

// revokeUserGrants revokes every grant of one user: all their refresh and
// access tokens stop working before the call returns.
func (h *Handler) revokeUserGrants(w http.ResponseWriter, r *http.Request, _ *Principal) error {
	ctx := r.Context()
	id := r.PathValue("id")
	if err := readJSON(w, r, &struct{}{}, 1024, true); err != nil {
		return err
	}
	if _, err := h.Users.FindUserByID(ctx, id); gatehouse.ErrorCode(err) == gatehouse.CodeNotFound {
		return notFound("user")
	} else if err != nil {
		return err
	}
	now := h.now()
	ids, err := h.Users.RevokeGrantsBySubject(ctx, id, now)
	if err != nil {
		return err
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
	return nil
}

// maxAPIKeyTTL bounds an API key's life; keys are rotated, not eternal.
const maxAPIKeyTTL = 366 * 24 * time.Hour

// defaultAPIKeyTTL is an API key's life when none is asked for.
const defaultAPIKeyTTL = 90 * 24 * time.Hour

// createAPIKey issues an API key for one client on one API with some of the
// scopes the client may have there (none named: every one), through
// IssueAPIKey, the rules of every API key: an approved, unexpired
// subscription covering the scopes (or direct access without one), a
// published or deprecated API, never past the subscription's end. The key
// is shown once; only its hash is kept. Its id is the key's token record;
// credential_id names it among the app's credentials, where it is revoked
// with its token (revoking the token alone, by RFC 7009 or the tokens
// route, stops the key too).
func (h *Handler) createAPIKey(w http.ResponseWriter, r *http.Request, _ *Principal) error {
	var req struct {
		ClientID  string   `json:"client_id"`
		API       string   `json:"api"`
		Scopes    []string `json:"scopes"`
		ExpiresIn int64    `json:"expires_in"`
	}
	if err := readJSON(w, r, &req, 8192, false); err != nil {
		return err
	}
	if h.IssueAPIKey == nil {
		return noAPIKeys("api")
	}
	ctx := r.Context()
	client, err := h.Clients.FindClientByID(ctx, req.ClientID)
	if gatehouse.ErrorCode(err) == gatehouse.CodeNotFound || (err == nil && client.Disabled) {
		return invalidField("client_id", "no active client with that id")
	} else if err != nil {
		return err
	}
	if h.APIByName(req.API) == nil {
		return invalidField("api", "no API with that name")
	}
	ttl := time.Duration(req.ExpiresIn) * time.Second
	if req.ExpiresIn == 0 {
		ttl = defaultAPIKeyTTL
	}
	if ttl <= 0 || ttl > maxAPIKeyTTL {
		return invalidField("expires_in", "must be between 1 and 31622400 seconds (366 days)")
	}
	key, cred, err := h.IssueAPIKey(ctx, client.ID, req.API, req.Scopes, ttl, "")
	switch gatehouse.ErrorCode(err) {
	case "":
	case gatehouse.CodeInvalid:
		return invalidField("scopes", gatehouse.ErrorMessage(err))
	case gatehouse.CodeForbidden, gatehouse.CodeNotFound, gatehouse.CodeConflict:
		// No (active) subscription or access, or an API not open for
		// keys: the request names something it cannot have.
		return invalidField("api", gatehouse.ErrorMessage(err))
	default:
		return err
	}
	rec, err := h.Tokens.FindTokenByHash(ctx, gatehouse.HashSecret(key))
	if err != nil {
		return err
	}
	h.Log.Info("API key created", "client_id", client.ID, "api", req.API, "key_id", rec.ID, "credential_id", cred.ID)
	writeJSON(w, http.StatusCreated, struct {
		Key          string `json:"api_key"`
		ID           string `json:"id"`
		CredentialID string `json:"credential_id"`
		ExpiresAt    string `json:"expires_at"`
	}{key, rec.ID, cred.ID, rec.ExpiresAt.UTC().Format(time.RFC3339)})
	return nil
}
