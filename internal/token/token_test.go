package token

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/internal/jose"
)

const testIssuer = "https://auth.example.test"

// fixture is a keyring with one current key and a verifier around it.
type fixture struct {
	keys *Keyring
	ver  *Verifier
	now  time.Time
	kid  string
}

func newFixture(t testing.TB) *fixture {
	t.Helper()
	der, err := GenerateKey(gatehouse.AlgEdDSA)
	if err != nil {
		t.Fatal(err)
	}
	kr := &Keyring{}
	meta := &gatehouse.SigningKey{ID: "k1", Algorithm: gatehouse.AlgEdDSA, State: gatehouse.KeyCurrent}
	if err := kr.Load([]PrivateKey{{Meta: meta, DER: der}}); err != nil {
		t.Fatal(err)
	}
	now := time.Unix(1_800_000_000, 0)
	f := &fixture{keys: kr, now: now, kid: "k1"}
	f.ver = &Verifier{
		Issuer: testIssuer, Keys: kr, Revocations: NewRevocations(), Cache: NewCache(1000),
		Leeway: 30 * time.Second, MaxLifetime: time.Hour, Now: func() time.Time { return f.now },
	}
	return f
}

func (f *fixture) claims() *gatehouse.AccessClaims {
	return &gatehouse.AccessClaims{
		Issuer: testIssuer, Subject: "svc", Audience: "https://api.example.test", ClientID: "svc",
		Scopes: []string{"a", "b"}, ID: NewID(), GrantID: "g1",
		IssuedAt: f.now, ExpiresAt: f.now.Add(10 * time.Minute),
	}
}

func (f *fixture) mint(t testing.TB, c *gatehouse.AccessClaims) string {
	t.Helper()
	tok, err := (&Minter{Keys: f.keys}).MintJWT(c)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// signRaw signs an arbitrary header and payload with the fixture's key, to
// build tokens our minter would never produce.
func (f *fixture) signRaw(t testing.TB, header, payload string) string {
	t.Helper()
	ks := f.keys.set.Load()
	in := base64.RawURLEncoding.EncodeToString([]byte(header)) + "." + base64.RawURLEncoding.EncodeToString([]byte(payload))
	sig := ed25519.Sign(ks.signer.(ed25519.PrivateKey), []byte(in))
	return in + "." + base64.RawURLEncoding.EncodeToString(sig)
}

func TestVerifyRoundTrip(t *testing.T) {
	f := newFixture(t)
	c := f.claims()
	tok := f.mint(t, c)
	got, err := f.ver.Verify(context.Background(), tok)
	if err != nil {
		t.Fatal(err)
	}
	if got.ID != c.ID || got.Audience != c.Audience || got.ClientID != "svc" || got.GrantID != "g1" ||
		strings.Join(got.Scopes, " ") != "a b" || !got.ExpiresAt.Equal(c.ExpiresAt) {
		t.Errorf("claims = %+v", got)
	}
	if f.ver.Cache.Len() != 1 {
		t.Errorf("cache has %d entries after a verification", f.ver.Cache.Len())
	}
}

func TestVerifyRefuses(t *testing.T) {
	f := newFixture(t)
	exp := f.now.Add(5 * time.Minute).Unix()
	iat := f.now.Unix()
	good := fmt.Sprintf(`{"iss":%q,"sub":"s","aud":"https://api.example.test","client_id":"c","jti":"j","iat":%d,"exp":%d}`, testIssuer, iat, exp)
	hdr := `{"alg":"EdDSA","typ":"at+jwt","kid":"k1"}`
	cases := []struct {
		name   string
		tok    string
		reason Reason
	}{
		{"Empty", "", ReasonMalformed},
		{"Oversize", strings.Repeat("a", 9000), ReasonMalformed},
		{"NotJWT", "abc", ReasonMalformed},
		{"TypJWT", f.signRaw(t, `{"alg":"EdDSA","typ":"JWT","kid":"k1"}`, good), ReasonType},
		{"NoTyp", f.signRaw(t, `{"alg":"EdDSA","kid":"k1"}`, good), ReasonType},
		{"UnknownKid", f.signRaw(t, `{"alg":"EdDSA","typ":"at+jwt","kid":"k9"}`, good), ReasonUnknownKey},
		{"AlgNotPinned", f.signRaw(t, `{"alg":"ES256","typ":"at+jwt","kid":"k1"}`, good), ReasonSignature},
		{"Crit", f.signRaw(t, `{"alg":"EdDSA","typ":"at+jwt","kid":"k1","crit":["x"],"x":1}`, good), ReasonMalformed},
		{"DuplicateHeader", f.signRaw(t, `{"alg":"EdDSA","alg":"EdDSA","typ":"at+jwt","kid":"k1"}`, good), ReasonMalformed},
		{"WrongIssuer", f.signRaw(t, hdr, strings.Replace(good, testIssuer, "https://evil.example", 1)), ReasonIssuer},
		{"ExpAsString", f.signRaw(t, hdr, strings.Replace(good, fmt.Sprintf(`"exp":%d`, exp), fmt.Sprintf(`"exp":"%d"`, exp), 1)), ReasonClaims},
		{"NoExp", f.signRaw(t, hdr, strings.Replace(good, fmt.Sprintf(`,"exp":%d`, exp), "", 1)), ReasonClaims},
		{"NoJti", f.signRaw(t, hdr, strings.Replace(good, `"jti":"j",`, "", 1)), ReasonClaims},
		{"NoClientID", f.signRaw(t, hdr, strings.Replace(good, `"client_id":"c",`, "", 1)), ReasonClaims},
		{"DuplicateClaim", f.signRaw(t, hdr, strings.Replace(good, `"sub":"s"`, `"sub":"s","sub":"admin"`, 1)), ReasonClaims},
		{"TwoAudiences", f.signRaw(t, hdr, strings.Replace(good, `"aud":"https://api.example.test"`, `"aud":["a","b"]`, 1)), ReasonClaims},
		{"Expired", f.signRaw(t, hdr, fmt.Sprintf(`{"iss":%q,"sub":"s","aud":"a","client_id":"c","jti":"j","iat":%d,"exp":%d}`, testIssuer, iat-600, iat-60)), ReasonExpired},
		{"FromTheFuture", f.signRaw(t, hdr, fmt.Sprintf(`{"iss":%q,"sub":"s","aud":"a","client_id":"c","jti":"j","iat":%d,"exp":%d}`, testIssuer, iat+600, iat+900)), ReasonNotYet},
		{"LifetimeBeyondPolicy", f.signRaw(t, hdr, fmt.Sprintf(`{"iss":%q,"sub":"s","aud":"a","client_id":"c","jti":"j","iat":%d,"exp":%d}`, testIssuer, iat, iat+7200)), ReasonClaims},
		{"TamperedPayload", func() string {
			tok := f.signRaw(t, hdr, good)
			p := strings.Split(tok, ".")
			p[1] = base64.RawURLEncoding.EncodeToString([]byte(strings.Replace(good, `"sub":"s"`, `"sub":"x"`, 1)))
			return strings.Join(p, ".")
		}(), ReasonSignature},
		{"OpaqueWithoutStore", "gha_" + strings.Repeat("A", 43), ReasonUnknown},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := f.ver.Verify(context.Background(), tc.tok)
			if got := ReasonOf(err); got != tc.reason {
				t.Errorf("reason = %q (%v), want %q", got, err, tc.reason)
			}
		})
	}
	t.Run("GoodOneAccepted", func(t *testing.T) {
		if _, err := f.ver.Verify(context.Background(), f.signRaw(t, hdr, good)); err != nil {
			t.Fatalf("the unmodified token is refused, so the cases above prove nothing: %v", err)
		}
	})
}

