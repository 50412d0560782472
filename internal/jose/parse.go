package jose

import (
	"encoding/base64"
	"strings"
)

// JWS is a compact JWS that was split and decoded strictly but not verified.
// Nothing in it may be trusted before Verify returns nil.
type JWS struct {
	Header  Header
	Payload []byte // decoded; a JWT's claims set, to be read with DecodeJSON

	signingInput []byte // ASCII(BASE64URL(header) || '.' || BASE64URL(payload)), RFC 7515 §5.2
	signature    []byte
}

// b64 decodes strictly: besides the alphabet check we do first, it refuses
// non-zero trailing bits, so every accepted segment has exactly one encoding
// and a token cannot be altered without changing its bytes (RFC 7515 §2,
// RFC 4648 §3.5).
var b64 = base64.RawURLEncoding.Strict()

// b64url marks the bytes of the base64url alphabet (RFC 4648 §5). We check it
// ourselves because encoding/base64 skips '\r' and '\n' even in strict mode.
var b64url = func() (t [256]bool) {
	for _, c := range "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_" {
		t[c] = true
	}
	return t
}()

// Parse splits and decodes a compact JWS (RFC 7515 §7.1) without verifying
// it. It refuses, before any cryptography:
//   - a token longer than MaxTokenSize (checked first);
//   - anything but exactly two '.' separators, counted before splitting so
//     that a token of dots costs nothing (CVE-2025-30204, CVE-2025-27144);
//   - an empty segment (an empty payload is how RFC 7515 Appendix F detached
//     content looks, and a JWT always has claims), a byte outside the
//     base64url alphabet (padding, whitespace, CR/LF) or non-canonical
//     trailing bits;
//   - a header that is not a strict JSON object (see DecodeJSON), that lacks
//     "alg", or that has any member other than "alg", "typ" and "kid", each
//     a JSON string; so "crit", "jku", "jwk", "x5u", "x5c", "cty" and "b64"
//     are refused (RFC 8725 §3.10, RFC 7515 §4.1.11);
//   - alg "none", HMAC algorithms, and any algorithm we do not support;
//   - a "kid" or "typ" that is not 1 to 128 bytes of printable ASCII.
//
// Errors wrap ErrMalformed or ErrPolicy.
func Parse(token string) (*JWS, error) {
	if len(token) > MaxTokenSize {
		return nil, errorf(ErrMalformed, "jose: token is %d bytes, more than %d", len(token), MaxTokenSize)
	}
	if token == "" {
		return nil, errorf(ErrMalformed, "jose: empty token")
	}
	dot1 := strings.IndexByte(token, '.')
	if dot1 < 0 {
		return nil, errorf(ErrMalformed, "jose: token has no '.'; want header.payload.signature")
	}
	dot2 := strings.IndexByte(token[dot1+1:], '.')
	if dot2 < 0 {
		return nil, errorf(ErrMalformed, "jose: token has 2 segments; want header.payload.signature")
	}
	dot2 += dot1 + 1
	if strings.IndexByte(token[dot2+1:], '.') >= 0 {
		return nil, errorf(ErrMalformed, "jose: token has more than 3 segments; want header.payload.signature")
	}
	if err := checkSegment(token[:dot1], "header"); err != nil {
		return nil, err
	}
	if err := checkSegment(token[dot1+1:dot2], "payload"); err != nil {
		return nil, err
	}
	if err := checkSegment(token[dot2+1:], "signature"); err != nil {
		return nil, err
	}

	// One allocation holds the token's bytes (the signing input is a prefix
	// of it) and the decoded payload and signature; the header is decoded
	// into a stack buffer when it fits.
	hLen := b64.DecodedLen(dot1)
	pLen := b64.DecodedLen(dot2 - dot1 - 1)
	sLen := b64.DecodedLen(len(token) - dot2 - 1)
	buf := make([]byte, len(token)+pLen+sLen)
	copy(buf, token)

	var hbuf [512]byte
	var hdr []byte
	if hLen <= len(hbuf) {
		hdr = hbuf[:hLen]
	} else {
		hdr = make([]byte, hLen)
	}
	// Encoding first, meaning second: every segment is decoded before the
	// header is read, so an encoding fault is reported as one.
	if err := decodeSegment(hdr, buf[:dot1], "header"); err != nil {
		return nil, err
	}
	payload := buf[len(token) : len(token)+pLen : len(token)+pLen]
	if err := decodeSegment(payload, buf[dot1+1:dot2], "payload"); err != nil {
		return nil, err
	}
	sig := buf[len(token)+pLen:]
	if err := decodeSegment(sig, buf[dot2+1:len(token)], "signature"); err != nil {
		return nil, err
	}
	header, err := parseHeader(hdr)
	if err != nil {
		return nil, err
	}
	return &JWS{
		Header:       header,
		Payload:      payload,
		signingInput: buf[:dot2:dot2],
		signature:    sig,
	}, nil
}

// checkSegment checks a segment's alphabet and length before decoding.
func checkSegment(seg, name string) error {
	if seg == "" {
		return errorf(ErrMalformed, "jose: empty %s segment", name)
	}
	for i := 0; i < len(seg); i++ {
		if !b64url[seg[i]] {
			return errorf(ErrMalformed, "jose: %s segment has a byte outside the base64url alphabet at offset %d", name, i)
		}
	}
	if len(seg)%4 == 1 {
		return errorf(ErrMalformed, "jose: %s segment has an impossible base64url length %d", name, len(seg))
	}
	return nil
}

