package app

import (
	"fmt"
	"time"

	"github.com/gatehouse/gatehouse/internal/dpop"
)

// dpopVerifiers are a node's DPoP proof checkers (RFC 9449): one for the
// token endpoint, and two for the gateway, with and without a required
// nonce. They share one replay cache, bounded in entries and in time, so a
// proof accepted anywhere on the node is never accepted again, and one
// nonce source. The nonce key is random per node: a client that meets
// another node (or a restart) gets one use_dpop_nonce round trip.
type dpopVerifiers struct {
	token, gateway, gatewayNonce *dpop.Verifier
}

func newDPoPVerifiers(tokenNonce bool, now func() time.Time) (*dpopVerifiers, error) {
	nonces, err := dpop.NewNonces(nil, 0)
	if err != nil {
		return nil, fmt.Errorf("dpop nonces: %w", err)
	}
	replay := dpop.NewReplayCache(0)
	mk := func(nonce bool) *dpop.Verifier {
		return &dpop.Verifier{Now: now, Replay: replay, Nonces: nonces, NonceRequired: nonce}
	}
	return &dpopVerifiers{token: mk(tokenNonce), gateway: mk(false), gatewayNonce: mk(true)}, nil
}
