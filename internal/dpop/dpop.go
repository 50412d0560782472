// Package dpop verifies DPoP proofs (RFC 9449): the signed JWT a client sends
// in the DPoP header to prove it holds the private key an access token is
// bound to. The token endpoint verifies one before issuing a DPoP-bound token
// (cnf.jkt = Proof.Thumbprint, RFC 9449 §6.1); the gateway verifies one with
// every request that presents such a token, passing the token so that the
// proof's ath is checked, and then compares Proof.Thumbprint with the token's
// cnf.jkt (RFC 9449 §7.1).
//
// A proof carries its own key in the "jwk" header, which jose.Parse refuses
// on purpose, so this package splits and reads the header itself, with the
// same strictness, and reuses jose for the key, JSON and thumbprint.
package dpop

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"math"
	"strconv"
	"sync"
	"time"

	"github.com/gatehouse/gatehouse/internal/jose"
)

// Defaults for the zero values of Verifier's fields.
const (
	DefaultIatWindow    = 60 * time.Second
	DefaultLeeway       = 5 * time.Second
	DefaultMaxProofSize = 4096
	maxJTILen           = 64
)

// DefaultAllowedAlgs are the proof algorithms accepted when
// Verifier.AllowedAlgs is empty: asymmetric only (RFC 9449 §4.3 step 5).
var DefaultAllowedAlgs = []jose.Algorithm{jose.ES256, jose.EdDSA, jose.RS256, jose.PS256}

// Verifier checks DPoP proofs. Every field's zero value means the documented
// default. Fields must not change once Verify has been called; a Verifier is
// then safe for concurrent use and must not be copied.
type Verifier struct {
	// AllowedAlgs lists the accepted proof algorithms; empty means
	// DefaultAllowedAlgs. "none" and HMAC algorithms are refused whatever it
	// says.
	AllowedAlgs []jose.Algorithm
	// IatWindow is how old a proof may be: iat >= now - IatWindow. Zero means
	// DefaultIatWindow (60 s).
	IatWindow time.Duration
	// Leeway is how far in the future iat may be, for clock skew: iat <= now
	// + Leeway. Zero means DefaultLeeway (5 s).
	Leeway time.Duration
	// MaxProofSize caps the proof in bytes, checked before anything is
	// decoded. Zero means DefaultMaxProofSize (4 KiB); it is never more than
	// jose.MaxTokenSize.
	MaxProofSize int
	// Now returns the current time; nil means time.Now.
	Now func() time.Time
	// Replay remembers accepted (key, jti) pairs. Nil means a cache of
	// DefaultReplayCapacity private to this Verifier: replay protection is
	// never off. Share one cache between the Verifiers of one node; several
	// nodes need a shared store, or a nonce, to stop a proof replayed to
	// another node.
	Replay *ReplayCache
	// NonceRequired makes a proof without a valid nonce from Nonces fail
	// with CodeUseNonce (RFC 9449 §8, §9). It needs Nonces.
	NonceRequired bool
	// Nonces issues and checks nonces. When set and a proof carries a nonce,
	// the nonce must be valid even if NonceRequired is false.
	Nonces NonceSource

	once    sync.Once
	replay  *ReplayCache
	headers *headerCache
}

// Proof is what a verified proof establishes.
type Proof struct {
	Thumbprint string    // RFC 7638 SHA-256 thumbprint of the proof's key: the token's cnf.jkt
	JTI        string    // the proof's unique identifier
	IssuedAt   time.Time // iat
	Nonce      string    // the server nonce, empty if none

	until time.Time // set by CheckAny: how long the proof stays acceptable
}

// Verify checks a DPoP proof for a request with this method and target URI
// (absolute: scheme, host, path; a query and fragment are ignored), following
// RFC 9449 §4.3:
//   - the proof is at most MaxProofSize bytes, a compact JWS of exactly three
//     canonical base64url segments (steps 1, 2);
//   - the header has exactly typ "dpop+jwt", an allowed asymmetric alg and a
//     public jwk whose key type fits alg, and nothing else: kid, crit, x5c and
//     the like are refused (steps 4 to 7, RFC 8725 §3.10);
//   - the signature verifies with that jwk (step 8);
//   - the claims are strict JSON with jti (1 to 64 bytes), htm equal to
//     method, htu equal to the request URI once both are normalised (step 9,
//     see normalizeHTU), and iat within [now-IatWindow, now+Leeway]
//     (steps 3, 9, 11, 12);
//   - when accessToken is not empty, ath equals base64url(SHA-256(
//     accessToken)), compared in constant time (step 10, §7.1); binding the
//     token to Proof.Thumbprint (cnf.jkt) is the caller's job;
//   - with NonceRequired, the nonce is valid, else the error has CodeUseNonce
//     and a fresh nonce (§8, §9);
//   - the (thumbprint, jti) pair was not accepted before (§11.1). It is
//     recorded only when every other check has passed.
//
// Errors are *Error. A misconfigured Verifier (NonceRequired without Nonces)
// returns a plain error, which is the server's fault, not the client's.
func (v *Verifier) Verify(proof, method, htu, accessToken string) (*Proof, error) {
	return v.VerifyAny(proof, method, []string{htu}, accessToken)
}