func TestRevocationReachesCachedTokens(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	c := f.claims()
	tok := f.mint(t, c)
	if _, err := f.ver.Verify(ctx, tok); err != nil {
		t.Fatal(err)
	}
	f.ver.Revocations.Add(gatehouse.Revocation{TokenID: c.ID, Until: c.ExpiresAt})
	if _, err := f.ver.Verify(ctx, tok); ReasonOf(err) != ReasonRevoked {
		t.Fatalf("cached token after revocation: %v", err)
	}
	c2 := f.claims()
	tok2 := f.mint(t, c2)
	if _, err := f.ver.Verify(ctx, tok2); err != nil {
		t.Fatal(err)
	}
	f.ver.Revocations.Add(gatehouse.Revocation{GrantID: "g1", Until: c2.ExpiresAt})
	if _, err := f.ver.Verify(ctx, tok2); ReasonOf(err) != ReasonRevoked {
		t.Fatalf("token of a revoked grant: %v", err)
	}
	f.ver.Revocations.Prune(c2.ExpiresAt.Add(time.Second))
	if tn, gn := f.ver.Revocations.Len(); tn != 0 || gn != 0 {
		t.Errorf("prune left %d/%d entries", tn, gn)
	}
}

func TestCacheExpiresAndStaysBounded(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	c := f.claims()
	tok := f.mint(t, c)
	if _, err := f.ver.Verify(ctx, tok); err != nil {
		t.Fatal(err)
	}
	f.now = c.ExpiresAt.Add(31 * time.Second)
	if _, err := f.ver.Verify(ctx, tok); ReasonOf(err) != ReasonExpired {
		t.Fatalf("expired token served from cache: %v", err)
	}
	cache := NewCache(64)
	now := time.Now()
	for i := 0; i < 10000; i++ {
		cache.Put(Key(fmt.Sprint(i)), &gatehouse.AccessClaims{ExpiresAt: now.Add(time.Hour)}, now)
	}
	if n := cache.Len(); n > 64 {
		t.Errorf("cache grew to %d entries, bound is 64", n)
	}
}

