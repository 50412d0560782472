package edge

import (
	"net/http"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/internal/mtls"
)

// certificateMismatch reports whether claims are bound to a client
// certificate (RFC 8705 section 3, cnf.x5t#S256) that this connection did
// not present. The thumbprint of the leaf certificate the client presented
// on this TLS connection is compared in constant time; a request over
// plain HTTP, or without a certificate, never matches.
func certificateMismatch(r *http.Request, claims *gatehouse.AccessClaims) bool {
	want := claims.Cnf.X5TS256
	if want == "" {
		return false
	}
	if r.TLS == nil || len(r.TLS.PeerCertificates) == 0 {
		return true
	}
	return !mtls.ThumbprintMatches(r.TLS.PeerCertificates[0].Raw, want)
}
