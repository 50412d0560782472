package app

import (
	"context"
	"errors"
	"fmt"
	"html"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/netip"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/internal/config"
	"github.com/gatehouse/gatehouse/internal/oauth"
	"github.com/gatehouse/gatehouse/internal/password"
	"github.com/gatehouse/gatehouse/internal/token"
)

const userPassword = "correct horse battery staple"

// addUser creates a user with cheap argon2id parameters (the login reads
// the parameters from the stored hash, so the real code path runs).
func (n *testNode) addUser(t testing.TB, name string) *gatehouse.User {
	t.Helper()
	h, err := password.Hash(userPassword, password.Params{Memory: 64, Time: 1, Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	now := n.clock.Now()
	u := &gatehouse.User{ID: token.NewID(), Username: name, PasswordHash: h, CreatedAt: now, UpdatedAt: now}
	if err := n.Store.CreateUser(context.Background(), u); err != nil {
		t.Fatal(err)
	}
	return u
}

// browser is an HTTP client with a cookie jar that does not follow
// redirects, so the test sees every Location, as a user agent's devtools
// would.
type browser struct {
	t      testing.TB
	n      *testNode
	client *http.Client
}

func (n *testNode) browser(t testing.TB) *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{t: t, n: n, client: &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	}}}
}

type page struct {
	status   int
	body     string
	location string
	header   http.Header
}

func (b *browser) do(req *http.Request) page {
	b.t.Helper()
	resp, err := b.client.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return page{status: resp.StatusCode, body: string(body), location: resp.Header.Get("Location"), header: resp.Header}
}

func (b *browser) get(u string) page {
	req, _ := http.NewRequest(http.MethodGet, u, nil)
	return b.do(req)
}

var hiddenField = regexp.MustCompile(`<input type="hidden" name="([a-z_]+)" value="([^"]*)">`)

