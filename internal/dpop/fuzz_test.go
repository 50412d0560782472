package dpop

import (
	"errors"
	"testing"
	"time"

	gojose "github.com/go-jose/go-jose/v4"
)

// FuzzVerify feeds arbitrary proofs, methods and URIs to Verify: it must
// never panic, must return either a Proof or an error, and every error from
// untrusted input must be an *Error.
func FuzzVerify(f *testing.F) {
	for _, alg := range []gojose.SignatureAlgorithm{gojose.ES256, gojose.EdDSA} {
		k := newKey(f, alg)
		f.Add(makeProof(f, k, proofOpts{}), "POST", testHTU, "")
		f.Add(makeProof(f, k, proofOpts{claims: map[string]any{"ath": ath(testToken)}}), "POST", testHTU, testToken)
		f.Add(makeProof(f, k, proofOpts{extra: map[string]any{"kid": "k"}}), "POST", testHTU, "")
		f.Add(unsignedProof(f, k), "POST", testHTU, "")
	}
	f.Add("a.b.c", "GET", "https://[::1]:443/%zz", "t")
	f.Add("....", "", "", "")
	nonces, err := NewNonces(make([]byte, 32), time.Minute)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, proof, method, htu, token string) {
		v := &Verifier{Now: func() time.Time { return testNow }, Nonces: nonces}
		p, err := v.Verify(proof, method, htu, token)
		if (p == nil) == (err == nil) {
			t.Fatalf("Verify() = %v, %v; want exactly one of them", p, err)
		}
		var e *Error
		if err != nil && !errors.As(err, &e) {
			t.Fatalf("Verify() error %v is not an *Error", err)
		}
		if p != nil && (p.Thumbprint == "" || p.JTI == "") {
			t.Fatalf("accepted proof without thumbprint or jti: %+v", p)
		}
	})
}
