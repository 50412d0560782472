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
	c, _, err := s.authenticateClientCred(ctx, r, f, allowPublic)
	return c, err
}

// authenticateClientCred is authenticateClient that also returns the id of
// the app credential (rotated secret or key) that matched, or "" for the
// client's primary secret or keys.
func (s *Server) authenticateClientCred(ctx context.Context, r *http.Request, f *form, allowPublic bool) (*gatehouse.Client, string, *Error) {
	client, credID, err := s.authenticate(ctx, r, f, allowPublic)
	if err != nil {
		return nil, "", err
	}
	return client, credID, nil
}

func (s *Server) authenticate(ctx context.Context, r *http.Request, f *form, allowPublic bool) (client *gatehouse.Client, credID string, _ *Error) {
	now := s.now()
	basicID, basicSecret, hasBasic, berr := basicCredentials(r)
	if berr != nil {
		return nil, "", berr
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
		return nil, "", errInvalidRequest("use exactly one client authentication method")
	}

	var clientID string
	var method gatehouse.AuthMethod
	switch {
	case hasBasic:
		clientID, method = basicID, gatehouse.AuthSecretBasic
		if f.has("client_id") && f.get("client_id") != basicID {
			return nil, "", errInvalidRequest("client_id does not match the authenticated client")
		}
	case hasPost:
		clientID, method = f.get("client_id"), gatehouse.AuthSecretPost
	case hasJWT:
		if f.get("client_assertion_type") != assertionTypeJWTBearer {
			return nil, "", errInvalidRequest("client_assertion_type must be " + assertionTypeJWTBearer)
		}
		var err *Error
		clientID, err = assertionSubject(f.get("client_assertion"))
		if err != nil {
			return nil, "", err
		}
		if f.has("client_id") && f.get("client_id") != clientID {
			return nil, "", errInvalidRequest("client_id does not match the client assertion")
		}
		method = gatehouse.AuthPrivateKeyJWT
	default:
		clientID, method = f.get("client_id"), gatehouse.AuthNone
		if clientID == "" {
			return nil, "", s.clientFailure(ctx, r, "", "client authentication required", now)
		}
	}
	if clientID == "" || len(clientID) > 256 {
		return nil, "", s.clientFailure(ctx, r, "", "client authentication failed", now)
	}

	client, err := s.Clients.FindClientByID(ctx, clientID)
	var ok bool
	if err != nil && !isNotFound(err) {
		return nil, "", s.internalError(ctx, "find client", err)
	}
	// A public client naming itself, with Basic and an empty secret or in
	// the body, has nothing to guess: no slow-down applies.
	if client != nil && client.AuthMethod == gatehouse.AuthNone && !client.Disabled && allowPublic &&
		(method == gatehouse.AuthNone || (method == gatehouse.AuthSecretBasic && basicSecret == "")) {
		return client, credID, nil
	}
	if wait := s.waitFor(r, clientID, now); wait > 0 {
		e := &Error{Status: http.StatusTooManyRequests, Code: "invalid_client",
			Description: "too many failed authentication attempts; retry later", RetryAfter: int(wait/time.Second) + 1}
		return nil, "", e
	}
	if client == nil || client.Disabled {
		return nil, "", s.clientFailure(ctx, r, clientID, "client authentication failed", now)
	}
	// A mutual-TLS client names itself with client_id (RFC 8705 2), or with
	// Basic and an empty secret as golang.org/x/oauth2 may send it; the
	// certificate on the connection is its credential.
	if client.AuthMethod.MutualTLS() && (method == gatehouse.AuthNone || (method == gatehouse.AuthSecretBasic && basicSecret == "")) {
		method = client.AuthMethod
	}
	if client.AuthMethod != method {
		if method == gatehouse.AuthNone {
			return nil, "", s.clientFailure(ctx, r, clientID, "client authentication required", now)
		}
		return nil, "", s.clientFailure(ctx, r, clientID, "client authentication failed", now)
	}
	switch method {
	case gatehouse.AuthSecretBasic:
		if credID, ok, err = s.secretMatches(ctx, client, basicSecret, now); err != nil {
			return nil, "", s.internalError(ctx, "find credentials", err)
		} else if !ok {
			return nil, "", s.clientFailure(ctx, r, clientID, "client authentication failed", now)
		}
	case gatehouse.AuthSecretPost:
		if credID, ok, err = s.secretMatches(ctx, client, f.get("client_secret"), now); err != nil {
			return nil, "", s.internalError(ctx, "find credentials", err)
		} else if !ok {
			return nil, "", s.clientFailure(ctx, r, clientID, "client authentication failed", now)
		}
	case gatehouse.AuthPrivateKeyJWT:
		var err *Error
		if credID, err = s.verifyAssertion(ctx, client, f.get("client_assertion"), now); err != nil {
			if err.Status >= 500 {
				return nil, "", err
			}
			return nil, "", s.clientFailure(ctx, r, clientID, err.Description, now)
		}
	case gatehouse.AuthTLSClient, gatehouse.AuthSelfSignedTLS:
		if desc := s.verifyClientCertificate(r, client, now); desc != "" {
			return nil, "", s.clientFailure(ctx, r, clientID, desc, now)
		}
	case gatehouse.AuthNone:
		return nil, "", s.clientFailure(ctx, r, clientID, "client authentication required", now)
	}
	ip := s.clientIP(r)
	if s.Limiter != nil {
		s.Limiter.Succeed(pairKey(clientID, ip))
	}
	if s.ClientUsed != nil {
		s.ClientUsed(client.ID, ip, now)
	}
	return client, credID, nil
}

