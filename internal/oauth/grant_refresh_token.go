package oauth

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"strings"
	"time"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/internal/token"
)

// RefreshToken is the refresh_token grant (RFC 6749 section 6, RFC 9700
// 4.14). Every use rotates the token in one compare-and-set; presenting a
// rotated token again is reuse and revokes the whole grant. A retry of the
// same refresh within the policy's grace period (default none) gets the
// same successor pair again instead of branching the family: the successor
// is derived from the presented token with a server key, so it can be
// recomputed without storing any token.
type RefreshToken struct {
	Server *Server
}

// GrantType implements GrantHandler.
func (*RefreshToken) GrantType() string { return gatehouse.GrantRefreshToken }

// PublicClients implements GrantHandler: a public client's refresh token is
// bound to its client id and rotated on every use.
func (*RefreshToken) PublicClients() bool { return true }

// Handle implements GrantHandler.
func (g *RefreshToken) Handle(ctx context.Context, req *TokenRequest) (*TokenResponse, *Error) {
	s := g.Server
	old := req.Form.get("refresh_token")
	if old == "" {
		return nil, errInvalidRequest("missing refresh_token")
	}
	if len(old) > 512 {
		return nil, errInvalidGrant("invalid refresh token")
	}
	rec, grant, e := s.findRefresh(ctx, req.Client, old)
	if e != nil {
		return nil, e
	}
	// A bound refresh token is useless without its key (RFC 9449 §5),
	// checked before reuse detection so that a thief without the key
	// cannot even revoke the family.
	if e := checkBinding(rec.Cnf.JKT, req.Cnf.JKT, "refresh token"); e != nil {
		return nil, e
	}
	// The refresh token is real and this request holds it (and its key):
	// its proof counts now, before a reuse answer or a rotation.
	if e := req.UseProof(); e != nil {
		return nil, e
	}
	if !rec.RotatedAt.IsZero() {
		return s.refreshAgain(ctx, req, rec, grant, old)
	}
	if !req.Now.Before(rec.ExpiresAt) {
		return nil, errInvalidGrant("refresh token expired")
	}
	api := s.Catalog.APIByAudience(grant.Audience)
	if api == nil || !servable(api) {
		return nil, errInvalidGrant("the API of this grant is no longer available")
	}
	if res := req.Form.all("resource"); len(res) > 1 || (len(res) == 1 && res[0] != grant.Audience) {
		return nil, errInvalidTarget("a refresh can only keep the grant's resource")
	}
	// What the user granted, cut down to what the client may still have:
	// taking a scope away from a client takes effect at its next refresh.
	allowed, e := s.currentScopes(ctx, grant.Scopes, req.Client, api, req.Now)
	if e != nil {
		return nil, e
	}
	scopes := allowed
	if req.Form.has("scope") {
		asked, e := parseScope(req.Form.get("scope"))
		if e != nil {
			return nil, e
		}
		for _, sc := range asked {
			if !contains(allowed, sc) {
				return nil, errInvalidScope("scope " + quoteParam(sc) + " was not granted; a refresh can only narrow scope")
			}
		}
		scopes = asked
	}
	now := req.Now
	accessTok, accessRec, ttl, e := s.mintAccess(ctx, req.Client, api, grant.Subject, scopes, grant.ID, req.Cnf, now,
		s.derive("access-id", old)[:22], token.PrefixAccess+s.derive("access", old))
	if e != nil {
		return nil, e
	}
	successor := s.derivedRefresh(old)
	succRec := s.refreshRecord(successor, newID(), grant, now)
	succRec.Cnf = rec.Cnf // the family keeps its binding, or its lack of one
	err := s.Grants.RotateRefreshToken(ctx, rec.ID, now, succRec, accessRec)
	switch gatehouse.ErrorCode(err) {
	case "":
		if s.GrantUsed != nil {
			s.GrantUsed(grant.ID, grant.ClientID, api.Name, now)
		}
		return &TokenResponse{AccessToken: accessTok, TokenType: req.Cnf.TokenType(), ExpiresIn: int64(ttl.Seconds()),
			RefreshToken: successor, Scope: strings.Join(scopes, " ")}, nil
	case gatehouse.CodeConflict, gatehouse.CodeNotFound:
		// Someone rotated it first (a concurrent request with the same
		// token) or the grant was revoked meanwhile: look again.
		rec, grant, e := s.findRefresh(ctx, req.Client, old)
		if e != nil {
			return nil, e
		}
		return s.refreshAgain(ctx, req, rec, grant, old)
	}
	return nil, s.internalError(ctx, "rotate refresh token", err)
}