// submit fills the page's form (hidden fields plus fields) and posts it
// with the browser's Origin, as a browser does.
func (b *browser) submit(p page, fields url.Values) page {
	b.t.Helper()
	form := url.Values{}
	for _, m := range hiddenField.FindAllStringSubmatch(p.body, -1) {
		form.Set(m[1], html.UnescapeString(m[2]))
	}
	if form.Get("csrf") == "" {
		b.t.Fatalf("no csrf field in page:\n%s", p.body)
	}
	for k, v := range fields {
		form[k] = v
	}
	req, _ := http.NewRequest(http.MethodPost, b.n.Issuer+oauth.PathAuthorize, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", b.n.Issuer)
	return b.do(req)
}

// login answers the login page.
func (b *browser) login(p page, user, pw string) page {
	b.t.Helper()
	if !strings.Contains(p.body, `name="password"`) {
		b.t.Fatalf("expected the login page, got %d:\n%s", p.status, p.body)
	}
	return b.submit(p, url.Values{"username": {user}, "password": {pw}})
}

// consent answers the consent page with allow or deny.
func (b *browser) consent(p page, decision string) page {
	b.t.Helper()
	if !strings.Contains(p.body, `name="decision"`) {
		b.t.Fatalf("expected the consent page, got %d:\n%s", p.status, p.body)
	}
	return b.submit(p, url.Values{"decision": {decision}, "remember": {"1"}})
}

func (n *testNode) webApp() *oauth2.Config {
	return &oauth2.Config{
		ClientID: "web-app", ClientSecret: webSecret, RedirectURL: "https://app.example.test/callback",
		Endpoint: oauth2.Endpoint{AuthURL: n.Issuer + oauth.PathAuthorize, TokenURL: n.Issuer + oauth.PathToken, AuthStyle: oauth2.AuthStyleInHeader},
		Scopes:   []string{"orders:read", "orders:write"},
	}
}

func (n *testNode) nativeApp() *oauth2.Config {
	return &oauth2.Config{
		ClientID: "native-app", RedirectURL: "http://127.0.0.1:53123/callback",
		Endpoint: oauth2.Endpoint{AuthURL: n.Issuer + oauth.PathAuthorize, TokenURL: n.Issuer + oauth.PathToken, AuthStyle: oauth2.AuthStyleInParams},
		Scopes:   []string{"orders:read"},
	}
}

// callback checks an authorization response and returns its parameters.
func (n *testNode) callback(t testing.TB, p page, wantPrefix, state string) url.Values {
	t.Helper()
	if p.status != http.StatusFound && p.status != http.StatusSeeOther {
		t.Fatalf("expected a redirect to the client, got %d:\n%s", p.status, p.body)
	}
	if !strings.HasPrefix(p.location, wantPrefix) {
		t.Fatalf("redirected to %q, want %q", p.location, wantPrefix)
	}
	u, err := url.Parse(p.location)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	if q.Get("iss") != n.Issuer {
		t.Errorf("iss = %q, want %q (RFC 9207)", q.Get("iss"), n.Issuer)
	}
	if q.Get("state") != state {
		t.Errorf("state = %q, want %q untouched", q.Get("state"), state)
	}
	return q
}

// codeFor runs the whole browser flow and returns the authorization code.
func (n *testNode) codeFor(t testing.TB, b *browser, cfg *oauth2.Config, verifier string, extra ...oauth2.AuthCodeOption) string {
	t.Helper()
	state := "st-" + token.NewID()
	opts := append([]oauth2.AuthCodeOption{oauth2.S256ChallengeOption(verifier)}, extra...)
	p := b.get(cfg.AuthCodeURL(state, opts...))
	if strings.Contains(p.body, `name="password"`) {
		p = b.login(p, "alice", userPassword)
	}
	if strings.Contains(p.body, `name="decision"`) {
		p = b.consent(p, "allow")
	}
	q := n.callback(t, p, cfg.RedirectURL, state)
	if q.Get("code") == "" {
		t.Fatalf("no code in %s", p.location)
	}
	return q.Get("code")
}

func TestAuthorizationCodeFlow(t *testing.T) {
	n := startNode(t)
	n.addUser(t, "alice")
	ctx := context.Background()
	cfg := n.webApp()
	b := n.browser(t)

	state := "xyz-" + token.NewID() + "&odd=chars%20"
	verifier := oauth2.GenerateVerifier()
	p := b.get(cfg.AuthCodeURL(state, oauth2.S256ChallengeOption(verifier), oauth2.SetAuthURLParam("resource", "https://orders.example.test")))
	if p.status != 200 || !strings.Contains(p.body, "Web App") {
		t.Fatalf("login page: %d\n%s", p.status, p.body)
	}
	for _, h := range []string{"Content-Security-Policy", "X-Frame-Options"} {
		if v := p.header.Get(h); v == "" || (h == "Content-Security-Policy" && !strings.Contains(v, "frame-ancestors 'none'")) {
			t.Errorf("%s = %q", h, v)
		}
	}
	p = b.login(p, "alice", userPassword)
	if !strings.Contains(p.body, "orders:write") {
		t.Fatalf("consent page does not list the scopes:\n%s", p.body)
	}
	p = b.consent(p, "allow")
	q := n.callback(t, p, "https://app.example.test/callback?", state)

	tok, err := cfg.Exchange(ctx, q.Get("code"), oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatalf("exchange: %v", err)
	}
	if tok.RefreshToken == "" || !strings.HasPrefix(tok.RefreshToken, "ghr_") {
		t.Fatalf("no refresh token: %+v", tok)
	}
	c, _ := n.verifyIndependently(t, tok.AccessToken)
	if c.Scope != "orders:read orders:write" || c.ClientID != "web-app" || c.Subject == "" || c.Subject == "web-app" {
		t.Errorf("claims %+v", c)
	}

	t.Run("TokenSourceRefreshes", func(t *testing.T) {
		old := *tok
		old.Expiry = time.Now().Add(-time.Minute)
		fresh, err := cfg.TokenSource(ctx, &old).Token()
		if err != nil {
			t.Fatalf("refresh: %v", err)
		}
		if fresh.AccessToken == tok.AccessToken || fresh.RefreshToken == tok.RefreshToken || fresh.RefreshToken == "" {
			t.Error("refresh did not rotate")
		}
		n.verifyIndependently(t, fresh.AccessToken)
	})
	t.Run("RememberedConsentSkipsThePage", func(t *testing.T) {
		v := oauth2.GenerateVerifier()
		p := b.get(cfg.AuthCodeURL("s2", oauth2.S256ChallengeOption(v), oauth2.SetAuthURLParam("scope", "orders:read")))
		n.callback(t, p, cfg.RedirectURL, "s2")
	})
	t.Run("PromptConsentAsksAgain", func(t *testing.T) {
		p := b.get(cfg.AuthCodeURL("s3", oauth2.S256ChallengeOption(oauth2.GenerateVerifier()), oauth2.SetAuthURLParam("prompt", "consent")))
		if !strings.Contains(p.body, `name="decision"`) {
			t.Errorf("prompt=consent did not show the consent page: %d", p.status)
		}
	})
	t.Run("PromptNoneWithoutSession", func(t *testing.T) {
		p := n.browser(t).get(cfg.AuthCodeURL("s4", oauth2.S256ChallengeOption(oauth2.GenerateVerifier()), oauth2.SetAuthURLParam("prompt", "none")))
		if q := n.callback(t, p, cfg.RedirectURL, "s4"); q.Get("error") != "login_required" {
			t.Errorf("error = %q", q.Get("error"))
		}
	})
}

func TestAuthorizationRefusals(t *testing.T) {
	n := startNode(t)
	n.addUser(t, "alice")
	cfg := n.webApp()

	t.Run("ConsentDenied", func(t *testing.T) {
		b := n.browser(t)
		p := b.login(b.get(cfg.AuthCodeURL("s", oauth2.S256ChallengeOption(oauth2.GenerateVerifier()))), "alice", userPassword)
		q := n.callback(t, b.consent(p, "deny"), cfg.RedirectURL, "s")
		if q.Get("error") != "access_denied" || q.Get("code") != "" {
			t.Errorf("deny: %v", q)
		}
	})
	t.Run("WrongPassword", func(t *testing.T) {
		b := n.browser(t)
		p := b.login(b.get(cfg.AuthCodeURL("s", oauth2.S256ChallengeOption(oauth2.GenerateVerifier()))), "alice", "wrong password!!")
		if p.status != http.StatusUnauthorized || p.location != "" || !strings.Contains(p.body, "Wrong username or password") {
			t.Errorf("wrong password: %d %q", p.status, p.location)
		}
		p = b.login(b.get(cfg.AuthCodeURL("s", oauth2.S256ChallengeOption(oauth2.GenerateVerifier()))), "nobody", "wrong password!!")
		if p.status != http.StatusUnauthorized || !strings.Contains(p.body, "Wrong username or password") {
			t.Errorf("unknown user: %d", p.status)
		}
	})
	t.Run("FailedLoginsSlowDown", func(t *testing.T) {
		b := n.browser(t)
		var p page
		for i := 0; i < 7; i++ {
			p = b.login(b.get(cfg.AuthCodeURL("s", oauth2.S256ChallengeOption(oauth2.GenerateVerifier()))), "alice", "not the password")
		}
		if p.status != http.StatusTooManyRequests {
			t.Fatalf("after 7 failures: %d", p.status)
		}
		p = b.login(b.get(cfg.AuthCodeURL("s", oauth2.S256ChallengeOption(oauth2.GenerateVerifier()))), "alice", userPassword)
		if p.status != http.StatusTooManyRequests {
			t.Fatalf("right password during the delay: %d", p.status)
		}
		n.clock.Advance(10 * time.Minute)
	})
	t.Run("CSRF", func(t *testing.T) {
		b := n.browser(t)
		p := b.get(cfg.AuthCodeURL("s", oauth2.S256ChallengeOption(oauth2.GenerateVerifier())))
		forged := hiddenField.ReplaceAllStringFunc(p.body, func(m string) string {
			if strings.Contains(m, `name="csrf"`) {
				return `<input type="hidden" name="csrf" value="AAAA">`
			}
			return m
		})
		if r := b.login(page{body: forged}, "alice", userPassword); r.status != http.StatusForbidden {
			t.Errorf("forged csrf: %d", r.status)
		}
	})

	redirectCases := []struct {
		name string
		url  string
	}{
		{"UnregisteredRedirect", strings.Replace(cfg.AuthCodeURL("s", oauth2.S256ChallengeOption(oauth2.GenerateVerifier())), url.QueryEscape(cfg.RedirectURL), url.QueryEscape("https://evil.example/callback"), 1)},
		{"RedirectPrefixOnly", strings.Replace(cfg.AuthCodeURL("s"), url.QueryEscape(cfg.RedirectURL), url.QueryEscape(cfg.RedirectURL+"/more"), 1)},
		{"RedirectWithFragment", strings.Replace(cfg.AuthCodeURL("s"), url.QueryEscape(cfg.RedirectURL), url.QueryEscape(cfg.RedirectURL+"#x"), 1)},
		{"UnknownClient", strings.Replace(cfg.AuthCodeURL("s"), "client_id=web-app", "client_id=ghost", 1)},
		{"LoopbackOtherPath", strings.Replace(n.nativeApp().AuthCodeURL("s", oauth2.S256ChallengeOption(oauth2.GenerateVerifier())), url.QueryEscape("/callback"), url.QueryEscape("/other"), 1)},
		{"LoopbackOtherHost", strings.Replace(n.nativeApp().AuthCodeURL("s", oauth2.S256ChallengeOption(oauth2.GenerateVerifier())), "127.0.0.1%3A53123", "127.0.0.2%3A53123", 1)},
	}
	for _, tc := range redirectCases {
		t.Run(tc.name, func(t *testing.T) {
			p := n.browser(t).get(tc.url)
			if p.status != http.StatusBadRequest || p.location != "" || !strings.Contains(p.body, "cannot be completed") {
				t.Errorf("got %d location %q; want an error page and no redirect", p.status, p.location)
			}
		})
	}

	redirectErrors := []struct {
		name, url, code string
	}{
		{"PublicClientWithoutPKCE", n.nativeApp().AuthCodeURL("s"), "invalid_request"},
		{"PlainPKCE", n.nativeApp().AuthCodeURL("s", oauth2.SetAuthURLParam("code_challenge", strings.Repeat("a", 43)), oauth2.SetAuthURLParam("code_challenge_method", "plain")), "invalid_request"},
		{"ChallengeWithoutMethod", n.nativeApp().AuthCodeURL("s", oauth2.SetAuthURLParam("code_challenge", strings.Repeat("a", 43))), "invalid_request"},
		{"ShortChallenge", n.nativeApp().AuthCodeURL("s", oauth2.SetAuthURLParam("code_challenge", "abc"), oauth2.SetAuthURLParam("code_challenge_method", "S256")), "invalid_request"},
		{"ImplicitFlow", strings.Replace(cfg.AuthCodeURL("s", oauth2.S256ChallengeOption(oauth2.GenerateVerifier())), "response_type=code", "response_type=token", 1), "unsupported_response_type"},
		{"UnknownScope", cfg.AuthCodeURL("s", oauth2.S256ChallengeOption(oauth2.GenerateVerifier()), oauth2.SetAuthURLParam("scope", "orders:admin")), "invalid_scope"},
		{"UnknownResource", cfg.AuthCodeURL("s", oauth2.S256ChallengeOption(oauth2.GenerateVerifier()), oauth2.SetAuthURLParam("resource", "https://nope.example.test")), "invalid_target"},
		{"ClientWithoutCodeGrant", strings.Replace(cfg.AuthCodeURL("s"), "client_id=web-app", "client_id=svc-basic", 1), ""},
	}
	for _, tc := range redirectErrors {
		t.Run(tc.name, func(t *testing.T) {
			p := n.browser(t).get(tc.url)
			if tc.code == "" { // svc-basic has no redirect URI: error page
				if p.status != http.StatusBadRequest || p.location != "" {
					t.Errorf("got %d %q", p.status, p.location)
				}
				return
			}
			prefix := cfg.RedirectURL
			if strings.Contains(tc.url, "native-app") {
				prefix = "http://127.0.0.1:53123/callback"
			}
			if q := n.callback(t, p, prefix, "s"); q.Get("error") != tc.code {
				t.Errorf("error = %q (%s), want %s", q.Get("error"), q.Get("error_description"), tc.code)
			}
		})
	}
}

func TestCodeExchangeRefusals(t *testing.T) {
	n := startNode(t)
	n.addUser(t, "alice")
	ctx := context.Background()
	cfg := n.webApp()
	b := n.browser(t)

	t.Run("VerifierMismatch", func(t *testing.T) {
		code := n.codeFor(t, b, cfg, oauth2.GenerateVerifier())
		_, err := cfg.Exchange(ctx, code, oauth2.VerifierOption(oauth2.GenerateVerifier()))
		if re := retrieveError(t, err); re.ErrorCode != "invalid_grant" {
			t.Errorf("got %s", re.ErrorCode)
		}
	})
	t.Run("ChallengeWithoutVerifier", func(t *testing.T) {
		code := n.codeFor(t, b, cfg, oauth2.GenerateVerifier())
		_, err := cfg.Exchange(ctx, code)
		if re := retrieveError(t, err); re.ErrorCode != "invalid_grant" {
			t.Errorf("got %s", re.ErrorCode)
		}
	})
	t.Run("VerifierWithoutChallenge", func(t *testing.T) {
		state := "s"
		p := b.get(cfg.AuthCodeURL(state)) // a confidential client may skip PKCE...
		q := n.callback(t, p, cfg.RedirectURL, state)
		_, err := cfg.Exchange(ctx, q.Get("code"), oauth2.VerifierOption(oauth2.GenerateVerifier())) // ...but not downgrade
		if re := retrieveError(t, err); re.ErrorCode != "invalid_grant" {
			t.Errorf("got %s", re.ErrorCode)
		}
	})
	t.Run("RedirectURIMismatch", func(t *testing.T) {
		v := oauth2.GenerateVerifier()
		code := n.codeFor(t, b, cfg, v)
		other := *cfg
		other.RedirectURL = "https://app.example.test/other"
		_, err := other.Exchange(ctx, code, oauth2.VerifierOption(v))
		if re := retrieveError(t, err); re.ErrorCode != "invalid_grant" {
			t.Errorf("got %s", re.ErrorCode)
		}
	})
	t.Run("OtherClient", func(t *testing.T) {
		v := oauth2.GenerateVerifier()
		code := n.codeFor(t, b, cfg, v)
		native := n.nativeApp()
		native.RedirectURL = cfg.RedirectURL
		_, err := native.Exchange(ctx, code, oauth2.VerifierOption(v))
		if re := retrieveError(t, err); re.ErrorCode != "invalid_grant" {
			t.Errorf("got %s", re.ErrorCode)
		}
	})
	t.Run("Expired", func(t *testing.T) {
		v := oauth2.GenerateVerifier()
		code := n.codeFor(t, b, cfg, v)
		n.clock.Advance(2 * time.Minute)
		_, err := cfg.Exchange(ctx, code, oauth2.VerifierOption(v))
		if re := retrieveError(t, err); re.ErrorCode != "invalid_grant" {
			t.Errorf("got %s", re.ErrorCode)
		}
	})
	t.Run("ReuseRevokesTheFirstTokens", func(t *testing.T) {
		v := oauth2.GenerateVerifier()
		code := n.codeFor(t, b, cfg, v)
		tok, err := cfg.Exchange(ctx, code, oauth2.VerifierOption(v))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := n.Verifier.Verify(ctx, tok.AccessToken); err != nil {
			t.Fatal(err)
		}
		_, err = cfg.Exchange(ctx, code, oauth2.VerifierOption(v))
		if re := retrieveError(t, err); re.ErrorCode != "invalid_grant" {
			t.Fatalf("second redemption: %s", re.ErrorCode)
		}
		if _, err := n.Verifier.Verify(ctx, tok.AccessToken); token.ReasonOf(err) != token.ReasonRevoked {
			t.Errorf("first access token after code reuse: %v", err)
		}
		if _, err := cfg.TokenSource(ctx, &oauth2.Token{RefreshToken: tok.RefreshToken}).Token(); err == nil {
			t.Error("first refresh token still works after code reuse")
		}
		events, err := n.Store.FindEvents(ctx, gatehouse.EventFilter{Type: gatehouse.EventCodeReuse})
		if err != nil || len(events) == 0 {
			t.Errorf("no security event recorded: %v", err)
		}
	})
	t.Run("NativeAppLoopbackAnyPort", func(t *testing.T) {
		native := n.nativeApp()
		v := oauth2.GenerateVerifier()
		code := n.codeFor(t, b, native, v)
		tok, err := native.Exchange(ctx, code, oauth2.VerifierOption(v))
		if err != nil {
			t.Fatalf("public client exchange: %v", err)
		}
		if tok.RefreshToken == "" {
			t.Error("public client got no refresh token")
		}
	})
}

// grantTokens runs the flow once and returns the first token pair.
func (n *testNode) grantTokens(t testing.TB, cfg *oauth2.Config) *oauth2.Token {
	t.Helper()
	v := oauth2.GenerateVerifier()
	code := n.codeFor(t, n.browser(t), cfg, v)
	tok, err := cfg.Exchange(context.Background(), code, oauth2.VerifierOption(v))
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// refresh posts a refresh_token grant directly, to see status codes.
func (n *testNode) refresh(t testing.TB, rt string, extra url.Values) (int, map[string]any) {
	form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}}
	for k, v := range extra {
		form[k] = v
	}
	status, body, _ := postForm(t, n.Issuer+oauth.PathToken, form, func(r *http.Request) {
		r.SetBasicAuth("web-app", url.QueryEscape(webSecret))
	})
	return status, body
}

