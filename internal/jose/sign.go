package jose

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"sync"
	"sync/atomic"
)

// Sign returns the compact JWS (RFC 7515 §7.1) of payload signed with key
// under alg. The header is exactly {"alg","typ","kid"} in that order, typ and
// kid left out when empty, so every token we mint passes our own Parse; for
// the same reason an empty payload, or a token that would exceed
// MaxTokenSize, is refused. ECDSA signatures are emitted as raw r||s
// (RFC 7518 §3.4) and PSS uses a salt as long as the hash (RFC 7518 §3.5).
//
// key must fit alg the way Verify requires. Signing is on the
// token-issuance path, so the encoded header is cached per (alg, kid, typ)
// and the token is assembled in a single buffer.
func Sign(alg Algorithm, kid, typ string, key crypto.Signer, payload []byte) (string, error) {
	info, ok := lookup(alg)
	if !ok {
		return "", errorf(ErrPolicy, "jose: unsupported alg %s", quoteShort(string(alg)))
	}
	if key == nil {
		return "", errorf(ErrMalformed, "jose: nil signing key")
	}
	pub := key.Public()
	if err := checkKey(alg, info, pub); err != nil {
		return "", err
	}
	if len(payload) == 0 {
		return "", errorf(ErrMalformed, "jose: empty payload")
	}
	hdr, err := encodedHeader(alg, kid, typ)
	if err != nil {
		return "", err
	}

	var sigLen int
	switch info.fam {
	case famEdDSA:
		sigLen = ed25519.SignatureSize
	case famECDSA:
		sigLen = 2 * info.size
	default:
		sigLen = pub.(*rsa.PublicKey).Size()
	}
	total := len(hdr) + 1 + b64.EncodedLen(len(payload)) + 1 + b64.EncodedLen(sigLen)
	if total > MaxTokenSize {
		return "", errorf(ErrMalformed, "jose: token would be %d bytes, more than %d", total, MaxTokenSize)
	}
	buf := make([]byte, 0, total)
	buf = append(buf, hdr...)
	buf = append(buf, '.')
	buf = b64.AppendEncode(buf, payload)
	msg := buf // the signing input, RFC 7515 §5.1 step 5

	var sig []byte
	switch info.fam {
	case famEdDSA:
		sig, err = key.Sign(rand.Reader, msg, crypto.Hash(0))
	case famECDSA:
		var hb [64]byte
		var der []byte
		der, err = key.Sign(rand.Reader, digest(info.hash, msg, &hb), info.hash)
		if err == nil {
			var raw [2 * 66]byte
			sig, err = rawECDSASignature(raw[:2*info.size], der)
		}
	case famPKCS1:
		var hb [64]byte
		sig, err = key.Sign(rand.Reader, digest(info.hash, msg, &hb), info.hash)
	case famPSS:
		var hb [64]byte
		sig, err = key.Sign(rand.Reader, digest(info.hash, msg, &hb), &rsa.PSSOptions{SaltLength: info.hash.Size(), Hash: info.hash})
	}
	if err != nil {
		return "", &joseError{kind: ErrSignature, msg: "jose: signing failed: " + err.Error(), cause: err}
	}
	if len(sig) != sigLen {
		return "", errorf(ErrSignature, "jose: signer returned %d bytes, want %d", len(sig), sigLen)
	}
	buf = append(buf, '.')
	buf = b64.AppendEncode(buf, sig)
	return string(buf), nil
}

// rawECDSASignature converts the DER ECDSA-Sig-Value a crypto.Signer returns
// into the fixed-length r||s of RFC 7518 §3.4, written into dst (2n bytes).
func rawECDSASignature(dst, der []byte) ([]byte, error) {
	bad := errorf(ErrSignature, "jose: signer returned a malformed ecdsa signature")
	n := len(dst) / 2
	body, rest, ok := derElement(der, 0x30)
	if !ok || len(rest) != 0 {
		return nil, bad
	}
	r, body, ok := derElement(body, 0x02)
	if !ok {
		return nil, bad
	}
	s, body, ok := derElement(body, 0x02)
	if !ok || len(body) != 0 {
		return nil, bad
	}
	for i, x := range [2][]byte{r, s} {
		if len(x) == 0 || x[0]&0x80 != 0 { // empty or negative
			return nil, bad
		}
		for len(x) > 0 && x[0] == 0 {
			x = x[1:]
		}
		if len(x) > n {
			return nil, bad
		}
		half := dst[i*n : (i+1)*n]
		clear(half)
		copy(half[n-len(x):], x)
	}
	return dst, nil
}

// derElement reads one DER element with the given tag (short or one-byte
// long length, all an ECDSA signature needs) and returns its contents and
// what follows.
func derElement(b []byte, tag byte) (content, rest []byte, ok bool) {
	if len(b) < 2 || b[0] != tag {
		return nil, nil, false
	}
	l, off := int(b[1]), 2
	if l == 0x81 {
		if len(b) < 3 || b[2] < 0x80 {
			return nil, nil, false
		}
		l, off = int(b[2]), 3
	} else if l > 0x7f {
		return nil, nil, false
	}
	if len(b)-off < l {
		return nil, nil, false
	}
	return b[off : off+l], b[off+l:], true
}

// headerKey identifies a cached encoded header.
type headerKey struct {
	alg      Algorithm
	kid, typ string
}

// headerCache maps headerKey to its encoded header. A process signs with a
// handful of keys and types, so the cache stops growing at headerCacheMax
// entries rather than being evicted: a caller passing ever-new kids gets
// correct tokens, just without the cache.
var (
	headerCache    sync.Map
	headerCacheLen atomic.Int32
)

const headerCacheMax = 64

// encodedHeader returns BASE64URL(UTF8(header)) for (alg, kid, typ).
func encodedHeader(alg Algorithm, kid, typ string) (string, error) {
	key := headerKey{alg, kid, typ}
	if h, ok := headerCache.Load(key); ok {
		return h.(string), nil
	}
	if kid != "" && !validKid(kid) {
		return "", errorf(ErrPolicy, "jose: kid must be 1 to %d bytes of printable ascii", maxKidLen)
	}
	if typ != "" && !printableASCII(typ, maxKidLen) {
		return "", errorf(ErrPolicy, "jose: typ must be 1 to %d bytes of printable ascii", maxKidLen)
	}
	js := make([]byte, 0, 32+len(kid)+len(typ))
	js = append(js, `{"alg":`...)
	js = appendJSONString(js, string(alg))
	if typ != "" {
		js = append(js, `,"typ":`...)
		js = appendJSONString(js, typ)
	}
	if kid != "" {
		js = append(js, `,"kid":`...)
		js = appendJSONString(js, kid)
	}
	js = append(js, '}')
	h := b64.EncodeToString(js)
	if headerCacheLen.Load() < headerCacheMax {
		if _, loaded := headerCache.LoadOrStore(key, h); !loaded {
			headerCacheLen.Add(1)
		}
	}
	return h, nil
}

// appendJSONString appends s, which is printable ASCII, as a JSON string.
func appendJSONString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	for i := 0; i < len(s); i++ {
		if s[i] == '"' || s[i] == '\\' {
			dst = append(dst, '\\')
		}
		dst = append(dst, s[i])
	}
	return append(dst, '"')
}

// Interface guards: the key types Sign is used with.
var (
	_ crypto.Signer = ed25519.PrivateKey(nil)
	_ crypto.Signer = (*ecdsa.PrivateKey)(nil)
	_ crypto.Signer = (*rsa.PrivateKey)(nil)
)
