// Package external accepts JWT access tokens minted by identity providers
// that users already run (Keycloak, Auth0, Okta, Entra ID, another
// Gatehouse), verified as strictly as Gatehouse's own tokens.
//
// Each configured provider is an Issuer. It fetches the provider's JWKS in
// the background (Start, then Run) and keeps the last good key set as an
// immutable snapshot; a token signed with a kid it does not know triggers at
// most one extra fetch per MinRefetch, which is how key rotation at the
// provider is picked up without a restart. Verify refuses with the same
// *token.InvalidError reasons as token.Verifier, so the gateway treats both
// kinds of tokens alike.
//
// What is checked per request and not here: revocation (by the returned ID),
// the route's scopes, and sender constraints.
package external

import (
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/internal/jose"
	"github.com/gatehouse/gatehouse/internal/token"
)

// Defaults and bounds for Options and the issuer configuration.
const (
	DefaultRefreshInterval = 5 * time.Minute
	DefaultMinRefetch      = 30 * time.Second
	DefaultLeeway          = 30 * time.Second
	MaxLeeway              = 60 * time.Second
	DefaultMaxLifetime     = 24 * time.Hour

	// fetchTimeout bounds one JWKS fetch whatever HTTPClient's own timeout.
	fetchTimeout = 10 * time.Second
)

// Options are the process-wide settings of an Issuer. The zero value of each
// field means the documented default.
type Options struct {
	// HTTPClient fetches the JWKS. Default: a client with a 10 s timeout
	// that does not follow redirects (configure the final JWKS URI). A
	// client given here is used as is, redirects included.
	HTTPClient *http.Client
	// Log receives fetch failures and key set changes. Default slog.Default().
	// Tokens and URL queries are never logged.
	Log *slog.Logger
	// Now is the clock for token times (exp, nbf, iat). Default time.Now.
	// JWKS scheduling always uses the real clock.
	Now func() time.Time
	// MinRefetch is the least time between two JWKS fetches triggered by
	// unknown kids (default 30 s). It also floors RefreshInterval and caps
	// the first retry after a failed fetch.
	MinRefetch time.Duration
	// Leeway allowed on exp, nbf and iat for clock skew: default 30 s, at
	// most 60 s.
	Leeway time.Duration
	// MaxLifetime refuses tokens whose exp - iat (or, without iat,
	// exp - now) exceeds it. Default 24 h.
	MaxLifetime time.Duration
	// Cache, when set, holds verified tokens until their exp. It may be
	// shared with other issuers and with token.Verifier: entries are keyed
	// per Issuer and per key set, so they never leak across them.
	Cache *token.Cache
}

// Issuer verifies the access tokens of one external identity provider.
// It is safe for concurrent use.
type Issuer struct {
	name        string
	iss         string
	aud         string
	jwksURI     string
	logURI      string // jwksURI without userinfo, query or fragment
	algs        []jose.Algorithm
	scopeClaim  string
	scopeMap    map[string]string
	interval    time.Duration
	minRefetch  time.Duration
	leeway      time.Duration
	maxLifetime time.Duration
	client      *http.Client
	log         *slog.Logger
	now         func() time.Time
	cache       *token.Cache

	keys atomic.Pointer[keySet] // nil until the first good fetch

	mu          sync.Mutex // guards the fetch state below
	inflight    *fetchCall
	lastAttempt time.Time
	lastSuccess time.Time
	nextAt      time.Time // when Run fetches next
	failures    int       // consecutive failed fetches
	lastErr     error     // of the last failed fetch, for refusals
}

// supported is every algorithm jose verifies: asymmetric only, never "none"
// or HS* (RFC 8725 §3.1).
var supported = []jose.Algorithm{
	jose.EdDSA, jose.ES256, jose.ES384, jose.ES512,
	jose.RS256, jose.RS384, jose.RS512, jose.PS256, jose.PS384, jose.PS512,
}

