package gatehouse

import "time"

// Signing algorithms Gatehouse can sign access tokens with.
const (
	AlgEdDSA = "EdDSA"
	AlgES256 = "ES256"
	AlgRS256 = "RS256"
	AlgPS256 = "PS256"
)

// MaxLeeway bounds the clock skew tolerated when checking exp, iat and nbf
// (RFC 8725 asks for a small one).
const MaxLeeway = 60 * time.Second

// TokenPolicy is the node-wide token configuration. The zero value of each
// field means the default from DefaultTokenPolicy.
type TokenPolicy struct {
	AccessTokenFormat TokenFormat   // jwt
	AccessTokenTTL    time.Duration // 15m
	// RefreshTokenTTL is the absolute lifetime of a refresh token family.
	RefreshTokenTTL time.Duration // 720h
	// RefreshTokenIdleTTL kills a refresh token unused for that long.
	RefreshTokenIdleTTL time.Duration // 168h
	// RefreshReuseGrace lets a client retry a refresh whose response it lost
	// and get the same successor pair. Zero (the default) allows no retry.
	RefreshReuseGrace time.Duration
	SigningAlgorithm  string        // EdDSA
	KeyRotationPeriod time.Duration // 720h: how long a key signs
	// KeyPrepublish is the least time a new key is published in the JWKS
	// before it starts signing on a scheduled rotation.
	KeyPrepublish time.Duration // 24h
	Leeway        time.Duration // 30s, at most MaxLeeway
	// DPoPNonce makes the token endpoint demand a server nonce in DPoP
	// proofs (RFC 9449 §8). Off by default.
	DPoPNonce bool
}

// DefaultTokenPolicy returns the defaults documented on TokenPolicy.
func DefaultTokenPolicy() TokenPolicy {
	return TokenPolicy{
		AccessTokenFormat:   FormatJWT,
		AccessTokenTTL:      15 * time.Minute,
		RefreshTokenTTL:     30 * 24 * time.Hour,
		RefreshTokenIdleTTL: 7 * 24 * time.Hour,
		SigningAlgorithm:    AlgEdDSA,
		KeyRotationPeriod:   30 * 24 * time.Hour,
		KeyPrepublish:       24 * time.Hour,
		Leeway:              30 * time.Second,
	}
}

// WithDefaults returns p with every zero field set to its default.
func (p TokenPolicy) WithDefaults() TokenPolicy {
	d := DefaultTokenPolicy()
	if p.AccessTokenFormat == "" {
		p.AccessTokenFormat = d.AccessTokenFormat
	}
	if p.AccessTokenTTL == 0 {
		p.AccessTokenTTL = d.AccessTokenTTL
	}
	if p.RefreshTokenTTL == 0 {
		p.RefreshTokenTTL = d.RefreshTokenTTL
	}
	if p.RefreshTokenIdleTTL == 0 {
		p.RefreshTokenIdleTTL = d.RefreshTokenIdleTTL
	}
	if p.SigningAlgorithm == "" {
		p.SigningAlgorithm = d.SigningAlgorithm
	}
	if p.KeyRotationPeriod == 0 {
		p.KeyRotationPeriod = d.KeyRotationPeriod
	}
	if p.KeyPrepublish == 0 {
		p.KeyPrepublish = d.KeyPrepublish
	}
	if p.Leeway == 0 {
		p.Leeway = d.Leeway
	}
	return p
}
