package oauth

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/internal/jose"
)

const assertionTypeJWTBearer = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

// maxAssertionLifetime bounds exp - now of a client assertion, which also
// bounds how long its jti must be remembered.
const maxAssertionLifetime = 10 * time.Minute

// assertionAlgs are the algorithms accepted for private_key_jwt.
var assertionAlgs = []string{"EdDSA", "ES256", "ES384", "ES512", "RS256", "RS384", "RS512", "PS256", "PS384", "PS512"}

// authenticateClient identifies and authenticates the client of a token,
// revocation or introspection request (RFC 6749 2.3, RFC 7523 2.2). Exactly
// one method may be used. allowPublic admits a client of method "none" that
// only names itself (in the body, or as HTTP Basic with an empty secret, as
// golang.org/x/oauth2 sends it).
//
// Failures are slowed down per (client, address) pair and, more loosely, per
// address, so guessing is slow while nobody can lock a client out from
// elsewhere by failing in its name. Public clients have no secret to guess
// and are never slowed down.
func (s *Server) authenticateClient(ctx context.Context, r *http.Request, f *form, allowPublic bool) (*gatehouse.Client, *Error) {
	now := s.now()
	basicID, basicSecret, hasBasic, berr := basicCredentials(r)
	if berr != nil {
		return nil, berr
	}
	hasPost := f.has("client_secret")
	hasJWT := f.has("client_assertion") || f.has("client_assertion_type")
	n := 0
	for _, b := range []bool{hasBasic, hasPost, hasJWT} {
		if b {
			n++
		}
	}
	if n > 1 {
		return nil, errInvalidRequest("use exactly one client authentication method")
	}

	var clientID string
	var method gatehouse.AuthMethod
	switch {
	case hasBasic:
		clientID, method = basicID, gatehouse.AuthSecretBasic
		if f.has("client_id") && f.get("client_id") != basicID {
			return nil, errInvalidRequest("client_id does not match the authenticated client")
		}
	case hasPost:
		clientID, method = f.get("client_id"), gatehouse.AuthSecretPost
	case hasJWT:
		if f.get("client_assertion_type") != assertionTypeJWTBearer {
			return nil, errInvalidRequest("client_assertion_type must be " + assertionTypeJWTBearer)
		}
		var err *Error
		clientID, err = assertionSubject(f.get("client_assertion"))
		if err != nil {
			return nil, err
		}
		if f.has("client_id") && f.get("client_id") != clientID {
			return nil, errInvalidRequest("client_id does not match the client assertion")
		}
		method = gatehouse.AuthPrivateKeyJWT
	default:
		clientID, method = f.get("client_id"), gatehouse.AuthNone
		if clientID == "" {
			return nil, s.clientFailure(ctx, r, "", "client authentication required", now)
		}
	}
	if clientID == "" || len(clientID) > 256 {
		return nil, s.clientFailure(ctx, r, "", "client authentication failed", now)
	}

	client, err := s.Clients.FindClientByID(ctx, clientID)
	if err != nil && !isNotFound(err) {
		return nil, s.internalError(ctx, "find client", err)
	}
	// A public client naming itself, with Basic and an empty secret or in
	// the body, has nothing to guess: no slow-down applies.
	if client != nil && client.AuthMethod == gatehouse.AuthNone && !client.Disabled && allowPublic &&
		(method == gatehouse.AuthNone || (method == gatehouse.AuthSecretBasic && basicSecret == "")) {
		return client, nil
	}
	if wait := s.waitFor(r, clientID, now); wait > 0 {
		e := &Error{Status: http.StatusTooManyRequests, Code: "invalid_client",
			Description: "too many failed authentication attempts; retry later", RetryAfter: int(wait/time.Second) + 1}
		return nil, e
	}
	if client == nil || client.Disabled {
		return nil, s.clientFailure(ctx, r, clientID, "client authentication failed", now)
	}
	if client.AuthMethod != method {
		if method == gatehouse.AuthNone {
			return nil, s.clientFailure(ctx, r, clientID, "client authentication required", now)
		}
		return nil, s.clientFailure(ctx, r, clientID, "client authentication failed", now)
	}
	switch method {
	case gatehouse.AuthSecretBasic:
		if !gatehouse.SecretMatches(client.SecretHash, basicSecret) {
			return nil, s.clientFailure(ctx, r, clientID, "client authentication failed", now)
		}
	case gatehouse.AuthSecretPost:
		if !gatehouse.SecretMatches(client.SecretHash, f.get("client_secret")) {
			return nil, s.clientFailure(ctx, r, clientID, "client authentication failed", now)
		}
	case gatehouse.AuthPrivateKeyJWT:
		if err := s.verifyAssertion(ctx, client, f.get("client_assertion"), now); err != nil {
			if err.Status >= 500 {
				return nil, err
			}
			return nil, s.clientFailure(ctx, r, clientID, err.Description, now)
		}
	case gatehouse.AuthNone:
		return nil, s.clientFailure(ctx, r, clientID, "client authentication required", now)
	}
	if s.Limiter != nil {
		s.Limiter.Succeed(pairKey(clientID, r))
	}
	if s.ClientUsed != nil {
		s.ClientUsed(client.ID, clientIP(r), now)
	}
	return client, nil
}

