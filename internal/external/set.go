package external

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/internal/jose"
	"github.com/gatehouse/gatehouse/internal/token"
)

// Set holds the configured external issuers by name. It is immutable once
// built and safe for concurrent use; a nil *Set holds none.
type Set struct {
	byName map[string]*Issuer
	byIss  map[string][]*Issuer
	all    []*Issuer // by name
}

// NewSet builds one Issuer per configuration, all with the same options
// (one Cache may serve them all). Names must be unique.
func NewSet(cfgs []gatehouse.ExternalIssuer, opts Options) (*Set, error) {
	s := &Set{byName: make(map[string]*Issuer, len(cfgs)), byIss: make(map[string][]*Issuer, len(cfgs))}
	for _, cfg := range cfgs {
		if _, dup := s.byName[cfg.Name]; dup {
			return nil, fmt.Errorf("external: two issuers named %q", cfg.Name)
		}
		i, err := New(cfg, opts)
		if err != nil {
			return nil, err
		}
		s.byName[i.name] = i
		s.all = append(s.all, i)
	}
	slices.SortFunc(s.all, func(a, b *Issuer) int { return strings.Compare(a.name, b.name) })
	for _, i := range s.all {
		s.byIss[i.iss] = append(s.byIss[i.iss], i)
	}
	return s, nil
}

// Lookup returns the issuer called name, or nil.
func (s *Set) Lookup(name string) *Issuer {
	if s == nil {
		return nil
	}
	return s.byName[name]
}

// ByIssuer returns the issuers whose configured iss is exactly iss, by
// name: usually one, several when one provider serves APIs with different
// audiences. The slice is shared and must not be modified.
func (s *Set) ByIssuer(iss string) []*Issuer {
	if s == nil || iss == "" {
		return nil
	}
	return s.byIss[iss]
}

// Issuers returns every issuer, by name. The slice is shared and must not
// be modified.
func (s *Set) Issuers() []*Issuer {
	if s == nil {
		return nil
	}
	return s.all
}

// Start fetches every issuer's key set concurrently and returns their
// errors joined, for the log: issuers whose fetch failed refuse their
// tokens until Run fetches successfully, and the others work meanwhile.
func (s *Set) Start(ctx context.Context) error {
	if s == nil {
		return nil
	}
	errs := make([]error, len(s.all))
	var wg sync.WaitGroup
	for n, i := range s.all {
		wg.Go(func() {
			if err := i.Start(ctx); err != nil {
				errs[n] = fmt.Errorf("external issuer %q: %w", i.name, err)
			}
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

// Run runs every issuer's refresh loop until ctx ends, and returns when
// they all have.
func (s *Set) Run(ctx context.Context) {
	if s == nil {
		return
	}
	var wg sync.WaitGroup
	for _, i := range s.all {
		wg.Go(func() { i.Run(ctx) })
	}
	wg.Wait()
}

// Verify verifies tok with the issuers called names (an API's
// ExternalIssuers; unknown names are skipped), the way the gateway needs it:
// first the cache of each, which costs one SHA-256 of the token and no
// parsing, then routing by the token's unverified iss (IssuerOf) to the
// named issuers configured with that iss, in the order of names. It
// returns the issuer that accepted the token. A token whose iss matches
// none of them is refused with token.ReasonIssuer; when several match
// (one provider, several audiences) and all refuse, the first refusal is
// returned. Errors are as for Issuer.Verify.
func (s *Set) Verify(ctx context.Context, tok string, names []string) (*gatehouse.AccessClaims, *Issuer, error) {
	if len(tok) == 0 || len(tok) > jose.MaxTokenSize {
		return nil, nil, invalid(token.ReasonMalformed, "token length %d", len(tok))
	}
	h := token.Key(tok)
	for _, name := range names {
		if i := s.Lookup(name); i != nil {
			if c, ok := i.cached(i.keys.Load(), &h, i.now()); ok {
				return c, i, nil
			}
		}
	}
	iss := IssuerOf(tok)
	if iss == "" {
		return nil, nil, invalid(token.ReasonMalformed, "not a jwt with an iss claim")
	}
	var first error
	for _, name := range names {
		i := s.Lookup(name)
		if i == nil || i.iss != iss {
			continue
		}
		c, err := i.verify(ctx, tok, &h)
		if err == nil {
			return c, i, nil
		}
		if token.ReasonOf(err) == "" {
			return nil, nil, err
		}
		if first == nil {
			first = err
		}
	}
	if first == nil {
		return nil, nil, invalid(token.ReasonIssuer, "issuer %s not accepted here", quote(iss))
	}
	return nil, nil, first
}

// quote quotes an untrusted value for a log, cut short.
func quote(s string) string {
	if len(s) > 64 {
		return strconv.Quote(s[:64]) + "..."
	}
	return strconv.Quote(s)
}

// IssuerOf returns the unverified iss of a JWT, "" if tok is not a strict
// compact JWS (see jose.Parse) whose payload is a strict JSON object with a
// string iss. It exists to route a token to its verifier (ByIssuer, or
// Gatehouse's own) and must never be used to trust anything: the Issuer's
// Verify checks iss again, exactly, after the signature. Duplicate claims
// are refused here as there, so both read the same iss.
func IssuerOf(tok string) string {
	jws, err := jose.Parse(tok)
	if err != nil {
		return ""
	}
	var c struct {
		Iss *string `json:"iss"`
	}
	if jose.DecodeJSON(jws.Payload, &c) != nil || c.Iss == nil {
		return ""
	}
	return *c.Iss
}
