package oauth

import (
	"context"
	"net/url"
	"strings"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/internal/token"
)

// TokenTypeAccessToken is the RFC 8693 section 3 identifier of an OAuth
// access token, the only token type Gatehouse exchanges and issues.
const TokenTypeAccessToken = "urn:ietf:params:oauth:token-type:access_token"

// TokenExchange is the token exchange grant (RFC 8693): a service that
// received an access token (the subject token) gets a new, narrower one for
// another API, so that it never passes the caller's token along.
//
// It reads subject_token and subject_token_type (section 2.1), the optional
// actor_token and actor_token_type, the target API by resource (RFC 8707)
// and/or audience, requested_token_type and scope; the client's exchange
// rules (Client.TokenExchange) and its access to the target API; the token
// policy. Only Gatehouse's own access tokens are exchanged: a token of an
// external issuer cannot be revoked here nor tied to a grant, so it could
// outlive what its issuer allowed. The new token keeps the subject (sub)
// and the grant id of the subject token, so revoking the original grant
// revokes it too, never lives past the subject token, and records the
// delegation in act (section 4.1): the exchanging client, then any earlier
// actors. No refresh token is issued (section 2.2.1 makes it optional).
type TokenExchange struct {
	Server *Server
}

// GrantType implements GrantHandler.
func (*TokenExchange) GrantType() string { return gatehouse.GrantTokenExchange }

// PublicClients implements GrantHandler: the exchange policy belongs to a
// client that proves who it is.
func (*TokenExchange) PublicClients() bool { return false }

// Handle implements GrantHandler.
func (g *TokenExchange) Handle(ctx context.Context, req *TokenRequest) (*TokenResponse, *Error) {
	s, f, client := g.Server, req.Form, req.Client
	subjectTok := f.get("subject_token")
	switch {
	case subjectTok == "":
		return nil, errInvalidRequest("missing subject_token")
	case f.get("subject_token_type") == "":
		return nil, errInvalidRequest("missing subject_token_type")
	case f.get("subject_token_type") != TokenTypeAccessToken:
		return nil, errInvalidRequest("subject_token_type must be " + TokenTypeAccessToken + ": only access tokens are exchanged")
	case f.has("requested_token_type") && f.get("requested_token_type") != TokenTypeAccessToken:
		return nil, errInvalidRequest("requested_token_type must be " + TokenTypeAccessToken + ": only access tokens are issued")
	case f.has("actor_token") != f.has("actor_token_type"):
		return nil, errInvalidRequest("actor_token and actor_token_type go together")
	case f.has("actor_token") && f.get("actor_token_type") != TokenTypeAccessToken:
		return nil, errInvalidRequest("actor_token_type must be " + TokenTypeAccessToken)
	}

	sub, e := g.verify(ctx, subjectTok, req, "subject_token")
	if e != nil {
		return nil, e
	}
	from := s.Catalog.APIByAudience(sub.Audience)
	if from == nil || !servable(from) {
		return nil, errInvalidRequest("subject_token is not for an available API of this server")
	}
	if sub.GrantID != "" {
		// A user's grant: the user must still be active, as for a refresh.
		if e := s.checkSubject(ctx, sub.Subject); e != nil {
			if e.Code == "invalid_grant" {
				// An unacceptable subject token is invalid_request
				// here (RFC 8693 section 2.2.2).
				e = errInvalidRequest("subject_token: " + e.Description)
			}
			return nil, e
		}
	}
	if sub.Act.Depth() >= gatehouse.MaxActorDepth {
		return nil, errInvalidRequest("subject_token's delegation chain is already as long as allowed")
	}
	expires := sub.ExpiresAt
	if f.has("actor_token") {
		// The actor token shows who acts; it must be the exchanging
		// client's own client credentials token (sub is the client, no
		// grant, no act), so nobody can name another party as actor: a
		// user's token or an exchanged one carries someone else's sub.
		act, e := g.verify(ctx, f.get("actor_token"), req, "actor_token")
		if e != nil {
			return nil, e
		}
		switch {
		case act.ClientID != client.ID:
			return nil, errInvalidRequest("actor_token was not issued to this client")
		case act.Act != nil:
			return nil, errInvalidRequest("actor_token is an exchanged token; send the client's own client credentials token")
		case act.Subject != client.ID || act.GrantID != "":
			return nil, errInvalidRequest("actor_token must be the client's own client credentials token")
		}
		if act.ExpiresAt.Before(expires) {
			expires = act.ExpiresAt
		}
	}

	to, e := g.target(f, client, from)
	if e != nil {
		return nil, e
	}
	if !client.MayExchange(from.Name, to.Name) {
		return nil, errUnauthorizedClient("client may not exchange tokens for this API into tokens for the requested one")
	}
	// What the client may have on the target API now: its approved,
	// unexpired subscription (governance) or its config access.
	gs, e := s.clientAccess(ctx, client, req.Now)
	if e != nil {
		return nil, e
	}
	ga := grantableFor(gs, to.Name)
	if ga == nil {
		return nil, errUnauthorizedClient("client has no access to the requested API")
	}
	if ga.blocked != "" {
		return nil, errInvalidTarget("the client's subscription to the requested API is " + ga.blocked + "; no token is issued for it")
	}
	scopes, e := exchangeScopes(f, sub.Scopes, &ga.acc, to)
	if e != nil {
		return nil, e
	}

	chain := &gatehouse.Actor{Subject: client.ID, Actor: sub.Act}
	shape := func(c *gatehouse.AccessClaims) {
		c.Act = chain
		if expires.Before(c.ExpiresAt) {
			c.ExpiresAt = expires
		}
	}
	tok, rec, ttl, e := s.mintAccessWith(ctx, client, to, sub.Subject, scopes, sub.GrantID, req.Cnf, req.Now, ga.until, "", "", shape)
	if e != nil {
		return nil, e
	}
	if ttl <= 0 {
		return nil, errInvalidRequest("subject_token expires too soon to be exchanged")
	}
	rec.CredentialID = req.CredentialID
	err := s.Tokens.CreateToken(ctx, rec)
	if gatehouse.ErrorCode(err) == gatehouse.CodeConflict && sub.GrantID != "" {
		return nil, errInvalidRequest("subject_token was revoked") // its grant, meanwhile
	} else if err != nil {
		return nil, s.internalError(ctx, "record exchanged token", err)
	}
	s.log().InfoContext(ctx, "token exchanged", "client_id", client.ID, "subject_token_id", sub.ID,
		"token_id", rec.ID, "from", from.Name, "to", to.Name)
	return &TokenResponse{
		AccessToken:     tok,
		IssuedTokenType: TokenTypeAccessToken,
		TokenType:       req.Cnf.TokenType(),
		ExpiresIn:       int64(ttl.Seconds()),
		Scope:           strings.Join(scopes, " "),
	}, nil
}

