package external_test

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/internal/external"
	"github.com/gatehouse/gatehouse/internal/token"
)

// BenchmarkVerifyCold verifies a token never seen: strict parse, one
// signature check, strict claims decoding.
func BenchmarkVerifyCold(b *testing.B) {
	for _, k := range []testKey{rsaTestKey("rsa-1", rsaKey1()), ecTestKey("ec-1")} {
		b.Run(string(k.alg), func(b *testing.B) {
			f := newFixture(b, setup{keys: []testKey{k}})
			tok := mint(b, k, f.claims())
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				if _, err := f.iss.Verify(ctx, tok); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkVerifyCached verifies a token seen before: two hashes and a
// cache lookup.
func BenchmarkVerifyCached(b *testing.B) {
	k := rsaTestKey("rsa-1", rsaKey1())
	f := newFixture(b, setup{keys: []testKey{k}, opts: func(o *external.Options) { o.Cache = token.NewCache(1000) }})
	tok := mint(b, k, f.claims())
	ctx := context.Background()
	if _, err := f.iss.Verify(ctx, tok); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := f.iss.Verify(ctx, tok); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSetVerifyCached is the gateway's path for a token seen before:
// one hash, then a salted hash and a lookup per candidate issuer; no
// routing by iss.
func BenchmarkSetVerifyCached(b *testing.B) {
	k := rsaTestKey("rsa-1", rsaKey1())
	idp := newIdP(b, k)
	cfg := func(name string) gatehouse.ExternalIssuer {
		return gatehouse.ExternalIssuer{Name: name, Issuer: testIss, Audience: testAud, JWKSURI: idp.url(), Algorithms: []string{"RS256"}}
	}
	set, err := external.NewSet([]gatehouse.ExternalIssuer{cfg("a"), cfg("b")}, external.Options{Cache: token.NewCache(1000), Log: slog.New(slog.DiscardHandler)})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	if err := set.Start(ctx); err != nil {
		b.Fatal(err)
	}
	now := time.Now()
	tok := mint(b, k, claims{{"iss", str(testIss)}, {"aud", str(testAud)}, {"exp", num(now.Add(time.Hour))}})
	names := []string{"a", "b"}
	if _, by, err := set.Verify(ctx, tok, names); err != nil || by.Name() != "a" {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := set.Verify(ctx, tok, names); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkIssuerOf is the routing step on a cache miss.
func BenchmarkIssuerOf(b *testing.B) {
	k := rsaTestKey("rsa-1", rsaKey1())
	f := newFixture(b, setup{keys: []testKey{k}})
	tok := mint(b, k, f.claims())
	b.ReportAllocs()
	for b.Loop() {
		if external.IssuerOf(tok) != testIss {
			b.Fatal("wrong iss")
		}
	}
}
