package storetest

import (
	"errors"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse"
)

var rotateClientSecretTests = []test{
	{"WithOverlap", func(t *testing.T, s Store) {
		c := newClient("app")
		createClient(t, s, c)
		stored, _ := s.FindClientByID(t.Context(), "app")
		old := stored.SecretHash
		prev := &gatehouse.Credential{ID: "prev", ClientID: "app", Kind: gatehouse.CredentialSecret, Hash: old,
			Label: "previous", ExpiresAt: t0.Add(time.Hour), CreatedAt: t0}
		rev, err := s.RotateClientSecret(t.Context(), "app", stored.Revision, gatehouse.HashSecret("new"), prev, t0.Add(time.Minute))
		if err != nil {
			t.Fatal(err)
		}
		got, _ := s.FindClientByID(t.Context(), "app")
		if string(got.SecretHash) != string(gatehouse.HashSecret("new")) || got.Revision != rev || rev != stored.Revision+1 || !got.UpdatedAt.Equal(t0.Add(time.Minute)) {
			t.Errorf("after rotation: hash changed %v, revision %d (returned %d, was %d), updated %v", string(got.SecretHash) != string(old), got.Revision, rev, stored.Revision, got.UpdatedAt)
		}
		cr, err := s.FindCredential(t.Context(), "prev")
		if err != nil || string(cr.Hash) != string(old) || !cr.ExpiresAt.Equal(t0.Add(time.Hour)) || cr.Kind != gatehouse.CredentialSecret || cr.Revision != 1 {
			t.Errorf("previous secret credential %+v %v", cr, err)
		}
	}},
	{"WithoutOverlap", func(t *testing.T, s Store) {
		createClient(t, s, newClient("app"))
		if _, err := s.RotateClientSecret(t.Context(), "app", 0, gatehouse.HashSecret("new"), nil, t0); err != nil {
			t.Fatal(err)
		}
		if cs, _ := s.FindCredentials(t.Context(), gatehouse.CredentialFilter{ClientID: "app"}); len(cs) != 0 {
			t.Errorf("credentials %v", cs)
		}
	}},
	{"StaleRevisionChangesNothing", func(t *testing.T, s Store) {
		createClient(t, s, newClient("app"))
		before, _ := s.FindClientByID(t.Context(), "app")
		prev := &gatehouse.Credential{ID: "prev", ClientID: "app", Kind: gatehouse.CredentialSecret, Hash: before.SecretHash, CreatedAt: t0}
		_, err := s.RotateClientSecret(t.Context(), "app", before.Revision+5, gatehouse.HashSecret("new"), prev, t0)
		var re *gatehouse.RevisionError
		if !errors.As(err, &re) {
			t.Fatalf("got %v, want a RevisionError", err)
		}
		after, _ := s.FindClientByID(t.Context(), "app")
		if string(after.SecretHash) != string(before.SecretHash) || after.Revision != before.Revision {
			t.Error("a refused rotation changed the client")
		}
		if _, err := s.FindCredential(t.Context(), "prev"); gatehouse.ErrorCode(err) != gatehouse.CodeNotFound {
			t.Errorf("a refused rotation stored the credential: %v", err)
		}
	}},
	{"TakenCredentialIDChangesNothing", func(t *testing.T, s Store) {
		createClient(t, s, newClient("app"))
		before, _ := s.FindClientByID(t.Context(), "app")
		first := &gatehouse.Credential{ID: "prev", ClientID: "app", Kind: gatehouse.CredentialSecret, Hash: gatehouse.HashSecret("x"), CreatedAt: t0}
		if err := s.CreateCredential(t.Context(), first); err != nil {
			t.Fatal(err)
		}
		prev := &gatehouse.Credential{ID: "prev", ClientID: "app", Kind: gatehouse.CredentialSecret, Hash: before.SecretHash, CreatedAt: t0}
		if _, err := s.RotateClientSecret(t.Context(), "app", 0, gatehouse.HashSecret("new"), prev, t0); gatehouse.ErrorCode(err) != gatehouse.CodeConflict {
			t.Fatalf("got %v, want a conflict", err)
		}
		if after, _ := s.FindClientByID(t.Context(), "app"); string(after.SecretHash) != string(before.SecretHash) {
			t.Error("the secret changed although the credential was refused: half-written")
		}
	}},
	{"Invalid", func(t *testing.T, s Store) {
		createClient(t, s, newClient("app"))
		if _, err := s.RotateClientSecret(t.Context(), "app", 0, nil, nil, t0); gatehouse.ErrorCode(err) != gatehouse.CodeInvalid {
			t.Errorf("no hash: %v", err)
		}
		other := &gatehouse.Credential{ID: "p", ClientID: "other", Kind: gatehouse.CredentialSecret, Hash: []byte("h")}
		if _, err := s.RotateClientSecret(t.Context(), "app", 0, []byte("h2"), other, t0); gatehouse.ErrorCode(err) != gatehouse.CodeInvalid {
			t.Errorf("credential of another app: %v", err)
		}
		if _, err := s.RotateClientSecret(t.Context(), "nope", 0, []byte("h"), nil, t0); gatehouse.ErrorCode(err) != gatehouse.CodeNotFound {
			t.Errorf("unknown client: %v", err)
		}
	}},
}
