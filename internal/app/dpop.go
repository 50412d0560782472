package app

import (
	"crypto/hkdf"
	"crypto/sha256"
	"fmt"
	"time"

	"github.com/gatehouse/gatehouse/internal/dpop"
)

// dpopVerifiers are a node's DPoP proof checkers (RFC 9449): one for the
// token endpoint, and two for the gateway, with and without a required
// nonce. The gateway's two share one replay cache, bounded in entries and
// in time, so a proof accepted there is never accepted again; the token
// endpoint has its own, so that proofs sent to it (which anyone can send,
// with any jti, up to client authentication) cannot fill the gateway's and
// refuse every API call. A proof cannot cross between the two anyway: its
// htu names either the token endpoint or an API, and a gateway proof
// carries the ath of its access token. All share one nonce source. The nonce key is derived from the master key, so nodes that
// share it (GATEHOUSE_MASTER_KEY) agree on nonces, and a restart does not
// invalidate the nonces clients hold.
type dpopVerifiers struct {
	token, gateway, gatewayNonce *dpop.Verifier
}

func newDPoPVerifiers(masterKey []byte, tokenNonce bool, now func() time.Time) (*dpopVerifiers, error) {
	key, err := hkdf.Key(sha256.New, masterKey, nil, "gatehouse dpop nonce v1", 32)
	if err != nil {
		return nil, fmt.Errorf("derive dpop nonce key: %w", err)
	}
	nonces, err := dpop.NewNonces(key, 0)
	if err != nil {
		return nil, fmt.Errorf("dpop nonces: %w", err)
	}
	gatewayReplay, tokenReplay := dpop.NewReplayCache(0), dpop.NewReplayCache(0)
	mk := func(replay *dpop.ReplayCache, nonce bool) *dpop.Verifier {
		return &dpop.Verifier{Now: now, Replay: replay, Nonces: nonces, NonceRequired: nonce}
	}
	return &dpopVerifiers{token: mk(tokenReplay, tokenNonce), gateway: mk(gatewayReplay, false), gatewayNonce: mk(gatewayReplay, true)}, nil
}
