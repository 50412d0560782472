package callpage_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/internal/callpage"
)

var update = flag.Bool("update", false, "rewrite testdata/page-v1.bin from goldenCalls")

// t0 is an arbitrary time with nanoseconds, in a zone other than UTC,
// which a page does not keep.
var t0 = time.Date(2026, 3, 14, 9, 26, 53, 589793238, time.FixedZone("CET", 3600))

// normalized returns cs as Decode gives them back: times in UTC, without
// a monotonic reading.
func normalized(cs []gatehouse.Call) []gatehouse.Call {
	out := slices.Clone(cs)
	for i := range out {
		out[i].Time = time.Unix(0, out[i].Time.UnixNano()).UTC()
	}
	return out
}

// checkCalls fails t at the first call in got that differs from want's.
// Calls compare with ==, which holds for times made the same way, as
// Decode and normalized make them (and keeps the tests on the standard
// library, like the package).
func checkCalls(t testing.TB, got, want []gatehouse.Call) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d calls, want %d", len(got), len(want))
	}
	for i := range got {
		if got[i] != want[i] {
			t.Fatalf("call %d:\n got %+v\nwant %+v", i, got[i], want[i])
		}
	}
}

func encode(t testing.TB, cs []gatehouse.Call) []byte {
	t.Helper()
	var e callpage.Encoder
	page, err := e.Encode(nil, cs)
	if err != nil {
		t.Fatal(err)
	}
	return page
}

// roundTripPages are pages of varied calls, each one valid.
func roundTripPages() map[string][]gatehouse.Call {
	distinct := make([]gatehouse.Call, 50)
	for i := range distinct {
		s := func(col string) string { return fmt.Sprintf("%s-%d", col, i) }
		distinct[i] = gatehouse.Call{ID: int64(i + 1), Time: t0.Add(time.Duration(i) * time.Second),
			RequestID: s("req"), API: s("api"), Route: s("route"), Method: s("M"), Path: s("/p"),
			Status: 200 + i, ClientID: s("client"), Subject: s("sub"), TokenID: s("jti"), GrantID: s("grant"),
			ClientAddr: s("addr"), UserAgent: s("ua"), BytesIn: int64(i), BytesOut: int64(-i),
			Upstream: time.Duration(i), Total: time.Duration(i * i), Reason: s("reason")}
	}
	full := func(id int64, s string) gatehouse.Call {
		return gatehouse.Call{ID: id, Time: t0, RequestID: s, API: s, Route: s, Method: s, Path: s, ClientID: s,
			Subject: s, TokenID: s, GrantID: s, ClientAddr: s, UserAgent: s, Reason: s}
	}
	long := strings.Repeat("0123456789abcdef", 4<<10) // 64 KiB
	alternating := make([]gatehouse.Call, 20)
	for i := range alternating {
		alternating[i] = full(int64(i+1), []string{"a", "", "bb", long[:300], long[:300]}[i%5])
	}
	return map[string][]gatehouse.Call{
		"OneCall":  {{ID: 1, Time: t0, RequestID: "r", API: "a", Status: 200}},
		"Typical":  typicalPage(),
		"Distinct": distinct,
		"EmptyStrings": {
			{ID: 1, Time: t0}, {ID: 2, Time: t0}, full(3, "x"), full(4, ""), full(5, "x"), full(6, ""),
		},
		"Extremes": {
			{ID: 1, Time: time.Unix(0, math.MinInt64), Status: math.MinInt, BytesIn: math.MinInt64,
				BytesOut: math.MinInt64, Upstream: math.MinInt64, Total: math.MinInt64},
			{ID: math.MaxInt64 - 1, Time: time.Unix(0, math.MaxInt64), Status: math.MaxInt, BytesIn: math.MaxInt64,
				BytesOut: math.MaxInt64, Upstream: math.MaxInt64, Total: math.MaxInt64},
			{ID: math.MaxInt64, Time: time.Unix(0, math.MinInt64), Status: -1, BytesIn: -1, BytesOut: -1,
				Upstream: -1, Total: -1},
		},
		"Monotonic": {{ID: 1, Time: time.Now()}, {ID: 2, Time: time.Now().Add(time.Millisecond)}},
		"Epoch":     {{ID: 1, Time: time.Unix(0, 0)}, {ID: 2, Time: time.Unix(0, -1)}, {ID: 3, Time: time.Unix(0, 1)}},
		"AnyBytes": {
			full(1, "\xff\xfe\x00"), full(2, "\x00"), full(3, "caf\xc3"), full(4, "\x80\x00\x80"), full(5, "\xff\xfe\x00"),
		},
		"LongStrings": {full(1, long), full(2, long), full(3, long[1:]), full(4, long)},
		"Alternating": alternating,
		"IDGaps": {
			{ID: 5, Time: t0}, {ID: 6, Time: t0}, {ID: 200, Time: t0}, {ID: 1 << 40, Time: t0}, {ID: 1<<40 + 1, Time: t0},
		},
		"TimeBackwards": {
			{ID: 1, Time: t0}, {ID: 2, Time: t0.Add(-time.Hour)}, {ID: 3, Time: t0.Add(-time.Nanosecond)},
			{ID: 4, Time: t0.Add(100 * 365 * 24 * time.Hour)}, {ID: 5, Time: t0},
		},
	}
}

