package config

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"math/big"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse"
	"github.com/google/go-cmp/cmp"
)

func selfSignedX5C(t *testing.T) string {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "self"},
		NotBefore: time.Now(), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return base64.StdEncoding.EncodeToString(der)
}

// TestMutualTLSAndExchange: the mutual-TLS and token exchange keys decode
// into the client as written.
func TestMutualTLSAndExchange(t *testing.T) {
	x5c := selfSignedX5C(t)
	src := `
listen:
  tls:
    addr: 127.0.0.1:8443
    self_signed: true
    client_ca_file: certs/clients-ca.pem
apis:
  - {name: orders, audience: https://orders.example.test, scopes: [read, write]}
  - {name: inventory, audience: https://inventory.example.test, scopes: [read]}
clients:
  - id: orders-svc
    auth_method: tls_client_auth
    tls_client_auth_subject_dn: CN=orders-svc,O=Example
    grant_types: [client_credentials, urn:ietf:params:oauth:grant-type:token-exchange]
    apis: [{api: orders, scopes: [read]}, {api: inventory, scopes: [read]}]
    token_exchange: [{from: orders, to: [inventory, orders]}]
  - id: edge-device
    auth_method: self_signed_tls_client_auth
    jwks: {keys: [{kty: EC, crv: P-256, x: abc, y: def, x5c: ["` + x5c + `"]}]}
    apis: [{api: orders, scopes: [read]}]
  - id: bound-secret
    secret: 0123456789abcdef0123456789abcdef
    tls_client_certificate_bound_access_tokens: true
    apis: [{api: orders, scopes: [read]}]
`
	cfg, err := Parse([]byte(src), "/etc/gatehouse/gatehouse.yaml", nil)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := cfg.TLS.ClientCAFile, "/etc/gatehouse/certs/clients-ca.pem"; got != want {
		t.Errorf("client_ca_file = %q, want %q", got, want)
	}
	c := cfg.Clients[0].Client
	if diff := cmp.Diff(c.TLSSubject, gatehouse.TLSSubject{DN: "CN=orders-svc,O=Example"}); diff != "" {
		t.Errorf("TLSSubject (-got +want):\n%s", diff)
	}
	if diff := cmp.Diff(c.TokenExchange, []gatehouse.ExchangeRule{{From: "orders", To: []string{"inventory", "orders"}}}); diff != "" {
		t.Errorf("TokenExchange (-got +want):\n%s", diff)
	}
	if !c.MayExchange("orders", "inventory") || c.MayExchange("inventory", "orders") {
		t.Error("MayExchange does not follow the rules")
	}
	if cfg.Clients[1].AuthMethod != gatehouse.AuthSelfSignedTLS || cfg.Clients[1].GenerateSecret {
		t.Errorf("self-signed client = %+v", cfg.Clients[1])
	}
	if !cfg.Clients[2].CertificateBoundTokens || cfg.Clients[1].CertificateBoundTokens {
		t.Error("tls_client_certificate_bound_access_tokens not decoded")
	}
}