// verify checks a subject or actor token: an active access token of this
// server (revocation included), not expired without the verifier's leeway.
// A token that fails is invalid_request (RFC 8693 section 2.2.2), not
// invalid_grant.
func (g *TokenExchange) verify(ctx context.Context, tok string, req *TokenRequest, param string) (*gatehouse.AccessClaims, *Error) {
	c, err := g.Server.Verifier.Verify(ctx, tok)
	if err != nil {
		if token.ReasonOf(err) == "" {
			return nil, g.Server.internalError(ctx, "verify "+param, err)
		}
		return nil, errInvalidRequest(param + " is invalid, expired or revoked")
	}
	if !req.Now.Before(c.ExpiresAt) {
		return nil, errInvalidRequest(param + " is invalid, expired or revoked")
	}
	return c, nil
}

// target picks the API the new token is for: by resource (an absolute URI,
// RFC 8707), by audience (the API's name or its resource identifier), or
// both naming the same API; with neither, the only API the client may
// exchange into from this one.
func (g *TokenExchange) target(f *form, client *gatehouse.Client, from *gatehouse.API) (*gatehouse.API, *Error) {
	s := g.Server
	var api *gatehouse.API
	res := f.all("resource")
	switch len(res) {
	case 0:
	case 1:
		if u, err := url.Parse(res[0]); err != nil || !u.IsAbs() || strings.Contains(res[0], "#") {
			return nil, errInvalidTarget("resource must be an absolute URI without a fragment")
		}
		if api = s.Catalog.APIByAudience(res[0]); api == nil {
			return nil, errInvalidTarget("unknown resource")
		}
	default:
		return nil, errInvalidTarget("a token is for exactly one resource; send one resource parameter")
	}
	if f.has("audience") {
		aud := f.get("audience")
		byAud := s.Catalog.API(aud)
		if byAud == nil {
			byAud = s.Catalog.APIByAudience(aud)
		}
		switch {
		case byAud == nil:
			return nil, errInvalidTarget("unknown audience")
		case api != nil && api != byAud:
			return nil, errInvalidTarget("resource and audience name different APIs")
		}
		api = byAud
	}
	if api == nil {
		targets := client.ExchangeTargets(from.Name)
		if len(targets) != 1 {
			return nil, errInvalidTarget("name the API the new token is for with resource or audience")
		}
		if api = s.Catalog.API(targets[0]); api == nil {
			return nil, errInvalidTarget("the exchange target is not available")
		}
	}
	if !servable(api) || api.Name == gatehouse.AdminAPIName {
		return nil, errInvalidTarget("tokens for this API cannot be issued")
	}
	return api, nil
}

// exchangeScopes returns the new token's scopes: those of the subject token
// that the client may also have on the target API, or the subset asked for.
// Asking for anything outside both is invalid_scope, never silently less.
func exchangeScopes(f *form, subject []string, acc *gatehouse.Access, api *gatehouse.API) ([]string, *Error) {
	var allowed []string
	for _, sc := range subject {
		if contains(acc.Scopes, sc) && api.HasScope(sc) && !contains(allowed, sc) {
			allowed = append(allowed, sc)
		}
	}
	if !f.has("scope") {
		if len(allowed) == 0 {
			return nil, errInvalidScope("the subject token carries no scope the client may have on the requested API")
		}
		return allowed, nil
	}
	asked, e := parseScope(f.get("scope"))
	if e != nil {
		return nil, e
	}
	for _, sc := range asked {
		if !contains(allowed, sc) {
			return nil, errInvalidScope("scope " + quoteParam(sc) + " is not both in the subject token and allowed for this client on the requested API")
		}
	}
	return asked, nil
}

// actJSON is the act claim as introspection shows it (RFC 8693 4.1).
type actJSON struct {
	Subject string   `json:"sub"`
	Act     *actJSON `json:"act,omitempty"`
}

func actOf(a *gatehouse.Actor) *actJSON {
	if a == nil {
		return nil
	}
	return &actJSON{Subject: a.Subject, Act: actOf(a.Actor)}
}
