package sqlite

import (
	"fmt"
	"testing"

	"github.com/gatehouse/gatehouse"
)

// TestKeyFilter: a page's filter holds every client, token and API of its
// calls (a Bloom filter has no false negatives), says no to most others
// (about 1% false positives by design; the test allows 3%), is sized by
// the keys it holds, and a filter of a length the format does not allow
// holds everything, so a damaged one costs a decode, never a lost call.
func TestKeyFilter(t *testing.T) {
	for _, tc := range []struct {
		calls, clients, tokens int
		size                   int
	}{
		{1, 1, 1, 8},
		{128, 1, 1, 8},
		{128, 8, 128, 512}, // counted as 257 keys: the client changes on every call
		{1024, 1024, 1024, 4096},
	} {
		t.Run(fmt.Sprint(tc.calls, "x", tc.clients, "x", tc.tokens), func(t *testing.T) {
			cs := make([]gatehouse.Call, tc.calls)
			for i := range cs {
				cs[i] = gatehouse.Call{ClientID: fmt.Sprint("client-", i%tc.clients), TokenID: fmt.Sprint("token-", i%tc.tokens), API: "orders"}
			}
			f := appendKeyFilter([]byte("prefix"), cs)
			if string(f[:6]) != "prefix" {
				t.Fatal("dst overwritten")
			}
			f = f[6:]
			if len(f) != tc.size {
				t.Errorf("filter of %d bytes, want %d", len(f), tc.size)
			}
			for _, c := range cs {
				for _, k := range []struct{ prefix, v string }{{keyClient, c.ClientID}, {keyToken, c.TokenID}, {keyAPI, c.API}} {
					if !mayHoldKey(f, keyHash(k.prefix, k.v)) {
						t.Fatalf("%s%s missing", k.prefix, k.v)
					}
				}
			}
			// The kind is part of the key: a client id is not a token id.
			if tc.clients == 1 && mayHoldKey(f, keyHash(keyToken, "client-0")) {
				t.Error("client-0 found as a token")
			}
			fp := 0
			const tries = 20000
			for i := range tries {
				if mayHoldKey(f, keyHash(keyToken, fmt.Sprint("other-", i))) {
					fp++
				}
			}
			if fp > tries*3/100 {
				t.Errorf("%d false positives in %d", fp, tries)
			}
		})
	}
	for _, bad := range [][]byte{nil, {}, make([]byte, 7), make([]byte, 12)} {
		if !mayHoldKey(bad, keyHash(keyToken, "t")) {
			t.Errorf("filter of %d bytes refuses a key", len(bad))
		}
	}
}
