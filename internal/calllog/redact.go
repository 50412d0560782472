package calllog

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
)

// Redacted replaces a secret-looking value in a logged path.
const Redacted = "REDACTED"

// maxPath caps the logged path and query.
const maxPath = 2048

// secretNames are parameter names (lower case) whose values are never
// logged; secretParts are substrings that make a name secret.
var (
	secretNames = map[string]bool{
		"code": true, "key": true, "sig": true, "sign": true, "p": true, "pw": true, "pwd": true,
		"pass": true, "passwd": true, "cs": true, "tok": true, "cred": true, "creds": true,
		"bearer": true, "jwt": true, "assertion": true, "client_assertion": true, "otp": true,
		"pin": true, "x-amz-security-token": true, "sid": true, "auth": true, "authorization": true,
		"passphrase": true, "hmac": true, "auth_code": true,
	}
	secretParts = []string{"token", "secret", "passw", "signature", "credential", "apikey", "api_key", "api-key", "session", "private"}
)

// secretName reports whether a parameter called name carries a secret.
func secretName(name string) bool {
	n := strings.ToLower(strings.TrimSpace(name))
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
// refresh, API key, initial access, client secret, registration
// management, authorization code).
var tokenPrefixes = []string{"gha_", "ghr_", "ghk_", "ghi_", "ghs_", "ghm_", "ghc_"}

// maxDecode bounds how many times a value is percent-decoded in search of
// a token hidden under several layers of encoding.
const maxDecode = 3

// isB64 reports whether c may appear in a base64url run (a token's body,
// a JWT's parts).
func isB64(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_'
}

// b64Run returns the length of the base64url run at the start of s.
func b64Run(s string) int {
	i := 0
	for i < len(s) && isB64(s[i]) {
		i++
	}
	return i
}

// containsToken reports whether s holds, anywhere, a Gatehouse token (a
// prefix and more than 8 characters), a JWT-looking run (eyJ... with two
// dots) or a "Bearer <x>" credential.
func containsToken(s string) bool { return hasTokenRun(s) || hasBearer(s) }

// hasTokenRun reports whether s holds a Gatehouse token or a JWT-looking
// run.
func hasTokenRun(s string) bool {
	for _, p := range tokenPrefixes {
		for rest := s; ; {
			i := strings.Index(rest, p)
			if i < 0 {
				break
			}
			rest = rest[i+len(p):]
			if b64Run(rest) > 8 {
				return true
			}
		}
	}
	// A JWT: a base64url JSON header ("eyJ" is `{"`) and two dots.
	for rest := s; ; {
		i := strings.Index(rest, "eyJ")
		if i < 0 {
			break
		}
		rest = rest[i+3:]
		r := rest[b64Run(rest):]
		if strings.HasPrefix(r, ".") {
			r = r[1:]
			if strings.HasPrefix(r[b64Run(r):], ".") {
				return true
			}
		}
	}
	return false
}

// hasBearer reports whether s holds "bearer" (any case) followed by
// spaces or '+' and something more.
func hasBearer(s string) bool {
	for i := 0; i+6 < len(s); i++ {
		if s[i] != 'b' && s[i] != 'B' || !strings.EqualFold(s[i:i+6], "bearer") {
			continue
		}
		j := i + 6
		for j < len(s) && (s[j] == ' ' || s[j] == '+' || s[j] == '\t') {
			j++
		}
		if j > i+6 && j < len(s) {
			return true
		}
	}
	return false
}

// textSeparators end a word of free text: the value after "Bearer", and
// where a long User-Agent may be cut without cutting a token.
const textSeparators = " \t,;()"

// RedactText returns free text (a User-Agent) as logged: each Gatehouse
// token (prefix and more than 8 characters), each JWT-looking run and the
// word after "Bearer" replaced by REDACTED; the whole text REDACTED when a
// token, or a "Bearer <x>", is still found in it percent-decoded up to
// maxDecode times.
func RedactText(s string) string {
	if !mayHoldSecret(s) && !strings.Contains(strings.ToLower(s), "bearer") {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); {
		// Only a token (gh…_, eyJ…) or "bearer" can start here: the first
		// byte says which test is worth running.
		switch s[i] {
		case 'g', 'e':
			if n := tokenAt(s[i:]); n > 0 {
				b.WriteString(Redacted)
				i += n
				continue
			}
		case 'b', 'B':
			if n := bearerAt(s[i:]); n > 0 {
				b.WriteString(s[i : i+n])
				i += n
				for i < len(s) && strings.IndexByte(textSeparators, s[i]) < 0 {
					i++
				}
				b.WriteString(Redacted)
				continue
			}
		}
		b.WriteByte(s[i])
		i++
	}
	out := b.String()
	if d := unescape(out); anyDecoded(out, hasTokenRun) || d != out && anyDecoded(d, hasBearer) {
		return Redacted
	}
	return out
}

// tokenAt returns the length of the Gatehouse token or JWT-looking run at
// the start of s, or 0.
func tokenAt(s string) int {
	for _, p := range tokenPrefixes {
		if strings.HasPrefix(s, p) {
			if n := b64Run(s[len(p):]); n > 8 {
				return len(p) + n
			}
		}
	}
	if strings.HasPrefix(s, "eyJ") {
		n := b64Run(s)
		if n < len(s) && s[n] == '.' {
			m := n + 1 + b64Run(s[n+1:])
			if m < len(s) && s[m] == '.' {
				return m + 1 + b64Run(s[m+1:])
			}
		}
	}
	return 0
}

// bearerAt returns the length of "bearer" (any case) and the spaces or
// '+' after it at the start of s, when something follows them, or 0.
func bearerAt(s string) int {
	if len(s) < 7 || !strings.EqualFold(s[:6], "bearer") {
		return 0
	}
	j := 6
	for j < len(s) && (s[j] == ' ' || s[j] == '+' || s[j] == '\t') {
		j++
	}
	if j == 6 || j == len(s) {
		return 0
	}
	return j
}

// unescape decodes the valid %XX escapes of s and keeps the rest as is.
func unescape(s string) string {
	if !strings.Contains(s, "%") {
		return s
	}
	b := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		if s[i] == '%' && i+2 < len(s) && ishex(s[i+1]) && ishex(s[i+2]) {
			b = append(b, unhex(s[i+1])<<4|unhex(s[i+2]))
			i += 2
			continue
		}
		b = append(b, s[i])
	}
	return string(b)
}

