// Package callpage encodes a batch of calls ([gatehouse.Call]) as one
// compact binary page, so that the call log can store one row per batch
// instead of one row (and three index entries) per call.
//
// # Format, version 1
//
// Pages are stored, so what they say must stay readable: a change to the
// format is a new version byte, decoded beside version 1, never an edit of
// what follows.
//
// A uvarint is an unsigned LEB128 integer of at most 10 bytes, a varint a
// zigzag-encoded int64 in a uvarint, both as [encoding/binary] writes them.
// A page is
//
//	version  1 byte   1
//	count    uvarint  the number of calls, at least 1
//	calls    count calls, back to back
//
// and nothing follows the last call. A call is, in this order:
//
//	id        uvarint  ID - previous ID - 1 (the previous ID is 0 before the first call),
//	                   so IDs are positive and increasing and consecutive IDs cost one byte
//	time      varint   Time.UnixNano() - the previous call's (0 before the first call),
//	                   in wrapping int64 arithmetic
//	strings   12 of them (below): RequestID, API, Route, Method, Path, ClientID,
//	                   Subject, TokenID, GrantID, ClientAddr, UserAgent, Reason
//	Status    varint
//	BytesIn   varint
//	BytesOut  varint
//	Upstream  varint   nanoseconds
//	Total     varint   nanoseconds
//
// Each string starts with a uvarint tag:
//
//	0       the same value as the previous call's in this column ("" in the first call)
//	1       a literal: uvarint length, then that many bytes (any bytes at all);
//	        every literal becomes the page's next dictionary entry (0, 1, 2...)
//	k >= 2  dictionary entry k-2: a literal earlier in the page, in any column
//
// So a call takes at least 19 bytes (one per varint and tag), and a page
// whose count could not fit in the bytes after it is corrupt: a hostile
// count cannot make the decoder allocate more than a small multiple of the
// page's size.
//
// Time comes back as time.Unix(0, ns).UTC(): its location and monotonic
// reading are not kept, and only times from 1677 to 2262 (int64
// nanoseconds since 1970) can be encoded.
package callpage

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/gatehouse/gatehouse"
)

const (
	version1 = 1

	// numStrings is the number of string columns of a call.
	numStrings = 12
	// minCallBytes is the least a call can take: id, time, a tag per
	// string and five integers, one byte each.
	minCallBytes = 2 + numStrings + 5

	// maxDictKey is the longest string the Encoder looks up in (and adds
	// to) its map of the page's literals; a longer one is written out
	// again whenever it changes in its column. Every literal still takes
	// a dictionary index, so this is the Encoder's choice, not the
	// format's. Hashing a string costs about as much as copying it. The
	// values that come back in a page other than in the next call (a few
	// paths in turn, the user agents of interleaved clients, capped at 256
	// bytes) are short; a longer one is mostly a path with a long query,
	// seen once, whose hashing would be wasted. Measured with BenchmarkEncode and
	// BenchmarkEncodeLongPaths (amd64, a shared 2-core machine), in ns
	// per call:
	//
	//	                      no map   maxDictKey 256   no limit
	//	typical page          61       91               91
	//	distinct 256 B paths  75       115              115
	//	distinct 1 KiB paths  90       110              155
	//
	// The map's 30 ns per call on the typical page buys 12.5 of its 76
	// bytes per call (its 8 alternating paths), and the limit spares the
	// 45 ns per KiB of hashing strings that do not come back.
	maxDictKey = 256
)

// ErrCorrupt is wrapped by every error Decode returns.
var ErrCorrupt = errors.New("callpage: corrupt page")

// columnNames names the string columns in their order on the page, for
// error messages.
var columnNames = [numStrings]string{"RequestID", "API", "Route", "Method", "Path", "ClientID",
	"Subject", "TokenID", "GrantID", "ClientAddr", "UserAgent", "Reason"}

// intNames names the integers after the strings, in their order on the
// page, for error messages.
var intNames = [5]string{"Status", "BytesIn", "BytesOut", "Upstream", "Total"}

// columns returns c's strings in their order on the page.
func columns(c *gatehouse.Call) [numStrings]string {
	return [numStrings]string{c.RequestID, c.API, c.Route, c.Method, c.Path, c.ClientID,
		c.Subject, c.TokenID, c.GrantID, c.ClientAddr, c.UserAgent, c.Reason}
}

// setColumns sets c's strings from s, in their order on the page.
func setColumns(c *gatehouse.Call, s *[numStrings]string) {
	c.RequestID, c.API, c.Route, c.Method, c.Path, c.ClientID = s[0], s[1], s[2], s[3], s[4], s[5]
	c.Subject, c.TokenID, c.GrantID, c.ClientAddr, c.UserAgent, c.Reason = s[6], s[7], s[8], s[9], s[10], s[11]
}

