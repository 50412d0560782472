package mtls

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/base64"
	"math/big"
	"net"
	"net/url"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse"
)

func TestParseDN(t *testing.T) {
	for _, tc := range []struct {
		name, in, want string // want is String() of the result, "" for an error
	}{
		{"Simple", "CN=orders,O=Example,C=DE", "2.5.4.3=orders,2.5.4.10=example,2.5.4.6=de"},
		{"SpacesAroundSeparators", "CN = orders , O=Example Corp ,C=DE", "2.5.4.3=orders,2.5.4.10=example corp,2.5.4.6=de"},
		{"CaseAndInnerSpaces", "cn=Orders   Svc", "2.5.4.3=orders svc"},
		{"MultiValued", "CN=a+OU=b,O=c", "2.5.4.11=b+2.5.4.3=a,2.5.4.10=c"},
		{"EscapedComma", `CN=Doe\, John,O=x`, `2.5.4.3=doe\, john,2.5.4.10=x`},
		{"HexPair", `CN=caf\c3\a9`, "2.5.4.3=café"},
		{"OID", "2.5.4.3=orders", "2.5.4.3=orders"},
		{"OIDPrefix", "OID.2.5.4.3=orders", "2.5.4.3=orders"},
		{"Semicolon", "CN=a;O=b", "2.5.4.3=a,2.5.4.10=b"},
		{"Empty", "", ""},
		{"NoValue", "CN=", ""},
		{"NoType", "=x", ""},
		{"UnknownType", "FOO=x", ""},
		{"BadOID", "2.x.4=y", ""},
		{"HexValue", "CN=#0403616263", ""},
		{"UnescapedQuote", `CN=a"b`, ""},
		{"TrailingBackslash", `CN=a\`, ""},
		{"BadEscape", `CN=a\zz`, ""},
		{"TrailingComma", "CN=a,", ""},
		{"RepeatedInRDN", "CN=a+CN=a", ""},
		{"InvalidUTF8Escape", `CN=\ff`, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dn, err := ParseDN(tc.in)
			if tc.want == "" {
				if err == nil {
					t.Fatalf("ParseDN(%q) = %v, want an error", tc.in, dn)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseDN(%q): %v", tc.in, err)
			}
			if got := dn.String(); got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

type certSpec struct {
	subject pkix.Name
	dns     []string
	uris    []string
	ips     []net.IP
	emails  []string
}

func makeCert(t testing.TB, s certSpec) *x509.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: s.subject, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		DNSNames: s.dns, IPAddresses: s.ips, EmailAddresses: s.emails,
	}
	for _, u := range s.uris {
		pu, _ := url.Parse(u)
		tmpl.URIs = append(tmpl.URIs, pu)
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestMatchesSubject(t *testing.T) {
	cert := makeCert(t, certSpec{
		subject: pkix.Name{CommonName: "orders-svc", OrganizationalUnit: []string{"Services"}, Organization: []string{"Example Corp"}, Country: []string{"DE"}},
		dns:     []string{"orders.svc.example.test"},
		uris:    []string{"spiffe://example.test/orders"},
		ips:     []net.IP{net.ParseIP("10.0.0.7")},
		emails:  []string{"orders@Example.test"},
	})
	for _, tc := range []struct {
		name string
		s    gatehouse.TLSSubject
		want bool
	}{
		{"DN", gatehouse.TLSSubject{DN: "CN=orders-svc,OU=Services,O=Example Corp,C=DE"}, true},
		{"DNOtherCase", gatehouse.TLSSubject{DN: "cn=ORDERS-SVC, ou=services, o=example  corp, c=de"}, true},
		{"DNWrongCN", gatehouse.TLSSubject{DN: "CN=billing-svc,OU=Services,O=Example Corp,C=DE"}, false},
		{"DNMissingRDN", gatehouse.TLSSubject{DN: "CN=orders-svc,O=Example Corp,C=DE"}, false},
		{"DNExtraRDN", gatehouse.TLSSubject{DN: "CN=orders-svc,OU=Services,O=Example Corp,L=Berlin,C=DE"}, false},
		{"DNReversed", gatehouse.TLSSubject{DN: "C=DE,O=Example Corp,OU=Services,CN=orders-svc"}, false},
		{"DNS", gatehouse.TLSSubject{DNS: "ORDERS.svc.example.test"}, true},
		{"DNSOther", gatehouse.TLSSubject{DNS: "billing.svc.example.test"}, false},
		{"URI", gatehouse.TLSSubject{URI: "spiffe://example.test/orders"}, true},
		{"URIOther", gatehouse.TLSSubject{URI: "spiffe://example.test/orders/x"}, false},
		{"IP", gatehouse.TLSSubject{IP: "10.0.0.7"}, true},
		{"IPMapped", gatehouse.TLSSubject{IP: "::ffff:10.0.0.7"}, true},
		{"IPOther", gatehouse.TLSSubject{IP: "10.0.0.8"}, false},
		{"Email", gatehouse.TLSSubject{Email: "orders@example.TEST"}, true},
		{"EmailLocalCase", gatehouse.TLSSubject{Email: "Orders@example.test"}, false},
		{"Nothing", gatehouse.TLSSubject{}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := MatchesSubject(cert, tc.s); got != tc.want {
				t.Errorf("MatchesSubject = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestCheckSubject(t *testing.T) {
	for _, tc := range []struct {
		name string
		s    gatehouse.TLSSubject
		ok   bool
	}{
		{"DN", gatehouse.TLSSubject{DN: "CN=a"}, true},
		{"None", gatehouse.TLSSubject{}, false},
		{"Two", gatehouse.TLSSubject{DN: "CN=a", DNS: "a.example"}, false},
		{"BadDN", gatehouse.TLSSubject{DN: "CN"}, false},
		{"WildcardDNS", gatehouse.TLSSubject{DNS: "*.example"}, false},
		{"RelativeURI", gatehouse.TLSSubject{URI: "/orders"}, false},
		{"BadIP", gatehouse.TLSSubject{IP: "10.0.0.300"}, false},
		{"BadEmail", gatehouse.TLSSubject{Email: "orders"}, false},
		{"Email", gatehouse.TLSSubject{Email: "a@b"}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := CheckSubject(tc.s); (err == nil) != tc.ok {
				t.Errorf("CheckSubject = %v, want ok %v", err, tc.ok)
			}
		})
	}
}

// TestSubjectDNNonString: an attribute value that is not a string (here an
// integer) makes the subject unmatchable rather than matched loosely.
func TestSubjectDNNonString(t *testing.T) {
	seq := pkix.RDNSequence{{{Type: asn1.ObjectIdentifier{2, 5, 4, 3}, Value: 7}}}
	raw, err := asn1.Marshal(seq)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := SubjectDN(raw); ok {
		t.Error("a non-string value was accepted")
	}
}

func TestJWKSCertificates(t *testing.T) {
	c := makeCert(t, certSpec{subject: pkix.Name{CommonName: "self"}})
	x5c := base64.StdEncoding.EncodeToString(c.Raw)
	got, err := JWKSCertificates([]byte(`{"keys":[{"kty":"EC"},{"kty":"EC","x5c":["` + x5c + `"]}]}`))
	if err != nil || len(got) != 1 || !got[0].Equal(c) {
		t.Fatalf("got %v, %v", got, err)
	}
	if !ThumbprintMatches(got[0].Raw, Thumbprint(c.Raw)) || ThumbprintMatches(got[0].Raw, Thumbprint(c.Raw[1:])) {
		t.Error("thumbprint comparison is wrong")
	}
	for _, bad := range []string{
		`{"keys":[{"x5c":["` + x5c[:10] + "!" + x5c[10:] + `"]}]}`, // not base64
		`{"keys":[{"x5c":["` + x5c[:len(x5c)-8] + `"]}]}`,          // a truncated certificate
		`{"keys":[{"x5c":["AAAA"]}]}`,
		`{"keys":[{"x5c":[1]}]}`,
	} {
		if _, err := JWKSCertificates([]byte(bad)); err == nil {
			t.Errorf("accepted %s", bad)
		}
	}
}

// FuzzParseDN: no input panics, and an accepted DN is written back in a
// form that parses to an equal DN.
func FuzzParseDN(f *testing.F) {
	for _, s := range []string{"CN=a,O=b", `CN=Doe\, John`, "CN=a+OU=b", "2.5.4.3=x", `CN=\c3\a9`, "CN=#00", "cn = a ; o = b", `CN=\ a\ `, ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		dn, err := ParseDN(s)
		if err != nil {
			return
		}
		again, err := ParseDN(dn.String())
		if err != nil {
			t.Fatalf("String() of %q = %q does not parse: %v", s, dn.String(), err)
		}
		if !again.Equal(dn) {
			t.Fatalf("round trip of %q: %q != %q", s, again.String(), dn.String())
		}
	})
}

// BenchmarkMatchesSubjectDN is the subject check of tls_client_auth at the
// token endpoint (after the chain verification, which dominates).
func BenchmarkMatchesSubjectDN(b *testing.B) {
	cert := makeCert(b, certSpec{subject: pkix.Name{CommonName: "orders-svc", Organization: []string{"Example Corp"}, Country: []string{"DE"}}})
	s := gatehouse.TLSSubject{DN: "CN=orders-svc,O=Example Corp,C=DE"}
	b.ReportAllocs()
	for b.Loop() {
		if !MatchesSubject(cert, s) {
			b.Fatal("no match")
		}
	}
}

// FuzzJWKSCertificates: a JWK Set from a config file or a registration
// request never panics the certificate reader, and every certificate it
// returns parses again from its own DER.
func FuzzJWKSCertificates(f *testing.F) {
	c := makeCert(f, certSpec{subject: pkix.Name{CommonName: "seed"}})
	f.Add([]byte(`{"keys":[{"kty":"EC","x5c":["` + base64.StdEncoding.EncodeToString(c.Raw) + `"]}]}`))
	for _, s := range []string{`{"keys":[]}`, `{"keys":[{"x5c":[]}]}`, `{"keys":[{"x5c":["AAAA"]}]}`, `{"keys":null}`, `[]`, `{"keys":[{"x5c":"x"}]}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		certs, err := JWKSCertificates(data)
		if err != nil {
			return
		}
		for _, c := range certs {
			if _, err := x509.ParseCertificate(c.Raw); err != nil {
				t.Fatalf("returned a certificate that does not parse: %v", err)
			}
		}
	})
}
