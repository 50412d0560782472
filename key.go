package gatehouse

import "time"

// KeyState is where a signing key is in its life.
type KeyState string

const (
	// KeyNext is published in the JWKS but does not sign yet, so that
	// verifiers learn it before the first token it signs.
	KeyNext KeyState = "next"
	// KeyCurrent signs new tokens. There is exactly one.
	KeyCurrent KeyState = "current"
	// KeyRetired no longer signs but stays published until every token it
	// signed has expired (RetireAfter).
	KeyRetired KeyState = "retired"
)

// SigningKey is one of Gatehouse's token signing keys.
type SigningKey struct {
	ID        string // kid
	Algorithm string // EdDSA, ES256, RS256 or PS256
	State     KeyState
	// PrivateKey is the PKCS #8 DER encoding of the private key, encrypted at
	// rest by the store's owner (see internal/app); never logged.
	PrivateKey  []byte
	CreatedAt   time.Time // published from
	ActivatedAt time.Time // started signing; zero for a next key
	RetiredAt   time.Time // stopped signing; zero unless retired
	// RemoveAfter is when a retired key may leave the JWKS: RetiredAt plus
	// the longest token lifetime and leeway.
	RemoveAfter time.Time
}
