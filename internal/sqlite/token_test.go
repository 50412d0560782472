package sqlite

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/internal/storetest"
)

func TestGrantHorizonIsTheContracts(t *testing.T) {
	if grantHorizon != storetest.GrantRevocationHorizon {
		t.Fatalf("grantHorizon = %v, want storetest.GrantRevocationHorizon (%v)", grantHorizon, storetest.GrantRevocationHorizon)
	}
}

// The store never leaves a live token in a revoked grant, so the suite
// cannot reach this state; rotation must refuse it all the same, as the
// contract says "grant not revoked", not "token not revoked".
func TestRotateRefusesLiveTokenOfRevokedGrant(t *testing.T) {
	ctx := t.Context()
	db, err := Open(ctx, filepath.Join(t.TempDir(), "gatehouse.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	now := time.Date(2031, 3, 4, 5, 6, 7, 0, time.UTC)
	tok := func(id string, kind gatehouse.TokenKind) *gatehouse.Token {
		return &gatehouse.Token{ID: id, Hash: gatehouse.HashSecret(id), Kind: kind, GrantID: "g1",
			ExpiresAt: now.Add(time.Hour)}
	}
	if err := db.CreateToken(ctx, tok("rt1", gatehouse.KindRefresh)); err != nil {
		t.Fatal(err)
	}
	for name, revoke := range map[string]string{
		"RevokedGrantsRow": `INSERT INTO revoked_grants (grant_id, revoked_at) VALUES ('g1', 1)`,
		"GrantRecord": `INSERT INTO grants (id, client_id, subject, audience, scopes, revoked_at)
			VALUES ('g1', '', '', '', 'null', 1)`,
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := db.writer.ExecContext(ctx, `DELETE FROM revoked_grants; DELETE FROM grants;`+revoke); err != nil {
				t.Fatal(err)
			}
			err := db.RotateRefreshToken(ctx, "rt1", now, tok("rt2", gatehouse.KindRefresh), tok("at2", gatehouse.KindAccess))
			if gatehouse.ErrorCode(err) != gatehouse.CodeConflict {
				t.Fatalf("RotateRefreshToken = %v, want a conflict", err)
			}
			if got, err := db.FindTokenByID(ctx, "rt1"); err != nil || !got.RotatedAt.IsZero() {
				t.Fatalf("token after a refused rotation: %+v, %v", got, err)
			}
		})
	}
}