// New validates cfg and returns an Issuer with no keys yet: call Start and
// Run (or Set.Start and Set.Run) to fetch them. Until a fetch succeeds every
// token is refused with token.ReasonUnknownKey.
//
// cfg must name the issuer (Name), give its exact iss (Issuer) and the
// audience tokens must carry (Audience), a JWKS URI over https (http only
// to a loopback address, for tests and development) and at least one
// allowed algorithm among EdDSA, ES256/384/512, RS256/384/512 and
// PS256/384/512.
func New(cfg gatehouse.ExternalIssuer, opts Options) (*Issuer, error) {
	if cfg.Name == "" {
		return nil, errors.New("external: issuer has no name")
	}
	fail := func(format string, args ...any) error {
		return fmt.Errorf("external: issuer %q: %s", cfg.Name, fmt.Sprintf(format, args...))
	}
	if strings.TrimSpace(cfg.Issuer) == "" || strings.TrimSpace(cfg.Issuer) != cfg.Issuer {
		return nil, fail("issuer must be set, without surrounding spaces")
	}
	if strings.TrimSpace(cfg.Audience) == "" {
		return nil, fail("audience must be set: without it a token minted for any other API of the same provider would pass")
	}
	logURI, err := checkJWKSURI(cfg.JWKSURI)
	if err != nil {
		return nil, fail("%v", err)
	}
	if len(cfg.Algorithms) == 0 {
		return nil, fail("no allowed algorithms; list the ones the provider signs with, e.g. RS256")
	}
	var algs []jose.Algorithm
	for _, a := range cfg.Algorithms {
		alg := jose.Algorithm(a)
		if !slices.Contains(supported, alg) {
			return nil, fail("algorithm %q not allowed; want one of %v (never none or HS*)", a, supported)
		}
		if !slices.Contains(algs, alg) {
			algs = append(algs, alg)
		}
	}
	scopeClaim := cfg.ScopeClaim
	if scopeClaim == "" {
		scopeClaim = "scope"
	}
	for from, to := range cfg.ScopeMap {
		if from == "" || to == "" || strings.ContainsAny(to, " \t\r\n") {
			return nil, fail("scope map entry %q: %q must map a non-empty scope to one scope", from, to)
		}
	}
	if cfg.RefreshInterval < 0 {
		return nil, fail("negative refresh interval")
	}

	i := &Issuer{
		name:        cfg.Name,
		iss:         cfg.Issuer,
		aud:         cfg.Audience,
		jwksURI:     cfg.JWKSURI,
		logURI:      logURI,
		algs:        algs,
		scopeClaim:  scopeClaim,
		scopeMap:    maps.Clone(cfg.ScopeMap),
		interval:    cfg.RefreshInterval,
		minRefetch:  opts.MinRefetch,
		leeway:      opts.Leeway,
		maxLifetime: opts.MaxLifetime,
		client:      opts.HTTPClient,
		log:         opts.Log,
		now:         opts.Now,
		cache:       opts.Cache,
	}
	switch {
	case i.minRefetch < 0, i.leeway < 0, i.maxLifetime < 0:
		return nil, fail("negative MinRefetch, Leeway or MaxLifetime")
	case i.leeway > MaxLeeway:
		return nil, fail("leeway %s is more than %s", i.leeway, MaxLeeway)
	}
	if i.minRefetch == 0 {
		i.minRefetch = DefaultMinRefetch
	}
	if i.leeway == 0 {
		i.leeway = DefaultLeeway
	}
	if i.maxLifetime == 0 {
		i.maxLifetime = DefaultMaxLifetime
	}
	if i.interval == 0 {
		i.interval = DefaultRefreshInterval
	}
	// Scheduled fetches obey the same floor as kid-triggered ones, so no
	// configuration can make a fleet of gateways hammer the provider.
	i.interval = max(i.interval, i.minRefetch)
	if i.client == nil {
		i.client = &http.Client{
			Timeout: fetchTimeout,
			// A redirect could downgrade to http or leave the configured
			// host; the provider's discovery document gives the final URI.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		}
	}
	if i.log == nil {
		i.log = slog.Default()
	}
	i.log = i.log.With("external_issuer", i.name)
	if i.now == nil {
		i.now = time.Now
	}
	return i, nil
}

// checkJWKSURI accepts an absolute https URL, or http to a loopback address,
// without credentials or fragment, and returns the form safe to log.
func checkJWKSURI(raw string) (string, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return "", errors.New("jwks uri is not a url")
	}
	if u.Host == "" || u.Opaque != "" {
		return "", errors.New("jwks uri must be an absolute https url")
	}
	if u.User != nil || u.Fragment != "" {
		return "", errors.New("jwks uri must not carry credentials or a fragment")
	}
	switch u.Scheme {
	case "https":
	case "http":
		if !loopback(u.Hostname()) {
			return "", errors.New("jwks uri must use https (http only to a loopback address)")
		}
	default:
		return "", errors.New("jwks uri must use https")
	}
	return u.Scheme + "://" + u.Host + u.EscapedPath(), nil
}

func loopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// Name returns the configured name of the issuer.
func (i *Issuer) Name() string { return i.name }

// Issuer returns the exact iss its tokens carry.
func (i *Issuer) Issuer() string { return i.iss }

// Audience returns the aud its tokens must carry.
func (i *Issuer) Audience() string { return i.aud }

// Ready reports whether a key set has been fetched, that is whether tokens
// can be accepted at all.
func (i *Issuer) Ready() bool { return i.keys.Load() != nil }
