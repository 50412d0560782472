package jose

import (
	"crypto/ed25519"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseAcceptsWellFormedToken(t *testing.T) {
	keys := keysOnce()
	tests := []struct {
		name   string
		header string
		want   Header
	}{
		{"AlgOnly", `{"alg":"ES256"}`, Header{Alg: ES256}},
		{"AlgTypKid", `{"alg":"ES256","typ":"at+jwt","kid":"k1"}`, Header{Alg: ES256, Typ: "at+jwt", Kid: "k1"}},
		{"AnyMemberOrder", `{"kid":"k1","typ":"JWT","alg":"ES256"}`, Header{Alg: ES256, Typ: "JWT", Kid: "k1"}},
		{"JSONWhitespace", " {\n\t\"alg\" : \"ES256\" ,\r\n\"kid\":\"k1\" } ", Header{Alg: ES256, Kid: "k1"}},
		{"EscapedValues", `{"alg":"ES\u0032\u0035\u0036","kid":"a\"b\\c\/d"}`, Header{Alg: ES256, Kid: `a"b\c/d`}},
		{"EscapedName", `{"\u0061lg":"ES256"}`, Header{Alg: ES256}},
		{"KidOf128Bytes", `{"alg":"ES256","kid":"` + strings.Repeat("k", 128) + `"}`, Header{Alg: ES256, Kid: strings.Repeat("k", 128)}},
		{"KidWithSpaceAndPunctuation", `{"alg":"ES256","kid":"2024-01 key#1 ~/=+"}`, Header{Alg: ES256, Kid: "2024-01 key#1 ~/=+"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			token := signRaw(t, ES256, keys.p256, tt.header, `{"sub":"x"}`)
			j, err := Parse(token)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, j.Header); diff != "" {
				t.Errorf("header (-want +got):\n%s", diff)
			}
			if got := string(j.Payload); got != `{"sub":"x"}` {
				t.Errorf("payload %q", got)
			}
			if err := j.Verify(keys.publicFor(ES256, "")); err != nil {
				t.Errorf("Verify: %v", err)
			}
		})
	}
}