// decodeSegment decodes a checked segment into dst, which has exactly the
// decoded length.
func decodeSegment(dst, seg []byte, name string) error {
	n, err := b64.Decode(dst, seg)
	if err != nil || n != len(dst) {
		return errorf(ErrMalformed, "jose: %s segment is not canonical base64url", name)
	}
	return nil
}

// parseHeader reads the protected header (RFC 7515 §4) from its decoded JSON.
// It walks the bytes once instead of using encoding/json, which matches
// member names case-insensitively ("ALG" would fill Alg) and keeps the last
// of duplicate members.
func parseHeader(data []byte) (Header, error) {
	var h Header
	s := scanner{data: data}
	s.ws()
	if s.pos >= len(data) || data[s.pos] != '{' {
		return h, errorf(ErrMalformed, "jose: header is not a json object")
	}
	s.pos++
	s.ws()
	var seen [3]bool // alg, typ, kid
	var scratch [maxKidLen + 16]byte
	if s.pos < len(data) && data[s.pos] == '}' {
		s.pos++
	} else {
		for {
			if s.pos >= len(data) || data[s.pos] != '"' {
				return h, s.fail("want member name")
			}
			name, err := s.stringBytes(scratch[:0], true)
			if err != nil {
				return h, err
			}
			var i int
			switch string(name) {
			case "alg":
				i = 0
			case "typ":
				i = 1
			case "kid":
				i = 2
			default:
				// RFC 7515 §4.1.11 lets a producer mark extensions critical,
				// and everything else must then be understood or ignored. We
				// understand nothing else and ignore nothing: a parameter we do
				// not act on is one an attacker may have meant for another
				// parser (RFC 8725 §3.10).
				return h, errorf(ErrPolicy, "jose: header parameter %s not allowed", quoteShort(string(name)))
			}
			if seen[i] {
				return h, errorf(ErrMalformed, "jose: duplicate header parameter %q", string(name))
			}
			seen[i] = true
			s.ws()
			if s.pos >= len(data) || data[s.pos] != ':' {
				return h, s.fail("want ':'")
			}
			s.pos++
			s.ws()
			if s.pos >= len(data) || data[s.pos] != '"' {
				return h, errorf(ErrMalformed, "jose: header parameter %q must be a json string", string(name))
			}
			v, err := s.stringBytes(scratch[:0], true)
			if err != nil {
				return h, err
			}
			switch i {
			case 0:
				if h.Alg, err = knownAlg(v); err != nil {
					return h, err
				}
			case 1:
				if !printableASCII(string(v), maxKidLen) {
					return h, errorf(ErrPolicy, "jose: header typ must be 1 to %d bytes of printable ascii", maxKidLen)
				}
				h.Typ = internTyp(v)
			case 2:
				if !printableASCII(string(v), maxKidLen) {
					return h, errorf(ErrPolicy, "jose: header kid must be 1 to %d bytes of printable ascii", maxKidLen)
				}
				h.Kid = string(v)
			}
			s.ws()
			if s.pos >= len(data) {
				return h, s.fail("unexpected end")
			}
			if data[s.pos] == '}' {
				s.pos++
				break
			}
			if data[s.pos] != ',' {
				return h, s.fail("want ',' or '}'")
			}
			s.pos++
			s.ws()
		}
	}
	s.ws()
	if s.pos != len(data) {
		return h, s.fail("data after the header object")
	}
	if !seen[0] {
		// RFC 7515 §4.1.1: "alg" MUST be present.
		return h, errorf(ErrMalformed, "jose: header has no alg")
	}
	return h, nil
}

// internTyp returns the common typ values without allocating.
func internTyp(v []byte) string {
	switch string(v) {
	case "JWT":
		return "JWT"
	case "at+jwt":
		return "at+jwt"
	case "application/at+jwt":
		return "application/at+jwt"
	case "dpop+jwt":
		return "dpop+jwt"
	}
	return string(v)
}

// TypMatches reports whether a "typ" value names the media type want,
// following RFC 7515 §4.1.9: media types compare case-insensitively (RFC 2045
// §5.1) and a value without '/' stands for "application/" plus the value, so
// "at+jwt", "AT+JWT" and "application/at+jwt" all match "at+jwt" (RFC 9068
// §4). Only ASCII letters fold, so no Unicode look-alike matches. An empty
// value matches nothing.
func TypMatches(typ, want string) bool {
	if typ == "" || want == "" {
		return false
	}
	t, tApp := stripApplication(typ)
	w, wApp := stripApplication(want)
	return tApp == wApp && asciiEqualFold(t, w)
}

// stripApplication returns the subtype of an "application/..." media type
// (or of a bare subtype, which means the same) and true; any other value is
// returned whole with false.
func stripApplication(s string) (string, bool) {
	const app = "application/"
	if strings.IndexByte(s, '/') < 0 {
		return s, true
	}
	if len(s) > len(app) && asciiEqualFold(s[:len(app)], app) && strings.IndexByte(s[len(app):], '/') < 0 {
		return s[len(app):], true
	}
	return s, false
}

func asciiEqualFold(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		x, y := a[i], b[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}
