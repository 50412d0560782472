package callpage_test

import (
	"encoding/binary"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/internal/callpage"
)

// FuzzDecode checks that no data makes Decode panic, that what it
// rejects wraps ErrCorrupt, and that what it accepts encodes again (with
// a fresh Encoder) to a page that decodes to the same calls.
//
//	go test ./internal/callpage -run '^$' -fuzz FuzzDecode -fuzztime 60s
func FuzzDecode(f *testing.F) {
	golden, err := os.ReadFile(filepath.Join("testdata", "page-v1.bin"))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(golden)
	f.Add(formatPage)
	for _, cs := range roundTripPages() {
		if page := encode(f, cs); len(page) < 4<<10 {
			f.Add(page)
		}
	}
	f.Add(encode(f, typicalPage()[:16]))
	f.Add([]byte{})
	f.Add([]byte{1, 1})
	f.Add(join([]byte{1, 2}, minCall(0), minCall(1<<40)))
	f.Fuzz(checkDecode)
}

// FuzzRoundTrip builds a page of calls from the fuzzer's bytes (see
// fuzzCalls) and checks that it decodes to the same calls, as
// normalized.
//
//	go test ./internal/callpage -run '^$' -fuzz FuzzRoundTrip -fuzztime 60s
func FuzzRoundTrip(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte{0, 0, 0, 0})
	f.Add([]byte("\x05\x01\x00\x10hello\x11world\x20\x21\x22\x23\x24\x30\x31"))
	f.Add([]byte(strings.Repeat("\x03\x09\x02\x41\x42\x43\x44\x45\x46\x47\x48", 20)))
	f.Add([]byte(strings.Repeat("\xff\xfe\x80\x7f\x00\x01\x02\x03\x04\x05\x06\x07\x08\x09\x0a", 30)))
	f.Fuzz(func(t *testing.T, data []byte) {
		cs := fuzzCalls(data)
		var e callpage.Encoder
		page, err := e.Encode(nil, cs)
		if err != nil {
			t.Fatal(err)
		}
		got, err := callpage.Decode(nil, page)
		if err != nil {
			t.Fatal(err)
		}
		checkCalls(t, got, normalized(cs))
		// The same Encoder, warm, writes the same page.
		again, err := e.Encode(nil, cs)
		if err != nil || string(again) != string(page) {
			t.Fatalf("a second Encode gave %x, %v; the first %x", again, err, page)
		}
	})
}

// fuzzCalls makes 1 to 200 valid calls from data, read as a stream of
// choices (zeros once it runs out), so that the fuzzer can reach every
// kind of page: IDs with and without gaps up to the largest, any time in
// range in any zone, strings repeated in their column, repeated from
// another column, new, empty, long, of any bytes, and integers of any
// size and sign.
func fuzzCalls(data []byte) []gatehouse.Call {
	r := fuzzReader{data: data}
	n := 1 + int(r.byte())%200
	cs := make([]gatehouse.Call, 0, n)
	var id int64
	ns := int64(r.uint64())
	var seen []string
	for range n {
		switch gap := r.byte(); {
		case gap < 200:
			id++
		case gap < 250:
			id += 1 + int64(r.byte())
		default:
			id += 1 + int64(r.uint64()>>2)
		}
		if id <= 0 || (len(cs) > 0 && id <= cs[len(cs)-1].ID) {
			break // wrapped past the largest ID
		}
		switch step := r.byte(); {
		case step < 128:
			ns += int64(step) * 1000
		case step < 250:
			ns -= int64(step)
		default:
			ns = int64(r.uint64())
		}
		t := time.Unix(0, ns)
		if r.byte()%2 == 1 {
			t = t.In(time.FixedZone("", 3600*int(r.byte()%24)))
		}
		c := gatehouse.Call{ID: id, Time: t}
		var prev [12]string
		if len(cs) > 0 {
			p := &cs[len(cs)-1]
			prev = [12]string{p.RequestID, p.API, p.Route, p.Method, p.Path, p.ClientID,
				p.Subject, p.TokenID, p.GrantID, p.ClientAddr, p.UserAgent, p.Reason}
		}
		var s [12]string
		for j := range s {
			switch k := r.byte(); {
			case k < 100:
				s[j] = prev[j]
			case k < 150 && len(seen) > 0:
				s[j] = seen[int(r.byte())%len(seen)]
			case k < 160:
				s[j] = ""
			case k < 165:
				s[j] = strings.Repeat(string(rune('a'+j)), 200+int(r.byte())*2) // 200 to 710 bytes
			default:
				s[j] = r.string(int(k - 165))
				seen = append(seen, s[j])
			}
		}
		c.RequestID, c.API, c.Route, c.Method, c.Path, c.ClientID = s[0], s[1], s[2], s[3], s[4], s[5]
		c.Subject, c.TokenID, c.GrantID, c.ClientAddr, c.UserAgent, c.Reason = s[6], s[7], s[8], s[9], s[10], s[11]
		c.Status = int(r.int64())
		c.BytesIn, c.BytesOut = r.int64(), r.int64()
		c.Upstream, c.Total = time.Duration(r.int64()), time.Duration(r.int64())
		cs = append(cs, c)
	}
	return cs
}

// fuzzReader reads fuzzCalls' choices; past the end of data, it reads
// zeros.
type fuzzReader struct {
	data []byte
}

func (r *fuzzReader) byte() byte {
	if len(r.data) == 0 {
		return 0
	}
	b := r.data[0]
	r.data = r.data[1:]
	return b
}

func (r *fuzzReader) uint64() uint64 {
	var b [8]byte
	for i := range b {
		b[i] = r.byte()
	}
	return binary.LittleEndian.Uint64(b[:])
}

// int64 is small more often than not: one byte, sign extended, when
// the first byte is odd; else the next eight bytes.
func (r *fuzzReader) int64() int64 {
	if b := r.byte(); b%2 == 1 {
		return int64(int8(b))
	}
	return int64(r.uint64())
}

func (r *fuzzReader) string(n int) string {
	n = min(n, len(r.data))
	s := string(r.data[:n])
	r.data = r.data[n:]
	return s
}
