package admin

import (
	"net/http"
	"slices"
	"strings"

	"github.com/gatehouse/gatehouse"
)

type teamView struct {
	Name        string `json:"name"`
	Description string `json:"description"`
	Source      string `json:"source"`
	Revision    int64  `json:"revision"`
	CreatedAt   string `json:"created_at,omitempty"`
	UpdatedAt   string `json:"updated_at,omitempty"`
}

func viewTeam(t *gatehouse.Team) teamView {
	return teamView{Name: t.Name, Description: t.Description, Source: string(t.Source), Revision: t.Revision,
		CreatedAt: rfc3339(t.CreatedAt), UpdatedAt: rfc3339(t.UpdatedAt)}
}

func writeTeam(w http.ResponseWriter, status int, t *gatehouse.Team) {
	w.Header().Set("ETag", revTag(t.Revision))
	writeJSON(w, status, viewTeam(t))
}

// findTeam finds a team the caller may see; other teams do not exist for a
// developer.
func (h *Handler) findTeam(r *http.Request, p *Principal, name string) (*gatehouse.Team, error) {
	if !p.SeesTeam(name) {
		return nil, notFound("team")
	}
	t, err := h.Teams.FindTeam(r.Context(), name)
	if gatehouse.ErrorCode(err) == gatehouse.CodeNotFound {
		return nil, notFound("team")
	}
	return t, err
}

func (h *Handler) listTeams(w http.ResponseWriter, r *http.Request, p *Principal) error {
	pg, err := parseQuery(r)
	if err != nil {
		return err
	}
	if p.IsDeveloper() {
		// A developer's list is their own team, on one page.
		items := []teamView{}
		t, err := h.findTeam(r, p, p.Team)
		if err != nil && !isNotFound(err) {
			return err
		}
		if err == nil && pg.After == "" {
			items = append(items, viewTeam(t))
		}
		writeJSON(w, http.StatusOK, storeList(items, ""))
		return nil
	}
	teams, next, err := h.Teams.FindTeams(r.Context(), gatehouse.TeamFilter{Page: pageOf(pg)})
	if err != nil {
		return listErr(err, pg)
	}
	views := make([]teamView, len(teams))
	for i, t := range teams {
		views[i] = viewTeam(t)
	}
	writeJSON(w, http.StatusOK, storeList(views, next))
	return nil
}

func (h *Handler) getTeam(w http.ResponseWriter, r *http.Request, p *Principal) error {
	t, err := h.findTeam(r, p, r.PathValue("name"))
	if err != nil {
		return err
	}
	writeTeam(w, http.StatusOK, t)
	return nil
}

type teamRequest struct {
	Name        string  `json:"name"`
	Description *string `json:"description"`
}

func (h *Handler) createTeam(w http.ResponseWriter, r *http.Request, p *Principal) error {
	var req teamRequest
	if err := readJSON(w, r, &req, maxBody, false); err != nil {
		return err
	}
	if err := checkName("name", req.Name); err != nil {
		return err
	}
	t := &gatehouse.Team{Name: req.Name, Source: gatehouse.SourceAdmin, CreatedAt: h.now(), UpdatedAt: h.now()}
	if req.Description != nil {
		if err := checkText("description", *req.Description, 500); err != nil {
			return err
		}
		t.Description = *req.Description
	}
	if err := h.Teams.CreateTeam(r.Context(), t); err != nil {
		if gatehouse.ErrorCode(err) == gatehouse.CodeConflict {
			return &Problem{Type: typeConflict, Title: "conflict", Status: http.StatusConflict,
				Detail: "a team with that name exists", Field: "name", Reason: "taken"}
		}
		return err
	}
	if err := h.changed(r.Context()); err != nil {
		return err
	}
	w.Header().Set("Location", "/admin/v1/teams/"+t.Name)
	writeTeam(w, http.StatusCreated, t)
	return nil
}

func (h *Handler) updateTeam(w http.ResponseWriter, r *http.Request, p *Principal) error {
	rev, err := ifMatch(r, false)
	if err != nil {
		return err
	}
	var req struct {
		Description *string `json:"description"`
	}
	if err := readJSON(w, r, &req, maxBody, false); err != nil {
		return err
	}
	t, err := h.findTeam(r, p, r.PathValue("name"))
	if err != nil {
		return err
	}
	if err := configOwned(t.Source, "team"); err != nil {
		return err
	}
	if req.Description != nil {
		if err := checkText("description", *req.Description, 500); err != nil {
			return err
		}
		t.Description = *req.Description
	}
	t.Revision, t.UpdatedAt = rev, h.now()
	if err := h.Teams.UpdateTeam(r.Context(), t); err != nil {
		return err
	}
	if err := h.changed(r.Context()); err != nil {
		return err
	}
	writeTeam(w, http.StatusOK, t)
	return nil
}