func TestRoundTrip(t *testing.T) {
	for name, cs := range roundTripPages() {
		t.Run(name, func(t *testing.T) {
			page := encode(t, cs)
			got, err := callpage.Decode(nil, page)
			if err != nil {
				t.Fatal(err)
			}
			checkCalls(t, got, normalized(cs))
		})
	}
}

// TestDecodeAppends checks that Decode keeps what dst held, and that the
// calls it returns do not change when data is reused.
func TestDecodeAppends(t *testing.T) {
	cs := roundTripPages()["Distinct"]
	page := encode(t, cs)
	before := gatehouse.Call{ID: 99, RequestID: "before"}
	got, err := callpage.Decode([]gatehouse.Call{before}, page)
	if err != nil {
		t.Fatal(err)
	}
	clear(page)
	checkCalls(t, got, append([]gatehouse.Call{before}, normalized(cs)...))
}

// TestEncodeAppends checks that Encode keeps what dst held, and that an
// Encoder's pages do not depend on the ones before.
func TestEncodeAppends(t *testing.T) {
	var e callpage.Encoder
	pages := roundTripPages()
	for _, name := range []string{"Distinct", "Typical", "Distinct", "AnyBytes"} {
		prefix := []byte("prefix")
		got, err := e.Encode(prefix, pages[name])
		if err != nil {
			t.Fatal(err)
		}
		if want := append([]byte("prefix"), encode(t, pages[name])...); !bytes.Equal(got, want) {
			t.Fatalf("%s: got %x, want %x", name, got, want)
		}
	}
}

func TestEncodeErrors(t *testing.T) {
	ok := func(id int64) gatehouse.Call { return gatehouse.Call{ID: id, Time: t0, RequestID: "r"} }
	for _, tt := range []struct {
		name  string
		calls []gatehouse.Call
		want  string
	}{
		{"Nil", nil, "callpage: no calls"},
		{"Empty", []gatehouse.Call{}, "callpage: no calls"},
		{"ZeroID", []gatehouse.Call{{Time: t0}}, "callpage: call 0: id 0 not positive"},
		{"NegativeID", []gatehouse.Call{ok(1), {ID: -5, Time: t0}}, "callpage: call 1: id -5 not positive"},
		{"SameID", []gatehouse.Call{ok(1), ok(2), ok(7), ok(7)}, "callpage: call 3: id 7 not above previous 7"},
		{"LowerID", []gatehouse.Call{ok(8), ok(3)}, "callpage: call 1: id 3 not above previous 8"},
		{"ZeroTime", []gatehouse.Call{ok(1), ok(2), {ID: 3}}, "callpage: call 2: id 3: zero time"},
		{"TimeAfter2262", []gatehouse.Call{{ID: 1, Time: time.Date(2263, 1, 1, 0, 0, 0, 0, time.UTC)}},
			"callpage: call 0: id 1: time 2263-01-01 00:00:00 +0000 UTC out of range"},
		{"TimeBefore1677", []gatehouse.Call{{ID: 1, Time: time.Date(1677, 1, 1, 0, 0, 0, 0, time.UTC)}},
			"callpage: call 0: id 1: time 1677-01-01 00:00:00 +0000 UTC out of range"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var e callpage.Encoder
			dst := make([]byte, 3, 100)
			copy(dst, "abc")
			got, err := e.Encode(dst, tt.calls)
			if err == nil || err.Error() != tt.want {
				t.Errorf("got error %v, want %q", err, tt.want)
			}
			if string(got) != "abc" {
				t.Errorf("got dst %q, want it unchanged", got)
			}
			// The Encoder is still fine.
			if _, err := e.Encode(nil, roundTripPages()["Typical"]); err != nil {
				t.Errorf("next page: %v", err)
			}
		})
	}
}

