// Package password hashes and checks passwords that people choose, with
// argon2id (RFC 9106) in the PHC string format. Secrets that Gatehouse
// generates itself have 256 bits of entropy and use SHA-256 instead; a slow
// hash is only for low-entropy input.
package password

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"sync"
	"unicode/utf8"

	"golang.org/x/crypto/argon2"
)

// Params are argon2id cost parameters. Default follows the OWASP password
// storage recommendation (19 MiB, 2 passes, 1 lane): about 20-40 ms here.
type Params struct {
	Memory  uint32 // KiB
	Time    uint32
	Threads uint8
}

// Default is used for new hashes.
var Default = Params{Memory: 19 * 1024, Time: 2, Threads: 1}

// Limits on what a stored hash may ask for, so a tampered or hostile hash
// cannot make a login burn gigabytes or minutes.
const (
	maxMemory  = 1 << 20 // 1 GiB
	maxTime    = 20
	maxThreads = 16
	saltLen    = 16
	keyLen     = 32
	// MinLength and MaxLength bound passwords people choose, in characters.
	MinLength = 12
	MaxLength = 1024
)

// ErrMalformed is returned for a hash string that is not argon2id PHC.
var ErrMalformed = errors.New("password: malformed argon2id hash")

// Check validates a new password's length (NIST SP 800-63B: length, not
// composition rules).
func Check(pw string) error {
	n := utf8.RuneCountInString(pw)
	switch {
	case !utf8.ValidString(pw):
		return errors.New("password must be valid UTF-8")
	case n < MinLength:
		return fmt.Errorf("password must be at least %d characters", MinLength)
	case n > MaxLength:
		return fmt.Errorf("password must be at most %d characters", MaxLength)
	}
	return nil
}

// Hash returns the argon2id PHC string of pw with a random salt.
func Hash(pw string, p Params) (string, error) {
	salt := make([]byte, saltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("password: salt: %w", err)
	}
	key := argon2.IDKey([]byte(pw), salt, p.Time, p.Memory, p.Threads, keyLen)
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, p.Memory, p.Time, p.Threads,
		base64.RawStdEncoding.EncodeToString(salt), base64.RawStdEncoding.EncodeToString(key)), nil
}

// Verify reports whether pw matches the PHC hash, comparing in constant time.
func Verify(hash, pw string) (bool, error) {
	p, salt, key, err := parse(hash)
	if err != nil {
		return false, err
	}
	got := argon2.IDKey([]byte(pw), salt, p.Time, p.Memory, p.Threads, uint32(len(key)))
	return subtle.ConstantTimeCompare(got, key) == 1, nil
}

// dummy is hashed against when the user does not exist, so that a login
// for an unknown name takes as long as one for a known name.
var dummy = sync.OnceValue(func() string {
	h, _ := Hash("gatehouse-timing-equaliser", Default)
	return h
})

// VerifyDummy spends the time of one Verify and returns false.
func VerifyDummy(pw string) {
	_, _ = Verify(dummy(), pw)
}

func parse(hash string) (Params, []byte, []byte, error) {
	parts := strings.Split(hash, "$")
	if len(parts) != 6 || parts[0] != "" || parts[1] != "argon2id" {
		return Params{}, nil, nil, ErrMalformed
	}
	var v int
	if _, err := fmt.Sscanf(parts[2], "v=%d", &v); err != nil || v != argon2.Version {
		return Params{}, nil, nil, ErrMalformed
	}
	var p Params
	if n, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &p.Memory, &p.Time, &p.Threads); err != nil || n != 3 {
		return Params{}, nil, nil, ErrMalformed
	}
	if p.Memory < 8*uint32(p.Threads) || p.Memory > maxMemory || p.Time < 1 || p.Time > maxTime || p.Threads < 1 || p.Threads > maxThreads {
		return Params{}, nil, nil, fmt.Errorf("%w: parameters out of range", ErrMalformed)
	}
	salt, err := base64.RawStdEncoding.Strict().DecodeString(parts[4])
	if err != nil || len(salt) < 8 {
		return Params{}, nil, nil, ErrMalformed
	}
	key, err := base64.RawStdEncoding.Strict().DecodeString(parts[5])
	if err != nil || len(key) < 16 || len(key) > 64 {
		return Params{}, nil, nil, ErrMalformed
	}
	return p, salt, key, nil
}

// Valid reports whether hash is an argon2id PHC string this package can
// verify, with parameters inside the accepted bounds.
func Valid(hash string) error {
	_, _, _, err := parse(hash)
	return err
}