func TestKeyringRefusesBadSets(t *testing.T) {
	der, _ := GenerateKey(gatehouse.AlgEdDSA)
	der2, _ := GenerateKey(gatehouse.AlgEdDSA)
	cases := map[string][]PrivateKey{
		"NoCurrent":   {{Meta: &gatehouse.SigningKey{ID: "a", Algorithm: "EdDSA", State: gatehouse.KeyNext}, DER: der}},
		"TwoCurrent":  {{Meta: &gatehouse.SigningKey{ID: "a", Algorithm: "EdDSA", State: gatehouse.KeyCurrent}, DER: der}, {Meta: &gatehouse.SigningKey{ID: "b", Algorithm: "EdDSA", State: gatehouse.KeyCurrent}, DER: der2}},
		"AlgMismatch": {{Meta: &gatehouse.SigningKey{ID: "a", Algorithm: "ES256", State: gatehouse.KeyCurrent}, DER: der}},
		"BadDER":      {{Meta: &gatehouse.SigningKey{ID: "a", Algorithm: "EdDSA", State: gatehouse.KeyCurrent}, DER: []byte("junk")}},
	}
	for name, keys := range cases {
		t.Run(name, func(t *testing.T) {
			if err := (&Keyring{}).Load(keys); err == nil {
				t.Error("accepted")
			}
		})
	}
}

func TestAllSigningAlgorithms(t *testing.T) {
	for _, alg := range []string{gatehouse.AlgEdDSA, gatehouse.AlgES256, gatehouse.AlgRS256, gatehouse.AlgPS256} {
		t.Run(alg, func(t *testing.T) {
			der, err := GenerateKey(alg)
			if err != nil {
				t.Fatal(err)
			}
			kr := &Keyring{}
			if err := kr.Load([]PrivateKey{{Meta: &gatehouse.SigningKey{ID: "k", Algorithm: alg, State: gatehouse.KeyCurrent}, DER: der}}); err != nil {
				t.Fatal(err)
			}
			now := time.Now()
			v := &Verifier{Issuer: testIssuer, Keys: kr, Revocations: NewRevocations(), Now: func() time.Time { return now }}
			tok, err := (&Minter{Keys: kr}).MintJWT(&gatehouse.AccessClaims{Issuer: testIssuer, Subject: "s", Audience: "a", ClientID: "c", ID: "j", IssuedAt: now, ExpiresAt: now.Add(time.Minute)})
			if err != nil {
				t.Fatal(err)
			}
			jws, err := jose.Parse(tok)
			if err != nil || string(jws.Header.Alg) != alg {
				t.Fatalf("header alg %v err %v", jws, err)
			}
			if _, err := v.Verify(context.Background(), tok); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestSuspendedClient(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	tok := f.mint(t, f.claims())
	if _, err := f.ver.Verify(ctx, tok); err != nil {
		t.Fatal(err)
	}
	f.ver.Revocations.SetSuspended("svc", true)
	if _, err := f.ver.Verify(ctx, tok); ReasonOf(err) != ReasonRevoked {
		t.Fatalf("token of a suspended client: %v", err)
	}
	f.ver.Revocations.SetSuspended("svc", false)
	if _, err := f.ver.Verify(ctx, tok); err != nil {
		t.Fatalf("token after resume: %v", err)
	}
}

func TestRevocationsAddKnownIsNoCopy(t *testing.T) {
	r := NewRevocations()
	until := time.Unix(2_000_000_000, 0)
	r.Add(gatehouse.Revocation{TokenID: "a", Until: until}, gatehouse.Revocation{GrantID: "g", Until: until})
	before := r.snap.Load()
	r.Add(gatehouse.Revocation{TokenID: "a", Until: until.Add(-time.Hour)}, gatehouse.Revocation{GrantID: "g", Until: until})
	if r.snap.Load() != before {
		t.Error("re-adding known revocations copied the set")
	}
	r.Add(gatehouse.Revocation{TokenID: "a", Until: until.Add(time.Hour)})
	if r.snap.Load() == before || !r.Revoked("a", "") {
		t.Error("a later Until was not recorded")
	}
}

// TestNewIDNeverLooksLikeAFlag: ids go on command lines.
func TestNewIDNeverLooksLikeAFlag(t *testing.T) {
	seen := map[string]bool{}
	for range 5000 { // about 150 would start with '-' or '_' without the rule
		id := NewID()
		if len(id) != 22 || id[0] == '-' || id[0] == '_' || seen[id] {
			t.Fatalf("id %q", id)
		}
		seen[id] = true
	}
}
