package storetest

import (
	"testing"
	"time"

	"github.com/gatehouse/gatehouse"
)

// newUser returns a user with every field set.
func newUser(id, username string) *gatehouse.User {
	return &gatehouse.User{
		ID:           id,
		Username:     username,
		PasswordHash: "$argon2id$v=19$m=65536,t=3,p=4$c2FsdC0" + id + "$aGFzaA",
		Disabled:     true,
		CreatedAt:    t0.In(time.FixedZone("X", -7*3600)),
		UpdatedAt:    t0.Add(time.Minute + 1),
	}
}

func createUser(t *testing.T, s Store, u *gatehouse.User) {
	t.Helper()
	if err := s.CreateUser(t.Context(), u); err != nil {
		t.Fatalf("CreateUser(%q): %v", u.ID, err)
	}
}

// wantUser fails t unless both lookups of want's ID and username return it.
func wantUser(t *testing.T, s Store, want *gatehouse.User) {
	t.Helper()
	got, err := s.FindUserByID(t.Context(), want.ID)
	if err != nil {
		t.Fatalf("FindUserByID(%q): %v", want.ID, err)
	}
	if d := diff(got, want); d != "" {
		t.Fatalf("FindUserByID(%q) (-got +want):\n%s", want.ID, d)
	}
	got, err = s.FindUserByUsername(t.Context(), want.Username)
	if err != nil {
		t.Fatalf("FindUserByUsername(%q): %v", want.Username, err)
	}
	if d := diff(got, want); d != "" {
		t.Fatalf("FindUserByUsername(%q) (-got +want):\n%s", want.Username, d)
	}
}

var createUserTests = []test{
	{"RoundTrip", func(t *testing.T, s Store) {
		want := newUser("u1", "alice")
		createUser(t, s, want)
		wantUser(t, s, want)
	}},
	{"ZeroFields", func(t *testing.T, s Store) {
		want := &gatehouse.User{ID: "u1", Username: "alice"}
		createUser(t, s, want)
		wantUser(t, s, want)
	}},
	{"ConflictID", func(t *testing.T, s Store) {
		createUser(t, s, newUser("u1", "alice"))
		wantCode(t, s.CreateUser(t.Context(), newUser("u1", "bob")), gatehouse.CodeConflict)
		wantUser(t, s, newUser("u1", "alice"))
		_, err := s.FindUserByUsername(t.Context(), "bob")
		wantCode(t, err, gatehouse.CodeNotFound)
	}},
	{"ConflictUsername", func(t *testing.T, s Store) {
		createUser(t, s, newUser("u1", "alice"))
		wantCode(t, s.CreateUser(t.Context(), newUser("u2", "alice")), gatehouse.CodeConflict)
		wantUser(t, s, newUser("u1", "alice"))
		_, err := s.FindUserByID(t.Context(), "u2")
		wantCode(t, err, gatehouse.CodeNotFound)
	}},
	{"UsernameExact", func(t *testing.T, s Store) {
		// Usernames are case-sensitive as stored; normalising is the
		// login's business, not the store's.
		createUser(t, s, newUser("u1", "alice"))
		_, err := s.FindUserByUsername(t.Context(), "Alice")
		wantCode(t, err, gatehouse.CodeNotFound)
		_, err = s.FindUserByUsername(t.Context(), "alice ")
		wantCode(t, err, gatehouse.CodeNotFound)
	}},
	{"Invalid", func(t *testing.T, s Store) {
		wantCode(t, s.CreateUser(t.Context(), newUser("", "alice")), gatehouse.CodeInvalid)
		wantCode(t, s.CreateUser(t.Context(), newUser("u1", "")), gatehouse.CodeInvalid)
		wantUsers(t, s, nil)
	}},
}

