package sqlite

import "testing"

// FuzzCursor: a cursor comes from an admin API query string; decoding any
// string must not panic, and every key survives a round trip.
func FuzzCursor(f *testing.F) {
	for _, s := range []string{"", "orders-v2", "MTpvcmRlcnM", "!!", "1:", "\x00\xff"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if key, err := decodeCursor(encodeCursor(s)); err != nil || key != s {
			t.Fatalf("round trip of %q: %q, %v", s, key, err)
		}
		if key, err := decodeCursor(s); err == nil && encodeCursor(key) != s {
			t.Fatalf("%q decoded to %q, which encodes differently", s, key)
		}
	})
}
