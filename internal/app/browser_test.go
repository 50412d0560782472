package app

import (
	"bytes"
	"context"
	"image/png"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
	"golang.org/x/oauth2"

	"github.com/gatehouse/gatehouse/internal/oauth"
	"github.com/gatehouse/gatehouse/internal/token"
)

// The browser tests drive a real headless Chromium through the login and
// consent pages with the keyboard only, as a user without a mouse would,
// and check what a screen reader needs (labels, lang, title, real buttons).
// They write screenshots to <repo>/testoutput/browser for a human to look at.

// browserTimeout bounds the whole browser, so a hang fails the test.
const browserTimeout = 60 * time.Second

// chromiumPath finds a Chromium binary. Without one the test is skipped,
// except in CI, which installs it: there a missing browser is a failure,
// not a silently green run.
func chromiumPath(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("no chromium, chromium-browser or google-chrome on PATH; CI must install one")
	}
	t.Skip("no chromium, chromium-browser or google-chrome on PATH; install one to run the browser tests")
	return ""
}

// startBrowser starts one headless Chromium for the test and returns its
// context; each tab made from it gets its own cookie jar (see newTab).
func startBrowser(t *testing.T) context.Context {
	t.Helper()
	exe := chromiumPath(t)
	ctx, cancel := context.WithTimeout(t.Context(), browserTimeout)
	t.Cleanup(cancel)
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(exe),
		chromedp.Headless,
		chromedp.NoSandbox, // the tests may run as root, where the sandbox cannot start
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1024, 768),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		// Keep the browser off the network: every name fails to resolve at
		// once, so the redirect to https://app.example.test fails fast and
		// nothing leaves the machine. The node listens on 127.0.0.1.
		chromedp.Flag("host-resolver-rules", "MAP * ~NOTFOUND, EXCLUDE 127.0.0.1"),
	)
	actx, acancel := chromedp.NewExecAllocator(ctx, opts...)
	t.Cleanup(acancel)
	bctx, bcancel := chromedp.NewContext(actx)
	t.Cleanup(bcancel)
	if err := chromedp.Do(bctx); err != nil {
		t.Fatalf("start chromium %s: %v", exe, err)
	}
	return bctx
}

// tab is one browser tab with a fresh cookie jar, on one node.
type tab struct {
	t   *testing.T
	ctx context.Context
	n   *testNode
}

// newTab opens a tab in a new browser context (like a private window), so
// no session from another subtest leaks in. It closes with the test.
func newTab(t *testing.T, browser context.Context, n *testNode) *tab {
	t.Helper()
	ctx, cancel := chromedp.NewContext(browser, chromedp.WithNewBrowserContext())
	t.Cleanup(cancel)
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("open tab: %v", err)
	}
	return &tab{t: t, ctx: ctx, n: n}
}

// open navigates and returns the HTTP status of the document.
func (b *tab) open(u string) int64 {
	b.t.Helper()
	resp, err := chromedp.Run(b.ctx, chromedp.NavigateResponse(u))
	if err != nil {
		b.t.Fatalf("open %s: %v", u, err)
	}
	return resp.Status
}

// keys types text into whatever has the focus. It must not navigate.
func (b *tab) keys(s string) {
	b.t.Helper()
	if err := chromedp.Do(b.ctx, chromedp.KeyEvent(s)); err != nil {
		b.t.Fatalf("keys: %v", err)
	}
}

// submit presses a key that submits a form and waits for the next page;
// it returns that page's HTTP status.
func (b *tab) submit(key string) int64 {
	b.t.Helper()
	resp, err := chromedp.RunResponse(b.ctx, chromedp.KeyEvent(key))
	if err != nil {
		b.t.Fatalf("submit with %q: %v", key, err)
	}
	return resp.Status
}

// eval runs an expression that only reads the page.
func eval[T any](b *tab, expr string) T {
	b.t.Helper()
	v, err := chromedp.Run(b.ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		b.t.Fatalf("evaluate %s: %v", expr, err)
	}
	return v
}

// focused describes document.activeElement.
type focused struct {
	Tag  string `json:"tag"`
	ID   string `json:"id"`
	Name string `json:"name"`
	Type string `json:"type"`
	Text string `json:"text"`
}

func (f focused) String() string {
	return "<" + f.Tag + " id=" + f.ID + " name=" + f.Name + " type=" + f.Type + "> " + f.Text
}

func (b *tab) focus() focused {
	b.t.Helper()
	return eval[focused](b, `(() => {
		const e = document.activeElement;
		return {tag: e.tagName.toLowerCase(), id: e.id, name: e.getAttribute("name") || "",
			type: e.getAttribute("type") || "", text: e.textContent.trim()};
	})()`)
}

