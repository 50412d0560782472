package jose

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/sha512"
)

// Verify checks the signature with k (RFC 7515 §5.2). The algorithm is k's,
// pinned when the key was loaded; the token's "alg" must equal it, and is
// never used to choose how to verify (RFC 8725 §3.1). If both the token and
// the key have a kid, they must be equal.
//
// Per algorithm:
//   - EdDSA: Ed25519 only, 64-byte signature (RFC 8037 §3.1);
//   - ES*: the raw fixed-length R||S form of RFC 7518 §3.4 (64, 96 or 132
//     bytes) with 1 <= r, s < n; DER is refused;
//   - RS*: RSASSA-PKCS1-v1_5, the signature exactly as long as the modulus;
//   - PS*: RSASSA-PSS with MGF1 over the same hash and a salt exactly as
//     long as the hash (RFC 7518 §3.5). Libraries that accept any salt
//     length accept signatures no conforming signer produces.
//
// RSA keys must have 2048 to 8192 bits. Errors wrap ErrKeyMismatch,
// ErrSignature, or ErrMalformed/ErrPolicy for an unusable key.
func (j *JWS) Verify(k PublicKey) error {
	if j == nil || j.signingInput == nil {
		return errorf(ErrMalformed, "jose: verify needs a jws from Parse")
	}
	if j.Header.Alg != k.Alg {
		return errorf(ErrKeyMismatch, "jose: token alg %q does not match key alg %q", j.Header.Alg, k.Alg)
	}
	if j.Header.Kid != "" && k.ID != "" && j.Header.Kid != k.ID {
		return errorf(ErrKeyMismatch, "jose: token kid %q does not match key kid %q", j.Header.Kid, k.ID)
	}
	info, ok := lookup(k.Alg)
	if !ok {
		return errorf(ErrPolicy, "jose: unsupported alg %s", quoteShort(string(k.Alg)))
	}
	if err := checkKey(k.Alg, info, k.Key); err != nil {
		return err
	}
	msg, sig := j.signingInput, j.signature
	switch info.fam {
	case famEdDSA:
		if len(sig) != ed25519.SignatureSize {
			return errorf(ErrSignature, "jose: EdDSA signature is %d bytes, want %d", len(sig), ed25519.SignatureSize)
		}
		if !ed25519.Verify(k.Key.(ed25519.PublicKey), msg, sig) {
			return errorf(ErrSignature, "jose: EdDSA signature does not verify")
		}
		return nil

	case famECDSA:
		n := info.size
		if len(sig) != 2*n {
			// This refuses DER too. A DER signature is 2n bytes only by
			// rare chance, and then its bytes read as r||s do not verify.
			return errorf(ErrSignature, "jose: %s signature is %d bytes, want %d (raw r||s)", k.Alg, len(sig), 2*n)
		}
		r, s := sig[:n], sig[n:]
		if !inRange(r, info.order) || !inRange(s, info.order) {
			return errorf(ErrSignature, "jose: %s signature r or s out of range", k.Alg)
		}
		var hb [64]byte
		var der [2*(3+66) + 3]byte
		if !ecdsa.VerifyASN1(k.Key.(*ecdsa.PublicKey), digest(info.hash, msg, &hb), appendDERSignature(der[:0], r, s)) {
			return errorf(ErrSignature, "jose: %s signature does not verify", k.Alg)
		}
		return nil

	case famPKCS1, famPSS:
		pub := k.Key.(*rsa.PublicKey)
		if len(sig) != pub.Size() {
			return errorf(ErrSignature, "jose: %s signature is %d bytes, want %d", k.Alg, len(sig), pub.Size())
		}
		var hb [64]byte
		d := digest(info.hash, msg, &hb)
		var err error
		if info.fam == famPKCS1 {
			err = rsa.VerifyPKCS1v15(pub, info.hash, d, sig)
		} else {
			err = rsa.VerifyPSS(pub, info.hash, d, sig, &rsa.PSSOptions{SaltLength: info.hash.Size(), Hash: info.hash})
		}
		if err != nil {
			return errorf(ErrSignature, "jose: %s signature does not verify", k.Alg)
		}
		return nil
	}
	return errorf(ErrPolicy, "jose: unsupported alg %q", k.Alg)
}

// digest hashes msg into out without allocating.
func digest(h crypto.Hash, msg []byte, out *[64]byte) []byte {
	switch h {
	case crypto.SHA256:
		d := sha256.Sum256(msg)
		return append(out[:0], d[:]...)
	case crypto.SHA384:
		d := sha512.Sum384(msg)
		return append(out[:0], d[:]...)
	default:
		d := sha512.Sum512(msg)
		return append(out[:0], d[:]...)
	}
}

// inRange reports whether 1 <= x < order for big-endian x and order of the
// same length.
func inRange(x, order []byte) bool {
	zero := true
	for _, c := range x {
		if c != 0 {
			zero = false
			break
		}
	}
	return !zero && bytes.Compare(x, order) < 0
}

// appendDERSignature encodes r and s (big-endian, possibly with leading
// zeros) as the DER ECDSA-Sig-Value crypto/ecdsa verifies, in minimal form:
// SEQUENCE { INTEGER r, INTEGER s }.
func appendDERSignature(dst, r, s []byte) []byte {
	r, s = bytes.TrimLeft(r, "\x00"), bytes.TrimLeft(s, "\x00")
	intLen := func(x []byte) int {
		if len(x) > 0 && x[0]&0x80 != 0 {
			return len(x) + 1
		}
		return len(x)
	}
	body := 2 + intLen(r) + 2 + intLen(s)
	dst = append(dst, 0x30)
	if body >= 0x80 {
		dst = append(dst, 0x81)
	}
	dst = append(dst, byte(body))
	for _, x := range [2][]byte{r, s} {
		dst = append(dst, 0x02, byte(intLen(x)))
		if intLen(x) > len(x) {
			dst = append(dst, 0)
		}
		dst = append(dst, x...)
	}
	return dst
}