func TestRefreshRotation(t *testing.T) {
	n := startNode(t)
	n.addUser(t, "alice")
	ctx := context.Background()
	cfg := n.webApp()

	t.Run("ReuseRevokesTheFamily", func(t *testing.T) {
		first := n.grantTokens(t, cfg)
		status, second := n.refresh(t, first.RefreshToken, nil)
		if status != 200 {
			t.Fatalf("rotation: %d %v", status, second)
		}
		status, third := n.refresh(t, second["refresh_token"].(string), nil)
		if status != 200 {
			t.Fatalf("second rotation: %d %v", status, third)
		}
		// The first refresh token again: reuse.
		if status, body := n.refresh(t, first.RefreshToken, nil); status != 400 || body["error"] != "invalid_grant" {
			t.Fatalf("reuse: %d %v", status, body)
		}
		if status, body := n.refresh(t, third["refresh_token"].(string), nil); status != 400 || body["error"] != "invalid_grant" {
			t.Errorf("newest refresh token after reuse: %d %v", status, body)
		}
		for _, at := range []string{first.AccessToken, second["access_token"].(string), third["access_token"].(string)} {
			if _, err := n.Verifier.Verify(ctx, at); token.ReasonOf(err) != token.ReasonRevoked {
				t.Errorf("family access token after reuse: %v", err)
			}
			_, body, _ := postForm(t, n.Issuer+oauth.PathIntrospect, url.Values{"token": {at}}, func(r *http.Request) {
				r.SetBasicAuth("web-app", url.QueryEscape(webSecret))
			})
			if body["active"] != false {
				t.Errorf("introspection of a family token after reuse: %v", body)
			}
		}
		events, _ := n.Store.FindEvents(ctx, gatehouse.EventFilter{Type: gatehouse.EventRefreshReuse})
		if len(events) == 0 {
			t.Error("no security event for refresh reuse")
		}
	})
	t.Run("ConcurrentRefreshesOneWins", func(t *testing.T) {
		first := n.grantTokens(t, cfg)
		var wg sync.WaitGroup
		var mu sync.Mutex
		counts := map[int]int{}
		for i := 0; i < 100; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				status, _ := n.refresh(t, first.RefreshToken, nil)
				mu.Lock()
				counts[status]++
				mu.Unlock()
			}()
		}
		wg.Wait()
		if counts[200] != 1 || counts[400] != 99 {
			t.Errorf("status counts %v, want exactly one 200 and 99 400s", counts)
		}
	})
	t.Run("ScopeNarrowingNotWidening", func(t *testing.T) {
		narrow := *cfg
		narrow.Scopes = []string{"orders:read"}
		first := n.grantTokens(t, &narrow)
		if status, body := n.refresh(t, first.RefreshToken, url.Values{"scope": {"orders:read orders:write"}}); status != 400 || body["error"] != "invalid_scope" {
			t.Errorf("widening: %d %v", status, body)
		}
		if status, body := n.refresh(t, first.RefreshToken, url.Values{"resource": {"https://billing.example.test"}}); status != 400 || body["error"] != "invalid_target" {
			t.Errorf("other resource: %d %v", status, body)
		}
		wide := n.grantTokens(t, cfg)
		status, body := n.refresh(t, wide.RefreshToken, url.Values{"scope": {"orders:read"}})
		if status != 200 || body["scope"] != "orders:read" {
			t.Fatalf("narrowing: %d %v", status, body)
		}
		// The successor keeps the grant's scopes: narrowing is per access token.
		if status, body := n.refresh(t, body["refresh_token"].(string), url.Values{"scope": {"orders:write"}}); status != 200 {
			t.Errorf("scope of the grant after a narrowed refresh: %d %v", status, body)
		}
	})
	t.Run("BoundToClient", func(t *testing.T) {
		first := n.grantTokens(t, cfg)
		status, body, _ := postForm(t, n.Issuer+oauth.PathToken, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {first.RefreshToken}, "client_id": {"native-app"}}, nil)
		if status != 400 || body["error"] != "invalid_grant" {
			t.Errorf("another client: %d %v", status, body)
		}
		if status, _ := n.refresh(t, first.RefreshToken, nil); status != 200 {
			t.Errorf("the owner after another client tried: %d", status)
		}
	})
	t.Run("IdleAndAbsoluteExpiry", func(t *testing.T) {
		idle := n.grantTokens(t, cfg)
		n.clock.Advance(61 * time.Minute)
		if status, body := n.refresh(t, idle.RefreshToken, nil); status != 400 || body["error"] != "invalid_grant" {
			t.Errorf("idle past 1h: %d %v", status, body)
		}
		rt := n.grantTokens(t, cfg).RefreshToken
		for i := 0; i < 3; i++ { // 3 x 55 min = 2h45 < 3h absolute
			n.clock.Advance(55 * time.Minute)
			status, body := n.refresh(t, rt, nil)
			if status != 200 {
				t.Fatalf("refresh %d: %d %v", i, status, body)
			}
			rt = body["refresh_token"].(string)
		}
		n.clock.Advance(20 * time.Minute) // 3h05 after the grant
		if status, body := n.refresh(t, rt, nil); status != 400 || body["error"] != "invalid_grant" {
			t.Errorf("past the absolute lifetime: %d %v", status, body)
		}
	})
	t.Run("RevokingTheRefreshTokenRevokesTheGrant", func(t *testing.T) {
		first := n.grantTokens(t, cfg)
		asWeb := func(r *http.Request) { r.SetBasicAuth("web-app", url.QueryEscape(webSecret)) }
		_, body, _ := postForm(t, n.Issuer+oauth.PathIntrospect, url.Values{"token": {first.RefreshToken}}, asWeb)
		if body["active"] != true || body["client_id"] != "web-app" {
			t.Errorf("introspection of a live refresh token: %v", body)
		}
		_, body, _ = postForm(t, n.Issuer+oauth.PathIntrospect, url.Values{"token": {first.RefreshToken}}, func(r *http.Request) {
			r.SetBasicAuth("svc-basic", url.QueryEscape(basicSecret))
		})
		if len(body) != 1 || body["active"] != false {
			t.Errorf("another client introspecting a refresh token: %v", body)
		}
		postForm(t, n.Issuer+oauth.PathRevoke, url.Values{"token": {first.RefreshToken}}, func(r *http.Request) {
			r.SetBasicAuth("web-app", url.QueryEscape(webSecret))
		})
		if _, err := n.Verifier.Verify(ctx, first.AccessToken); token.ReasonOf(err) != token.ReasonRevoked {
			t.Errorf("access token after revoking its refresh token: %v", err)
		}
		if status, _ := n.refresh(t, first.RefreshToken, nil); status != 400 {
			t.Errorf("revoked refresh token: %d", status)
		}
		if _, body, _ := postForm(t, n.Issuer+oauth.PathIntrospect, url.Values{"token": {first.RefreshToken}}, asWeb); len(body) != 1 || body["active"] != false {
			t.Errorf("introspection of a revoked refresh token: %v", body)
		}
	})
}

