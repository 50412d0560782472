package oauth

import (
	"context"
	"strings"

	"github.com/gatehouse/gatehouse"
)

// ClientCredentials is the client_credentials grant (RFC 6749 section 4.4):
// a confidential client gets an access token for itself. It reads the
// resource (RFC 8707) and scope parameters, the client's access list and the
// token policy; it never issues a refresh token (section 4.4.3).
type ClientCredentials struct {
	Server *Server
}

// GrantType implements GrantHandler.
func (*ClientCredentials) GrantType() string { return gatehouse.GrantClientCredentials }

// PublicClients implements GrantHandler: section 4.4 is for confidential
// clients only.
func (*ClientCredentials) PublicClients() bool { return false }

// Handle implements GrantHandler.
func (g *ClientCredentials) Handle(ctx context.Context, req *TokenRequest) (*TokenResponse, *Error) {
	s := g.Server
	api, ga, err := s.selectAPI(ctx, req.Client, req.Form.all("resource"), req.Now)
	if err != nil {
		return nil, err
	}
	scopes, err := selectScopes(req.Form.get("scope"), req.Form.has("scope"), api, &ga.acc)
	if err != nil {
		return nil, err
	}
	// RFC 9068 section 2.2: with no resource owner, sub is the client id.
	tok, ttl, err := s.issueAccessTokenUntil(ctx, req.Client, api, req.Client.ID, scopes, "", req.Cnf, req.Now, ga.until, req.CredentialID)
	if err != nil {
		return nil, err
	}
	return &TokenResponse{
		AccessToken: tok,
		TokenType:   req.Cnf.TokenType(),
		ExpiresIn:   int64(ttl.Seconds()),
		Scope:       strings.Join(scopes, " "),
	}, nil
}
