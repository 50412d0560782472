package dpop

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"time"

	"github.com/gatehouse/gatehouse/internal/jose"
)

// The client side of DPoP, for `gatehouse dpop keygen` and `gatehouse dpop
// proof`: a key pair kept as a private JWK, and proofs signed with it. The
// server never uses these; its tests build proofs with go-jose instead, so
// that the two sides are not the same code.

// KeyAlgs are the algorithms GenerateKey and ParsePrivateJWK support.
var KeyAlgs = []jose.Algorithm{jose.ES256, jose.EdDSA}

// Key is a client's DPoP key pair.
type Key struct {
	Alg    jose.Algorithm
	Signer crypto.Signer // *ecdsa.PrivateKey (P-256) or ed25519.PrivateKey
}

// GenerateKey returns a new key for alg (ES256 or EdDSA).
func GenerateKey(alg jose.Algorithm) (*Key, error) {
	switch alg {
	case jose.ES256:
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return nil, err
		}
		return &Key{Alg: alg, Signer: k}, nil
	case jose.EdDSA:
		_, k, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			return nil, err
		}
		return &Key{Alg: alg, Signer: k}, nil
	}
	return nil, fmt.Errorf("dpop: unsupported key algorithm %q; use ES256 or EdDSA", alg)
}

// privateJWK is the stored form of a Key (RFC 7517, RFC 7518 §6.2, RFC 8037).
type privateJWK struct {
	Kty string `json:"kty"`
	Crv string `json:"crv"`
	X   string `json:"x"`
	Y   string `json:"y,omitempty"`
	D   string `json:"d"`
	Alg string `json:"alg"`
}

// MarshalPrivateJWK returns the key as a private JWK. It holds the private
// key: store it like a password.
func (k *Key) MarshalPrivateJWK() ([]byte, error) {
	var j privateJWK
	switch s := k.Signer.(type) {
	case *ecdsa.PrivateKey:
		if k.Alg != jose.ES256 || s.Curve != elliptic.P256() {
			return nil, errors.New("dpop: only P-256 keys with ES256 are supported")
		}
		d, err := s.Bytes()
		if err != nil {
			return nil, err
		}
		pub, err := s.PublicKey.Bytes()
		if err != nil {
			return nil, err
		}
		j = privateJWK{Kty: "EC", Crv: "P-256", X: b64.EncodeToString(pub[1:33]), Y: b64.EncodeToString(pub[33:]), D: b64.EncodeToString(d)}
	case ed25519.PrivateKey:
		if k.Alg != jose.EdDSA {
			return nil, errors.New("dpop: Ed25519 keys sign with EdDSA")
		}
		j = privateJWK{Kty: "OKP", Crv: "Ed25519", X: b64.EncodeToString(s.Public().(ed25519.PublicKey)), D: b64.EncodeToString(s.Seed())}
	default:
		return nil, fmt.Errorf("dpop: unsupported key type %T", k.Signer)
	}
	j.Alg = string(k.Alg)
	return json.MarshalIndent(j, "", "  ")
}

