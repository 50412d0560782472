package oauth

import (
	"net/http"
	"sort"
)

// handleAccount lets a signed-in user see and withdraw the consents they
// gave. Withdrawing also revokes every grant the user gave that client, so
// its refresh and access tokens stop working at once.
func (s *Server) handleAccount(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	now := s.now()
	user, sess, err := s.currentUser(ctx, r, now)
	if err != nil {
		s.errorPage(w, s.internalError(ctx, "find user", err))
		return
	}
	if user == nil {
		s.render(w, http.StatusOK, "login.html", pageData{Title: "Sign in", CSRF: s.csrfToken(w, r)})
		return
	}
	msg := ""
	if r.Method == http.MethodPost {
		f, e := readForm(w, r)
		if e != nil {
			s.errorPage(w, e)
			return
		}
		if !s.checkCSRF(r, f.get("csrf")) {
			s.errorPage(w, &Error{Status: http.StatusForbidden, Description: "the form expired or did not come from this site; go back and try again"})
			return
		}
		switch f.get("action") {
		case "logout":
			s.loggedOut.add(sess.ID, sess.Expires, now.Unix())
			s.clearSession(w, r)
			s.render(w, http.StatusOK, "login.html", pageData{Title: "Sign in", CSRF: s.csrfToken(w, r)})
			return
		case "withdraw":
			clientID := f.get("client_id")
			if clientID == "" {
				s.errorPage(w, errInvalidRequest("choose an application to withdraw"))
				return
			}
			if err := s.Consents.DeleteConsent(ctx, user.ID, clientID); isNotFound(err) {
				s.errorPage(w, &Error{Status: http.StatusNotFound, Description: "you have not allowed that application"})
				return
			} else if err != nil {
				s.errorPage(w, s.internalError(ctx, "delete consent", err))
				return
			}
			if e := s.revokeUserGrants(ctx, user.ID, clientID); e != nil {
				s.errorPage(w, e)
				return
			}
			msg = "Access withdrawn."
		default:
			s.errorPage(w, errInvalidRequest("unknown form action"))
			return
		}
	} else if r.Method != http.MethodGet {
		s.errorPage(w, &Error{Status: http.StatusMethodNotAllowed, Description: "use GET or POST"})
		return
	}
	consents, err := s.Consents.FindConsents(ctx, user.ID)
	if err != nil {
		s.errorPage(w, s.internalError(ctx, "find consents", err))
		return
	}
	rows := make([]consentRow, 0, len(consents))
	for _, c := range consents {
		name := c.ClientID
		if cl, err := s.Clients.FindClientByID(ctx, c.ClientID); err == nil {
			name = clientName(cl)
		}
		rows = append(rows, consentRow{ClientID: c.ClientID, ClientName: name, Scopes: c.Scopes})
	}
	sort.Slice(rows, func(i, j int) bool { return rows[i].ClientName < rows[j].ClientName })
	s.render(w, http.StatusOK, "account.html", pageData{
		Title: "Your authorizations", CSRF: s.csrfToken(w, r), Username: user.Username, Consents: rows, Message: msg,
	})
}