// pairKey is the slow-down key of one client from one address.
func pairKey(clientID string, r *http.Request) string {
	return "client:" + clientID + "|" + addrKey(clientIP(r))
}

// addrKey groups IPv6 addresses by /64, the block one host usually
// controls, so rotating addresses inside it does not escape the slow-down.
func addrKey(ip string) string {
	a, err := netip.ParseAddr(ip)
	if err != nil || a.Unmap().Is4() {
		return "ip:" + ip
	}
	p, _ := a.Prefix(64)
	return "ip:" + p.String()
}

// ipFailureFactor: an address may fail this many times more than one
// (client, address) pair before it is slowed down as a whole, so a few
// broken clients behind one NAT do not block the others.
const ipFailureFactor = 4

func (s *Server) waitFor(r *http.Request, clientID string, now time.Time) time.Duration {
	if s.Limiter == nil {
		return 0
	}
	return max(s.Limiter.Wait(pairKey(clientID, r), now), s.Limiter.WaitScaled(addrKey(clientIP(r)), now, ipFailureFactor))
}

func (s *Server) clientFailure(ctx context.Context, r *http.Request, clientID, desc string, now time.Time) *Error {
	if s.Limiter != nil {
		if clientID != "" {
			s.Limiter.Fail(pairKey(clientID, r), now)
		}
		s.Limiter.Fail(addrKey(clientIP(r)), now)
	}
	if s.Metrics != nil {
		s.Metrics.ClientAuthFailures.Inc()
	}
	s.log().InfoContext(ctx, "client authentication failed", "client_id", safeID(clientID), "ip", clientIP(r), "reason", desc)
	e := errInvalidClient(desc)
	e.basicChallenge = true // RFC 9110 11.6.1: a 401 carries a challenge
	return e
}

// basicCredentials reads HTTP Basic client credentials, which RFC 6749
// 2.3.1 says are form-urlencoded before being joined with ':'.
func basicCredentials(r *http.Request) (id, secret string, ok bool, err *Error) {
	h := r.Header.Get("Authorization")
	if h == "" {
		return "", "", false, nil
	}
	if len(h) > 4096 {
		return "", "", false, errInvalidRequest("authorization header too large")
	}
	rawID, rawSecret, ok := r.BasicAuth()
	if !ok {
		if scheme, _, _ := strings.Cut(h, " "); !strings.EqualFold(scheme, "basic") {
			return "", "", false, errInvalidRequest("unsupported authorization scheme at this endpoint; use Basic client credentials")
		}
		return "", "", false, &Error{Status: http.StatusUnauthorized, Code: "invalid_client", Description: "malformed Basic credentials", basicChallenge: true}
	}
	id, e1 := url.QueryUnescape(rawID)
	secret, e2 := url.QueryUnescape(rawSecret)
	if e1 != nil || e2 != nil {
		return "", "", false, &Error{Status: http.StatusUnauthorized, Code: "invalid_client", Description: "malformed Basic credentials", basicChallenge: true}
	}
	return id, secret, true, nil
}

// assertionSubject reads the client id from an unverified client assertion
// so that the client (and its keys) can be looked up. Nothing is trusted
// until verifyAssertion has checked the signature.
func assertionSubject(assertion string) (string, *Error) {
	jws, err := jose.Parse(assertion)
	if err != nil {
		return "", errInvalidClient("malformed client assertion")
	}
	var c struct {
		Iss string `json:"iss"`
		Sub string `json:"sub"`
	}
	if err := jose.DecodeJSON(jws.Payload, &c); err != nil || c.Sub == "" || c.Iss != c.Sub {
		return "", errInvalidClient("client assertion must have iss and sub equal to the client id")
	}
	return c.Sub, nil
}

