package jose

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"errors"
	"strings"
	"sync"
	"testing"
)

// testKeys are generated once per test binary: RSA generation is slow.
type testKeys struct {
	ed      ed25519.PrivateKey
	p256    *ecdsa.PrivateKey
	p384    *ecdsa.PrivateKey
	p521    *ecdsa.PrivateKey
	rsa2048 *rsa.PrivateKey
	rsa1024 *rsa.PrivateKey
}

var keysOnce = sync.OnceValue(func() *testKeys {
	must := func(k crypto.Signer, err error) crypto.Signer {
		if err != nil {
			panic(err)
		}
		return k
	}
	return &testKeys{
		ed:      ed25519.NewKeyFromSeed(make([]byte, ed25519.SeedSize)),
		p256:    must(ecdsa.GenerateKey(elliptic.P256(), rand.Reader)).(*ecdsa.PrivateKey),
		p384:    must(ecdsa.GenerateKey(elliptic.P384(), rand.Reader)).(*ecdsa.PrivateKey),
		p521:    must(ecdsa.GenerateKey(elliptic.P521(), rand.Reader)).(*ecdsa.PrivateKey),
		rsa2048: must(rsa.GenerateKey(rand.Reader, 2048)).(*rsa.PrivateKey),
		rsa1024: must(rsa.GenerateKey(rand.Reader, 1024)).(*rsa.PrivateKey),
	}
})

// signerFor returns the test private key that signs alg.
func (k *testKeys) signerFor(alg Algorithm) crypto.Signer {
	switch alg {
	case EdDSA:
		return k.ed
	case ES256:
		return k.p256
	case ES384:
		return k.p384
	case ES512:
		return k.p521
	}
	return k.rsa2048
}

// publicFor returns the pinned verification key for alg.
func (k *testKeys) publicFor(alg Algorithm, kid string) PublicKey {
	return PublicKey{ID: kid, Alg: alg, Key: k.signerFor(alg).Public()}
}

var allAlgs = []Algorithm{EdDSA, ES256, ES384, ES512, RS256, RS384, RS512, PS256, PS384, PS512}

func enc(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }

// signRaw signs an arbitrary header (JSON text) and payload the way a
// conforming producer would, so tests can build tokens that Sign refuses to
// make and be sure a refusal comes from policy, not from the signature.
func signRaw(t testing.TB, alg Algorithm, key crypto.Signer, header, payload string) string {
	t.Helper()
	input := enc(header) + "." + enc(payload)
	info, ok := lookup(alg)
	if !ok {
		t.Fatalf("signRaw: unsupported alg %q", alg)
	}
	var sig []byte
	var err error
	var hb [64]byte
	switch info.fam {
	case famEdDSA:
		sig, err = key.Sign(rand.Reader, []byte(input), crypto.Hash(0))
	case famECDSA:
		var der []byte
		der, err = key.Sign(rand.Reader, digest(info.hash, []byte(input), &hb), info.hash)
		if err == nil {
			sig, err = rawECDSASignature(make([]byte, 2*info.size), der)
		}
	case famPKCS1:
		sig, err = key.Sign(rand.Reader, digest(info.hash, []byte(input), &hb), info.hash)
	case famPSS:
		sig, err = key.Sign(rand.Reader, digest(info.hash, []byte(input), &hb), &rsa.PSSOptions{SaltLength: info.hash.Size(), Hash: info.hash})
	}
	if err != nil {
		t.Fatalf("signRaw: %v", err)
	}
	return input + "." + base64.RawURLEncoding.EncodeToString(sig)
}

// checkErr fails unless err wraps want and its message contains msg; a nil
// want means no error is expected.
func checkErr(t *testing.T, err, want error, msg string) {
	t.Helper()
	if want == nil {
		if err != nil {
			t.Fatalf("got error %v, want none", err)
		}
		return
	}
	if err == nil {
		t.Fatalf("got no error, want %v", want)
	}
	if !errors.Is(err, want) {
		t.Fatalf("got error %q (kind %v), want kind %v", err, kindOf(err), want)
	}
	if !strings.Contains(err.Error(), msg) {
		t.Fatalf("got error %q, want it to contain %q", err, msg)
	}
	if !strings.HasPrefix(err.Error(), "jose: ") {
		t.Errorf("error %q does not say where it comes from", err)
	}
}
