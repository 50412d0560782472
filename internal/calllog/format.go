package calllog

import (
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/gatehouse/gatehouse"
)

// Record is a call as the admin API and the CLI show it (JSON, NDJSON).
type Record struct {
	ID         int64     `json:"id"`
	Time       time.Time `json:"time"`
	RequestID  string    `json:"request_id"`
	API        string    `json:"api"`
	Route      string    `json:"route"`
	Method     string    `json:"method"`
	Path       string    `json:"path"`
	Status     int       `json:"status"`
	ClientID   string    `json:"client_id"`
	Subject    string    `json:"subject"`
	TokenID    string    `json:"token_id"`
	GrantID    string    `json:"grant_id"`
	ClientAddr string    `json:"client_addr"`
	UserAgent  string    `json:"user_agent"`
	BytesIn    int64     `json:"bytes_in"`
	BytesOut   int64     `json:"bytes_out"`
	UpstreamMS float64   `json:"upstream_ms"`
	TotalMS    float64   `json:"total_ms"`
	Reason     string    `json:"reason"`
}

// RecordOf is c as shown.
func RecordOf(c *gatehouse.Call) Record {
	return Record{
		ID: c.ID, Time: c.Time.UTC(), RequestID: c.RequestID, API: c.API, Route: c.Route, Method: c.Method,
		Path: c.Path, Status: c.Status, ClientID: c.ClientID, Subject: c.Subject, TokenID: c.TokenID,
		GrantID: c.GrantID, ClientAddr: c.ClientAddr, UserAgent: c.UserAgent, BytesIn: c.BytesIn,
		BytesOut: c.BytesOut, UpstreamMS: ms(c.Upstream), TotalMS: ms(c.Total), Reason: c.Reason,
	}
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// CSVHeader is the first row of a CSV export; CSVRow gives the others in
// the same order.
var CSVHeader = []string{"id", "time", "request_id", "api", "route", "method", "path", "status", "client_id",
	"subject", "token_id", "grant_id", "client_addr", "user_agent", "bytes_in", "bytes_out", "upstream_ms", "total_ms", "reason"}

// CSVRow is c as a CSV row. Cells that a spreadsheet would run as a
// formula (starting with = + - @) are prefixed with a quote mark (OWASP
// CSV injection): path and user agent come from clients.
func CSVRow(c *gatehouse.Call) []string {
	return []string{
		strconv.FormatInt(c.ID, 10), c.Time.UTC().Format(time.RFC3339Nano), c.RequestID, c.API, c.Route, c.Method,
		safeCell(c.Path), strconv.Itoa(c.Status), safeCell(c.ClientID), safeCell(c.Subject), safeCell(c.TokenID),
		safeCell(c.GrantID), c.ClientAddr, safeCell(c.UserAgent), strconv.FormatInt(c.BytesIn, 10),
		strconv.FormatInt(c.BytesOut, 10), strconv.FormatFloat(ms(c.Upstream), 'f', -1, 64),
		strconv.FormatFloat(ms(c.Total), 'f', -1, 64), c.Reason,
	}
}

func safeCell(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}

// Query limits.
const (
	DefaultLimit = 100
	MaxLimit     = 1000
)

// EncodeCursor makes the opaque cursor that resumes after c.
func EncodeCursor(c gatehouse.CallCursor) string {
	var b [16]byte
	binary.BigEndian.PutUint64(b[:8], uint64(c.Time.UnixNano()))
	binary.BigEndian.PutUint64(b[8:], uint64(c.ID))
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// DecodeCursor is the inverse of EncodeCursor.
func DecodeCursor(s string) (gatehouse.CallCursor, error) {
	b, err := base64.RawURLEncoding.Strict().DecodeString(s)
	if err != nil || len(b) != 16 {
		return gatehouse.CallCursor{}, errors.New("cursor: not a cursor from a previous page")
	}
	id := int64(binary.BigEndian.Uint64(b[8:]))
	if id <= 0 {
		return gatehouse.CallCursor{}, errors.New("cursor: not a cursor from a previous page")
	}
	return gatehouse.CallCursor{Time: time.Unix(0, int64(binary.BigEndian.Uint64(b[:8]))).UTC(), ID: id}, nil
}

var filterParams = []string{"from", "to", "since", "api", "client", "client_id", "status", "token_id", "cursor", "limit", "order", "format"}

// ParseFilter reads the query of GET /admin/v1/calls (and the CLI's
// flags): from, to (RFC 3339 or unix seconds), since (a duration back from
// now), api, client (or client_id), status (404, 4xx, or 500-599),
// token_id, cursor, limit (1 to 1000, default 100; maxLimit 0 for no
// default and no cap), order (desc, the default, or asc). Each parameter
// may appear once; unknown ones are refused, so a typo does not silently
// widen a query.
func ParseFilter(q url.Values, now time.Time, maxLimit int) (gatehouse.CallFilter, error) {
	var f gatehouse.CallFilter
	for k, vs := range q {
		known := false
		for _, p := range filterParams {
			known = known || k == p
		}
		if !known {
			return f, fmt.Errorf("unknown parameter %q; expected one of %s", k, strings.Join(filterParams, ", "))
		}
		if len(vs) != 1 {
			return f, fmt.Errorf("parameter %q is given %d times; give it once", k, len(vs))
		}
	}
	var err error
	if v := q.Get("from"); v != "" {
		if f.From, err = parseTime(v); err != nil {
			return f, fmt.Errorf("from: %w", err)
		}
	}
	if v := q.Get("since"); v != "" {
		if q.Has("from") {
			return f, errors.New("give from or since, not both")
		}
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			return f, fmt.Errorf("since: %q is not a positive duration such as 15m or 24h", v)
		}
		f.From = now.Add(-d)
	}
	if v := q.Get("to"); v != "" {
		if f.To, err = parseTime(v); err != nil {
			return f, fmt.Errorf("to: %w", err)
		}
	}
	// Call times are stored as Unix nanoseconds (years 1678 to 2262): a
	// bound outside that range would wrap around. One beyond the end that
	// it faces bounds nothing; one beyond the other end leaves nothing.
	earliest, latest := time.Unix(0, math.MinInt64), time.Unix(0, math.MaxInt64)
	switch {
	case f.From.After(latest):
		return f, fmt.Errorf("from: %s is after %s, the latest time the call log can hold", f.From.UTC().Format(time.RFC3339), latest.UTC().Format(time.RFC3339))
	case !f.From.IsZero() && f.From.Before(earliest):
		f.From = time.Time{}
	}
	switch {
	case !f.To.IsZero() && !f.To.After(earliest):
		return f, fmt.Errorf("to: %s is before %s, the earliest time the call log can hold", f.To.UTC().Format(time.RFC3339), earliest.UTC().Format(time.RFC3339))
	case f.To.After(latest):
		f.To = time.Time{}
	}
	if !f.From.IsZero() && !f.To.IsZero() && !f.From.Before(f.To) {
		return f, errors.New("from must be before to")
	}
	f.API = q.Get("api")
	f.ClientID = q.Get("client")
	if v := q.Get("client_id"); v != "" {
		if f.ClientID != "" {
			return f, errors.New("give client or client_id, not both")
		}
		f.ClientID = v
	}
	f.TokenID = q.Get("token_id")
	for _, s := range []string{f.API, f.ClientID, f.TokenID} {
		if len(s) > 256 {
			return f, errors.New("api, client and token_id are at most 256 bytes")
		}
	}
	if v := q.Get("status"); v != "" {
		if f.StatusMin, f.StatusMax, err = parseStatus(v); err != nil {
			return f, err
		}
	}
	if v := q.Get("cursor"); v != "" {
		c, err := DecodeCursor(v)
		if err != nil {
			return f, err
		}
		f.After = &c
	}
	switch q.Get("order") {
	case "", "desc":
	case "asc":
		f.Ascending = true
	default:
		return f, fmt.Errorf("order: %q; expected asc or desc", q.Get("order"))
	}
	if maxLimit > 0 {
		f.Limit = DefaultLimit
	}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || (maxLimit > 0 && n > maxLimit) {
			if maxLimit > 0 {
				return f, fmt.Errorf("limit: %q; expected a number from 1 to %d", v, maxLimit)
			}
			return f, fmt.Errorf("limit: %q; expected a positive number", v)
		}
		f.Limit = n
	}
	return f, nil
}