func TestParseRefusesHeader(t *testing.T) {
	keys := keysOnce()
	tests := []struct {
		name   string
		header string
		kind   error
		msg    string
	}{
		{"Crit", `{"alg":"ES256","crit":["exp"],"exp":1}`, ErrPolicy, `header parameter "crit" not allowed`},
		{"Jku", `{"alg":"ES256","jku":"https://evil.example/jwks"}`, ErrPolicy, `header parameter "jku" not allowed`},
		{"Jwk", `{"alg":"ES256","jwk":{"kty":"EC"}}`, ErrPolicy, `header parameter "jwk" not allowed`},
		{"X5u", `{"alg":"ES256","x5u":"https://evil.example/cert"}`, ErrPolicy, `header parameter "x5u" not allowed`},
		{"X5c", `{"alg":"ES256","x5c":["MIIB"]}`, ErrPolicy, `header parameter "x5c" not allowed`},
		{"Cty", `{"alg":"ES256","cty":"JWT"}`, ErrPolicy, `header parameter "cty" not allowed`},
		{"B64", `{"alg":"ES256","b64":false}`, ErrPolicy, `header parameter "b64" not allowed`},
		{"UnknownMember", `{"alg":"ES256","foo":"bar"}`, ErrPolicy, `header parameter "foo" not allowed`},
		{"UpperCaseAlgName", `{"ALG":"ES256"}`, ErrPolicy, `header parameter "ALG" not allowed`},
		{"LongUnknownNameIsCut", `{"alg":"ES256","` + strings.Repeat("z", 500) + `":1}`, ErrPolicy, `"... not allowed`},
		{"DuplicateAlg", `{"alg":"ES256","alg":"ES256"}`, ErrMalformed, `duplicate header parameter "alg"`},
		{"DuplicateAlgViaEscape", `{"alg":"ES256","\u0061lg":"none"}`, ErrMalformed, `duplicate header parameter "alg"`},
		{"DuplicateKid", `{"alg":"ES256","kid":"a","kid":"b"}`, ErrMalformed, `duplicate header parameter "kid"`},
		{"AlgNone", `{"alg":"none"}`, ErrPolicy, `alg "none" not allowed`},
		{"AlgNoneUpperCase", `{"alg":"NONE"}`, ErrPolicy, `unsupported alg "NONE"`},
		{"HS256", `{"alg":"HS256"}`, ErrPolicy, `symmetric alg "HS256" not allowed`},
		{"HS384", `{"alg":"HS384"}`, ErrPolicy, `symmetric alg "HS384" not allowed`},
		{"HS512", `{"alg":"HS512"}`, ErrPolicy, `symmetric alg "HS512" not allowed`},
		{"UnknownAlg", `{"alg":"ES256K"}`, ErrPolicy, `unsupported alg "ES256K"`},
		{"LowerCaseAlg", `{"alg":"es256"}`, ErrPolicy, `unsupported alg "es256"`},
		{"NoAlg", `{"kid":"k1"}`, ErrMalformed, `header has no alg`},
		{"EmptyObject", `{}`, ErrMalformed, `header has no alg`},
		{"AlgNotString", `{"alg":256}`, ErrMalformed, `header parameter "alg" must be a json string`},
		{"AlgNull", `{"alg":null}`, ErrMalformed, `header parameter "alg" must be a json string`},
		{"KidNotString", `{"alg":"ES256","kid":1}`, ErrMalformed, `header parameter "kid" must be a json string`},
		{"TypNotString", `{"alg":"ES256","typ":["JWT"]}`, ErrMalformed, `header parameter "typ" must be a json string`},
		{"KidTooLong", `{"alg":"ES256","kid":"` + strings.Repeat("k", 129) + `"}`, ErrPolicy, `kid must be 1 to 128 bytes`},
		{"KidEmpty", `{"alg":"ES256","kid":""}`, ErrPolicy, `kid must be 1 to 128 bytes`},
		{"KidControlChar", `{"alg":"ES256","kid":"a\u0000b"}`, ErrPolicy, `kid must be 1 to 128 bytes of printable ascii`},
		{"KidNewline", `{"alg":"ES256","kid":"a\nb"}`, ErrPolicy, `kid must be 1 to 128 bytes of printable ascii`},
		{"KidNonASCII", `{"alg":"ES256","kid":"clé"}`, ErrPolicy, `kid must be 1 to 128 bytes of printable ascii`},
		{"TypEmpty", `{"alg":"ES256","typ":""}`, ErrPolicy, `typ must be 1 to 128 bytes`},
		{"NotAnObject", `["alg","ES256"]`, ErrMalformed, `header is not a json object`},
		{"String", `"ES256"`, ErrMalformed, `header is not a json object`},
		{"TrailingData", `{"alg":"ES256"}x`, ErrMalformed, `data after the header object`},
		{"TwoObjects", `{"alg":"ES256"}{"alg":"none"}`, ErrMalformed, `data after the header object`},
		{"ByteOrderMark", "\ufeff{\"alg\":\"ES256\"}", ErrMalformed, `header is not a json object`},
		{"InvalidUTF8", "{\"alg\":\"ES256\",\"kid\":\"\xff\"}", ErrMalformed, `invalid utf-8`},
		{"LoneSurrogate", `{"alg":"ES256","kid":"\ud800"}`, ErrMalformed, `lone surrogate`},
		{"Unterminated", `{"alg":"ES256"`, ErrMalformed, `unexpected end`},
		{"TrailingComma", `{"alg":"ES256",}`, ErrMalformed, `want member name`},
		{"SingleQuotes", `{'alg':'ES256'}`, ErrMalformed, `want member name`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			token := signRaw(t, ES256, keys.p256, tt.header, `{"sub":"x"}`)
			_, err := Parse(token)
			checkErr(t, err, tt.kind, tt.msg)
		})
	}
}

