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
		// Tokens anywhere in a value, under one or more layers of
		// percent-encoding, and behind "Bearer".
		{"BearerJWT", "/b/x", "q=Bearer%20" + jwt, "/b/x?q=REDACTED"},
		{"BearerOpaque", "/b/x", "q=bearer+abc123&r=1", "/b/x?q=REDACTED&r=1"},
		{"NestedURLWithJWT", "/b/x", "next=%2Fcb%3Faccess_token%3D" + jwt, "/b/x?next=REDACTED"},
		{"NestedURLWithOpaque", "/b/x", "next=%2Fcb%3Fcode%3Dabc%26state%3Dx&y=2", "/b/x?next=REDACTED&y=2"},
		{"DoubleEncoded", "/b/x", "q=gha%255F" + strings.Repeat("C", 43), "/b/x?q=REDACTED"},
		{"DoubleEncodedName", "/b/x", "access%255Ftoken=abc", "/b/x?access%255Ftoken=REDACTED"},
		{"TokenMidValue", "/b/x", "q=see:" + gha + ",ok", "/b/x?q=REDACTED"},
		{"JWTMidValue", "/b/x", "q=x" + jwt + "y", "/b/x?q=REDACTED"},
		{"OtherPrefixes", "/b/x", "a=ghm_" + strings.Repeat("D", 20) + "&b=ghc_" + strings.Repeat("E", 20), "/b/x?a=REDACTED&b=REDACTED"},
		{"ShortSecretNames", "/b/x", "cs=ghs_abc&pw=hunter2&p=s3cret&pass=x&pwd=y&sig=z&secret=w&token=v&key=u&page=2",
			"/b/x?cs=REDACTED&pw=REDACTED&p=REDACTED&pass=REDACTED&pwd=REDACTED&sig=REDACTED&secret=REDACTED&token=REDACTED&key=REDACTED&page=2"},
		{"TokenInName", "/b/x", gha + "=1&a=2", "/b/x?REDACTED&a=2"},
		{"TrailingAmpersand", "/b/x", "a=1&token=t&", "/b/x?a=1&token=REDACTED&"},
		// Path segments: matrix parameters, tokens mid-segment, Bearer.
		{"MatrixToken", "/b/x;token=SEMITOKEN123/y", "", "/b/REDACTED/y"},
		{"MatrixSecondParam", "/b/x;v=1;pw=abc", "", "/b/REDACTED"},
		{"MatrixPlain", "/b/x;v=1", "", "/b/x;v=1"},
		{"TokenMidSegment", "/b/key-" + gha + ".json", "", "/b/REDACTED"},
		{"EncodedSegment", "/b/gha%5F" + strings.Repeat("F", 43), "", "/b/REDACTED"},
		{"BearerSegment", "/b/Bearer " + jwt, "", "/b/REDACTED"},
		// The path as sent (escaped): control characters stay escaped,
		// tokens under escapes are still found.
		{"EscapedControls", "/v1/%1b%5d0;PWNED%07%1b%5b31mRED%0d%0aFAKE-LINE", "", "/v1/%1b%5d0;PWNED%07%1b%5b31mRED%0d%0aFAKE-LINE"},
		{"EscapedTokenSegment", "/b/gh%61_" + strings.Repeat("G", 43) + "/x", "", "/b/REDACTED/x"},
		{"EscapedBearerSegment", "/b/Bearer%20" + jwt, "", "/b/REDACTED"},
		{"EscapedSlashToken", "/b/a%2F" + gha, "", "/b/REDACTED"},
		{"MoreSecretNames", "/b/x", "passphrase=a&HMAC=b&auth_code=c&authx=d", "/b/x?passphrase=REDACTED&HMAC=REDACTED&auth_code=REDACTED&authx=d"},
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

