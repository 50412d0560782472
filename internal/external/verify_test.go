package external_test

import (
	"context"
	"crypto/elliptic"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"math/big"
	"strings"
	"testing"
	"time"

	gojose "github.com/go-jose/go-jose/v4"
	"github.com/google/go-cmp/cmp"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/internal/external"
	"github.com/gatehouse/gatehouse/internal/token"
)

func TestVerifyAccepts(t *testing.T) {
	for _, k := range []testKey{
		rsaTestKey("rsa-1", rsaKey1()),
		ecTestKey("ec-1"),
		{kid: "ps-1", alg: gojose.PS256, priv: rsaKey2()},
		{kid: "ed-1", alg: gojose.EdDSA, priv: mustEd()},
	} {
		t.Run(string(k.alg), func(t *testing.T) {
			f := newFixture(t, setup{keys: []testKey{k}})
			got, err := f.iss.Verify(context.Background(), mint(t, k, f.claims()))
			if err != nil {
				t.Fatal(err)
			}
			want := &gatehouse.AccessClaims{
				Issuer: testIss, Subject: "user-42", Audience: testAud, ClientID: "orders-app",
				Scopes: []string{"read", "write"}, ID: "jti-1",
				IssuedAt: f.now.Add(-time.Minute), ExpiresAt: f.now.Add(10 * time.Minute),
			}
			if diff := cmp.Diff(got, want); diff != "" {
				t.Errorf("claims (-got +want):\n%s", diff)
			}
		})
	}
}

