package jose

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/json"
	"math/big"
	"os"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// jwkFor returns the public JWK members of a test key as a map, so that
// tests can add, drop or spoil members.
func jwkFor(t *testing.T, k PublicKey) map[string]any {
	t.Helper()
	b, err := MarshalJWK(k)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func marshal(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestJWKRoundTrip(t *testing.T) {
	keys := keysOnce()
	for _, alg := range allAlgs {
		t.Run(string(alg), func(t *testing.T) {
			want := keys.publicFor(alg, "key-"+string(alg))
			b, err := MarshalJWK(want)
			if err != nil {
				t.Fatal(err)
			}
			got, err := ParseJWK(b)
			if err != nil {
				t.Fatalf("ParseJWK(%s): %v", b, err)
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("round trip (-want +got):\n%s", diff)
			}
			if !strings.Contains(string(b), `"use":"sig"`) || !strings.Contains(string(b), `"alg":"`+string(alg)+`"`) {
				t.Errorf("MarshalJWK = %s, want alg and use", b)
			}
		})
	}
}

func TestMarshalJWKExactOutput(t *testing.T) {
	key, err := ParseJWK([]byte(`{"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}`))
	if err != nil {
		t.Fatal(err)
	}
	key.ID = `k"1`
	got, err := MarshalJWK(key)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo","kid":"k\"1","alg":"EdDSA","use":"sig"}`
	if string(got) != want {
		t.Errorf("MarshalJWK:\n got %s\nwant %s", got, want)
	}
	if _, err := MarshalJWK(PublicKey{Alg: ES256, Key: key.Key}); err == nil {
		t.Error("MarshalJWK accepted an Ed25519 key pinned to ES256")
	}
}

func TestParseJWKPinsAlgorithm(t *testing.T) {
	keys := keysOnce()
	rsaJWK := jwkFor(t, keys.publicFor(RS256, ""))
	delete(rsaJWK, "alg")
	k, err := ParseJWK(marshal(t, rsaJWK))
	if err != nil {
		t.Fatal(err)
	}
	if k.Alg != RS256 {
		t.Errorf("RSA JWK without alg pinned %q, want the default RS256", k.Alg)
	}
	rsaJWK["alg"] = "PS384"
	if k, err = ParseJWK(marshal(t, rsaJWK)); err != nil || k.Alg != PS384 {
		t.Errorf("RSA JWK with alg PS384 pinned %q, %v", k.Alg, err)
	}
	ecJWK := jwkFor(t, keys.publicFor(ES512, ""))
	delete(ecJWK, "alg")
	delete(ecJWK, "use")
	ecJWK["key_ops"] = []string{"sign", "verify"}
	ecJWK["x5t#S256"] = "ignored"
	if k, err = ParseJWK(marshal(t, ecJWK)); err != nil || k.Alg != ES512 {
		t.Errorf("P-521 JWK pinned %q, %v; want ES512", k.Alg, err)
	}
}

func TestParseJWKRefuses(t *testing.T) {
	keys := keysOnce()
	ec := func(edit func(m map[string]any)) []byte {
		m := jwkFor(t, keys.publicFor(ES256, "k1"))
		edit(m)
		return marshal(t, m)
	}
	rsaJWK := func(edit func(m map[string]any)) []byte {
		m := jwkFor(t, keys.publicFor(RS256, "k1"))
		edit(m)
		return marshal(t, m)
	}
	ed := func(edit func(m map[string]any)) []byte {
		m := jwkFor(t, keys.publicFor(EdDSA, "k1"))
		edit(m)
		return marshal(t, m)
	}
	set := func(name string, v any) func(map[string]any) {
		return func(m map[string]any) { m[name] = v }
	}
	del := func(name string) func(map[string]any) {
		return func(m map[string]any) { delete(m, name) }
	}
	b64big := func(x *big.Int) string { return b64.EncodeToString(x.Bytes()) }
	rsaN := func(n *big.Int) func(map[string]any) { return set("n", b64big(n)) }

	// A point off the curve: y+1.
	offCurve := func(m map[string]any) {
		y, _ := b64.DecodeString(m["y"].(string))
		y[len(y)-1] ^= 1
		m["y"] = b64.EncodeToString(y)
	}
	rocaN := rocaModulus(t)

	tests := []struct {
		name string
		jwk  []byte
		kind error
		msg  string
	}{
		{"PrivateEC", ec(set("d", "AAAA")), ErrPrivateKey, `private key member "d"`},
		{"PrivateRSAPrime", rsaJWK(set("p", "AAAA")), ErrPrivateKey, `private key member "p"`},
		{"PrivateRSAOther", rsaJWK(set("oth", []any{})), ErrPrivateKey, `private key member "oth"`},
		{"PrivateRSAQi", rsaJWK(set("qi", "AAAA")), ErrPrivateKey, `private key member "qi"`},
		{"PrivateEd25519", ed(set("d", "AAAA")), ErrPrivateKey, `private key member "d"`},
		{"SymmetricKey", []byte(`{"kty":"oct","k":"AAAA"}`), ErrPrivateKey, `private key member "k"`},
		{"SymmetricKeyWithoutK", []byte(`{"kty":"oct","alg":"HS256"}`), ErrPrivateKey, `kty "oct" is a shared secret`},
		{"UseEnc", ec(set("use", "enc")), ErrPolicy, `jwk use "enc" is not "sig"`},
		{"UseNotString", ec(set("use", true)), ErrMalformed, `jwk member "use" must be a json string`},
		{"KeyOpsEncryptOnly", ec(set("key_ops", []string{"encrypt"})), ErrPolicy, `key_ops "encrypt" not allowed`},
		{"KeyOpsSignOnly", ec(set("key_ops", []string{"sign"})), ErrPolicy, `key_ops does not include "verify"`},
		{"KeyOpsEmpty", ec(set("key_ops", []string{})), ErrPolicy, `key_ops does not include "verify"`},
		{"KeyOpsVerifyAndEncrypt", ec(set("key_ops", []string{"verify", "encrypt"})), ErrPolicy, `key_ops "encrypt" not allowed`},
		{"KeyOpsRepeated", ec(set("key_ops", []string{"verify", "verify"})), ErrMalformed, `key_ops has "verify" twice`},
		{"KeyOpsCommaString", ec(set("key_ops", []string{"sign, verify"})), ErrPolicy, `key_ops "sign, verify" not allowed`},
		{"KeyOpsNotArray", ec(set("key_ops", "verify")), ErrMalformed, `jwk key_ops is not a json array`},
		{"KeyOpsNotStrings", ec(set("key_ops", []int{1})), ErrMalformed, `key_ops value must be a json string`},
		{"OffCurvePoint", ec(offCurve), ErrMalformed, "P-256 point is not on the curve"},
		{"ZeroPoint", ec(func(m map[string]any) {
			m["x"], m["y"] = enc(strings.Repeat("\x00", 32)), enc(strings.Repeat("\x00", 32))
		}), ErrMalformed, "point is not on the curve"},
		{"ShortCoordinate", ec(set("x", enc(strings.Repeat("\x01", 31)))), ErrMalformed, "P-256 coordinates must be 32 bytes each, got 31 and 32"},
		{"LongCoordinate", ec(set("y", enc(strings.Repeat("\x00", 33)))), ErrMalformed, "got 32 and 33"},
		{"CurveLabelMismatch", ec(set("crv", "P-384")), ErrMalformed, "P-384 coordinates must be 48 bytes"},
		{"UnsupportedCurve", ec(set("crv", "secp256k1")), ErrPolicy, `unsupported EC curve "secp256k1"`},
		{"P224", ec(set("crv", "P-224")), ErrPolicy, `unsupported EC curve "P-224"`},
		{"MissingY", ec(del("y")), ErrMalformed, `jwk has no "y"`},
		{"MissingCrv", ec(del("crv")), ErrMalformed, `jwk has no crv`},
		{"PaddedCoordinate", ec(func(m map[string]any) { m["x"] = m["x"].(string) + "=" }), ErrMalformed, "jwk x segment has a byte outside the base64url alphabet"},
		{"CoordinateNotString", ec(set("x", 12)), ErrMalformed, `jwk member "x" must be a json string`},
		{"ECWithRSAMember", ec(set("n", "AQAB")), ErrMalformed, `jwk member "n" does not belong to kty "EC"`},
		{"RSAWithECMembers", rsaJWK(set("crv", "P-256")), ErrMalformed, `jwk member "crv" does not belong to kty "RSA"`},
		{"Ed448", ed(set("crv", "Ed448")), ErrPolicy, `unsupported OKP curve "Ed448"`},
		{"X25519", ed(set("crv", "X25519")), ErrPolicy, `unsupported OKP curve "X25519"`},
		{"Ed25519ShortX", ed(set("x", enc(strings.Repeat("\x01", 31)))), ErrMalformed, "Ed25519 x is 31 bytes, want 32"},
		{"OKPWithY", ed(set("y", "AAAA")), ErrMalformed, `jwk member "y" does not belong to kty "OKP"`},
		{"RSA1024", rsaJWK(rsaN(keys.rsa1024.N)), ErrPolicy, "rsa key is 1024 bits, want 2048 to 8192"},
		{"RSA2047", rsaJWK(rsaN(new(big.Int).Rsh(keys.rsa2048.N, 1))), ErrPolicy, "rsa key is 2047 bits"},
		{"RSAEvenModulus", rsaJWK(rsaN(new(big.Int).SetBit(keys.rsa2048.N, 0, 0))), ErrMalformed, "rsa modulus is even"},
		{"RSAExponent1", rsaJWK(set("e", "AQ")), ErrPolicy, "rsa public exponent 1 not allowed"},
		{"RSAExponent3", rsaJWK(set("e", "Aw")), ErrPolicy, "rsa public exponent 3 not allowed"},
		{"RSAExponentEven", rsaJWK(set("e", "AQAC")), ErrPolicy, "rsa public exponent 65538 not allowed"},
		{"RSAExponentHuge", rsaJWK(set("e", "AQAAAAE")), ErrPolicy, "rsa public exponent is 5 bytes"},
		{"RSAExponentLeadingZero", rsaJWK(set("e", "AAEAAQ")), ErrMalformed, "must not have leading zero octets"},
		{"RSAModulusLeadingZero", rsaJWK(set("n", b64.EncodeToString(append([]byte{0}, keys.rsa2048.N.Bytes()...)))), ErrMalformed, "must not have leading zero octets"},
		{"RSAMissingE", rsaJWK(del("e")), ErrMalformed, `jwk has no "e"`},
		{"RSAROCA", rsaJWK(rsaN(rocaN)), ErrPolicy, "roca fingerprint"},
		{"AlgDoesNotFitCurve", ec(set("alg", "ES384")), ErrKeyMismatch, `jwk alg "ES384" does not fit the key: ES384 needs a P-384 key`},
		{"AlgDoesNotFitKeyType", ec(set("alg", "RS256")), ErrKeyMismatch, `jwk alg "RS256" does not fit the key`},
		{"AlgEdDSAOnRSA", rsaJWK(set("alg", "EdDSA")), ErrKeyMismatch, `jwk alg "EdDSA" does not fit the key`},
		{"AlgHS256OnEC", ec(set("alg", "HS256")), ErrPolicy, `symmetric alg "HS256" not allowed`},
		{"AlgUnregisteredES521", ec(set("alg", "ES521")), ErrPolicy, `unsupported alg "ES521"`},
		{"AlgNone", ec(set("alg", "none")), ErrPolicy, `alg "none" not allowed`},
		{"AlgEncryption", rsaJWK(set("alg", "RSA-OAEP")), ErrPolicy, `unsupported alg "RSA-OAEP"`},
		{"KidTooLong", ec(set("kid", strings.Repeat("k", 129))), ErrPolicy, "jwk kid must be 1 to 128 bytes"},
		{"KidNotString", ec(set("kid", 7)), ErrMalformed, `jwk member "kid" must be a json string`},
		{"UnknownKty", []byte(`{"kty":"AKP","alg":"ML-DSA-44","pub":"AAAA"}`), ErrPolicy, `unsupported jwk kty "AKP"`},
		{"MissingKty", []byte(`{"crv":"P-256"}`), ErrMalformed, "jwk has no kty"},
		{"KtyCaseVariant", []byte(`{"kty":"ec"}`), ErrPolicy, `unsupported jwk kty "ec"`},
		{"DuplicateMember", []byte(`{"kty":"EC","kty":"RSA"}`), ErrMalformed, `duplicate member name "kty"`},
		{"DuplicateMemberDifferentCase", []byte(`{"kty":"EC","KTY":"RSA"}`), ErrMalformed, `duplicate member name "KTY"`},
		{"NotAnObject", []byte(`[{"kty":"EC"}]`), ErrMalformed, "jwk is not a json object"},
		{"TrailingData", append(ec(func(map[string]any) {}), '{'), ErrMalformed, "data after the json value"},
		{"Empty", nil, ErrMalformed, "unexpected end"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k, err := ParseJWK(tt.jwk)
			checkErr(t, err, tt.kind, tt.msg)
			if diff := cmp.Diff(PublicKey{}, k); diff != "" {
				t.Errorf("refused JWK returned a key:\n%s", diff)
			}
		})
	}
}

// rocaModulus returns the ROCA-vulnerable modulus from the Wycheproof JWK
// vectors (tcId 7).
func rocaModulus(t *testing.T) *big.Int {
	t.Helper()
	data, err := os.ReadFile("testdata/wycheproof/json_web_key_test.json")
	if err != nil {
		t.Fatal(err)
	}
	var f wycheproofFile
	if err := json.Unmarshal(data, &f); err != nil {
		t.Fatal(err)
	}
	for _, g := range f.TestGroups {
		if g.Comment != "jws_rsa_roca_key" {
			continue
		}
		var set struct{ Keys []struct{ N string } }
		if err := json.Unmarshal(g.Public, &set); err != nil {
			t.Fatal(err)
		}
		n, err := b64.DecodeString(set.Keys[0].N)
		if err != nil {
			t.Fatal(err)
		}
		return new(big.Int).SetBytes(n)
	}
	t.Fatal("no ROCA key in the vectors")
	return nil
}

func TestROCAFingerprintSparesOrdinaryKeys(t *testing.T) {
	keys := keysOnce()
	if rocaFingerprint(keys.rsa2048.N.Bytes()) {
		t.Error("freshly generated key flagged as ROCA")
	}
	if !rocaFingerprint(rocaModulus(t).Bytes()) {
		t.Error("ROCA key not flagged")
	}
}

func TestParseJWKSet(t *testing.T) {
	keys := keysOnce()
	jwk := func(alg Algorithm, kid string, edit ...func(map[string]any)) map[string]any {
		m := jwkFor(t, keys.publicFor(alg, kid))
		for _, e := range edit {
			e(m)
		}
		return m
	}
	with := func(name string, v any) func(map[string]any) {
		return func(m map[string]any) { m[name] = v }
	}
	doc := func(keys ...any) []byte { return marshal(t, map[string]any{"keys": append([]any{}, keys...)}) }

	t.Run("SkipsKeysNotForSignatures", func(t *testing.T) {
		data := doc(
			jwk(RS256, "enc", with("use", "enc"), with("alg", "RSA-OAEP")),
			jwk(ES256, "sig"),
			map[string]any{"kty": "AKP", "kid": "future", "alg": "ML-DSA-44", "pub": "AAAA"},
			jwk(EdDSA, "ed", with("key_ops", []string{"verify"})),
		)
		got, err := ParseJWKSet(data)
		if err != nil {
			t.Fatal(err)
		}
		want := []PublicKey{keys.publicFor(ES256, "sig"), keys.publicFor(EdDSA, "ed")}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("keys (-want +got):\n%s", diff)
		}
	})
	t.Run("IgnoresOtherMembers", func(t *testing.T) {
		data := marshal(t, map[string]any{"keys": []any{jwk(ES256, "a")}, "issuer": "x"})
		if _, err := ParseJWKSet(data); err != nil {
			t.Fatal(err)
		}
	})
	tests := []struct {
		name string
		data []byte
		kind error
		msg  string
	}{
		{"PrivateKeyInSet", doc(jwk(ES256, "a"), jwk(ES384, "b", with("d", "AAAA"))), ErrPrivateKey, `jwk set key 1: jwk has private key member "d"`},
		{"SymmetricKeyInSet", doc(jwk(ES256, "a"), map[string]any{"kty": "oct", "k": "AAAA"}), ErrPrivateKey, `jwk set key 1`},
		{"MalformedKeyInSet", doc(jwk(ES256, "a"), jwk(ES256, "b", with("y", enc("short")))), ErrMalformed, `jwk set key 1: P-256 coordinates`},
		{"DuplicateKid", doc(jwk(ES256, "same"), jwk(EdDSA, "same")), ErrMalformed, `two keys with kid "same"`},
		{"NoUsableKey", doc(jwk(ES256, "a", with("use", "enc"))), ErrPolicy, `no usable key (key 0: jwk use "enc" is not "sig")`},
		{"NoKeys", doc(), ErrPolicy, "jwk set has no keys"},
		{"NoKeysMember", []byte(`{"kty":"EC"}`), ErrMalformed, `jwk set has no "keys" member`},
		{"KeysNotArray", []byte(`{"keys":{}}`), ErrMalformed, "jwk set keys is not a json array"},
		{"KeyNotObject", []byte(`{"keys":["x"]}`), ErrMalformed, "jwk is not a json object"},
		{"DuplicateKeysMember", []byte(`{"keys":[],"keys":[]}`), ErrMalformed, "duplicate member name"},
		{"TooLarge", append([]byte(`{"keys":[]`), []byte(strings.Repeat(" ", maxJWKSetSize)+"}")...), ErrMalformed, "more than 1048576"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseJWKSet(tt.data)
			checkErr(t, err, tt.kind, tt.msg)
			if got != nil {
				t.Errorf("refused set returned %d keys", len(got))
			}
		})
	}
}

func TestThumbprint(t *testing.T) {
	// RFC 7638 §3.1.
	const n = "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw"
	key, err := ParseJWK([]byte(`{"kty":"RSA","n":"` + n + `","e":"AQAB","alg":"RS256","kid":"2011-04-29"}`))
	if err != nil {
		t.Fatal(err)
	}
	got, err := Thumbprint(key)
	if err != nil {
		t.Fatal(err)
	}
	if want := "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"; got != want {
		t.Errorf("Thumbprint = %s, want %s", got, want)
	}
	// Members that are not required (kid, alg, use) do not change it.
	key.ID, key.Alg = "other", PS512
	if again, _ := Thumbprint(key); again != got {
		t.Errorf("Thumbprint changed with kid and alg: %s", again)
	}
	if _, err := Thumbprint(PublicKey{Key: &ecdsa.PublicKey{Curve: elliptic.P256()}}); err == nil {
		t.Error("Thumbprint of a key with no point succeeded")
	}
	if _, err := Thumbprint(PublicKey{Key: &rsa.PublicKey{}}); err == nil {
		t.Error("Thumbprint of an empty RSA key succeeded")
	}
}
