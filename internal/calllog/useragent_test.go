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
			want := capString(RedactText(capString(ua, 8<<10)), maxUserAgent)
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
