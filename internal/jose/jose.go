// Package jose is the strict JSON Web Signature layer every Gatehouse token
// check goes through: compact JWS (RFC 7515) parsing and verification, signing,
// and public JWKs (RFC 7517, RFC 7518, RFC 8037, RFC 7638).
//
// It follows the JWT BCP (RFC 8725) rather than any library's defaults:
//   - the algorithm comes from our key (PublicKey.Alg), never from the token
//     (RFC 8725 §3.1: one algorithm per key);
//   - "none" and HMAC algorithms are refused, so a public key can never be
//     used as an HMAC secret (RFC 8725 §2.1, §3.1);
//   - the protected header may only carry "alg", "typ" and "kid": anything
//     that would make us fetch a key (jku, x5u), trust a key inside the token
//     (jwk, x5c) or change processing (crit, b64, cty) is refused
//     (RFC 8725 §3.10, RFC 7515 §4.1.11);
//   - base64url and JSON are decoded strictly: no padding, no whitespace, no
//     non-canonical trailing bits, no duplicate JSON members, valid UTF-8
//     (RFC 7515 §2, RFC 8725 §3.2).
//
// The standard library does all signature mathematics.
package jose

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"errors"
	"fmt"
)

// Algorithm is a JWS "alg" value (RFC 7518 §3.1, RFC 8037 §3.1).
type Algorithm string

// The algorithms Gatehouse signs and verifies. HMAC (HS*) and "none" are
// deliberately absent: a gateway verifying with public keys has no business
// accepting either (RFC 8725 §3.1).
const (
	EdDSA Algorithm = "EdDSA" // Ed25519 only (RFC 8037 §3.1)
	ES256 Algorithm = "ES256" // ECDSA P-256 SHA-256 (RFC 7518 §3.4)
	ES384 Algorithm = "ES384" // ECDSA P-384 SHA-384
	ES512 Algorithm = "ES512" // ECDSA P-521 SHA-512
	RS256 Algorithm = "RS256" // RSASSA-PKCS1-v1_5 SHA-256 (RFC 7518 §3.3)
	RS384 Algorithm = "RS384"
	RS512 Algorithm = "RS512"
	PS256 Algorithm = "PS256" // RSASSA-PSS SHA-256, MGF1 SHA-256, salt 32 (RFC 7518 §3.5)
	PS384 Algorithm = "PS384"
	PS512 Algorithm = "PS512"
)

// MaxTokenSize caps a compact JWS in bytes. It is checked before anything is
// decoded so that an oversized token costs nothing; it matches the gateway's
// cap on the Authorization header.
const MaxTokenSize = 8192

// RSA key size bounds in bits. Below 2048 is too weak (RFC 7518 §3.3, §3.5);
// above 8192 buys nothing and makes every verification an attacker can
// trigger needlessly expensive.
const (
	minRSABits = 2048
	maxRSABits = 8192
)

// maxKidLen bounds "kid" in headers and JWKs: it is looked up in maps and
// logged, so it stays short and plain.
const maxKidLen = 128

// PublicKey is a verification key whose algorithm is pinned by us, never taken
// from a token. Key is an ed25519.PublicKey, *ecdsa.PublicKey or
// *rsa.PublicKey that fits Alg.
type PublicKey struct {
	ID  string // kid; empty when the key has none
	Alg Algorithm
	Key crypto.PublicKey
}

// Header is the protected header of a compact JWS. Only these three
// parameters are ever accepted (see Parse).
type Header struct {
	Alg Algorithm
	Typ string // empty when absent; compare with TypMatches
	Kid string // empty when absent
}

// Errors callers can tell apart with errors.Is. Every error this package
// returns wraps exactly one of them and carries a specific message.
var (
	// ErrMalformed: the input is not what it claims to be: a compact JWS
	// with three canonical base64url segments, strict JSON, a well-formed
	// JWK, or a key that is mathematically valid.
	ErrMalformed = errors.New("jose: malformed input")
	// ErrPolicy: the input is well formed but uses something Gatehouse
	// refuses on purpose: alg "none" or HMAC, a header parameter other than
	// alg/typ/kid, an unsupported key type, curve or algorithm, a weak RSA
	// key, a JWK not meant for signature verification.
	ErrPolicy = errors.New("jose: refused by policy")
	// ErrPrivateKey: a JWK carries private or symmetric key material. Such
	// a document must never be published, so a key set that contains one is
	// refused as a whole.
	ErrPrivateKey = errors.New("jose: private key material")
	// ErrKeyMismatch: the key cannot verify this token: the token's alg is
	// not the key's pinned alg, the key's type does not fit its alg, or both
	// have a kid and they differ.
	ErrKeyMismatch = errors.New("jose: key does not match")
	// ErrSignature: the signature does not verify (or, from Sign, the
	// signer failed or returned something that is not a signature).
	ErrSignature = errors.New("jose: invalid signature")
)

