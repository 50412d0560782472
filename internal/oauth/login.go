package oauth

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/internal/password"
	"github.com/gatehouse/gatehouse/internal/token"
)

// authCodeTTL keeps codes short-lived (RFC 6749 4.1.2 says at most 10 min).
const authCodeTTL = 60 * time.Second

// handleAuthorize is the authorization endpoint (RFC 6749 3.1). GET carries
// the client's request; POST carries Gatehouse's own login and consent
// forms, each repeating the original request so it is validated again.
func (s *Server) handleAuthorize(w http.ResponseWriter, r *http.Request) {
	switch r.Method {
	case http.MethodGet:
		s.authorize(w, r, r.URL.RawQuery, nil)
	case http.MethodPost:
		s.authorizePost(w, r)
	default:
		w.Header().Set("Allow", "GET, POST")
		s.errorPage(w, &Error{Status: http.StatusMethodNotAllowed, Description: "use GET"})
	}
}

// currentUser returns the signed-in, enabled user of the request, or nil.
func (s *Server) currentUser(ctx context.Context, r *http.Request, now time.Time) (*gatehouse.User, *session, error) {
	sess := s.readSession(r, now)
	if sess == nil {
		return nil, nil, nil
	}
	u, err := s.Users.FindUserByID(ctx, sess.UserID)
	if gatehouse.ErrorCode(err) == gatehouse.CodeNotFound {
		return nil, nil, nil
	} else if err != nil {
		return nil, nil, err
	}
	if u.Disabled || passwordBinding(u.PasswordHash) != sess.Password {
		return nil, nil, nil
	}
	return u, sess, nil
}

// authorize validates the request and moves it on: login, consent, or the
// redirect with a code. user is set when the login just happened.
func (s *Server) authorize(w http.ResponseWriter, r *http.Request, raw string, user *gatehouse.User) {
	ctx := r.Context()
	now := s.now()
	req, rerr, fatal := s.parseAuthorize(ctx, raw)
	if fatal != nil {
		s.errorPage(w, fatal)
		return
	}
	if rerr != nil {
		s.redirectError(w, r, rerr)
		return
	}
	if user == nil {
		u, _, err := s.currentUser(ctx, r, now)
		if err != nil {
			s.errorPage(w, s.internalError(ctx, "find user", err))
			return
		}
		if req.Prompt == "login" {
			u = nil // prompt=login asks for a fresh login, whatever the session
		}
		user = u
	}
	if user == nil {
		if req.Prompt == "none" {
			s.redirectError(w, r, &redirectError{Error: &Error{Code: "login_required", Description: "the user is not signed in"}, redirectURI: req.RedirectURI, state: req.State})
			return
		}
		s.render(w, http.StatusOK, "login.html", pageData{Title: "Sign in", CSRF: s.csrfToken(w, r), Authz: raw, ClientName: clientName(req.Client)})
		return
	}
	if req.API.Name == gatehouse.AdminAPIName {
		// The management plane: what a person may hold follows their
		// account's role, whatever the client asked for.
		if e := adminScopesFor(user, req); e != nil {
			s.redirectError(w, r, &redirectError{Error: e, redirectURI: req.RedirectURI, state: req.State})
			return
		}
	}
	consent, err := s.Consents.FindConsent(ctx, user.ID, req.Client.ID)
	if err != nil && gatehouse.ErrorCode(err) != gatehouse.CodeNotFound {
		s.errorPage(w, s.internalError(ctx, "find consent", err))
		return
	}
	if req.Prompt != "consent" && consent.Covers(req.API.Audience, req.Scopes) {
		s.issueCode(w, r, req, user, now)
		return
	}
	if req.Prompt == "none" {
		s.redirectError(w, r, &redirectError{Error: &Error{Code: "consent_required", Description: "the user has not approved this client"}, redirectURI: req.RedirectURI, state: req.State})
		return
	}
	s.render(w, http.StatusOK, "consent.html", pageData{
		Title: "Allow access", CSRF: s.csrfToken(w, r), Authz: raw, ClientName: clientName(req.Client),
		Username: user.Username, APIName: req.API.Name, Scopes: req.Scopes,
	})
}

