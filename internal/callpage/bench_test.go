package callpage_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/internal/callpage"
)

// typicalPage is the log writer's usual batch: 128 calls of one client
// through one route (same API, route, method, client, subject, token,
// grant, address and user agent), a few paths, distinct 32-hex-digit
// request ids, times a few hundred microseconds apart, varying byte
// counts and durations, a 404 now and then.
func typicalPage() []gatehouse.Call {
	cs := make([]gatehouse.Call, 128)
	t := time.Date(2026, 3, 14, 9, 26, 53, 589793238, time.UTC)
	for i := range cs {
		t = t.Add(time.Duration(150+i*37%700) * time.Microsecond)
		c := gatehouse.Call{
			ID:         1_000_000 + int64(i),
			Time:       t,
			RequestID:  fmt.Sprintf("%016x%016x", uint64(i)*0x9e3779b97f4a7c15, uint64(i)*0xbf58476d1ce4e5b9),
			API:        "orders",
			Route:      "/orders/{id} GET",
			Method:     "GET",
			Path:       fmt.Sprintf("/orders/%d", 4000+i%8),
			Status:     200,
			ClientID:   "acme-billing",
			Subject:    "acme-billing",
			TokenID:    "8c1f0e6a-3d2b-4c5e-9f7a-1b2c3d4e5f60",
			GrantID:    "g-42",
			ClientAddr: "203.0.113.7",
			UserAgent:  "acme-billing/2.3.1 (linux; go1.26)",
			BytesIn:    0,
			BytesOut:   int64(800 + i*13%400),
			Upstream:   time.Duration(900+i*31%500) * time.Microsecond,
			Total:      time.Duration(950+i*31%500)*time.Microsecond + time.Duration(i*7919%1000)*time.Nanosecond,
		}
		if i%32 == 31 {
			c.Status, c.Reason = 404, "not_found"
		}
		cs[i] = c
	}
	return cs
}

// BenchmarkEncode encodes typicalPage with a warm Encoder into a reused
// buffer, as the log writer does.
func BenchmarkEncode(b *testing.B) {
	benchEncode(b, typicalPage())
}

// BenchmarkEncodeLongPaths is typicalPage with a distinct path of 256
// bytes and of 1 KiB in each call: what maxDictKey weighs.
func BenchmarkEncodeLongPaths(b *testing.B) {
	for _, n := range []int{256, 1024} {
		b.Run(fmt.Sprint("Path=", n), func(b *testing.B) {
			cs := typicalPage()
			for i := range cs {
				p := fmt.Sprintf("/orders/%d?q=", i)
				cs[i].Path = p + strings.Repeat("x", n-len(p))
			}
			benchEncode(b, cs)
		})
	}
}

func benchEncode(b *testing.B, cs []gatehouse.Call) {
	var e callpage.Encoder
	page, err := e.Encode(nil, cs)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		page, _ = e.Encode(page[:0], cs)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(cs)), "ns/call")
	b.ReportMetric(float64(len(page))/float64(len(cs)), "B/call")
}

// BenchmarkDecode decodes typicalPage into a reused slice: its one
// allocation is the page's strings.
func BenchmarkDecode(b *testing.B) {
	cs := typicalPage()
	var e callpage.Encoder
	page, err := e.Encode(nil, cs)
	if err != nil {
		b.Fatal(err)
	}
	var got []gatehouse.Call
	b.ReportAllocs()
	for b.Loop() {
		if got, err = callpage.Decode(got[:0], page); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(cs)), "ns/call")
	b.ReportMetric(float64(len(page))/float64(len(cs)), "B/call")
}
