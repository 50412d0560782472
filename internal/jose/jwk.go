package jose

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/sha256"
	"errors"
	"fmt"
	"math/big"
	"strings"
)

// maxJWKSetSize bounds a JWK Set document; real ones are a few kilobytes.
const maxJWKSetSize = 1 << 20

// privateMembers are the JWK members that hold private or symmetric key
// material (RFC 7518 §6.2.2, §6.3.2, §6.4.1; RFC 8037 §2).
var privateMembers = []string{"d", "p", "q", "dp", "dq", "qi", "oth", "k"}

// ParseJWK parses one public JWK (RFC 7517 §4) into a PublicKey whose
// algorithm is pinned: the JWK's "alg" when present, else AlgorithmFor's
// default. It accepts only what a verifier needs and refuses:
//   - duplicate members and other non-strict JSON (ErrMalformed);
//   - private or symmetric key material: d, p, q, dp, dq, qi, oth, k, or
//     kty "oct" (ErrPrivateKey);
//   - kty other than OKP (crv Ed25519), EC (P-256, P-384, P-521) and RSA, and
//     members of another key type (kty RSA with "crv");
//   - EC coordinates not exactly the curve's size (RFC 7518 §6.2.1.2) or a
//     point not on the curve (ErrMalformed);
//   - RSA n or e with leading zero octets (RFC 7518 §6.3.1), fewer than
//     2048 or more than 8192 bits, an exponent that is even or below 65537,
//     or a modulus with the ROCA fingerprint (CVE-2017-15361);
//   - "use" other than "sig", "key_ops" without "verify" or with anything
//     but "sign" and "verify" or with repeats (RFC 7517 §4.2, §4.3);
//   - "alg" that we do not support or that does not fit the key (ES256 on a
//     P-384 key; the unregistered "ES521");
//   - "kid" that is not 1 to 128 bytes of printable ASCII.
//
// Other members (x5c, x5t, ...) are ignored as RFC 7517 §4 requires; we pin
// keys by their own parameters and never consult a certificate chain.
func ParseJWK(data []byte) (PublicKey, error) {
	if err := checkJSON(data); err != nil {
		return PublicKey{}, err
	}
	return parseJWK(data)
}

// parseJWK is ParseJWK on input that has passed checkJSON.
func parseJWK(data []byte) (PublicKey, error) {
	ms, err := objectMembers(data, "jwk")
	if err != nil {
		return PublicKey{}, err
	}
	get := func(name string) ([]byte, bool) {
		for _, m := range ms {
			if m.name == name {
				return m.raw, true
			}
		}
		return nil, false
	}
	str := func(name string) (string, bool, error) {
		raw, ok := get(name)
		if !ok {
			return "", false, nil
		}
		s, err := jsonString(raw, "jwk member "+quoteShort(string(name)))
		return s, true, err
	}

	for _, name := range privateMembers {
		if _, ok := get(name); ok {
			return PublicKey{}, errorf(ErrPrivateKey, "jose: jwk has private key member %q; only public keys are accepted", name)
		}
	}
	kty, ok, err := str("kty")
	if err != nil {
		return PublicKey{}, err
	}
	if !ok {
		return PublicKey{}, errorf(ErrMalformed, "jose: jwk has no kty")
	}
	if kty == "oct" {
		return PublicKey{}, errorf(ErrPrivateKey, "jose: jwk kty \"oct\" is a shared secret; only public keys are accepted")
	}

	// Usage first: a key meant for something else is refused whatever its
	// material (RFC 7517 §4.2, §4.3).
	if use, ok, err := str("use"); err != nil {
		return PublicKey{}, err
	} else if ok && use != "sig" {
		return PublicKey{}, errorf(ErrPolicy, "jose: jwk use %s is not \"sig\"", quoteShort(use))
	}
	if raw, ok := get("key_ops"); ok {
		if err := checkKeyOps(raw); err != nil {
			return PublicKey{}, err
		}
	}

	var k PublicKey
	switch kty {
	case "OKP":
		k.Key, err = okpKey(str, get)
	case "EC":
		k.Key, err = ecKey(str, get)
	case "RSA":
		k.Key, err = rsaKey(str, get)
	default:
		return PublicKey{}, errorf(ErrPolicy, "jose: unsupported jwk kty %s", quoteShort(kty))
	}
	if err != nil {
		return PublicKey{}, err
	}

	if alg, ok, err := str("alg"); err != nil {
		return PublicKey{}, err
	} else if ok {
		a, err := knownAlg([]byte(alg))
		if err != nil {
			return PublicKey{}, err
		}
		info, _ := lookup(a)
		if err := checkKey(a, info, k.Key); err != nil {
			return PublicKey{}, errorf(kindOf(err), "jose: jwk alg %q does not fit the key: %s", alg, strings.TrimPrefix(err.Error(), "jose: "))
		}
		k.Alg = a
	} else if k.Alg, err = AlgorithmFor(k.Key); err != nil {
		return PublicKey{}, err
	}

	if kid, ok, err := str("kid"); err != nil {
		return PublicKey{}, err
	} else if ok {
		if !validKid(kid) {
			return PublicKey{}, errorf(ErrPolicy, "jose: jwk kid must be 1 to %d bytes of printable ascii", maxKidLen)
		}
		k.ID = kid
	}
	if err := k.Validate(); err != nil {
		return PublicKey{}, err
	}
	return k, nil
}

