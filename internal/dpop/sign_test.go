package dpop

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	gojose "github.com/go-jose/go-jose/v4"

	"github.com/gatehouse/gatehouse/internal/jose"
)

func TestKeyRoundTrip(t *testing.T) {
	for _, alg := range KeyAlgs {
		t.Run(string(alg), func(t *testing.T) {
			k, err := GenerateKey(alg)
			if err != nil {
				t.Fatal(err)
			}
			data, err := k.MarshalPrivateJWK()
			if err != nil {
				t.Fatal(err)
			}
			// go-jose reads the file as the private key it is.
			var gj gojose.JSONWebKey
			if err := gj.UnmarshalJSON(data); err != nil || gj.IsPublic() {
				t.Fatalf("go-jose reads %s as %+v, %v; want a private key", data, gj, err)
			}
			back, err := ParsePrivateJWK(data)
			if err != nil {
				t.Fatal(err)
			}
			want, _ := k.Thumbprint()
			got, _ := back.Thumbprint()
			if got != want || len(got) != 43 {
				t.Fatalf("thumbprint after a round trip = %q, want %q", got, want)
			}
			// The proof verifies with the server's checks, for the URL
			// without its query.
			p, err := back.Proof("GET", "https://api.example.com/v1/x?page=2#top", "tok", "n1", testNow)
			if err != nil {
				t.Fatal(err)
			}
			nonces := fixedNonce("n1")
			v := &Verifier{Now: func() time.Time { return testNow }, Nonces: nonces, NonceRequired: true}
			proof, err := v.Verify(p, "GET", "https://api.example.com/v1/x", "tok")
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if proof.Thumbprint != want || proof.Nonce != "n1" {
				t.Fatalf("verified %+v", proof)
			}
			var claims map[string]any
			parts := strings.Split(p, ".")
			raw, _ := b64.DecodeString(parts[1])
			if err := json.Unmarshal(raw, &claims); err != nil || claims["htu"] != "https://api.example.com/v1/x" {
				t.Fatalf("claims %v, %v; want htu without query and fragment", claims, err)
			}
		})
	}
}

type fixedNonce string

func (n fixedNonce) Nonce(time.Time) string           { return string(n) }
func (n fixedNonce) Valid(s string, _ time.Time) bool { return s == string(n) }

func TestParsePrivateJWKRefuses(t *testing.T) {
	k, err := GenerateKey(jose.ES256)
	if err != nil {
		t.Fatal(err)
	}
	other, _ := GenerateKey(jose.ES256)
	good, _ := k.MarshalPrivateJWK()
	var m, o map[string]string
	_ = json.Unmarshal(good, &m)
	od, _ := other.MarshalPrivateJWK()
	_ = json.Unmarshal(od, &o)
	with := func(change func(map[string]string)) string {
		c := map[string]string{}
		for k, v := range m {
			c[k] = v
		}
		change(c)
		b, _ := json.Marshal(c)
		return string(b)
	}
	for name, data := range map[string]string{
		"Empty":        ``,
		"NotJSON":      `{`,
		"Duplicate":    strings.Replace(string(good), `"kty"`, `"kty": "EC", "kty"`, 1),
		"PublicOnly":   with(func(c map[string]string) { delete(c, "d") }),
		"MismatchedD":  with(func(c map[string]string) { c["d"] = o["d"] }),
		"MismatchedX":  with(func(c map[string]string) { c["x"] = o["x"] }),
		"WrongAlg":     with(func(c map[string]string) { c["alg"] = "RS256" }),
		"OtherCurve":   with(func(c map[string]string) { c["crv"] = "P-384" }),
		"RSA":          with(func(c map[string]string) { c["kty"] = "RSA" }),
		"PaddedD":      with(func(c map[string]string) { c["d"] += "=" }),
		"ZeroD":        with(func(c map[string]string) { c["d"] = b64.EncodeToString(make([]byte, 32)) }),
		"ShortEd25519": `{"kty":"OKP","crv":"Ed25519","x":"AAAA","d":"AAAA"}`,
	} {
		t.Run(name, func(t *testing.T) {
			if k, err := ParsePrivateJWK([]byte(data)); err == nil {
				t.Fatalf("accepted %s as %+v", data, k)
			}
		})
	}
}

func TestGenerateKeyRefusesOtherAlgs(t *testing.T) {
	for _, alg := range []jose.Algorithm{jose.RS256, "HS256", "none", ""} {
		if _, err := GenerateKey(alg); err == nil {
			t.Errorf("GenerateKey(%q) succeeded", alg)
		}
	}
}

// FuzzParsePrivateJWK: any input is a key whose public half matches, or an
// error; never a panic.
func FuzzParsePrivateJWK(f *testing.F) {
	for _, alg := range KeyAlgs {
		k, err := GenerateKey(alg)
		if err != nil {
			f.Fatal(err)
		}
		data, _ := k.MarshalPrivateJWK()
		f.Add(data)
	}
	f.Add([]byte(`{"kty":"EC","crv":"P-256","x":"","y":"","d":""}`))
	f.Add([]byte(`{"kty":"OKP","crv":"Ed25519","x":"AAAA","d":"AAAA","d":"AAAA"}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		k, err := ParsePrivateJWK(data)
		if err != nil {
			return
		}
		if _, err := k.Thumbprint(); err != nil {
			t.Fatalf("parsed key has no thumbprint: %v", err)
		}
		if _, err := k.Proof("POST", "https://a.example/t", "", "", testNow); err != nil {
			t.Fatalf("parsed key cannot sign: %v", err)
		}
	})
}
