package external_test

import (
	"context"
	"encoding/base64"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/internal/external"
	"github.com/gatehouse/gatehouse/internal/token"
)

func TestSet(t *testing.T) {
	rsa1, ec1 := rsaTestKey("rsa-1", rsaKey1()), ecTestKey("ec-1")
	idp1, idp2 := newIdP(t, rsa1), newIdP(t, ec1)
	const otherIss, otherAud = "https://login.example.test/tenant/v2.0", "api://billing"
	cfgs := []gatehouse.ExternalIssuer{
		{Name: "okta", Issuer: testIss, Audience: testAud, JWKSURI: idp1.url(), Algorithms: []string{"RS256"}},
		{Name: "entra", Issuer: otherIss, Audience: testAud, JWKSURI: idp2.url(), Algorithms: []string{"ES256"}},
		{Name: "billing", Issuer: testIss, Audience: otherAud, JWKSURI: idp1.url(), Algorithms: []string{"RS256"}},
	}
	set, err := external.NewSet(cfgs, external.Options{Cache: token.NewCache(100), Log: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	if set.Lookup("okta").Name() != "okta" || set.Lookup("nope") != nil {
		t.Fatal("lookup")
	}
	names := func(is []*external.Issuer) []string {
		var out []string
		for _, i := range is {
			out = append(out, i.Name())
		}
		return out
	}
	if diff := cmp.Diff(names(set.Issuers()), []string{"billing", "entra", "okta"}); diff != "" {
		t.Errorf("issuers (-got +want):\n%s", diff)
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := set.Start(ctx); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { set.Run(ctx); close(done) }()

	now := time.Now()
	c := claims{{"aud", str(testAud)}, {"exp", num(now.Add(time.Minute))}}
	tokOkta := mint(t, rsa1, c.set("iss", str(testIss)))
	tokEntra := mint(t, ec1, c.set("iss", str(otherIss)))

	// Route each token by its unverified iss, as the gateway does.
	if diff := cmp.Diff(names(set.ByIssuer(external.IssuerOf(tokOkta))), []string{"billing", "okta"}); diff != "" {
		t.Errorf("issuers for the okta token (-got +want):\n%s", diff)
	}
	entra := set.ByIssuer(external.IssuerOf(tokEntra))
	if diff := cmp.Diff(names(entra), []string{"entra"}); diff != "" {
		t.Errorf("issuers for the entra token (-got +want):\n%s", diff)
	}
	if _, err := entra[0].Verify(ctx, tokEntra); err != nil {
		t.Fatal(err)
	}
	if _, err := set.Lookup("okta").Verify(ctx, tokOkta); err != nil {
		t.Fatal(err)
	}
	// Same provider, other API: the audience tells them apart.
	_, err = set.Lookup("billing").Verify(ctx, tokOkta)
	wantReason(t, err, token.ReasonClaims)
	// A token routed to the wrong issuer is refused.
	_, err = set.Lookup("okta").Verify(ctx, tokEntra)
	wantReason(t, err, token.ReasonSignature) // ES256 is not okta's
	_, err = set.Lookup("okta").Verify(ctx, mint(t, rsa1, c.set("iss", str(otherIss))))
	wantReason(t, err, token.ReasonIssuer)
	// Set.Verify routes and tries the named issuers in turn.
	got, by, err := set.Verify(ctx, tokOkta, []string{"gone", "entra", "billing", "okta"})
	if err != nil || by.Name() != "okta" {
		t.Fatalf("set verify: %v by %v", err, by)
	}
	again, by, err := set.Verify(ctx, tokOkta, []string{"billing", "okta"})
	if err != nil || by.Name() != "okta" || again != got {
		t.Fatalf("set verify did not come from the cache: %v", err)
	}
	_, _, err = set.Verify(ctx, tokOkta, []string{"billing"})
	wantReason(t, err, token.ReasonClaims)
	_, _, err = set.Verify(ctx, tokEntra, []string{"okta", "billing"})
	wantReason(t, err, token.ReasonIssuer)
	_, _, err = set.Verify(ctx, "gh_at_opaque", []string{"okta"})
	wantReason(t, err, token.ReasonMalformed)

	if set.ByIssuer("") != nil || set.ByIssuer("https://unknown.example.test") != nil {
		t.Error("ByIssuer matched an unknown iss")
	}

	cancel()
	<-done

	if _, err := external.NewSet(append(cfgs, cfgs[0]), external.Options{}); err == nil || !strings.Contains(err.Error(), "two issuers") {
		t.Errorf("duplicate names: %v", err)
	}
	if _, err := external.NewSet([]gatehouse.ExternalIssuer{{Name: "x"}}, external.Options{}); err == nil {
		t.Error("invalid issuer accepted")
	}
	var none *external.Set
	if none.Lookup("okta") != nil || none.ByIssuer(testIss) != nil || none.Issuers() != nil || none.Start(ctx) != nil {
		t.Error("nil set is not empty")
	}
	none.Run(ctx)
}

func TestIssuerOf(t *testing.T) {
	rsa1 := rsaTestKey("rsa-1", rsaKey1())
	b64 := base64.RawURLEncoding.EncodeToString
	unsigned := func(header, payload string) string {
		return b64([]byte(header)) + "." + b64([]byte(payload)) + "." + b64([]byte("sig"))
	}
	tests := []struct {
		name string
		tok  string
		want string
	}{
		{"Signed", sign(t, rsa1, "rsa-1", "JWT", []byte(`{"iss":"https://a.test","sub":"x"}`)), "https://a.test"},
		{"UnverifiedIsEnough", unsigned(`{"alg":"RS256"}`, `{"iss":"https://a.test"}`), "https://a.test"},
		{"NoIss", unsigned(`{"alg":"RS256"}`, `{"sub":"x"}`), ""},
		{"IssNumber", unsigned(`{"alg":"RS256"}`, `{"iss":1}`), ""},
		{"IssNull", unsigned(`{"alg":"RS256"}`, `{"iss":null}`), ""},
		{"DuplicateIss", unsigned(`{"alg":"RS256"}`, `{"iss":"https://a.test","iss":"https://b.test"}`), ""},
		{"PayloadArray", unsigned(`{"alg":"RS256"}`, `["iss"]`), ""},
		{"AlgNone", unsigned(`{"alg":"none"}`, `{"iss":"https://a.test"}`), ""},
		{"ExtraHeader", unsigned(`{"alg":"RS256","jku":"https://evil.test"}`, `{"iss":"https://a.test"}`), ""},
		{"Opaque", "gh_at_0123456789abcdef", ""},
		{"Empty", "", ""},
		{"Dots", strings.Repeat(".", 5000), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := external.IssuerOf(tt.tok); got != tt.want {
				t.Errorf("IssuerOf = %q; want %q", got, tt.want)
			}
		})
	}
}