// checkKeyOps enforces RFC 7517 §4.3 for a verification key: an array of
// distinct strings that includes "verify" and nothing but "sign" and
// "verify" ("sign" appears when a JWK was derived from a key pair).
func checkKeyOps(raw []byte) error {
	elems, err := arrayElems(raw, "jwk key_ops")
	if err != nil {
		return err
	}
	var sign, verify bool
	for _, e := range elems {
		op, err := jsonString(e, "jwk key_ops value")
		if err != nil {
			return err
		}
		var dup bool
		switch op {
		case "verify":
			dup, verify = verify, true
		case "sign":
			dup, sign = sign, true
		default:
			return errorf(ErrPolicy, "jose: jwk key_ops %s not allowed for a signature key", quoteShort(op))
		}
		if dup {
			return errorf(ErrMalformed, "jose: jwk key_ops has %q twice", op)
		}
	}
	if !verify {
		return errorf(ErrPolicy, "jose: jwk key_ops does not include \"verify\"")
	}
	return nil
}

type strFunc func(name string) (string, bool, error)
type getFunc func(name string) ([]byte, bool)

// only refuses members that belong to other key types: a JWK that mixes
// them is confused, and guessing which part was meant is how key
// confusion starts.
func only(get getFunc, kty string, foreign ...string) error {
	for _, f := range foreign {
		if _, ok := get(f); ok {
			return errorf(ErrMalformed, "jose: jwk member %q does not belong to kty %q", f, kty)
		}
	}
	return nil
}

// b64Member decodes a required base64url member strictly.
func b64Member(str strFunc, name string) ([]byte, error) {
	v, ok, err := str(name)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, errorf(ErrMalformed, "jose: jwk has no %q", name)
	}
	if err := checkSegment(v, "jwk "+name); err != nil {
		return nil, err
	}
	b := make([]byte, b64.DecodedLen(len(v)))
	if err := decodeSegment(b, []byte(v), "jwk "+name); err != nil {
		return nil, err
	}
	return b, nil
}

// okpKey reads an Ed25519 key (RFC 8037 §2).
func okpKey(str strFunc, get getFunc) (ed25519.PublicKey, error) {
	if err := only(get, "OKP", "y", "n", "e"); err != nil {
		return nil, err
	}
	crv, ok, err := str("crv")
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, errorf(ErrMalformed, "jose: jwk has no crv")
	}
	if crv != "Ed25519" {
		return nil, errorf(ErrPolicy, "jose: unsupported OKP curve %s; only Ed25519", quoteShort(crv))
	}
	x, err := b64Member(str, "x")
	if err != nil {
		return nil, err
	}
	if len(x) != ed25519.PublicKeySize {
		return nil, errorf(ErrMalformed, "jose: Ed25519 x is %d bytes, want %d", len(x), ed25519.PublicKeySize)
	}
	return ed25519.PublicKey(x), nil
}

// ecKey reads a NIST curve key (RFC 7518 §6.2.1).
func ecKey(str strFunc, get getFunc) (*ecdsa.PublicKey, error) {
	if err := only(get, "EC", "n", "e"); err != nil {
		return nil, err
	}
	crv, ok, err := str("crv")
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, errorf(ErrMalformed, "jose: jwk has no crv")
	}
	var curve elliptic.Curve
	var size int
	switch crv {
	case "P-256":
		curve, size = elliptic.P256(), 32
	case "P-384":
		curve, size = elliptic.P384(), 48
	case "P-521":
		curve, size = elliptic.P521(), 66
	default:
		return nil, errorf(ErrPolicy, "jose: unsupported EC curve %s", quoteShort(crv))
	}
	x, err := b64Member(str, "x")
	if err != nil {
		return nil, err
	}
	y, err := b64Member(str, "y")
	if err != nil {
		return nil, err
	}
	if len(x) != size || len(y) != size {
		return nil, errorf(ErrMalformed, "jose: %s coordinates must be %d bytes each, got %d and %d", crv, size, len(x), len(y))
	}
	point := make([]byte, 0, 1+2*size)
	point = append(point, 4) // SEC 1 §2.3.3 uncompressed
	point = append(point, x...)
	point = append(point, y...)
	pub, err := ecdsa.ParseUncompressedPublicKey(curve, point)
	if err != nil {
		return nil, errorf(ErrMalformed, "jose: %s point is not on the curve", crv)
	}
	return pub, nil
}