func TestDisabledUserStopsRefreshAndCodes(t *testing.T) {
	n := startNode(t)
	alice := n.addUser(t, "alice")
	ctx := context.Background()
	cfg := n.webApp()
	tok := n.grantTokens(t, cfg)
	v := oauth2.GenerateVerifier()
	pending := n.codeFor(t, n.browser(t), cfg, v)
	alice.Disabled = true
	if err := n.Store.UpdateUser(ctx, alice); err != nil {
		t.Fatal(err)
	}
	if status, body := n.refresh(t, tok.RefreshToken, nil); status != 400 || body["error"] != "invalid_grant" {
		t.Errorf("refresh for a disabled user: %d %v", status, body)
	}
	_, err := cfg.Exchange(ctx, pending, oauth2.VerifierOption(v))
	if re := retrieveError(t, err); re.ErrorCode != "invalid_grant" {
		t.Errorf("pending code of a disabled user: %s", re.ErrorCode)
	}
	// The session of a disabled user no longer counts: the login page shows.
	b := n.browser(t)
	p := b.get(cfg.AuthCodeURL("s", oauth2.S256ChallengeOption(oauth2.GenerateVerifier())))
	if p = b.login(p, "alice", userPassword); p.status != http.StatusUnauthorized {
		t.Errorf("login of a disabled user: %d", p.status)
	}
}

