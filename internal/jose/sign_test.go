package jose

import (
	"bytes"
	"crypto"
	"crypto/rsa"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestSignParseVerifyRoundTrip(t *testing.T) {
	keys := keysOnce()
	payload := []byte(`{"iss":"https://gatehouse.example","sub":"alice","exp":1900000000}`)
	headers := []struct {
		name, kid, typ, wantJSON string
	}{
		{"AlgOnly", "", "", `{"alg":"%s"}`},
		{"WithTyp", "", "at+jwt", `{"alg":"%s","typ":"at+jwt"}`},
		{"WithKid", "2024-06", "", `{"alg":"%s","kid":"2024-06"}`},
		{"WithTypAndKid", "k1", "at+jwt", `{"alg":"%s","typ":"at+jwt","kid":"k1"}`},
		{"KidNeedingEscapes", `a"b\c`, "JWT", `{"alg":"%s","typ":"JWT","kid":"a\"b\\c"}`},
	}
	for _, alg := range allAlgs {
		for _, h := range headers {
			t.Run(string(alg)+"/"+h.name, func(t *testing.T) {
				token, err := Sign(alg, h.kid, h.typ, keys.signerFor(alg), payload)
				if err != nil {
					t.Fatal(err)
				}
				hs, _, _ := splitForTest(token)
				gotHeader, err := b64.DecodeString(hs)
				if err != nil {
					t.Fatal(err)
				}
				if want := strings.Replace(h.wantJSON, "%s", string(alg), 1); string(gotHeader) != want {
					t.Errorf("header %s, want %s", gotHeader, want)
				}
				j, err := Parse(token)
				if err != nil {
					t.Fatal(err)
				}
				if diff := cmp.Diff(Header{Alg: alg, Typ: h.typ, Kid: h.kid}, j.Header); diff != "" {
					t.Errorf("header (-want +got):\n%s", diff)
				}
				if string(j.Payload) != string(payload) {
					t.Errorf("payload %q", j.Payload)
				}
				if err := j.Verify(keys.publicFor(alg, h.kid)); err != nil {
					t.Fatalf("Verify: %v", err)
				}
				info, _ := lookup(alg)
				if info.fam == famECDSA && len(j.signature) != 2*info.size {
					t.Errorf("ECDSA signature is %d bytes, want raw r||s of %d", len(j.signature), 2*info.size)
				}
				if info.fam == famPSS {
					// Independently of Verify: the salt is exactly the hash length.
					var hb [64]byte
					d := digest(info.hash, j.signingInput, &hb)
					pub := &keys.rsa2048.PublicKey
					if err := rsa.VerifyPSS(pub, info.hash, d, j.signature, &rsa.PSSOptions{SaltLength: info.hash.Size()}); err != nil {
						t.Errorf("salt is not %d bytes: %v", info.hash.Size(), err)
					}
				}
			})
		}
	}
}

func TestSignRefuses(t *testing.T) {
	keys := keysOnce()
	payload := []byte(`{"sub":"x"}`)
	tests := []struct {
		name     string
		alg      Algorithm
		kid, typ string
		key      crypto.Signer
		payload  []byte
		kind     error
		msg      string
	}{
		{"HS256", "HS256", "", "", keys.p256, payload, ErrPolicy, `unsupported alg "HS256"`},
		{"None", "none", "", "", keys.p256, payload, ErrPolicy, `unsupported alg "none"`},
		{"KeyDoesNotFitAlg", ES256, "", "", keys.ed, payload, ErrKeyMismatch, "ES256 needs an ecdsa key"},
		{"CurveDoesNotFitAlg", ES256, "", "", keys.p384, payload, ErrKeyMismatch, "ES256 needs a P-256 key"},
		{"RSAKeyForEdDSA", EdDSA, "", "", keys.rsa2048, payload, ErrKeyMismatch, "EdDSA needs an ed25519 key"},
		{"WeakRSAKey", RS256, "", "", keys.rsa1024, payload, ErrPolicy, "rsa key is 1024 bits"},
		{"NilKey", ES256, "", "", nil, payload, ErrMalformed, "nil signing key"},
		{"EmptyPayload", ES256, "", "", keys.p256, nil, ErrMalformed, "empty payload"},
		{"KidTooLong", ES256, strings.Repeat("k", 129), "", keys.p256, payload, ErrPolicy, "kid must be 1 to 128 bytes"},
		{"KidNotASCII", ES256, "clé", "", keys.p256, payload, ErrPolicy, "kid must be 1 to 128 bytes of printable ascii"},
		{"TypWithNewline", ES256, "", "at+jwt\n", keys.p256, payload, ErrPolicy, "typ must be 1 to 128 bytes of printable ascii"},
		{"Oversize", ES256, "", "", keys.p256, make([]byte, MaxTokenSize), ErrMalformed, "more than 8192"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			token, err := Sign(tt.alg, tt.kid, tt.typ, tt.key, tt.payload)
			checkErr(t, err, tt.kind, tt.msg)
			if token != "" {
				t.Errorf("refused Sign returned %q", token)
			}
		})
	}
}

// The header cache is shared by every goroutine that signs; run with -race.
func TestSignConcurrent(t *testing.T) {
	keys := keysOnce()
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := 0; n < 50; n++ {
				kid := []string{"a", "b", "c"}[n%3]
				token, err := Sign(EdDSA, kid, "at+jwt", keys.ed, []byte(`{"n":1}`))
				if err != nil {
					t.Error(err)
					return
				}
				j, err := Parse(token)
				if err != nil || j.Header.Kid != kid {
					t.Errorf("Parse: %v, kid %q want %q", err, j.Header.Kid, kid)
					return
				}
			}
		}()
	}
	wg.Wait()
}

func TestRawECDSASignatureRefusesMalformedDER(t *testing.T) {
	for name, der := range map[string][]byte{
		"Empty":          nil,
		"NotSequence":    {0x31, 0x06, 0x02, 0x01, 0x01, 0x02, 0x01, 0x01},
		"TrailingData":   {0x30, 0x06, 0x02, 0x01, 0x01, 0x02, 0x01, 0x01, 0x00},
		"ShortLength":    {0x30, 0x07, 0x02, 0x01, 0x01, 0x02, 0x01, 0x01},
		"OneInteger":     {0x30, 0x03, 0x02, 0x01, 0x01},
		"ThreeIntegers":  {0x30, 0x09, 0x02, 0x01, 0x01, 0x02, 0x01, 0x01, 0x02, 0x01, 0x01},
		"IntegerTooLong": append(append([]byte{0x30, 0x26, 0x02, 0x21}, bytes.Repeat([]byte{1}, 33)...), 0x02, 0x01, 0x01),
		"LongFormLength": {0x30, 0x82, 0x00, 0x06, 0x02, 0x01, 0x01, 0x02, 0x01, 0x01},
		"NegativeR":      {0x30, 0x06, 0x02, 0x01, 0x81, 0x02, 0x01, 0x01},
		"EmptyS":         {0x30, 0x05, 0x02, 0x01, 0x01, 0x02, 0x00},
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := rawECDSASignature(make([]byte, 64), der); err == nil {
				t.Error("accepted")
			}
		})
	}
}