// VerifyAny is Verify for a request that may be named by any of several
// URIs: the proof's htu must match one of htus. The token endpoint uses it
// to accept both the endpoint its metadata advertises and the URL the
// request actually came in on.
func (v *Verifier) VerifyAny(proof, method string, htus []string, accessToken string) (*Proof, error) {
	p, err := v.CheckAny(proof, method, htus, accessToken)
	if err != nil {
		return nil, err
	}
	if err := v.Use(p); err != nil {
		return nil, err
	}
	return p, nil
}

// CheckAny is VerifyAny without the last step: every check passes, but the
// (thumbprint, jti) pair is neither looked up nor recorded, so the proof can
// still be accepted once. A caller that must first see who sends the proof
// (the token endpoint authenticates the client after checking the proof,
// so that a use_dpop_nonce round trip does not consume a client
// assertion) calls Use once that has succeeded, and only then relies on
// the proof: a request that fails before Use does not use the proof up,
// nor fill the replay cache.
func (v *Verifier) CheckAny(proof, method string, htus []string, accessToken string) (*Proof, error) {
	if v.NonceRequired && v.Nonces == nil {
		return nil, errors.New("dpop: NonceRequired without Nonces")
	}
	now := time.Now
	if v.Now != nil {
		now = v.Now
	}
	t := now()

	c, perr := parseCompact(proof, v.maxSize(), v.allowed(), v.headerCache())
	if perr != nil {
		return nil, perr
	}
	if !verifySignature(c.hdr.alg, c.hdr.key.Key, c.signingInput, c.signature) {
		return nil, invalid("proof signature does not verify")
	}

	cl, cerr := parseClaims(c.payload)
	if cerr != nil {
		return nil, cerr
	}
	if cl.htm != method {
		return nil, invalid("proof htm does not match the request method")
	}
	got, ok := normalizeHTU(cl.htu)
	if !ok {
		return nil, invalid("proof htu does not match the request uri")
	}
	matched, checkable := false, false
	for _, htu := range htus {
		if want, ok := normalizeHTU(htu); ok {
			checkable = true
			matched = matched || got == want
		}
	}
	switch {
	case !checkable:
		return nil, invalid("request uri cannot be checked")
	case !matched:
		return nil, invalid("proof htu does not match the request uri")
	}
	window, leeway := v.window()
	if cl.iat.Before(t.Add(-window)) {
		return nil, invalid("proof is too old")
	}
	if cl.iat.After(t.Add(leeway)) {
		return nil, invalid("proof iat is in the future")
	}
	if accessToken != "" {
		if !cl.hasAth {
			return nil, invalid("proof has no ath for the access token")
		}
		sum := sha256.Sum256([]byte(accessToken))
		var exp [43]byte
		base64.RawURLEncoding.Encode(exp[:], sum[:])
		if subtle.ConstantTimeCompare([]byte(cl.ath), exp[:]) != 1 {
			return nil, invalid("proof ath does not match the access token")
		}
	}
	if v.Nonces != nil && (v.NonceRequired || cl.nonce != "") {
		if cl.nonce == "" || !v.Nonces.Valid(cl.nonce, t) {
			msg := "proof needs a server nonce"
			if cl.nonce != "" {
				msg = "proof nonce is not valid"
			}
			return nil, &Error{Code: CodeUseNonce, Message: msg, Nonce: v.Nonces.Nonce(t)}
		}
	}

	// The proof stays acceptable until iat + window; Use remembers it that
	// long.
	return &Proof{Thumbprint: c.hdr.thumb, JTI: cl.jti, IssuedAt: cl.iat, Nonce: cl.nonce, until: cl.iat.Add(window)}, nil
}

// Use records that a proof returned by CheckAny was accepted (RFC 9449
// §11.1). It fails with ErrReplayed if the proof's (thumbprint, jti) pair
// was accepted before, and with ErrReplayCacheFull if the replay cache has
// no room; the caller must then refuse the request. A Proof not made by
// CheckAny is refused.
func (v *Verifier) Use(p *Proof) error {
	if p == nil || p.until.IsZero() {
		return errors.New("dpop: Use of a proof CheckAny did not return")
	}
	now := time.Now
	if v.Now != nil {
		now = v.Now
	}
	if err := v.cache().Use(p.Thumbprint, p.JTI, p.until, now()); err != nil {
		msg := "proof was already used"
		if errors.Is(err, ErrReplayCacheFull) {
			msg = "server busy; retry later"
		}
		return invalidCause(msg, err)
	}
	return nil
}

