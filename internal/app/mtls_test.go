package app

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"io"
	"maps"
	"math/big"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/internal/config"
	"github.com/gatehouse/gatehouse/internal/oauth"
)

// testCA is a certificate authority made for one test.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
}

func newTestCA(t *testing.T, name string) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	return &testCA{cert: cert, key: key}
}

// pemFile writes the CA certificate to a file and returns its path.
func (ca *testCA) pemFile(t *testing.T) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "clients-ca.pem")
	if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ca.cert.Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// issue signs a client certificate for tmpl's subject and names; a nil ca
// makes it self-signed. Defaults: valid now for a day, clientAuth usage.
func issue(t *testing.T, ca *testCA, tmpl *x509.Certificate) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
	tmpl.SerialNumber = serial
	if tmpl.NotBefore.IsZero() {
		tmpl.NotBefore, tmpl.NotAfter = time.Now().Add(-time.Hour), time.Now().Add(24*time.Hour)
	}
	if tmpl.ExtKeyUsage == nil {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	}
	tmpl.KeyUsage = x509.KeyUsageDigitalSignature
	parent, signer := tmpl, any(key)
	if ca != nil {
		parent, signer = ca.cert, ca.key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, signer)
	if err != nil {
		t.Fatal(err)
	}
	leaf, _ := x509.ParseCertificate(der)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}
}

func x5tS256(c tls.Certificate) string {
	sum := sha256.Sum256(c.Certificate[0])
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// tlsClient is an HTTPS client presenting cert (none when zero).
func tlsClient(cert tls.Certificate) *http.Client {
	cfg := &tls.Config{InsecureSkipVerify: true} // the node's self-signed development certificate
	if len(cert.Certificate) > 0 {
		cfg.Certificates = []tls.Certificate{cert}
	}
	return &http.Client{Transport: &http.Transport{TLSClientConfig: cfg, ForceAttemptHTTP2: true}}
}

// mtlsSetup is a gateway node with an HTTPS listener, a client CA and
// mutual-TLS clients, and the certificates the tests present.
type mtlsSetup struct {
	n                                  *testNode
	up                                 *upstream
	dnCert, sanCert, selfCert          tls.Certificate
	otherSelf, wrongDN, rogue, noUsage tls.Certificate
	expired                            tls.Certificate
}

func newMTLSSetup(t *testing.T) *mtlsSetup {
	t.Helper()
	ca, rogueCA := newTestCA(t, "Gatehouse test client CA"), newTestCA(t, "Rogue CA")
	s := &mtlsSetup{up: newUpstream(t)}
	dnSubject := pkix.Name{CommonName: "mtls-dn", Organization: []string{"Gatehouse Tests"}}
	s.dnCert = issue(t, ca, &x509.Certificate{Subject: dnSubject})
	s.sanCert = issue(t, ca, &x509.Certificate{Subject: pkix.Name{CommonName: "anything"}, DNSNames: []string{"orders.svc.test"}})
	s.selfCert = issue(t, nil, &x509.Certificate{Subject: pkix.Name{CommonName: "mtls-self"}})
	s.otherSelf = issue(t, nil, &x509.Certificate{Subject: pkix.Name{CommonName: "mtls-self"}})
	s.wrongDN = issue(t, ca, &x509.Certificate{Subject: pkix.Name{CommonName: "mtls-dn", Organization: []string{"Someone Else"}}})
	s.rogue = issue(t, rogueCA, &x509.Certificate{Subject: dnSubject})
	s.noUsage = issue(t, ca, &x509.Certificate{Subject: dnSubject, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}})
	s.expired = issue(t, ca, &x509.Certificate{Subject: dnSubject, NotBefore: time.Now().Add(-48 * time.Hour), NotAfter: time.Now().Add(-24 * time.Hour)})
	selfJWKS, _ := json.Marshal(map[string]any{"keys": []map[string]any{{
		"kty": "EC", "crv": "P-256", "x5c": []string{base64.StdEncoding.EncodeToString(s.selfCert.Certificate[0])},
	}}})
	caFile := ca.pemFile(t)
	orders := []gatehouse.Access{{API: "orders", Scopes: []string{"orders:read"}, DefaultScopes: []string{"orders:read"}}}
	s.n = gatewayNode(t, s.up, func(c *config.Config) {
		c.TLS = config.TLSConfig{Addr: "127.0.0.1:0", SelfSigned: true, ClientCAFile: caFile}
		cc := gatehouse.Client{GrantTypes: []string{gatehouse.GrantClientCredentials}, Access: orders}
		dn, san, self, bound := cc, cc, cc, cc
		dn.ID, dn.AuthMethod, dn.TLSSubject = "mtls-dn", gatehouse.AuthTLSClient, gatehouse.TLSSubject{DN: "CN=mtls-dn, O=Gatehouse Tests"}
		san.ID, san.AuthMethod, san.TLSSubject = "mtls-san", gatehouse.AuthTLSClient, gatehouse.TLSSubject{DNS: "orders.svc.test"}
		self.ID, self.AuthMethod, self.JWKS = "mtls-self", gatehouse.AuthSelfSignedTLS, selfJWKS
		bound.ID, bound.AuthMethod, bound.SecretHash, bound.CertificateBoundTokens = "bound-secret", gatehouse.AuthSecretBasic, gatehouse.HashSecret(basicSecret), true
		for _, x := range []gatehouse.Client{dn, san, self, bound} {
			c.Clients = append(c.Clients, config.Client{Client: x})
		}
	})
	return s
}

