package admin

import (
	"context"
	"net/http"
	"strconv"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/internal/token"
)

type subscriptionView struct {
	ID             string   `json:"id"`
	AppID          string   `json:"app_id"`
	API            string   `json:"api"`
	Scopes         []string `json:"scopes"`
	ApprovedScopes []string `json:"approved_scopes"`
	State          string   `json:"state"`
	Reason         string   `json:"reason,omitempty"`
	ExpiresAt      string   `json:"expires_at,omitempty"`
	Source         string   `json:"source"`
	Revision       int64    `json:"revision"`
	CreatedAt      string   `json:"created_at,omitempty"`
	UpdatedAt      string   `json:"updated_at,omitempty"`
}

func (h *Handler) viewSubscription(s *gatehouse.Subscription) subscriptionView {
	v := subscriptionView{ID: s.ID, AppID: s.ClientID, API: s.API, Scopes: s.Scopes, ApprovedScopes: s.ApprovedScopes,
		State: string(s.StateAt(h.now())), Reason: s.Reason, ExpiresAt: rfc3339(s.ExpiresAt), Source: string(s.Source),
		Revision: s.Revision, CreatedAt: rfc3339(s.CreatedAt), UpdatedAt: rfc3339(s.UpdatedAt)}
	if v.Scopes == nil {
		v.Scopes = []string{}
	}
	if v.ApprovedScopes == nil {
		v.ApprovedScopes = []string{}
	}
	return v
}

func (h *Handler) writeSubscription(w http.ResponseWriter, status int, s *gatehouse.Subscription) {
	w.Header().Set("ETag", revTag(s.Revision))
	writeJSON(w, status, h.viewSubscription(s))
}

// findSubscription finds a subscription whose app the caller may see.
func (h *Handler) findSubscription(r *http.Request, p *Principal) (*gatehouse.Subscription, error) {
	s, err := h.Subscriptions.FindSubscription(r.Context(), r.PathValue("id"))
	if gatehouse.ErrorCode(err) == gatehouse.CodeNotFound {
		return nil, notFound("subscription")
	} else if err != nil {
		return nil, err
	}
	if p.IsDeveloper() {
		if _, err := h.findApp(r, p, s.ClientID); isNotFound(err) {
			return nil, notFound("subscription")
		} else if err != nil {
			return nil, err
		}
	}
	return s, nil
}

func (h *Handler) listSubscriptions(w http.ResponseWriter, r *http.Request, p *Principal) error {
	pg, err := parseQuery(r, "app_id", "api", "team", "state")
	if err != nil {
		return err
	}
	q := r.URL.Query()
	f := gatehouse.SubscriptionFilter{ClientID: q.Get("app_id"), API: q.Get("api"), Team: q.Get("team"),
		State: gatehouse.SubscriptionState(q.Get("state")), Page: pageOf(pg)}
	if f.State != "" && !contains(gatehouse.SubscriptionStates, f.State) {
		return invalidParam("state", "must be pending, approved, rejected, suspended, revoked or expired")
	}
	if p.IsDeveloper() {
		if f.Team != "" && f.Team != p.Team {
			writeJSON(w, http.StatusOK, storeList([]subscriptionView{}, ""))
			return nil
		}
		f.Team = p.Team
	}
	subs, next, err := h.Subscriptions.FindSubscriptions(r.Context(), f)
	if err != nil {
		return listErr(err, pg)
	}
	views := make([]subscriptionView, len(subs))
	for i, s := range subs {
		views[i] = h.viewSubscription(s)
	}
	writeJSON(w, http.StatusOK, storeList(views, next))
	return nil
}

func (h *Handler) getSubscription(w http.ResponseWriter, r *http.Request, p *Principal) error {
	s, err := h.findSubscription(r, p)
	if err != nil {
		return err
	}
	h.writeSubscription(w, http.StatusOK, s)
	return nil
}

