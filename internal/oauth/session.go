package oauth

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"time"
)

// sessionTTL is how long a login lasts in the browser.
const sessionTTL = 8 * time.Hour

// session is the signed content of the login cookie. It holds no secret:
// the HMAC makes it unforgeable and the user is looked up on every use, so
// disabling a user ends their sessions at once.
type session struct {
	ID       string `json:"sid"`
	UserID   string `json:"uid"`
	AuthTime int64  `json:"at"`
	Expires  int64  `json:"exp"`
	// Password binds the session to the password it was opened with (a
	// short hash of the stored hash), so changing the password ends every
	// session at once.
	Password string `json:"pw"`
}

// loggedOut remembers sessions ended by logout until they would have
// expired anyway. It is per node: a logout on one node of a cluster is
// honoured there; the password binding ends sessions everywhere.
type loggedOut struct {
	mu  sync.Mutex
	ids map[string]int64 // sid -> exp (unix)
}

func (l *loggedOut) add(sid string, exp int64, now int64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.ids == nil {
		l.ids = map[string]int64{}
	}
	if len(l.ids) > 100000 {
		for k, e := range l.ids {
			if e <= now {
				delete(l.ids, k)
			}
		}
	}
	l.ids[sid] = exp
}

func (l *loggedOut) has(sid string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	_, ok := l.ids[sid]
	return ok
}

// passwordBinding is a short, non-reversible tag of a stored password hash.
func passwordBinding(hash string) string {
	sum := sha256.Sum256([]byte(hash))
	return base64.RawURLEncoding.EncodeToString(sum[:9])
}

func (s *Server) secureCookies(r *http.Request) bool {
	return r.TLS != nil || strings.HasPrefix(s.Issuer, "https://")
}

// cookieName uses the __Host- prefix on HTTPS, which pins the cookie to
// this host and path / and requires Secure; browsers refuse it over HTTP.
func (s *Server) cookieName(r *http.Request, base string) string {
	if s.secureCookies(r) {
		return "__Host-" + base
	}
	return base
}

func (s *Server) mac(purpose string, data []byte) []byte {
	m := hmac.New(sha256.New, s.SessionKey)
	m.Write([]byte(purpose))
	m.Write([]byte{0})
	m.Write(data)
	return m.Sum(nil)
}

func (s *Server) setSession(w http.ResponseWriter, r *http.Request, userID, passwordHash string, now time.Time) {
	sid := make([]byte, 16)
	_, _ = rand.Read(sid)
	payload, _ := json.Marshal(session{ID: base64.RawURLEncoding.EncodeToString(sid), UserID: userID, AuthTime: now.Unix(),
		Expires: now.Add(sessionTTL).Unix(), Password: passwordBinding(passwordHash)})
	p := base64.RawURLEncoding.EncodeToString(payload)
	v := p + "." + base64.RawURLEncoding.EncodeToString(s.mac("session", []byte(p)))
	http.SetCookie(w, &http.Cookie{
		Name: s.cookieName(r, "gh_session"), Value: v, Path: "/", MaxAge: int(sessionTTL.Seconds()),
		HttpOnly: true, Secure: s.secureCookies(r), SameSite: http.SameSiteLaxMode,
	})
}

func (s *Server) clearSession(w http.ResponseWriter, r *http.Request) {
	http.SetCookie(w, &http.Cookie{
		Name: s.cookieName(r, "gh_session"), Value: "", Path: "/", MaxAge: -1,
		HttpOnly: true, Secure: s.secureCookies(r), SameSite: http.SameSiteLaxMode,
	})
}

// readSession returns the valid session of the request, or nil.
func (s *Server) readSession(r *http.Request, now time.Time) *session {
	c, err := r.Cookie(s.cookieName(r, "gh_session"))
	if err != nil || len(c.Value) > 1024 {
		return nil
	}
	p, sig, ok := strings.Cut(c.Value, ".")
	if !ok {
		return nil
	}
	got, err := base64.RawURLEncoding.DecodeString(sig)
	if err != nil || !hmac.Equal(got, s.mac("session", []byte(p))) {
		return nil
	}
	raw, err := base64.RawURLEncoding.DecodeString(p)
	if err != nil {
		return nil
	}
	var sess session
	if json.Unmarshal(raw, &sess) != nil || sess.UserID == "" || now.Unix() >= sess.Expires || s.loggedOut.has(sess.ID) {
		return nil
	}
	return &sess
}

// csrfToken returns the anti-CSRF value for the forms of this browser: a
// MAC of a random per-browser cookie (set here when missing). A forged
// cross-site POST can neither read the cookie nor compute the MAC.
func (s *Server) csrfToken(w http.ResponseWriter, r *http.Request) string {
	name := s.cookieName(r, "gh_csrf")
	c, err := r.Cookie(name)
	val := ""
	if err == nil && len(c.Value) == 43 {
		val = c.Value
	} else {
		b := make([]byte, 32)
		_, _ = rand.Read(b)
		val = base64.RawURLEncoding.EncodeToString(b)
		http.SetCookie(w, &http.Cookie{
			Name: name, Value: val, Path: "/", HttpOnly: true,
			Secure: s.secureCookies(r), SameSite: http.SameSiteStrictMode,
		})
		// Later reads in this same request must see the new value.
		r.AddCookie(&http.Cookie{Name: name, Value: val})
	}
	return base64.RawURLEncoding.EncodeToString(s.mac("csrf", []byte(val)))
}

// checkCSRF verifies a submitted form's token against the browser's cookie
// and, when the browser says where the form came from, that it came from
// this server.
func (s *Server) checkCSRF(r *http.Request, submitted string) bool {
	if o := r.Header.Get("Origin"); o != "" && o != "null" && !strings.EqualFold(o, originOf(s.Issuer)) {
		return false
	}
	c, err := r.Cookie(s.cookieName(r, "gh_csrf"))
	if err != nil {
		return false
	}
	got, err := base64.RawURLEncoding.DecodeString(submitted)
	return err == nil && hmac.Equal(got, s.mac("csrf", []byte(c.Value)))
}

// originOf returns scheme://host[:port] of a URL.
func originOf(u string) string {
	scheme, rest, ok := strings.Cut(u, "://")
	if !ok {
		return u
	}
	host, _, _ := strings.Cut(rest, "/")
	return scheme + "://" + host
}
