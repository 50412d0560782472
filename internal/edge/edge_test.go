package edge

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/gatehouse/gatehouse"
)

func TestExtractToken(t *testing.T) {
	cases := []struct {
		name    string
		headers []string
		tok     string
		dpop    bool
		present bool
		bad     bool
	}{
		{"None", nil, "", false, false, false},
		{"Plain", []string{"Bearer abc.def-ghi_jkl~mno+p/q=="}, "abc.def-ghi_jkl~mno+p/q==", false, true, false},
		{"SchemeCaseInsensitive", []string{"bEaReR tok"}, "tok", false, true, false},
		{"TwoHeaders", []string{"Bearer a", "Bearer b"}, "", false, true, true},
		{"Basic", []string{"Basic dXNlcjpwYXNz"}, "", false, true, true},
		{"DPoPScheme", []string{"DPoP tok"}, "tok", true, true, false},
		{"DPoPSchemeCaseInsensitive", []string{"dpop tok"}, "tok", true, true, false},
		{"DPoPNoToken", []string{"DPoP "}, "", false, true, true},
		{"DPoPAndBearer", []string{"DPoP a", "Bearer a"}, "", false, true, true},
		{"NoToken", []string{"Bearer "}, "", false, true, true},
		{"BadChars", []string{"Bearer a b"}, "", false, true, true},
		{"EqualsInside", []string{"Bearer a=b"}, "", false, true, true},
		{"Huge", []string{"Bearer " + strings.Repeat("a", 9000)}, "", false, true, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/", nil)
			for _, h := range tc.headers {
				r.Header.Add("Authorization", h)
			}
			tok, isDPoP, present, msg := extractToken(r)
			if tok != tc.tok || isDPoP != tc.dpop || present != tc.present || (msg != "") != tc.bad {
				t.Errorf("got %q %v %v %q", tok, isDPoP, present, msg)
			}
		})
	}
}

func TestHasScopes(t *testing.T) {
	c := &gatehouse.AccessClaims{Scopes: []string{"a", "b"}}
	cases := []struct {
		name  string
		route gatehouse.Route
		want  bool
	}{
		{"NoneRequired", gatehouse.Route{}, true},
		{"AllPresent", gatehouse.Route{Scopes: []string{"a", "b"}}, true},
		{"AllMissingOne", gatehouse.Route{Scopes: []string{"a", "c"}}, false},
		{"AnyOne", gatehouse.Route{Scopes: []string{"c", "b"}, ScopeMode: "any"}, true},
		{"AnyNone", gatehouse.Route{Scopes: []string{"c", "d"}, ScopeMode: "any"}, false},
	}
	for _, tc := range cases {
		if got := hasScopes(c, &tc.route); got != tc.want {
			t.Errorf("%s: %v", tc.name, got)
		}
	}
}

func TestBearerChallenge(t *testing.T) {
	if got := bearerChallenge("", "", ""); got != `Bearer realm="gatehouse"` {
		t.Errorf("no error: %s", got)
	}
	if got := bearerChallenge("insufficient_scope", "", "a b"); got != `Bearer realm="gatehouse", error="insufficient_scope", scope="a b"` {
		t.Errorf("scope: %s", got)
	}
}

func FuzzExtractToken(f *testing.F) {
	for _, s := range []string{"Bearer abc", "bearer a==", "DPoP x", "Bearer a b", "Bearer"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, h string) {
		r := httptest.NewRequest("GET", "/", nil)
		r.Header.Set("Authorization", h)
		tok, _, present, msg := extractToken(r)
		if tok != "" && (!present || msg != "" || !isToken68(tok) || len(h) > maxAuthorization) {
			t.Fatalf("accepted %q from %q", tok, h)
		}
	})
}

// FuzzQueryHasAccessToken compares the check that skips parsing queries
// without access_token with url.URL.Query().Has.
func FuzzQueryHasAccessToken(f *testing.F) {
	for _, s := range []string{"", "page=2", "access_token=x", "a=1&access_token", "access%5Ftoken=x", "%61ccess_token=1",
		"access_token%3D=1", "access+token=1", "x=access_token", "a;access_token=1", "access_token;a=1", "%zz&access_token=1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		want := (&url.URL{RawQuery: raw}).Query().Has("access_token")
		if got := queryHasAccessToken(raw); got != want {
			t.Fatalf("queryHasAccessToken(%q) = %v, want %v", raw, got, want)
		}
	})
}

// FuzzIsToken68 compares isToken68 with the grammar read byte by byte.
func FuzzIsToken68(f *testing.F) {
	for _, s := range []string{"abc==", "eyJhbGciOiJFZERTQSJ9.eyJ.c2ln", "abcdefgh=", "abcdefghi j", "========"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		i := 0
		for i < len(s) && (s[i] >= 'a' && s[i] <= 'z' || s[i] >= 'A' && s[i] <= 'Z' || s[i] >= '0' && s[i] <= '9' || strings.IndexByte("-._~+/", s[i]) >= 0) {
			i++
		}
		want := i > 0 && strings.Trim(s[i:], "=") == ""
		if got := isToken68(s); got != want {
			t.Fatalf("isToken68(%q) = %v, want %v", s, got, want)
		}
	})
}

// TestIsToken68 checks the table against RFC 7235's grammar, byte by byte,
// and the padding rules.
func TestIsToken68(t *testing.T) {
	ref := func(c byte) bool {
		return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("-._~+/", c) >= 0
	}
	for c := 0; c < 256; c++ {
		if got := isToken68("a" + string([]byte{byte(c)})); got != (ref(byte(c)) || c == '=') {
			t.Errorf("isToken68(%q) = %v", "a"+string([]byte{byte(c)}), got)
		}
		if got := isToken68(string([]byte{byte(c)})); got != ref(byte(c)) {
			t.Errorf("isToken68(%q) = %v", []byte{byte(c)}, got)
		}
	}
	for _, tc := range []struct {
		in   string
		want bool
	}{
		{"", false}, {"=", false}, {"abc==", true}, {"abc=d", false}, {"a b", false}, {"eyJ.eyJ.sig_-", true},
	} {
		if got := isToken68(tc.in); got != tc.want {
			t.Errorf("isToken68(%q) = %v, want %v", tc.in, got, tc.want)
		}
	}
	// Long values are checked eight bytes at a time: a bad byte or padding
	// is found wherever it is, and padding may end any length.
	long := strings.Repeat("eyJhbGci.Oi-_~+/", 3) // 48 bytes
	for i := range len(long) {
		for _, c := range []byte{' ', '=', 0x80, '"'} {
			in := long[:i] + string([]byte{c}) + long[i+1:]
			want := c == '=' && i == len(long)-1 // padding at the end only
			if got := isToken68(in); got != want {
				t.Errorf("isToken68(%q) = %v, want %v", in, got, want)
			}
		}
		if in := long[:i] + strings.Repeat("=", len(long)-i); isToken68(in) != (i > 0) {
			t.Errorf("isToken68(%q) = %v", in, !(i > 0))
		}
	}
	if !isToken68(long) {
		t.Errorf("isToken68(%q) = false", long)
	}
}

// TestIdentityHeadersCanonical: Upstream.Headers deletes and sets the
// identity headers by plain map access, which finds a header only under
// its canonical name.
func TestIdentityHeadersCanonical(t *testing.T) {
	for _, h := range identityHeaders {
		if c := http.CanonicalHeaderKey(h); c != h {
			t.Errorf("%q is not canonical (%q)", h, c)
		}
	}
}