// verifyAssertion checks a private_key_jwt client assertion (RFC 7523
// section 3): signed by one of the client's registered keys with the alg
// that key pins, iss = sub = client id, aud naming this server, unexpired
// with a bounded lifetime, and a jti never seen before from this client.
func (s *Server) verifyAssertion(ctx context.Context, client *gatehouse.Client, assertion string, now time.Time) *Error {
	jws, err := jose.Parse(assertion)
	if err != nil {
		return errInvalidClient("malformed client assertion")
	}
	// RFC 7523 defines no typ; accept none, JWT, or the newer explicit type.
	if t := jws.Header.Typ; t != "" && !jose.TypMatches(t, "JWT") && !jose.TypMatches(t, "client-authentication+jwt") {
		return errInvalidClient("client assertion has an unexpected typ")
	}
	keys, err := jose.ParseJWKSet(client.JWKS)
	if err != nil {
		return errInvalidClient("client has no usable registered keys")
	}
	verified := false
	for _, k := range keys {
		if (jws.Header.Kid == "" || k.ID == jws.Header.Kid) && k.Alg == jws.Header.Alg {
			if jws.Verify(k) == nil {
				verified = true
				break
			}
		}
	}
	if !verified {
		return errInvalidClient("client assertion signature does not verify with a registered key")
	}
	var c struct {
		Iss *string         `json:"iss"`
		Sub *string         `json:"sub"`
		Aud json.RawMessage `json:"aud"`
		Exp *int64          `json:"exp"`
		Iat *int64          `json:"iat"`
		Nbf *int64          `json:"nbf"`
		Jti *string         `json:"jti"`
	}
	if err := jose.DecodeJSON(jws.Payload, &c); err != nil {
		return errInvalidClient("client assertion claims are malformed")
	}
	if c.Iss == nil || c.Sub == nil || *c.Iss != client.ID || *c.Sub != client.ID {
		return errInvalidClient("client assertion iss and sub must be the client id")
	}
	// RFC 7523bis: the audience is the issuer identifier, as a single
	// string. Accepting the token endpoint URL or an array of audiences
	// allowed assertions made for one server to be replayed at another.
	var aud string
	if json.Unmarshal(c.Aud, &aud) != nil || aud != s.Issuer {
		return errInvalidClient("client assertion aud must be this server's issuer, as a single string")
	}
	if c.Jti == nil || *c.Jti == "" || len(*c.Jti) > 256 {
		return errInvalidClient("client assertion needs a jti")
	}
	if c.Exp == nil {
		return errInvalidClient("client assertion needs exp")
	}
	leeway := s.Policy.Leeway
	exp := time.Unix(*c.Exp, 0)
	if !now.Before(exp.Add(leeway)) {
		return errInvalidClient("client assertion expired")
	}
	if exp.Sub(now) > maxAssertionLifetime {
		return errInvalidClient("client assertion lifetime too long (at most " + strconv.Itoa(int(maxAssertionLifetime/time.Minute)) + " minutes)")
	}
	if c.Iat != nil && time.Unix(*c.Iat, 0).After(now.Add(leeway)) {
		return errInvalidClient("client assertion issued in the future")
	}
	if c.Nbf != nil && time.Unix(*c.Nbf, 0).After(now.Add(leeway)) {
		return errInvalidClient("client assertion not yet valid")
	}
	err = s.Assertions.UseAssertionID(ctx, client.ID, *c.Jti, exp.Add(leeway), now)
	if gatehouse.ErrorCode(err) == gatehouse.CodeConflict {
		return errInvalidClient("client assertion was already used")
	} else if err != nil {
		return s.internalError(ctx, "record assertion id", err)
	}
	return nil
}

// clientIP is the peer address. The gateway issue adds trusted proxies; the
// token endpoint deliberately uses only the connection's address.
func clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// safeID shortens and cleans a client-supplied identifier for logs.
func safeID(s string) string {
	if len(s) > 64 {
		s = s[:64]
	}
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return '?'
		}
		return r
	}, s)
}