// refreshBinding is the binding of a new refresh token family: a public
// client's refresh token is bound to the DPoP key of the request (RFC 9449
// §5); a confidential client's is not, since the client authenticates
// anyway, and each refresh binds the new access token to whatever proof
// comes with it.
func refreshBinding(req *TokenRequest) gatehouse.Confirmation {
	if req.Client.AuthMethod == gatehouse.AuthNone && req.Cnf.JKT != "" {
		return gatehouse.Confirmation{JKT: req.Cnf.JKT}
	}
	return gatehouse.Confirmation{}
}

// findRefresh returns the presented refresh token's record and grant,
// refusing tokens of other clients, revoked tokens and revoked grants.
func (s *Server) findRefresh(ctx context.Context, client *gatehouse.Client, old string) (*gatehouse.Token, *gatehouse.Grant, *Error) {
	rec, err := s.Tokens.FindTokenByHash(ctx, gatehouse.HashSecret(old))
	if isNotFound(err) {
		return nil, nil, errInvalidGrant("invalid refresh token")
	} else if err != nil {
		return nil, nil, s.internalError(ctx, "find refresh token", err)
	}
	if rec.Kind != gatehouse.KindRefresh || rec.GrantID == "" {
		return nil, nil, errInvalidGrant("invalid refresh token")
	}
	if rec.ClientID != client.ID {
		s.log().WarnContext(ctx, "refresh token presented by another client", "client_id", client.ID, "token_id", rec.ID)
		return nil, nil, errInvalidGrant("invalid refresh token")
	}
	grant, err := s.Grants.FindGrantByID(ctx, rec.GrantID)
	if isNotFound(err) {
		return nil, nil, errInvalidGrant("invalid refresh token")
	} else if err != nil {
		return nil, nil, s.internalError(ctx, "find grant", err)
	}
	if !rec.RevokedAt.IsZero() || !grant.RevokedAt.IsZero() {
		s.watchRevoked(ctx, rec)
		return nil, nil, errInvalidGrant("refresh token revoked")
	}
	if s.Revocations != nil && s.Revocations.CutOff(rec.ClientID, rec.Audience, rec.IssuedAt) {
		// Bulk revocation by app or API, or a suspended subscription,
		// also ends the refresh tokens issued before it.
		return nil, nil, errInvalidGrant("refresh token revoked")
	}
	if e := s.checkSubject(ctx, grant.Subject); e != nil {
		return nil, nil, e
	}
	return rec, grant, nil
}

// checkSubject refuses to issue for a user who was disabled or deleted
// since the authorization: disabling someone stops their apps' refreshes
// and pending codes at once.
func (s *Server) checkSubject(ctx context.Context, subject string) *Error {
	u, err := s.Users.FindUserByID(ctx, subject)
	if isNotFound(err) || (err == nil && u.Disabled) {
		return errInvalidGrant("the user of this grant is no longer active")
	} else if err != nil {
		return s.internalError(ctx, "find user", err)
	}
	return nil
}

// refreshAgain handles a refresh token that was already rotated: within
// the grace period the same successor pair is returned again; otherwise it
// is reuse, and the whole grant is revoked at once.
func (s *Server) refreshAgain(ctx context.Context, req *TokenRequest, rec *gatehouse.Token, grant *gatehouse.Grant, old string) (*TokenResponse, *Error) {
	grace := s.Policy.RefreshReuseGrace
	if grace > 0 && req.Now.Sub(rec.RotatedAt) <= grace {
		if resp, ok := s.replaySuccessor(ctx, rec, old, req.Now); ok {
			return resp, nil
		}
	}
	now := s.now()
	if _, err := s.Tokens.RevokeGrant(ctx, grant.ID, now); err != nil {
		return nil, s.internalError(ctx, "revoke reused grant", err)
	}
	s.Revocations.Add(gatehouse.Revocation{GrantID: grant.ID, Until: grant.ExpiresAt})
	s.securityEvent(ctx, &gatehouse.SecurityEvent{
		Type: gatehouse.EventRefreshReuse, ClientID: grant.ClientID, Subject: grant.Subject, GrantID: grant.ID,
		Detail: "rotated refresh token " + rec.ID + " presented again; grant revoked",
	})
	return nil, errInvalidGrant("refresh token already used")
}

