// Command dpop-client is a small DPoP client (RFC 9449) for Gatehouse: it
// gets a DPoP-bound access token with the client credentials grant and
// calls an API through the gateway with it. It uses go-jose for the proofs
// and golang.org/x/oauth2 for the token request, and nothing of
// Gatehouse's own code: it is what a client of yours would look like.
//
//	go run ./examples/dpop-client \
//	    -issuer https://gatehouse.example.com \
//	    -client-id billing-service -client-secret "$SECRET" \
//	    -resource https://orders.example.com \
//	    -url https://gatehouse.example.com/v1/orders/42
//
// With -key it signs with a key written by `gatehouse dpop keygen`;
// otherwise it makes a fresh P-256 key for the run.
package main

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"
)

func main() {
	issuer := flag.String("issuer", "http://127.0.0.1:8080", "Gatehouse's issuer URL (the token endpoint is issuer + /oauth/token)")
	clientID := flag.String("client-id", "", "client_id")
	secret := flag.String("client-secret", os.Getenv("CLIENT_SECRET"), "client secret (default: $CLIENT_SECRET)")
	resource := flag.String("resource", "", "the API's audience (RFC 8707 resource)")
	scope := flag.String("scope", "", "space-separated scopes to ask for")
	target := flag.String("url", "", "the API URL to call through the gateway")
	keyFile := flag.String("key", "", "private JWK file (gatehouse dpop keygen); default: a new P-256 key")
	flag.Parse()
	if *clientID == "" || *resource == "" || *target == "" {
		flag.Usage()
		os.Exit(2)
	}
	if err := run(*issuer, *clientID, *secret, *resource, *scope, *target, *keyFile); err != nil {
		fmt.Fprintln(os.Stderr, "dpop-client:", err)
		os.Exit(1)
	}
}

func run(issuer, clientID, secret, resource, scope, target, keyFile string) error {
	key, err := loadKey(keyFile)
	if err != nil {
		return err
	}
	dp := &Transport{Key: key}
	client := &http.Client{Transport: dp, Timeout: 30 * time.Second}

	// The token request goes through the DPoP transport, which signs a
	// proof for it and answers use_dpop_nonce once.
	cc := &clientcredentials.Config{
		ClientID: clientID, ClientSecret: secret, TokenURL: strings.TrimSuffix(issuer, "/") + "/oauth/token",
		EndpointParams: url.Values{"resource": {resource}},
	}
	if scope != "" {
		cc.Scopes = strings.Fields(scope)
	}
	tok, err := cc.Token(context.WithValue(context.Background(), oauth2.HTTPClient, client))
	if err != nil {
		return fmt.Errorf("token: %w", err)
	}
	if tok.TokenType != "DPoP" {
		return fmt.Errorf("token: the server issued a %q token, not a DPoP-bound one", tok.TokenType)
	}
	fmt.Fprintf(os.Stderr, "got a DPoP-bound token, expires %s\n", tok.Expiry.Format(time.RFC3339))

	req, err := http.NewRequest(http.MethodGet, target, nil)
	if err != nil {
		return err
	}
	// Authorization: DPoP, not Bearer; the transport adds the proof, with
	// ath, the hash of this token.
	req.Header.Set("Authorization", "DPoP "+tok.AccessToken)
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	fmt.Printf("%s\n%s\n", resp.Status, body)
	if resp.StatusCode >= 400 {
		return fmt.Errorf("%s: %s", resp.Status, resp.Header.Get("WWW-Authenticate"))
	}
	return nil
}

// loadKey reads a private JWK, or makes a fresh P-256 key.
func loadKey(file string) (crypto.Signer, error) {
	if file == "" {
		return ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	}
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	var jwk jose.JSONWebKey
	if err := jwk.UnmarshalJSON(data); err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	s, ok := jwk.Key.(crypto.Signer)
	if !ok || jwk.IsPublic() {
		return nil, fmt.Errorf("%s: not a private key", file)
	}
	return s, nil
}