// minCall is the shortest call: id delta, time delta 0, and every
// string and integer 0.
func minCall(idDelta uint64) []byte {
	return append(binary.AppendUvarint(nil, idDelta), make([]byte, 1+12+5)...)
}

// join assembles a page (or a call) from its parts.
func join(parts ...[]byte) []byte {
	return slices.Concat(parts...)
}

func TestDecodeCorrupt(t *testing.T) {
	valid := encode(t, roundTripPages()["Typical"])
	uv := func(v uint64) []byte { return binary.AppendUvarint(nil, v) }
	overflow := append(bytes.Repeat([]byte{0xff}, 9), 0x7f) // 10 bytes, above 1<<64
	// strCall is a call whose RequestID is string s (a tag and what
	// follows it).
	strCall := func(s ...byte) []byte {
		return join([]byte{0, 0}, s, make([]byte, 11+5))
	}
	for _, tt := range []struct {
		name string
		data []byte
		want string
	}{
		{"Nil", nil, "empty"},
		{"Version0", join([]byte{0}, valid[1:]), "version 0, want 1"},
		{"Version2", join([]byte{2}, valid[1:]), "version 2, want 1"},
		{"Version255", join([]byte{255}, valid[1:]), "version 255, want 1"},
		{"NoCount", []byte{1}, "count truncated at byte 1"},
		{"CountOverflows", join([]byte{1}, overflow), "count at byte 1 overflows 64 bits"},
		{"ZeroCount", []byte{1, 0}, "no calls"},
		{"ZeroCountAndMore", join([]byte{1, 0}, minCall(0)), "no calls"},
		{"CountTooLarge", join([]byte{1, 2}, minCall(0), minCall(0)[1:]), "2 calls cannot fit in 37 bytes"},
		{"HugeCount", join([]byte{1}, uv(math.MaxUint64), minCall(0)), "18446744073709551615 calls cannot fit in 19 bytes"},
		{"TrailingByte", join(valid, []byte{0}), "1 bytes after the last call"},
		{"TrailingCall", join([]byte{1, 1}, minCall(0), minCall(0)), "19 bytes after the last call"},
		{"IDOverflows", join([]byte{1, 2}, minCall(math.MaxInt64-1), minCall(0)), "call 1: id overflows after 9223372036854775807"},
		{"FirstIDOverflows", join([]byte{1, 1}, minCall(math.MaxInt64)), "call 0: id overflows after 0"},
		{"IDVarintOverflows", join([]byte{1, 1}, overflow, make([]byte, 18)), "call 0: id at byte 2 overflows 64 bits"},
		{"TimeVarintOverflows", join([]byte{1, 1, 0}, overflow, make([]byte, 17)), "call 0: time at byte 3 overflows 64 bits"},
		{"TagOverflows", join([]byte{1, 1, 0, 0}, overflow, make([]byte, 16)), "call 0: RequestID at byte 4 overflows 64 bits"},
		{"ReferenceToNothing", join([]byte{1, 1}, strCall(2)), "call 0: RequestID: dictionary entry 0 of 0"},
		{"ReferencePastDictionary", join([]byte{1, 1}, strCall(1, 1, 'x', 3)), "call 0: API: dictionary entry 1 of 1"},
		{"HugeReference", join([]byte{1, 1}, strCall(uv(math.MaxUint64)...)), "call 0: RequestID: dictionary entry 18446744073709551613 of 0"},
		{"LengthPastEnd", join([]byte{1, 1}, strCall(1, 17)), "call 0: RequestID: length 17 at byte 5 past the end (22 bytes)"},
		{"HugeLength", join([]byte{1, 1}, strCall(append([]byte{1}, uv(math.MaxUint64)...)...)), "call 0: RequestID: length 18446744073709551615 at byte 5 past the end (31 bytes)"},
		{"LengthOverflows", join([]byte{1, 1}, strCall(append([]byte{1}, overflow...)...)), "call 0: RequestID: length at byte 5 overflows 64 bits"},
		{"IntegerOverflows", join([]byte{1, 1}, minCall(0)[:16], overflow), "call 0: BytesOut at byte 18 overflows 64 bits"},
		{"TotalTruncated", join([]byte{1, 1}, minCall(0)[:18], []byte{0x80}), "call 0: Total truncated at byte 20"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			prev := []gatehouse.Call{{ID: 1}}
			got, err := callpage.Decode(prev, tt.data)
			if !errors.Is(err, callpage.ErrCorrupt) {
				t.Fatalf("got error %v, want one wrapping ErrCorrupt", err)
			}
			if want := "callpage: corrupt page: " + tt.want; err.Error() != want {
				t.Errorf("got error %q, want %q", err, want)
			}
			if len(got) != 1 || got[0].ID != 1 {
				t.Errorf("got %d calls back, want dst unchanged", len(got))
			}
		})
	}
}

