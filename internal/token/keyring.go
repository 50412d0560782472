// Package token mints and verifies Gatehouse's tokens: access tokens as RFC
// 9068 JWTs or opaque strings, the signing keys and their rotation, the JWKS,
// the in-memory revocation state and the cache of verified tokens. Both the
// authorization server and the gateway use it in-process, so a token is
// checked with the keys in memory and never with a network hop.
package token

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"sync/atomic"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/internal/jose"
)

// Keyring holds the key that signs and the keys that verify, swapped as one
// immutable snapshot so that readers never see a half-loaded set.
type Keyring struct {
	set atomic.Pointer[keyset]
}

type keyset struct {
	signer    crypto.Signer
	signerKID string
	signerAlg jose.Algorithm
	public    map[string]jose.PublicKey // every published key by kid
	jwks      []byte
}

// PrivateKey is one decrypted signing key handed to Load.
type PrivateKey struct {
	Meta *gatehouse.SigningKey
	DER  []byte // PKCS #8
}

// Load replaces the keyring's content with keys. Exactly one key must be
// current; next and retired keys are published for verification only.
func (k *Keyring) Load(keys []PrivateKey) error {
	ks := &keyset{public: make(map[string]jose.PublicKey, len(keys))}
	type jwk = json.RawMessage
	var published []jwk
	for _, pk := range keys {
		priv, err := x509.ParsePKCS8PrivateKey(pk.DER)
		if err != nil {
			return fmt.Errorf("token: key %s: %w", pk.Meta.ID, err)
		}
		signer, ok := priv.(crypto.Signer)
		if !ok {
			return fmt.Errorf("token: key %s is not a signing key", pk.Meta.ID)
		}
		alg := jose.Algorithm(pk.Meta.Algorithm)
		if err := checkKeyAlg(signer.Public(), alg); err != nil {
			return fmt.Errorf("token: key %s: %w", pk.Meta.ID, err)
		}
		pub := jose.PublicKey{ID: pk.Meta.ID, Alg: alg, Key: signer.Public()}
		ks.public[pub.ID] = pub
		j, err := jose.MarshalJWK(pub)
		if err != nil {
			return fmt.Errorf("token: key %s: %w", pk.Meta.ID, err)
		}
		published = append(published, j)
		if pk.Meta.State == gatehouse.KeyCurrent {
			if ks.signer != nil {
				return fmt.Errorf("token: two current signing keys (%s and %s)", ks.signerKID, pk.Meta.ID)
			}
			ks.signer, ks.signerKID, ks.signerAlg = signer, pk.Meta.ID, alg
		}
	}
	if ks.signer == nil {
		return fmt.Errorf("token: no current signing key")
	}
	jwks, err := json.Marshal(struct {
		Keys []jwk `json:"keys"`
	}{published})
	if err != nil {
		return fmt.Errorf("token: marshal jwks: %w", err)
	}
	ks.jwks = jwks
	k.set.Store(ks)
	return nil
}

// JWKS returns the published key set as JSON (RFC 7517), or nil before Load.
func (k *Keyring) JWKS() []byte {
	if ks := k.set.Load(); ks != nil {
		return ks.jwks
	}
	return nil
}

// PublicKey returns the published key with the given kid.
func (k *Keyring) PublicKey(kid string) (jose.PublicKey, bool) {
	ks := k.set.Load()
	if ks == nil {
		return jose.PublicKey{}, false
	}
	pk, ok := ks.public[kid]
	return pk, ok
}

// SigningKeyID returns the kid of the current signing key, or "".
func (k *Keyring) SigningKeyID() string {
	if ks := k.set.Load(); ks != nil {
		return ks.signerKID
	}
	return ""
}

// Sign signs payload with the current key as a compact JWS of type typ.
func (k *Keyring) Sign(typ string, payload []byte) (string, error) {
	ks := k.set.Load()
	if ks == nil {
		return "", fmt.Errorf("token: no signing key loaded")
	}
	return jose.Sign(ks.signerAlg, ks.signerKID, typ, ks.signer, payload)
}

// GenerateKey makes a new private key for alg and returns it as PKCS #8.
func GenerateKey(alg string) ([]byte, error) {
	var priv any
	var err error
	switch alg {
	case gatehouse.AlgEdDSA:
		_, priv, err = ed25519.GenerateKey(rand.Reader)
	case gatehouse.AlgES256:
		priv, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case gatehouse.AlgRS256, gatehouse.AlgPS256:
		priv, err = rsa.GenerateKey(rand.Reader, 3072)
	default:
		return nil, fmt.Errorf("token: unsupported signing algorithm %q", alg)
	}
	if err != nil {
		return nil, fmt.Errorf("token: generate %s key: %w", alg, err)
	}
	return x509.MarshalPKCS8PrivateKey(priv)
}

func checkKeyAlg(pub crypto.PublicKey, alg jose.Algorithm) error {
	want, err := jose.AlgorithmFor(pub)
	if err != nil {
		return err
	}
	if alg == want {
		return nil
	}
	if _, isRSA := pub.(*rsa.PublicKey); isRSA && alg == jose.PS256 {
		return nil
	}
	return fmt.Errorf("algorithm %s does not fit the key type", alg)
}