// rsaKey reads an RSA key (RFC 7518 §6.3.1).
func rsaKey(str strFunc, get getFunc) (*rsa.PublicKey, error) {
	if err := only(get, "RSA", "crv", "x", "y"); err != nil {
		return nil, err
	}
	n, err := b64Member(str, "n")
	if err != nil {
		return nil, err
	}
	e, err := b64Member(str, "e")
	if err != nil {
		return nil, err
	}
	// RFC 7518 §6.3.1.1-2: minimal octet strings. A leading zero is how a
	// DER INTEGER leaks into a JWK, and a second encoding of the same key.
	if n[0] == 0 || e[0] == 0 {
		return nil, errorf(ErrMalformed, "jose: rsa n and e must not have leading zero octets")
	}
	if bits := (len(n)-1)*8 + bitLen(n[0]); bits < minRSABits || bits > maxRSABits {
		return nil, errorf(ErrPolicy, "jose: rsa key is %d bits, want %d to %d", bits, minRSABits, maxRSABits)
	}
	if len(e) > 4 {
		return nil, errorf(ErrPolicy, "jose: rsa public exponent is %d bytes; want at most 4", len(e))
	}
	var ev int
	for _, c := range e {
		ev = ev<<8 | int(c)
	}
	if err := checkExponent(ev); err != nil {
		return nil, err
	}
	return &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: ev}, nil
}

func bitLen(b byte) int {
	n := 0
	for ; b != 0; b >>= 1 {
		n++
	}
	return n
}

// rocaPrimes are the small primes of the ROCA detector (Nemec et al., "The
// Return of Coppersmith's Attack", CCS 2017). Keys from the affected
// Infineon library have n ≡ 65537^a (mod M) for a primorial M, so n mod p
// lies in the subgroup 65537 generates mod each of these p; for a random
// modulus that happens with probability far below 2^-100.
var rocaPrimes = []uint32{3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37, 41, 43, 47, 53, 59, 61, 67, 71, 73, 79, 83, 89, 97, 101, 103, 107, 109, 113, 127, 131, 137, 139, 149, 151, 157, 163, 167}

// rocaFingerprint reports whether the big-endian modulus n has the ROCA
// structure. It is a load-time check (a few microseconds for 2048 bits).
func rocaFingerprint(n []byte) bool {
	for _, p := range rocaPrimes {
		var r uint32
		for _, c := range n {
			r = (r<<8 | uint32(c)) % p
		}
		inGroup := false
		g := uint32(65537 % p)
		for x := uint32(1); ; {
			if x == r {
				inGroup = true
				break
			}
			x = x * g % p
			if x == 1 {
				break
			}
		}
		if !inGroup {
			return false
		}
	}
	return true
}

// ParseJWKSet parses a JWK Set (RFC 7517 §5), {"keys":[...]}, and returns
// the keys that ParseJWK accepts. Keys refused by policy (another use, an
// unsupported type or algorithm, a weak RSA key) are skipped, so a set that
// also publishes encryption keys or newer key types still works. The whole
// set is refused if it is not strict JSON, if any key is malformed or holds
// private material (such a set must never have been published), if two
// usable keys share a kid (RFC 7517 §4.5: a kid must pick one key), or if
// no key is usable. Members other than "keys" are ignored (RFC 7517 §5).
func ParseJWKSet(data []byte) ([]PublicKey, error) {
	if len(data) > maxJWKSetSize {
		return nil, errorf(ErrMalformed, "jose: jwk set is %d bytes, more than %d", len(data), maxJWKSetSize)
	}
	if err := checkJSON(data); err != nil {
		return nil, err
	}
	ms, err := objectMembers(data, "jwk set")
	if err != nil {
		return nil, err
	}
	var raw []byte
	for _, m := range ms {
		if m.name == "keys" {
			raw = m.raw
		}
	}
	if raw == nil {
		return nil, errorf(ErrMalformed, "jose: jwk set has no \"keys\" member")
	}
	elems, err := arrayElems(raw, "jwk set keys")
	if err != nil {
		return nil, err
	}
	var keys []PublicKey
	var skipped []string
	for i, e := range elems {
		k, err := parseJWK(e)
		if err != nil {
			msg := fmt.Sprintf("key %d: %s", i, strings.TrimPrefix(err.Error(), "jose: "))
			if errors.Is(err, ErrPolicy) {
				skipped = append(skipped, msg)
				continue
			}
			return nil, errorf(kindOf(err), "jose: jwk set %s", msg)
		}
		for _, prev := range keys {
			if k.ID != "" && prev.ID == k.ID {
				return nil, errorf(ErrMalformed, "jose: jwk set has two keys with kid %q", k.ID)
			}
		}
		keys = append(keys, k)
	}
	if len(keys) == 0 {
		if len(skipped) == 0 {
			return nil, errorf(ErrPolicy, "jose: jwk set has no keys")
		}
		return nil, errorf(ErrPolicy, "jose: jwk set has no usable key (%s)", strings.Join(skipped, "; "))
	}
	return keys, nil
}