// TestDecodeAllocationBound checks that Decode allocates in proportion to
// its data, whatever the data: pages of the smallest calls (the most
// calls for their size), and of calls of nothing but new empty strings
// (the largest dictionary for their size).
func TestDecodeAllocationBound(t *testing.T) {
	for _, n := range []int{1000, 20000} {
		head := binary.AppendUvarint([]byte{1}, uint64(n))
		emptyLiterals := join([]byte{0, 0}, bytes.Repeat([]byte{1, 0}, 12), make([]byte, 5))
		for name, data := range map[string][]byte{
			"Smallest":      join(head, bytes.Repeat(minCall(0), n)),
			"EmptyLiterals": join(head, bytes.Repeat(emptyLiterals, n)),
		} {
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			cs, err := callpage.Decode(nil, data)
			runtime.ReadMemStats(&after)
			if err != nil || len(cs) != n {
				t.Fatalf("%s, %d calls: got %d calls and error %v", name, n, len(cs), err)
			}
			// About 14 and 28 times in a normal build, 35 with -race
			// (its runtime allocates more): the bound is the
			// proportion, not the exact factor.
			if ratio := float64(after.TotalAlloc-before.TotalAlloc) / float64(len(data)); ratio >= 64 {
				t.Errorf("%s, %d calls: Decode allocated %.1f times the page's %d bytes, want under 64", name, n, ratio, len(data))
			}
		}
	}
}

// TestDecodeTruncated checks that every prefix of a valid page is
// corrupt.
func TestDecodeTruncated(t *testing.T) {
	for name, cs := range roundTripPages() {
		if name == "LongStrings" {
			continue // 256 KiB of prefixes of the same few strings
		}
		t.Run(name, func(t *testing.T) {
			page := encode(t, cs)
			for n := range len(page) {
				if got, err := callpage.Decode(nil, page[:n]); !errors.Is(err, callpage.ErrCorrupt) || len(got) != 0 {
					t.Fatalf("%d of %d bytes: got %d calls and error %v, want ErrCorrupt", n, len(page), len(got), err)
				}
			}
		})
	}
}

// TestDecodeDamaged changes each byte of small valid pages (FuzzDecode
// goes further): Decode must not panic, and what it accepts must encode
// again.
func TestDecodeDamaged(t *testing.T) {
	pages := roundTripPages()
	for _, cs := range [][]gatehouse.Call{pages["Typical"][:8], pages["Distinct"][:8], pages["Extremes"],
		pages["AnyBytes"], pages["EmptyStrings"], pages["IDGaps"], pages["TimeBackwards"], goldenCalls()} {
		page := encode(t, cs)
		for i := range page {
			for _, b := range []byte{0x00, 0x01, 0x02, 0x7f, 0x80, 0xff, page[i] ^ 1} {
				damaged := slices.Clone(page)
				damaged[i] = b
				checkDecode(t, damaged)
			}
		}
	}
}

// checkDecode is FuzzDecode's check: data decodes, or fails with
// ErrCorrupt; what decodes encodes again, to the same calls.
func checkDecode(t *testing.T, data []byte) {
	t.Helper()
	cs, err := callpage.Decode(nil, data)
	if err != nil {
		if !errors.Is(err, callpage.ErrCorrupt) || len(cs) != 0 {
			t.Fatalf("%x: got %d calls and error %v, want none and ErrCorrupt", data, len(cs), err)
		}
		return
	}
	var e callpage.Encoder
	page, err := e.Encode(nil, cs)
	if err != nil {
		t.Fatalf("%x: decoded, but does not encode: %v", data, err)
	}
	again, err := callpage.Decode(nil, page)
	if err != nil {
		t.Fatalf("%x: decoded and encoded, but does not decode again: %v", data, err)
	}
	checkCalls(t, again, cs)
}

