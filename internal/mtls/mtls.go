// Package mtls holds what mutual TLS (RFC 8705) needs beside crypto/tls:
// matching a client certificate to the subject a client registered
// (tls_client_auth), the certificates registered in a client's JWK Set
// (self_signed_tls_client_auth), and certificate thumbprints for
// certificate-bound access tokens (cnf.x5t#S256).
package mtls

import (
	"crypto/sha256"
	"crypto/subtle"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"net/url"
	"strings"

	"github.com/gatehouse/gatehouse"
)

// Thumbprint is the RFC 8705 section 3.1 x5t#S256 of a certificate: the
// base64url (no padding) SHA-256 of its DER encoding.
func Thumbprint(der []byte) string {
	sum := sha256.Sum256(der)
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// ThumbprintMatches compares the thumbprint of der with want in constant
// time. It runs on every request with a certificate-bound token, so it
// works on the stack: one SHA-256 and no allocation.
func ThumbprintMatches(der []byte, want string) bool {
	var got [43]byte // base64url of 32 bytes, unpadded
	if len(want) != len(got) {
		return false
	}
	sum := sha256.Sum256(der)
	base64.RawURLEncoding.Encode(got[:], sum[:])
	var diff byte
	for i := range got {
		diff |= got[i] ^ want[i]
	}
	return subtle.ConstantTimeByteEq(diff, 0) == 1
}

// CheckSubject reports what is wrong with a tls_client_auth subject:
// exactly one field must be set, and it must parse.
func CheckSubject(s gatehouse.TLSSubject) error {
	n := 0
	for _, f := range []string{s.DN, s.DNS, s.URI, s.IP, s.Email} {
		if f != "" {
			n++
		}
	}
	if n != 1 {
		return errors.New("exactly one of subject DN, SAN DNS, SAN URI, SAN IP and SAN email must be set")
	}
	switch {
	case s.DN != "":
		_, err := ParseDN(s.DN)
		return err
	case s.DNS != "":
		if strings.ContainsAny(s.DNS, " */\\@") || strings.HasPrefix(s.DNS, ".") || strings.HasSuffix(s.DNS, ".") {
			return errors.New("SAN DNS must be a plain host name, such as orders.svc.example.com (no wildcards)")
		}
	case s.URI != "":
		if u, err := url.Parse(s.URI); err != nil || !u.IsAbs() {
			return errors.New("SAN URI must be an absolute URI, such as spiffe://example.com/orders")
		}
	case s.IP != "":
		if a, err := netip.ParseAddr(s.IP); err != nil || a.Zone() != "" {
			return errors.New("SAN IP must be an IPv4 or IPv6 address, such as 10.0.0.7")
		}
	case s.Email != "":
		if at := strings.LastIndexByte(s.Email, '@'); at <= 0 || at == len(s.Email)-1 || strings.ContainsAny(s.Email, " <>") {
			return errors.New("SAN email must be an address, such as orders@example.com")
		}
	}
	return nil
}

// MatchesSubject reports whether cert names the subject s (RFC 8705
// section 2.1.2): the subject DN as a whole, or one subjectAltName entry of
// the configured kind equal to the configured value. DNS names and the
// domain of e-mail addresses compare without regard to case.
func MatchesSubject(cert *x509.Certificate, s gatehouse.TLSSubject) bool {
	switch {
	case s.DN != "":
		want, err := ParseDN(s.DN)
		if err != nil {
			return false
		}
		got, ok := SubjectDN(cert.RawSubject)
		return ok && got.Equal(want)
	case s.DNS != "":
		for _, d := range cert.DNSNames {
			if strings.EqualFold(d, s.DNS) {
				return true
			}
		}
	case s.URI != "":
		for _, u := range cert.URIs {
			if u.String() == s.URI {
				return true
			}
		}
	case s.IP != "":
		want, err := netip.ParseAddr(s.IP)
		if err != nil {
			return false
		}
		for _, ip := range cert.IPAddresses {
			if a, ok := netip.AddrFromSlice(ip); ok && a.Unmap() == want.Unmap() {
				return true
			}
		}
	case s.Email != "":
		for _, e := range cert.EmailAddresses {
			if emailEqual(e, s.Email) {
				return true
			}
		}
	}
	return false
}

func emailEqual(a, b string) bool {
	ia, ib := strings.LastIndexByte(a, '@'), strings.LastIndexByte(b, '@')
	return ia > 0 && ib > 0 && a[:ia] == b[:ib] && strings.EqualFold(a[ia:], b[ib:])
}

// maxJWKSBytes bounds the JWK Set read for certificates.
const maxJWKSBytes = 1 << 20

// JWKSCertificates returns the first certificate of the x5c chain of each
// key in a JWK Set (RFC 7517 section 4.7: standard base64 DER, the key's
// own certificate first): the certificates a self_signed_tls_client_auth
// client registered. Keys without x5c are skipped; a malformed x5c is an
// error, so that a typo is not silently a key that never matches.
func JWKSCertificates(jwks []byte) ([]*x509.Certificate, error) {
	if len(jwks) > maxJWKSBytes {
		return nil, errors.New("jwk set too large")
	}
	var set struct {
		Keys []struct {
			X5c []string `json:"x5c"`
		} `json:"keys"`
	}
	if err := json.Unmarshal(jwks, &set); err != nil {
		return nil, fmt.Errorf("jwk set: %w", err)
	}
	var out []*x509.Certificate
	for i, k := range set.Keys {
		if len(k.X5c) == 0 {
			continue
		}
		der, err := base64.StdEncoding.Strict().DecodeString(k.X5c[0])
		if err != nil {
			return nil, fmt.Errorf("keys[%d].x5c[0] is not standard base64", i)
		}
		c, err := x509.ParseCertificate(der)
		if err != nil {
			return nil, fmt.Errorf("keys[%d].x5c[0] is not a DER certificate: %w", i, err)
		}
		out = append(out, c)
	}
	return out, nil
}
