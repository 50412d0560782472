package gatehouse

import "time"

// User is a local account of a person who logs in to authorize clients.
type User struct {
	ID       string
	Username string // unique and case-sensitive: "Alice" and "alice" are different accounts
	// PasswordHash is an argon2id hash in PHC string format
	// ($argon2id$v=19$m=...,t=...,p=...$salt$hash). Never logged.
	PasswordHash string
	Disabled     bool
	// Role gives the account access to the management plane; empty for
	// people who only log in to authorize clients.
	Role Role
	// Team is the team a developer belongs to (a team name), or "".
	Team      string
	Revision  int64
	CreatedAt time.Time
	UpdatedAt time.Time
}

// Consent is a user's remembered approval of a client for a set of scopes on
// one API. A later authorization asking for no more than that is not asked
// again; the user can withdraw it.
type Consent struct {
	Subject   string // user id
	ClientID  string
	Audience  string
	Scopes    []string
	GrantedAt time.Time
}

// Covers reports whether the consent includes every scope of scopes for
// audience.
func (c *Consent) Covers(audience string, scopes []string) bool {
	if c == nil || c.Audience != audience {
		return false
	}
	for _, s := range scopes {
		found := false
		for _, x := range c.Scopes {
			if x == s {
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	return true
}
