package oauth

import (
	"context"
	"strings"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/internal/token"
)

// AuthorizationCode is the authorization_code grant (RFC 6749 section 4.1.3)
// with PKCE (RFC 7636) as RFC 9700 asks: the code is single-use, bound to
// its client, redirect URI and S256 challenge; presenting it twice revokes
// every token the first redemption produced. It reads the code store, the
// token policy and the catalog; it issues a refresh token when the client
// may use the refresh_token grant.
type AuthorizationCode struct {
	Server *Server
}

// GrantType implements GrantHandler.
func (*AuthorizationCode) GrantType() string { return gatehouse.GrantAuthorizationCode }

// PublicClients implements GrantHandler: native and browser apps have no
// secret; PKCE protects their codes.
func (*AuthorizationCode) PublicClients() bool { return true }

// Handle implements GrantHandler.
func (g *AuthorizationCode) Handle(ctx context.Context, req *TokenRequest) (*TokenResponse, *Error) {
	s := g.Server
	f := req.Form
	code := f.get("code")
	if code == "" {
		return nil, errInvalidRequest("missing code")
	}
	if len(code) > 512 {
		return nil, errInvalidGrant("invalid authorization code")
	}
	hash := gatehouse.HashSecret(code)
	c, err := s.Codes.FindAuthCode(ctx, hash)
	if isNotFound(err) {
		return nil, errInvalidGrant("invalid authorization code")
	} else if err != nil {
		return nil, s.internalError(ctx, "find code", err)
	}
	if c.ClientID != req.Client.ID {
		return nil, errInvalidGrant("invalid authorization code")
	}
	grant := &gatehouse.Grant{
		ID: c.GrantID, ClientID: c.ClientID, Subject: c.Subject, Audience: c.Audience, Scopes: c.Scopes,
		CreatedAt: req.Now, ExpiresAt: req.Now.Add(s.Policy.RefreshTokenTTL),
	}
	if !c.UsedAt.IsZero() {
		// Redeem again so the store revokes the first redemption's grant.
		err := s.Codes.RedeemAuthCode(ctx, hash, req.Now, grant, nil)
		return nil, s.codeReused(ctx, c, err)
	}
	if !req.Now.Before(c.ExpiresAt) {
		return nil, errInvalidGrant("authorization code expired")
	}
	if f.get("redirect_uri") != c.RedirectURI {
		return nil, errInvalidGrant("redirect_uri does not match the authorization request")
	}
	// RFC 9449 §10: a code requested with dpop_jkt is redeemed only with a
	// proof by that key; checked before redemption, so a stolen code
	// presented without the key leaves the code to its owner.
	if e := checkBinding(c.DPoPJKT, req.Cnf.JKT, "authorization code"); e != nil {
		return nil, e
	}
	verifier := f.get("code_verifier")
	switch {
	case c.CodeChallenge != "" && verifier == "":
		return nil, errInvalidGrant("code_verifier required: the authorization request used PKCE")
	case c.CodeChallenge == "" && f.has("code_verifier"):
		return nil, errInvalidGrant("code_verifier sent but the authorization request had no code_challenge")
	case c.CodeChallenge != "" && !verifyPKCE(c.CodeChallenge, verifier):
		return nil, errInvalidGrant("code_verifier does not match the code_challenge")
	}
	// The code is valid and this request holds it: its proof counts now.
	if e := req.UseProof(); e != nil {
		return nil, e
	}
	api := s.Catalog.APIByAudience(c.Audience)
	if api == nil || !servable(api) {
		return nil, errInvalidGrant("the API of this authorization is no longer available")
	}
	if e := s.checkSubject(ctx, c.Subject); e != nil {
		return nil, e
	}
	scopes, e := s.currentScopes(ctx, c.Scopes, req.Client, api, req.Now)
	if e != nil {
		return nil, e
	}
	if res := f.all("resource"); len(res) > 1 || (len(res) == 1 && res[0] != c.Audience) {
		return nil, errInvalidTarget("resource must be the one of the authorization request")
	}

	grant.Scopes = scopes
	accessTok, accessRec, ttl, e := s.mintAccess(ctx, req.Client, api, c.Subject, scopes, grant.ID, req.Cnf, req.Now, "", "")
	if e != nil {
		return nil, e
	}
	records := []*gatehouse.Token{accessRec}
	resp := &TokenResponse{AccessToken: accessTok, TokenType: req.Cnf.TokenType(), ExpiresIn: int64(ttl.Seconds()), Scope: strings.Join(scopes, " ")}
	if req.Client.AllowsGrant(gatehouse.GrantRefreshToken) {
		refresh := gatehouse.NewSecret(token.PrefixRefresh)
		rt := s.refreshRecord(refresh, newID(), grant, req.Now)
		rt.Cnf = refreshBinding(req)
		records = append(records, rt)
		resp.RefreshToken = refresh
	}
	err = s.Codes.RedeemAuthCode(ctx, hash, req.Now, grant, records)
	switch gatehouse.ErrorCode(err) {
	case "":
		return resp, nil
	case gatehouse.CodeConflict:
		return nil, s.codeReused(ctx, c, err)
	case gatehouse.CodeInvalid:
		return nil, errInvalidGrant("authorization code expired or no longer valid")
	case gatehouse.CodeNotFound:
		return nil, errInvalidGrant("invalid authorization code")
	}
	return nil, s.internalError(ctx, "redeem code", err)
}

// codeReused finishes a second redemption: the store has revoked the grant
// of the first (err is its CodeConflict); make that visible in memory and
// record the event.
func (s *Server) codeReused(ctx context.Context, c *gatehouse.AuthCode, err error) *Error {
	if err != nil && gatehouse.ErrorCode(err) != gatehouse.CodeConflict {
		return s.internalError(ctx, "revoke reused code's grant", err)
	}
	now := s.now()
	s.Revocations.Add(gatehouse.Revocation{GrantID: c.GrantID, Until: now.Add(s.Policy.RefreshTokenTTL)})
	s.securityEvent(ctx, &gatehouse.SecurityEvent{
		Type: gatehouse.EventCodeReuse, ClientID: c.ClientID, Subject: c.Subject, GrantID: c.GrantID,
		Detail: "authorization code presented twice; every token issued from it was revoked",
	})
	return errInvalidGrant("authorization code already used")
}