func TestVerifyAcceptsVariants(t *testing.T) {
	rsa1 := rsaTestKey("rsa-1", rsaKey1())
	f := newFixture(t, setup{keys: []testKey{rsa1}})
	c := f.claims()
	tests := []struct {
		name string
		tok  string
	}{
		{"NoTyp", sign(t, rsa1, "rsa-1", "", c.json())},
		{"TypJWT", sign(t, rsa1, "rsa-1", "JWT", c.json())},
		{"TypApplicationAtJWT", sign(t, rsa1, "rsa-1", "application/at+jwt", c.json())},
		// One key published: a kid is not needed.
		{"NoKidOneKey", sign(t, rsa1, "", "at+jwt", c.json())},
		{"AudienceArray", mint(t, rsa1, c.set("aud", `["https://other.test",`+str(testAud)+`]`))},
		{"ExpiredWithinLeeway", mint(t, rsa1, c.set("exp", num(f.now.Add(-20*time.Second))))},
		{"NotBeforeWithinLeeway", mint(t, rsa1, c.set("nbf", num(f.now.Add(20*time.Second))))},
		{"FractionalDates", mint(t, rsa1, c.set("exp", num(f.now.Add(time.Minute))+".75").set("iat", num(f.now)+".5"))},
		{"NoSubNoIat", mint(t, rsa1, c.del("sub").del("iat"))},
		{"UnknownClaims", mint(t, rsa1, c.set("roles", `{"nested":true}`).set("x", `[1,{"y":null}]`))},
		{"NullScope", mint(t, rsa1, c.set("scope", "null"))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := f.iss.Verify(context.Background(), tt.tok); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestVerifyRefuses(t *testing.T) {
	rsa1 := rsaTestKey("rsa-1", rsaKey1())
	ec1 := ecTestKey("ec-1")
	f := newFixture(t, setup{keys: []testKey{rsa1, ec1}})
	c := f.claims()
	b64 := base64.RawURLEncoding.EncodeToString

	tests := []struct {
		name   string
		tok    func(t *testing.T) string
		want   token.Reason
		detail string // in the error, if set
	}{
		{"WrongIssuer", func(t *testing.T) string { return mint(t, rsa1, c.set("iss", str("https://evil.example.test"))) }, token.ReasonIssuer, ""},
		{"IssuerTrailingSlash", func(t *testing.T) string { return mint(t, rsa1, c.set("iss", str(testIss+"/"))) }, token.ReasonIssuer, ""},
		{"MissingIssuer", func(t *testing.T) string { return mint(t, rsa1, c.del("iss")) }, token.ReasonClaims, "iss"},
		{"WrongAudience", func(t *testing.T) string { return mint(t, rsa1, c.set("aud", str("https://api.example.test/billing"))) }, token.ReasonClaims, "aud"},
		{"AudienceArrayWithoutOurs", func(t *testing.T) string { return mint(t, rsa1, c.set("aud", `["a","b"]`)) }, token.ReasonClaims, "aud"},
		{"AudienceMissing", func(t *testing.T) string { return mint(t, rsa1, c.del("aud")) }, token.ReasonClaims, "aud"},
		{"AudienceNumber", func(t *testing.T) string { return mint(t, rsa1, c.set("aud", "1")) }, token.ReasonClaims, "aud"},
		{"AudienceArrayWithNull", func(t *testing.T) string { return mint(t, rsa1, c.set("aud", "[null,"+str(testAud)+"]")) }, token.ReasonClaims, "aud"},
		{"Expired", func(t *testing.T) string { return mint(t, rsa1, c.set("exp", num(f.now.Add(-31*time.Second)))) }, token.ReasonExpired, ""},
		{"ExpMissing", func(t *testing.T) string { return mint(t, rsa1, c.del("exp")) }, token.ReasonClaims, "exp"},
		{"ExpNull", func(t *testing.T) string { return mint(t, rsa1, c.set("exp", "null")) }, token.ReasonClaims, "exp"},
		{"ExpString", func(t *testing.T) string { return mint(t, rsa1, c.set("exp", str(num(f.now.Add(time.Minute))))) }, token.ReasonClaims, "json numbers"},
		{"ExpNegative", func(t *testing.T) string { return mint(t, rsa1, c.set("exp", "-1")) }, token.ReasonClaims, "json numbers"},
		{"ExpHuge", func(t *testing.T) string { return mint(t, rsa1, c.set("exp", "1e300")) }, token.ReasonClaims, "json numbers"},
		{"ExpBeforeIat", func(t *testing.T) string { return mint(t, rsa1, c.set("exp", num(f.now.Add(-2*time.Minute)))) }, token.ReasonClaims, "exp not after iat"},
		{"NotBeforeInFuture", func(t *testing.T) string { return mint(t, rsa1, c.set("nbf", num(f.now.Add(2*time.Minute)))) }, token.ReasonNotYet, ""},
		{"IssuedInFuture", func(t *testing.T) string { return mint(t, rsa1, c.set("iat", num(f.now.Add(2*time.Minute)))) }, token.ReasonNotYet, ""},
		{"LifetimeTooLong", func(t *testing.T) string {
			return mint(t, rsa1, c.set("iat", num(f.now.Add(-time.Hour))).set("exp", num(f.now.Add(24*time.Hour))))
		}, token.ReasonClaims, "lifetime"},
		{"NoIatExpTooFar", func(t *testing.T) string { return mint(t, rsa1, c.del("iat").set("exp", num(f.now.Add(25*time.Hour)))) }, token.ReasonClaims, "no iat"},
		{"AlgNone", func(t *testing.T) string {
			return b64([]byte(`{"alg":"none","kid":"rsa-1"}`)) + "." + b64(c.json()) + "." + b64([]byte("sig"))
		}, token.ReasonMalformed, `"none"`},
		{"HS256WithPublicKeyAsSecret", func(t *testing.T) string {
			// The classic confusion: a verifier that takes alg from the
			// token would check this HMAC with the published RSA key.
			signer, err := gojose.NewSigner(gojose.SigningKey{Algorithm: gojose.HS256, Key: publicPEM(t, rsa1.public())},
				(&gojose.SignerOptions{}).WithType("at+jwt").WithHeader("kid", "rsa-1"))
			if err != nil {
				t.Fatal(err)
			}
			obj, err := signer.Sign(c.json())
			if err != nil {
				t.Fatal(err)
			}
			tok, err := obj.CompactSerialize()
			if err != nil {
				t.Fatal(err)
			}
			return tok
		}, token.ReasonMalformed, "HS256"},
		{"PS256WithKeyPinnedRS256", func(t *testing.T) string {
			// PS256 is allowed for the issuer, but the JWK pins RS256.
			return sign(t, testKey{alg: gojose.PS256, priv: rsa1.priv}, "rsa-1", "at+jwt", c.json())
		}, token.ReasonSignature, "does not match key alg"},
		{"ES256HeaderWithRSAKid", func(t *testing.T) string { return sign(t, ec1, "rsa-1", "at+jwt", c.json()) }, token.ReasonSignature, ""},
		{"UnknownKid", func(t *testing.T) string { return mint(t, rsaTestKey("rsa-gone", rsaKey2()), c) }, token.ReasonUnknownKey, "rsa-gone"},
		{"NoKidTwoKeys", func(t *testing.T) string { return sign(t, rsa1, "", "at+jwt", c.json()) }, token.ReasonUnknownKey, "no kid"},
		{"TypDPoP", func(t *testing.T) string { return sign(t, rsa1, "rsa-1", "dpop+jwt", c.json()) }, token.ReasonType, ""},
		{"TypIDToken", func(t *testing.T) string { return sign(t, rsa1, "rsa-1", "id_token+jwt", c.json()) }, token.ReasonType, ""},
		{"DuplicateClaim", func(t *testing.T) string {
			return mint(t, rsa1, append(c.set("aud", str("https://api.example.test/billing")), claim{"aud", str(testAud)}))
		}, token.ReasonClaims, "duplicate"},
		{"DuplicateClaimOtherCase", func(t *testing.T) string { return mint(t, rsa1, append(c, claim{"EXP", "9999999999"})) }, token.ReasonClaims, "duplicate"},
		{"SignedByAnotherKey", func(t *testing.T) string { return mint(t, rsaTestKey("rsa-1", rsaKey2()), c) }, token.ReasonSignature, ""},
		{"PayloadSwapped", func(t *testing.T) string {
			tok := mint(t, rsa1, c)
			parts := strings.Split(tok, ".")
			return parts[0] + "." + b64(c.set("scope", str("admin")).json()) + "." + parts[2]
		}, token.ReasonSignature, ""},
		{"HeaderJKU", func(t *testing.T) string {
			signer, err := gojose.NewSigner(gojose.SigningKey{Algorithm: gojose.RS256, Key: gojose.JSONWebKey{Key: rsa1.priv, KeyID: "rsa-1"}},
				(&gojose.SignerOptions{}).WithHeader("jku", "https://evil.example.test/jwks"))
			if err != nil {
				t.Fatal(err)
			}
			obj, err := signer.Sign(c.json())
			if err != nil {
				t.Fatal(err)
			}
			tok, err := obj.CompactSerialize()
			if err != nil {
				t.Fatal(err)
			}
			return tok
		}, token.ReasonMalformed, "jku"},
		{"ScopeNumber", func(t *testing.T) string { return mint(t, rsa1, c.set("scope", "5")) }, token.ReasonClaims, "scope"},
		{"ScopeArrayWithNumber", func(t *testing.T) string { return mint(t, rsa1, c.set("scope", `["a",5]`)) }, token.ReasonClaims, "scope"},
		{"ClientIDNumber", func(t *testing.T) string { return mint(t, rsa1, c.set("client_id", "7")) }, token.ReasonClaims, "client_id"},
		{"SubNumber", func(t *testing.T) string { return mint(t, rsa1, c.set("sub", "7")) }, token.ReasonClaims, ""},
		{"JtiObject", func(t *testing.T) string { return mint(t, rsa1, c.set("jti", "{}")) }, token.ReasonClaims, ""},
		{"PayloadNotObject", func(t *testing.T) string { return sign(t, rsa1, "rsa-1", "at+jwt", []byte(`["iss"]`)) }, token.ReasonClaims, ""},
		{"TooLong", func(t *testing.T) string { return mint(t, rsa1, c.set("pad", str(strings.Repeat("x", 9000)))) }, token.ReasonMalformed, ""},
		{"Empty", func(t *testing.T) string { return "" }, token.ReasonMalformed, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := f.iss.Verify(context.Background(), tt.tok(t))
			wantReason(t, err, tt.want)
			if !strings.Contains(err.Error(), tt.detail) {
				t.Errorf("error %q does not mention %q", err, tt.detail)
			}
		})
	}
}

// TestAlgNotAllowed: with only ES256 allowed, an RS256 token is refused
// even though the provider publishes the RSA key, and it costs no fetch.
func TestAlgNotAllowed(t *testing.T) {
	rsa1, ec1 := rsaTestKey("rsa-1", rsaKey1()), ecTestKey("ec-1")
	f := newFixture(t, setup{
		keys: []testKey{rsa1, ec1},
		cfg:  func(c *gatehouse.ExternalIssuer) { c.Algorithms = []string{"ES256"} },
		opts: func(o *external.Options) { o.MinRefetch = time.Millisecond },
	})
	time.Sleep(2 * time.Millisecond)
	_, err := f.iss.Verify(context.Background(), mint(t, rsa1, f.claims()))
	wantReason(t, err, token.ReasonSignature)
	if got := f.idp.hits.Load(); got != 1 {
		t.Errorf("%d jwks fetches; want 1 (a refused alg must not trigger a refetch)", got)
	}
	if _, err := f.iss.Verify(context.Background(), mint(t, ec1, f.claims())); err != nil {
		t.Fatal(err)
	}
	// Only the RSA key is published now: no key fits, so the set is refused.
	f.idp.publish(t, rsa1)
	if err := f.iss.Start(context.Background()); err == nil || !strings.Contains(err.Error(), "no key for the allowed algorithms") {
		t.Fatalf("start with only an RSA key: %v", err)
	}
}

func TestScopes(t *testing.T) {
	rsa1 := rsaTestKey("rsa-1", rsaKey1())
	tests := []struct {
		name     string
		claim    string // ScopeClaim
		scopeMap map[string]string
		set      claims // added to the claims (scope is removed first)
		want     []string
	}{
		{"ScopeString", "", nil, claims{{"scope", str("read  write read")}}, []string{"read", "write"}},
		{"ScopeArray", "", nil, claims{{"scope", `["read","write",""]`}}, []string{"read", "write"}},
		{"ScopeAbsent", "", nil, nil, nil},
		{"ScpArrayOkta", "scp", nil, claims{{"scp", `["orders.read","orders.write"]`}}, []string{"orders.read", "orders.write"}},
		{"ScpStringEntra", "scp", nil, claims{{"scp", str("Orders.Read Orders.Write")}}, []string{"Orders.Read", "Orders.Write"}},
		{"RolesEntra", "roles", nil, claims{{"roles", `["Orders.Admin"]`}, {"scp", str("ignored")}}, []string{"Orders.Admin"}},
		{"PermissionsAuth0", "permissions", nil, claims{{"permissions", `["read:orders"]`}}, []string{"read:orders"}},
		{"NamespacedClaim", "https://acme.example.test/roles", nil, claims{{"https://acme.example.test/roles", `["clerk"]`}}, []string{"clerk"}},
		{"NamespacedClaimAbsent", "https://acme.example.test/roles", nil, nil, nil},
		{"MapRenamesAndDrops", "scp", map[string]string{"orders.read": "read", "orders.write": "write"},
			claims{{"scp", `["orders.read","profile","orders.write"]`}}, []string{"read", "write"}},
		{"MapMergesDuplicates", "", map[string]string{"read:orders": "read", "orders.read": "read"},
			claims{{"scope", str("read:orders orders.read")}}, []string{"read"}},
		{"MapNothingLeft", "", map[string]string{"a": "b"}, claims{{"scope", str("profile email")}}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, setup{keys: []testKey{rsa1}, cfg: func(c *gatehouse.ExternalIssuer) {
				c.ScopeClaim, c.ScopeMap = tt.claim, tt.scopeMap
			}})
			c := f.claims().del("scope")
			for _, m := range tt.set {
				c = c.set(m.name, m.value)
			}
			got, err := f.iss.Verify(context.Background(), mint(t, rsa1, c))
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(got.Scopes, tt.want); diff != "" {
				t.Errorf("scopes (-got +want):\n%s", diff)
			}
		})
	}
}

