package oauth

import (
	"context"
	"net/http"
	"strings"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/internal/jose"
	"github.com/gatehouse/gatehouse/internal/token"
)

// handleRevoke is the RFC 7009 revocation endpoint. Callers authenticate;
// the answer is 200 whether or not the token existed, was already revoked or
// belonged to someone else, so the endpoint reveals nothing about tokens. A
// revoked token is refused by introspection and by the in-process verifier
// before this call returns.
func (s *Server) handleRevoke(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	client, tok, err := s.tokenCall(w, r, true)
	if err != nil {
		writeError(w, err)
		return
	}
	// token_type_hint is optional and only an optimisation (RFC 7009 2.1);
	// we find the token either way, so any value is accepted.
	if err := s.revoke(ctx, client, tok); err != nil {
		writeError(w, err)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
}

// tokenCall reads a request about one token (revocation, introspection):
// the form, the caller's authentication and the token parameter.
func (s *Server) tokenCall(w http.ResponseWriter, r *http.Request, allowPublic bool) (*gatehouse.Client, string, *Error) {
	f, err := readForm(w, r)
	if err != nil {
		return nil, "", err
	}
	client, err := s.authenticateClient(r.Context(), r, f, allowPublic)
	if err != nil {
		return nil, "", err
	}
	tok := f.get("token")
	if tok == "" {
		return nil, "", errInvalidRequest("missing token")
	}
	return client, tok, nil
}

func (s *Server) revoke(ctx context.Context, client *gatehouse.Client, tok string) *Error {
	rec, err := s.findToken(ctx, tok)
	if err != nil || rec == nil {
		return err
	}
	if rec.ClientID != client.ID {
		s.log().InfoContext(ctx, "revocation of another client's token ignored", "client_id", client.ID, "token_id", rec.ID)
		return nil
	}
	now := s.now()
	if rec.Kind == gatehouse.KindRefresh && rec.GrantID != "" {
		if _, err := s.Tokens.RevokeGrant(ctx, rec.GrantID, now); err != nil {
			return s.internalError(ctx, "revoke grant", err)
		}
		s.Revocations.Add(gatehouse.Revocation{GrantID: rec.GrantID, Until: now.Add(s.Policy.RefreshTokenTTL)})
		return nil
	}
	if _, err := s.Tokens.RevokeToken(ctx, rec.ID, now); err != nil && gatehouse.ErrorCode(err) != gatehouse.CodeNotFound {
		return s.internalError(ctx, "revoke token", err)
	}
	s.Revocations.Add(gatehouse.Revocation{TokenID: rec.ID, Until: rec.ExpiresAt})
	s.log().InfoContext(ctx, "token revoked", "client_id", client.ID, "token_id", rec.ID)
	return nil
}

// findToken returns the record of a token Gatehouse issued and that is
// still active, or nil when there is none: JWTs are recognised by their
// signature, opaque tokens by their hash.
func (s *Server) findToken(ctx context.Context, tok string) (*gatehouse.Token, *Error) {
	if len(tok) > jose.MaxTokenSize {
		return nil, nil
	}
	var rec *gatehouse.Token
	var err error
	if strings.Count(tok, ".") == 2 {
		claims, verr := s.Verifier.Verify(ctx, tok)
		if verr != nil {
			if token.ReasonOf(verr) != "" {
				return nil, nil
			}
			return nil, s.internalError(ctx, "verify token", verr)
		}
		rec, err = s.Tokens.FindTokenByID(ctx, claims.ID)
		if gatehouse.ErrorCode(err) == gatehouse.CodeNotFound {
			// Signed by us but the record is gone (pruned): revoke by id.
			return &gatehouse.Token{ID: claims.ID, Kind: gatehouse.KindAccess, ClientID: claims.ClientID,
				GrantID: claims.GrantID, ExpiresAt: claims.ExpiresAt}, nil
		}
	} else {
		rec, err = s.Tokens.FindTokenByHash(ctx, gatehouse.HashSecret(tok))
	}
	if gatehouse.ErrorCode(err) == gatehouse.CodeNotFound {
		return nil, nil
	} else if err != nil {
		return nil, s.internalError(ctx, "find token", err)
	}
	if !rec.Active(s.now()) {
		return nil, nil
	}
	return rec, nil
}