// joseError pairs a specific message with the sentinel it belongs to, and
// optionally an underlying cause (for example a *json.UnmarshalTypeError).
type joseError struct {
	kind  error
	msg   string
	cause error
}

func (e *joseError) Error() string { return e.msg }

func (e *joseError) Unwrap() []error {
	if e.cause != nil {
		return []error{e.kind, e.cause}
	}
	return []error{e.kind}
}

func errorf(kind error, format string, args ...any) error {
	return &joseError{kind: kind, msg: fmt.Sprintf(format, args...)}
}

// kindOf returns the sentinel err wraps, ErrMalformed if none.
func kindOf(err error) error {
	for _, k := range []error{ErrMalformed, ErrPolicy, ErrPrivateKey, ErrKeyMismatch, ErrSignature} {
		if errors.Is(err, k) {
			return k
		}
	}
	return ErrMalformed
}

// family groups algorithms that share a key type and signature scheme.
type family uint8

const (
	famEdDSA family = iota + 1
	famECDSA
	famPKCS1
	famPSS
)

// algInfo is what we need to know about an algorithm; see lookup.
type algInfo struct {
	fam   family
	hash  crypto.Hash    // zero for EdDSA, which hashes internally
	curve elliptic.Curve // ECDSA only
	size  int            // ECDSA: bytes per coordinate and per r and s
	order []byte         // ECDSA: the group order n, big-endian, size bytes
}

// orderBytes returns the order of c as a fixed-length big-endian slice, so
// that range checks on r and s are plain byte comparisons.
func orderBytes(c elliptic.Curve, size int) []byte {
	return c.Params().N.FillBytes(make([]byte, size))
}

var (
	infoEdDSA = algInfo{fam: famEdDSA}
	infoES256 = algInfo{fam: famECDSA, hash: crypto.SHA256, curve: elliptic.P256(), size: 32, order: orderBytes(elliptic.P256(), 32)}
	infoES384 = algInfo{fam: famECDSA, hash: crypto.SHA384, curve: elliptic.P384(), size: 48, order: orderBytes(elliptic.P384(), 48)}
	infoES512 = algInfo{fam: famECDSA, hash: crypto.SHA512, curve: elliptic.P521(), size: 66, order: orderBytes(elliptic.P521(), 66)}
	infoRS256 = algInfo{fam: famPKCS1, hash: crypto.SHA256}
	infoRS384 = algInfo{fam: famPKCS1, hash: crypto.SHA384}
	infoRS512 = algInfo{fam: famPKCS1, hash: crypto.SHA512}
	infoPS256 = algInfo{fam: famPSS, hash: crypto.SHA256}
	infoPS384 = algInfo{fam: famPSS, hash: crypto.SHA384}
	infoPS512 = algInfo{fam: famPSS, hash: crypto.SHA512}
)

// lookup returns what we know about a supported algorithm. A switch rather
// than a map keeps it allocation-free and makes the supported set explicit.
func lookup(alg Algorithm) (*algInfo, bool) {
	switch alg {
	case EdDSA:
		return &infoEdDSA, true
	case ES256:
		return &infoES256, true
	case ES384:
		return &infoES384, true
	case ES512:
		return &infoES512, true
	case RS256:
		return &infoRS256, true
	case RS384:
		return &infoRS384, true
	case RS512:
		return &infoRS512, true
	case PS256:
		return &infoPS256, true
	case PS384:
		return &infoPS384, true
	case PS512:
		return &infoPS512, true
	}
	return nil, false
}

// knownAlg maps the bytes of an "alg" value to our constant without
// allocating, refusing with a specific reason what we do not support.
func knownAlg(b []byte) (Algorithm, error) {
	switch string(b) {
	case "EdDSA":
		return EdDSA, nil
	case "ES256":
		return ES256, nil
	case "ES384":
		return ES384, nil
	case "ES512":
		return ES512, nil
	case "RS256":
		return RS256, nil
	case "RS384":
		return RS384, nil
	case "RS512":
		return RS512, nil
	case "PS256":
		return PS256, nil
	case "PS384":
		return PS384, nil
	case "PS512":
		return PS512, nil
	case "none":
		// RFC 8725 §2.1, §3.1: an unsecured JWS must never be accepted here.
		return "", errorf(ErrPolicy, "jose: alg \"none\" not allowed")
	case "HS256", "HS384", "HS512":
		// RFC 8725 §2.1: with HMAC allowed, a verifier holding a public key
		// can be tricked into using it as the HMAC secret.
		return "", errorf(ErrPolicy, "jose: symmetric alg %q not allowed", string(b))
	}
	return "", errorf(ErrPolicy, "jose: unsupported alg %s", quoteShort(string(b)))
}

