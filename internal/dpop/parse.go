package dpop

import (
	"encoding/base64"
	"encoding/json"
	"strings"

	"github.com/gatehouse/gatehouse/internal/jose"
)

// b64 decodes strictly: after our own alphabet check it also refuses
// non-zero trailing bits, so a segment has exactly one encoding (RFC 7515 §2).
var b64 = base64.RawURLEncoding.Strict()

// b64url marks the base64url alphabet (RFC 4648 §5). encoding/base64 skips
// '\r' and '\n' even in strict mode, hence our own check.
var b64url = func() (t [256]bool) {
	for _, c := range "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_" {
		t[c] = true
	}
	return t
}()

// compact is a split and decoded DPoP proof, not yet verified.
type compact struct {
	hdr          *header
	payload      []byte
	signingInput []byte
	signature    []byte
}

// header is what a proof's JOSE header establishes. It is a function of the
// encoded header alone (and of the allowed algorithms, fixed per Verifier),
// and a client sends the same header with every proof, so it is cached by
// the encoded header.
type header struct {
	alg   jose.Algorithm
	key   jose.PublicKey // from the jwk header, Alg set to the header's alg
	thumb string         // RFC 7638 thumbprint of key
}

// parseCompact splits and decodes a proof the way jose.Parse does, except
// that the header must carry exactly typ, alg and jwk (RFC 9449 §4.2), which
// jose.Parse refuses on purpose. Checks run cheapest first: the size cap, then
// the count of '.' before splitting, then the alphabet, then decoding.
func parseCompact(proof string, maxSize int, allowed []jose.Algorithm, cache *headerCache) (*compact, *Error) {
	if len(proof) > maxSize {
		return nil, invalid("proof too large")
	}
	if proof == "" {
		return nil, invalid("empty proof")
	}
	if strings.Count(proof, ".") != 2 {
		return nil, invalid("proof is not a compact jws with three segments")
	}
	dot1 := strings.IndexByte(proof, '.')
	dot2 := dot1 + 1 + strings.IndexByte(proof[dot1+1:], '.')
	segs := [3]string{proof[:dot1], proof[dot1+1 : dot2], proof[dot2+1:]}
	var dec [3][]byte
	hdr := cache.get(segs[0])
	for i, seg := range segs {
		if i == 0 && hdr != nil {
			continue // the cached header was this very text
		}
		if seg == "" {
			return nil, invalid("proof has an empty segment")
		}
		for j := 0; j < len(seg); j++ {
			if !b64url[seg[j]] {
				return nil, invalid("proof segment is not base64url")
			}
		}
		if len(seg)%4 == 1 {
			return nil, invalid("proof segment is not base64url")
		}
		d, err := b64.DecodeString(seg)
		if err != nil {
			return nil, invalid("proof segment is not canonical base64url")
		}
		dec[i] = d
	}

	if hdr == nil {
		var err *Error
		if hdr, err = parseHeader(dec[0], allowed); err != nil {
			return nil, err
		}
		cache.put(segs[0], hdr)
	}
	return &compact{hdr: hdr, payload: dec[1], signingInput: []byte(proof[:dot2]), signature: dec[2]}, nil
}

// parseHeader reads the JOSE header of a DPoP proof (RFC 9449 §4.2, §4.3
// steps 4 to 7). The header is strict JSON (jose.DecodeJSON: no duplicate
// members, valid UTF-8) and is read into a map so that member names match
// exactly: encoding/json would fill a struct field "typ" from "TYP".
func parseHeader(data []byte, allowed []jose.Algorithm) (*header, *Error) {
	c := &header{}
	var h map[string]json.RawMessage
	if err := jose.DecodeJSON(data, &h); err != nil {
		return nil, invalidCause("proof header is not a strict json object", err)
	}
	if h == nil {
		return nil, invalid("proof header is not a json object")
	}
	for name := range h {
		switch name {
		case "typ", "alg", "jwk":
		default:
			// A member we do not act on (kid, crit, jku, x5c, ...) may be one an
			// attacker meant for another parser (RFC 8725 §3.10); crit in
			// particular must be understood or refused (RFC 7515 §4.1.11).
			return nil, invalid("proof header may only have typ, alg and jwk")
		}
	}

	typ, ok := stringMember(h, "typ")
	if !ok {
		return nil, invalid("proof header typ must be a string")
	}
	// RFC 9449 §4.3 step 4 names the value dpop+jwt; we take it literally
	// rather than also accepting "application/dpop+jwt" or other cases.
	if typ != "dpop+jwt" {
		return nil, invalid("proof header typ must be dpop+jwt")
	}

	alg, ok := stringMember(h, "alg")
	if !ok {
		return nil, invalid("proof header alg must be a string")
	}
	switch {
	case alg == "none":
		return nil, invalid("proof alg none not allowed")
	case strings.HasPrefix(alg, "HS"):
		return nil, invalid("proof alg must be asymmetric")
	}
	c.alg = jose.Algorithm(alg)
	if !algAllowed(c.alg, allowed) {
		return nil, invalid("proof alg not allowed")
	}

	raw, ok := h["jwk"]
	if !ok || len(raw) == 0 || raw[0] != '{' {
		return nil, invalid("proof header jwk must be a json object")
	}
	k, err := jose.ParseJWK(raw)
	if err != nil {
		return nil, invalidCause("proof header jwk is not an acceptable public key", err)
	}
	if k.Alg != c.alg {
		// ParseJWK pins the jwk's own alg, or the key type's default (RS256
		// for RSA). A jwk that names an alg must name the header's; one that
		// names none may be used with any allowed alg its key fits, which
		// checkKey below decides.
		var jm map[string]json.RawMessage
		if err := json.Unmarshal(raw, &jm); err != nil {
			return nil, invalid("proof header jwk must be a json object")
		}
		if _, named := jm["alg"]; named {
			return nil, invalid("proof alg does not match the jwk alg")
		}
	}
	k.Alg = c.alg
	if err := checkKey(c.alg, k.Key); err != nil {
		return nil, err
	}
	c.key = k
	if c.thumb, err = jose.Thumbprint(k); err != nil {
		return nil, invalidCause("proof jwk has no thumbprint", err)
	}
	return c, nil
}

// stringMember returns the JSON string member name of m.
func stringMember(m map[string]json.RawMessage, name string) (string, bool) {
	raw, ok := m[name]
	if !ok || len(raw) == 0 || raw[0] != '"' {
		return "", false
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", false
	}
	return s, true
}

func algAllowed(alg jose.Algorithm, allowed []jose.Algorithm) bool {
	for _, a := range allowed {
		if a == alg {
			return true
		}
	}
	return false
}
