package config

import (
	"regexp"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/internal/password"
)

var (
	userKeys = []string{"username", "password_hash", "disabled", "role", "team"}
	// The same alphabet as `gatehouse users add`.
	usernameRE = regexp.MustCompile(`^[A-Za-z0-9._@+-]{1,64}$`)
)

// User is a local account the file defines. Its password is given only as
// an argon2id hash (`gatehouse users hash` prints one), never in clear.
type User struct {
	Username     string
	PasswordHash string
	Disabled     bool
	// Role and Team make the account an administrator or developer of the
	// management plane (empty: the account only authorizes clients).
	Role gatehouse.Role
	Team string
}

func (d *decoder) users(n *yaml.Node) []User {
	nodes, _ := d.list(n, "users", "users (mappings with username and password_hash)")
	var out []User
	seen := map[string]string{}
	for i, it := range nodes {
		path := index("users", i)
		o, ok := d.object(it, path, nodeLine(it), userKeys)
		if !ok {
			continue
		}
		var u User
		name, nameOK := d.str(o.get("username"), join(path, "username"))
		switch {
		case !nameOK:
		case name == "":
			d.report(o.line, join(path, "username"), "is required: the name people sign in with, such as \"alice\"")
		case !usernameRE.MatchString(name):
			d.report(o.lineOf("username"), join(path, "username"), "%q is not a valid username; expected 1 to 64 letters, digits and . _ @ + -", name)
		default:
			if first, dup := seen[name]; dup {
				d.report(o.lineOf("username"), join(path, "username"), "%q is already the username of %s; usernames must be unique", name, first)
			}
			seen[name] = path
		}
		u.Username = name
		// A PHC hash is full of '$': take one literally rather than make
		// people write $$ everywhere; anything else (${VAR}) is interpolated.
		var hash string
		hashOK := true
		if hn := resolve(o.get("password_hash")); hn != nil && hn.Kind == yaml.ScalarNode && strings.HasPrefix(hn.Value, "$argon2") {
			hash = hn.Value
		} else {
			hash, hashOK = d.str(o.get("password_hash"), join(path, "password_hash"))
		}
		switch {
		case !hashOK:
		case hash == "":
			d.report(o.line, join(path, "password_hash"), "is required: an argon2id hash from `gatehouse users hash` (passwords are never written in clear)")
		case password.Valid(hash) != nil:
			d.report(o.lineOf("password_hash"), join(path, "password_hash"), "is not an argon2id PHC hash ($argon2id$v=19$m=...,t=...,p=...$salt$hash); make one with `gatehouse users hash`")
		}
		u.PasswordHash = hash
		u.Disabled, _ = d.boolean(o.get("disabled"), join(path, "disabled"))
		role, _ := d.enum(o.get("role"), join(path, "role"), roles)
		u.Role = gatehouse.Role(role)
		u.Team = d.clientTeam(o, path, d.teamNames)
		if u.Role == gatehouse.RoleDeveloper && u.Team == "" {
			d.report(o.lineOf("role"), join(path, "team"), "is required for a developer: the team whose apps they see")
		}
		out = append(out, u)
	}
	return out
}