// token asks the HTTPS token endpoint for a client credentials token with
// golang.org/x/oauth2, presenting cert. A mutual-TLS client has no secret:
// x/oauth2 then sends only client_id in the body.
func (s *mtlsSetup) token(clientID, secret string, cert tls.Certificate) (*oauth2.Token, error) {
	cfg := &clientcredentials.Config{ClientID: clientID, ClientSecret: secret, TokenURL: s.n.TLSURL + oauth.PathToken,
		AuthStyle: oauth2.AuthStyleInParams, EndpointParams: url.Values{"resource": {"https://orders.example.test"}}}
	if secret != "" {
		cfg.AuthStyle = oauth2.AuthStyleInHeader
	}
	ctx := context.WithValue(context.Background(), oauth2.HTTPClient, tlsClient(cert))
	return cfg.Token(ctx)
}

// cnfClaims are an access token's claims with its confirmation, read with
// go-jose against the published JWKS.
type cnfClaims struct {
	jwt.Claims
	ClientID string `json:"client_id"`
	Cnf      *struct {
		X5TS256 string `json:"x5t#S256"`
	} `json:"cnf"`
}

func (n *testNode) claimsOf(t *testing.T, tok string, out any) {
	t.Helper()
	n.verifyIndependently(t, tok) // signature, typ, iss, exp
	resp, err := http.Get(n.Issuer + oauth.PathJWKS)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var set jose.JSONWebKeySet
	if err := json.NewDecoder(resp.Body).Decode(&set); err != nil {
		t.Fatal(err)
	}
	parsed, err := jwt.ParseSigned(tok, []jose.SignatureAlgorithm{jose.EdDSA})
	if err != nil {
		t.Fatal(err)
	}
	if err := parsed.Claims(set, out); err != nil {
		t.Fatal(err)
	}
}

