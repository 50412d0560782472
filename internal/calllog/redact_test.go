package calllog

import (
	"strings"
	"testing"
)

func TestRedactPath(t *testing.T) {
	jwt := "eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiJ4In0.c2ln"
	gha := "gha_" + strings.Repeat("A", 43)
	for _, tc := range []struct {
		name, path, query, want string
	}{
		{"Plain", "/orders/1", "", "/orders/1"},
		{"PlainQuery", "/orders", "page=2&sort=asc", "/orders?page=2&sort=asc"},
		{"SecretNames", "/cb", "code=abc&state=xyz&access_token=t&client_secret=s&password=p",
			"/cb?code=REDACTED&state=xyz&access_token=REDACTED&client_secret=REDACTED&password=REDACTED"},
		{"CaseAndParts", "/x", "API_KEY=1&X-Amz-Signature=2&refreshToken=3&apikey=4&key=5&sig=6&author=bob",
			"/x?API_KEY=REDACTED&X-Amz-Signature=REDACTED&refreshToken=REDACTED&apikey=REDACTED&key=REDACTED&sig=REDACTED&author=bob"},
		{"EncodedName", "/x", "access%5Ftoken=abc", "/x?access%5Ftoken=REDACTED"},
		{"TokenLookingValue", "/x", "q=" + gha + "&next=" + jwt, "/x?q=REDACTED&next=REDACTED"},
		{"EncodedTokenValue", "/x", "q=gha%5F" + strings.Repeat("B", 43), "/x?q=REDACTED"},
		{"BareToken", "/x", gha, "/x?REDACTED"},
		{"TokenInPath", "/reset/" + gha + "/done", "", "/reset/REDACTED/done"},
		{"JWTInPath", "/t/" + jwt, "", "/t/REDACTED"},
		{"EmptyValueKept", "/x", "token=&a", "/x?token=&a"},
		{"ShortPrefixNotToken", "/gha_x", "v=ghr_1", "/gha_x?v=ghr_1"},
		{"BadEscapes", "/x", "%zz=1&token=%zz", "/x?%zz=1&token=REDACTED"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := RedactPath(tc.path, tc.query); got != tc.want {
				t.Fatalf("RedactPath(%q, %q) = %q, want %q", tc.path, tc.query, got, tc.want)
			}
		})
	}
	if got := RedactPath("/"+strings.Repeat("a", 5000), ""); len(got) != maxPath {
		t.Fatalf("long path kept %d bytes, want %d", len(got), maxPath)
	}
}

func TestCredentialID(t *testing.T) {
	a, b := CredentialID("gha_one"), CredentialID("gha_two")
	if a == b || !strings.HasPrefix(a, "sha256:") || len(a) != 7+16 || strings.Contains(a, "one") {
		t.Fatalf("CredentialID: %q %q", a, b)
	}
	if CredentialID("gha_one") != a {
		t.Fatal("CredentialID is not stable")
	}
}

// FuzzRedactPath: never panics, never lets a token-looking query value or
// path segment through, and keeps a query without secrets as it was.
func FuzzRedactPath(f *testing.F) {
	for _, s := range []string{"token=abc&x=1", "q=gha_AAAAAAAAAAAAAAAA", "%zz=&&=x", "a=eyJ.x.y", ""} {
		f.Add("/orders/1", s)
	}
	f.Add("/gha_AAAAAAAAAAAAAAAAAAA/x", "")
	f.Fuzz(func(t *testing.T, path, query string) {
		got := RedactPath(path, query)
		if len(got) > maxPath {
			t.Fatalf("%d bytes, over the cap", len(got))
		}
		p, q, _ := strings.Cut(got, "?")
		for _, seg := range strings.Split(p, "/") {
			if looksLikeToken(seg) && len(got) < maxPath {
				t.Fatalf("token-looking segment %q kept in %q", seg, got)
			}
		}
		if len(got) < maxPath && query != "" {
			for _, pair := range strings.Split(q, "&") {
				_, v, _ := strings.Cut(pair, "=")
				if looksLikeToken(v) {
					t.Fatalf("token-looking value %q kept in %q", v, got)
				}
			}
		}
	})
}
