package external

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/internal/jose"
	"github.com/gatehouse/gatehouse/internal/token"
)

func invalid(r token.Reason, format string, args ...any) error {
	return &token.InvalidError{Reason: r, Detail: fmt.Sprintf(format, args...)}
}

// Verify returns the claims of a valid access token of this issuer, or a
// *token.InvalidError saying why it is refused. Any other error means ctx
// ended while the token waited for a key set fetch.
//
// A token found in the Cache (kept per Issuer and per key set) is returned
// at once. Otherwise the checks, in order:
//   - jose.Parse: size, three strict base64url segments, header with only
//     alg, typ and kid, never alg none or HS*;
//   - typ absent, "JWT" or "at+jwt" (RFC 9068 §4; most providers send JWT);
//   - alg among the configured Algorithms, and equal to the pinned alg of
//     the key, found by kid (a kid is required when the set has more than one
//     key; an unknown kid triggers at most one refetch per MinRefetch);
//   - the signature;
//   - claims decoded strictly (no duplicate names, typed values): iss
//     exact; aud a string or array containing Audience; exp a number, not
//     past (with Leeway); nbf and iat not in the future; exp - iat (or,
//     without iat, exp - now) within MaxLifetime.
//
// The claims are Issuer and Audience as configured, Subject from sub (may
// be empty), ClientID from client_id, else azp, else cid (Okta), else appid
// (Entra ID v1), Scopes from the configured claim mapped through ScopeMap,
// ID from jti or, without one, the hex SHA-256 of the token's signed part.
// IssuedAt is zero without iat. The claims may come from the cache and are
// shared: do not modify them.
//
// Providers type ID tokens "JWT" too; what refuses an ID token here is the
// audience, which in an ID token is the client's id. So Audience must name
// the API, never a client.
func (i *Issuer) Verify(ctx context.Context, tok string) (*gatehouse.AccessClaims, error) {
	return i.verify(ctx, tok, nil)
}

// verify is Verify with the token's hash (token.Key) when the caller has it.
func (i *Issuer) verify(ctx context.Context, tok string, h *[32]byte) (*gatehouse.AccessClaims, error) {
	if len(tok) == 0 || len(tok) > jose.MaxTokenSize {
		return nil, invalid(token.ReasonMalformed, "token length %d", len(tok))
	}
	now := i.now()
	ks := i.keys.Load()
	if i.cache != nil {
		if h == nil {
			k := token.Key(tok)
			h = &k
		}
		if c, ok := i.cached(ks, h, now); ok {
			return c, nil
		}
	}

	jws, err := jose.Parse(tok)
	if err != nil {
		return nil, invalid(token.ReasonMalformed, "%v", err)
	}
	if typ := jws.Header.Typ; typ != "" && !jose.TypMatches(typ, "at+jwt") && !jose.TypMatches(typ, "JWT") {
		return nil, invalid(token.ReasonType, "typ %q is not JWT or at+jwt", typ)
	}
	// Before the key lookup, so that a token with a refused alg never
	// triggers a fetch.
	if !slices.Contains(i.algs, jws.Header.Alg) {
		return nil, invalid(token.ReasonSignature, "alg %s not allowed for this issuer", jws.Header.Alg)
	}
	key, ks, err := i.key(ctx, ks, jws.Header.Kid)
	if err != nil {
		return nil, err
	}
	if err := jws.Verify(key); err != nil {
		return nil, invalid(token.ReasonSignature, "%v", err)
	}
	var w wireClaims
	if err := jose.DecodeJSON(jws.Payload, &w); err != nil {
		return nil, invalid(token.ReasonClaims, "%v", err)
	}
	c, err := i.claims(&w, jws.Payload, tok, now)
	if err != nil {
		return nil, err
	}
	if i.cache != nil {
		i.cache.Put(cacheKey(ks, h), c, now)
	}
	return c, nil
}

// cached returns the claims cached for the token hashed to h under the key
// set ks.
func (i *Issuer) cached(ks *keySet, h *[32]byte, now time.Time) (*gatehouse.AccessClaims, bool) {
	if i.cache == nil || ks == nil {
		return nil, false
	}
	return i.cache.Get(cacheKey(ks, h), now)
}

// cacheKey is SHA-256(salt || h), h being SHA-256(token) as token.Verifier
// keys its cache: the salt ties the entry to one Issuer and one key set.
func cacheKey(ks *keySet, h *[32]byte) [32]byte {
	var b [64]byte
	copy(b[:32], ks.salt[:])
	copy(b[32:], h[:])
	return sha256.Sum256(b[:])
}

