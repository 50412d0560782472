package edge

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/internal/mtls"
)

func testCert(t testing.TB, cn string) *x509.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now(), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := x509.ParseCertificate(der)
	return c
}

func TestCertificateMismatch(t *testing.T) {
	mine, other := testCert(t, "mine"), testCert(t, "mine")
	bound := &gatehouse.AccessClaims{Cnf: gatehouse.Confirmation{X5TS256: mtls.Thumbprint(mine.Raw)}}
	for _, tc := range []struct {
		name   string
		claims *gatehouse.AccessClaims
		tls    *tls.ConnectionState
		want   bool
	}{
		{"BearerPlainHTTP", &gatehouse.AccessClaims{}, nil, false},
		{"BearerWithCertificate", &gatehouse.AccessClaims{}, &tls.ConnectionState{PeerCertificates: []*x509.Certificate{other}}, false},
		{"BoundSameCertificate", bound, &tls.ConnectionState{PeerCertificates: []*x509.Certificate{mine}}, false},
		{"BoundOtherCertificate", bound, &tls.ConnectionState{PeerCertificates: []*x509.Certificate{other, mine}}, true},
		{"BoundNoCertificate", bound, &tls.ConnectionState{}, true},
		{"BoundPlainHTTP", bound, nil, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "https://gw.example.test/x", nil)
			r.TLS = tc.tls
			if got := certificateMismatch(r, tc.claims); got != tc.want {
				t.Errorf("certificateMismatch = %v, want %v", got, tc.want)
			}
		})
	}
}

// BenchmarkCertificateMismatch is the per-request cost of enforcing a
// certificate binding: one SHA-256 of the leaf and a constant-time compare.
func BenchmarkCertificateMismatch(b *testing.B) {
	c := testCert(b, "bench")
	claims := &gatehouse.AccessClaims{Cnf: gatehouse.Confirmation{X5TS256: mtls.Thumbprint(c.Raw)}}
	r := httptest.NewRequest("GET", "https://gw.example.test/x", nil)
	r.TLS = &tls.ConnectionState{PeerCertificates: []*x509.Certificate{c}}
	b.ReportAllocs()
	for b.Loop() {
		if certificateMismatch(r, claims) {
			b.Fatal("mismatch")
		}
	}
}