// wantFocus fails the test unless the focused element matches want in its
// non-empty fields. It retries for a moment: autofocus applies at the first
// rendering after the load, which can come after the load event.
func (b *tab) wantFocus(step string, want focused) {
	b.t.Helper()
	matches := func(got focused) bool {
		return got.Tag == want.Tag && (want.ID == "" || got.ID == want.ID) && (want.Name == "" || got.Name == want.Name) &&
			(want.Type == "" || got.Type == want.Type) && (want.Text == "" || got.Text == want.Text)
	}
	deadline := time.Now().Add(2 * time.Second)
	for {
		got := b.focus()
		if matches(got) {
			return
		}
		if time.Now().After(deadline) {
			b.t.Fatalf("%s: focus on %v, want %v", step, got, want)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// checkAccessible checks what assistive technology needs from every page:
// the language, a title, a label for each visible form field, text on each
// button, and one h1.
func (b *tab) checkAccessible(wantTitle string) {
	b.t.Helper()
	type report struct {
		Lang      string   `json:"lang"`
		Title     string   `json:"title"`
		H1        int      `json:"h1"`
		Unlabeled []string `json:"unlabeled"`
		Unnamed   []string `json:"unnamed"`
		Fake      []string `json:"fake"`
	}
	r := eval[report](b, `(() => {
		const visible = e => e.getClientRects().length > 0 && getComputedStyle(e).visibility !== "hidden";
		const desc = e => e.outerHTML.slice(0, 120);
		const r = {lang: document.documentElement.lang, title: document.title,
			h1: document.querySelectorAll("h1").length, unlabeled: [], unnamed: [], fake: []};
		for (const e of document.querySelectorAll("input, select, textarea")) {
			if (e.type === "hidden" || !visible(e)) continue;
			const named = Array.from(e.labels || []).some(l => l.textContent.trim() !== "");
			if (!named) r.unlabeled.push(desc(e));
		}
		for (const e of document.querySelectorAll("button")) {
			if (visible(e) && e.textContent.trim() === "" && !e.getAttribute("aria-label")) r.unnamed.push(desc(e));
		}
		// Controls that only look like buttons cannot be reached or pressed
		// with the keyboard.
		for (const e of document.querySelectorAll("[onclick], [role=button], div.button, span.button")) {
			r.fake.push(desc(e));
		}
		return r;
	})()`)
	if r.Lang != "en" {
		b.t.Errorf("<html lang=%q>, want \"en\"", r.Lang)
	}
	if r.Title != wantTitle {
		b.t.Errorf("<title> = %q, want %q", r.Title, wantTitle)
	}
	if r.H1 != 1 {
		b.t.Errorf("%d h1 elements, want 1", r.H1)
	}
	for _, e := range r.Unlabeled {
		b.t.Errorf("visible field without a <label>: %s", e)
	}
	for _, e := range r.Unnamed {
		b.t.Errorf("button without text: %s", e)
	}
	for _, e := range r.Fake {
		b.t.Errorf("control that is not a real <button>: %s", e)
	}
}

// screenshot writes a full-page PNG to <repo>/testoutput/browser/name.png.
func (b *tab) screenshot(name string) {
	b.t.Helper()
	buf, err := chromedp.Run(b.ctx, chromedp.FullScreenshot(100))
	if err != nil {
		b.t.Fatalf("screenshot %s: %v", name, err)
	}
	img, err := png.Decode(bytes.NewReader(buf))
	if err != nil {
		b.t.Fatalf("screenshot %s is not a PNG: %v", name, err)
	}
	if s := img.Bounds().Size(); s.X <= 200 || s.Y <= 200 {
		b.t.Errorf("screenshot %s is only %dx%d", name, s.X, s.Y)
	}
	dir := screenshotDir(b.t)
	p := filepath.Join(dir, name+".png")
	if err := os.WriteFile(p, buf, 0o644); err != nil {
		b.t.Fatal(err)
	}
	b.t.Logf("screenshot: %s", p)
}

// screenshotDir is <repo root>/testoutput/browser (git-ignored); the root
// is the nearest directory above the working directory with a go.mod.
func screenshotDir(t *testing.T) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			break
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("no go.mod above the working directory")
		}
		dir = parent
	}
	out := filepath.Join(dir, "testoutput", "browser")
	if err := os.MkdirAll(out, 0o755); err != nil {
		t.Fatal(err)
	}
	return out
}

// loginByKeyboard answers the login page: the username field has the
// focus on load, Tab moves to the password, Enter submits.
func (b *tab) loginByKeyboard(username, password string) int64 {
	b.t.Helper()
	b.wantFocus("login page loaded", focused{Tag: "input", ID: "username"})
	b.keys(username)
	b.keys(kb.Tab)
	b.wantFocus("Tab from the username", focused{Tag: "input", ID: "password", Type: "password"})
	b.keys(password)
	return b.submit(kb.Enter)
}

