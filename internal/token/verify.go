package token

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/internal/jose"
)

// Reason says why a token was refused. It is for metrics and logs; on the
// wire every refusal is the same invalid_token, so nothing leaks.
type Reason string

const (
	ReasonMalformed  Reason = "malformed"
	ReasonType       Reason = "wrong_type"
	ReasonUnknownKey Reason = "unknown_key"
	ReasonSignature  Reason = "bad_signature"
	ReasonClaims     Reason = "bad_claims"
	ReasonIssuer     Reason = "wrong_issuer"
	ReasonExpired    Reason = "expired"
	ReasonNotYet     Reason = "not_yet_valid"
	ReasonRevoked    Reason = "revoked"
	ReasonUnknown    Reason = "unknown_token" // an opaque token we never issued (or deleted)
)

// InvalidError is returned for a token that must be refused. Any other error
// from Verify means the check itself failed (a store was unavailable) and the
// request should get a 5xx, not a 401.
type InvalidError struct {
	Reason Reason
	Detail string // for logs only; never contains the token
	// Claims are set when a token we issued was refused as revoked or
	// expired: its signature (or record) was good, so the ids in them are
	// true. Monitoring uses them (a revoked token presented again); they
	// never admit a request.
	Claims *gatehouse.AccessClaims
}

func (e *InvalidError) Error() string {
	if e.Detail == "" {
		return "token: invalid token: " + string(e.Reason)
	}
	return "token: invalid token: " + string(e.Reason) + ": " + e.Detail
}

func invalid(r Reason, format string, args ...any) *InvalidError {
	return &InvalidError{Reason: r, Detail: fmt.Sprintf(format, args...)}
}

// revoked refuses claims c as revoked, keeping them for monitoring.
func revoked(c *gatehouse.AccessClaims) *InvalidError {
	return &InvalidError{Reason: ReasonRevoked, Claims: c}
}

// ReasonOf returns the refusal reason of err, or "" if err is not an
// *InvalidError.
func ReasonOf(err error) Reason {
	var ie *InvalidError
	if errors.As(err, &ie) {
		return ie.Reason
	}
	return ""
}

// TokenFinder resolves opaque tokens by the SHA-256 of their string.
type TokenFinder interface {
	FindTokenByHash(ctx context.Context, hash []byte) (*gatehouse.Token, error)
}

// Verifier checks Gatehouse's own access tokens, JWT or opaque, in process.
// It follows RFC 9068 and RFC 8725 strictly: the algorithm comes from our
// key, typ must be at+jwt, claims are typed and required. Audience and scope
// depend on the route and are the caller's to check on the returned claims.
type Verifier struct {
	Issuer      string
	Keys        *Keyring
	Revocations *Revocations
	Cache       *Cache      // optional
	Tokens      TokenFinder // resolves opaque tokens; nil refuses them
	Leeway      time.Duration
	// MaxLifetime bounds exp - iat; a token claiming a longer life was not
	// minted under our policy.
	MaxLifetime time.Duration
	Now         func() time.Time // time.Now when nil
}

// Verify returns the claims of an active access token.
func (v *Verifier) Verify(ctx context.Context, tok string) (*gatehouse.AccessClaims, error) {
	if len(tok) == 0 || len(tok) > jose.MaxTokenSize {
		return nil, invalid(ReasonMalformed, "token length %d", len(tok))
	}
	if strings.HasPrefix(tok, PrefixAPIKey) || strings.HasPrefix(tok, PrefixRefresh) {
		// Never let another kind of credential pass as an access token,
		// even from the cache.
		return nil, invalid(ReasonType, "not an access token")
	}
	return v.verify(ctx, tok, gatehouse.KindAccess)
}

// VerifyAPIKey returns the claims of an active API key (opaque, resolved by
// hash, cached like tokens, revocation checked on every use).
func (v *Verifier) VerifyAPIKey(ctx context.Context, key string) (*gatehouse.AccessClaims, error) {
	if !strings.HasPrefix(key, PrefixAPIKey) || len(key) > 256 {
		return nil, invalid(ReasonMalformed, "not an API key")
	}
	return v.verify(ctx, key, gatehouse.KindAPIKey)
}