// createSubscription subscribes an app to an API version: approved at once
// when the API's approval is auto, pending when it is manual. A developer
// subscribes their own team's apps only.
func (h *Handler) createSubscription(w http.ResponseWriter, r *http.Request, p *Principal) error {
	var req struct {
		AppID     string   `json:"app_id"`
		API       string   `json:"api"`
		Scopes    []string `json:"scopes"`
		ExpiresAt string   `json:"expires_at"`
	}
	if err := readJSON(w, r, &req, maxBody, false); err != nil {
		return err
	}
	app, err := h.findApp(r, p, req.AppID)
	if isNotFound(err) {
		return invalidField("app_id", "no such app")
	} else if err != nil {
		return err
	}
	if app.ID == gatehouse.AdminClientID || app.Disabled {
		return invalidField("app_id", "the app cannot subscribe (built in or disabled)")
	}
	api, err := h.APIs.FindAPI(r.Context(), req.API)
	if gatehouse.ErrorCode(err) == gatehouse.CodeNotFound || (err == nil && (api.Name == gatehouse.AdminAPIName || !visibleAPI(p, api))) {
		return invalidField("api", "no such API")
	} else if err != nil {
		return err
	}
	now := h.now()
	exp, err := parseTime("expires_at", req.ExpiresAt)
	if err != nil {
		return err
	}
	for i, sc := range req.Scopes {
		if !api.HasScope(sc) {
			return invalidField("scopes."+strconv.Itoa(i), "is not a scope of API "+api.Name)
		}
	}
	if p.IsDeveloper() && api.Approval != gatehouse.ApprovalManual {
		overruled, err := h.overruled(r, p, app, api.Name)
		if err != nil {
			return err
		}
		if overruled {
			// An administrator stopped this app's access to the API: the
			// developer's new request waits for an administrator again,
			// rather than undoing the decision through auto-approval.
			manual := *api
			manual.Approval = gatehouse.ApprovalManual
			api = &manual
		}
	}
	s, change, err := gatehouse.NewSubscription(token.NewID(), app.ID, api, req.Scopes, exp, p.actor(), now)
	if err != nil {
		if gatehouse.ErrorCode(err) == gatehouse.CodeConflict {
			return &Problem{Type: typeTransition, Title: "invalid transition", Status: http.StatusConflict,
				Detail: gatehouse.ErrorMessage(err), Field: "api", Reason: gatehouse.ErrorMessage(err)}
		}
		if gatehouse.ErrorCode(err) == gatehouse.CodeInvalid {
			return invalidField("expires_at", gatehouse.ErrorMessage(err))
		}
		return err
	}
	s.Source = gatehouse.SourceAdmin
	if err := h.Subscriptions.CreateSubscription(r.Context(), s, change); err != nil {
		if gatehouse.ErrorCode(err) == gatehouse.CodeConflict {
			return &Problem{Type: typeConflict, Title: "conflict", Status: http.StatusConflict,
				Detail: "the app already has an open subscription to this API", Field: "api", Reason: "already subscribed"}
		}
		return err
	}
	if err := h.changed(r.Context()); err != nil {
		return err
	}
	h.Log.Info("subscription created", "subscription_id", s.ID, "client_id", app.ID, "api", api.Name, "state", string(s.State))
	w.Header().Set("Location", "/admin/v1/subscriptions/"+s.ID)
	h.writeSubscription(w, http.StatusCreated, s)
	return nil
}

