package admin

import (
	"context"
	"net/http"
	"strings"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/internal/token"
)

// AccountFinder looks up the account of a token subject (a user id), per
// request, so that a role change or a disabled account takes effect on the
// next call. CodeNotFound when the subject is no account (the bootstrap
// client, a config client using client_credentials).
type AccountFinder interface {
	FindUserByID(ctx context.Context, id string) (*gatehouse.User, error)
}

// kind is what a caller may do.
type kind uint8

const (
	kindAdmin     kind = iota + 1 // every team's objects
	kindDeveloper                 // routes marked for developers, own team only
)

// Principal is the authenticated caller of one request.
type Principal struct {
	Subject  string
	ClientID string
	TokenID  string
	Role     gatehouse.Role // "" when the subject is no account
	Team     string         // set for developers
	kind     kind
	readOnly bool // GET only (scope admin:read, role auditor)
}

// IsAdmin reports whether p may do everything.
func (p *Principal) IsAdmin() bool { return p.kind == kindAdmin && !p.readOnly }

// IsDeveloper reports whether p is limited to its team.
func (p *Principal) IsDeveloper() bool { return p.kind == kindDeveloper }

// SeesTeam reports whether p may see objects owned by team. Objects of
// other teams must look absent to a developer (404), not forbidden, so
// that their existence leaks nothing.
func (p *Principal) SeesTeam(team string) bool { return p.kind != kindDeveloper || team == p.Team }

// authenticate resolves the caller from the bearer token: a Gatehouse
// access token for the admin audience. Scope admin may do everything,
// admin:read may read everything, developer may use the developer routes
// for its own team. When the subject has an account, its role caps what
// the scope allows: an auditor's token never writes and a developer's
// never leaves its team, whatever the scope; a developer needs an account
// with a team.
func (h *Handler) authenticate(r *http.Request) (*Principal, *Problem) {
	scheme, tok, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || tok == "" {
		h.authFailed(r, "no bearer token")
		return nil, problem(http.StatusUnauthorized, typeUnauthorized, "unauthorized", "an admin access token is required")
	}
	claims, err := h.Verifier.Verify(r.Context(), strings.TrimSpace(tok))
	if err != nil {
		if token.ReasonOf(err) == "" {
			h.Log.ErrorContext(r.Context(), "admin token check failed", "err", err)
			return nil, problem(http.StatusInternalServerError, typeInternal, "internal error", "internal error")
		}
		h.authFailed(r, string(token.ReasonOf(err)))
		return nil, problem(http.StatusUnauthorized, typeUnauthorized, "unauthorized", "the access token is not valid")
	}
	noteActor(r, claims.Subject, claims.ClientID)
	// The admin API checks no DPoP proof nor client certificate, so a
	// key-bound token used here as a plain bearer token would drop its
	// binding: a stolen DPoP token would work without the key. Refused.
	if claims.Cnf.Bound() {
		h.authFailed(r, "key-bound token")
		return nil, problem(http.StatusUnauthorized, typeUnauthorized, "unauthorized",
			"key-bound tokens are not accepted here; use a bearer token")
	}
	forbidden := problem(http.StatusForbidden, typeForbidden, "forbidden",
		"the token is not an admin token (audience "+gatehouse.AdminAudience+", scope admin, admin:read or developer)")
	if claims.Audience != gatehouse.AdminAudience {
		h.authFailed(r, "wrong audience")
		return nil, forbidden
	}
	p := &Principal{Subject: claims.Subject, ClientID: claims.ClientID, TokenID: claims.ID}
	switch {
	case claims.HasScope(gatehouse.AdminScope):
		p.kind = kindAdmin
	case claims.HasScope(gatehouse.AdminReadScope):
		p.kind, p.readOnly = kindAdmin, true
	case claims.HasScope(gatehouse.DeveloperScope):
		p.kind = kindDeveloper
	default:
		h.authFailed(r, "no admin scope")
		return nil, forbidden
	}
	var acc *gatehouse.User
	if h.Accounts != nil {
		acc, err = h.Accounts.FindUserByID(r.Context(), claims.Subject)
		switch {
		case gatehouse.ErrorCode(err) == gatehouse.CodeNotFound:
			acc = nil
		case err != nil:
			h.Log.ErrorContext(r.Context(), "find account", "err", err)
			return nil, problem(http.StatusInternalServerError, typeInternal, "internal error", "internal error")
		case acc.Disabled:
			h.authFailed(r, "account disabled")
			return nil, problem(http.StatusForbidden, typeForbidden, "forbidden", "the account is disabled")
		}
	}
	if acc != nil {
		p.Role = acc.Role
		switch acc.Role {
		case gatehouse.RoleOwner, gatehouse.RoleAdmin:
		case gatehouse.RoleAuditor:
			p.readOnly = true
			if p.kind == kindDeveloper {
				p.kind = kindAdmin // an auditor reads everything, never more
			}
		case gatehouse.RoleDeveloper:
			p.kind = kindDeveloper
		default: // an account that only logs in to authorize clients
			h.authFailed(r, "account without a role")
			return nil, problem(http.StatusForbidden, typeForbidden, "forbidden", "the account has no management role")
		}
		if p.kind == kindDeveloper {
			p.Team = acc.Team
		}
	}
	if p.kind == kindDeveloper && p.Team == "" {
		h.authFailed(r, "developer without a team")
		return nil, problem(http.StatusForbidden, typeForbidden, "forbidden", "a developer token needs an account that belongs to a team")
	}
	return p, nil
}

// allowed reports whether p may call rt: admins everything, auditors any
// GET, developers the routes marked for them.
func (p *Principal) allowed(method string, rt *route) bool {
	switch p.kind {
	case kindAdmin:
		return !p.readOnly || method == http.MethodGet
	case kindDeveloper:
		return rt.dev && (!p.readOnly || method == http.MethodGet)
	}
	return false
}

// authFailed notes a refused admin authentication. Tokens never reach the
// log; the reason and the peer do.
func (h *Handler) authFailed(r *http.Request, reason string) {
	noteAuthFailure(r, reason)
	h.Log.InfoContext(r.Context(), "admin authentication failed", "reason", reason, "ip", r.RemoteAddr,
		"method", r.Method, "path", r.URL.Path)
}
