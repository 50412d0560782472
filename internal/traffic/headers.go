package traffic

import (
	"net/http"
	"strconv"
	"time"

	"github.com/gatehouse/gatehouse"
)

// The response fields of draft-ietf-httpapi-ratelimit-headers-11 (May 2026),
// both Structured Field Lists (RFC 9651) of items whose value is the policy
// name as an sf-string:
//
//	RateLimit-Policy: "default";q=100;w=60     quota q per window w seconds
//	RateLimit: "default";r=42;t=13             r left; no more than r within t seconds
//
// plus Retry-After (RFC 9110, delay-seconds) on a refusal. The keys are in
// Go's canonical form, which is how http.Header stores "RateLimit-Policy"
// and "RateLimit" anyway (field names are case-insensitive); using them
// directly skips canonicalisation on every response.
const (
	HeaderPolicy     = "Ratelimit-Policy"
	HeaderRateLimit  = "Ratelimit"
	HeaderRetryAfter = "Retry-After"
)

// Policy is one quota policy as RateLimit-Policy advertises it.
type Policy struct {
	Name  string
	Quota int64 // q
	// Window is w, in whole seconds rounded up; zero leaves w out, which
	// the draft allows.
	Window time.Duration
}

// RatePolicy describes a GCRA limit as its sustained rate: Rate per
// Period. Burst is not a quota and has no parameter; clients see it as a
// RateLimit r above q when at rest.
func RatePolicy(name string, lim gatehouse.RateLimit) Policy {
	return Policy{Name: name, Quota: int64(lim.Rate), Window: lim.Period}
}

// QuotaPolicies describes a quota's capped windows, named "daily" and
// "monthly" as in WriteQuotaHeaders. The daily one has w=86400; the
// monthly one has no w, because a calendar month has no fixed length and
// RateLimit-Policy should not change from response to response; its
// RateLimit t says when it resets.
func QuotaPolicies(q gatehouse.Quota) []Policy {
	var ps []Policy
	if q.Daily > 0 {
		ps = append(ps, Policy{Name: WindowDay.String(), Quota: q.Daily, Window: 24 * time.Hour})
	}
	if q.Monthly > 0 {
		ps = append(ps, Policy{Name: WindowMonth.String(), Quota: q.Monthly})
	}
	return ps
}

// PolicyField returns a RateLimit-Policy value listing ps. It does not
// change between requests, so build it once per route, not per request.
func PolicyField(ps ...Policy) string {
	var b []byte
	for _, p := range ps {
		b = AppendPolicy(b, p)
	}
	return string(b)
}

// AppendPolicy appends p as a RateLimit-Policy list member,
// "name";q=100;w=60, after a ", " if dst is not empty.
func AppendPolicy(dst []byte, p Policy) []byte {
	dst = appendItemName(dst, p.Name)
	dst = append(dst, ";q="...)
	dst = strconv.AppendInt(dst, max(p.Quota, 0), 10)
	if p.Window > 0 {
		dst = append(dst, ";w="...)
		dst = strconv.AppendInt(dst, ceilSeconds(p.Window), 10)
	}
	return dst
}

// AppendLimit appends a RateLimit list member, "name";r=42;t=13, after a
// ", " if dst is not empty. t is within rounded up to whole seconds, left
// out when within is not positive.
func AppendLimit(dst []byte, name string, remaining int64, within time.Duration) []byte {
	dst = appendItemName(dst, name)
	dst = append(dst, ";r="...)
	dst = strconv.AppendInt(dst, max(remaining, 0), 10)
	if within > 0 {
		dst = append(dst, ";t="...)
		dst = strconv.AppendInt(dst, ceilSeconds(within), 10)
	}
	return dst
}

// SetHeaders sets RateLimit-Policy to policyField and RateLimit to
// limitField, each when not empty, and Retry-After when retryAfter is
// positive (in seconds rounded up, at least 1). It replaces earlier values.
// It allocates once for the values' slices and once for limitField's
// string (and once more for a Retry-After of 100 seconds or more).
//
// To report several limits, append their items to one buffer with
// AppendLimit, and pass the longest refusal's RetryAfter.
func SetHeaders(h http.Header, policyField string, limitField []byte, retryAfter time.Duration) {
	if policyField == "" && len(limitField) == 0 && retryAfter <= 0 {
		return
	}
	// One backing array for all the fields' []string values; each is
	// sliced to full capacity so that a later h.Add copies rather than
	// writing into its neighbour.
	vals := make([]string, 0, 3)
	set := func(key, v string) {
		vals = append(vals, v)
		n := len(vals)
		h[key] = vals[n-1 : n : n]
	}
	if policyField != "" {
		set(HeaderPolicy, policyField)
	}
	if len(limitField) > 0 {
		set(HeaderRateLimit, string(limitField))
	}
	if retryAfter > 0 {
		set(HeaderRetryAfter, strconv.FormatInt(max(ceilSeconds(retryAfter), 1), 10))
	}
}

// WriteHeaders writes a Limiter decision for the policy named name: the
// given RateLimit-Policy value (from PolicyField, built once per route; ""
// leaves the field out), RateLimit, and Retry-After on a refusal.
//
// When allowed, t is ResetAfter: within it the client can always make r
// requests, since capacity only grows meanwhile. When refused, r is 0 and t
// is RetryAfter, equal to Retry-After as the draft asks (Retry-After not
// before the end of the effective window). A Decision with Limit 0 (no
// valid policy) writes nothing.
func WriteHeaders(h http.Header, name, policyField string, d Decision) {
	if d.Limit == 0 {
		return
	}
	var buf [96]byte
	within, retry := d.ResetAfter, time.Duration(0)
	if !d.Allowed {
		within, retry = d.RetryAfter, d.RetryAfter
	}
	SetHeaders(h, policyField, AppendLimit(buf[:0], name, int64(d.Remaining), within), retry)
}

// WriteQuotaHeaders writes a Quotas decision like WriteHeaders, naming the
// item after d.Window ("daily" or "monthly"), with t the time from now to
// d.Reset. A refusal's Retry-After is the same: quota resets are at UTC
// midnight for every client, so a gateway may add jitter to spread the
// herd (draft section 8.5). A decision with no window writes nothing.
func WriteQuotaHeaders(h http.Header, policyField string, d QuotaDecision, now time.Time) {
	if d.Window == WindowNone {
		return
	}
	var buf [96]byte
	within, retry := d.Reset.Sub(now), time.Duration(0)
	if !d.Allowed {
		retry = within
	}
	SetHeaders(h, policyField, AppendLimit(buf[:0], d.Window.String(), d.Remaining, within), retry)
}

// appendItemName appends a list separator if needed, then name as an
// sf-string. Characters an sf-string cannot hold (outside printable ASCII)
// become '_', since a header must not carry them and names come from
// configuration, not clients.
func appendItemName(dst []byte, name string) []byte {
	if len(dst) > 0 {
		dst = append(dst, ", "...)
	}
	dst = append(dst, '"')
	for i := 0; i < len(name); i++ {
		switch c := name[i]; {
		case c == '"' || c == '\\':
			dst = append(dst, '\\', c)
		case c < 0x20 || c > 0x7e:
			dst = append(dst, '_')
		default:
			dst = append(dst, c)
		}
	}
	return append(dst, '"')
}

// ceilSeconds rounds a positive duration up to whole seconds.
func ceilSeconds(d time.Duration) int64 {
	if d <= 0 {
		return 0
	}
	s := int64(d / time.Second)
	if d%time.Second != 0 {
		s++
	}
	return s
}