func TestRefreshGraceRetryReturnsSamePair(t *testing.T) {
	n := startNodeWith(t, func(c *config.Config) { c.Tokens.RefreshReuseGrace = 10 * time.Second })
	n.addUser(t, "alice")
	first := n.grantTokens(t, n.webApp())
	s1, a := n.refresh(t, first.RefreshToken, nil)
	n.clock.Advance(5 * time.Second)
	s2, b := n.refresh(t, first.RefreshToken, nil)
	if s1 != 200 || s2 != 200 {
		t.Fatalf("statuses %d %d", s1, s2)
	}
	if a["refresh_token"] != b["refresh_token"] || a["access_token"] != b["access_token"] {
		t.Error("the retry within the grace period got a different pair: the family branched")
	}
	n.clock.Advance(10 * time.Second)
	if s3, body := n.refresh(t, first.RefreshToken, nil); s3 != 400 || body["error"] != "invalid_grant" {
		t.Fatalf("after the grace period: %d %v", s3, body)
	}
	if s4, _ := n.refresh(t, a["refresh_token"].(string), nil); s4 != 400 {
		t.Error("the successor survives reuse after the grace period")
	}
}

func TestConsentWithdrawalAndAdminRevocation(t *testing.T) {
	n := startNode(t)
	alice := n.addUser(t, "alice")
	ctx := context.Background()
	cfg := n.webApp()
	b := n.browser(t)
	v := oauth2.GenerateVerifier()
	tok, err := cfg.Exchange(ctx, n.codeFor(t, b, cfg, v), oauth2.VerifierOption(v))
	if err != nil {
		t.Fatal(err)
	}
	acct := b.get(n.Issuer + oauth.PathAccount)
	if !strings.Contains(acct.body, "Web App") {
		t.Fatalf("account page lacks the consent:\n%s", acct.body)
	}
	form := url.Values{"action": {"withdraw"}, "client_id": {"web-app"}}
	for _, m := range hiddenField.FindAllStringSubmatch(acct.body, 1) {
		form.Set(m[1], html.UnescapeString(m[2]))
	}
	req, _ := http.NewRequest(http.MethodPost, n.Issuer+oauth.PathAccount, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if p := b.do(req); p.status != 200 || strings.Contains(p.body, "<td>Web App</td>") {
		t.Fatalf("withdraw: %d\n%s", p.status, p.body)
	}
	if _, err := n.Verifier.Verify(ctx, tok.AccessToken); token.ReasonOf(err) != token.ReasonRevoked {
		t.Errorf("token after withdrawal: %v", err)
	}
	// The next authorization asks for consent again.
	p := b.get(cfg.AuthCodeURL("s", oauth2.S256ChallengeOption(oauth2.GenerateVerifier())))
	if !strings.Contains(p.body, `name="decision"`) {
		t.Errorf("no consent page after withdrawal: %d", p.status)
	}

	// An admin revokes every grant of the user.
	tok2, err := cfg.Exchange(ctx, n.codeFor(t, b, cfg, v), oauth2.VerifierOption(v))
	if err != nil {
		t.Fatal(err)
	}
	req, _ = http.NewRequest(http.MethodPost, n.AdminURL+"/admin/v1/users/"+alice.ID+"/revoke-grants", nil)
	req.Header.Set("Authorization", "Bearer "+n.adminToken(t))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("admin revoke: %d", resp.StatusCode)
	}
	if _, err := n.Verifier.Verify(ctx, tok2.AccessToken); token.ReasonOf(err) != token.ReasonRevoked {
		t.Errorf("token after admin revocation: %v", err)
	}
	if _, err := cfg.TokenSource(ctx, &oauth2.Token{RefreshToken: tok2.RefreshToken}).Token(); err == nil {
		t.Error("refresh works after admin revocation")
	}
	var re *oauth2.RetrieveError
	_, err = cfg.TokenSource(ctx, &oauth2.Token{RefreshToken: tok2.RefreshToken}).Token()
	if !errors.As(err, &re) || re.ErrorCode != "invalid_grant" {
		t.Errorf("refresh after admin revocation: %v", err)
	}
}