func TestRedactText(t *testing.T) {
	jwt := "eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiJ4In0.c2ln"
	gha := "gha_" + strings.Repeat("A", 43)
	for _, tc := range []struct{ name, in, want string }{
		{"Plain", "curl/8.5.0", "curl/8.5.0"},
		{"Browser", "Mozilla/5.0 (X11; Linux x86_64) Gecko/20100101 Firefox/128.0", "Mozilla/5.0 (X11; Linux x86_64) Gecko/20100101 Firefox/128.0"},
		{"JWT", "app/1 " + jwt, "app/1 REDACTED"},
		{"JWTUnsigned", "app/1 eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0. x", "app/1 REDACTED x"},
		{"GatehouseTokens", "x " + gha + " ghr_" + strings.Repeat("b", 20) + ";y", "x REDACTED REDACTED;y"},
		{"ShortPrefixKept", "ghk_1 v2", "ghk_1 v2"},
		{"Bearer", "tool (Bearer s3cretvalue) v1", "tool (Bearer REDACTED) v1"},
		{"Encoded", "x gh%61_" + strings.Repeat("C", 20), Redacted},
		{"EncodedBearer", "x Bearer%20s3cret", Redacted},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := RedactText(tc.in); got != tc.want {
				t.Fatalf("RedactText(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
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

// FuzzRedactPath: never panics, never lets a token-looking query value,
// a secret-named one or a path segment holding a token through, and keeps
// a query without secrets as it was.
func FuzzRedactPath(f *testing.F) {
	jwt := "eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiJ4In0.c2ln"
	for _, s := range []string{"token=abc&x=1", "q=gha_AAAAAAAAAAAAAAAA", "%zz=&&=x", "a=eyJ.x.y", "",
		"q=Bearer%20" + jwt, "next=%2Fcb%3Faccess_token%3D" + jwt, "cs=ghs_abc", "pw=x&p=y",
		"q=gha%255FAAAAAAAAAAAAA", "a=1&"} {
		f.Add("/orders/1", s)
	}
	f.Add("/gha_AAAAAAAAAAAAAAAAAAA/x", "")
	f.Add("/b/x;token=SEMITOKEN123", "")
	f.Add("/b/x"+jwt+"y", "")
	f.Fuzz(func(t *testing.T, path, query string) {
		got := RedactPath(path, query)
		if len(got) > maxPath {
			t.Fatalf("%d bytes, over the cap", len(got))
		}
		if len(got) == maxPath {
			return // cut: the checks below would see partial pairs
		}
		// The path may hold '?' itself: split where the query starts.
		p := RedactPath(path, "")
		if !strings.HasPrefix(got, p) {
			t.Fatalf("%q does not start with its path %q", got, p)
		}
		q := strings.TrimPrefix(got[len(p):], "?")
		for _, seg := range strings.Split(p, "/") {
			if secretText(seg) {
				t.Fatalf("segment %q kept in %q", seg, got)
			}
		}
		if query == "" {
			return
		}
		for _, pair := range strings.Split(q, "&") {
			name, v, _ := strings.Cut(pair, "=")
			if anyDecoded(plus(name), containsToken) || v != Redacted && secretParam(name, v) {
				t.Fatalf("pair %q kept in %q", pair, got)
			}
		}
		if !strings.Contains(got, Redacted) && q != query {
			t.Fatalf("query %q changed to %q with nothing redacted", query, q)
		}
	})
}

// FuzzRedactText: never panics and never keeps a token or JWT-looking run,
// as sent or percent-decoded.
func FuzzRedactText(f *testing.F) {
	for _, s := range []string{"curl/8", "a eyJhbGciOiJub25lIn0.eyJ4IjoxfQ.c2ln b", "gha_AAAAAAAAAAAA", "Bearer x",
		"gh%61_AAAAAAAAAAAA", "bearer+", "eyJ.eyJ."} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got := RedactText(s)
		if anyDecoded(got, hasTokenRun) {
			t.Fatalf("RedactText(%q) = %q keeps a token", s, got)
		}
		if !mayHoldSecret(s) && !strings.Contains(strings.ToLower(s), "bearer") && got != s {
			t.Fatalf("RedactText(%q) = %q changed plain text", s, got)
		}
	})
}