// tabToAllow tabs from the top of the consent page to Allow: the
// "remember" box comes first, then the buttons. It leaves the focus on
// Allow and does not press it.
func (b *tab) tabToAllow() {
	b.t.Helper()
	b.wantFocus("consent page loaded", focused{Tag: "body"})
	b.keys(kb.Tab)
	b.wantFocus("first Tab on the consent page", focused{Tag: "input", Name: "remember", Type: "checkbox"})
	if !eval[bool](b, `document.activeElement.checked`) {
		b.t.Error(`"Remember this decision" is not checked by default`)
	}
	b.keys(kb.Tab)
	b.wantFocus("second Tab on the consent page", focused{Tag: "button", Name: "decision", Text: "Allow"})
}

// pressForCallback presses key on the focused Allow button and returns the
// URL the browser is sent to. The client's host does not resolve, so the
// URL is taken from the request the browser starts, not from a page.
func (b *tab) pressForCallback(key, redirectURI string) *url.URL {
	b.t.Helper()
	ev, err := chromedp.Run(b.ctx, chromedp.WaitEvent(network.RequestWillBeSent,
		func(ev network.EventRequestWillBeSent) bool {
			return strings.HasPrefix(ev.Request.URL, redirectURI+"?")
		},
		chromedp.KeyEvent(key)))
	if err != nil {
		b.t.Fatalf("no redirect to %s after pressing %q: %v", redirectURI, key, err)
	}
	if ev.RedirectResponse == nil || ev.RedirectResponse.Status != 303 {
		b.t.Errorf("reached the client by %+v, want a 303 redirect after the POST", ev.RedirectResponse)
	}
	u, err := url.Parse(ev.Request.URL)
	if err != nil {
		b.t.Fatal(err)
	}
	return u
}

// exchange proves a code is real by redeeming it with the PKCE verifier.
func (b *tab) exchange(cfg *oauth2.Config, code, verifier string) {
	b.t.Helper()
	tok, err := cfg.Exchange(b.ctx, code, oauth2.VerifierOption(verifier))
	if err != nil {
		b.t.Fatalf("exchange the code from the browser: %v", err)
	}
	if tok.AccessToken == "" || tok.RefreshToken == "" {
		b.t.Errorf("token response without access or refresh token: %+v", tok)
	}
}

// checkCallback checks the authorization response of RFC 6749 4.1.2 and
// RFC 9207 and returns the code.
func (b *tab) checkCallback(u *url.URL, state string) string {
	b.t.Helper()
	q := u.Query()
	if q.Get("error") != "" {
		b.t.Fatalf("authorization failed: %s", u)
	}
	if q.Get("code") == "" {
		b.t.Fatalf("no code in %s", u)
	}
	if q.Get("state") != state {
		b.t.Errorf("state = %q, want %q", q.Get("state"), state)
	}
	if q.Get("iss") != b.n.Issuer {
		b.t.Errorf("iss = %q, want %q", q.Get("iss"), b.n.Issuer)
	}
	return q.Get("code")
}

