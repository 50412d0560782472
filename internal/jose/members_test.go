package jose

import (
	"errors"
	"testing"
)

func TestMembers(t *testing.T) {
	ms, err := Members([]byte(` {"jti":"a\u0062","JTI":1 , "n":{"x":[1,2]}} `), "claims")
	if err == nil {
		t.Fatalf("case-folded duplicate accepted: %+v", ms)
	}
	ms, err = Members([]byte(`{"jti":"a\u0062","Htm":1,"n":{"x":[1,2]}}`), "claims")
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) != 3 || ms[0].Name != "jti" || ms[1].Name != "Htm" || string(ms[1].Raw) != "1" || string(ms[2].Raw) != `{"x":[1,2]}` {
		t.Fatalf("members = %q", ms)
	}
	if s, err := String(ms[0].Raw, "jti"); err != nil || s != "ab" {
		t.Fatalf("String = %q, %v", s, err)
	}
	if _, err := String(ms[1].Raw, "htm"); err == nil {
		t.Fatal("String accepted a number")
	}
	for _, bad := range []string{``, `[]`, `"x"`, `{"a":1,"a":2}`, `{"a":1} {}`, "{\"a\":\"\xff\"}"} {
		if _, err := Members([]byte(bad), "claims"); !errors.Is(err, ErrMalformed) {
			t.Errorf("Members(%q) = %v, want ErrMalformed", bad, err)
		}
	}
}