// AlgorithmFor returns the default algorithm for a public key: EdDSA for
// Ed25519, ES256/ES384/ES512 for P-256/P-384/P-521 and RS256 for RSA. RS256
// rather than PS256 for RSA because it is what every verifier understands;
// pin PS* explicitly where wanted.
func AlgorithmFor(key crypto.PublicKey) (Algorithm, error) {
	switch k := key.(type) {
	case ed25519.PublicKey:
		return EdDSA, nil
	case *ecdsa.PublicKey:
		if k == nil {
			return "", errorf(ErrMalformed, "jose: nil ecdsa key")
		}
		switch k.Curve {
		case elliptic.P256():
			return ES256, nil
		case elliptic.P384():
			return ES384, nil
		case elliptic.P521():
			return ES512, nil
		}
		return "", errorf(ErrPolicy, "jose: unsupported ecdsa curve")
	case *rsa.PublicKey:
		if k == nil {
			return "", errorf(ErrMalformed, "jose: nil rsa key")
		}
		return RS256, nil
	}
	return "", errorf(ErrPolicy, "jose: unsupported key type %T", key)
}

// checkKey checks that key can be used with info's algorithm. It is cheap
// enough to run on every verification, and it is what keeps a hand-built
// PublicKey from making the standard library panic (nil coordinates, short
// Ed25519 keys). Validate adds the load-time checks.
func checkKey(alg Algorithm, info *algInfo, key crypto.PublicKey) error {
	switch info.fam {
	case famEdDSA:
		k, ok := key.(ed25519.PublicKey)
		if !ok {
			return errorf(ErrKeyMismatch, "jose: %s needs an ed25519 key, not %T", alg, key)
		}
		if len(k) != ed25519.PublicKeySize {
			return errorf(ErrMalformed, "jose: ed25519 key is %d bytes, want %d", len(k), ed25519.PublicKeySize)
		}
	case famECDSA:
		k, ok := key.(*ecdsa.PublicKey)
		if !ok || k == nil {
			return errorf(ErrKeyMismatch, "jose: %s needs an ecdsa key, not %T", alg, key)
		}
		if k.Curve != info.curve {
			return errorf(ErrKeyMismatch, "jose: %s needs a %s key", alg, info.curve.Params().Name)
		}
		//lint:ignore SA1019 reading only: nil coordinates would make crypto/ecdsa panic.
		if k.X == nil || k.Y == nil {
			return errorf(ErrMalformed, "jose: ecdsa key has no point")
		}
	case famPKCS1, famPSS:
		k, ok := key.(*rsa.PublicKey)
		if !ok || k == nil {
			return errorf(ErrKeyMismatch, "jose: %s needs an rsa key, not %T", alg, key)
		}
		if k.N == nil {
			return errorf(ErrMalformed, "jose: rsa key has no modulus")
		}
		if bits := k.N.BitLen(); bits < minRSABits || bits > maxRSABits {
			return errorf(ErrPolicy, "jose: rsa key is %d bits, want %d to %d", bits, minRSABits, maxRSABits)
		}
		if err := checkExponent(k.E); err != nil {
			return err
		}
	}
	return nil
}

// checkExponent follows FIPS 186-5 §5.4: e odd and at least 65537. Go keeps e
// in an int and refuses values above 2^31-1, and so do we.
func checkExponent(e int) error {
	if e < 65537 || e > 1<<31-1 || e%2 == 0 {
		return errorf(ErrPolicy, "jose: rsa public exponent %d not allowed; want an odd value from 65537 to 2^31-1", e)
	}
	return nil
}

// Validate checks that the key is usable for its pinned algorithm: the
// algorithm is supported, the key type and curve fit it, an RSA key has a
// sane size and exponent, an odd modulus and no ROCA fingerprint (CVE-2017-15361),
// and the kid is short printable ASCII. ParseJWK returns only keys that pass;
// call it on keys built any other way before trusting them.
func (k PublicKey) Validate() error {
	info, ok := lookup(k.Alg)
	if !ok {
		return errorf(ErrPolicy, "jose: unsupported alg %s", quoteShort(string(k.Alg)))
	}
	if err := checkKey(k.Alg, info, k.Key); err != nil {
		return err
	}
	if k.ID != "" && !validKid(k.ID) {
		return errorf(ErrPolicy, "jose: kid must be 1 to %d bytes of printable ascii", maxKidLen)
	}
	if pub, ok := k.Key.(*rsa.PublicKey); ok {
		if pub.N.Bit(0) == 0 {
			return errorf(ErrMalformed, "jose: rsa modulus is even")
		}
		if rocaFingerprint(pub.N.Bytes()) {
			return errorf(ErrPolicy, "jose: rsa key has the roca fingerprint (CVE-2017-15361)")
		}
	}
	return nil
}

// validKid reports whether s is 1 to maxKidLen bytes of printable ASCII.
func validKid(s string) bool { return printableASCII(s, maxKidLen) }

func printableASCII(s string, max int) bool {
	if len(s) == 0 || len(s) > max {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e {
			return false
		}
	}
	return true
}

// quoteShort quotes untrusted bytes for an error message, cut to a length
// that keeps logs readable.
func quoteShort(s string) string {
	const max = 32
	if len(s) > max {
		return fmt.Sprintf("%q...", s[:max])
	}
	return fmt.Sprintf("%q", s)
}
