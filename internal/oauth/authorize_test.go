package oauth

import (
	"context"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/internal/sqlite"
)

func TestMatchRedirectURI(t *testing.T) {
	reg := []string{"https://app.example/cb", "http://127.0.0.1/native", "http://[::1]:8000/v6?x=1", "com.example.app:/oauth"}
	cases := []struct {
		req  string
		want bool
	}{
		{"https://app.example/cb", true},
		{"https://app.example/cb/", false},
		{"https://app.example/CB", false},
		{"https://APP.example/cb", false},
		{"https://app.example/cb?x=1", false},
		{"https://app.example/cb#f", false},
		{"https://app.example:443/cb", false},
		{"http://127.0.0.1:5000/native", true},
		{"http://127.0.0.1/native", true},
		{"http://127.0.0.1:5000/native/../x", false},
		{"http://127.0.0.1:5000/other", false},
		{"http://localhost:5000/native", false},
		{"http://127.0.0.2:5000/native", false},
		{"https://127.0.0.1:5000/native", false},
		{"http://user@127.0.0.1:5000/native", false},
		{"http://[::1]:9999/v6?x=1", true},
		{"http://[::1]:9999/v6?x=2", false},
		{"com.example.app:/oauth", true},
		{"com.example.app:/oauth2", false},
		{"", false}, // several registered: must name one
	}
	for _, tc := range cases {
		if _, got := matchRedirectURI(reg, tc.req); got != tc.want {
			t.Errorf("matchRedirectURI(%q) = %v, want %v", tc.req, got, tc.want)
		}
	}
	if got, ok := matchRedirectURI([]string{"https://only.example/cb"}, ""); !ok || got != "https://only.example/cb" {
		t.Errorf("single registered URI not used by default: %q %v", got, ok)
	}
}

func FuzzMatchRedirectURI(f *testing.F) {
	reg := []string{"https://app.example/cb", "http://127.0.0.1/native", "http://[::1]/v6"}
	for _, s := range []string{"https://app.example/cb", "http://127.0.0.1:1/native", "http://[::1]:2/v6", "http://127.0.0.1:1/native?", "%", "http://127.0.0.1:99999/native"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, req string) {
		got, ok := matchRedirectURI(reg, req)
		if !ok {
			return
		}
		if got != req {
			t.Fatalf("matched %q but returned %q", req, got)
		}
		// Anything accepted is a registered URI or the same loopback URI on
		// another port: same scheme, host, path and query.
		u, err := url.Parse(req)
		if err != nil {
			t.Fatalf("accepted unparsable %q", req)
		}
		exact := false
		for _, r := range reg {
			exact = exact || r == req
		}
		if !exact && (u.Scheme != "http" || !isLoopbackIP(u.Hostname()) || strings.Contains(req, "#")) {
			t.Fatalf("accepted %q, which is neither registered nor a loopback variant", req)
		}
	})
}

// authzServer is a Server with just what parseAuthorize needs, on a real
// SQLite store.
func authzServer(t testing.TB) *Server {
	t.Helper()
	db, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "gh.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	now := time.Now()
	for _, c := range []*gatehouse.Client{
		{ID: "web", AuthMethod: gatehouse.AuthSecretBasic, GrantTypes: []string{gatehouse.GrantAuthorizationCode},
			RedirectURIs: []string{"https://app.example/cb"}, Access: []gatehouse.Access{{API: "orders", Scopes: []string{"read", "write"}}}},
		{ID: "native", AuthMethod: gatehouse.AuthNone, GrantTypes: []string{gatehouse.GrantAuthorizationCode},
			RedirectURIs: []string{"http://127.0.0.1/cb"}, Access: []gatehouse.Access{{API: "orders", Scopes: []string{"read"}}}},
	} {
		c.CreatedAt, c.UpdatedAt = now, now
		if err := db.CreateClient(context.Background(), c); err != nil {
			t.Fatal(err)
		}
	}
	api := &gatehouse.API{Name: "orders", Audience: "https://orders.example", Scopes: []string{"read", "write"}, Lifecycle: gatehouse.LifecyclePublished}
	return &Server{Issuer: "https://as.example", Clients: db, Catalog: oneAPI{api}}
}

