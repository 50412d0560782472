package traffic_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/internal/traffic"
)

func TestPolicyField(t *testing.T) {
	tests := []struct {
		name string
		ps   []traffic.Policy
		want string
	}{
		{"Rate", []traffic.Policy{traffic.RatePolicy("default", gatehouse.RateLimit{Rate: 100, Period: time.Minute, Burst: 20})},
			`"default";q=100;w=60`},
		{"SubSecondWindowRoundsUp", []traffic.Policy{traffic.RatePolicy("fast", gatehouse.RateLimit{Rate: 5, Period: 500 * time.Millisecond})},
			`"fast";q=5;w=1`},
		{"RateAndQuotas", append([]traffic.Policy{traffic.RatePolicy("burst", gatehouse.RateLimit{Rate: 100, Period: time.Minute})},
			traffic.QuotaPolicies(gatehouse.Quota{Daily: 1000, Monthly: 20000})...),
			`"burst";q=100;w=60, "daily";q=1000;w=86400, "monthly";q=20000`},
		{"NoWindow", []traffic.Policy{{Name: "n", Quota: 7}}, `"n";q=7`},
		{"Escaped", []traffic.Policy{{Name: `a"b\c`, Quota: 1, Window: time.Second}}, `"a\"b\\c";q=1;w=1`},
		{"NonASCII", []traffic.Policy{{Name: "café\n", Quota: 1}}, `"caf___";q=1`},
		{"Empty", nil, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := traffic.PolicyField(tc.ps...); got != tc.want {
				t.Errorf("got  %s\nwant %s", got, tc.want)
			}
		})
	}
	if got := traffic.QuotaPolicies(gatehouse.Quota{}); len(got) != 0 {
		t.Errorf("QuotaPolicies of no quota = %v, want none", got)
	}
}