func TestMutualTLSClientAuth(t *testing.T) {
	s := newMTLSSetup(t)
	for _, tc := range []struct {
		name, client string
		cert         tls.Certificate
		ok           bool
	}{
		{"SubjectDN", "mtls-dn", s.dnCert, true},
		{"SANDNS", "mtls-san", s.sanCert, true},
		{"SelfSigned", "mtls-self", s.selfCert, true},
		{"NoCertificate", "mtls-dn", tls.Certificate{}, false},
		{"AnotherClientsCertificate", "mtls-dn", s.sanCert, false},
		{"WrongDN", "mtls-dn", s.wrongDN, false},
		{"UntrustedCA", "mtls-dn", s.rogue, false},
		{"NoClientAuthUsage", "mtls-dn", s.noUsage, false},
		{"Expired", "mtls-dn", s.expired, false},
		{"CASignedForSelfSignedClient", "mtls-self", s.dnCert, false},
		{"OtherSelfSigned", "mtls-self", s.otherSelf, false},
		{"SelfSignedForCAClient", "mtls-dn", s.selfCert, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// Past the failure slow-down window, so each case is judged on
			// its own (the certificates stay valid for a day).
			s.n.clock.Advance(16 * time.Minute)
			tok, err := s.token(tc.client, "", tc.cert)
			if !tc.ok {
				if err == nil {
					t.Fatal("token issued")
				}
				if re := retrieveError(t, err); re.ErrorCode != "invalid_client" || re.Response.StatusCode != 401 {
					t.Fatalf("got %d %s, want 401 invalid_client", re.Response.StatusCode, re.ErrorCode)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var c cnfClaims
			s.n.claimsOf(t, tok.AccessToken, &c)
			if c.ClientID != tc.client || c.Cnf == nil || c.Cnf.X5TS256 != x5tS256(tc.cert) {
				t.Errorf("claims %+v: want client %s bound to its certificate", c, tc.client)
			}
		})
	}
	t.Run("PlainHTTP", func(t *testing.T) {
		s.n.clock.Advance(16 * time.Minute)
		// Loopback plain HTTP is allowed for secrets in development, but it
		// carries no certificate.
		status, body, _ := postForm(t, s.n.PublicURL+oauth.PathToken, url.Values{
			"grant_type": {"client_credentials"}, "client_id": {"mtls-dn"}}, nil)
		if status != 401 || body["error"] != "invalid_client" {
			t.Fatalf("got %d %v", status, body)
		}
	})
	t.Run("BasicWithEmptySecret", func(t *testing.T) {
		req, _ := http.NewRequest("POST", s.n.TLSURL+oauth.PathToken, strings.NewReader("grant_type=client_credentials"))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth("mtls-self", "")
		resp, err := tlsClient(s.selfCert).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("got %d", resp.StatusCode)
		}
	})
	t.Run("Metadata", func(t *testing.T) {
		resp, err := http.Get(s.n.Issuer + oauth.PathMetadata)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var md oauth.Metadata
		if err := json.NewDecoder(resp.Body).Decode(&md); err != nil {
			t.Fatal(err)
		}
		methods := strings.Join(md.TokenEndpointAuthMethods, " ")
		if !strings.Contains(methods, "tls_client_auth") || !strings.Contains(methods, "self_signed_tls_client_auth") || !md.TLSClientCertificateBoundAccessTokens {
			t.Errorf("metadata: methods %s, bound tokens %v", methods, md.TLSClientCertificateBoundAccessTokens)
		}
	})
	t.Run("MetadataAliases", func(t *testing.T) {
		// The issuer is the plain HTTP listener: RFC 8705 section 5 names
		// the HTTPS listener's endpoints, and a client finds them there.
		resp, err := http.Get(s.n.Issuer + oauth.PathMetadata)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var raw map[string]any
		if err := json.NewDecoder(resp.Body).Decode(&raw); err != nil {
			t.Fatal(err)
		}
		aliases, _ := raw["mtls_endpoint_aliases"].(map[string]any)
		want := map[string]any{"token_endpoint": s.n.TLSURL + oauth.PathToken,
			"revocation_endpoint": s.n.TLSURL + oauth.PathRevoke, "introspection_endpoint": s.n.TLSURL + oauth.PathIntrospect}
		if !maps.Equal(aliases, want) {
			t.Fatalf("mtls_endpoint_aliases %v, want %v", raw["mtls_endpoint_aliases"], want)
		}
		cfg := &clientcredentials.Config{ClientID: "mtls-dn", TokenURL: aliases["token_endpoint"].(string),
			AuthStyle: oauth2.AuthStyleInParams, EndpointParams: url.Values{"resource": {"https://orders.example.test"}}}
		if _, err := cfg.Token(context.WithValue(context.Background(), oauth2.HTTPClient, tlsClient(s.dnCert))); err != nil {
			t.Errorf("token at the aliased endpoint: %v", err)
		}
	})
}