func (v *Verifier) verify(ctx context.Context, tok string, kind gatehouse.TokenKind) (*gatehouse.AccessClaims, error) {
	now := v.now()
	var key [32]byte
	if v.Cache != nil {
		key = Key(tok)
		if c, ok := v.Cache.Get(key, now); ok {
			if v.Revocations.Refused(c) {
				return nil, revoked(c)
			}
			return c, nil
		}
	}
	var c *gatehouse.AccessClaims
	var err error
	if kind == gatehouse.KindAPIKey || strings.HasPrefix(tok, PrefixAccess) {
		c, err = v.verifyOpaque(ctx, tok, kind, now)
	} else {
		c, err = v.verifyJWT(tok, now)
	}
	if err != nil {
		return nil, err
	}
	if v.Revocations.Refused(c) {
		return nil, revoked(c)
	}
	if v.Cache != nil {
		v.Cache.Put(key, c, now)
	}
	return c, nil
}

func (v *Verifier) now() time.Time {
	if v.Now != nil {
		return v.Now()
	}
	return time.Now()
}

func (v *Verifier) verifyOpaque(ctx context.Context, tok string, kind gatehouse.TokenKind, now time.Time) (*gatehouse.AccessClaims, error) {
	if v.Tokens == nil {
		return nil, invalid(ReasonUnknown, "opaque tokens are not resolvable here")
	}
	rec, err := v.Tokens.FindTokenByHash(ctx, gatehouse.HashSecret(tok))
	if gatehouse.ErrorCode(err) == gatehouse.CodeNotFound {
		return nil, invalid(ReasonUnknown, "no such opaque token")
	} else if err != nil {
		return nil, fmt.Errorf("token: resolve opaque token: %w", err)
	}
	if rec.Kind != kind {
		return nil, invalid(ReasonType, "opaque token of kind %s", rec.Kind)
	}
	c := &gatehouse.AccessClaims{
		Issuer:    v.Issuer,
		Subject:   rec.Subject,
		Audience:  rec.Audience,
		ClientID:  rec.ClientID,
		Scopes:    rec.Scopes,
		ID:        rec.ID,
		GrantID:   rec.GrantID,
		IssuedAt:  rec.IssuedAt,
		ExpiresAt: rec.ExpiresAt,
		Act:       rec.Act,
		Cnf:       rec.Cnf,
	}
	if !rec.RevokedAt.IsZero() {
		return nil, revoked(c)
	}
	if !now.Before(rec.ExpiresAt) {
		e := invalid(ReasonExpired, "expired at %s", rec.ExpiresAt.UTC().Format(time.RFC3339))
		e.Claims = c
		return nil, e
	}
	return c, nil
}

// wireClaims uses pointers so that a missing claim is told apart from an
// empty one; json.Unmarshal refuses wrong types (exp as a string, say).
type wireClaims struct {
	Iss      *string         `json:"iss"`
	Sub      *string         `json:"sub"`
	Aud      json.RawMessage `json:"aud"`
	ClientID *string         `json:"client_id"`
	Scope    *string         `json:"scope"`
	Jti      *string         `json:"jti"`
	GrantID  *string         `json:"grant_id"`
	Iat      *int64          `json:"iat"`
	Exp      *int64          `json:"exp"`
	Nbf      *int64          `json:"nbf"`
	Act      json.RawMessage `json:"act"`
	Cnf      json.RawMessage `json:"cnf"`
}

func (v *Verifier) verifyJWT(tok string, now time.Time) (*gatehouse.AccessClaims, error) {
	jws, err := jose.Parse(tok)
	if err != nil {
		return nil, invalid(ReasonMalformed, "%v", err)
	}
	if !jose.TypMatches(jws.Header.Typ, TypAccessToken) {
		return nil, invalid(ReasonType, "typ %q is not at+jwt", jws.Header.Typ)
	}
	pk, ok := v.Keys.PublicKey(jws.Header.Kid)
	if !ok {
		return nil, invalid(ReasonUnknownKey, "no published key with that kid")
	}
	if err := jws.Verify(pk); err != nil {
		return nil, invalid(ReasonSignature, "%v", err)
	}
	var w wireClaims
	if err := jose.DecodeJSON(jws.Payload, &w); err != nil {
		return nil, invalid(ReasonClaims, "%v", err)
	}
	return v.checkClaims(&w, now)
}

