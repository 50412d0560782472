package edge

import (
	"context"
	"errors"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/internal/token"
)

// Outcome is what the credential checks concluded about one request, for
// layers outside the chain that watch traffic (anomaly detection, the call
// log). A watcher puts an empty Outcome in the request context with
// WithOutcome before the gateway runs and reads it after; the checks fill
// it in. Without one in the context, the checks record nothing.
type Outcome struct {
	// Claims of the accepted credential; for a refused one, the claims of
	// a token Gatehouse issued that was refused as revoked or expired
	// (token.InvalidError.Claims), else nil.
	Claims *gatehouse.AccessClaims
	APIKey bool
	// Refusal is why the credential was refused; "" when it was accepted
	// or none was checked.
	Refusal token.Reason
}

type outcomeKey struct{}

// WithOutcome returns ctx carrying o for the checks to fill in.
func WithOutcome(ctx context.Context, o *Outcome) context.Context {
	return context.WithValue(ctx, outcomeKey{}, o)
}

func outcomeOf(ctx context.Context) *Outcome {
	o, _ := ctx.Value(outcomeKey{}).(*Outcome)
	return o
}

// noteAccepted records the credential the checks admitted.
func noteAccepted(ctx context.Context, c *gatehouse.AccessClaims, apiKey bool) {
	if o := outcomeOf(ctx); o != nil {
		o.Claims, o.APIKey, o.Refusal = c, apiKey, ""
	}
}

// noteRefused records a credential refused with err.
func noteRefused(ctx context.Context, err error, apiKey bool) {
	o := outcomeOf(ctx)
	if o == nil {
		return
	}
	o.APIKey, o.Refusal = apiKey, token.ReasonOf(err)
	var ie *token.InvalidError
	if errors.As(err, &ie) {
		o.Claims = ie.Claims
	}
}