func TestClientID(t *testing.T) {
	rsa1 := rsaTestKey("rsa-1", rsaKey1())
	f := newFixture(t, setup{keys: []testKey{rsa1}})
	base := f.claims().del("client_id")
	tests := []struct {
		name string
		set  claims
		want string
	}{
		{"ClientID", claims{{"client_id", str("a")}, {"azp", str("b")}}, "a"},
		{"AzpAuth0Keycloak", claims{{"azp", str("b")}, {"cid", str("c")}}, "b"},
		{"CidOkta", claims{{"cid", str("c")}, {"appid", str("d")}}, "c"},
		{"AppIDEntraV1", claims{{"appid", str("d")}}, "d"},
		{"EmptyClientIDFallsBack", claims{{"client_id", str("")}, {"azp", str("b")}}, "b"},
		{"NullClientIDFallsBack", claims{{"client_id", "null"}, {"cid", str("c")}}, "c"},
		{"None", nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := base
			for _, m := range tt.set {
				c = c.set(m.name, m.value)
			}
			got, err := f.iss.Verify(context.Background(), mint(t, rsa1, c))
			if err != nil {
				t.Fatal(err)
			}
			if got.ClientID != tt.want {
				t.Errorf("client id %q; want %q", got.ClientID, tt.want)
			}
		})
	}
}

