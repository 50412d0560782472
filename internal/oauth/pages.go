package oauth

import (
	"bytes"
	"embed"
	"html/template"
	"net/http"
	"strings"
)

//go:embed web/*.html web/style.css
var webFS embed.FS

var (
	pages    = template.Must(template.ParseFS(webFS, "web/*.html"))
	styleCSS = mustRead("web/style.css")
)

func mustRead(name string) []byte {
	b, err := webFS.ReadFile(name)
	if err != nil {
		panic(err)
	}
	return b
}

// pageData feeds the templates; html/template escapes every field.
type pageData struct {
	Title      string
	Error      string
	Message    string
	CSRF       string
	Authz      string
	ClientName string
	Username   string
	APIName    string
	Scopes     []string
	Consents   []consentRow
}

type consentRow struct {
	ClientID, ClientName string
	Scopes               []string
}

// setPageHeaders forbids framing (clickjacking of the consent button),
// caching, referrers and any script: the pages work without JavaScript.
func setPageHeaders(w http.ResponseWriter) {
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'self'; img-src 'self'; frame-ancestors 'none'; base-uri 'none'")
	h.Set("X-Frame-Options", "DENY")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cache-Control", "no-store")
}

func (s *Server) render(w http.ResponseWriter, status int, name string, d pageData) {
	var buf bytes.Buffer
	if err := pages.ExecuteTemplate(&buf, name, d); err != nil {
		s.log().Error("render page", "page", name, "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	setPageHeaders(w)
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

func (s *Server) errorPage(w http.ResponseWriter, e *Error) {
	status := e.Status
	if status == 0 || status == http.StatusUnauthorized {
		status = http.StatusBadRequest
	}
	msg := e.Description
	if msg != "" {
		// Descriptions are lower-case for the wire (RFC 6749 style); a page
		// shows a sentence.
		msg = strings.ToUpper(msg[:1]) + msg[1:] + "."
	}
	s.render(w, status, "error.html", pageData{Title: "Error", Error: msg})
}

func handleStyle(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/css; charset=utf-8")
	w.Header().Set("Cache-Control", "public, max-age=3600")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	_, _ = w.Write(styleCSS)
}