func TestBrowserLoginAndConsent(t *testing.T) {
	browser := startBrowser(t)
	n := startNode(t)
	n.addUser(t, "alice")
	cfg := n.webApp()

	t.Run("KeyboardOnly", func(t *testing.T) {
		b := newTab(t, browser, n)
		state, verifier := "st-"+token.NewID(), oauth2.GenerateVerifier()
		if st := b.open(cfg.AuthCodeURL(state, oauth2.S256ChallengeOption(verifier))); st != 200 {
			t.Fatalf("login page: status %d", st)
		}
		b.checkAccessible("Sign in · Gatehouse")
		if got := eval[string](b, `document.querySelector("main p").textContent`); got != "to continue to Web App" {
			t.Errorf("login page names the client as %q", got)
		}
		b.screenshot("login")
		if st := b.loginByKeyboard("alice", userPassword); st != 200 {
			t.Fatalf("after login: status %d", st)
		}

		b.checkAccessible("Allow access · Gatehouse")
		if got := eval[[]string](b, `Array.from(document.querySelectorAll("ul.scopes li"), e => e.textContent)`); strings.Join(got, " ") != "orders:read orders:write" {
			t.Errorf("consent page lists scopes %q", got)
		}
		if got := eval[[]string](b, `Array.from(document.querySelectorAll("form button"), e => e.tagName + ":" + e.type + ":" + e.textContent)`); strings.Join(got, " ") != "BUTTON:submit:Allow BUTTON:submit:Deny" {
			t.Errorf("consent buttons = %q, want real submit buttons Allow and Deny", got)
		}
		b.tabToAllow()
		b.screenshot("consent") // with the focus ring on Allow
		code := b.checkCallback(b.pressForCallback(kb.Enter, cfg.RedirectURL), state)
		b.exchange(cfg, code, verifier)

		// The consent was remembered: the account page lists it, and its
		// buttons are reachable by Tab.
		if st := b.open(n.Issuer + oauth.PathAccount); st != 200 {
			t.Fatalf("account page: status %d", st)
		}
		b.checkAccessible("Your authorizations · Gatehouse")
		if got := eval[string](b, `document.querySelector("tbody").innerText`); !strings.Contains(got, "Web App") || !strings.Contains(got, "orders:write") {
			t.Errorf("account page rows = %q, want Web App with orders:write", got)
		}
		b.keys(kb.Tab)
		b.wantFocus("first Tab on the account page", focused{Tag: "button", Text: "Withdraw"})
		b.keys(kb.Tab)
		b.wantFocus("second Tab on the account page", focused{Tag: "button", Text: "Sign out"})
		b.screenshot("account")
	})

	t.Run("WrongPassword", func(t *testing.T) {
		b := newTab(t, browser, n)
		if st := b.open(cfg.AuthCodeURL("st-"+token.NewID(), oauth2.S256ChallengeOption(oauth2.GenerateVerifier()))); st != 200 {
			t.Fatalf("login page: status %d", st)
		}
		if st := b.loginByKeyboard("alice", "not the password"); st != 401 {
			t.Errorf("wrong password: status %d, want 401", st)
		}
		b.checkAccessible("Sign in · Gatehouse")
		if got := eval[string](b, `document.querySelector("[role=alert]").textContent`); got != "Wrong username or password." {
			t.Errorf("alert = %q", got)
		}
		if got := eval[string](b, `document.getElementById("username").getAttribute("aria-describedby")`); got != "login-error" {
			t.Errorf("username aria-describedby = %q, want the error's id", got)
		}
		if got := eval[string](b, `document.getElementById("username").value`); got != "alice" {
			t.Errorf("username field kept %q, want alice", got)
		}
		if got := eval[string](b, `document.getElementById("password").value`); got != "" {
			t.Error("the password field was filled in again by the server")
		}
		// The name is kept, so the keyboard user lands on the password.
		b.wantFocus("after a wrong password", focused{Tag: "input", ID: "password", Type: "password"})
		b.screenshot("login-error")
	})

	t.Run("ScriptsDisabled", func(t *testing.T) {
		b := newTab(t, browser, n)
		if _, err := chromedp.Call(b.ctx, emulation.SetScriptExecutionDisabled, emulation.SetScriptExecutionDisabledParams{Value: true}); err != nil {
			t.Fatal(err)
		}
		// The test's own Evaluate still works; prove that page scripts do not.
		b.open(`data:text/html,<title>off</title><script>document.title = "on"</script>`)
		if title, err := chromedp.Run(b.ctx, chromedp.Title()); err != nil || title != "off" {
			t.Fatalf("page scripts still run (title %q, %v)", title, err)
		}
		// bob has not consented yet, so the consent page comes.
		n.addUser(t, "bob")
		state, verifier := "st-"+token.NewID(), oauth2.GenerateVerifier()
		if st := b.open(cfg.AuthCodeURL(state, oauth2.S256ChallengeOption(verifier))); st != 200 {
			t.Fatalf("login page: status %d", st)
		}
		if st := b.loginByKeyboard("bob", userPassword); st != 200 {
			t.Fatalf("after login: status %d", st)
		}
		b.tabToAllow()
		// Space presses a button as Enter does.
		code := b.checkCallback(b.pressForCallback(" ", cfg.RedirectURL), state)
		b.exchange(cfg, code, verifier)
	})

	t.Run("ErrorPage", func(t *testing.T) {
		b := newTab(t, browser, n)
		u := cfg.AuthCodeURL("st-"+token.NewID(), oauth2.S256ChallengeOption(oauth2.GenerateVerifier()),
			oauth2.SetAuthURLParam("redirect_uri", "https://evil.example.test/callback"))
		if st := b.open(u); st != 400 {
			t.Errorf("unregistered redirect_uri: status %d, want 400", st)
		}
		if loc := eval[string](b, `location.origin`); loc != n.Issuer {
			t.Errorf("browser went to %s, want to stay on %s", loc, n.Issuer)
		}
		b.checkAccessible("Error · Gatehouse")
		if got := eval[string](b, `document.querySelector("[role=alert]").textContent`); !strings.Contains(got, "redirect_uri") {
			t.Errorf("error page says %q, want it to name redirect_uri", got)
		}
		b.screenshot("error")
	})
}
