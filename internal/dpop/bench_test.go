package dpop

import (
	"strconv"
	"testing"
	"time"

	gojose "github.com/go-jose/go-jose/v4"
)

// BenchmarkVerify measures what the gateway pays per DPoP request: a fresh
// proof with ath, checked and recorded in the replay cache. Proofs are made
// before the timer starts, each with its own jti, so that none is a replay.
func BenchmarkVerify(b *testing.B) {
	for _, alg := range []gojose.SignatureAlgorithm{gojose.ES256, gojose.EdDSA} {
		b.Run(string(alg), func(b *testing.B) {
			k := newKey(b, alg)
			const n = 1024
			proofs := make([]string, n)
			for i := range proofs {
				proofs[i] = makeProof(b, k, proofOpts{claims: map[string]any{"jti": "bench-" + strconv.Itoa(i), "ath": ath(testToken)}})
			}
			v := &Verifier{Now: func() time.Time { return testNow }}
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; b.Loop(); i++ {
				if i%n == 0 {
					// Every n proofs, start a fresh cache (not timed) so the
					// same proofs are new again.
					b.StopTimer()
					v.Replay = NewReplayCache(0)
					b.StartTimer()
				}
				if _, err := v.Verify(proofs[i%n], "POST", testHTU, testToken); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
