package dpop

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/sha512"
	"math/big"

	"github.com/gatehouse/gatehouse/internal/jose"
)

// jose.JWS keeps its signing input unexported, so a proof we split ourselves
// cannot go through (*jose.JWS).Verify. This is the minimal equivalent, with
// jose's rules: raw r||s ECDSA with 1 <= r, s < n, PSS salt as long as the
// hash, RSA keys of at least 2048 bits (jose.ParseJWK already refuses more
// than 8192 bits and weak exponents).

const minRSABits = 2048

// algSpec says how to verify one algorithm.
type algSpec struct {
	hash  crypto.Hash
	curve elliptic.Curve // ECDSA only
	size  int            // ECDSA: bytes of r and of s
	pss   bool
}

func spec(alg jose.Algorithm) (algSpec, bool) {
	switch alg {
	case jose.EdDSA:
		return algSpec{}, true
	case jose.ES256:
		return algSpec{hash: crypto.SHA256, curve: elliptic.P256(), size: 32}, true
	case jose.ES384:
		return algSpec{hash: crypto.SHA384, curve: elliptic.P384(), size: 48}, true
	case jose.ES512:
		return algSpec{hash: crypto.SHA512, curve: elliptic.P521(), size: 66}, true
	case jose.RS256:
		return algSpec{hash: crypto.SHA256}, true
	case jose.RS384:
		return algSpec{hash: crypto.SHA384}, true
	case jose.RS512:
		return algSpec{hash: crypto.SHA512}, true
	case jose.PS256:
		return algSpec{hash: crypto.SHA256, pss: true}, true
	case jose.PS384:
		return algSpec{hash: crypto.SHA384, pss: true}, true
	case jose.PS512:
		return algSpec{hash: crypto.SHA512, pss: true}, true
	}
	return algSpec{}, false
}

// checkKey refuses a key whose type or curve does not fit alg (RFC 9449 §4.3
// step 6: the alg must match the key), so that, say, an RSA jwk cannot be
// used with ES256.
func checkKey(alg jose.Algorithm, key crypto.PublicKey) *Error {
	sp, ok := spec(alg)
	if !ok {
		return invalid("proof alg not supported")
	}
	switch k := key.(type) {
	case ed25519.PublicKey:
		if alg == jose.EdDSA && len(k) == ed25519.PublicKeySize {
			return nil
		}
	case *ecdsa.PublicKey:
		if sp.curve != nil && k != nil && k.Curve == sp.curve {
			return nil
		}
	case *rsa.PublicKey:
		if alg != jose.EdDSA && sp.curve == nil && k != nil && k.N != nil && k.N.BitLen() >= minRSABits {
			return nil
		}
	}
	return invalid("proof alg does not match the jwk key type")
}

// verifySignature checks sig over msg with key for alg (RFC 7515 §5.2). The
// key has passed checkKey for alg.
func verifySignature(alg jose.Algorithm, key crypto.PublicKey, msg, sig []byte) bool {
	sp, ok := spec(alg)
	if !ok {
		return false
	}
	switch k := key.(type) {
	case ed25519.PublicKey:
		return alg == jose.EdDSA && len(sig) == ed25519.SignatureSize && ed25519.Verify(k, msg, sig)
	case *ecdsa.PublicKey:
		if sp.curve == nil || len(sig) != 2*sp.size {
			// Refuses DER too (RFC 7518 §3.4).
			return false
		}
		n := sp.curve.Params().N
		r := new(big.Int).SetBytes(sig[:sp.size])
		s := new(big.Int).SetBytes(sig[sp.size:])
		if r.Sign() <= 0 || s.Sign() <= 0 || r.Cmp(n) >= 0 || s.Cmp(n) >= 0 {
			return false
		}
		return ecdsa.Verify(k, digest(sp.hash, msg), r, s)
	case *rsa.PublicKey:
		if sp.curve != nil || alg == jose.EdDSA || len(sig) != k.Size() {
			return false
		}
		d := digest(sp.hash, msg)
		if sp.pss {
			return rsa.VerifyPSS(k, sp.hash, d, sig, &rsa.PSSOptions{SaltLength: sp.hash.Size(), Hash: sp.hash}) == nil
		}
		return rsa.VerifyPKCS1v15(k, sp.hash, d, sig) == nil
	}
	return false
}

func digest(h crypto.Hash, msg []byte) []byte {
	switch h {
	case crypto.SHA256:
		d := sha256.Sum256(msg)
		return d[:]
	case crypto.SHA384:
		d := sha512.Sum384(msg)
		return d[:]
	default:
		d := sha512.Sum512(msg)
		return d[:]
	}
}
