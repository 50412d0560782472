package oauth

import (
	"net/http"
	"strings"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/internal/token"
)

// introspection is the RFC 7662 response.
type introspection struct {
	Active    bool   `json:"active"`
	Scope     string `json:"scope,omitempty"`
	ClientID  string `json:"client_id,omitempty"`
	Subject   string `json:"sub,omitempty"`
	Audience  string `json:"aud,omitempty"`
	Issuer    string `json:"iss,omitempty"`
	ExpiresAt int64  `json:"exp,omitempty"`
	IssuedAt  int64  `json:"iat,omitempty"`
	JTI       string `json:"jti,omitempty"`
	TokenType string `json:"token_type,omitempty"`
	Cnf       *cnf   `json:"cnf,omitempty"`

	// Act is an exchanged token's delegation chain (RFC 8693 4.1).
	Act *actJSON `json:"act,omitempty"`
}

// cnf is the key binding of an introspected token (RFC 7800 §3.1, RFC 9449
// §6.2, RFC 8705 §3.2).
type cnf struct {
	JKT     string `json:"jkt,omitempty"`
	X5TS256 string `json:"x5t#S256,omitempty"`
}

func introspectCnf(c gatehouse.Confirmation) *cnf {
	if !c.Bound() {
		return nil
	}
	return &cnf{JKT: c.JKT, X5TS256: c.X5TS256}
}

// handleIntrospect is the RFC 7662 introspection endpoint. The caller must
// authenticate. Revoked, expired, unknown and malformed tokens, and tokens
// the caller may not see, all get exactly {"active":false}.
//
// A caller may introspect tokens issued to itself, tokens for an API on
// which it holds the introspect role (a resource server), and any token if
// it holds admin access. Merely being a client of the same API is not
// enough: that would let any client read other clients' tokens.
func (s *Server) handleIntrospect(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	caller, tok, err := s.tokenCall(w, r, false)
	if err != nil {
		writeError(w, err)
		return
	}
	inactive := introspection{Active: false}
	if strings.HasPrefix(tok, token.PrefixRefresh) {
		writeJSON(w, http.StatusOK, s.introspectRefresh(r, caller, tok))
		return
	}
	claims, verr := s.Verifier.Verify(ctx, tok)
	if verr != nil {
		if token.ReasonOf(verr) == "" {
			writeError(w, s.internalError(ctx, "verify token", verr))
			return
		}
		writeJSON(w, http.StatusOK, inactive)
		return
	}
	// The verifier tolerates clock skew for its own checks; introspection
	// tells the truth about exp.
	if !s.now().Before(claims.ExpiresAt) || !s.mayIntrospect(caller, claims) {
		writeJSON(w, http.StatusOK, inactive)
		return
	}
	writeJSON(w, http.StatusOK, introspection{
		Active:    true,
		Scope:     strings.Join(claims.Scopes, " "),
		ClientID:  claims.ClientID,
		Subject:   claims.Subject,
		Audience:  claims.Audience,
		Issuer:    claims.Issuer,
		ExpiresAt: claims.ExpiresAt.Unix(),
		IssuedAt:  claims.IssuedAt.Unix(),
		JTI:       claims.ID,
		TokenType: claims.Cnf.TokenType(),
		Cnf:       introspectCnf(claims.Cnf),
		Act:       actOf(claims.Act),
	})
}

// introspectRefresh answers for a refresh token, only to the client it was
// issued to: nobody else has a use for it.
func (s *Server) introspectRefresh(r *http.Request, caller *gatehouse.Client, tok string) introspection {
	ctx := r.Context()
	rec, err := s.Tokens.FindTokenByHash(ctx, gatehouse.HashSecret(tok))
	if err != nil || rec.Kind != gatehouse.KindRefresh || rec.ClientID != caller.ID || !rec.Active(s.now()) ||
		s.Revocations.Revoked(rec.ID, rec.GrantID) || s.checkSubject(ctx, rec.Subject) != nil {
		if err != nil && !isNotFound(err) {
			s.log().ErrorContext(ctx, "find refresh token", "err", err)
		}
		return introspection{Active: false}
	}
	return introspection{
		Active: true, Scope: strings.Join(rec.Scopes, " "), ClientID: rec.ClientID, Subject: rec.Subject,
		Audience: rec.Audience, Issuer: s.Issuer, ExpiresAt: rec.ExpiresAt.Unix(), IssuedAt: rec.IssuedAt.Unix(),
		Cnf: introspectCnf(rec.Cnf),
	}
}

func (s *Server) mayIntrospect(caller *gatehouse.Client, c *gatehouse.AccessClaims) bool {
	if caller.ID == c.ClientID || caller.AccessFor(gatehouse.AdminAPIName) != nil {
		return true
	}
	api := s.Catalog.APIByAudience(c.Audience)
	if api == nil {
		return false
	}
	acc := caller.AccessFor(api.Name)
	return acc != nil && acc.Introspect
}