func TestWriteHeaders(t *testing.T) {
	policy := `"default";q=100;w=60`
	tests := []struct {
		name string
		d    traffic.Decision
		want http.Header
	}{
		{"Allowed", traffic.Decision{Allowed: true, Limit: 101, Remaining: 42, ResetAfter: 12300 * time.Millisecond},
			http.Header{"Ratelimit-Policy": {policy}, "Ratelimit": {`"default";r=42;t=13`}}},
		{"AllowedWholeSeconds", traffic.Decision{Allowed: true, Limit: 1, Remaining: 0, ResetAfter: 13 * time.Second},
			http.Header{"Ratelimit-Policy": {policy}, "Ratelimit": {`"default";r=0;t=13`}}},
		{"Refused", traffic.Decision{Limit: 101, ResetAfter: 60 * time.Second, RetryAfter: 1200 * time.Millisecond},
			http.Header{"Ratelimit-Policy": {policy}, "Ratelimit": {`"default";r=0;t=2`}, "Retry-After": {"2"}}},
		{"RefusedTiny", traffic.Decision{Limit: 1, ResetAfter: time.Nanosecond, RetryAfter: time.Nanosecond},
			http.Header{"Ratelimit-Policy": {policy}, "Ratelimit": {`"default";r=0;t=1`}, "Retry-After": {"1"}}},
		{"RefusedLong", traffic.Decision{Limit: 1, ResetAfter: time.Hour, RetryAfter: time.Hour},
			http.Header{"Ratelimit-Policy": {policy}, "Ratelimit": {`"default";r=0;t=3600`}, "Retry-After": {"3600"}}},
		{"NoLimit", traffic.Decision{Allowed: true}, http.Header{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := http.Header{}
			traffic.WriteHeaders(h, "default", policy, tc.d)
			if diff := cmp.Diff(tc.want, h); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestWriteHeadersFromLimiter(t *testing.T) {
	lim := gatehouse.RateLimit{Rate: 10, Period: time.Minute, Burst: 1} // T = 6s
	policy := traffic.PolicyField(traffic.RatePolicy("default", lim))
	l := traffic.NewLimiter(0)
	var got []string
	for range 3 {
		h := http.Header{}
		traffic.WriteHeaders(h, "default", policy, l.Allow("k", lim, t0))
		got = append(got, h.Get("RateLimit")+" | "+h.Get("Retry-After"))
	}
	want := []string{`"default";r=1;t=6 | `, `"default";r=0;t=12 | `, `"default";r=0;t=6 | 6`}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

func TestWriteQuotaHeaders(t *testing.T) {
	now := utc(2026, 3, 14, 23, 0, 0, 0)
	policy := traffic.PolicyField(traffic.QuotaPolicies(gatehouse.Quota{Daily: 2})...)
	q := traffic.NewQuotas(0)
	var got []http.Header
	for range 3 {
		h := http.Header{}
		traffic.WriteQuotaHeaders(h, policy, q.Take("k", gatehouse.Quota{Daily: 2}, now), now)
		got = append(got, h)
	}
	want := []http.Header{
		{"Ratelimit-Policy": {`"daily";q=2;w=86400`}, "Ratelimit": {`"daily";r=1;t=3600`}},
		{"Ratelimit-Policy": {`"daily";q=2;w=86400`}, "Ratelimit": {`"daily";r=0;t=3600`}},
		{"Ratelimit-Policy": {`"daily";q=2;w=86400`}, "Ratelimit": {`"daily";r=0;t=3600`}, "Retry-After": {"3600"}},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	h := http.Header{}
	traffic.WriteQuotaHeaders(h, "", traffic.QuotaDecision{Allowed: true}, now)
	if len(h) != 0 {
		t.Errorf("an uncapped quota wrote %v", h)
	}
}

// TestSetHeadersCombined reports a rate limit and a quota in one response,
// and checks the bytes on the wire.
func TestSetHeadersCombined(t *testing.T) {
	policy := traffic.PolicyField(
		traffic.Policy{Name: "default", Quota: 100, Window: time.Minute},
		traffic.Policy{Name: "daily", Quota: 1000, Window: 24 * time.Hour})
	var buf [128]byte
	b := traffic.AppendLimit(buf[:0], "default", 42, 13*time.Second)
	b = traffic.AppendLimit(b, "daily", 0, 3600*time.Second)
	rec := httptest.NewRecorder()
	traffic.SetHeaders(rec.Header(), policy, b, 3600*time.Second)
	rec.WriteHeader(http.StatusTooManyRequests)
	var wire strings.Builder
	if err := rec.Result().Header.Write(&wire); err != nil {
		t.Fatal(err)
	}
	want := "Ratelimit: \"default\";r=42;t=13, \"daily\";r=0;t=3600\r\n" +
		"Ratelimit-Policy: \"default\";q=100;w=60, \"daily\";q=1000;w=86400\r\n" +
		"Retry-After: 3600\r\n"
	if got := wire.String(); got != want {
		t.Errorf("wire:\n%s\nwant:\n%s", got, want)
	}
	// A later Add must not write into the shared backing array.
	h := http.Header{}
	traffic.SetHeaders(h, "p", []byte("l"), time.Second)
	h.Add(traffic.HeaderPolicy, "p2")
	if got := h.Values(traffic.HeaderRateLimit); len(got) != 1 || got[0] != "l" {
		t.Errorf("RateLimit after an Add to RateLimit-Policy = %q, want [l]", got)
	}
}

func TestWriteHeadersAllocations(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	policy := `"default";q=100;w=60`
	h := http.Header{}
	d := traffic.Decision{Limit: 101, ResetAfter: time.Minute, RetryAfter: 5 * time.Second}
	allocs := testing.AllocsPerRun(1000, func() { traffic.WriteHeaders(h, "default", policy, d) })
	if allocs > 2 {
		t.Errorf("WriteHeaders: %v allocations, want at most 2 (value slices and the RateLimit string)", allocs)
	}
}
