package gatehouse

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
)

// MinSecretBytes is the least entropy, in bytes, of a secret Gatehouse
// stores with a fast hash: 256 bits.
const MinSecretBytes = 32

// NewSecret returns a random URL-safe string carrying MinSecretBytes of
// entropy, with an optional prefix that makes it recognisable to secret
// scanners (for example "gh_at_").
func NewSecret(prefix string) string {
	b := make([]byte, MinSecretBytes)
	if _, err := rand.Read(b); err != nil {
		panic("gatehouse: crypto/rand failed: " + err.Error()) // never happens on supported platforms
	}
	return prefix + base64.RawURLEncoding.EncodeToString(b)
}

// HashSecret returns the SHA-256 of a high-entropy secret or token. It must
// not be used for passwords people choose: those need argon2id.
func HashSecret(s string) []byte {
	h := sha256.Sum256([]byte(s))
	return h[:]
}

// SecretMatches reports in constant time whether secret hashes to hash.
func SecretMatches(hash []byte, secret string) bool {
	h := sha256.Sum256([]byte(secret))
	return len(hash) == len(h) && subtle.ConstantTimeCompare(hash, h[:]) == 1
}
