package jose

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"math/big"
	"testing"
)

// withSignature replaces the signature segment of token.
func withSignature(token string, sig []byte) string {
	h, p, _ := splitForTest(token)
	return h + "." + p + "." + base64.RawURLEncoding.EncodeToString(sig)
}

func signatureOf(t *testing.T, token string) []byte {
	t.Helper()
	_, _, s := splitForTest(token)
	sig, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return sig
}

func signingInputOf(token string) []byte {
	h, p, _ := splitForTest(token)
	return []byte(h + "." + p)
}

func TestVerifyRefuses(t *testing.T) {
	keys := keysOnce()
	payload := `{"sub":"x"}`
	es256 := signRaw(t, ES256, keys.p256, `{"alg":"ES256","kid":"k1"}`, payload)
	ed := signRaw(t, EdDSA, keys.ed, `{"alg":"EdDSA"}`, payload)
	rs256 := signRaw(t, RS256, keys.rsa2048, `{"alg":"RS256"}`, payload)
	ps256 := signRaw(t, PS256, keys.rsa2048, `{"alg":"PS256"}`, payload)

	// An ECDSA signature in DER, as crypto/ecdsa produces it, instead of
	// the raw r||s JWS requires (RFC 7518 §3.4).
	var hb [64]byte
	der, err := ecdsa.SignASN1(rand.Reader, keys.p256, digest(crypto.SHA256, signingInputOf(es256), &hb))
	if err != nil {
		t.Fatal(err)
	}

	// PS256 signatures with salt lengths other than the hash length. They
	// are valid RSASSA-PSS signatures, and libraries that auto-detect the
	// salt length accept them; RFC 7518 §3.5 fixes it at 32 bytes.
	pss := func(saltLen int) []byte {
		d := digest(crypto.SHA256, signingInputOf(ps256), &hb)
		sig, err := rsa.SignPSS(rand.Reader, keys.rsa2048, crypto.SHA256, d, &rsa.PSSOptions{SaltLength: saltLen})
		if err != nil {
			t.Fatal(err)
		}
		return sig
	}

	// A 1024-bit RSA key signing a token that is otherwise fine.
	rs1024 := signRaw(t, RS256, keys.rsa1024, `{"alg":"RS256"}`, payload)

	n := elliptic.P256().Params().N
	raw := func(r, s *big.Int) []byte {
		b := make([]byte, 64)
		r.FillBytes(b[:32])
		s.FillBytes(b[32:])
		return b
	}
	good := signatureOf(t, es256)
	goodR, goodS := new(big.Int).SetBytes(good[:32]), new(big.Int).SetBytes(good[32:])

	modified := func(token string) string {
		sig := signatureOf(t, token)
		sig[len(sig)/2] ^= 1
		return withSignature(token, sig)
	}
	otherPayload := func(token string, alg Algorithm) string {
		_, _, s := splitForTest(token)
		return enc(`{"alg":"`+string(alg)+`"}`) + "." + enc(`{"sub":"y"}`) + "." + s
	}

	tests := []struct {
		name  string
		token string
		key   PublicKey
		kind  error
		msg   string
	}{
		{"AlgMismatchWithKey", es256, keys.publicFor(ES384, ""), ErrKeyMismatch, `token alg "ES256" does not match key alg "ES384"`},
		{"RS256TokenForPS256Key", rs256, keys.publicFor(PS256, ""), ErrKeyMismatch, `token alg "RS256" does not match key alg "PS256"`},
		{"ES256TokenForEdDSAKey", es256, keys.publicFor(EdDSA, ""), ErrKeyMismatch, `does not match key alg "EdDSA"`},
		{"KidMismatch", es256, keys.publicFor(ES256, "k2"), ErrKeyMismatch, `token kid "k1" does not match key kid "k2"`},
		{"KeyTypeMismatch", es256, PublicKey{Alg: ES256, Key: &keys.rsa2048.PublicKey}, ErrKeyMismatch, "ES256 needs an ecdsa key"},
		{"CurveMismatch", es256, PublicKey{Alg: ES256, Key: &keys.p384.PublicKey}, ErrKeyMismatch, "ES256 needs a P-256 key"},
		{"PrivateKeyInsteadOfPublic", es256, PublicKey{Alg: ES256, Key: keys.p256}, ErrKeyMismatch, "ES256 needs an ecdsa key"},
		{"NilKey", es256, PublicKey{Alg: ES256}, ErrKeyMismatch, "ES256 needs an ecdsa key"},
		{"EcdsaKeyWithoutPoint", es256, PublicKey{Alg: ES256, Key: &ecdsa.PublicKey{Curve: elliptic.P256()}}, ErrMalformed, "ecdsa key has no point"},
		{"ShortEd25519Key", ed, PublicKey{Alg: EdDSA, Key: ed25519.PublicKey(make([]byte, 31))}, ErrMalformed, "ed25519 key is 31 bytes"},
		{"RSAWithoutModulus", rs256, PublicKey{Alg: RS256, Key: &rsa.PublicKey{E: 65537}}, ErrMalformed, "rsa key has no modulus"},
		{"RSA1024", rs1024, PublicKey{Alg: RS256, Key: &keys.rsa1024.PublicKey}, ErrPolicy, "rsa key is 1024 bits, want 2048 to 8192"},
		{"RSAExponent3", rs256, PublicKey{Alg: RS256, Key: &rsa.PublicKey{N: keys.rsa2048.N, E: 3}}, ErrPolicy, "rsa public exponent 3 not allowed"},
		{"DERECDSASignature", withSignature(es256, der), keys.publicFor(ES256, ""), ErrSignature, "want 64 (raw r||s)"},
		{"ECDSASignatureTooShort", withSignature(es256, good[:63]), keys.publicFor(ES256, ""), ErrSignature, "ES256 signature is 63 bytes, want 64"},
		{"ECDSARIsZero", withSignature(es256, raw(new(big.Int), goodS)), keys.publicFor(ES256, ""), ErrSignature, "r or s out of range"},
		{"ECDSASIsZero", withSignature(es256, raw(goodR, new(big.Int))), keys.publicFor(ES256, ""), ErrSignature, "r or s out of range"},
		{"ECDSARIsN", withSignature(es256, raw(n, goodS)), keys.publicFor(ES256, ""), ErrSignature, "r or s out of range"},
		{"ECDSASIsN", withSignature(es256, raw(goodR, n)), keys.publicFor(ES256, ""), ErrSignature, "r or s out of range"},
		{"ECDSAModifiedSignature", modified(es256), keys.publicFor(ES256, ""), ErrSignature, "ES256 signature does not verify"},
		{"ECDSAModifiedPayload", otherPayload(es256, ES256), keys.publicFor(ES256, ""), ErrSignature, "ES256 signature does not verify"},
		{"EdDSAModifiedSignature", modified(ed), keys.publicFor(EdDSA, ""), ErrSignature, "EdDSA signature does not verify"},
		{"EdDSAModifiedPayload", otherPayload(ed, EdDSA), keys.publicFor(EdDSA, ""), ErrSignature, "EdDSA signature does not verify"},
		{"EdDSASignatureTooLong", withSignature(ed, append(signatureOf(t, ed), 0)), keys.publicFor(EdDSA, ""), ErrSignature, "EdDSA signature is 65 bytes, want 64"},
		{"RS256ModifiedSignature", modified(rs256), keys.publicFor(RS256, ""), ErrSignature, "RS256 signature does not verify"},
		{"RS256ModifiedPayload", otherPayload(rs256, RS256), keys.publicFor(RS256, ""), ErrSignature, "RS256 signature does not verify"},
		{"RS256LeadingZeroInSignature", withSignature(rs256, append([]byte{0}, signatureOf(t, rs256)...)), keys.publicFor(RS256, ""), ErrSignature, "RS256 signature is 257 bytes, want 256"},
		{"RS256TruncatedSignature", withSignature(rs256, signatureOf(t, rs256)[1:]), keys.publicFor(RS256, ""), ErrSignature, "RS256 signature is 255 bytes, want 256"},
		{"PS256WithRS256Signature", withSignature(ps256, signatureOf(t, signRaw(t, RS256, keys.rsa2048, `{"alg":"PS256"}`, payload))), keys.publicFor(PS256, ""), ErrSignature, "PS256 signature does not verify"},
		{"PSSSaltLengthZero", withSignature(ps256, pss(0)), keys.publicFor(PS256, ""), ErrSignature, "PS256 signature does not verify"},
		{"PSSSaltLength20", withSignature(ps256, pss(20)), keys.publicFor(PS256, ""), ErrSignature, "PS256 signature does not verify"},
		{"PSSSaltLength33", withSignature(ps256, pss(33)), keys.publicFor(PS256, ""), ErrSignature, "PS256 signature does not verify"},
		{"PSSSaltLengthMaximum", withSignature(ps256, pss(rsa.PSSSaltLengthAuto)), keys.publicFor(PS256, ""), ErrSignature, "PS256 signature does not verify"},
		{"UnsupportedKeyAlg", es256, PublicKey{Alg: "ES256K", Key: &keys.p256.PublicKey}, ErrKeyMismatch, `does not match key alg "ES256K"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			j, err := Parse(tt.token)
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			checkErr(t, j.Verify(tt.key), tt.kind, tt.msg)
		})
	}

	t.Run("PSSSaltLengthEqualToHashVerifies", func(t *testing.T) {
		j, err := Parse(withSignature(ps256, pss(32)))
		if err != nil {
			t.Fatal(err)
		}
		if err := j.Verify(keys.publicFor(PS256, "")); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("ZeroJWS", func(t *testing.T) {
		var j *JWS
		checkErr(t, j.Verify(keys.publicFor(ES256, "")), ErrMalformed, "verify needs a jws from Parse")
		checkErr(t, (&JWS{Header: Header{Alg: ES256}}).Verify(keys.publicFor(ES256, "")), ErrMalformed, "verify needs a jws from Parse")
	})
}

// ECDSA signatures are malleable: (r, n-s) verifies as well as (r, s). RFC
// 7518 does not ask for low-s, so we accept both; this test documents why
// nothing may key a denylist or replay cache on the signature or the token
// string (DESIGN-NOTES: key it on jti).
func TestVerifyECDSAMalleatedSignatureStillVerifies(t *testing.T) {
	keys := keysOnce()
	token := signRaw(t, ES256, keys.p256, `{"alg":"ES256"}`, `{"jti":"1"}`)
	sig := signatureOf(t, token)
	n := elliptic.P256().Params().N
	s := new(big.Int).SetBytes(sig[32:])
	s.Sub(n, s).FillBytes(sig[32:])
	other := withSignature(token, sig)
	if other == token {
		t.Fatal("malleated token equals the original")
	}
	j, err := Parse(other)
	if err != nil {
		t.Fatal(err)
	}
	if err := j.Verify(keys.publicFor(ES256, "")); err != nil {
		t.Fatalf("malleated signature: %v", err)
	}
}

func TestAlgorithmFor(t *testing.T) {
	keys := keysOnce()
	tests := []struct {
		name string
		key  crypto.PublicKey
		want Algorithm
	}{
		{"Ed25519", keys.ed.Public(), EdDSA},
		{"P256", &keys.p256.PublicKey, ES256},
		{"P384", &keys.p384.PublicKey, ES384},
		{"P521", &keys.p521.PublicKey, ES512},
		{"RSA", &keys.rsa2048.PublicKey, RS256},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := AlgorithmFor(tt.key)
			if err != nil || got != tt.want {
				t.Errorf("AlgorithmFor = %q, %v; want %q", got, err, tt.want)
			}
		})
	}
	p224, err := ecdsa.GenerateKey(elliptic.P224(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	for name, key := range map[string]crypto.PublicKey{
		"P224":       &p224.PublicKey,
		"PrivateKey": keys.p256,
		"Nil":        nil,
		"NilECDSA":   (*ecdsa.PublicKey)(nil),
		"NilRSA":     (*rsa.PublicKey)(nil),
	} {
		t.Run(name, func(t *testing.T) {
			if alg, err := AlgorithmFor(key); err == nil {
				t.Errorf("AlgorithmFor = %q, want an error", alg)
			}
		})
	}
}