func parseTime(v string) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339Nano, v); err == nil {
		return t.UTC(), nil
	}
	if n, err := strconv.ParseInt(v, 10, 64); err == nil && n >= 0 && n < 1<<33 {
		return time.Unix(n, 0).UTC(), nil
	}
	return time.Time{}, fmt.Errorf("%q is not an RFC 3339 time (2026-01-02T15:04:05Z) or unix seconds", v)
}

// parseStatus reads 404, 4xx or 500-599.
func parseStatus(v string) (lo, hi int, err error) {
	bad := fmt.Errorf("status: %q; expected a code (404), a class (4xx) or a range (500-599)", v)
	code := func(s string) (int, bool) {
		n, err := strconv.Atoi(s)
		return n, err == nil && n >= 100 && n <= 599 && len(s) == 3
	}
	if len(v) == 3 && v[0] >= '1' && v[0] <= '5' && strings.EqualFold(v[1:], "xx") {
		lo = int(v[0]-'0') * 100
		return lo, lo + 99, nil
	}
	if a, b, ok := strings.Cut(v, "-"); ok {
		x, ok1 := code(a)
		y, ok2 := code(b)
		if !ok1 || !ok2 || x > y {
			return 0, 0, bad
		}
		return x, y, nil
	}
	n, ok := code(v)
	if !ok {
		return 0, 0, bad
	}
	return n, n, nil
}