// TestMTLSBaseURL: the aliases are published only when the HTTPS
// listener is not the issuer's origin, and name it by the issuer's host.
func TestMTLSBaseURL(t *testing.T) {
	ln := func(ip string, port int) net.Addr { return &net.TCPAddr{IP: net.ParseIP(ip), Port: port} }
	for _, tc := range []struct {
		name, issuer string
		addr         net.Addr
		want         string
	}{
		{"PlainIssuer", "http://127.0.0.1:8080", ln("127.0.0.1", 8443), "https://127.0.0.1:8443"},
		{"IssuerHostName", "https://gw.example.com", ln("0.0.0.0", 8443), "https://gw.example.com:8443"},
		{"IssuerWithPath", "https://gw.example.com/auth", ln("::", 8443), "https://gw.example.com:8443"},
		{"SameOriginDefaultPort", "https://gw.example.com", ln("0.0.0.0", 443), ""},
		{"SameOriginExplicitPort", "https://gw.example.com:8443", ln("10.0.0.5", 8443), ""},
		{"IPv6Issuer", "http://[::1]:8080", ln("::1", 8443), "https://[::1]:8443"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := mtlsBaseURL(tc.issuer, tc.addr); got != tc.want {
				t.Errorf("mtlsBaseURL(%q, %v) = %q, want %q", tc.issuer, tc.addr, got, tc.want)
			}
		})
	}
}

func TestCertificateBoundTokenAtGateway(t *testing.T) {
	s := newMTLSSetup(t)
	tok, err := s.token("mtls-dn", "", s.dnCert)
	if err != nil {
		t.Fatal(err)
	}
	call := func(base string, client *http.Client, tok string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest("GET", base+"/orders/1", nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		io.Copy(io.Discard, resp.Body)
		return resp.StatusCode, resp.Header.Get("WWW-Authenticate")
	}
	for _, tc := range []struct {
		name   string
		base   string
		client *http.Client
		want   int
	}{
		{"SameCertificate", s.n.TLSURL, tlsClient(s.dnCert), 200},
		{"NoCertificate", s.n.TLSURL, tlsClient(tls.Certificate{}), 401},
		{"OtherCertificateSameSubject", s.n.TLSURL, tlsClient(s.wrongDN), 401},
		{"SelfSignedCertificate", s.n.TLSURL, tlsClient(s.selfCert), 401},
		{"PlainHTTP", s.n.PublicURL, http.DefaultClient, 401},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, challenge := call(tc.base, tc.client, tok.AccessToken)
			if got != tc.want {
				t.Fatalf("status %d, want %d", got, tc.want)
			}
			if got == 401 && !strings.Contains(challenge, `error="invalid_token"`) {
				t.Errorf("challenge %q", challenge)
			}
		})
	}
	// Twice: the second verification is a cache hit, and the binding is
	// still enforced on it.
	if got, _ := call(s.n.TLSURL, tlsClient(s.sanCert), tok.AccessToken); got != 401 {
		t.Errorf("cached token with another certificate: %d", got)
	}

	t.Run("ClientRequiringBoundTokens", func(t *testing.T) {
		if _, err := s.token("bound-secret", basicSecret, tls.Certificate{}); err == nil {
			t.Fatal("token issued without a certificate")
		} else if re := retrieveError(t, err); re.ErrorCode != "invalid_request" {
			t.Fatalf("got %s", re.ErrorCode)
		}
		tok, err := s.token("bound-secret", basicSecret, s.selfCert)
		if err != nil {
			t.Fatal(err)
		}
		var c cnfClaims
		s.n.claimsOf(t, tok.AccessToken, &c)
		if c.Cnf == nil || c.Cnf.X5TS256 != x5tS256(s.selfCert) {
			t.Fatalf("cnf = %+v", c.Cnf)
		}
		if got, _ := call(s.n.TLSURL, tlsClient(s.selfCert), tok.AccessToken); got != 200 {
			t.Errorf("with its certificate: %d", got)
		}
		if got, _ := call(s.n.TLSURL, tlsClient(s.dnCert), tok.AccessToken); got != 401 {
			t.Errorf("with another certificate: %d", got)
		}
	})
	t.Run("SecretClientStaysBearer", func(t *testing.T) {
		// A client that neither authenticates with nor asked for
		// certificate binding gets a bearer token even when its connection
		// carried a certificate.
		tok, err := s.token("svc-basic", basicSecret, s.dnCert)
		if err != nil {
			t.Fatal(err)
		}
		var c cnfClaims
		s.n.claimsOf(t, tok.AccessToken, &c)
		if c.Cnf != nil {
			t.Fatalf("cnf = %+v", c.Cnf)
		}
		if got, _ := call(s.n.TLSURL, tlsClient(tls.Certificate{}), tok.AccessToken); got != 200 {
			t.Errorf("bearer token without a certificate: %d", got)
		}
	})
}