var findUserTests = []test{
	{"NotFound", func(t *testing.T, s Store) {
		createUser(t, s, newUser("u1", "alice"))
		u, err := s.FindUserByID(t.Context(), "u2")
		wantCode(t, err, gatehouse.CodeNotFound)
		if got, want := gatehouse.ErrorMessage(err), "user not found"; got != want {
			t.Fatalf("message = %q, want %q", got, want)
		}
		if u != nil {
			t.Fatalf("user = %+v with an error, want nil", u)
		}
		u, err = s.FindUserByUsername(t.Context(), "u1") // an ID is not a username
		wantCode(t, err, gatehouse.CodeNotFound)
		if u != nil {
			t.Fatalf("user = %+v with an error, want nil", u)
		}
	}},
}

var updateUserTests = []test{
	{"ReplacesFields", func(t *testing.T, s Store) {
		createUser(t, s, newUser("u1", "alice"))
		upd := &gatehouse.User{
			ID:           "u1",
			Username:     "alice2",
			PasswordHash: "$argon2id$v=19$m=65536,t=3,p=4$bmV3$bmV3",
			Disabled:     false,
			CreatedAt:    t0.Add(99 * time.Hour), // ignored
			UpdatedAt:    t0.Add(time.Hour + 3),
		}
		must(t, s.UpdateUser(t.Context(), upd))
		want := *upd
		want.CreatedAt = newUser("u1", "alice").CreatedAt
		wantUser(t, s, &want)
		// The old name is free again.
		_, err := s.FindUserByUsername(t.Context(), "alice")
		wantCode(t, err, gatehouse.CodeNotFound)
		createUser(t, s, newUser("u2", "alice"))
	}},
	{"OnlyThatUser", func(t *testing.T, s Store) {
		createUser(t, s, newUser("u1", "alice"))
		createUser(t, s, newUser("u2", "bob"))
		upd := newUser("u1", "alice")
		upd.Disabled = false
		must(t, s.UpdateUser(t.Context(), upd))
		wantUser(t, s, newUser("u2", "bob"))
	}},
	{"NotFound", func(t *testing.T, s Store) {
		createUser(t, s, newUser("u1", "alice"))
		wantCode(t, s.UpdateUser(t.Context(), newUser("u2", "bob")), gatehouse.CodeNotFound)
		wantUsers(t, s, []*gatehouse.User{newUser("u1", "alice")})
	}},
	{"UsernameTaken", func(t *testing.T, s Store) {
		createUser(t, s, newUser("u1", "alice"))
		createUser(t, s, newUser("u2", "bob"))
		upd := newUser("u2", "alice")
		upd.Disabled = false
		wantCode(t, s.UpdateUser(t.Context(), upd), gatehouse.CodeConflict)
		wantUser(t, s, newUser("u1", "alice"))
		wantUser(t, s, newUser("u2", "bob"))
	}},
	{"NoUsername", func(t *testing.T, s Store) {
		createUser(t, s, newUser("u1", "alice"))
		wantCode(t, s.UpdateUser(t.Context(), newUser("u1", "")), gatehouse.CodeInvalid)
		wantUser(t, s, newUser("u1", "alice"))
	}},
}

// wantUsers fails t unless FindUsers returns want.
func wantUsers(t *testing.T, s Store, want []*gatehouse.User) {
	t.Helper()
	got, err := s.FindUsers(t.Context())
	if err != nil {
		t.Fatalf("FindUsers: %v", err)
	}
	if d := diff(got, want); d != "" {
		t.Fatalf("FindUsers (-got +want):\n%s", d)
	}
}

var findUsersTests = []test{
	{"OrderedByUsername", func(t *testing.T, s Store) {
		// IDs in the opposite order, so that ordering by ID fails.
		a, b, c := newUser("u3", "alice"), newUser("u2", "bob"), newUser("u1", "carol")
		createUser(t, s, b)
		createUser(t, s, c)
		createUser(t, s, a)
		wantUsers(t, s, []*gatehouse.User{a, b, c})
	}},
	{"Empty", func(t *testing.T, s Store) {
		wantUsers(t, s, nil)
	}},
}