func TestParseRefusesShape(t *testing.T) {
	keys := keysOnce()
	good := signRaw(t, ES256, keys.p256, `{"alg":"ES256"}`, `{"sub":"x"}`)
	h, p, s := splitForTest(good)
	h16 := enc(`{"alg":"ES256" }`) // 16 bytes: the last character carries 4 unused bits
	tests := []struct {
		name  string
		token string
		msg   string
	}{
		{"Empty", "", "empty token"},
		{"NoDots", h + p + s, "token has no '.'"},
		{"OneDot", h + "." + p, "token has 2 segments"},
		{"ThreeDots", good + ".", "more than 3 segments"},
		{"FourSegments", good + "." + s, "more than 3 segments"},
		{"OnlyDots", strings.Repeat(".", MaxTokenSize), "more than 3 segments"},
		{"EmptyHeader", "." + p + "." + s, "empty header segment"},
		{"EmptyPayload", h + ".." + s, "empty payload segment"},
		{"EmptySignature", h + "." + p + ".", "empty signature segment"},
		{"PaddingInHeader", h + "=." + p + "." + s, "header segment has a byte outside the base64url alphabet"},
		{"PaddingInPayload", h + "." + p + "==." + s, "payload segment has a byte outside the base64url alphabet"},
		{"PaddingInSignature", h + "." + p + "." + s + "=", "signature segment has a byte outside the base64url alphabet"},
		{"SpaceInHeader", h[:4] + " " + h[4:] + "." + p + "." + s, "header segment has a byte outside the base64url alphabet at offset 4"},
		{"CRLFInPayload", h + "." + p[:4] + "\r\n" + p[4:] + "." + s, "payload segment has a byte outside the base64url alphabet"},
		{"LFInSignature", h + "." + p + "." + s[:8] + "\n" + s[8:], "signature segment has a byte outside the base64url alphabet"},
		{"TabInHeader", "\t" + good, "header segment has a byte outside the base64url alphabet at offset 0"},
		{"LeadingSpace", " " + good, "header segment has a byte outside the base64url alphabet"},
		{"TrailingNewline", good + "\n", "signature segment has a byte outside the base64url alphabet"},
		{"StandardAlphabetPlus", h + "." + p + "." + strings.ReplaceAll(strings.ReplaceAll(s, "-", "+"), "_", "+") + "+", "signature segment has a byte outside the base64url alphabet"},
		{"StandardAlphabetSlash", h + "." + "/" + p + "." + s, "payload segment has a byte outside the base64url alphabet"},
		{"NonASCII", h + "." + p + "é." + s, "payload segment has a byte outside the base64url alphabet"},
		{"ImpossibleLength", h + ".AAAAA." + s, "payload segment has an impossible base64url length 5"},
		// "AB" decodes to the same byte as "AA" if the unused low bits are
		// ignored; only "AA" is canonical (RFC 4648 §3.5).
		{"NonCanonicalTrailingBits", h + ".AB." + s, "payload segment is not canonical base64url"},
		{"NonCanonicalHeader", h16[:len(h16)-1] + nextB64(h16[len(h16)-1]) + "." + p + "." + s, "header segment is not canonical base64url"},
		{"Oversize", h + "." + strings.Repeat("A", MaxTokenSize) + "." + s, "more than 8192"},
		{"JSONSerialization", `{"payload":"` + p + `","protected":"` + h + `","signature":"` + s + `"}`, "token has no '.'"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse(tt.token)
			checkErr(t, err, ErrMalformed, tt.msg)
		})
	}
}

// nextB64 returns the base64url character after c, which changes only the
// unused trailing bits when c ends a segment whose length is 2 or 3 mod 4.
func nextB64(c byte) string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	return string(alphabet[(strings.IndexByte(alphabet, c)+1)%64])
}

func splitForTest(token string) (h, p, s string) {
	parts := strings.SplitN(token, ".", 3)
	return parts[0], parts[1], parts[2]
}

