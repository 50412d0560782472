package dpop

import (
	"net"
	"net/url"
	"strings"
)

// normalizeHTU returns the form in which an htu claim and a request URI are
// compared (RFC 9449 §4.3 step 9, which points at RFC 3986 §6.2.2 and
// §6.2.3): scheme and host lower-cased, the scheme's default port removed, an
// empty path made "/", percent-encodings upper-cased, and the query and the
// fragment dropped (htu carries neither, RFC 9449 §4.2). Only absolute http
// and https URIs without userinfo are accepted.
func normalizeHTU(raw string) (string, bool) {
	u, err := url.Parse(raw)
	if err != nil || u.Opaque != "" || u.User != nil || u.Host == "" {
		return "", false
	}
	scheme := strings.ToLower(u.Scheme)
	if scheme != "https" && scheme != "http" {
		return "", false
	}
	host, port := strings.ToLower(u.Hostname()), u.Port()
	if host == "" {
		return "", false
	}
	if (scheme == "https" && port == "443") || (scheme == "http" && port == "80") {
		port = ""
	}
	if strings.IndexByte(host, ':') >= 0 {
		host = "[" + host + "]"
	}
	if port != "" {
		host = net.JoinHostPort(strings.Trim(host, "[]"), port)
	}
	path := u.EscapedPath()
	if path == "" {
		path = "/"
	}
	return scheme + "://" + host + upperPercent(path), true
}

// upperPercent upper-cases the hex digits of percent-encodings (RFC 3986
// §6.2.2.1), so "%2f" and "%2F" compare equal.
func upperPercent(p string) string {
	if strings.IndexByte(p, '%') < 0 {
		return p
	}
	b := []byte(p)
	for i := 0; i+2 < len(b); i++ {
		if b[i] == '%' {
			for j := i + 1; j <= i+2; j++ {
				if 'a' <= b[j] && b[j] <= 'f' {
					b[j] -= 'a' - 'A'
				}
			}
			i += 2
		}
	}
	return string(b)
}
