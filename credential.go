package gatehouse

import "time"

// CredentialKind is what an app credential is.
type CredentialKind string

const (
	CredentialSecret        CredentialKind = "client_secret"   // a client secret, stored as SHA-256
	CredentialPrivateKeyJWT CredentialKind = "private_key_jwt" // a public key (JWK) for private_key_jwt
	CredentialKey           CredentialKind = "api_key"         // an API key, stored as SHA-256
)

// Credential is one of the credentials of an app. An app may hold several
// of each kind at once, so they can be rotated with overlap; each may
// expire and each can be revoked alone. The secret itself is never stored:
// Hash is its SHA-256 (see HashSecret).
type Credential struct {
	ID       string
	ClientID string
	Kind     CredentialKind
	Hash     []byte // client_secret and api_key
	JWK      []byte // private_key_jwt: the public key, a JWK (JSON)
	// API is the API an api_key is for (by name); "" for other kinds.
	API       string
	Label     string
	ExpiresAt time.Time // zero: no expiry
	RevokedAt time.Time // zero while not revoked
	Revision  int64
	CreatedAt time.Time
}

// Active reports whether the credential may authenticate at now.
func (c *Credential) Active(now time.Time) bool {
	return c.RevokedAt.IsZero() && (c.ExpiresAt.IsZero() || now.Before(c.ExpiresAt))
}

// Revoke revokes the credential at now. The caller must also revoke the
// tokens issued with it (tokens record their CredentialID). Revoking twice
// is refused with a *TransitionError.
func (c *Credential) Revoke(actor, reason string, now time.Time) (StateChange, error) {
	if !c.RevokedAt.IsZero() {
		return StateChange{}, &TransitionError{Kind: ObjectCredential, ID: c.ID, From: "revoked", Action: "revoke",
			Why: "it was revoked at " + c.RevokedAt.UTC().Format(time.RFC3339)}
	}
	c.RevokedAt = now
	return StateChange{Kind: ObjectCredential, ID: c.ID, From: "active", To: "revoked", Actor: actor, Reason: reason, At: now}, nil
}