// TestRegisterMutualTLSClient: RFC 7591 registration with the RFC 8705
// client metadata makes clients that authenticate with their certificate.
func TestRegisterMutualTLSClient(t *testing.T) {
	s := newMTLSSetup(t)
	admin := s.n.adminToken(t)
	register := func(n *testNode, meta map[string]any) (int, map[string]any) {
		t.Helper()
		raw, _ := json.Marshal(meta)
		req, _ := http.NewRequest(http.MethodPost, n.Issuer+oauth.PathRegister, strings.NewReader(string(raw)))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+admin)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var m map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&m)
		return resp.StatusCode, m
	}
	base := func(method string) map[string]any {
		return map[string]any{"client_name": "registered " + method, "grant_types": []string{"client_credentials"},
			"scope": "orders:read", "token_endpoint_auth_method": method}
	}
	selfJWKS := map[string]any{"keys": []map[string]any{{"kty": "EC", "x5c": []string{base64.StdEncoding.EncodeToString(s.otherSelf.Certificate[0])}}}}

	t.Run("TLSClientAuth", func(t *testing.T) {
		meta := base("tls_client_auth")
		meta["tls_client_auth_san_dns"] = "orders.svc.test"
		status, body := register(s.n, meta)
		if status != 201 || body["client_secret"] != nil || body["tls_client_auth_san_dns"] != "orders.svc.test" {
			t.Fatalf("%d %v", status, body)
		}
		id := body["client_id"].(string)
		tok, err := s.token(id, "", s.sanCert)
		if err != nil {
			t.Fatal(err)
		}
		var c cnfClaims
		s.n.claimsOf(t, tok.AccessToken, &c)
		if c.ClientID != id || c.Cnf == nil || c.Cnf.X5TS256 != x5tS256(s.sanCert) {
			t.Errorf("claims %+v", c)
		}
		if _, err := s.token(id, "", s.dnCert); err == nil {
			t.Error("a certificate with another subject authenticated the registered client")
		}
	})
	t.Run("SelfSigned", func(t *testing.T) {
		meta := base("self_signed_tls_client_auth")
		meta["jwks"] = selfJWKS
		status, body := register(s.n, meta)
		if status != 201 {
			t.Fatalf("%d %v", status, body)
		}
		if _, err := s.token(body["client_id"].(string), "", s.otherSelf); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("BoundSecretClient", func(t *testing.T) {
		meta := base("client_secret_basic")
		meta["tls_client_certificate_bound_access_tokens"] = true
		status, body := register(s.n, meta)
		if status != 201 || body["tls_client_certificate_bound_access_tokens"] != true {
			t.Fatalf("%d %v", status, body)
		}
		if _, err := s.token(body["client_id"].(string), body["client_secret"].(string), tls.Certificate{}); err == nil {
			t.Error("a bound client got a token without a certificate")
		}
	})
	for _, tc := range []struct {
		name string
		meta func() map[string]any
	}{
		{"TwoSubjectFields", func() map[string]any {
			m := base("tls_client_auth")
			m["tls_client_auth_san_dns"], m["tls_client_auth_subject_dn"] = "a.test", "CN=a"
			return m
		}},
		{"NoSubject", func() map[string]any { return base("tls_client_auth") }},
		{"BadDN", func() map[string]any {
			m := base("tls_client_auth")
			m["tls_client_auth_subject_dn"] = "CN=a,FOO=b"
			return m
		}},
		{"SubjectOnSecretClient", func() map[string]any {
			m := base("client_secret_basic")
			m["tls_client_auth_san_dns"] = "a.test"
			return m
		}},
		{"SelfSignedWithoutCertificate", func() map[string]any {
			m := base("self_signed_tls_client_auth")
			m["jwks"] = map[string]any{"keys": []map[string]any{{"kty": "EC"}}}
			return m
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if status, body := register(s.n, tc.meta()); status != 400 || body["error"] != "invalid_client_metadata" {
				t.Errorf("%d %v", status, body)
			}
		})
	}
	t.Run("NoHTTPSListener", func(t *testing.T) {
		plain := startNode(t)
		admin = plain.adminToken(t)
		m := base("self_signed_tls_client_auth")
		m["jwks"] = selfJWKS
		if status, body := register(plain, m); status != 400 || body["error"] != "invalid_client_metadata" {
			t.Errorf("%d %v", status, body)
		}
	})
}
