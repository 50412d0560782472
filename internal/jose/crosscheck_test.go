package jose_test

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"strings"
	"sync"
	"testing"

	gojose "github.com/go-jose/go-jose/v4"
	"github.com/google/go-cmp/cmp"

	"github.com/gatehouse/gatehouse/internal/jose"
)

// An independent implementation, github.com/go-jose/go-jose/v4, checks our
// output and produces input for us, so that a mistake shared by our Sign and
// our Verify cannot hide.

type crossKey struct {
	alg  jose.Algorithm
	priv crypto.Signer
}

var crossKeys = sync.OnceValue(func() []crossKey {
	p256, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		panic(err)
	}
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(err)
	}
	_, ed, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		panic(err)
	}
	return []crossKey{
		{jose.EdDSA, ed},
		{jose.ES256, p256},
		{jose.RS256, rsaKey},
		{jose.PS256, rsaKey},
	}
})

func TestGoJoseVerifiesOurTokens(t *testing.T) {
	payload := []byte(`{"sub":"alice","scope":"read"}`)
	for _, k := range crossKeys() {
		t.Run(string(k.alg), func(t *testing.T) {
			token, err := jose.Sign(k.alg, "k1", "at+jwt", k.priv, payload)
			if err != nil {
				t.Fatal(err)
			}
			obj, err := gojose.ParseSignedCompact(token, []gojose.SignatureAlgorithm{gojose.SignatureAlgorithm(k.alg)})
			if err != nil {
				t.Fatalf("go-jose parse: %v", err)
			}
			got, err := obj.Verify(k.priv.Public())
			if err != nil {
				t.Fatalf("go-jose verify: %v", err)
			}
			if string(got) != string(payload) {
				t.Errorf("go-jose payload %q", got)
			}
			h := obj.Signatures[0].Header
			if h.KeyID != "k1" || h.ExtraHeaders["typ"] != "at+jwt" {
				t.Errorf("go-jose header kid %q typ %v", h.KeyID, h.ExtraHeaders["typ"])
			}
		})
	}
}

func TestWeVerifyGoJoseTokens(t *testing.T) {
	payload := []byte(`{"sub":"bob"}`)
	for _, k := range crossKeys() {
		t.Run(string(k.alg), func(t *testing.T) {
			signer, err := gojose.NewSigner(
				gojose.SigningKey{Algorithm: gojose.SignatureAlgorithm(k.alg), Key: gojose.JSONWebKey{Key: k.priv, KeyID: "k1"}},
				(&gojose.SignerOptions{}).WithType("at+jwt"),
			)
			if err != nil {
				t.Fatal(err)
			}
			obj, err := signer.Sign(payload)
			if err != nil {
				t.Fatal(err)
			}
			token, err := obj.CompactSerialize()
			if err != nil {
				t.Fatal(err)
			}
			j, err := jose.Parse(token)
			if err != nil {
				t.Fatalf("Parse(%s): %v", token, err)
			}
			if diff := cmp.Diff(jose.Header{Alg: k.alg, Typ: "at+jwt", Kid: "k1"}, j.Header); diff != "" {
				t.Errorf("header (-want +got):\n%s", diff)
			}
			if err := j.Verify(jose.PublicKey{ID: "k1", Alg: k.alg, Key: k.priv.Public()}); err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if string(j.Payload) != string(payload) {
				t.Errorf("payload %q", j.Payload)
			}
		})
	}
}

// go-jose verifies PS256 with an auto-detected salt length (DESIGN-NOTES);
// RFC 7518 §3.5 fixes it at the hash length and we enforce that.
func TestPSSWrongSaltLengthGoJoseLenientWeStrict(t *testing.T) {
	var key *rsa.PrivateKey
	for _, k := range crossKeys() {
		if k.alg == jose.PS256 {
			key = k.priv.(*rsa.PrivateKey)
		}
	}
	input := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"PS256"}`)) + "." + base64.RawURLEncoding.EncodeToString([]byte(`{"sub":"x"}`))
	d := sha256.Sum256([]byte(input))
	sig, err := rsa.SignPSS(rand.Reader, key, crypto.SHA256, d[:], &rsa.PSSOptions{SaltLength: 0})
	if err != nil {
		t.Fatal(err)
	}
	token := input + "." + base64.RawURLEncoding.EncodeToString(sig)

	j, err := jose.Parse(token)
	if err != nil {
		t.Fatal(err)
	}
	if err := j.Verify(jose.PublicKey{Alg: jose.PS256, Key: &key.PublicKey}); err == nil {
		t.Fatal("we accepted a PS256 signature with an empty salt")
	}
	obj, err := gojose.ParseSignedCompact(token, []gojose.SignatureAlgorithm{gojose.PS256})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := obj.Verify(&key.PublicKey); err == nil {
		t.Logf("as documented, go-jose accepts the same PS256 signature with salt length 0")
	} else {
		t.Logf("go-jose now refuses salt length 0 too: %v", err)
	}
}

func TestThumbprintAndJWKAgreeWithGoJose(t *testing.T) {
	p384, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	p521, err := ecdsa.GenerateKey(elliptic.P521(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	keys := append(crossKeys(), crossKey{jose.ES384, p384}, crossKey{jose.ES512, p521})
	for _, k := range keys {
		t.Run(string(k.alg), func(t *testing.T) {
			pk := jose.PublicKey{ID: "k1", Alg: k.alg, Key: k.priv.Public()}
			ours, err := jose.Thumbprint(pk)
			if err != nil {
				t.Fatal(err)
			}
			theirs, err := (&gojose.JSONWebKey{Key: k.priv.Public()}).Thumbprint(crypto.SHA256)
			if err != nil {
				t.Fatal(err)
			}
			if want := base64.RawURLEncoding.EncodeToString(theirs); ours != want {
				t.Errorf("Thumbprint %s, go-jose %s", ours, want)
			}

			b, err := jose.MarshalJWK(pk)
			if err != nil {
				t.Fatal(err)
			}
			var jwk gojose.JSONWebKey
			if err := jwk.UnmarshalJSON(b); err != nil {
				t.Fatalf("go-jose cannot read %s: %v", b, err)
			}
			if jwk.KeyID != "k1" || jwk.Algorithm != string(k.alg) || jwk.Use != "sig" {
				t.Errorf("go-jose read kid %q alg %q use %q", jwk.KeyID, jwk.Algorithm, jwk.Use)
			}
			if eq, ok := jwk.Key.(interface{ Equal(crypto.PublicKey) bool }); !ok || !eq.Equal(k.priv.Public()) {
				t.Errorf("go-jose read a different key from %s", b)
			}

			// And the other way: go-jose's public JWK parses with ours.
			theirJWK, err := (gojose.JSONWebKey{Key: k.priv.Public(), KeyID: "k1", Algorithm: string(k.alg), Use: "sig"}).MarshalJSON()
			if err != nil {
				t.Fatal(err)
			}
			got, err := jose.ParseJWK(theirJWK)
			if err != nil {
				t.Fatalf("ParseJWK(%s): %v", theirJWK, err)
			}
			if diff := cmp.Diff(pk, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
			if strings.Contains(string(b), " ") {
				t.Errorf("MarshalJWK output has whitespace: %s", b)
			}
		})
	}
}