// ParsePrivateJWK reads a key written by MarshalPrivateJWK, or any private
// JWK for P-256 (ES256) or Ed25519 (EdDSA). The JSON is strict (no
// duplicate members); x and y must be the public key of d, so a file whose
// halves do not match is refused rather than signing proofs nobody can
// verify.
func ParsePrivateJWK(data []byte) (*Key, error) {
	var j privateJWK
	if err := jose.DecodeJSON(data, &j); err != nil {
		return nil, fmt.Errorf("dpop: private jwk: %w", err)
	}
	d, err := b64.DecodeString(j.D)
	if err != nil || len(d) == 0 {
		return nil, errors.New("dpop: private jwk: d must be the base64url private key")
	}
	x, err := b64.DecodeString(j.X)
	if err != nil {
		return nil, errors.New("dpop: private jwk: x must be base64url")
	}
	switch {
	case j.Kty == "EC" && j.Crv == "P-256":
		if j.Alg != "" && j.Alg != string(jose.ES256) {
			return nil, fmt.Errorf("dpop: private jwk: a P-256 key signs with ES256, not %q", j.Alg)
		}
		y, err := b64.DecodeString(j.Y)
		if err != nil {
			return nil, errors.New("dpop: private jwk: y must be base64url")
		}
		k, err := ecdsa.ParseRawPrivateKey(elliptic.P256(), d)
		if err != nil {
			return nil, fmt.Errorf("dpop: private jwk: %w", err)
		}
		pub, err := k.PublicKey.Bytes()
		if err != nil {
			return nil, err
		}
		if subtle.ConstantTimeCompare(pub, append(append([]byte{4}, x...), y...)) != 1 {
			return nil, errors.New("dpop: private jwk: x and y are not the public key of d")
		}
		return &Key{Alg: jose.ES256, Signer: k}, nil
	case j.Kty == "OKP" && j.Crv == "Ed25519":
		if j.Alg != "" && j.Alg != string(jose.EdDSA) {
			return nil, fmt.Errorf("dpop: private jwk: an Ed25519 key signs with EdDSA, not %q", j.Alg)
		}
		if len(d) != ed25519.SeedSize {
			return nil, errors.New("dpop: private jwk: an Ed25519 d is 32 bytes")
		}
		k := ed25519.NewKeyFromSeed(d)
		if !bytes.Equal(k.Public().(ed25519.PublicKey), x) {
			return nil, errors.New("dpop: private jwk: x is not the public key of d")
		}
		return &Key{Alg: jose.EdDSA, Signer: k}, nil
	}
	return nil, fmt.Errorf("dpop: private jwk: unsupported key (kty %q, crv %q); expected EC P-256 or OKP Ed25519", j.Kty, j.Crv)
}

// Thumbprint returns the RFC 7638 thumbprint of the public key: the jkt a
// token bound to this key carries, and the dpop_jkt of an authorization
// request (RFC 9449 §10).
func (k *Key) Thumbprint() (string, error) {
	return jose.Thumbprint(jose.PublicKey{Alg: k.Alg, Key: k.Signer.Public()})
}

// Proof returns a DPoP proof (RFC 9449 §4.2) for a request with method to
// target, at now: a fresh jti, htu without query or fragment, ath when
// accessToken is set, nonce when set.
func (k *Key) Proof(method, target, accessToken, nonce string, now time.Time) (string, error) {
	u, err := url.Parse(target)
	if err != nil || !u.IsAbs() || u.Host == "" {
		return "", fmt.Errorf("dpop: %q is not an absolute URL", target)
	}
	u.RawQuery, u.Fragment, u.RawFragment, u.ForceQuery = "", "", "", false
	jwk, err := jose.MarshalJWK(jose.PublicKey{Alg: k.Alg, Key: k.Signer.Public()})
	if err != nil {
		return "", err
	}
	header, err := json.Marshal(struct {
		Typ string          `json:"typ"`
		Alg string          `json:"alg"`
		JWK json.RawMessage `json:"jwk"`
	}{"dpop+jwt", string(k.Alg), jwk})
	if err != nil {
		return "", err
	}
	var jti [16]byte
	if _, err := rand.Read(jti[:]); err != nil {
		return "", err
	}
	c := struct {
		JTI   string `json:"jti"`
		HTM   string `json:"htm"`
		HTU   string `json:"htu"`
		IAT   int64  `json:"iat"`
		ATH   string `json:"ath,omitempty"`
		Nonce string `json:"nonce,omitempty"`
	}{JTI: b64.EncodeToString(jti[:]), HTM: method, HTU: u.String(), IAT: now.Unix(), Nonce: nonce}
	if accessToken != "" {
		sum := sha256.Sum256([]byte(accessToken))
		c.ATH = b64.EncodeToString(sum[:])
	}
	payload, err := json.Marshal(c)
	if err != nil {
		return "", err
	}
	in := b64.EncodeToString(header) + "." + b64.EncodeToString(payload)
	var sig []byte
	switch s := k.Signer.(type) {
	case ed25519.PrivateKey:
		sig = ed25519.Sign(s, []byte(in))
	case *ecdsa.PrivateKey:
		sum := sha256.Sum256([]byte(in))
		r, ss, err := ecdsa.Sign(rand.Reader, s, sum[:])
		if err != nil {
			return "", err
		}
		sig = make([]byte, 64) // RFC 7518 §3.4: r || s, 32 bytes each
		r.FillBytes(sig[:32])
		ss.FillBytes(sig[32:])
	default:
		return "", fmt.Errorf("dpop: unsupported key type %T", k.Signer)
	}
	return in + "." + b64.EncodeToString(sig), nil
}