func (v *Verifier) checkClaims(w *wireClaims, now time.Time) (*gatehouse.AccessClaims, error) {
	for name, p := range map[string]*string{"iss": w.Iss, "sub": w.Sub, "client_id": w.ClientID, "jti": w.Jti} {
		if p == nil || *p == "" {
			return nil, invalid(ReasonClaims, "required claim %s missing or empty", name)
		}
	}
	if w.Iat == nil || w.Exp == nil {
		return nil, invalid(ReasonClaims, "required claims iat and exp")
	}
	if *w.Iss != v.Issuer {
		return nil, invalid(ReasonIssuer, "issuer %q", *w.Iss)
	}
	aud, err := singleAudience(w.Aud)
	if err != nil {
		return nil, err
	}
	iat, exp := time.Unix(*w.Iat, 0), time.Unix(*w.Exp, 0)
	if !exp.After(iat) {
		return nil, invalid(ReasonClaims, "exp not after iat")
	}
	if v.MaxLifetime > 0 && exp.Sub(iat) > v.MaxLifetime {
		return nil, invalid(ReasonClaims, "lifetime %s exceeds policy %s", exp.Sub(iat), v.MaxLifetime)
	}
	if iat.After(now.Add(v.Leeway)) {
		return nil, invalid(ReasonNotYet, "issued in the future")
	}
	if w.Nbf != nil && time.Unix(*w.Nbf, 0).After(now.Add(v.Leeway)) {
		return nil, invalid(ReasonNotYet, "not before %d", *w.Nbf)
	}
	c := &gatehouse.AccessClaims{
		Issuer:    *w.Iss,
		Subject:   *w.Sub,
		Audience:  aud,
		ClientID:  *w.ClientID,
		ID:        *w.Jti,
		IssuedAt:  iat,
		ExpiresAt: exp,
	}
	if w.Scope != nil && *w.Scope != "" {
		c.Scopes = strings.Split(*w.Scope, " ")
	}
	if w.GrantID != nil {
		c.GrantID = *w.GrantID
	}
	if w.Act != nil {
		if c.Act, err = ParseAct(w.Act); err != nil {
			return nil, invalid(ReasonClaims, "%v", err)
		}
	}
	if w.Cnf != nil {
		if c.Cnf, err = parseCnf(w.Cnf); err != nil {
			return nil, err
		}
	}
	if !now.Before(exp.Add(v.Leeway)) {
		e := invalid(ReasonExpired, "expired at %s", exp.UTC().Format(time.RFC3339))
		e.Claims = c
		return nil, e
	}
	return c, nil
}

// parseCnf reads a cnf claim (RFC 7800 §3.1) strictly: an object with jkt
// (RFC 9449 §6.1), x5t#S256 (RFC 8705 §3.1) or both, each a base64url
// SHA-256 (43 characters). Any other member refuses the token rather than
// being ignored: RFC 7800 lets a cnf carry other confirmation methods, and
// a gateway that skipped one it does not enforce would accept a bound token
// as a bearer token. Gatehouse mints only these two, so a token with
// anything else was not minted by us. An empty object or null is refused
// for the same reason.
func parseCnf(raw json.RawMessage) (gatehouse.Confirmation, error) {
	var c gatehouse.Confirmation
	var m map[string]json.RawMessage
	if len(raw) == 0 || raw[0] != '{' || json.Unmarshal(raw, &m) != nil || len(m) == 0 {
		return c, invalid(ReasonClaims, "cnf must be a non-empty object")
	}
	for name, v := range m {
		var s string
		if len(v) == 0 || v[0] != '"' || json.Unmarshal(v, &s) != nil || !isSHA256B64(s) {
			return c, invalid(ReasonClaims, "cnf member %q must be a base64url SHA-256", name)
		}
		switch name {
		case "jkt":
			c.JKT = s
		case "x5t#S256":
			c.X5TS256 = s
		default:
			return c, invalid(ReasonClaims, "cnf member %q is not supported", name)
		}
	}
	return c, nil
}

// isSHA256B64 reports whether s is 32 bytes in unpadded base64url with no
// stray bits: 43 characters of the alphabet, the last one of "AEIMQUYcgkosw048".
func isSHA256B64(s string) bool {
	if len(s) != 43 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return strings.IndexByte("AEIMQUYcgkosw048", s[42]) >= 0
}

// singleAudience accepts aud as a string or an array of exactly one string:
// a Gatehouse token is for exactly one API.
func singleAudience(raw json.RawMessage) (string, error) {
	if len(raw) == 0 {
		return "", invalid(ReasonClaims, "required claim aud missing")
	}
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		if s == "" {
			return "", invalid(ReasonClaims, "empty aud")
		}
		return s, nil
	}
	var arr []string
	if err := json.Unmarshal(raw, &arr); err != nil || len(arr) != 1 || arr[0] == "" {
		return "", invalid(ReasonClaims, "aud must be one string")
	}
	return arr[0], nil
}