func (h *Handler) deleteTeam(w http.ResponseWriter, r *http.Request, p *Principal) error {
	rev, err := ifMatch(r, false)
	if err != nil {
		return err
	}
	if t, err := h.findTeam(r, p, r.PathValue("name")); err != nil {
		return err
	} else if err := configOwned(t.Source, "team"); err != nil {
		return err
	}
	if err := h.Teams.DeleteTeam(r.Context(), r.PathValue("name"), rev); err != nil {
		return err
	}
	if err := h.changed(r.Context()); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func isNotFound(err error) bool {
	p, ok := err.(*Problem)
	return ok && p.Status == http.StatusNotFound
}

type accountView struct {
	ID        string `json:"id"`
	Username  string `json:"username"`
	Role      string `json:"role"`
	Team      string `json:"team"`
	Disabled  bool   `json:"disabled"`
	Revision  int64  `json:"revision"`
	CreatedAt string `json:"created_at,omitempty"`
	UpdatedAt string `json:"updated_at,omitempty"`
}

func viewAccount(u *gatehouse.User) accountView {
	return accountView{ID: u.ID, Username: u.Username, Role: string(u.Role), Team: u.Team, Disabled: u.Disabled,
		Revision: u.Revision, CreatedAt: rfc3339(u.CreatedAt), UpdatedAt: rfc3339(u.UpdatedAt)}
}

// listAccounts lists local accounts with filters; the password hash never
// leaves the store.
func (h *Handler) listAccounts(w http.ResponseWriter, r *http.Request, _ *Principal) error {
	pg, err := parseQuery(r, "role", "team")
	if err != nil {
		return err
	}
	q := r.URL.Query()
	role := gatehouse.Role(q.Get("role"))
	if role != "" && !role.Valid() {
		return invalidParam("role", "must be owner, admin, auditor or developer")
	}
	users, err := h.AccountsStore.FindUsers(r.Context())
	if err != nil {
		return err
	}
	slices.SortFunc(users, func(a, b *gatehouse.User) int { return strings.Compare(a.ID, b.ID) })
	var views []accountView
	for _, u := range users {
		if u.ID <= pg.After || (role != "" && u.Role != role) || (q.Get("team") != "" && u.Team != q.Get("team")) {
			continue
		}
		views = append(views, viewAccount(u))
		if len(views) > pg.Limit {
			break
		}
	}
	writeJSON(w, http.StatusOK, newList(views, pg, func(v accountView) string { return v.ID }))
	return nil
}

func (h *Handler) findAccount(r *http.Request) (*gatehouse.User, error) {
	u, err := h.AccountsStore.FindUserByID(r.Context(), r.PathValue("id"))
	if gatehouse.ErrorCode(err) == gatehouse.CodeNotFound {
		return nil, notFound("account")
	}
	return u, err
}

func (h *Handler) getAccount(w http.ResponseWriter, r *http.Request, _ *Principal) error {
	u, err := h.findAccount(r)
	if err != nil {
		return err
	}
	w.Header().Set("ETag", revTag(u.Revision))
	writeJSON(w, http.StatusOK, viewAccount(u))
	return nil
}

// updateAccount sets an account's role, team or status. Only an owner
// makes or unmakes owners and admins, and nobody changes their own role
// (so the last owner cannot lock everyone out by mistake).
func (h *Handler) updateAccount(w http.ResponseWriter, r *http.Request, p *Principal) error {
	rev, err := ifMatch(r, false)
	if err != nil {
		return err
	}
	var req struct {
		Role     *string `json:"role"`
		Team     *string `json:"team"`
		Disabled *bool   `json:"disabled"`
	}
	if err := readJSON(w, r, &req, maxBody, false); err != nil {
		return err
	}
	u, err := h.findAccount(r)
	if err != nil {
		return err
	}
	before, wasDisabled, wasTeam := u.Role, u.Disabled, u.Team
	if req.Role != nil {
		role := gatehouse.Role(*req.Role)
		if role != "" && !role.Valid() {
			return invalidField("role", "must be owner, admin, auditor, developer or empty (no management access)")
		}
		u.Role = role
	}
	if req.Team != nil {
		u.Team = *req.Team
		if u.Team != "" {
			if _, err := h.Teams.FindTeam(r.Context(), u.Team); gatehouse.ErrorCode(err) == gatehouse.CodeNotFound {
				return invalidField("team", "no such team")
			} else if err != nil {
				return err
			}
		}
	}
	if req.Disabled != nil {
		u.Disabled = *req.Disabled
	}
	powerful := func(r gatehouse.Role) bool { return r == gatehouse.RoleOwner || r == gatehouse.RoleAdmin }
	if (powerful(before) || powerful(u.Role)) && before != u.Role && p.Role != gatehouse.RoleOwner && p.Role != "" {
		return problem(http.StatusForbidden, typeForbidden, "forbidden", "only an owner grants or removes the owner and admin roles")
	}
	if powerful(before) && (u.Disabled != wasDisabled || u.Team != wasTeam) && p.Role != gatehouse.RoleOwner && p.Role != "" {
		return problem(http.StatusForbidden, typeForbidden, "forbidden", "only an owner disables, enables or moves an owner or admin account")
	}
	if u.ID == p.Subject && (before != u.Role || u.Disabled) {
		return invalidField("role", "an account cannot change its own role or disable itself")
	}
	if u.Role == gatehouse.RoleDeveloper && u.Team == "" {
		return invalidField("team", "a developer must belong to a team")
	}
	u.Revision, u.UpdatedAt = rev, h.now()
	if err := h.AccountsStore.UpdateUser(r.Context(), u); err != nil {
		return err
	}
	if err := h.changed(r.Context()); err != nil {
		return err
	}
	w.Header().Set("ETag", revTag(u.Revision))
	writeJSON(w, http.StatusOK, viewAccount(u))
	return nil
}