// Encoder encodes pages. It keeps its map of a page's strings between
// calls, so that encoding a page allocates nothing once warm (but for
// growing dst). Not safe for concurrent use. The zero value is ready to
// use.
type Encoder struct {
	// dict maps the page's literals (up to maxDictKey bytes) to their
	// dictionary index. Empty between calls, so that it keeps no caller's
	// string alive.
	dict map[string]int
}

// Encode appends the encoding of cs to dst and returns it. cs must not be
// empty, and every call must have an ID above 0 and above the previous
// call's, and a Time that is not zero and within int64 nanoseconds since
// 1970; otherwise Encode returns dst unchanged and an error naming the
// call by its index in cs.
func (e *Encoder) Encode(dst []byte, cs []gatehouse.Call) ([]byte, error) {
	if len(cs) == 0 {
		return dst, errors.New("callpage: no calls")
	}
	if e.dict == nil {
		e.dict = make(map[string]int)
	}
	defer clear(e.dict)
	start := len(dst)
	dst = append(dst, version1)
	dst = binary.AppendUvarint(dst, uint64(len(cs)))
	var prevID, prevNs int64
	var prev [numStrings]string
	entries := 0 // in the page's dictionary
	for i := range cs {
		c := &cs[i]
		switch {
		case c.ID <= 0:
			return dst[:start], fmt.Errorf("callpage: call %d: id %d not positive", i, c.ID)
		case c.ID <= prevID:
			return dst[:start], fmt.Errorf("callpage: call %d: id %d not above previous %d", i, c.ID, prevID)
		case c.Time.IsZero():
			return dst[:start], fmt.Errorf("callpage: call %d: id %d: zero time", i, c.ID)
		}
		if !gatehouse.StorableTime(c.Time) {
			return dst[:start], fmt.Errorf("callpage: call %d: id %d: time %s out of range", i, c.ID, c.Time)
		}
		ns := c.Time.UnixNano()
		dst = binary.AppendUvarint(dst, uint64(c.ID-prevID-1))
		dst = binary.AppendVarint(dst, ns-prevNs)
		prevID, prevNs = c.ID, ns

		for j, s := range columns(c) {
			if s == prev[j] {
				dst = append(dst, 0)
				continue
			}
			prev[j] = s
			if len(s) <= maxDictKey {
				if k, ok := e.dict[s]; ok {
					dst = binary.AppendUvarint(dst, uint64(k)+2)
					continue
				}
				e.dict[s] = entries
			}
			entries++
			dst = append(dst, 1)
			dst = binary.AppendUvarint(dst, uint64(len(s)))
			dst = append(dst, s...)
		}

		dst = binary.AppendVarint(dst, int64(c.Status))
		dst = binary.AppendVarint(dst, c.BytesIn)
		dst = binary.AppendVarint(dst, c.BytesOut)
		dst = binary.AppendVarint(dst, int64(c.Upstream))
		dst = binary.AppendVarint(dst, int64(c.Total))
	}
	return dst, nil
}

// Decode appends the calls encoded in data to dst and returns it. Their
// strings share one allocation, copied from data, so data may be reused
// once Decode returns. Malformed data returns dst unchanged and an error
// wrapping ErrCorrupt. Whatever data holds, Decode does not panic, and
// allocates in proportion to len(data) (but for growing dst past what it
// held): about 14 times for calls of 19 bytes, about 30 times at worst (a
// page of empty literals, whose dictionary grows; 35 under -race).
func Decode(dst []gatehouse.Call, data []byte) ([]gatehouse.Call, error) {
	start := len(dst)
	d := decoder{data: data}
	dst, err := d.page(dst)
	if err != nil {
		return dst[:start], err
	}
	return dst, nil
}

// decoder reads one page.
type decoder struct {
	data []byte
	pos  int    // in data
	str  string // data as a string, made at the first literal
}