// TestIDWithoutJTI: without jti the ID is the hash of the signed part, so
// that a second, equally valid ECDSA signature (s -> n-s) of the same token
// has the same ID and cannot slip past a revocation.
func TestIDWithoutJTI(t *testing.T) {
	ec1 := ecTestKey("ec-1")
	f := newFixture(t, setup{keys: []testKey{ec1}})
	tok := mint(t, ec1, f.claims().del("jti"))
	dot := strings.LastIndexByte(tok, '.')
	sig, err := base64.RawURLEncoding.DecodeString(tok[dot+1:])
	if err != nil {
		t.Fatal(err)
	}
	s := new(big.Int).SetBytes(sig[32:])
	s.Sub(elliptic.P256().Params().N, s)
	twin := tok[:dot+1] + base64.RawURLEncoding.EncodeToString(append(sig[:32:32], s.FillBytes(make([]byte, 32))...))

	sum := sha256.Sum256([]byte(tok[:dot]))
	want := hex.EncodeToString(sum[:])
	for _, tk := range []string{tok, twin} {
		c, err := f.iss.Verify(context.Background(), tk)
		if err != nil {
			t.Fatal(err)
		}
		if c.ID != want {
			t.Errorf("id %q; want %q", c.ID, want)
		}
	}
}

// TestCache: a verified token is served from the cache; issuers sharing a
// cache never see each other's entries; a key set change drops the entries.
func TestCache(t *testing.T) {
	rsa1, rsa2 := rsaTestKey("rsa-1", rsaKey1()), rsaTestKey("rsa-2", rsaKey2())
	cache := token.NewCache(1000)
	opts := func(o *external.Options) { o.Cache, o.MinRefetch = cache, time.Millisecond }
	f := newFixture(t, setup{keys: []testKey{rsa1}, opts: opts})
	g := newFixture(t, setup{keys: []testKey{rsa1}, opts: opts, cfg: func(c *gatehouse.ExternalIssuer) {
		c.Name, c.ScopeMap = "acme-mapped", map[string]string{"read": "orders:read"}
	}})
	g.now = f.now
	tok := mint(t, rsa1, f.claims())
	ctx := context.Background()

	first, err := f.iss.Verify(ctx, tok)
	if err != nil {
		t.Fatal(err)
	}
	again, err := f.iss.Verify(ctx, tok)
	if err != nil {
		t.Fatal(err)
	}
	if first != again || cache.Len() != 1 {
		t.Fatalf("second verify did not come from the cache (%d entries)", cache.Len())
	}
	other, err := g.iss.Verify(ctx, tok)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(other.Scopes, []string{"orders:read"}); diff != "" {
		t.Errorf("second issuer's scopes (-got +want):\n%s", diff)
	}

	// The provider withdraws rsa-1: the cached token goes with it.
	f.idp.publish(t, rsa2)
	time.Sleep(2 * time.Millisecond)
	if err := f.iss.Start(ctx); err != nil {
		t.Fatal(err)
	}
	_, err = f.iss.Verify(ctx, tok)
	wantReason(t, err, token.ReasonUnknownKey)

	// An expired entry is not served.
	f.idp.publish(t, rsa1)
	time.Sleep(2 * time.Millisecond)
	if _, err := f.iss.Verify(ctx, tok); err != nil {
		t.Fatal(err)
	}
	f.now = f.now.Add(11 * time.Minute)
	_, err = f.iss.Verify(ctx, tok)
	wantReason(t, err, token.ReasonExpired)
}
