package oauth

import (
	"crypto/x509"
	"net/http"
	"time"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/internal/mtls"
)

// maxClientChain bounds the certificates a client may present, which
// bounds the work of verifying its chain.
const maxClientChain = 8

// clientCertificate returns the leaf certificate the client presented on
// this connection, or nil (plain HTTP, or no certificate). The HTTPS
// listener requests a certificate without verifying it: what it must
// chain to depends on the client, so it is checked here.
func clientCertificate(r *http.Request) *x509.Certificate {
	if r.TLS == nil || len(r.TLS.PeerCertificates) == 0 {
		return nil
	}
	return r.TLS.PeerCertificates[0]
}

// verifyClientCertificate authenticates a mutual-TLS client (RFC 8705
// section 2) and returns what is wrong, or "". tls_client_auth: the chain
// verifies against the configured CA bundle for client authentication, and
// the certificate names the client's registered subject.
// self_signed_tls_client_auth: the certificate is, byte for byte, one the
// client registered in its JWK Set (x5c), and is within its validity
// period; no chain is built (section 2.2).
func (s *Server) verifyClientCertificate(r *http.Request, c *gatehouse.Client, now time.Time) string {
	leaf := clientCertificate(r)
	if leaf == nil {
		return "mutual TLS client authentication needs a client certificate on the HTTPS listener"
	}
	chain := r.TLS.PeerCertificates
	if len(chain) > maxClientChain {
		return "client certificate chain too long"
	}
	switch c.AuthMethod {
	case gatehouse.AuthTLSClient:
		if s.ClientCAs == nil {
			return "no CA bundle is configured for tls_client_auth"
		}
		inter := x509.NewCertPool()
		for _, ic := range chain[1:] {
			inter.AddCert(ic)
		}
		if _, err := leaf.Verify(x509.VerifyOptions{
			Roots: s.ClientCAs, Intermediates: inter, CurrentTime: now,
			KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
		}); err != nil {
			return "client certificate is not trusted for client authentication"
		}
		if !mtls.MatchesSubject(leaf, c.TLSSubject) {
			return "client certificate does not name this client"
		}
		return ""
	case gatehouse.AuthSelfSignedTLS:
		certs, err := mtls.JWKSCertificates(c.JWKS)
		if err != nil || len(certs) == 0 {
			return "client has no registered certificate"
		}
		want := mtls.Thumbprint(leaf.Raw)
		for _, rc := range certs {
			if mtls.ThumbprintMatches(rc.Raw, want) {
				if now.Before(rc.NotBefore) || now.After(rc.NotAfter) {
					return "client certificate is outside its validity period"
				}
				return ""
			}
		}
		return "client certificate is not one the client registered"
	}
	return "client does not use mutual TLS"
}

// certificateBinding returns what new access tokens of this request are
// bound to (RFC 8705 section 3): the client certificate of a mutual-TLS
// client always, and that of a client registered with
// tls_client_certificate_bound_access_tokens, which must then present one.
// Other clients get bearer tokens even if their connection carried a
// certificate: binding a token to a certificate the client may not mean
// to keep presenting would break it at the gateway.
func certificateBinding(r *http.Request, c *gatehouse.Client) (gatehouse.Confirmation, *Error) {
	if !c.AuthMethod.MutualTLS() && !c.CertificateBoundTokens {
		return gatehouse.Confirmation{}, nil
	}
	leaf := clientCertificate(r)
	if leaf == nil {
		return gatehouse.Confirmation{}, errInvalidRequest("this client's access tokens are bound to its TLS client certificate: present it on the HTTPS listener")
	}
	return gatehouse.Confirmation{X5TS256: mtls.Thumbprint(leaf.Raw)}, nil
}
