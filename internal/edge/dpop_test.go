package edge

import (
	"crypto/tls"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/gatehouse/gatehouse/internal/dpop"
	"github.com/gatehouse/gatehouse/internal/jose"
)

func TestDPoPChallenge(t *testing.T) {
	c := &Checks{DPoP: &dpop.Verifier{AllowedAlgs: []jose.Algorithm{jose.ES256, jose.EdDSA}}}
	for _, tc := range []struct{ code, desc, want string }{
		{"", "", `DPoP algs="ES256 EdDSA"`},
		{"invalid_dpop_proof", "proof was already used", `DPoP error="invalid_dpop_proof", error_description="proof was already used", algs="ES256 EdDSA"`},
		{"use_dpop_nonce", "a \"quoted\" \\ \u00e9\n", `DPoP error="use_dpop_nonce", error_description="a 'quoted' / ??", algs="ES256 EdDSA"`},
	} {
		if got := c.dpopChallenge(tc.code, tc.desc); got != tc.want {
			t.Errorf("dpopChallenge(%q, %q) = %s, want %s", tc.code, tc.desc, got, tc.want)
		}
	}
	if got := (&Checks{}).dpopChallenge("", ""); got != `DPoP algs="ES256 EdDSA RS256 PS256"` {
		t.Errorf("default algs: %s", got)
	}
}

func TestExternalURL(t *testing.T) {
	proxied := func(*http.Request) (string, string) { return "https", "api.example.com" }
	for _, tc := range []struct {
		name    string
		target  string
		tls     bool
		origin  func(*http.Request) (string, string)
		headers map[string]string
		want    string
	}{
		{"Plain", "http://gw.example:8080/v1/x?q=1", false, nil, nil, "http://gw.example:8080/v1/x"},
		{"TLS", "https://gw.example/v1/x", true, nil, nil, "https://gw.example/v1/x"},
		{"EscapedPath", "http://gw.example/a%2Fb/c%20d", false, nil, nil, "http://gw.example/a%2Fb/c%20d"},
		// Without the gateway's rules, no header is believed.
		{"HeadersIgnoredWithoutOrigin", "http://gw.example/x", false, nil,
			map[string]string{"X-Forwarded-Host": "evil.example", "X-Forwarded-Proto": "https", "Forwarded": "host=evil.example"}, "http://gw.example/x"},
		{"Origin", "http://10.0.0.2/x%2Fy?q", false, proxied, nil, "https://api.example.com/x%2Fy"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", tc.target, nil)
			if tc.tls {
				r.TLS = &tls.ConnectionState{}
			}
			for k, v := range tc.headers {
				r.Header.Set(k, v)
			}
			if got := externalURL(r, tc.origin); got != tc.want {
				t.Errorf("externalURL = %q, want %q", got, tc.want)
			}
		})
	}
}