// formatCalls and formatPage are a page written out by hand, byte by
// byte, from the package doc's description of version 1.
var (
	formatCalls = []gatehouse.Call{
		{ID: 300, Time: time.Unix(0, 1000), RequestID: "r1", API: "a", Method: "GET", Status: 200,
			ClientID: "a", BytesIn: -1, BytesOut: 64, Upstream: 2, Total: 3},
		{ID: 301, Time: time.Unix(0, 998), RequestID: "r2", API: "a", Method: "GET", Status: 404,
			ClientID: "", BytesOut: 64, Total: 3, Reason: "not_found"},
	}
	formatPage = []byte{
		1, // version
		2, // count
		// Call 0.
		0xab, 0x02, // id 300: 299 = 0b10_0101011
		0xd0, 0x0f, // time 1000: zigzag 2000
		1, 2, 'r', '1', // RequestID: literal "r1", dictionary entry 0
		1, 1, 'a', // API: literal "a", entry 1
		0,                   // Route: same as before the page, ""
		1, 3, 'G', 'E', 'T', // Method: literal "GET", entry 2
		0,                // Path: ""
		3,                // ClientID: entry 1, "a"
		0, 0, 0, 0, 0, 0, // Subject, TokenID, GrantID, ClientAddr, UserAgent, Reason: ""
		0x90, 0x03, // Status 200: zigzag 400
		1,          // BytesIn -1
		0x80, 0x01, // BytesOut 64: zigzag 128
		4, // Upstream 2
		6, // Total 3
		// Call 1.
		0,              // id 301: next
		3,              // time -2 ns: zigzag 3
		1, 2, 'r', '2', // RequestID: literal "r2", entry 3
		0, 0, 0, 0, // API, Route, Method, Path: as in call 0
		1, 0, // ClientID: literal "", entry 4
		0, 0, 0, 0, 0, // Subject, TokenID, GrantID, ClientAddr, UserAgent
		1, 9, 'n', 'o', 't', '_', 'f', 'o', 'u', 'n', 'd', // Reason: literal, entry 5
		0xa8, 0x06, // Status 404: zigzag 808
		0,          // BytesIn 0
		0x80, 0x01, // BytesOut 64
		0, // Upstream 0
		6, // Total 3
	}
)

// TestFormat checks the encoding against a page written by hand from the
// package doc, so that the doc and the code say the same.
func TestFormat(t *testing.T) {
	got, err := callpage.Decode(nil, formatPage)
	if err != nil {
		t.Fatal(err)
	}
	checkCalls(t, got, normalized(formatCalls))
	if page := encode(t, formatCalls); !bytes.Equal(page, formatPage) {
		t.Errorf("encoded\n got %v\nwant %v", page, formatPage)
	}
}

// goldenCalls are the calls of testdata/page-v1.bin: something of every
// kind the format has.
func goldenCalls() []gatehouse.Call {
	cs := slices.Concat(formatCalls, roundTripPages()["Extremes"][:1], roundTripPages()["AnyBytes"][:2])
	for i := range cs {
		cs[i].ID = int64(1000 + i*i)
		cs[i].Time = t0.Add(time.Duration(i*i-5) * time.Millisecond)
	}
	cs[2].Path = strings.Repeat("/segment", 40) // 320 bytes: a literal the Encoder does not look up
	cs = append(cs, cs[2])
	cs[len(cs)-1].ID, cs[len(cs)-1].RequestID = 2000, "r1"
	return cs
}

// TestGolden checks that version 1 pages written by an earlier build
// still decode, and that the Encoder still writes the same bytes. A
// failure to decode is a change to version 1, which must not be made
// (add version 2 instead); if only the encoding differs, the Encoder's
// choices changed, and -update rewrites the file.
func TestGolden(t *testing.T) {
	file := filepath.Join("testdata", "page-v1.bin")
	want := normalized(goldenCalls())
	page := encode(t, want)
	if *update {
		if err := os.WriteFile(file, page, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	golden, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	got, err := callpage.Decode(nil, golden)
	if err != nil {
		t.Fatal(err)
	}
	checkCalls(t, got, want)
	if !bytes.Equal(page, golden) {
		t.Errorf("the Encoder no longer writes %s (run with -update if that is intended)", file)
	}
}

func TestEncodeAllocs(t *testing.T) {
	cs := typicalPage()
	var e callpage.Encoder
	page := encode(t, cs)
	if n := testing.AllocsPerRun(100, func() { page, _ = e.Encode(page[:0], cs) }); n != 0 {
		t.Errorf("Encode made %v allocations, want 0", n)
	}
}

func TestDecodeAllocs(t *testing.T) {
	page := encode(t, typicalPage())
	got := make([]gatehouse.Call, 0, 128)
	// One for the page's strings.
	if n := testing.AllocsPerRun(100, func() { got, _ = callpage.Decode(got[:0], page) }); n != 1 {
		t.Errorf("Decode made %v allocations, want 1", n)
	}
}
