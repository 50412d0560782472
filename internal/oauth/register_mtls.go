package oauth

import (
	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/internal/mtls"
)

// mtlsMetadata is the RFC 8705 client metadata of a registration request
// (sections 2.1.2 and 3.4). It is embedded in registrationRequest and
// registrationResponse, so the names are the RFC's.
type mtlsMetadata struct {
	TLSClientAuthSubjectDN string `json:"tls_client_auth_subject_dn,omitempty"`
	TLSClientAuthSANDNS    string `json:"tls_client_auth_san_dns,omitempty"`
	TLSClientAuthSANURI    string `json:"tls_client_auth_san_uri,omitempty"`
	TLSClientAuthSANIP     string `json:"tls_client_auth_san_ip,omitempty"`
	TLSClientAuthSANEmail  string `json:"tls_client_auth_san_email,omitempty"`
	// TLSClientCertificateBoundAccessTokens asks for certificate-bound
	// access tokens (section 3.4).
	TLSClientCertificateBoundAccessTokens bool `json:"tls_client_certificate_bound_access_tokens,omitempty"`
}

func (m *mtlsMetadata) subject() gatehouse.TLSSubject {
	return gatehouse.TLSSubject{DN: m.TLSClientAuthSubjectDN, DNS: m.TLSClientAuthSANDNS, URI: m.TLSClientAuthSANURI,
		IP: m.TLSClientAuthSANIP, Email: m.TLSClientAuthSANEmail}
}

func mtlsMetadataOf(c *gatehouse.Client) mtlsMetadata {
	s := c.TLSSubject
	return mtlsMetadata{TLSClientAuthSubjectDN: s.DN, TLSClientAuthSANDNS: s.DNS, TLSClientAuthSANURI: s.URI,
		TLSClientAuthSANIP: s.IP, TLSClientAuthSANEmail: s.Email, TLSClientCertificateBoundAccessTokens: c.CertificateBoundTokens}
}

// registerMTLS applies the mutual-TLS metadata to a client being
// registered with auth method c.AuthMethod, as the config file would: a
// tls_client_auth client names exactly one certificate field and needs the
// node's client CA bundle; a self_signed_tls_client_auth client registers
// its certificate in jwks (x5c); both, and certificate-bound tokens, need
// the HTTPS listener.
func (s *Server) registerMTLS(req *registrationRequest, c *gatehouse.Client) *Error {
	subj := req.subject()
	bound := req.TLSClientCertificateBoundAccessTokens
	if (c.AuthMethod.MutualTLS() || bound) && !s.MutualTLS {
		return errInvalidClientMetadata("mutual TLS needs the HTTPS listener, which this server does not have")
	}
	switch c.AuthMethod {
	case gatehouse.AuthTLSClient:
		if s.ClientCAs == nil {
			return errInvalidClientMetadata("tls_client_auth is not available: no client CA bundle is configured")
		}
		if err := mtls.CheckSubject(subj); err != nil {
			return errInvalidClientMetadata("tls_client_auth: " + err.Error())
		}
		c.TLSSubject = subj
	case gatehouse.AuthSelfSignedTLS:
		certs, err := mtls.JWKSCertificates(req.JWKS)
		if err != nil {
			return errInvalidClientMetadata("jwks: " + err.Error())
		}
		if len(certs) == 0 {
			return errInvalidClientMetadata("self_signed_tls_client_auth needs jwks with the client's certificate in x5c")
		}
		c.JWKS = req.JWKS
	}
	if !subj.IsZero() && c.AuthMethod != gatehouse.AuthTLSClient {
		return errInvalidClientMetadata("tls_client_auth_* metadata is only for tls_client_auth")
	}
	if bound && c.AuthMethod == gatehouse.AuthNone {
		return errInvalidClientMetadata("a public client cannot have certificate-bound access tokens here")
	}
	c.CertificateBoundTokens = bound
	return nil
}