// subscriptionAction runs one move of the subscription state machine. A
// move that the state does not allow is a 409 naming the state and the
// rule. If-Match is optional here: the state machine already refuses a
// move that no longer applies; when sent, it must match.
func (h *Handler) subscriptionAction(action string) func(http.ResponseWriter, *http.Request, *Principal) error {
	return func(w http.ResponseWriter, r *http.Request, p *Principal) error {
		rev, err := ifMatch(r, true)
		if err != nil {
			return err
		}
		var req struct {
			Scopes []string `json:"scopes"`
			Reason string   `json:"reason"`
		}
		if err := readJSON(w, r, &req, maxBody, true); err != nil {
			return err
		}
		if req.Scopes != nil && action != gatehouse.ActionApprove {
			return invalidField("scopes", "only an approval takes scopes")
		}
		if req.Scopes != nil && len(req.Scopes) == 0 {
			// The domain reads no scopes as "every scope asked for"; an
			// explicit empty list more likely meant none, so it is refused.
			return invalidField("scopes", "must name at least one scope; leave it out to approve every scope asked for")
		}
		if err := checkText("reason", req.Reason, 500); err != nil {
			return err
		}
		s, err := h.findSubscription(r, p)
		if err != nil {
			return err
		}
		if rev != 0 && rev != s.Revision {
			return stale()
		}
		now, actor := h.now(), p.actor()
		var change gatehouse.StateChange
		switch action {
		case gatehouse.ActionApprove:
			change, err = s.Approve(req.Scopes, actor, req.Reason, now)
			if gatehouse.ErrorCode(err) == gatehouse.CodeInvalid {
				return invalidField("scopes", gatehouse.ErrorMessage(err))
			}
		case gatehouse.ActionReject:
			change, err = s.Reject(actor, req.Reason, now)
			if gatehouse.ErrorCode(err) == gatehouse.CodeInvalid {
				return invalidField("reason", gatehouse.ErrorMessage(err))
			}
		case gatehouse.ActionSuspend:
			change, err = s.Suspend(actor, req.Reason, now)
		case gatehouse.ActionResume:
			change, err = s.Resume(actor, req.Reason, now)
		case gatehouse.ActionRevoke:
			change, err = s.Revoke(actor, req.Reason, now)
		}
		if err != nil {
			return err
		}
		if err := h.Subscriptions.UpdateSubscription(r.Context(), s, &change); err != nil {
			return err
		}
		if err := h.changed(r.Context()); err != nil {
			return err
		}
		h.Log.Info("subscription "+change.To, "subscription_id", s.ID, "client_id", s.ClientID, "api", s.API, "from", change.From)
		h.writeSubscription(w, http.StatusOK, s)
		return nil
	}
}

func (h *Handler) subscriptionHistory(w http.ResponseWriter, r *http.Request, p *Principal) error {
	s, err := h.findSubscription(r, p)
	if err != nil {
		return err
	}
	return h.history(w, r, gatehouse.ObjectSubscription, s.ID)
}

// overruled reports whether an earlier subscription of app to the API was
// suspended, rejected or revoked by an administrator: any suspension
// (only administrators suspend), and a rejection or revocation by anyone
// but a developer of the app's team.
func (h *Handler) overruled(r *http.Request, p *Principal, app *gatehouse.Client, api string) (bool, error) {
	ctx := r.Context()
	f := gatehouse.SubscriptionFilter{ClientID: app.ID, API: api, Page: gatehouse.Page{Limit: gatehouse.MaxPageLimit}}
	for {
		subs, next, err := h.Subscriptions.FindSubscriptions(ctx, f)
		if err != nil {
			return false, err
		}
		for _, s := range subs {
			cf := gatehouse.StateChangeFilter{Kind: gatehouse.ObjectSubscription, ID: s.ID, Page: gatehouse.Page{Limit: gatehouse.MaxPageLimit}}
			for {
				steps, nextStep, err := h.APIs.FindStateChanges(ctx, cf)
				if err != nil {
					return false, err
				}
				for _, st := range steps {
					switch gatehouse.SubscriptionState(st.To) {
					case gatehouse.SubSuspended:
						return true, nil
					case gatehouse.SubRejected, gatehouse.SubRevoked:
						dev, err := h.teamDeveloper(ctx, st.Actor, app.Team)
						if err != nil {
							return false, err
						}
						if !dev {
							return true, nil
						}
					}
				}
				if nextStep == "" {
					break
				}
				cf.Cursor = nextStep
			}
		}
		if next == "" {
			return false, nil
		}
		f.Cursor = next
	}
}

// teamDeveloper reports whether actor is a developer account of team.
func (h *Handler) teamDeveloper(ctx context.Context, actor, team string) (bool, error) {
	if h.Accounts == nil {
		return false, nil
	}
	u, err := h.Accounts.FindUserByID(ctx, actor)
	if gatehouse.ErrorCode(err) == gatehouse.CodeNotFound {
		return false, nil
	} else if err != nil {
		return false, err
	}
	return u.Role == gatehouse.RoleDeveloper && u.Team == team, nil
}
