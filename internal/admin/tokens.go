package admin

import (
	"net/http"
	"time"

	"github.com/gatehouse/gatehouse"
)

// tokenView is a stored token as the admin API shows it: never its value
// nor its hash.
type tokenView struct {
	ID        string   `json:"id"`
	Kind      string   `json:"kind"`
	Format    string   `json:"format"`
	ClientID  string   `json:"client_id"`
	Subject   string   `json:"subject"`
	Audience  string   `json:"audience,omitempty"`
	Scopes    []string `json:"scopes"`
	GrantID   string   `json:"grant_id,omitempty"`
	Status    string   `json:"status"` // active, revoked, rotated, expired
	IssuedAt  string   `json:"issued_at,omitempty"`
	ExpiresAt string   `json:"expires_at"`
	RevokedAt string   `json:"revoked_at,omitempty"`
}

func rfc3339(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}

func viewToken(t *gatehouse.Token, now time.Time) tokenView {
	v := tokenView{
		ID: t.ID, Kind: string(t.Kind), Format: string(t.Format), ClientID: t.ClientID, Subject: t.Subject,
		Audience: t.Audience, Scopes: t.Scopes, GrantID: t.GrantID, IssuedAt: rfc3339(t.IssuedAt),
		ExpiresAt: rfc3339(t.ExpiresAt), RevokedAt: rfc3339(t.RevokedAt), Status: "active",
	}
	if v.Scopes == nil {
		v.Scopes = []string{}
	}
	switch {
	case !t.RevokedAt.IsZero():
		v.Status = "revoked"
	case !t.RotatedAt.IsZero():
		v.Status = "rotated"
	case !now.Before(t.ExpiresAt):
		v.Status = "expired"
	}
	return v
}

var tokenKinds = []gatehouse.TokenKind{gatehouse.KindAccess, gatehouse.KindRefresh, gatehouse.KindRegistration,
	gatehouse.KindAPIKey, gatehouse.KindClientManagement}

// listTokens lists stored tokens (opaque access tokens, JWT records,
// refresh tokens, API keys, registration tokens) with filters.
func (h *Handler) listTokens(w http.ResponseWriter, r *http.Request, _ *Principal) error {
	pg, err := parseQuery(r, "client_id", "subject", "audience", "kind", "active")
	if err != nil {
		return err
	}
	q := r.URL.Query()
	f := gatehouse.TokenFilter{ClientID: q.Get("client_id"), Subject: q.Get("subject"), Audience: q.Get("audience"),
		Kind: gatehouse.TokenKind(q.Get("kind")), After: pg.After, Limit: pg.Limit + 1}
	if f.Kind != "" && !contains(tokenKinds, f.Kind) {
		return invalidParam("kind", "must be one of access, refresh, registration, api_key, client_management")
	}
	now := h.now()
	switch q.Get("active") {
	case "", "false":
	case "true":
		f.ActiveAt = now
	default:
		return invalidParam("active", "must be true or false")
	}
	toks, err := h.Tokens.FindTokens(r.Context(), f)
	if err != nil {
		return err
	}
	views := make([]tokenView, len(toks))
	for i, t := range toks {
		views[i] = viewToken(t, now)
	}
	writeJSON(w, http.StatusOK, newList(views, pg, func(v tokenView) string { return v.ID }))
	return nil
}

func (h *Handler) getToken(w http.ResponseWriter, r *http.Request, _ *Principal) error {
	t, err := h.Tokens.FindTokenByID(r.Context(), r.PathValue("id"))
	if gatehouse.ErrorCode(err) == gatehouse.CodeNotFound {
		return notFound("token")
	} else if err != nil {
		return err
	}
	writeResource(w, http.StatusOK, viewToken(t, h.now()))
	return nil
}

// revokeToken revokes one token; a refresh token takes its whole grant
// with it (RFC 7009 2.1). The gateway refuses it before the call returns.
// Revoking a revoked token is not an error: the answer is the same.
func (h *Handler) revokeToken(w http.ResponseWriter, r *http.Request, _ *Principal) error {
	ctx := r.Context()
	if err := readJSON(w, r, &struct{}{}, 1024, true); err != nil {
		return err
	}
	t, err := h.Tokens.FindTokenByID(ctx, r.PathValue("id"))
	if gatehouse.ErrorCode(err) == gatehouse.CodeNotFound {
		return notFound("token")
	} else if err != nil {
		return err
	}
	now := h.now()
	if t.Kind == gatehouse.KindRefresh && t.GrantID != "" {
		if _, err := h.Tokens.RevokeGrant(ctx, t.GrantID, now); err != nil {
			return err
		}
		h.Revocations.Add(gatehouse.Revocation{GrantID: t.GrantID, Until: now.Add(h.GrantLifetime)})
	}
	if _, err := h.Tokens.RevokeToken(ctx, t.ID, now); err != nil {
		return err
	}
	h.Revocations.Add(gatehouse.Revocation{TokenID: t.ID, Until: t.ExpiresAt})
	h.Log.Info("token revoked by an administrator", "token_id", t.ID, "client_id", t.ClientID)
	if t, err = h.Tokens.FindTokenByID(ctx, t.ID); err != nil {
		return err
	}
	writeResource(w, http.StatusOK, viewToken(t, now))
	return nil
}

func contains[T comparable](s []T, v T) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}
