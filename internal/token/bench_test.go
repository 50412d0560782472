package token

import (
	"context"
	"testing"
)

// BenchmarkVerifyCold verifies a new token every time: strict parse, one
// EdDSA signature check, strict claims decoding.
func BenchmarkVerifyCold(b *testing.B) {
	f := newFixture(b)
	f.ver.Cache = nil
	tok := f.mint(b, f.claims())
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := f.ver.Verify(ctx, tok); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkVerifyCached verifies a token seen before: hash, cache lookup,
// expiry and revocation checks. Target: < 2 µs and <= 2 allocations.
func BenchmarkVerifyCached(b *testing.B) {
	f := newFixture(b)
	tok := f.mint(b, f.claims())
	ctx := context.Background()
	if _, err := f.ver.Verify(ctx, tok); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := f.ver.Verify(ctx, tok); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkVerifyCachedParallel(b *testing.B) {
	f := newFixture(b)
	tok := f.mint(b, f.claims())
	ctx := context.Background()
	if _, err := f.ver.Verify(ctx, tok); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := f.ver.Verify(ctx, tok); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

func BenchmarkMintJWT(b *testing.B) {
	f := newFixture(b)
	m := &Minter{Keys: f.keys}
	c := f.claims()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := m.MintJWT(c); err != nil {
			b.Fatal(err)
		}
	}
}