// TestLoginLockoutIsPerAddress: failing as alice from one address slows
// that address down, not alice everywhere.
func TestLoginLockoutIsPerAddress(t *testing.T) {
	n := startNode(t)
	n.addUser(t, "alice")
	cfg := n.webApp()
	attacker := n.browser(t)
	attacker.client.Transport = &http.Transport{DialContext: (&net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.2")}}).DialContext}
	var p page
	for i := 0; i < 7; i++ {
		p = attacker.login(attacker.get(cfg.AuthCodeURL("s", oauth2.S256ChallengeOption(oauth2.GenerateVerifier()))), "alice", "not the password")
	}
	if p.status != http.StatusTooManyRequests {
		t.Fatalf("the attacker's address was not slowed down: %d", p.status)
	}
	owner := n.browser(t)
	p = owner.login(owner.get(cfg.AuthCodeURL("s", oauth2.S256ChallengeOption(oauth2.GenerateVerifier()))), "alice", userPassword)
	if p.status == http.StatusTooManyRequests || !strings.Contains(p.body, `name="decision"`) {
		t.Errorf("alice from her own address was locked out: %d", p.status)
	}
}

// forwardedAs sends every request as a trusted proxy naming a new client
// address in X-Forwarded-For, as any host in a trusted proxy network can.
type forwardedAs struct{ next atomic.Int32 }

func (f *forwardedAs) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	k := f.next.Add(1)
	r.Header.Set("X-Forwarded-For", fmt.Sprintf("198.51.%d.%d", k/250, k%250+1))
	return http.DefaultTransport.RoundTrip(r)
}

// TestLoginSlowedPerAccount: failed logins at one account from ever new
// addresses slow that account down everywhere once they pass the
// account-wide budget (20 times the per-address one: 100 failures), and
// nobody else.
func TestLoginSlowedPerAccount(t *testing.T) {
	n := startNodeWith(t, func(c *config.Config) {
		c.Gateway.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}
		c.Gateway.AllowPlainHTTPTokens = true // the named clients are not on loopback
	})
	n.addUser(t, "alice")
	n.addUser(t, "bob")
	cfg := n.webApp()
	authURL := func() string { return cfg.AuthCodeURL("s", oauth2.S256ChallengeOption(oauth2.GenerateVerifier())) }
	spray := n.browser(t)
	spray.client.Transport = &forwardedAs{}
	for i := range 100 {
		name := "alice"
		if i == 0 {
			name = "ALICE" // the account is counted by its lower-case name
		}
		if i == 99 {
			// Alice logs in meanwhile: that does not reset the count, or
			// the guessing would start over.
			owner := n.browser(t)
			if p := owner.login(owner.get(authURL()), "alice", userPassword); !strings.Contains(p.body, `name="decision"`) {
				t.Fatalf("alice's own login after 99 failures: %d", p.status)
			}
		}
		if p := spray.login(spray.get(authURL()), name, "guess "+strconv.Itoa(i)); p.status != http.StatusUnauthorized {
			t.Fatalf("failure %d: status %d, want 401 (each address is new)", i+1, p.status)
		}
	}
	if p := spray.login(spray.get(authURL()), "alice", "guess 100"); p.status != http.StatusTooManyRequests {
		t.Fatalf("after 100 failures from 100 addresses: status %d, want 429", p.status)
	}
	// The account is slowed down for its owner too: the price of not
	// letting its password be guessed from many places.
	owner := n.browser(t)
	if p := owner.login(owner.get(authURL()), "alice", userPassword); p.status != http.StatusTooManyRequests {
		t.Errorf("alice from her own address: status %d, want 429 while the account is slowed down", p.status)
	}
	if p := spray.login(spray.get(authURL()), "bob", userPassword); !strings.Contains(p.body, `name="decision"`) {
		t.Errorf("bob was slowed down by failures at alice: %d", p.status)
	}
}
