package token

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/gatehouse/gatehouse"
)

// TypAccessToken is the JOSE typ of RFC 9068 access tokens.
const TypAccessToken = "at+jwt"

// Prefixes make Gatehouse's opaque tokens recognisable to secret scanners.
const (
	PrefixAccess       = "gha_"
	PrefixRefresh      = "ghr_"
	PrefixRegistration = "ghi_"
	PrefixClientSecret = "ghs_"
	PrefixAPIKey       = "ghk_"
	// PrefixManagement marks RFC 7592 registration access tokens.
	PrefixManagement = "ghm_"
)

// jwtClaims is the wire form of an access token's claims (RFC 9068 2.2).
type jwtClaims struct {
	Issuer   string `json:"iss"`
	Subject  string `json:"sub"`
	Audience string `json:"aud"`
	ClientID string `json:"client_id"`
	Scope    string `json:"scope,omitempty"`
	ID       string `json:"jti"`
	GrantID  string `json:"grant_id,omitempty"`
	IssuedAt int64  `json:"iat"`
	Expires  int64  `json:"exp"`
	Cnf      *cnf   `json:"cnf,omitempty"`

	// Act is the delegation chain of an exchanged token (RFC 8693 4.1).
	Act *wireAct `json:"act,omitempty"`
}

// cnf is the wire form of a key binding (RFC 7800 §3.1): jkt for DPoP
// (RFC 9449 §6.1), x5t#S256 for a client certificate (RFC 8705 §3.1).
type cnf struct {
	JKT     string `json:"jkt,omitempty"`
	X5TS256 string `json:"x5t#S256,omitempty"`
}

func wireCnf(c gatehouse.Confirmation) *cnf {
	if !c.Bound() {
		return nil
	}
	return &cnf{JKT: c.JKT, X5TS256: c.X5TS256}
}

// Minter turns access claims into token strings.
type Minter struct {
	Keys *Keyring
}

// MintJWT signs c as an RFC 9068 JWT access token with the current key.
func (m *Minter) MintJWT(c *gatehouse.AccessClaims) (string, error) {
	payload, err := json.Marshal(jwtClaims{
		Issuer:   c.Issuer,
		Subject:  c.Subject,
		Audience: c.Audience,
		ClientID: c.ClientID,
		Scope:    strings.Join(c.Scopes, " "),
		ID:       c.ID,
		GrantID:  c.GrantID,
		IssuedAt: c.IssuedAt.Unix(),
		Expires:  c.ExpiresAt.Unix(),
		Act:      actToWire(c.Act),
		Cnf:      wireCnf(c.Cnf),
	})
	if err != nil {
		return "", fmt.Errorf("token: marshal claims: %w", err)
	}
	return m.Keys.Sign(TypAccessToken, payload)
}

// NewID returns a random token or grant identifier (22 base64url
// characters, about 128 bits). It never starts with '-' or '_', so that an
// id given on a command line (gatehouse subscriptions approve ID) is never
// taken for a flag.
func NewID() string {
	for {
		if id := gatehouse.NewSecret("")[:22]; id[0] != '-' && id[0] != '_' {
			return id
		}
	}
}
