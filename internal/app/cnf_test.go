package app

import (
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/internal/oauth"
	"github.com/gatehouse/gatehouse/internal/token"
)

// TestIntrospectionReportsBinding: a bound token's introspection carries
// its cnf and the token_type that goes with it (RFC 7662 §2.2, RFC 9449
// §6.2, RFC 8705 §3.2), whatever the token's format, and the binding
// survives the store and the verifier's cache.
func TestIntrospectionReportsBinding(t *testing.T) {
	n := startNode(t)
	const (
		jkt = "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I"
		x5t = "BimEMugGayniIjvMI6qVBLVq5Qj6vzQ1UIhpucMZDiI"
	)
	now := n.clock.Now().Truncate(time.Second)
	asRS := func(r *http.Request) { r.SetBasicAuth("orders-rs", url.QueryEscape(rsSecret)) }
	for _, tc := range []struct {
		name     string
		format   gatehouse.TokenFormat
		cnf      gatehouse.Confirmation
		wantType string
		wantCnf  map[string]any
	}{
		{"BearerJWT", gatehouse.FormatJWT, gatehouse.Confirmation{}, "Bearer", nil},
		{"DPoPJWT", gatehouse.FormatJWT, gatehouse.Confirmation{JKT: jkt}, "DPoP", map[string]any{"jkt": jkt}},
		{"CertificateJWT", gatehouse.FormatJWT, gatehouse.Confirmation{X5TS256: x5t}, "Bearer", map[string]any{"x5t#S256": x5t}},
		{"DPoPOpaque", gatehouse.FormatOpaque, gatehouse.Confirmation{JKT: jkt}, "DPoP", map[string]any{"jkt": jkt}},
		{"CertificateOpaque", gatehouse.FormatOpaque, gatehouse.Confirmation{X5TS256: x5t}, "Bearer", map[string]any{"x5t#S256": x5t}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := &gatehouse.AccessClaims{
				Issuer: n.Issuer, Subject: "svc-basic", Audience: "https://orders.example.test", ClientID: "svc-basic",
				Scopes: []string{"orders:read"}, ID: token.NewID(), IssuedAt: now, ExpiresAt: now.Add(5 * time.Minute),
				Cnf: tc.cnf,
			}
			tok := gatehouse.NewSecret(token.PrefixAccess)
			if tc.format == gatehouse.FormatJWT {
				var err error
				if tok, err = n.OAuth.Minter.MintJWT(c); err != nil {
					t.Fatal(err)
				}
			}
			if err := n.Store.CreateToken(t.Context(), &gatehouse.Token{
				ID: c.ID, Hash: gatehouse.HashSecret(tok), Kind: gatehouse.KindAccess, Format: tc.format,
				ClientID: c.ClientID, Subject: c.Subject, Audience: c.Audience, Scopes: c.Scopes,
				IssuedAt: c.IssuedAt, ExpiresAt: c.ExpiresAt, Cnf: tc.cnf,
			}); err != nil {
				t.Fatal(err)
			}
			for range 2 { // the second answer comes from the verifier's cache
				status, body, _ := postForm(t, n.Issuer+oauth.PathIntrospect, url.Values{"token": {tok}}, asRS)
				if status != 200 || body["active"] != true || body["token_type"] != tc.wantType {
					t.Fatalf("introspection = %d %v, want active with token_type %s", status, body, tc.wantType)
				}
				got, _ := body["cnf"].(map[string]any)
				if len(got) != len(tc.wantCnf) {
					t.Fatalf("cnf = %v, want %v", body["cnf"], tc.wantCnf)
				}
				for k, v := range tc.wantCnf {
					if got[k] != v {
						t.Fatalf("cnf = %v, want %v", got, tc.wantCnf)
					}
				}
			}
		})
	}
}
