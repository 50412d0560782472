package dpop

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"time"
)

// DefaultNoncePeriod is how long one nonce slot lasts. A nonce is accepted in
// its slot and the next, so for one to two periods.
const DefaultNoncePeriod = 5 * time.Minute

// NonceSource issues and checks server nonces (RFC 9449 §8, §9). *Nonces is
// the implementation; the interface lets nodes share a key some other way.
type NonceSource interface {
	// Nonce returns the nonce to send in DPoP-Nonce at now.
	Nonce(now time.Time) string
	// Valid reports whether a proof's nonce is still acceptable at now.
	Valid(nonce string, now time.Time) bool
}

// Nonces issues nonces that rotate every period without storing any: the
// nonce of a time slot is an HMAC of the slot number under a secret key, and
// the current and the previous slot are accepted. Nodes given the same key
// agree on nonces. It is safe for concurrent use.
type Nonces struct {
	key    [32]byte
	period time.Duration
}

// NewNonces returns a nonce source. key must be 32 bytes or nil, for a
// random key (fine for a single node; nonces then do not survive a restart,
// which only costs clients one use_dpop_nonce round trip). period <= 0 means
// DefaultNoncePeriod.
func NewNonces(key []byte, period time.Duration) (*Nonces, error) {
	n := &Nonces{period: period}
	if n.period <= 0 {
		n.period = DefaultNoncePeriod
	}
	switch len(key) {
	case 0:
		if _, err := rand.Read(n.key[:]); err != nil {
			return nil, err
		}
	case len(n.key):
		copy(n.key[:], key)
	default:
		return nil, errors.New("dpop: nonce key must be 32 bytes")
	}
	return n, nil
}

// Nonce returns the nonce of now's slot: 22 base64url characters, which
// RFC 9449 §8.1 (NONCE = 1*NQCHAR) allows.
func (n *Nonces) Nonce(now time.Time) string {
	return base64.RawURLEncoding.EncodeToString(n.mac(n.slot(now)))
}

// Valid reports whether nonce is the nonce of now's slot or of the one
// before.
func (n *Nonces) Valid(nonce string, now time.Time) bool {
	got, err := base64.RawURLEncoding.Strict().DecodeString(nonce)
	if err != nil || len(got) != nonceLen {
		return false
	}
	s := n.slot(now)
	// Both comparisons always run, so timing does not say which slot matched.
	cur := hmac.Equal(got, n.mac(s))
	prev := hmac.Equal(got, n.mac(s-1))
	return cur || prev
}

const nonceLen = 16 // 128 bits: unguessable, and short in a header

func (n *Nonces) slot(now time.Time) int64 {
	s := now.UnixNano() / int64(n.period)
	if now.UnixNano() < 0 && now.UnixNano()%int64(n.period) != 0 {
		s-- // floor, not truncation, for times before 1970
	}
	return s
}

func (n *Nonces) mac(slot int64) []byte {
	m := hmac.New(sha256.New, n.key[:])
	m.Write([]byte("gatehouse dpop nonce v1\x00"))
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], uint64(slot))
	m.Write(b[:])
	return m.Sum(nil)[:nonceLen]
}

var _ NonceSource = (*Nonces)(nil)