// replaySuccessor rebuilds the response of the rotation that consumed old,
// if its tokens are still active.
func (s *Server) replaySuccessor(ctx context.Context, rec *gatehouse.Token, old string, now time.Time) (*TokenResponse, bool) {
	succ, err := s.Tokens.FindTokenByID(ctx, rec.SuccessorID)
	if err != nil || !succ.Active(now) {
		return nil, false
	}
	successor := s.derivedRefresh(old)
	if !hmac.Equal(succ.Hash, gatehouse.HashSecret(successor)) {
		return nil, false
	}
	acc, err := s.Tokens.FindTokenByID(ctx, s.derive("access-id", old)[:22])
	if err != nil || !acc.Active(now) {
		return nil, false
	}
	var tok string
	if acc.Format == gatehouse.FormatOpaque {
		tok = token.PrefixAccess + s.derive("access", old)
	} else {
		// Same claims; EdDSA and RS256 signatures are deterministic, so the
		// token is byte for byte the one sent before.
		tok, err = s.Minter.MintJWT(&gatehouse.AccessClaims{
			Issuer: s.Issuer, Subject: acc.Subject, Audience: acc.Audience, ClientID: acc.ClientID,
			Scopes: acc.Scopes, ID: acc.ID, GrantID: acc.GrantID, IssuedAt: acc.IssuedAt, ExpiresAt: acc.ExpiresAt,
			Cnf: acc.Cnf,
		})
		if err != nil {
			return nil, false
		}
	}
	return &TokenResponse{AccessToken: tok, TokenType: acc.Cnf.TokenType(), ExpiresIn: int64(acc.ExpiresAt.Sub(now).Seconds()),
		RefreshToken: successor, Scope: strings.Join(acc.Scopes, " ")}, true
}

// derive returns base64url(HMAC-SHA256(RefreshKey, purpose || 0 || old)).
func (s *Server) derive(purpose, old string) string {
	m := hmac.New(sha256.New, s.RefreshKey)
	m.Write([]byte(purpose))
	m.Write([]byte{0})
	m.Write([]byte(old))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

func (s *Server) derivedRefresh(old string) string {
	return token.PrefixRefresh + s.derive("refresh", old)
}

// refreshRecord is the stored form of a refresh token of grant. Its life is
// the idle limit, never past the grant's absolute end: rotation happens on
// every use, so a token unused for the idle limit simply expires.
func (s *Server) refreshRecord(tok, id string, grant *gatehouse.Grant, now time.Time) *gatehouse.Token {
	exp := now.Add(s.Policy.RefreshTokenIdleTTL)
	if grant.ExpiresAt.Before(exp) {
		exp = grant.ExpiresAt
	}
	return &gatehouse.Token{
		ID: id, Hash: gatehouse.HashSecret(tok), Kind: gatehouse.KindRefresh, Format: gatehouse.FormatOpaque,
		ClientID: grant.ClientID, Subject: grant.Subject, Audience: grant.Audience, Scopes: grant.Scopes,
		GrantID: grant.ID, IssuedAt: now, ExpiresAt: exp,
	}
}

// revokeUserGrants revokes every grant subject gave clientID ("" for all
// clients), in the store and in memory.
func (s *Server) revokeUserGrants(ctx context.Context, subject, clientID string) *Error {
	grants, err := s.Grants.FindGrants(ctx, subject)
	if err != nil {
		return s.internalError(ctx, "find grants", err)
	}
	now := s.now()
	for _, g := range grants {
		if clientID != "" && g.ClientID != clientID {
			continue
		}
		if _, err := s.Tokens.RevokeGrant(ctx, g.ID, now); err != nil {
			return s.internalError(ctx, "revoke grant", err)
		}
		s.Revocations.Add(gatehouse.Revocation{GrantID: g.ID, Until: g.ExpiresAt})
		s.securityEvent(ctx, &gatehouse.SecurityEvent{Type: gatehouse.EventGrantRevoked, ClientID: g.ClientID, Subject: subject, GrantID: g.ID, Detail: "consent withdrawn by the user"})
	}
	return nil
}

// securityEvent records e and logs it; a failure to record is logged, never
// hidden, and does not undo the protective action already taken.
func (s *Server) securityEvent(ctx context.Context, e *gatehouse.SecurityEvent) {
	e.ID = newID()
	e.At = s.now()
	s.log().WarnContext(ctx, "security event", "type", e.Type, "client_id", e.ClientID, "subject", e.Subject, "grant_id", e.GrantID, "detail", e.Detail)
	if s.Events != nil {
		if err := s.Events.RecordEvent(ctx, e); err != nil {
			s.log().ErrorContext(ctx, "record security event", "type", e.Type, "err", err)
		}
	}
}

func newID() string { return token.NewID() }

func isNotFound(err error) bool { return gatehouse.ErrorCode(err) == gatehouse.CodeNotFound }
