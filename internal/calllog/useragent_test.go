package calllog

import (
	"fmt"
	"strings"
	"testing"
)

// TestUserAgentCache: cached or not, a User-Agent is logged as RedactText
// and the cap make it, and the cache stays bounded.
func TestUserAgentCache(t *testing.T) {
	var u userAgents
	uas := []string{
		"",
		"curl/8.5.0",
		"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0.0.0 Safari/537.36",
		"sdk/1.0 (Bearer eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln)",
		"tool token=gha_0123456789abcdefghijklmnopqrstuvwxyzABCD",
		strings.Repeat("long agent ", 100), // past the cache's size cap
	}
	for round := range 3 {
		for _, ua := range uas {
			want := capString(RedactText(cutUserAgent(ua)), maxUserAgent)
			if got := u.redact(ua); got != want {
				t.Errorf("round %d: redact(%.40q) = %.60q, want %.60q", round, ua, got, want)
			}
			if strings.Contains(u.redact(ua), "eyJzdWIi") || strings.Contains(u.redact(ua), "gha_0123") {
				t.Errorf("round %d: a token survived in %q", round, u.redact(ua))
			}
		}
	}
	for i := range 3 * maxUserAgents {
		u.redact(fmt.Sprintf("agent %d (x)", i))
	}
	if n := len(u.m); n > maxUserAgents {
		t.Errorf("cache holds %d values, more than %d", n, maxUserAgents)
	}
}

func BenchmarkRedactUserAgent(b *testing.B) {
	for _, ua := range []string{"curl/8.5.0", "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0.0.0 Safari/537.36"} {
		b.Run("Uncached", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				_ = RedactText(ua)
			}
		})
		b.Run("Cached", func(b *testing.B) {
			var u userAgents
			b.ReportAllocs()
			for b.Loop() {
				_ = u.redact(ua)
			}
		})
	}
}

// TestCutUserAgent: a long User-Agent is cut at a separator before it is
// redacted, never inside a token, whose first part could escape the token
// tests: a JWT's first part is not JWT-like. The filler is long tokens,
// which redaction shrinks, so that what follows them is within the logged
// 256 bytes.
func TestCutUserAgent(t *testing.T) {
	filler := strings.Repeat("gha_"+strings.Repeat("f", 100)+" ", 9) // 945 bytes, 81 once redacted
	jwt := "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl"
	for _, tc := range []struct {
		name, ua string
	}{
		{"JWTAcrossTheCut", filler + strings.Repeat("a", 60) + " " + jwt},
		{"JWTAcrossTheCutAfterASeparator", filler + strings.Repeat("a ", 30) + "(" + jwt + ")"},
		{"OneLongRun", strings.Repeat("x", maxRedactedUserAgent-5) + jwt},
		{"Short", "agent (" + jwt + ")"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cut := cutUserAgent(tc.ua)
			if len(cut) > maxRedactedUserAgent || !strings.HasPrefix(tc.ua, cut) && cut != Redacted {
				t.Fatalf("cut %d bytes: %.60q", len(cut), cut)
			}
			var u userAgents
			if got := u.redact(tc.ua); strings.Contains(got, "eyJhbGci") || strings.Contains(got, "ffff") {
				t.Errorf("logged %q", got)
			}
		})
	}
}

// BenchmarkRedactLongUserAgent: User-Agents a client can choose to make
// logging its request dear: 8 KiB of what the redaction looks at most
// closely (token prefixes, JWT-like runs, "bearer", escapes to decode).
func BenchmarkRedactLongUserAgent(b *testing.B) {
	for _, bc := range []struct{ name, unit string }{
		{"TokenPrefixes", "gha_x "},
		{"JWTLike", "eyJa.eyJb "},
		{"Bearer", "bearer "},
		{"Escapes", "%2525"},
		{"Plain", "Mozilla/5.0 "},
	} {
		ua := strings.Repeat(bc.unit, 8<<10/len(bc.unit))
		b.Run(bc.name, func(b *testing.B) {
			var u userAgents
			b.ReportAllocs()
			for b.Loop() {
				_ = u.redact(ua)
			}
		})
	}
}
