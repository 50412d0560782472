package password

import (
	"strings"
	"testing"
)

var fast = Params{Memory: 64, Time: 1, Threads: 1}

func TestHashVerify(t *testing.T) {
	h, err := Hash("correct horse battery", fast)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(h, "$argon2id$v=19$m=64,t=1,p=1$") {
		t.Errorf("hash %q is not argon2id PHC", h)
	}
	if ok, err := Verify(h, "correct horse battery"); !ok || err != nil {
		t.Errorf("right password: %v %v", ok, err)
	}
	if ok, _ := Verify(h, "correct horse batterY"); ok {
		t.Error("wrong password accepted")
	}
	h2, _ := Hash("correct horse battery", fast)
	if h == h2 {
		t.Error("two hashes of one password are equal: salt not random")
	}
}

func TestVerifyRefusesMalformed(t *testing.T) {
	for _, h := range []string{
		"", "plain", "$argon2i$v=19$m=64,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
		"$argon2id$v=18$m=64,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
		"$argon2id$v=19$m=99999999,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
		"$argon2id$v=19$m=64,t=99,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
		"$argon2id$v=19$m=64,t=1,p=1$!!$aGFzaGhhc2hoYXNoaGFzaA",
		"$argon2id$v=19$m=64,t=1,p=1$c2FsdHNhbHQ$",
	} {
		if _, err := Verify(h, "x"); err == nil {
			t.Errorf("Verify(%q) accepted a malformed hash", h)
		}
	}
}

func TestCheck(t *testing.T) {
	for pw, ok := range map[string]bool{"short": false, "twelve chars": true, strings.Repeat("a", 2000): false, "\xff\xfe invalid utf8": false} {
		if err := Check(pw); (err == nil) != ok {
			t.Errorf("Check(%q) = %v", pw, err)
		}
	}
}

func FuzzVerify(f *testing.F) {
	h, _ := Hash("pw", fast)
	f.Add(h, "pw")
	f.Add("$argon2id$v=19$m=8,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA", "")
	f.Fuzz(func(t *testing.T, hash, pw string) {
		if p, _, _, err := parse(hash); err == nil && p.Memory > 4096 {
			return // valid but slow: not what this fuzzer is for
		}
		_, _ = Verify(hash, pw)
	})
}

func BenchmarkHashDefault(b *testing.B) {
	for b.Loop() {
		if _, err := Hash("correct horse battery staple", Default); err != nil {
			b.Fatal(err)
		}
	}
}
