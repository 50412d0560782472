package calllog

import (
	"crypto/sha256"
	"encoding/hex"
	"net/url"
	"strings"
)

// Redacted replaces a secret-looking value in a logged path.
const Redacted = "REDACTED"

// maxPath caps the logged path and query.
const maxPath = 2048

// secretNames are query parameter names (lower case) whose values are
// never logged; secretParts are substrings that make a name secret.
var (
	secretNames = map[string]bool{
		"code": true, "key": true, "sig": true, "pwd": true, "pass": true, "jwt": true,
		"assertion": true, "client_assertion": true, "otp": true, "pin": true,
		"x-amz-security-token": true, "sid": true, "auth": true, "authorization": true,
	}
	secretParts = []string{"token", "secret", "passw", "signature", "credential", "apikey", "api_key", "api-key", "session", "private"}
)

// secretName reports whether a query parameter called name carries a
// secret.
func secretName(name string) bool {
	n := strings.ToLower(name)
	if secretNames[n] {
		return true
	}
	for _, p := range secretParts {
		if strings.Contains(n, p) {
			return true
		}
	}
	return false
}

// tokenPrefixes are the prefixes of Gatehouse's generated secrets (access,
// refresh, API key, registration, client secret).
var tokenPrefixes = []string{"gha_", "ghr_", "ghk_", "ghi_", "ghs_"}

// looksLikeToken reports whether v looks like a Gatehouse token or a JWT.
func looksLikeToken(v string) bool {
	for _, p := range tokenPrefixes {
		if strings.HasPrefix(v, p) && len(v) > len(p)+8 {
			return true
		}
	}
	// A JWT: a base64url JSON header ("eyJ" is `{"`) and two dots.
	return strings.HasPrefix(v, "eyJ") && strings.Count(v, ".") >= 2
}

// mayHoldToken is the cheap test for the common case: a path and query
// with nothing that could be a token.
func mayHoldToken(s string) bool {
	return strings.Contains(s, "gh") || strings.Contains(s, "eyJ")
}

// RedactPath returns path?rawQuery as logged: query values with secret
// names and path segments or values that look like tokens replaced by
// REDACTED, the rest kept as sent (order included), capped at 2 KiB.
func RedactPath(path, rawQuery string) string {
	out := path
	if mayHoldToken(path) {
		segs := strings.Split(path, "/")
		changed := false
		for i, s := range segs {
			if looksLikeToken(s) {
				segs[i], changed = Redacted, true
			}
		}
		if changed {
			out = strings.Join(segs, "/")
		}
	}
	if rawQuery != "" {
		out += "?" + redactQuery(rawQuery)
	}
	if len(out) > maxPath {
		out = out[:maxPath]
	}
	return out
}

func redactQuery(q string) string {
	var b strings.Builder
	b.Grow(len(q))
	for i := 0; q != ""; i++ {
		var pair string
		pair, q, _ = strings.Cut(q, "&")
		if i > 0 {
			b.WriteByte('&')
		}
		rawName, rawValue, hasValue := strings.Cut(pair, "=")
		name, err := url.QueryUnescape(rawName)
		if err != nil {
			name = rawName
		}
		value, err := url.QueryUnescape(rawValue)
		if err != nil {
			value = rawValue
		}
		switch {
		case hasValue && rawValue != "" && (secretName(name) || looksLikeToken(value)):
			b.WriteString(rawName)
			b.WriteString("=" + Redacted)
		case !hasValue && looksLikeToken(name):
			// A bare token as the whole query (?gha_...).
			b.WriteString(Redacted)
		default:
			b.WriteString(pair)
		}
	}
	return b.String()
}

// CredentialID names a credential without revealing it: the first 16 hex
// digits (64 bits) of its SHA-256, prefixed "sha256:". Used for tokens
// without a jti (opaque, refused or foreign ones).
func CredentialID(cred string) string {
	sum := sha256.Sum256([]byte(cred))
	return "sha256:" + hex.EncodeToString(sum[:8])
}