// NextNonce returns the nonce a response to an accepted proof should carry
// in DPoP-Nonce (RFC 9449 §8.2, §9): the current one when nonces are
// required and the proof used an older one, so that a client switches
// before its nonce expires instead of paying a use_dpop_nonce round trip.
// Otherwise "".
func (v *Verifier) NextNonce(p *Proof) string {
	if !v.NonceRequired || v.Nonces == nil {
		return ""
	}
	now := time.Now
	if v.Now != nil {
		now = v.Now
	}
	if cur := v.Nonces.Nonce(now()); cur != p.Nonce {
		return cur
	}
	return ""
}

func (v *Verifier) maxSize() int {
	if v.MaxProofSize <= 0 {
		return DefaultMaxProofSize
	}
	return min(v.MaxProofSize, jose.MaxTokenSize)
}

func (v *Verifier) allowed() []jose.Algorithm {
	if len(v.AllowedAlgs) == 0 {
		return DefaultAllowedAlgs
	}
	return v.AllowedAlgs
}

func (v *Verifier) window() (past, future time.Duration) {
	past, future = v.IatWindow, v.Leeway
	if past <= 0 {
		past = DefaultIatWindow
	}
	if future <= 0 {
		future = DefaultLeeway
	}
	return past, future
}

func (v *Verifier) cache() *ReplayCache {
	if v.Replay != nil {
		return v.Replay
	}
	v.init()
	return v.replay
}

func (v *Verifier) headerCache() *headerCache {
	v.init()
	return v.headers
}

func (v *Verifier) init() {
	v.once.Do(func() {
		if v.Replay == nil {
			v.replay = NewReplayCache(0)
		}
		v.headers = &headerCache{m: make(map[string]*header)}
	})
}

// claims are the proof's claims we act on (RFC 9449 §4.2).
type claims struct {
	jti, htm, htu string
	iat           time.Time
	ath           string
	hasAth        bool
	nonce         string
}

// parseClaims reads the claims set. Like the header it is strict JSON
// (jose.Members: no duplicate members, valid UTF-8) with member names
// matched exactly; claims we do not know are ignored, as RFC 7519 §4 asks.
func parseClaims(data []byte) (claims, *Error) {
	var c claims
	ms, err := jose.Members(data, "proof claims")
	if err != nil {
		return c, invalidCause("proof claims are not a strict json object", err)
	}
	var hasJTI, hasHTM, hasHTU, hasIat bool
	for _, m := range ms {
		var ok bool
		switch m.Name {
		case "jti":
			if c.jti, ok = str(m.Raw); !ok || c.jti == "" {
				return c, invalid("proof needs a jti string")
			}
			hasJTI = true
		case "htm":
			if c.htm, ok = str(m.Raw); !ok {
				return c, invalid("proof needs an htm string")
			}
			hasHTM = true
		case "htu":
			if c.htu, ok = str(m.Raw); !ok {
				return c, invalid("proof needs an htu string")
			}
			hasHTU = true
		case "iat":
			if c.iat, ok = numericDate(m.Raw); !ok {
				return c, invalid("proof iat must be a number of seconds")
			}
			hasIat = true
		case "ath":
			if c.ath, ok = str(m.Raw); !ok {
				return c, invalid("proof ath must be a string")
			}
			c.hasAth = true
		case "nonce":
			if c.nonce, ok = str(m.Raw); !ok || c.nonce == "" {
				return c, invalid("proof nonce must be a non-empty string")
			}
		}
	}
	switch {
	case !hasJTI:
		return c, invalid("proof needs a jti string")
	case len(c.jti) > maxJTILen:
		return c, invalid("proof jti is longer than 64 bytes")
	case !hasHTM:
		return c, invalid("proof needs an htm string")
	case !hasHTU:
		return c, invalid("proof needs an htu string")
	case !hasIat:
		return c, invalid("proof needs an iat")
	}
	return c, nil
}

// str decodes a JSON string member.
func str(raw []byte) (string, bool) {
	s, err := jose.String(raw, "proof claim")
	return s, err == nil
}

// numericDate reads a JSON number of seconds since the epoch (RFC 7519 §2),
// fractions allowed, within years 1970 to about 5138.
func numericDate(raw json.RawMessage) (time.Time, bool) {
	if len(raw) == 0 || (raw[0] != '-' && (raw[0] < '0' || raw[0] > '9')) {
		return time.Time{}, false
	}
	f, err := strconv.ParseFloat(string(raw), 64)
	if err != nil || math.IsNaN(f) || f < 0 || f > 1e11 {
		return time.Time{}, false
	}
	sec, frac := math.Modf(f)
	return time.Unix(int64(sec), int64(frac*1e9)), true
}