func ishex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case c <= '9':
		return c - '0'
	case c <= 'F':
		return c - 'A' + 10
	}
	return c - 'a' + 10
}

// secretText reports whether s, as sent or percent-decoded up to
// maxDecode times, holds a token, or parameters (after '?', '&' or ';')
// of which one has a secret name and a value: a query value carrying a
// URL with a token in its query, a path segment with matrix parameters.
func secretText(s string) bool {
	return anyDecoded(s, func(d string) bool { return containsToken(d) || nestedSecret(d) })
}

// anyDecoded reports whether f holds for s or one of its first maxDecode
// percent-decodings.
func anyDecoded(s string, f func(string) bool) bool {
	for i := 0; ; i++ {
		if f(s) {
			return true
		}
		d := unescape(s)
		if i == maxDecode || d == s {
			return false
		}
		s = d
	}
}

// nestedSecret reports whether s holds a name=value pair, delimited by
// '?', '&' or ';', with a secret name and a non-empty value.
func nestedSecret(s string) bool {
	if !strings.Contains(s, "=") {
		return false
	}
	for _, part := range strings.FieldsFunc(s, func(r rune) bool { return r == '?' || r == '&' || r == ';' }) {
		if name, value, ok := strings.Cut(part, "="); ok && value != "" && secretName(name) {
			return true
		}
	}
	return false
}

// secretParam reports whether the query pair rawName=rawValue is logged
// with its value REDACTED: a secret name (percent-decoded up to maxDecode
// times) with a value, or a value holding a token anywhere.
func secretParam(rawName, rawValue string) bool {
	if rawValue == "" {
		return false
	}
	return anyDecoded(plus(rawName), secretName) || secretText(plus(rawValue))
}

// plus decodes '+' in a query name or value as a space.
func plus(s string) string { return strings.ReplaceAll(s, "+", " ") }

// mayHoldSecret is the cheap test for the common case: text with nothing
// that could be a token, a parameter or an escape.
func mayHoldSecret(s string) bool {
	return strings.ContainsAny(s, "%;=?&+ \t") || strings.Contains(s, "gh") || strings.Contains(s, "eyJ")
}

// RedactPath returns path?rawQuery as logged: the whole of each query value
// with a secret name or holding a token, and the whole of each path
// segment holding a token or a secret matrix parameter, replaced by
// REDACTED, the rest kept as sent (order included), capped at 2 KiB.
func RedactPath(path, rawQuery string) string {
	out := path
	if mayHoldSecret(path) {
		segs := strings.Split(path, "/")
		changed := false
		for i, s := range segs {
			if secretText(s) {
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

// redactPair returns the query pair as logged: REDACTED for a pair whose
// name holds a token (a bare ?gha_... included), name=REDACTED for a
// secret value, the pair as sent otherwise.
func redactPair(pair string) string {
	if !mayHoldSecret(pair) {
		return pair // no '=', no escape, no token
	}
	rawName, rawValue, hasValue := strings.Cut(pair, "=")
	switch {
	case anyDecoded(plus(rawName), containsToken):
		return Redacted
	case !hasValue:
		return pair
	case secretParam(rawName, rawValue):
		return rawName + "=" + Redacted
	}
	return pair
}

func redactQuery(q string) string {
	var b strings.Builder
	changed := false
	for rest := q; rest != ""; {
		var pair string
		var more bool
		start := len(q) - len(rest)
		pair, rest, more = strings.Cut(rest, "&")
		logged := redactPair(pair)
		switch {
		case changed:
			b.WriteByte('&')
			b.WriteString(logged)
		case logged != pair:
			changed = true
			b.Grow(len(q))
			b.WriteString(q[:start])
			b.WriteString(logged)
		}
		if changed && more && rest == "" {
			b.WriteByte('&') // a trailing '&' kept
		}
	}
	if !changed {
		return q
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