// Transport adds a DPoP proof to every request (RFC 9449 §4): htm and htu
// from the request, ath when the request carries "Authorization: DPoP
// <token>". When the server answers use_dpop_nonce, it keeps the nonce from
// DPoP-Nonce and retries once (§8, §9); later proofs carry the newest
// nonce the server sent.
type Transport struct {
	Key  crypto.Signer // ECDSA P-256 (ES256) or Ed25519 (EdDSA)
	Base http.RoundTripper

	mu    sync.Mutex
	nonce string
}

func (t *Transport) RoundTrip(r *http.Request) (*http.Response, error) {
	base := t.Base
	if base == nil {
		base = http.DefaultTransport
	}
	for attempt := 0; ; attempt++ {
		req := r.Clone(r.Context())
		if r.Body != nil && r.GetBody != nil {
			b, err := r.GetBody()
			if err != nil {
				return nil, err
			}
			req.Body = b
		}
		proof, err := t.proof(req)
		if err != nil {
			return nil, err
		}
		req.Header.Set("DPoP", proof)
		resp, err := base.RoundTrip(req)
		if err != nil {
			return nil, err
		}
		if n := resp.Header.Get("DPoP-Nonce"); n != "" {
			t.mu.Lock()
			t.nonce = n
			t.mu.Unlock()
		}
		if attempt > 0 || !wantsNonce(resp) || (r.Body != nil && r.GetBody == nil) {
			return resp, nil
		}
		resp.Body.Close()
	}
}

// wantsNonce reports a use_dpop_nonce answer: 400 from the token endpoint
// with the error in the JSON body, 401 from a resource with the error in
// WWW-Authenticate. The body is put back when it is not one.
func wantsNonce(resp *http.Response) bool {
	if resp.Header.Get("DPoP-Nonce") == "" {
		return false
	}
	switch resp.StatusCode {
	case http.StatusUnauthorized:
		return strings.Contains(resp.Header.Get("WWW-Authenticate"), `error="use_dpop_nonce"`)
	case http.StatusBadRequest:
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		resp.Body.Close()
		resp.Body = io.NopCloser(bytes.NewReader(body))
		var e struct {
			Error string `json:"error"`
		}
		return json.Unmarshal(body, &e) == nil && e.Error == "use_dpop_nonce"
	}
	return false
}

func (t *Transport) proof(r *http.Request) (string, error) {
	alg := jose.ES256
	if _, ok := t.Key.Public().(*ecdsa.PublicKey); !ok {
		alg = jose.EdDSA
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: t.Key},
		(&jose.SignerOptions{EmbedJWK: true}).WithType("dpop+jwt"))
	if err != nil {
		return "", err
	}
	jti := make([]byte, 16)
	if _, err := rand.Read(jti); err != nil {
		return "", err
	}
	u := *r.URL
	u.RawQuery, u.Fragment, u.RawFragment = "", "", "" // htu has neither (RFC 9449 §4.2)
	claims := map[string]any{
		"jti": base64.RawURLEncoding.EncodeToString(jti),
		"htm": r.Method,
		"htu": u.String(),
		"iat": time.Now().Unix(),
	}
	if scheme, tok, ok := strings.Cut(r.Header.Get("Authorization"), " "); ok && strings.EqualFold(scheme, "DPoP") {
		sum := sha256.Sum256([]byte(tok))
		claims["ath"] = base64.RawURLEncoding.EncodeToString(sum[:])
	}
	t.mu.Lock()
	if t.nonce != "" {
		claims["nonce"] = t.nonce
	}
	t.mu.Unlock()
	payload, err := json.Marshal(claims)
	if err != nil {
		return "", err
	}
	jws, err := signer.Sign(payload)
	if err != nil {
		return "", err
	}
	s, err := jws.CompactSerialize()
	if err != nil {
		return "", errors.New("dpop: " + err.Error())
	}
	return s, nil
}