// key finds the key for kid in ks, refetching the set once (rate limited)
// when the kid is unknown or no set was fetched yet. It returns the
// snapshot the key came from.
func (i *Issuer) key(ctx context.Context, ks *keySet, kid string) (jose.PublicKey, *keySet, error) {
	if ks != nil {
		if k, ok := ks.lookup(kid); ok {
			return k, ks, nil
		}
		if kid == "" {
			return jose.PublicKey{}, nil, invalid(token.ReasonUnknownKey, "token has no kid and the issuer publishes %d keys", len(ks.keys))
		}
	}
	// The provider may have rotated its keys since the last fetch.
	ferr := i.fetch(ctx, triggerKid)
	if ferr != nil && ctx.Err() != nil {
		return jose.PublicKey{}, nil, fmt.Errorf("external: waiting for the jwks of %s: %w", i.name, ctx.Err())
	}
	ks = i.keys.Load()
	if ks == nil {
		return jose.PublicKey{}, nil, invalid(token.ReasonUnknownKey, "no key set fetched yet from %s (last error: %v)", i.logURI, i.lastError())
	}
	if k, ok := ks.lookup(kid); ok {
		return k, ks, nil
	}
	if errors.Is(ferr, errRateLimited) {
		return jose.PublicKey{}, nil, invalid(token.ReasonUnknownKey, "kid %q not in the key set (fetched less than %s ago)", kid, i.minRefetch)
	}
	return jose.PublicKey{}, nil, invalid(token.ReasonUnknownKey, "kid %q not in the key set", kid)
}

// wireClaims are the claims we read. Pointers tell a missing claim from an
// empty one; raw messages are claims whose type we check only when we use
// them, so that an unrelated claim of an unusual type (a provider's own
// "roles" object, say) does not refuse the token.
type wireClaims struct {
	Iss *string         `json:"iss"`
	Sub *string         `json:"sub"`
	Aud json.RawMessage `json:"aud"`
	Exp *numericDate    `json:"exp"`
	Iat *numericDate    `json:"iat"`
	Nbf *numericDate    `json:"nbf"`
	Jti *string         `json:"jti"`

	ClientID json.RawMessage `json:"client_id"` // RFC 9068 §2.2
	Azp      json.RawMessage `json:"azp"`       // OIDC; Auth0, Keycloak, Entra ID v2
	Cid      json.RawMessage `json:"cid"`       // Okta
	AppID    json.RawMessage `json:"appid"`     // Entra ID v1

	Scope       json.RawMessage `json:"scope"`       // RFC 9068 §2.2.3
	Scp         json.RawMessage `json:"scp"`         // Okta, Entra ID
	Roles       json.RawMessage `json:"roles"`       // Entra ID app roles
	Permissions json.RawMessage `json:"permissions"` // Auth0 RBAC
}

func (i *Issuer) claims(w *wireClaims, payload []byte, tok string, now time.Time) (*gatehouse.AccessClaims, error) {
	if w.Iss == nil {
		return nil, invalid(token.ReasonClaims, "required claim iss missing")
	}
	if *w.Iss != i.iss {
		return nil, invalid(token.ReasonIssuer, "issuer %s", quote(*w.Iss))
	}
	if err := checkAudience(w.Aud, i.aud); err != nil {
		return nil, err
	}
	if w.Exp == nil {
		return nil, invalid(token.ReasonClaims, "required claim exp missing")
	}
	exp := w.Exp.time()
	var iat time.Time
	if w.Iat != nil {
		iat = w.Iat.time()
		if !exp.After(iat) {
			return nil, invalid(token.ReasonClaims, "exp not after iat")
		}
		if exp.Sub(iat) > i.maxLifetime {
			return nil, invalid(token.ReasonClaims, "lifetime %s exceeds policy %s", exp.Sub(iat), i.maxLifetime)
		}
		if iat.After(now.Add(i.leeway)) {
			return nil, invalid(token.ReasonNotYet, "issued in the future")
		}
	} else if exp.Sub(now) > i.maxLifetime {
		return nil, invalid(token.ReasonClaims, "no iat and exp %s away exceeds policy %s", exp.Sub(now).Round(time.Second), i.maxLifetime)
	}
	if w.Nbf != nil && w.Nbf.time().After(now.Add(i.leeway)) {
		return nil, invalid(token.ReasonNotYet, "not before %d", int64(*w.Nbf))
	}
	if !now.Before(exp.Add(i.leeway)) {
		return nil, invalid(token.ReasonExpired, "expired at %s", exp.UTC().Format(time.RFC3339))
	}

	clientID, err := firstString(
		named{"client_id", w.ClientID}, named{"azp", w.Azp}, named{"cid", w.Cid}, named{"appid", w.AppID})
	if err != nil {
		return nil, err
	}
	raw, err := i.scopeRaw(w, payload)
	if err != nil {
		return nil, err
	}
	scopes, err := parseScopes(raw, i.scopeClaim)
	if err != nil {
		return nil, err
	}
	c := &gatehouse.AccessClaims{
		Issuer:    i.iss,
		Audience:  i.aud,
		ClientID:  clientID,
		Scopes:    i.mapScopes(scopes),
		IssuedAt:  iat,
		ExpiresAt: exp,
	}
	if w.Sub != nil {
		c.Subject = *w.Sub
	}
	if w.Jti != nil && *w.Jti != "" {
		c.ID = *w.Jti
	} else {
		// Revocation needs a key. The signed part rather than the whole
		// token: ECDSA signatures are malleable, so hashing the signature
		// too would let one token be revoked and then replayed under a
		// second, equally valid, signature.
		sum := sha256.Sum256([]byte(tok[:strings.LastIndexByte(tok, '.')]))
		c.ID = hex.EncodeToString(sum[:])
	}
	return c, nil
}