// MarshalJWK returns the public JWK for k: kty, crv/x/y or n/e, then kid
// (when set), alg and "use":"sig", so that verifiers pin the same algorithm
// we do. It is what Gatehouse publishes at its JWKS endpoint.
func MarshalJWK(k PublicKey) ([]byte, error) {
	if err := k.Validate(); err != nil {
		return nil, err
	}
	b := make([]byte, 0, 512)
	b, err := appendKeyMembers(b, k.Key, false)
	if err != nil {
		return nil, err
	}
	if k.ID != "" {
		b = append(b, `,"kid":`...)
		b = appendJSONString(b, k.ID)
	}
	b = append(b, `,"alg":`...)
	b = appendJSONString(b, string(k.Alg))
	b = append(b, `,"use":"sig"}`...)
	return b, nil
}

// Thumbprint returns the RFC 7638 SHA-256 thumbprint of the key, base64url
// encoded: the hash of the required members only, in lexicographic order and
// without whitespace (RFC 7638 §3.2; RFC 8037 §2 for OKP). DPoP binds tokens
// to a key with it (RFC 9449 §6.1, cnf.jkt).
func Thumbprint(k PublicKey) (string, error) {
	alg, err := AlgorithmFor(k.Key)
	if err != nil {
		return "", err
	}
	info, _ := lookup(alg)
	if err := checkKey(alg, info, k.Key); err != nil {
		return "", err
	}
	b, err := appendKeyMembers(make([]byte, 0, 512), k.Key, true)
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(append(b, '}'))
	return b64.EncodeToString(sum[:]), nil
}

// appendKeyMembers appends '{' and the required public members of key. In
// thumbprint order they are sorted by name (RFC 7638 §3.2); otherwise kty
// comes first, as people expect to read it.
func appendKeyMembers(b []byte, key any, thumbprint bool) ([]byte, error) {
	switch k := key.(type) {
	case ed25519.PublicKey:
		if len(k) != ed25519.PublicKeySize {
			return nil, errorf(ErrMalformed, "jose: ed25519 key is %d bytes, want %d", len(k), ed25519.PublicKeySize)
		}
		x := b64.EncodeToString(k)
		if thumbprint {
			return fmt.Appendf(b, `{"crv":"Ed25519","kty":"OKP","x":"%s"`, x), nil
		}
		return fmt.Appendf(b, `{"kty":"OKP","crv":"Ed25519","x":"%s"`, x), nil
	case *ecdsa.PublicKey:
		point, err := k.Bytes()
		if err != nil {
			return nil, errorf(ErrMalformed, "jose: invalid ecdsa key: %v", err)
		}
		size := (len(point) - 1) / 2
		crv := k.Params().Name
		x, y := b64.EncodeToString(point[1:1+size]), b64.EncodeToString(point[1+size:])
		if thumbprint {
			return fmt.Appendf(b, `{"crv":"%s","kty":"EC","x":"%s","y":"%s"`, crv, x, y), nil
		}
		return fmt.Appendf(b, `{"kty":"EC","crv":"%s","x":"%s","y":"%s"`, crv, x, y), nil
	case *rsa.PublicKey:
		if k.N == nil || k.E <= 0 {
			return nil, errorf(ErrMalformed, "jose: invalid rsa key")
		}
		n := b64.EncodeToString(k.N.Bytes())
		e := b64.EncodeToString(big.NewInt(int64(k.E)).Bytes())
		if thumbprint {
			return fmt.Appendf(b, `{"e":"%s","kty":"RSA","n":"%s"`, e, n), nil
		}
		return fmt.Appendf(b, `{"kty":"RSA","n":"%s","e":"%s"`, n, e), nil
	}
	return nil, errorf(ErrPolicy, "jose: unsupported key type %T", key)
}
