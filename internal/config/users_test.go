package config

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/gatehouse/gatehouse/internal/password"
)

func TestUsers(t *testing.T) {
	hash, err := password.Hash("twelve chars!", password.Params{Memory: 64, Time: 1, Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	env := func(k string) (string, bool) {
		if k == "ALICE_HASH" {
			return hash, true
		}
		return "", false
	}
	good := "users:\n  - username: alice\n    password_hash: ${ALICE_HASH}\n  - username: bob\n    password_hash: '" + hash + "'\n    disabled: true\n  - username: carol\n    password_hash: '" + hash + "'\n    disabled: False\n"
	cfg, err := Parse([]byte(good), "u.yaml", env)
	if err != nil {
		t.Fatal(err)
	}
	want := []User{{Username: "alice", PasswordHash: hash}, {Username: "bob", PasswordHash: hash, Disabled: true}, {Username: "carol", PasswordHash: hash}}
	if diff := cmp.Diff(cfg.Users, want); diff != "" {
		t.Errorf("users (-got +want):\n%s", diff)
	}
	cases := []struct {
		name, yaml, key string
		line            int
	}{
		{"NoHash", "users:\n  - username: alice\n", "users[0].password_hash", 2},
		{"ClearPassword", "users:\n  - username: alice\n    password: hunter2\n", "users[0].password", 3},
		{"BadHash", "users:\n  - username: alice\n    password_hash: bcrypt$2a$10$xx\n", "users[0].password_hash", 3},
		{"BadName", "users:\n  - username: 'a b'\n    password_hash: '" + hash + "'\n", "users[0].username", 2},
		{"Duplicate", "users:\n  - username: a\n    password_hash: '" + hash + "'\n  - username: a\n    password_hash: '" + hash + "'\n", "users[1].username", 4},
		{"BadDisabled", "users:\n  - username: a\n    password_hash: '" + hash + "'\n    disabled: maybe\n", "users[0].disabled", 4},
		{"DisabledQuoted", "users:\n  - username: a\n    password_hash: '" + hash + "'\n    disabled: 'true'\n", "users[0].disabled", 4},
		{"DisabledYes", "users:\n  - username: a\n    password_hash: '" + hash + "'\n    disabled: yes\n", "users[0].disabled", 4},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(tc.yaml), "u.yaml", env)
			ps, ok := err.(Problems)
			if !ok || len(ps) == 0 {
				t.Fatalf("err = %v, want Problems", err)
			}
			found := false
			for _, p := range ps {
				found = found || (p.Key == tc.key && p.Line == tc.line)
			}
			if !found {
				t.Errorf("problems %v lack %s at line %d", ps, tc.key, tc.line)
			}
			if strings.Contains(err.Error(), hash) {
				t.Error("a problem message shows the password hash")
			}
		})
	}
}