// checkAudience accepts aud as a string or an array of strings that
// contains want (RFC 7519 §4.1.3).
func checkAudience(raw json.RawMessage, want string) error {
	if isAbsent(raw) {
		return invalid(token.ReasonClaims, "required claim aud missing")
	}
	switch raw[0] {
	case '"':
		var s string
		if json.Unmarshal(raw, &s) == nil {
			if s == want {
				return nil
			}
			return invalid(token.ReasonClaims, "aud does not include %q", want)
		}
	case '[':
		var arr []*string
		if json.Unmarshal(raw, &arr) == nil && !slices.Contains(arr, nil) {
			if slices.ContainsFunc(arr, func(a *string) bool { return *a == want }) {
				return nil
			}
			return invalid(token.ReasonClaims, "aud does not include %q", want)
		}
	}
	return invalid(token.ReasonClaims, "aud must be a string or an array of strings")
}

type named struct {
	name string
	raw  json.RawMessage
}

// firstString returns the first claim present as a non-empty string; a
// present claim of another type refuses the token rather than being skipped.
func firstString(claims ...named) (string, error) {
	for _, c := range claims {
		if isAbsent(c.raw) {
			continue
		}
		var s string
		if c.raw[0] != '"' || json.Unmarshal(c.raw, &s) != nil {
			return "", invalid(token.ReasonClaims, "claim %s must be a string", c.name)
		}
		if s != "" {
			return s, nil
		}
	}
	return "", nil
}

func isAbsent(raw json.RawMessage) bool { return len(raw) == 0 || string(raw) == "null" }

// scopeRaw returns the configured scope claim. The common ones are fields
// of wireClaims; any other name (Auth0's namespaced claims, say) costs a
// second decode.
func (i *Issuer) scopeRaw(w *wireClaims, payload []byte) (json.RawMessage, error) {
	switch i.scopeClaim {
	case "scope":
		return w.Scope, nil
	case "scp":
		return w.Scp, nil
	case "roles":
		return w.Roles, nil
	case "permissions":
		return w.Permissions, nil
	}
	var all map[string]json.RawMessage
	if err := json.Unmarshal(payload, &all); err != nil {
		return nil, invalid(token.ReasonClaims, "claims are not a json object")
	}
	return all[i.scopeClaim], nil
}

// parseScopes reads a space-separated string (RFC 8693 §4.2) or an array of
// strings. An absent claim means no scopes; any other type refuses the
// token.
func parseScopes(raw json.RawMessage, claim string) ([]string, error) {
	if isAbsent(raw) {
		return nil, nil
	}
	switch raw[0] {
	case '"':
		var s string
		if err := json.Unmarshal(raw, &s); err == nil {
			return strings.Fields(s), nil
		}
	case '[':
		var arr []*string
		if err := json.Unmarshal(raw, &arr); err == nil {
			out := make([]string, 0, len(arr))
			for _, s := range arr {
				if s == nil {
					return nil, invalid(token.ReasonClaims, "claim %s has a null element", claim)
				}
				if *s != "" {
					out = append(out, *s)
				}
			}
			return out, nil
		}
	}
	return nil, invalid(token.ReasonClaims, "claim %s must be a string or an array of strings", claim)
}

// mapScopes renames scopes through ScopeMap, dropping unmapped ones, and
// removes repeats.
func (i *Issuer) mapScopes(in []string) []string {
	out := in[:0]
	var seen map[string]struct{}
	if len(in) > 16 {
		seen = make(map[string]struct{}, len(in))
	}
	for _, s := range in {
		if len(i.scopeMap) > 0 {
			m, ok := i.scopeMap[s]
			if !ok {
				continue
			}
			s = m
		}
		if seen != nil {
			if _, dup := seen[s]; dup {
				continue
			}
			seen[s] = struct{}{}
		} else if slices.Contains(out, s) {
			continue
		}
		out = append(out, s)
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

// numericDate is an RFC 7519 NumericDate: a JSON number of seconds since
// the epoch, possibly fractional (truncated here). A string, a negative
// value or one past year 9999 is refused.
type numericDate int64

const maxNumericDate = 253402300799 // 9999-12-31T23:59:59Z

var errNumericDate = errors.New("exp, iat and nbf must be json numbers from 0 to year 9999")

func (d *numericDate) UnmarshalJSON(b []byte) error {
	if len(b) == 0 || b[0] < '0' || b[0] > '9' {
		return errNumericDate
	}
	if n, err := strconv.ParseInt(string(b), 10, 64); err == nil {
		if n > maxNumericDate {
			return errNumericDate
		}
		*d = numericDate(n)
		return nil
	}
	f, err := strconv.ParseFloat(string(b), 64)
	if err != nil || f > maxNumericDate {
		return errNumericDate
	}
	*d = numericDate(f)
	return nil
}

func (d numericDate) time() time.Time { return time.Unix(int64(d), 0) }
