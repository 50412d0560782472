package sqlite

import (
	"math/bits"

	"github.com/gatehouse/gatehouse"
)

// A page's keys column is a Bloom filter of the clients, tokens and APIs
// of its calls: FindCalls decodes a page for a client, token or API filter
// only when the page's filter may hold it.
//
// Format (stored, so it must stay readable): the filter's bits as bytes,
// bit i in byte i/8 at 1<<(i%8); the length in bytes is a power of two, at
// least 8. A key is its kind's prefix ('c:' client, 't:' token, 'a:' API)
// followed by the value, hashed with 64-bit FNV-1a; it sets keyProbes bits,
// h1 + i*h2 (mod the bit count) for i < keyProbes, where h1 and h2 are the
// low and high halves of the hash (h2 made odd).
const (
	keyProbes = 7
	// keyBitsPerKey sizes a filter: about 1% false positives (a page
	// decoded for nothing) at 10 bits and 7 probes per key.
	keyBitsPerKey = 10
	// maxKeyFilter bounds a filter's size, in bytes: a page of 1,024
	// calls with three distinct keys each needs 4 KiB.
	maxKeyFilter = 4096
)

// Key kinds.
const (
	keyClient = "c:"
	keyToken  = "t:"
	keyAPI    = "a:"
)

// keyHash is FNV-1a 64 of prefix followed by v.
func keyHash(prefix, v string) uint64 {
	const offset, prime = 14695981039346656037, 1099511628211
	h := uint64(offset)
	for i := 0; i < len(prefix); i++ {
		h = (h ^ uint64(prefix[i])) * prime
	}
	for i := 0; i < len(v); i++ {
		h = (h ^ uint64(v[i])) * prime
	}
	return h
}

// appendKeyFilter appends the filter of cs's keys to dst.
func appendKeyFilter(dst []byte, cs []gatehouse.Call) []byte {
	// Count the keys by changes from the previous call: an over-count
	// when calls alternate between values, which only makes the filter
	// sparser.
	n := 0
	prev := &gatehouse.Call{}
	for i := range cs {
		c := &cs[i]
		n += newKey(c.ClientID, prev.ClientID) + newKey(c.TokenID, prev.TokenID) + newKey(c.API, prev.API)
		prev = c
	}
	size := 8
	if need := (n*keyBitsPerKey + 7) / 8; need > size {
		size = min(maxKeyFilter, 1<<bits.Len(uint(need-1)))
	}
	start := len(dst)
	dst = append(dst, make([]byte, size)...)
	f := dst[start:]
	for i := range cs {
		c := &cs[i]
		if i > 0 && c.ClientID == cs[i-1].ClientID && c.TokenID == cs[i-1].TokenID && c.API == cs[i-1].API {
			continue
		}
		for _, k := range [...]struct{ prefix, v string }{{keyClient, c.ClientID}, {keyToken, c.TokenID}, {keyAPI, c.API}} {
			if k.v != "" {
				addKey(f, keyHash(k.prefix, k.v))
			}
		}
	}
	return dst
}

// newKey is 1 when v is a key not equal to the previous call's.
func newKey(v, prev string) int {
	if v != "" && v != prev {
		return 1
	}
	return 0
}

func addKey(f []byte, h uint64) {
	mask := uint32(len(f)*8 - 1)
	h1, h2 := uint32(h), uint32(h>>32)|1
	for i := range uint32(keyProbes) {
		b := (h1 + i*h2) & mask
		f[b/8] |= 1 << (b % 8)
	}
}

// mayHoldKey is whether the filter f may hold the key hashed to h. A
// filter of a length the format does not allow may hold anything: the
// page is decoded and its calls checked.
func mayHoldKey(f []byte, h uint64) bool {
	if len(f) < 8 || len(f)&(len(f)-1) != 0 {
		return true
	}
	mask := uint32(len(f)*8 - 1)
	h1, h2 := uint32(h), uint32(h>>32)|1
	for i := range uint32(keyProbes) {
		b := (h1 + i*h2) & mask
		if f[b/8]&(1<<(b%8)) == 0 {
			return false
		}
	}
	return true
}
