package external

import (
	"context"
	"crypto"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	mathrand "math/rand/v2"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/gatehouse/gatehouse/internal/jose"
)

const (
	// maxJWKSBytes caps a JWKS response; real ones are a few KiB (Entra ID,
	// with certificate chains, about 10 KiB).
	maxJWKSBytes = 1 << 20
	// maxKeys caps the usable keys of a set; providers publish two to ten.
	maxKeys = 100
)

// keySet is an immutable snapshot of the verification keys, replaced as a
// whole when a fetch brings different keys.
type keySet struct {
	keys  []jose.PublicKey
	byKid map[string]jose.PublicKey
	// salt is part of every cache key made under this snapshot, so that a
	// key set change (a key withdrawn after a compromise, say) drops every
	// cached token at once instead of honouring them until their exp.
	salt [32]byte
}

// lookup returns the key for a token's kid. Without a kid the token can only
// be matched when the set has one key; a token with a kid matches the only
// key of a set that publishes none.
func (ks *keySet) lookup(kid string) (jose.PublicKey, bool) {
	if k, ok := ks.byKid[kid]; ok && kid != "" {
		return k, true
	}
	if len(ks.keys) == 1 && (kid == "" || ks.keys[0].ID == "") {
		return ks.keys[0], true
	}
	return jose.PublicKey{}, false
}

// fetchCall is one JWKS fetch that concurrent callers share.
type fetchCall struct {
	done chan struct{}
	err  error
}

// trigger says why a fetch happens: it decides rate limiting and whether a
// cancelled caller may abort it.
type trigger int

const (
	triggerStart    trigger = iota // Start: once, the caller's context bounds it
	triggerSchedule                // Run's timer
	triggerKid                     // a token with an unknown kid: rate limited
)

var errRateLimited = errors.New("external: jwks fetched too recently to fetch again")

// Start fetches the key set once, bounded by ctx and a 10 s timeout. The
// error is for the log: the Issuer is usable either way and refuses tokens
// until a fetch succeeds, so a gateway can start while the provider is down.
func (i *Issuer) Start(ctx context.Context) error {
	return i.fetch(ctx, triggerStart)
}

// Run refreshes the key set every RefreshInterval until ctx ends, fetching
// at once if no fetch happened yet. After a failure it retries with an
// exponential backoff from min(1 s, MinRefetch) up to RefreshInterval,
// keeping the last good set meanwhile. Both delays carry ±10% jitter so a
// fleet of gateways does not fetch in step.
func (i *Issuer) Run(ctx context.Context) {
	t := time.NewTimer(time.Hour)
	defer t.Stop()
	for {
		if d := i.nextDelay(); d > 0 {
			t.Reset(d)
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			// Recompute: a kid-triggered fetch may have happened meanwhile.
			continue
		}
		if ctx.Err() != nil {
			return
		}
		i.fetch(ctx, triggerSchedule) // the outcome is logged by fetch
	}
}

// lastError is the error of the last failed fetch, nil if none failed.
func (i *Issuer) lastError() error {
	i.mu.Lock()
	defer i.mu.Unlock()
	return i.lastErr
}

func (i *Issuer) nextDelay() time.Duration {
	i.mu.Lock()
	defer i.mu.Unlock()
	if i.lastAttempt.IsZero() {
		return 0
	}
	return time.Until(i.nextAt)
}

