package token

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/gatehouse/gatehouse"
)

const (
	testJKT = "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I" // RFC 9449 §6.1 example
	testX5T = "BimEMugGayniIjvMI6qVBLVq5Qj6vzQ1UIhpucMZDiI"
)

func TestCnfRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		name     string
		cnf      gatehouse.Confirmation
		wantJSON string // the cnf member of the payload, "" for none
	}{
		{"Unbound", gatehouse.Confirmation{}, ""},
		{"DPoP", gatehouse.Confirmation{JKT: testJKT}, `{"jkt":"` + testJKT + `"}`},
		{"Certificate", gatehouse.Confirmation{X5TS256: testX5T}, `{"x5t#S256":"` + testX5T + `"}`},
		{"Both", gatehouse.Confirmation{JKT: testJKT, X5TS256: testX5T}, `{"jkt":"` + testJKT + `","x5t#S256":"` + testX5T + `"}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			c := f.claims()
			c.Cnf = tc.cnf
			tok := f.mint(t, c)
			var payload map[string]json.RawMessage
			if err := json.Unmarshal(mustSegment(t, tok, 1), &payload); err != nil {
				t.Fatal(err)
			}
			if got := string(payload["cnf"]); got != tc.wantJSON {
				t.Errorf("cnf on the wire = %s, want %s", got, tc.wantJSON)
			}
			got, err := f.ver.Verify(context.Background(), tok)
			if err != nil {
				t.Fatal(err)
			}
			if got.Cnf != tc.cnf {
				t.Errorf("verified cnf = %+v, want %+v", got.Cnf, tc.cnf)
			}
		})
	}
}

// TestCnfRefused: a cnf Gatehouse did not mint is refused, never ignored,
// so that a binding we cannot enforce never turns into a bearer token.
func TestCnfRefused(t *testing.T) {
	f := newFixture(t)
	iat := f.now.Unix()
	hdr := `{"alg":"EdDSA","typ":"at+jwt","kid":"k1"}`
	for _, tc := range []struct{ name, cnf string }{
		{"Null", `null`},
		{"Empty", `{}`},
		{"String", `"` + testJKT + `"`},
		{"Array", `[{"jkt":"` + testJKT + `"}]`},
		{"UnknownMember", `{"jwk":{"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}}`},
		{"UnknownBesideJKT", `{"jkt":"` + testJKT + `","kid":"k"}`},
		{"JKTCaseFolded", `{"JKT":"` + testJKT + `"}`},
		{"JKTNumber", `{"jkt":1}`},
		{"JKTEmpty", `{"jkt":""}`},
		{"JKTShort", `{"jkt":"` + testJKT[:42] + `"}`},
		{"JKTPadded", `{"jkt":"` + testJKT + `="}`},
		{"JKTStandardAlphabet", `{"jkt":"` + strings.Replace(testJKT, "-", "+", 1) + `"}`},
		{"JKTStrayBits", `{"jkt":"` + testJKT[:42] + `J"}`},
		{"DuplicateJKT", `{"jkt":"` + testJKT + `","jkt":"` + testX5T + `"}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			payload := fmt.Sprintf(`{"iss":%q,"sub":"s","aud":"a","client_id":"c","jti":"j","iat":%d,"exp":%d,"cnf":%s}`,
				testIssuer, iat, iat+300, tc.cnf)
			_, err := f.ver.Verify(context.Background(), f.signRaw(t, hdr, payload))
			if got := ReasonOf(err); got != ReasonClaims {
				t.Fatalf("Verify = %v, want reason %s", err, ReasonClaims)
			}
		})
	}
}

// TestCnfOpaque: an opaque token's binding comes from its record.
func TestCnfOpaque(t *testing.T) {
	f := newFixture(t)
	tok := PrefixAccess + "opaque-cnf-test"
	rec := &gatehouse.Token{
		ID: "t1", Hash: gatehouse.HashSecret(tok), Kind: gatehouse.KindAccess, Format: gatehouse.FormatOpaque,
		ClientID: "c", Subject: "s", Audience: "a", IssuedAt: f.now, ExpiresAt: f.now.Add(5 * 60e9),
		Cnf: gatehouse.Confirmation{JKT: testJKT},
	}
	f.ver.Tokens = finderFunc(func(hash []byte) *gatehouse.Token {
		if string(hash) == string(rec.Hash) {
			return rec
		}
		return nil
	})
	got, err := f.ver.Verify(context.Background(), tok)
	if err != nil {
		t.Fatal(err)
	}
	if got.Cnf != rec.Cnf || got.Cnf.TokenType() != "DPoP" {
		t.Errorf("cnf = %+v (%s), want %+v", got.Cnf, got.Cnf.TokenType(), rec.Cnf)
	}
}

type finderFunc func(hash []byte) *gatehouse.Token

func (f finderFunc) FindTokenByHash(_ context.Context, hash []byte) (*gatehouse.Token, error) {
	if t := f(hash); t != nil {
		return t, nil
	}
	return nil, gatehouse.Errorf(gatehouse.CodeNotFound, "no token")
}

func mustSegment(t *testing.T, tok string, i int) []byte {
	t.Helper()
	segs := strings.Split(tok, ".")
	if len(segs) != 3 {
		t.Fatalf("token has %d segments", len(segs))
	}
	b, err := base64.RawURLEncoding.DecodeString(segs[i])
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// FuzzParseCnf: a cnf claim is refused or yields only well-formed values,
// never a panic; a binding never comes out empty from a non-empty object.
func FuzzParseCnf(f *testing.F) {
	for _, s := range []string{`{"jkt":"` + testJKT + `"}`, `{"x5t#S256":"` + testX5T + `"}`, `{}`, `null`, `{"jkt":1}`,
		`{"jkt":"` + testJKT + `","x5t#S256":"` + testX5T + `"}`, `{"jwk":{}}`, `[]`, `"x"`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		c, err := parseCnf(raw)
		if err != nil {
			if ReasonOf(err) != ReasonClaims {
				t.Fatalf("error %v is not a claims refusal", err)
			}
			return
		}
		if !c.Bound() {
			t.Fatalf("accepted %q as an empty binding", raw)
		}
		for _, v := range []string{c.JKT, c.X5TS256} {
			if v != "" && !isSHA256B64(v) {
				t.Fatalf("accepted %q", v)
			}
		}
	})
}
