package oauth

import (
	"strings"
	"testing"
	"time"
)

func TestParseForm(t *testing.T) {
	cases := []struct {
		name    string
		body    string
		multi   []string
		wantErr bool
	}{
		{"Simple", "grant_type=client_credentials&scope=a+b", nil, false},
		{"RepeatedRefused", "grant_type=a&grant_type=b", nil, true},
		{"RepeatedResourceAllowed", "resource=a&resource=b", []string{"resource"}, false},
		{"BadEscape", "scope=%zz", nil, true},
		{"Semicolon", "a=1;b=2", nil, true},
		{"Empty", "", nil, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parseForm(tc.body, tc.multi...)
			if (err != nil) != tc.wantErr {
				t.Errorf("err = %v, wantErr %v", err, tc.wantErr)
			}
			if err != nil && err.Code != "invalid_request" {
				t.Errorf("code = %s", err.Code)
			}
		})
	}
}

func TestParseScope(t *testing.T) {
	cases := []struct {
		raw  string
		want string
		err  bool
	}{
		{"a b", "a b", false},
		{"a a b", "a b", false},
		{"", "", false},
		{"a  b", "", true},
		{" a", "", true},
		{`a"b`, "", true},
		{`a\b`, "", true},
		{"a\tb", "", true},
		{"é", "", true},
		{strings.Repeat("a", 3000), "", true},
	}
	for _, tc := range cases {
		got, err := parseScope(tc.raw)
		if (err != nil) != tc.err || (err == nil && strings.Join(got, " ") != tc.want) {
			t.Errorf("parseScope(%q) = %v, %v", tc.raw, got, err)
		}
		if err != nil && err.Code != "invalid_scope" {
			t.Errorf("parseScope(%q) code %s", tc.raw, err.Code)
		}
	}
}

func FuzzParseForm(f *testing.F) {
	for _, s := range []string{"grant_type=client_credentials&resource=https%3A%2F%2Fa&scope=a+b",
		"client_assertion=a.b.c&client_assertion_type=x", "a=1&a=2", "%", "=&=&", "scope=%00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		fm, err := parseForm(body, "resource")
		if err != nil {
			if err.Code != "invalid_request" || err.Status != 400 {
				t.Fatalf("unexpected error %+v", err)
			}
			return
		}
		for k, v := range fm.values {
			if len(v) > 1 && k != "resource" {
				t.Fatalf("repeated %q accepted", k)
			}
		}
		if sc := fm.get("scope"); sc != "" {
			_, _ = parseScope(sc)
		}
	})
}

func TestFailureLimiter(t *testing.T) {
	l := &FailureLimiter{Free: 2, Base: time.Second, Max: 8 * time.Second, Window: time.Minute, MaxKeys: 20}
	now := time.Unix(1000, 0)
	for i := 0; i < 2; i++ {
		if w := l.Reserve("k", now, 1); w != 0 {
			t.Fatalf("free attempt %d waits %v", i, w)
		}
		l.Fail("k", now)
	}
	if w := l.Reserve("k", now, 1); w != time.Second {
		t.Errorf("after 2 failures wait = %v, want 1s", w)
	}
	l.Fail("k", now)
	if w := l.Reserve("k", now, 1); w != 2*time.Second {
		t.Errorf("after 3 failures wait = %v, want 2s", w)
	}
	for i := 0; i < 20; i++ {
		l.Fail("k", now)
	}
	if w := l.Reserve("k", now, 1); w != 8*time.Second {
		t.Errorf("capped wait = %v, want 8s", w)
	}
	if w := l.Reserve("k", now.Add(9*time.Second), 1); w != 0 {
		t.Errorf("after the delay wait = %v", w)
	}
	if w := l.Reserve("other", now, 1); w != 0 {
		t.Errorf("unrelated key waits %v", w)
	}
	l.Succeed("k")
	if w := l.Reserve("k", now, 1); w != 0 {
		t.Errorf("after success wait = %v", w)
	}
	for i := 0; i < 1000; i++ {
		l.Fail(strings.Repeat("x", i%50)+string(rune('a'+i%26))+time.Duration(i).String(), now)
	}
	l.mu.Lock()
	n := len(l.entries)
	l.mu.Unlock()
	if n > 20 {
		t.Errorf("limiter holds %d keys, bound is 20", n)
	}
}
