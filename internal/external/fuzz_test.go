package external_test

import (
	"context"
	"encoding/base64"
	"testing"

	"github.com/gatehouse/gatehouse/internal/external"
	"github.com/gatehouse/gatehouse/internal/jose"
	"github.com/gatehouse/gatehouse/internal/token"
)

// More seeds, tokens no library would sign, are in testdata/fuzz.

// FuzzIssuerOf: routing on an unverified token never panics and only
// answers for a token jose would parse.
func FuzzIssuerOf(f *testing.F) {
	rsa1 := rsaTestKey("rsa-1", rsaKey1())
	f.Add(sign(f, rsa1, "rsa-1", "at+jwt", []byte(`{"iss":"https://a.test","aud":["x"],"exp":1}`)))
	f.Add(sign(f, rsa1, "", "", []byte(`{"iss":"\u00e9\ud83d\ude00"}`)))
	f.Add("e30.e30.e30")
	f.Fuzz(func(t *testing.T, tok string) {
		iss := external.IssuerOf(tok)
		if iss == "" {
			return
		}
		if _, err := jose.Parse(tok); err != nil {
			t.Fatalf("IssuerOf answered %q for a token jose refuses: %v", iss, err)
		}
	})
}

// FuzzVerify: Verify never panics, refuses with a reason, and whatever it
// accepts carries the configured iss and aud and is not expired.
func FuzzVerify(f *testing.F) {
	rsa1, ec1 := rsaTestKey("rsa-1", rsaKey1()), ecTestKey("ec-1")
	fx := newFixture(f, setup{keys: []testKey{rsa1, ec1}})
	c := fx.claims()
	b64 := base64.RawURLEncoding.EncodeToString
	for _, tok := range []string{
		mint(f, rsa1, c),
		mint(f, ec1, c),
		mint(f, ec1, c.del("jti").del("iat").set("aud", `["a",`+str(testAud)+`]`).set("scp", `["x"]`)),
		mint(f, rsa1, c.set("exp", `"1"`)),
		mint(f, rsa1, append(c, claim{"iss", str(testIss)})),
		sign(f, rsa1, "", "JWT", c.json()),
		sign(f, rsa1, "unknown", "dpop+jwt", c.json()),
		b64([]byte(`{"alg":"none"}`)) + "." + b64(c.json()) + ".",
	} {
		f.Add(tok)
	}
	ctx := context.Background()
	f.Fuzz(func(t *testing.T, tok string) {
		got, err := fx.iss.Verify(ctx, tok)
		if err != nil {
			if token.ReasonOf(err) == "" {
				t.Fatalf("refusal without a reason: %v", err)
			}
			return
		}
		if got.Issuer != testIss || got.Audience != testAud || !got.ExpiresAt.After(fx.now.Add(-external.MaxLeeway)) || got.ID == "" {
			t.Fatalf("accepted %+v", got)
		}
	})
}
