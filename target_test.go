package gatehouse

import (
	"strings"
	"testing"
)

func TestRedactedTarget(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"http://127.0.0.1:9000/base", "http://127.0.0.1:9000/base"},
		{"http://svc:S3cretPass@10.0.0.1:9000", "http://REDACTED@10.0.0.1:9000"},
		{"https://svc@h/x?key=S3cretPass#frag", "https://REDACTED@h/x?REDACTED"},
		{"http://u:S3cret Pass@h", "(not a URL)"},
		{"mailto:S3cretPass", "(not a URL)"},
	} {
		got := RedactedTarget(tc.in)
		if got != tc.want || strings.Contains(got, "S3cret") {
			t.Errorf("RedactedTarget(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