// fetch loads the key set, sharing one fetch among concurrent callers. A
// kid-triggered fetch does nothing if the last one started less than
// MinRefetch ago, so a flood of tokens with random kids costs the provider
// at most one request per MinRefetch; it is also detached from the
// request's cancellation, so a client that hangs up cannot abort a fetch
// that others wait for (fetchTimeout still bounds it).
func (i *Issuer) fetch(ctx context.Context, why trigger) error {
	i.mu.Lock()
	if c := i.inflight; c != nil {
		i.mu.Unlock()
		select {
		case <-c.done:
			return c.err
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	if why == triggerKid && !i.lastAttempt.IsZero() && time.Since(i.lastAttempt) < i.minRefetch {
		i.mu.Unlock()
		return errRateLimited
	}
	c := &fetchCall{done: make(chan struct{})}
	i.inflight = c
	i.lastAttempt = time.Now()
	i.mu.Unlock()

	lctx := ctx
	if why == triggerKid {
		lctx = context.WithoutCancel(ctx)
	}
	changed, n, err := i.load(lctx)
	c.err = err

	i.mu.Lock()
	i.inflight = nil
	failures := i.failures
	var wait time.Duration
	if err != nil && lctx.Err() == nil {
		i.lastErr = err
	}
	if err == nil {
		i.failures = 0
		i.lastSuccess = time.Now()
		wait = i.interval
	} else {
		i.failures++
		wait = min(min(time.Second, i.minRefetch)<<min(i.failures-1, 20), i.interval)
	}
	wait += time.Duration(mathrand.Int64N(int64(wait)/5+1)) - wait/10
	i.nextAt = i.lastAttempt.Add(wait)
	lastSuccess := i.lastSuccess
	i.mu.Unlock()
	close(c.done)

	switch {
	case err == nil && (changed || failures > 0):
		i.log.Info("external issuer: jwks loaded", "jwks_uri", i.logURI, "keys", n, "changed", changed, "after_failures", failures)
	case err == nil:
		i.log.Debug("external issuer: jwks unchanged", "jwks_uri", i.logURI, "keys", n)
	case lctx.Err() != nil:
		i.log.Debug("external issuer: jwks fetch cancelled", "jwks_uri", i.logURI)
	case lastSuccess.IsZero():
		i.log.Error("external issuer: jwks fetch failed; its tokens are refused until a fetch succeeds",
			"jwks_uri", i.logURI, "error", err, "failures", failures+1, "retry_in", wait.Round(time.Millisecond))
	default:
		i.log.Warn("external issuer: jwks fetch failed; keeping the last good key set",
			"jwks_uri", i.logURI, "error", err, "failures", failures+1, "retry_in", wait.Round(time.Millisecond),
			"key_set_fetched_at", lastSuccess.UTC().Format(time.RFC3339))
	}
	return err
}

// load fetches, checks and installs the key set. It reports whether the keys
// differ from the previous set, and how many there are.
func (i *Issuer) load(ctx context.Context) (changed bool, n int, err error) {
	ctx, cancel := context.WithTimeout(ctx, fetchTimeout)
	defer cancel()
	body, err := i.get(ctx)
	if err != nil {
		return false, 0, err
	}
	keys, err := i.parse(body)
	if err != nil {
		return false, 0, err
	}
	if old := i.keys.Load(); old != nil && sameKeys(old.keys, keys) {
		return false, len(keys), nil
	}
	ks := &keySet{keys: keys, byKid: make(map[string]jose.PublicKey, len(keys))}
	for _, k := range keys {
		if k.ID != "" {
			ks.byKid[k.ID] = k
		}
	}
	rand.Read(ks.salt[:])
	i.keys.Store(ks)
	return true, len(keys), nil
}

// get fetches the JWKS document: status 200, a JSON media type and at most
// maxJWKSBytes, or an error safe to log.
func (i *Issuer) get(ctx context.Context) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, i.jwksURI, nil)
	if err != nil {
		return nil, errors.New("external: cannot build the jwks request")
	}
	req.Header.Set("Accept", "application/jwk-set+json, application/json")
	req.Header.Set("User-Agent", "Gatehouse (jwks fetch)")
	resp, err := i.client.Do(req)
	if err != nil {
		// *url.Error repeats the whole URL, query included.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return nil, fmt.Errorf("external: get jwks: %v", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		// Drain a little so the connection can be reused.
		io.Copy(io.Discard, io.LimitReader(resp.Body, 4<<10))
		if resp.StatusCode >= 300 && resp.StatusCode < 400 {
			return nil, fmt.Errorf("external: jwks answered %d; redirects are not followed, configure the final jwks uri", resp.StatusCode)
		}
		return nil, fmt.Errorf("external: jwks answered %d, want 200", resp.StatusCode)
	}
	ct := resp.Header.Get("Content-Type")
	if mt, _, err := mime.ParseMediaType(ct); err != nil || !jsonMediaType(mt) {
		if len(ct) > 64 {
			ct = ct[:64] + "..."
		}
		return nil, fmt.Errorf("external: jwks content type %q is not json", ct)
	}
	if resp.ContentLength > maxJWKSBytes {
		return nil, fmt.Errorf("external: jwks is more than %d bytes (content-length %d)", maxJWKSBytes, resp.ContentLength)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxJWKSBytes+1))
	if err != nil {
		return nil, fmt.Errorf("external: read jwks: %v", err)
	}
	if len(body) > maxJWKSBytes {
		return nil, fmt.Errorf("external: jwks is more than %d bytes", maxJWKSBytes)
	}
	return body, nil
}

// jsonMediaType accepts application/json, application/jwk-set+json and other
// application/*+json types (RFC 6839 §3.1). mime lower-cases the type.
func jsonMediaType(mt string) bool {
	return mt == "application/json" || strings.HasPrefix(mt, "application/") && strings.HasSuffix(mt, "+json")
}

// parse reads a JWK Set strictly (jose.ParseJWKSet: no private material,
// no duplicate kids, keys checked for use, key_ops, curve and size) and keeps
// the keys whose pinned algorithm this issuer allows. A JWK's "alg" pins its
// algorithm; without one, the key type does (RS256 for RSA, the curve's ES*
// for EC, EdDSA for Ed25519).
func (i *Issuer) parse(body []byte) ([]jose.PublicKey, error) {
	all, err := jose.ParseJWKSet(body)
	if err != nil {
		return nil, fmt.Errorf("external: jwks refused: %v", err)
	}
	if len(all) > maxKeys {
		return nil, fmt.Errorf("external: jwks has %d usable keys, more than %d", len(all), maxKeys)
	}
	keys := make([]jose.PublicKey, 0, len(all))
	var other []string
	for _, k := range all {
		if slices.Contains(i.algs, k.Alg) {
			keys = append(keys, k)
		} else {
			other = append(other, string(k.Alg))
		}
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("external: jwks has no key for the allowed algorithms %v (it has keys for %v)", i.algs, other)
	}
	return keys, nil
}

// sameKeys reports whether two sets hold the same keys in the same order.
func sameKeys(a, b []jose.PublicKey) bool {
	return slices.EqualFunc(a, b, func(x, y jose.PublicKey) bool {
		e, ok := x.Key.(interface{ Equal(crypto.PublicKey) bool })
		return x.ID == y.ID && x.Alg == y.Alg && ok && e.Equal(y.Key)
	})
}
