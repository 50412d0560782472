package dpop

import (
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	gojose "github.com/go-jose/go-jose/v4"
)

// TestHeaderCacheNeverSkipsTheSignature: once a client's header is cached,
// a proof with that header still needs its own valid signature, and a
// different key's header is its own entry.
func TestHeaderCacheNeverSkipsTheSignature(t *testing.T) {
	k := newKey(t, gojose.ES256)
	other := newKey(t, gojose.ES256)
	v := &Verifier{Now: func() time.Time { return testNow }}
	first := makeProof(t, k, proofOpts{claims: map[string]any{"jti": "a"}})
	p, err := v.Verify(first, "POST", testHTU, "")
	if err != nil {
		t.Fatal(err)
	}
	if n := len(v.headers.m); n != 1 {
		t.Fatalf("header cache holds %d entries after one proof, want 1", n)
	}
	// Same header (same key), claims signed by another key.
	forged := makeProof(t, k, proofOpts{claims: map[string]any{"jti": "b"}, signedBy: &other})
	if strings.Split(forged, ".")[0] != strings.Split(first, ".")[0] {
		t.Fatal("the forged proof does not reuse the cached header; this test proves nothing")
	}
	var e *Error
	if _, err := v.Verify(forged, "POST", testHTU, ""); !errors.As(err, &e) || e.Code != CodeInvalidProof {
		t.Fatalf("forged proof with a cached header: %v", err)
	}
	// A good proof on the cached path still yields the right thumbprint.
	second, err := v.Verify(makeProof(t, k, proofOpts{claims: map[string]any{"jti": "c"}}), "POST", testHTU, "")
	if err != nil || second.Thumbprint != p.Thumbprint {
		t.Fatalf("cached path: %+v, %v; want thumbprint %s", second, err, p.Thumbprint)
	}
	q, err := v.Verify(makeProof(t, other, proofOpts{claims: map[string]any{"jti": "d"}}), "POST", testHTU, "")
	if err != nil || q.Thumbprint == p.Thumbprint {
		t.Fatalf("another key: %+v, %v", q, err)
	}
}

func TestHeaderCacheBounded(t *testing.T) {
	c := &headerCache{m: map[string]*header{}}
	for i := range headerCacheMax + 100 {
		c.put("h"+strconv.Itoa(i), &header{})
	}
	if n := len(c.m); n > headerCacheMax {
		t.Fatalf("cache holds %d entries, more than %d", n, headerCacheMax)
	}
	long := strings.Repeat("a", headerCacheMaxLen+1)
	c.put(long, &header{})
	if c.get(long) != nil {
		t.Fatal("an over-long header was cached")
	}
}

func TestVerifyAny(t *testing.T) {
	k := newKey(t, gojose.EdDSA)
	v := &Verifier{Now: func() time.Time { return testNow }}
	other := "https://other.example.com/v1/orders"
	for i, tc := range []struct {
		htus []string
		ok   bool
	}{
		{[]string{other, testHTU}, true},
		{[]string{testHTU + "?x=1"}, true}, // the query is not part of htu
		{[]string{other}, false},
		{[]string{"not a uri", other}, false},
		{[]string{"not a uri"}, false},
		{nil, false},
	} {
		_, err := v.VerifyAny(makeProof(t, k, proofOpts{claims: map[string]any{"jti": "any-" + strconv.Itoa(i)}}), "POST", tc.htus, "")
		if (err == nil) != tc.ok {
			t.Errorf("VerifyAny(%q) = %v, want ok %v", tc.htus, err, tc.ok)
		}
	}
}
