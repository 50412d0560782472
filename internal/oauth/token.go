package oauth

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/internal/token"
)

// handleToken is the token endpoint (RFC 6749 section 3.2): authenticate the
// client, then hand the request to the handler of its grant_type.
func (s *Server) handleToken(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	resp, gt, err := s.token(ctx, w, r)
	if s.Metrics != nil {
		outcome := "issued"
		if err != nil {
			outcome = err.Code
		}
		s.Metrics.TokenRequests.WithLabelValues(metricGrant(gt), outcome).Inc()
	}
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, resp)
}

func (s *Server) token(ctx context.Context, w http.ResponseWriter, r *http.Request) (*TokenResponse, string, *Error) {
	f, err := readForm(w, r, "resource")
	if err != nil {
		return nil, "", err
	}
	gt := f.get("grant_type")
	if gt == "" {
		return nil, gt, errInvalidRequest("missing grant_type")
	}
	g, ok := s.grants[gt]
	if !ok {
		return nil, gt, errUnsupportedGrantType("grant_type " + quoteParam(gt) + " is not supported")
	}
	proof, err := s.tokenDPoP(w, r)
	if err != nil {
		return nil, gt, err
	}
	client, credID, err := s.authenticateClientCred(ctx, r, f, g.PublicClients())
	if err != nil {
		return nil, gt, err
	}
	var jkt string
	if proof != nil {
		jkt = proof.Thumbprint
	}
	// A proof is recorded as used once the request has proved it may have
	// tokens: a confidential client here, having authenticated; a public
	// client in its grant, once the code or refresh token it presents is
	// found valid. Anyone can name a public client, so recording its
	// proofs here would let anyone fill the replay cache (and so refuse
	// every DPoP token request) with garbage requests and fresh proofs.
	use := func() *Error {
		_, err := s.useDPoP(r, proof)
		return err
	}
	if client.AuthMethod != gatehouse.AuthNone {
		if err := use(); err != nil {
			return nil, gt, err
		}
		use = nil
	}
	if !client.AllowsGrant(gt) {
		return nil, gt, errUnauthorizedClient("client may not use grant_type " + gt)
	}
	if err := checkClientDPoP(client, jkt); err != nil {
		return nil, gt, err
	}
	cnf, err := certificateBinding(r, client)
	if err != nil {
		return nil, gt, err
	}
	cnf.JKT = jkt
	req := &TokenRequest{Client: client, CredentialID: credID, Form: f, Now: s.now(), Cnf: cnf, useProof: use}
	resp, err := g.Handle(ctx, req)
	if err == nil && req.useProof != nil && proof != nil {
		// A grant open to public clients that issued tokens without
		// recording the proof: a bug; the tokens are not handed out.
		return nil, gt, s.internalError(ctx, "token request", fmt.Errorf("grant %s issued tokens without recording the DPoP proof", gt))
	}
	return resp, gt, err
}

func metricGrant(gt string) string {
	switch gt {
	case gatehouse.GrantClientCredentials, gatehouse.GrantAuthorizationCode, gatehouse.GrantRefreshToken:
		return gt
	case gatehouse.GrantTokenExchange:
		return "token_exchange"
	}
	return "other"
}

