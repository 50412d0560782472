package token

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse"
)

// TestRefusalCarriesClaims: a token we issued that is refused as revoked or
// expired carries its ids for monitoring; a forged or malformed one carries
// nothing.
func TestRefusalCarriesClaims(t *testing.T) {
	ctx := context.Background()
	claimsOf := func(err error) *gatehouse.AccessClaims {
		var ie *InvalidError
		if !errors.As(err, &ie) {
			t.Fatalf("error %v is not an InvalidError", err)
		}
		return ie.Claims
	}
	t.Run("RevokedCached", func(t *testing.T) {
		f := newFixture(t)
		c := f.claims()
		tok := f.mint(t, c)
		if _, err := f.ver.Verify(ctx, tok); err != nil {
			t.Fatal(err)
		}
		f.ver.Revocations.Add(gatehouse.Revocation{TokenID: c.ID, Until: c.ExpiresAt})
		_, err := f.ver.Verify(ctx, tok)
		if got := claimsOf(err); ReasonOf(err) != ReasonRevoked || got == nil || got.ID != c.ID || got.GrantID != "g1" {
			t.Errorf("got %v with claims %+v", err, got)
		}
	})
	t.Run("RevokedUncached", func(t *testing.T) {
		f := newFixture(t)
		f.ver.Cache = nil
		c := f.claims()
		f.ver.Revocations.Add(gatehouse.Revocation{GrantID: "g1", Until: c.ExpiresAt})
		_, err := f.ver.Verify(ctx, f.mint(t, c))
		if got := claimsOf(err); ReasonOf(err) != ReasonRevoked || got == nil || got.ID != c.ID {
			t.Errorf("got %v with claims %+v", err, got)
		}
	})
	t.Run("Expired", func(t *testing.T) {
		f := newFixture(t)
		c := f.claims()
		tok := f.mint(t, c)
		f.now = c.ExpiresAt.Add(time.Hour)
		_, err := f.ver.Verify(ctx, tok)
		if got := claimsOf(err); ReasonOf(err) != ReasonExpired || got == nil || got.ID != c.ID || !got.ExpiresAt.Equal(c.ExpiresAt) {
			t.Errorf("got %v with claims %+v", err, got)
		}
	})
	t.Run("BadSignatureHasNone", func(t *testing.T) {
		f := newFixture(t)
		tok := f.mint(t, f.claims())
		tok = tok[:len(tok)-4] + "AAAA"
		_, err := f.ver.Verify(ctx, tok)
		if got := claimsOf(err); got != nil {
			t.Errorf("forged token refused with claims %+v", got)
		}
	})
}