func TestParseSizeLimitIsInclusive(t *testing.T) {
	keys := keysOnce()
	base := signRaw(t, EdDSA, keys.ed, `{"alg":"EdDSA"}`, `{"a":""}`)
	// Grow the payload until the token is exactly MaxTokenSize bytes.
	pad := ""
	var token string
	for {
		token = signRaw(t, EdDSA, keys.ed, `{"alg":"EdDSA"}`, `{"a":"`+pad+`"}`)
		if len(token) >= MaxTokenSize {
			break
		}
		pad += "x"
	}
	if len(token) != MaxTokenSize {
		t.Skipf("could not hit %d bytes exactly (got %d from %d)", MaxTokenSize, len(token), len(base))
	}
	j, err := Parse(token)
	if err != nil {
		t.Fatalf("token of exactly MaxTokenSize bytes: %v", err)
	}
	if err := j.Verify(keys.publicFor(EdDSA, "")); err != nil {
		t.Fatal(err)
	}
	token = signRaw(t, EdDSA, keys.ed, `{"alg":"EdDSA"}`, `{"a":"`+pad+`x"}`)
	_, err = Parse(token)
	checkErr(t, err, ErrMalformed, "more than 8192")
}

// The ECDSA and PSS tokens in the Wycheproof file and the RFC 8037 example
// cover signatures made elsewhere; this pins the well-known Ed25519 example
// of RFC 8037 Appendix A.4 byte for byte, for Sign as well as Verify.
func TestRFC8037Example(t *testing.T) {
	const (
		jwk   = `{"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}`
		d     = "nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A"
		token = "eyJhbGciOiJFZERTQSJ9.RXhhbXBsZSBvZiBFZDI1NTE5IHNpZ25pbmc.hgyY0il_MGCjP0JzlnLWG1PPOt7-09PGcvMg3AIbQR6dWbhijcNR4ki4iylGjg5BhVsPt9g7sVvpAr_MuM0KAg"
	)
	key, err := ParseJWK([]byte(jwk))
	if err != nil {
		t.Fatal(err)
	}
	j, err := Parse(token)
	if err != nil {
		t.Fatal(err)
	}
	if err := j.Verify(key); err != nil {
		t.Fatal(err)
	}
	if got := string(j.Payload); got != "Example of Ed25519 signing" {
		t.Errorf("payload %q", got)
	}
	seed, err := b64.DecodeString(d)
	if err != nil {
		t.Fatal(err)
	}
	got, err := Sign(EdDSA, "", "", ed25519.NewKeyFromSeed(seed), []byte("Example of Ed25519 signing"))
	if err != nil {
		t.Fatal(err)
	}
	if got != token {
		t.Errorf("Sign:\n got %s\nwant %s", got, token)
	}
	tp, err := Thumbprint(key)
	if err != nil {
		t.Fatal(err)
	}
	if want := "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"; tp != want { // RFC 8037 A.3
		t.Errorf("Thumbprint %s, want %s", tp, want)
	}
}

func TestTypMatches(t *testing.T) {
	tests := []struct {
		typ, want string
		match     bool
	}{
		{"at+jwt", "at+jwt", true},
		{"AT+JWT", "at+jwt", true},
		{"application/at+jwt", "at+jwt", true},
		{"Application/AT+JWT", "at+jwt", true},
		{"at+jwt", "application/at+jwt", true},
		{"JWT", "jwt", true},
		{"dpop+jwt", "at+jwt", false},
		{"jwt", "at+jwt", false},
		{"at+jwt ", "at+jwt", false},
		{"application/at+jwt; charset=utf-8", "at+jwt", false},
		{"text/at+jwt", "at+jwt", false},
		{"text/plain", "TEXT/PLAIN", true},
		{"application/foo/bar", "foo/bar", false},
		{"application/", "application/", true},
		{"at+jwt", "", false},
		{"", "", false},
		{"", "at+jwt", false},
		{"a\u212at+jwt", "akt+jwt", false}, // Kelvin sign: only ASCII folds
	}
	for _, tt := range tests {
		if got := TypMatches(tt.typ, tt.want); got != tt.match {
			t.Errorf("TypMatches(%q, %q) = %v, want %v", tt.typ, tt.want, got, tt.match)
		}
	}
}