func (d *decoder) page(dst []gatehouse.Call) ([]gatehouse.Call, error) {
	if len(d.data) == 0 {
		return dst, fmt.Errorf("%w: empty", ErrCorrupt)
	}
	if v := d.data[0]; v != version1 {
		return dst, fmt.Errorf("%w: version %d, want %d", ErrCorrupt, v, version1)
	}
	d.pos = 1
	n, ok := d.uvarint()
	if !ok {
		return dst, d.fail("count")
	}
	switch rest := uint64(len(d.data) - d.pos); {
	case n == 0:
		return dst, fmt.Errorf("%w: no calls", ErrCorrupt)
	case n > rest/minCallBytes:
		return dst, fmt.Errorf("%w: %d calls cannot fit in %d bytes", ErrCorrupt, n, rest)
	}
	dst = slices.Grow(dst, int(n))

	var id, ns int64
	var cur [numStrings]string
	// dict holds where the page's literals so far start (their length),
	// which takes half the memory of holding them as strings: a hostile
	// page of nothing but empty literals needs an entry per 2 bytes. Most
	// pages have fewer than 256; a larger one grows onto the heap.
	var buf [256]int
	dict := buf[:0]
	for i := range int(n) {
		delta, ok := d.uvarint()
		if !ok {
			return dst, d.failCall(i, "id")
		}
		if delta >= uint64(math.MaxInt64-id) {
			return dst, fmt.Errorf("%w: call %d: id overflows after %d", ErrCorrupt, i, id)
		}
		id += int64(delta) + 1
		dt, ok := d.varint()
		if !ok {
			return dst, d.failCall(i, "time")
		}
		ns += dt

		for j := range cur {
			tag, ok := d.uvarint()
			if !ok {
				return dst, d.failCall(i, columnNames[j])
			}
			switch {
			case tag == 0:
			case tag == 1:
				at := d.pos
				s, err := d.literal()
				if err != nil {
					return dst, fmt.Errorf("%w: call %d: %s: %s", ErrCorrupt, i, columnNames[j], err)
				}
				dict = append(dict, at)
				cur[j] = s
			case tag-2 < uint64(len(dict)):
				cur[j] = d.literalAt(dict[tag-2])
			default:
				return dst, fmt.Errorf("%w: call %d: %s: dictionary entry %d of %d",
					ErrCorrupt, i, columnNames[j], tag-2, len(dict))
			}
		}

		var v [5]int64
		for k := range v {
			if v[k], ok = d.varint(); !ok {
				return dst, d.failCall(i, intNames[k])
			}
		}
		status := int(v[0])
		if int64(status) != v[0] {
			return dst, fmt.Errorf("%w: call %d: Status %d overflows int", ErrCorrupt, i, v[0])
		}

		// Made whole before it is appended, so that its pointers are
		// written into dst once: while the collector runs, each write
		// costs a barrier.
		c := gatehouse.Call{ID: id, Time: time.Unix(0, ns).UTC(), Status: status,
			BytesIn: v[1], BytesOut: v[2], Upstream: time.Duration(v[3]), Total: time.Duration(v[4])}
		setColumns(&c, &cur)
		dst = append(dst, c)
	}
	if d.pos != len(d.data) {
		return dst, fmt.Errorf("%w: %d bytes after the last call", ErrCorrupt, len(d.data)-d.pos)
	}
	return dst, nil
}

// uvarint reads a uvarint; ok is false if it is truncated or overflows.
func (d *decoder) uvarint() (uint64, bool) {
	// One byte is the common case by far (tags, small deltas).
	if d.pos < len(d.data) {
		if b := d.data[d.pos]; b < 0x80 {
			d.pos++
			return uint64(b), true
		}
	}
	return d.uvarintLong()
}

func (d *decoder) uvarintLong() (uint64, bool) {
	v, n := binary.Uvarint(d.data[d.pos:])
	if n <= 0 {
		return 0, false
	}
	d.pos += n
	return v, true
}

// varint reads a zigzag varint; ok is false if it is truncated or
// overflows.
func (d *decoder) varint() (int64, bool) {
	u, ok := d.uvarint()
	return int64(u>>1) ^ -int64(u&1), ok
}

// literal reads a literal's length and bytes, returning them as a
// substring of d.str.
func (d *decoder) literal() (string, error) {
	at := d.pos
	n, ok := d.uvarint()
	if !ok {
		return "", d.cause(at, "length")
	}
	if n > uint64(len(d.data)-d.pos) {
		return "", fmt.Errorf("length %d at byte %d past the end (%d bytes)", n, at, len(d.data))
	}
	if d.str == "" {
		d.str = string(d.data)
	}
	s := d.str[d.pos : d.pos+int(n)]
	d.pos += int(n)
	return s, nil
}

// literalAt returns the literal at byte at, which literal has read
// before.
func (d *decoder) literalAt(at int) string {
	n, k := binary.Uvarint(d.data[at:])
	return d.str[at+k : at+k+int(n)]
}

// cause says why the varint at byte at could not be read.
func (d *decoder) cause(at int, what string) error {
	if _, n := binary.Uvarint(d.data[at:]); n < 0 {
		return fmt.Errorf("%s at byte %d overflows 64 bits", what, at)
	}
	return fmt.Errorf("%s truncated at byte %d", what, at)
}

// fail is the error for the page's field that could not be read at d.pos.
func (d *decoder) fail(field string) error {
	return fmt.Errorf("%w: %s", ErrCorrupt, d.cause(d.pos, field))
}

// failCall is the error for call i's field that could not be read at
// d.pos.
func (d *decoder) failCall(i int, field string) error {
	return fmt.Errorf("%w: call %d: %s", ErrCorrupt, i, d.cause(d.pos, field))
}
