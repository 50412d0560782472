package oauth

import (
	"context"
	"time"

	"github.com/gatehouse/gatehouse"
)

// RefusalWatcher is told when a refresh token that was revoked is
// presented again: a possible replay, for anomaly detection. It must
// return quickly and never block the token endpoint.
type RefusalWatcher interface {
	RevokedTokenPresented(ctx context.Context, t *gatehouse.Token)
}

func (s *Server) watchRevoked(ctx context.Context, t *gatehouse.Token) {
	if s.Watcher != nil {
		s.Watcher.RevokedTokenPresented(ctx, t)
	}
}

// RevokeByID revokes at once, in the store and in the in-memory state that
// every verification consults, the way RFC 7009 revocation does: the whole
// grant when grantID is set, else the token (or API key) tokenID. It is for
// callers that know ids, not token strings: anomaly rules and the idle
// job. Revoking what is already revoked or gone is not an error.
func (s *Server) RevokeByID(ctx context.Context, tokenID, grantID string) error {
	now := s.now()
	if grantID != "" {
		until := now.Add(s.Policy.RefreshTokenTTL)
		if g, err := s.Grants.FindGrantByID(ctx, grantID); err == nil {
			until = g.ExpiresAt
		} else if !isNotFound(err) {
			return err
		}
		if _, err := s.Tokens.RevokeGrant(ctx, grantID, now); err != nil && !isNotFound(err) {
			return err
		}
		s.Revocations.Add(gatehouse.Revocation{GrantID: grantID, Until: until})
		return nil
	}
	until := now.Add(maxDuration(s.Policy.AccessTokenTTL, time.Hour))
	if t, err := s.Tokens.FindTokenByID(ctx, tokenID); err == nil {
		until = t.ExpiresAt
	} else if !isNotFound(err) {
		return err
	}
	if _, err := s.Tokens.RevokeToken(ctx, tokenID, now); err != nil && !isNotFound(err) {
		return err
	}
	s.Revocations.Add(gatehouse.Revocation{TokenID: tokenID, Until: until})
	return nil
}

func maxDuration(a, b time.Duration) time.Duration {
	if a > b {
		return a
	}
	return b
}
