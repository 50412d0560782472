package jose

import (
	"encoding/json"
	"errors"
	"os"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"
)

// wycheproofSeeds returns every jws of the Wycheproof JWS vectors and every
// public JWK, as fuzzing seeds.
func wycheproofSeeds(f *testing.F) (tokens []string, jwks [][]byte) {
	f.Helper()
	for _, path := range []string{"testdata/wycheproof/json_web_signature_test.json", "testdata/wycheproof/json_web_key_test.json"} {
		data, err := os.ReadFile(path)
		if err != nil {
			f.Fatal(err)
		}
		var file wycheproofFile
		if err := json.Unmarshal(data, &file); err != nil {
			f.Fatal(err)
		}
		for _, g := range file.TestGroups {
			if len(g.Public) > 0 {
				jwks = append(jwks, g.Public)
			}
			for _, tc := range g.Tests {
				tokens = append(tokens, tc.JWS)
			}
		}
	}
	return tokens, jwks
}

func knownKind(err error) bool {
	for _, k := range []error{ErrMalformed, ErrPolicy, ErrPrivateKey, ErrKeyMismatch, ErrSignature} {
		if errors.Is(err, k) {
			return true
		}
	}
	return false
}

// FuzzParse: Parse never panics, errors carry a kind, and whatever it
// accepts re-serialises to the same token and verifies (or not) without
// panicking under every key type.
func FuzzParse(f *testing.F) {
	keys := keysOnce()
	for _, alg := range allAlgs {
		token, err := Sign(alg, "k1", "at+jwt", keys.signerFor(alg), []byte(`{"sub":"x","exp":1}`))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(token)
	}
	tokens, _ := wycheproofSeeds(f)
	for _, tok := range tokens {
		f.Add(tok)
	}
	f.Add("")
	f.Add("..")
	f.Add("a.b.c")
	f.Add(enc(`{"alg":"ES256","alg":"none"}`) + ".e30.AA")
	f.Add(enc(`{"alg":"ES256","kid":"\ud800"}`) + ".e30.AA")

	f.Fuzz(func(t *testing.T, token string) {
		j, err := Parse(token)
		if err != nil {
			if j != nil {
				t.Fatal("Parse returned a JWS with an error")
			}
			if !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrPolicy) {
				t.Fatalf("Parse error %q has no kind", err)
			}
			return
		}
		if len(token) > MaxTokenSize {
			t.Fatalf("accepted a token of %d bytes", len(token))
		}
		first, last := strings.IndexByte(token, '.'), strings.LastIndexByte(token, '.')
		again := token[:first] + "." + b64.EncodeToString(j.Payload) + "." + b64.EncodeToString(j.signature)
		if again != token {
			t.Fatalf("re-serialised %q as %q", token, again)
		}
		if string(j.signingInput) != token[:last] {
			t.Fatalf("signing input %q", j.signingInput)
		}
		if _, ok := lookup(j.Header.Alg); !ok {
			t.Fatalf("accepted alg %q", j.Header.Alg)
		}
		if (j.Header.Kid != "" && !validKid(j.Header.Kid)) || (j.Header.Typ != "" && !printableASCII(j.Header.Typ, maxKidLen)) {
			t.Fatalf("accepted header %+v", j.Header)
		}
		// The header means the same when we write it ourselves.
		h, err := encodedHeader(j.Header.Alg, j.Header.Kid, j.Header.Typ)
		if err != nil {
			t.Fatal(err)
		}
		j2, err := Parse(h + token[first:])
		if err != nil {
			t.Fatalf("our own header for %+v: %v", j.Header, err)
		}
		if j2.Header != j.Header {
			t.Fatalf("header %+v re-encoded as %+v", j.Header, j2.Header)
		}
		for _, alg := range allAlgs {
			if err := j.Verify(keys.publicFor(alg, "")); err != nil && !knownKind(err) {
				t.Fatalf("Verify error %q has no kind", err)
			}
		}
	})
}

// FuzzDecodeJSON: DecodeJSON never panics, accepts only what encoding/json
// calls valid UTF-8 JSON, and what it accepts survives a round trip.
func FuzzDecodeJSON(f *testing.F) {
	for _, s := range []string{
		`{"iss":"https://gatehouse.example","aud":["a","b"],"exp":1900000000,"cnf":{"jkt":"x"}}`,
		`{"a":1,"a":2}`, `{"a":1,"A":2}`, `{"k":1,"\u212a":2}`, `"\ud83d\ude00"`, `"\ud800"`,
		`[1,2,3]`, `-0.5e+10`, `{"a":{"b":{"c":[{"d":null}]}}}`, "\"\xff\"", `{} x`, `[01]`,
		manyMembers(20, true), strings.Repeat("[", 70),
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var v any
		err := DecodeJSON(data, &v)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error %q is not ErrMalformed", err)
			}
			return
		}
		if !json.Valid(data) || !utf8.Valid(data) {
			t.Fatalf("accepted %q, which encoding/json or utf8 refuses", data)
		}
		out, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		var w any
		if err := DecodeJSON(out, &w); err != nil {
			t.Fatalf("refused its own round trip %q: %v", out, err)
		}
		if !reflect.DeepEqual(v, w) {
			t.Fatalf("round trip changed %#v to %#v", v, w)
		}
	})
}

// FuzzParseJWK: ParseJWK and ParseJWKSet never panic; a key ParseJWK
// accepts is valid and survives MarshalJWK with the same thumbprint.
func FuzzParseJWK(f *testing.F) {
	keys := keysOnce()
	for _, alg := range allAlgs {
		b, err := MarshalJWK(keys.publicFor(alg, "k1"))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
		f.Add([]byte(`{"keys":[` + string(b) + `]}`))
	}
	_, jwks := wycheproofSeeds(f)
	for _, b := range jwks {
		f.Add([]byte(b))
	}
	f.Add([]byte(`{"kty":"EC","crv":"P-256","x":"","y":""}`))
	f.Add([]byte(`{"kty":"RSA","n":"AQAB","e":"AQAB","key_ops":["verify","sign"]}`))

	f.Fuzz(func(t *testing.T, data []byte) {
		if _, err := ParseJWKSet(data); err != nil && !knownKind(err) {
			t.Fatalf("ParseJWKSet error %q has no kind", err)
		}
		k, err := ParseJWK(data)
		if err != nil {
			if !knownKind(err) {
				t.Fatalf("ParseJWK error %q has no kind", err)
			}
			return
		}
		if err := k.Validate(); err != nil {
			t.Fatalf("accepted a key that does not validate: %v", err)
		}
		b, err := MarshalJWK(k)
		if err != nil {
			t.Fatal(err)
		}
		k2, err := ParseJWK(b)
		if err != nil {
			t.Fatalf("refused its own JWK %s: %v", b, err)
		}
		if diff := cmp.Diff(k, k2); diff != "" {
			t.Fatalf("round trip (-before +after):\n%s", diff)
		}
		t1, err1 := Thumbprint(k)
		t2, err2 := Thumbprint(k2)
		if err1 != nil || err2 != nil || t1 != t2 {
			t.Fatalf("thumbprints %s %v, %s %v", t1, err1, t2, err2)
		}
	})
}