// selectAPI resolves the RFC 8707 resource parameter to the one API the
// token will be for, and what the client may ask of it now. With no
// resource, a client with exactly one API gets that one; several make
// resource required. A subscription that is not approved (or expired)
// refuses the request with invalid_target naming its state.
func (s *Server) selectAPI(ctx context.Context, client *gatehouse.Client, resources []string, now time.Time) (*gatehouse.API, *grantable, *Error) {
	gs, e := s.clientAccess(ctx, client, now)
	if e != nil {
		return nil, nil, e
	}
	var api *gatehouse.API
	var g *grantable
	switch len(resources) {
	case 0:
		if len(gs) != 1 {
			return nil, nil, errInvalidTarget("resource is required: name the API the token is for")
		}
		api, g = s.Catalog.API(gs[0].api), &gs[0]
		if api == nil || !servable(api) {
			return nil, nil, errInvalidTarget("the client's API is not available")
		}
	case 1:
		res := resources[0]
		u, err := url.Parse(res)
		if err != nil || !u.IsAbs() || u.Fragment != "" || strings.Contains(res, "#") {
			return nil, nil, errInvalidTarget("resource must be an absolute URI without a fragment")
		}
		api = s.Catalog.APIByAudience(res)
		if api == nil || !servable(api) {
			return nil, nil, errInvalidTarget("unknown resource")
		}
		if g = grantableFor(gs, api.Name); g == nil {
			return nil, nil, errInvalidTarget("client may not request tokens for this resource: it has no subscription to it")
		}
	default:
		return nil, nil, errInvalidTarget("a token is for exactly one resource; send one resource parameter")
	}
	if g.blocked != "" {
		return nil, nil, errInvalidTarget("the client's subscription to this resource is " + g.blocked + "; no token is issued for it")
	}
	return api, g, nil
}

// servable reports whether tokens may be issued for api: not for drafts nor
// retired APIs.
func servable(api *gatehouse.API) bool {
	return api.Lifecycle == "" || api.Lifecycle == gatehouse.LifecyclePublished || api.Lifecycle == gatehouse.LifecycleDeprecated
}

// selectScopes narrows the requested scope (RFC 6749 3.3) to what the client
// may have on api. Asking for anything more is an error, never silently
// granted less; asking for nothing gets the configured defaults.
func selectScopes(raw string, hasParam bool, api *gatehouse.API, acc *gatehouse.Access) ([]string, *Error) {
	if !hasParam {
		var out []string
		for _, sc := range acc.DefaultScopes {
			if api.HasScope(sc) && contains(acc.Scopes, sc) {
				out = append(out, sc)
			}
		}
		return out, nil
	}
	req, err := parseScope(raw)
	if err != nil {
		return nil, err
	}
	for _, sc := range req {
		if !api.HasScope(sc) || !contains(acc.Scopes, sc) {
			return nil, errInvalidScope("scope " + quoteParam(sc) + " is not allowed for this client and resource")
		}
	}
	return req, nil
}

// parseScope splits a scope parameter, checking RFC 6749 3.3 syntax and
// dropping duplicates while keeping order.
func parseScope(raw string) ([]string, *Error) {
	if raw == "" {
		return nil, nil
	}
	if len(raw) > 2048 {
		return nil, errInvalidScope("scope too long")
	}
	var out []string
	for _, sc := range strings.Split(raw, " ") {
		if sc == "" {
			return nil, errInvalidScope("scope values are separated by single spaces")
		}
		for i := 0; i < len(sc); i++ {
			c := sc[i]
			if c < 0x21 || c == 0x22 || c == 0x5c || c > 0x7e {
				return nil, errInvalidScope("scope contains a character not allowed by RFC 6749 section 3.3")
			}
		}
		if !contains(out, sc) {
			out = append(out, sc)
		}
	}
	return out, nil
}

// issueAccessTokenUntil mints, records and returns an access token for client on
// api, bound to cnf (zero: a bearer token). The record is written before the
// token is returned, so revocation and introspection know every token that
// was ever handed out. The token does not outlive until (a subscription's
// expiry; zero: no bound), and its record names the credential the client
// authenticated with.
func (s *Server) issueAccessTokenUntil(ctx context.Context, client *gatehouse.Client, api *gatehouse.API, subject string, scopes []string, grantID string, cnf gatehouse.Confirmation, now, until time.Time, credentialID string) (string, time.Duration, *Error) {
	tok, rec, ttl, e := s.mintAccessWith(ctx, client, api, subject, scopes, grantID, cnf, now, until, "", "", nil)
	if e != nil {
		return "", 0, e
	}
	rec.CredentialID = credentialID
	if err := s.Tokens.CreateToken(ctx, rec); err != nil {
		return "", 0, s.internalError(ctx, "record access token", err)
	}
	return tok, ttl, nil
}