// adminScopesFor narrows a request for the admin API to the user's role:
// no scope asked gets the role's own (developer, admin:read or admin); a
// scope beyond the role is refused, as is an account without a role.
func adminScopesFor(user *gatehouse.User, req *authzRequest) *Error {
	allowed := user.Role.AdminScopes()
	if len(allowed) == 0 {
		return &Error{Code: "access_denied", Description: "this account has no role on the management plane"}
	}
	if len(req.Scopes) == 0 {
		req.Scopes = allowed[:1]
		return nil
	}
	for _, sc := range req.Scopes {
		if !contains(allowed, sc) {
			return &Error{Code: "invalid_scope", Description: "scope " + quoteParam(sc) + " is beyond this account's role (" + string(user.Role) + ")"}
		}
	}
	return nil
}

func clientName(c *gatehouse.Client) string {
	if c.Name != "" {
		return c.Name
	}
	return c.ID
}

func (s *Server) authorizePost(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	f, e := readForm(w, r)
	if e != nil {
		s.errorPage(w, e)
		return
	}
	if !s.checkCSRF(r, f.get("csrf")) {
		s.errorPage(w, &Error{Status: http.StatusForbidden, Description: "the form expired or did not come from this site; go back and try again"})
		return
	}
	raw := f.get("authz")
	switch f.get("action") {
	case "login":
		user, msg, status := s.login(ctx, r, f.get("username"), f.get("password"))
		if user == nil {
			name := ""
			if len(f.get("username")) <= 200 {
				name = f.get("username")
			}
			d := pageData{Title: "Sign in", Error: msg, CSRF: s.csrfToken(w, r), Authz: raw, Username: name}
			if req, _, fatal := s.parseAuthorize(ctx, raw); fatal == nil && req != nil {
				d.ClientName = clientName(req.Client)
			}
			s.render(w, status, "login.html", d)
			return
		}
		s.setSession(w, r, user.ID, user.PasswordHash, s.now())
		if raw == "" {
			http.Redirect(w, r, PathAccount, http.StatusSeeOther)
			return
		}
		s.authorize(w, r, raw, user)
	case "consent":
		s.consent(w, r, raw, f.get("decision"), f.get("remember") == "1")
	default:
		s.errorPage(w, errInvalidRequest("unknown form action"))
	}
}

// accountFailureFactor: an account may fail this many times more than from
// one address, from all addresses together, before every attempt at it is
// slowed down. A success does not reset it (an attacker's guesses would
// otherwise start over each time its owner logs in); it is forgotten after
// the limiter's window without failures.
const accountFailureFactor = 20

// login checks a username and password, slowing down failures per account
// and address, per address, and per account from everywhere. It answers with the same message whether the name or the
// password was wrong, and takes the same time.
func (s *Server) login(ctx context.Context, r *http.Request, username, pw string) (*gatehouse.User, string, int) {
	now := s.now()
	username = strings.TrimSpace(username)
	if username == "" || pw == "" || len(username) > 200 || len(pw) > password.MaxLength*4 {
		return nil, "Enter your username and password.", http.StatusBadRequest
	}
	// Slow-down keys: the account from this address (a few failures from
	// one place slow down that place only), the address as a whole with
	// more room (so spraying many accounts from one place is slow too),
	// and the account from everywhere with much more room (so guessing one
	// password from many addresses, or through a host in a trusted proxy
	// network that names a new client each time, is slow too; then its
	// owner is slowed down as well). IPv6 addresses count per /64. Reserve
	// takes the attempt, so parallel guesses wait like sequential ones.
	ip := s.clientIP(r)
	addr := addrKey(ip)
	account := strings.ToLower(username)
	userKey, ipKey, accountKey := "login-user:"+account+"|"+addr, "login-"+addr, "login-account:"+account
	if s.LoginLimiter != nil {
		if wait := max(s.LoginLimiter.Reserve(userKey, now, 1), s.LoginLimiter.Reserve(ipKey, now, ipFailureFactor),
			s.LoginLimiter.Reserve(accountKey, now, accountFailureFactor)); wait > 0 {
			secs := int(wait/time.Second) + 1
			return nil, "Too many failed attempts. Try again in " + strconv.Itoa(secs) + " seconds.", http.StatusTooManyRequests
		}
	}
	u, err := s.Users.FindUserByUsername(ctx, username)
	ok := false
	switch {
	case err == nil:
		ok, err = password.Verify(u.PasswordHash, pw)
		if err != nil {
			s.log().ErrorContext(ctx, "stored password hash is unreadable", "user_id", u.ID, "err", err)
		}
		ok = ok && !u.Disabled
	case gatehouse.ErrorCode(err) == gatehouse.CodeNotFound:
		password.VerifyDummy(pw)
	default:
		s.log().ErrorContext(ctx, "find user", "err", err)
		return nil, "Something went wrong. Try again later.", http.StatusInternalServerError
	}
	if !ok {
		if s.LoginLimiter != nil {
			s.LoginLimiter.Fail(userKey, now)
			s.LoginLimiter.Fail(ipKey, now)
			s.LoginLimiter.Fail(accountKey, now)
		}
		if s.Metrics != nil {
			s.Metrics.LoginFailures.Inc()
		}
		s.log().InfoContext(ctx, "login failed", "username", safeID(username), "ip", ip)
		return nil, "Wrong username or password.", http.StatusUnauthorized
	}
	if s.LoginLimiter != nil {
		s.LoginLimiter.Succeed(userKey)
	}
	s.log().InfoContext(ctx, "login", "user_id", u.ID)
	return u, "", http.StatusOK
}

