package edge

import (
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/internal/token"
)

// Identity headers sent upstream when an API asks for them. The gateway
// removes any client-supplied header of the same name first.
const (
	HeaderClientID  = "X-Gatehouse-Client-Id"
	HeaderSubject   = "X-Gatehouse-Subject"
	HeaderScopes    = "X-Gatehouse-Scopes"
	HeaderRequestID = "X-Gatehouse-Request-Id"
	// HeaderIssuer says who vouched for the identity: Gatehouse itself or
	// an external identity provider, whose client ids are its own.
	HeaderIssuer = "X-Gatehouse-Issuer"
	// HeaderActor is the delegation chain of an exchanged token (RFC 8693
	// act): the client ids that acted, the latest first, comma-separated.
	HeaderActor = "X-Gatehouse-Actor"
)

// upstreamTokenTTL is the life of a token minted for an upstream: short,
// since it is never revoked individually.
const upstreamTokenTTL = 60 * time.Second

// Upstream decides what replaces the client's credential on the way to the
// upstream: identity headers, a token minted for that upstream alone, and a
// static credential. The client's Authorization header itself never goes.
type Upstream struct {
	Info   func(r *http.Request) (RequestInfo, bool)
	Minter *token.Minter
	Issuer string
	Now    func() time.Time

	mu    sync.Mutex
	cache map[mintKey]minted
}

// mintKey identifies the caller's token fully: jti alone can repeat across
// issuers (or within a careless one).
type mintKey struct{ issuer, jti, subject, clientID, audience string }

type minted struct {
	tok string
	exp time.Time
}

// maxMinted bounds the minted-token cache.
const maxMinted = 50000

func (u *Upstream) now() time.Time {
	if u.Now != nil {
		return u.Now()
	}
	return time.Now()
}

// Headers sets the upstream request's credential headers. It is called after
// the client's Authorization header was removed.
func (u *Upstream) Headers(r *http.Request, out http.Header) error {
	// A client must not be able to forge them. The names are canonical, so
	// a plain delete does what Header.Del does without canonicalising each.
	for _, h := range identityHeaders {
		delete(out, h)
	}
	info, ok := u.Info(r)
	if !ok {
		return nil
	}
	ua := info.API.UpstreamAuth
	claims := claimsOf(r, info)
	if ua.IdentityHeaders {
		// One backing array for the values: this runs on every request.
		vals := make([]string, 0, len(identityHeaders))
		set := func(k, v string) {
			vals = append(vals, v)
			out[k] = vals[len(vals)-1 : len(vals) : len(vals)]
		}
		set(HeaderRequestID, info.RequestID)
		if claims != nil {
			set(HeaderClientID, claims.ClientID)
			set(HeaderSubject, claims.Subject)
			set(HeaderScopes, strings.Join(claims.Scopes, " "))
			set(HeaderIssuer, claims.Issuer)
			if claims.Act != nil {
				set(HeaderActor, strings.Join(claims.Act.Chain(), ","))
			}
		}
	}
	if ua.MintToken && claims != nil {
		tok, err := u.mint(claims, ua.MintAudience)
		if err != nil {
			return err
		}
		out["Authorization"] = []string{"Bearer " + tok}
	}
	if ua.StaticHeader != "" {
		out.Set(ua.StaticHeader, ua.StaticValue)
	}
	return nil
}

// identityHeaders are the names Headers owns, in canonical form.
var identityHeaders = [...]string{HeaderClientID, HeaderSubject, HeaderScopes, HeaderRequestID, HeaderIssuer, HeaderActor}

// mint returns a token for audience carrying the caller's identity, reused
// while it has more than half its life left so that signing stays off the
// hot path of a client that calls often.
func (u *Upstream) mint(c *gatehouse.AccessClaims, audience string) (string, error) {
	now := u.now()
	k := mintKey{c.Issuer, c.ID, c.Subject, c.ClientID, audience}
	u.mu.Lock()
	if m, ok := u.cache[k]; ok && m.exp.Sub(now) > upstreamTokenTTL/2 {
		u.mu.Unlock()
		return m.tok, nil
	}
	u.mu.Unlock()
	iat := now.Truncate(time.Second)
	exp := iat.Add(upstreamTokenTTL)
	if c.ExpiresAt.Before(exp) {
		exp = c.ExpiresAt // never outlive the client's token
	}
	tok, err := u.Minter.MintJWT(&gatehouse.AccessClaims{
		Issuer: u.Issuer, Subject: c.Subject, Audience: audience, ClientID: c.ClientID,
		Scopes: c.Scopes, ID: token.NewID(), GrantID: c.GrantID, IssuedAt: iat, ExpiresAt: exp, Act: c.Act,
	})
	if err != nil {
		return "", err
	}
	u.mu.Lock()
	if u.cache == nil || len(u.cache) >= maxMinted {
		u.cache = make(map[mintKey]minted)
	}
	u.cache[k] = minted{tok, exp}
	u.mu.Unlock()
	return tok, nil
}