// pairKey is the slow-down key of one client from one address.
func pairKey(clientID, ip string) string {
	return "client:" + clientID + "|" + addrKey(ip)
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
	ip := s.clientIP(r)
	return max(s.Limiter.Reserve(pairKey(clientID, ip), now, 1), s.Limiter.Reserve(addrKey(ip), now, ipFailureFactor))
}

func (s *Server) clientFailure(ctx context.Context, r *http.Request, clientID, desc string, now time.Time) *Error {
	ip := s.clientIP(r)
	if s.Limiter != nil {
		if clientID != "" {
			s.Limiter.Fail(pairKey(clientID, ip), now)
		}
		s.Limiter.Fail(addrKey(ip), now)
	}
	if s.Metrics != nil {
		s.Metrics.ClientAuthFailures.Inc()
	}
	s.log().InfoContext(ctx, "client authentication failed", "client_id", safeID(clientID), "ip", ip, "reason", desc)
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
func (s *Server) verifyAssertion(ctx context.Context, client *gatehouse.Client, assertion string, now time.Time) (string, *Error) {
	credID, e := s.verifyAssertionSignature(ctx, client, assertion, now)
	if e != nil {
		return "", e
	}
	return credID, s.verifyAssertionClaims(ctx, client, assertion, now)
}

// verifyAssertionSignature checks the assertion's signature with the
// client's registered keys, then with the keys of its active
// private_key_jwt credentials, and returns the id of the credential whose
// key verified it ("" for the registered keys).
func (s *Server) verifyAssertionSignature(ctx context.Context, client *gatehouse.Client, assertion string, now time.Time) (string, *Error) {
	jws, err := jose.Parse(assertion)
	if err != nil {
		return "", errInvalidClient("malformed client assertion")
	}
	// RFC 7523 defines no typ; accept none, JWT, or the newer explicit type.
	if t := jws.Header.Typ; t != "" && !jose.TypMatches(t, "JWT") && !jose.TypMatches(t, "client-authentication+jwt") {
		return "", errInvalidClient("client assertion has an unexpected typ")
	}
	type keySet struct {
		credID string
		jwks   []byte
	}
	sets := []keySet{{"", client.JWKS}}
	if s.Credentials != nil {
		creds, err := s.Credentials.FindCredentials(ctx, gatehouse.CredentialFilter{ClientID: client.ID, Kind: gatehouse.CredentialPrivateKeyJWT})
		if err != nil {
			return "", s.internalError(ctx, "find credentials", err)
		}
		for _, c := range creds {
			if c.Active(now) {
				sets = append(sets, keySet{c.ID, []byte(`{"keys":[` + string(c.JWK) + `]}`)})
			}
		}
	}
	usable := false
	for _, set := range sets {
		keys, err := jose.ParseJWKSet(set.jwks)
		if err != nil {
			continue
		}
		usable = true
		for _, k := range keys {
			if (jws.Header.Kid == "" || k.ID == jws.Header.Kid) && k.Alg == jws.Header.Alg {
				if jws.Verify(k) == nil {
					return set.credID, nil
				}
			}
		}
	}
	if !usable {
		return "", errInvalidClient("client has no usable registered keys")
	}
	return "", errInvalidClient("client assertion signature does not verify with a registered key")
}

// verifyAssertionClaims checks the claims of an assertion whose signature
// verified, and uses its jti.
func (s *Server) verifyAssertionClaims(ctx context.Context, client *gatehouse.Client, assertion string, now time.Time) *Error {
	jws, err := jose.Parse(assertion)
	if err != nil {
		return errInvalidClient("malformed client assertion")
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

// clientIP is the client's address as Server.Client finds it (behind
// trusted proxies, the one they name), else the TCP peer's: it keys the
// failure limiters, so behind a load balancer one client's failures must
// not slow down every other's.
func (s *Server) clientIP(r *http.Request) string {
	if s.Client != nil {
		if a, _ := s.Client(r); a.IsValid() {
			return a.String()
		}
		// A trusted proxy named a hop that cannot be read: limit by
		// the proxy, as if it were the client.
	}
	return peerIP(r)
}

// peerIP is the TCP peer's address.
func peerIP(r *http.Request) string {
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

// secretMatches checks secret against the client's primary secret, then
// against its active client_secret credentials (several at once while a
// secret is rotated). It returns the matching credential's id ("" for the
// primary secret).
func (s *Server) secretMatches(ctx context.Context, client *gatehouse.Client, secret string, now time.Time) (string, bool, error) {
	if gatehouse.SecretMatches(client.SecretHash, secret) {
		return "", true, nil
	}
	if s.Credentials == nil || secret == "" {
		return "", false, nil
	}
	creds, err := s.Credentials.FindCredentials(ctx, gatehouse.CredentialFilter{ClientID: client.ID, Kind: gatehouse.CredentialSecret})
	if err != nil {
		return "", false, err
	}
	matched := ""
	for _, c := range creds {
		// Compare with every one, in constant time, whatever matched.
		if gatehouse.SecretMatches(c.Hash, secret) && c.Active(now) && matched == "" {
			matched = c.ID
		}
	}
	return matched, matched != "", nil
}