type oneAPI struct{ api *gatehouse.API }

func (o oneAPI) API(name string) *gatehouse.API {
	if name == o.api.Name {
		return o.api
	}
	return nil
}
func (o oneAPI) APIByAudience(aud string) *gatehouse.API {
	if aud == o.api.Audience {
		return o.api
	}
	return nil
}
func (o oneAPI) APIs() []*gatehouse.API { return []*gatehouse.API{o.api} }

// TestParseAuthorizeDPoPJKT: dpop_jkt (RFC 9449 §10) is kept when it is a
// thumbprint, and refused back to the client otherwise.
func TestParseAuthorizeDPoPJKT(t *testing.T) {
	s := authzServer(t)
	base := "response_type=code&client_id=web&redirect_uri=https%3A%2F%2Fapp.example%2Fcb&scope=read"
	jkt := "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I"
	req, rerr, fatal := s.parseAuthorize(context.Background(), base+"&dpop_jkt="+jkt)
	if rerr != nil || fatal != nil || req.DPoPJKT != jkt {
		t.Fatalf("valid dpop_jkt: %+v %v %v", req, rerr, fatal)
	}
	for name, q := range map[string]string{
		"Short":    "&dpop_jkt=" + jkt[:42],
		"Padded":   "&dpop_jkt=" + jkt + "%3D",
		"Empty":    "&dpop_jkt=",
		"Repeated": "&dpop_jkt=" + jkt + "&dpop_jkt=" + jkt,
		"Base64":   "&dpop_jkt=" + strings.Replace(jkt, "-", "%2B", 1),
	} {
		t.Run(name, func(t *testing.T) {
			_, rerr, fatal := s.parseAuthorize(context.Background(), base+q)
			if fatal != nil || rerr == nil || rerr.Code != "invalid_request" {
				t.Fatalf("got %v %v; want an invalid_request redirect", rerr, fatal)
			}
		})
	}
}

func FuzzParseAuthorize(f *testing.F) {
	s := authzServer(f)
	ch := strings.Repeat("A", 43)
	for _, q := range []string{
		"response_type=code&client_id=web&redirect_uri=https%3A%2F%2Fapp.example%2Fcb&scope=read&state=x",
		"response_type=code&client_id=native&redirect_uri=http%3A%2F%2F127.0.0.1%3A9%2Fcb&code_challenge=" + ch + "&code_challenge_method=S256",
		"response_type=token&client_id=web", "client_id=web&client_id=native", "client_id=%zz", "resource=a&resource=b&client_id=web",
		"response_type=code&client_id=web&redirect_uri=https%3A%2F%2Fapp.example%2Fcb&dpop_jkt=" + ch,
		"response_type=code&client_id=web&redirect_uri=https%3A%2F%2Fapp.example%2Fcb&dpop_jkt=" + ch + "&dpop_jkt=" + ch,
		"response_type=code&client_id=web&redirect_uri=https%3A%2F%2Fapp.example%2Fcb&dpop_jkt=short",
	} {
		f.Add(q)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		req, rerr, fatal := s.parseAuthorize(context.Background(), raw)
		n := 0
		for _, b := range []bool{req != nil, rerr != nil, fatal != nil} {
			if b {
				n++
			}
		}
		if n != 1 {
			t.Fatalf("parseAuthorize(%q) gave %d outcomes", raw, n)
		}
		if rerr != nil {
			// A redirect only ever goes to a URI the client registered.
			if _, ok := matchRedirectURI([]string{"https://app.example/cb", "http://127.0.0.1/cb"}, rerr.redirectURI); !ok {
				t.Fatalf("redirect error to unregistered %q", rerr.redirectURI)
			}
		}
		if req != nil {
			if req.Client.AuthMethod == gatehouse.AuthNone && req.Challenge == "" {
				t.Fatal("public client accepted without PKCE")
			}
			if req.DPoPJKT != "" && !validChallenge(req.DPoPJKT) {
				t.Fatalf("dpop_jkt %q accepted", req.DPoPJKT)
			}
			for _, sc := range req.Scopes {
				if !req.API.HasScope(sc) {
					t.Fatalf("scope %q outside the API", sc)
				}
			}
		}
	})
}