// mintAccess makes an access token and its record without storing it. id
// and opaque, when set, fix the token id and the opaque token string (a
// refresh rotation derives them so a retry can rebuild the same token).
func (s *Server) mintAccess(ctx context.Context, client *gatehouse.Client, api *gatehouse.API, subject string, scopes []string, grantID string, cnf gatehouse.Confirmation, now time.Time, id, opaque string) (string, *gatehouse.Token, time.Duration, *Error) {
	return s.mintAccessWith(ctx, client, api, subject, scopes, grantID, cnf, now, time.Time{}, id, opaque, nil)
}

// mintAccessWith is mintAccess with until (a subscription's expiry the
// token must not outlive; zero: no bound) and shape, when not nil, applied to the
// claims before the token is made: token exchange adds the actor chain and
// shortens the expiry.
func (s *Server) mintAccessWith(ctx context.Context, client *gatehouse.Client, api *gatehouse.API, subject string, scopes []string, grantID string, cnf gatehouse.Confirmation, now, until time.Time, id, opaque string, shape func(*gatehouse.AccessClaims)) (string, *gatehouse.Token, time.Duration, *Error) {
	ttl := s.Policy.AccessTokenTTL
	if api.AccessTokenTTL > 0 {
		ttl = api.AccessTokenTTL
	}
	format := s.Policy.AccessTokenFormat
	if api.TokenFormat != "" {
		format = api.TokenFormat
	}
	if client.TokenFormat != "" {
		format = client.TokenFormat
	}
	if id == "" {
		id = token.NewID()
	}
	now = now.Truncate(time.Second) // JWT times are whole seconds; keep the record identical
	if s.Revocations != nil {
		// A token must be issued after any cutoff of its client and API
		// (a resumed subscription's first tokens may come in the same
		// second as the suspension), or it would be refused at once.
		if nb := s.Revocations.NotBefore(client.ID, api.Audience); !nb.IsZero() && !now.After(nb) {
			now = nb.Truncate(time.Second).Add(time.Second)
			s.Revocations.NoteIssued(now)
		}
	}
	claims := &gatehouse.AccessClaims{
		Issuer:    s.Issuer,
		Subject:   subject,
		Audience:  api.Audience,
		ClientID:  client.ID,
		Scopes:    scopes,
		ID:        id,
		GrantID:   grantID,
		IssuedAt:  now,
		ExpiresAt: now.Add(ttl),
		Cnf:       cnf,
	}
	if shape != nil {
		shape(claims)
		ttl = claims.ExpiresAt.Sub(claims.IssuedAt)
	}
	if !until.IsZero() && claims.ExpiresAt.After(until) {
		// No token outlives its subscription (whole seconds, rounded down).
		claims.ExpiresAt = until.Truncate(time.Second)
		if ttl = claims.ExpiresAt.Sub(now); ttl <= 0 {
			return "", nil, 0, errInvalidTarget("the client's subscription to this resource is expired")
		}
	}
	var tok string
	var err error
	if format == gatehouse.FormatOpaque {
		tok = opaque
		if tok == "" {
			tok = gatehouse.NewSecret(token.PrefixAccess)
		}
	} else {
		format = gatehouse.FormatJWT
		if tok, err = s.Minter.MintJWT(claims); err != nil {
			return "", nil, 0, s.internalError(ctx, "mint access token", err)
		}
	}
	rec := &gatehouse.Token{
		ID:        claims.ID,
		Hash:      gatehouse.HashSecret(tok),
		Kind:      gatehouse.KindAccess,
		Format:    format,
		ClientID:  client.ID,
		Subject:   subject,
		Audience:  api.Audience,
		Scopes:    scopes,
		GrantID:   grantID,
		IssuedAt:  claims.IssuedAt,
		ExpiresAt: claims.ExpiresAt,
		Act:       claims.Act,
		Cnf:       cnf,
	}
	return tok, rec, ttl, nil
}
