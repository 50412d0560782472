package gatehouse

// Confirmation binds a token to a key its presenter must prove it holds
// (RFC 7800 "cnf"). The zero value means the token is not bound: a plain
// bearer token. A token may carry either binding, or in principle both; a
// resource server then enforces each one that is set.
type Confirmation struct {
	// JKT is the RFC 7638 SHA-256 thumbprint (base64url, no padding) of the
	// DPoP key the token is bound to (RFC 9449 §6: cnf.jkt). A request must
	// come with a DPoP proof signed by that key.
	JKT string
	// X5TS256 is the base64url SHA-256 of the DER client certificate the
	// token is bound to (RFC 8705 §3.1: cnf."x5t#S256"). A request must come
	// over mutual TLS with that certificate.
	X5TS256 string
}

// DPoPMode says whether a client or an API must use DPoP (RFC 9449).
type DPoPMode string

const (
	DPoPAllowed  DPoPMode = "allowed"  // the default: DPoP and bearer tokens both work
	DPoPRequired DPoPMode = "required" // only DPoP-bound tokens
)

// Bound reports whether the confirmation binds the token to anything.
func (c Confirmation) Bound() bool { return c.JKT != "" || c.X5TS256 != "" }

// TokenType is the token_type a token endpoint or introspection reports
// for a token with this confirmation: "DPoP" for a DPoP-bound token
// (RFC 9449 §5), else "Bearer" (a certificate-bound token is still a
// bearer-scheme token, RFC 8705 §3).
func (c Confirmation) TokenType() string {
	if c.JKT != "" {
		return "DPoP"
	}
	return "Bearer"
}