func (s *Server) consent(w http.ResponseWriter, r *http.Request, raw, decision string, remember bool) {
	ctx := r.Context()
	now := s.now()
	user, _, err := s.currentUser(ctx, r, now)
	if err != nil {
		s.errorPage(w, s.internalError(ctx, "find user", err))
		return
	}
	if user == nil {
		// The session ended between the pages: sign in again.
		s.render(w, http.StatusOK, "login.html", pageData{Title: "Sign in", CSRF: s.csrfToken(w, r), Authz: raw, Error: "Your session ended. Sign in again."})
		return
	}
	req, rerr, fatal := s.parseAuthorize(ctx, raw)
	if fatal != nil {
		s.errorPage(w, fatal)
		return
	}
	if rerr != nil {
		s.redirectError(w, r, rerr)
		return
	}
	if req.API.Name == gatehouse.AdminAPIName {
		if e := adminScopesFor(user, req); e != nil {
			s.redirectError(w, r, &redirectError{Error: e, redirectURI: req.RedirectURI, state: req.State})
			return
		}
	}
	switch decision {
	case "allow":
	case "deny":
		s.redirectError(w, r, &redirectError{Error: &Error{Code: "access_denied", Description: "the user denied the request"}, redirectURI: req.RedirectURI, state: req.State})
		return
	default:
		s.errorPage(w, errInvalidRequest("choose Allow or Deny"))
		return
	}
	if remember {
		c := &gatehouse.Consent{Subject: user.ID, ClientID: req.Client.ID, Audience: req.API.Audience, Scopes: req.Scopes, GrantedAt: now}
		if err := s.Consents.SaveConsent(ctx, c); err != nil {
			s.errorPage(w, s.internalError(ctx, "save consent", err))
			return
		}
	}
	s.issueCode(w, r, req, user, now)
}

// issueCode stores a fresh authorization code and redirects with it.
func (s *Server) issueCode(w http.ResponseWriter, r *http.Request, req *authzRequest, user *gatehouse.User, now time.Time) {
	ctx := r.Context()
	code := gatehouse.NewSecret(PrefixCode)
	c := &gatehouse.AuthCode{
		Hash: gatehouse.HashSecret(code), ClientID: req.Client.ID, Subject: user.ID,
		RedirectURI: req.RedirectParam, CodeChallenge: req.Challenge, Audience: req.API.Audience,
		Scopes: req.Scopes, GrantID: token.NewID(), CreatedAt: now, ExpiresAt: now.Add(authCodeTTL),
		DPoPJKT: req.DPoPJKT,
	}
	if err := s.Codes.CreateAuthCode(ctx, c); err != nil {
		s.errorPage(w, s.internalError(ctx, "create code", err))
		return
	}
	s.redirectTo(w, r, req.RedirectURI, url.Values{"code": {code}}, req.State)
}
