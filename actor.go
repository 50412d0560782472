package gatehouse

// Actor is one link of a delegation chain (RFC 8693 section 4.1, the "act"
// claim): Subject acted on behalf of the token's subject, and Actor, when
// set, is who had acted before it. The outermost Actor is the current
// actor: the client that made the latest token exchange.
type Actor struct {
	Subject string
	Actor   *Actor
}

// MaxActorDepth bounds a delegation chain. Gatehouse refuses to exchange a
// token whose chain is already this long, and its verifier refuses a token
// that claims a longer one.
const MaxActorDepth = 8

// Chain returns the actors' subjects, the current actor first.
func (a *Actor) Chain() []string {
	var out []string
	for x := a; x != nil; x = x.Actor {
		out = append(out, x.Subject)
	}
	return out
}

// Depth is the number of links in the chain (0 for nil).
func (a *Actor) Depth() int {
	n := 0
	for x := a; x != nil; x = x.Actor {
		n++
	}
	return n
}

// Equal reports whether two chains are the same.
func (a *Actor) Equal(b *Actor) bool {
	for a != nil && b != nil {
		if a.Subject != b.Subject {
			return false
		}
		a, b = a.Actor, b.Actor
	}
	return a == nil && b == nil
}
