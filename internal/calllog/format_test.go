package calllog

import (
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse"
	"github.com/google/go-cmp/cmp"
)

func TestParseFilter(t *testing.T) {
	now := time.Date(2031, 3, 4, 12, 0, 0, 0, time.UTC)
	cur := gatehouse.CallCursor{Time: now.Add(-time.Minute), ID: 42}
	for _, tc := range []struct {
		name, query string
		want        gatehouse.CallFilter
	}{
		{"Empty", "", gatehouse.CallFilter{Limit: DefaultLimit}},
		{"All", "from=2031-03-04T10:00:00Z&to=1962266400&api=orders&client=c1&token_id=t1&status=404&limit=5&order=asc&cursor=" + EncodeCursor(cur),
			gatehouse.CallFilter{From: now.Add(-2 * time.Hour), To: time.Unix(1962266400, 0).UTC(), API: "orders", ClientID: "c1",
				TokenID: "t1", StatusMin: 404, StatusMax: 404, Limit: 5, Ascending: true, After: &cur}},
		{"Since", "since=15m", gatehouse.CallFilter{From: now.Add(-15 * time.Minute), Limit: DefaultLimit}},
		{"Class", "status=5xx", gatehouse.CallFilter{StatusMin: 500, StatusMax: 599, Limit: DefaultLimit}},
		{"Range", "status=400-404&client_id=c2", gatehouse.CallFilter{StatusMin: 400, StatusMax: 404, ClientID: "c2", Limit: DefaultLimit}},
		// Bounds beyond what a call time can be (1678 to 2262) bound nothing
		// rather than wrap around.
		{"FromBeforeStorable", "from=1600-01-01T00:00:00Z&to=2031-03-04T12:00:00Z", gatehouse.CallFilter{To: now, Limit: DefaultLimit}},
		{"ToAfterStorable", "from=2031-03-04T10:00:00Z&to=2300-01-01T00:00:00Z", gatehouse.CallFilter{From: now.Add(-2 * time.Hour), Limit: DefaultLimit}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			q, _ := url.ParseQuery(tc.query)
			got, err := ParseFilter(q, now, MaxLimit)
			if err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(got, tc.want); d != "" {
				t.Fatalf("(-got +want):\n%s", d)
			}
		})
	}
	for _, tc := range []struct{ name, query, msg string }{
		{"Unknown", "stauts=404", "unknown parameter"},
		{"Twice", "api=a&api=b", "once"},
		{"BadTime", "from=yesterday", "RFC 3339"},
		{"Backwards", "from=2031-03-04T10:00:00Z&to=2031-03-04T09:00:00Z", "before"},
		{"FromAndSince", "from=2031-03-04T10:00:00Z&since=1h", "not both"},
		{"BadSince", "since=-1h", "positive duration"},
		{"BadStatus", "status=6xx", "status"},
		{"StatusWords", "status=ok", "status"},
		{"StatusRangeBackwards", "status=500-400", "status"},
		{"BadLimit", "limit=0", "limit"},
		{"LimitTooHigh", "limit=1001", "limit"},
		{"BadOrder", "order=up", "order"},
		{"BadCursor", "cursor=abc", "cursor"},
		{"LongAPI", "api=" + strings.Repeat("a", 300), "256"},
		{"FromAfterStorable", "from=2300-01-01T00:00:00Z", "latest time the call log can hold"},
		{"ToBeforeStorable", "to=1600-01-01T00:00:00Z", "earliest time the call log can hold"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			q, _ := url.ParseQuery(tc.query)
			if _, err := ParseFilter(q, now, MaxLimit); err == nil || !strings.Contains(err.Error(), tc.msg) {
				t.Fatalf("error %v, want one mentioning %q", err, tc.msg)
			}
		})
	}
	t.Run("NoCap", func(t *testing.T) {
		got, err := ParseFilter(url.Values{"limit": {"50000"}}, now, 0)
		if err != nil || got.Limit != 50000 {
			t.Fatalf("%+v, %v", got, err)
		}
		got, _ = ParseFilter(url.Values{}, now, 0)
		if got.Limit != 0 {
			t.Fatalf("export default limit %d, want none", got.Limit)
		}
	})
}

func TestCursorRoundTrip(t *testing.T) {
	c := gatehouse.CallCursor{Time: time.Unix(0, 1962266400123456789).UTC(), ID: 1 << 40}
	got, err := DecodeCursor(EncodeCursor(c))
	if err != nil || !got.Time.Equal(c.Time) || got.ID != c.ID {
		t.Fatalf("%+v, %v", got, err)
	}
}

func TestCSVRowDefusesFormulas(t *testing.T) {
	c := gatehouse.Call{Time: time.Unix(0, 0), Path: "=HYPERLINK(\"x\")", UserAgent: "@cmd", ClientID: "-c"}
	row := CSVRow(&c)
	if len(row) != len(CSVHeader) {
		t.Fatalf("%d cells, header has %d", len(row), len(CSVHeader))
	}
	for _, cell := range []string{row[6], row[13], row[8]} {
		if !strings.HasPrefix(cell, "'") {
			t.Errorf("cell %q not defused", cell)
		}
	}
}

// FuzzParseFilter: any query either fails with an error or gives a filter
// within bounds; never a panic.
func FuzzParseFilter(f *testing.F) {
	for _, s := range []string{"", "status=4xx&limit=5", "from=2031-03-04T10:00:00Z&to=1962266400", "cursor=AAAAAAAAAAAAAAAAAAAAAA", "since=1h&order=asc", "status=100-599"} {
		f.Add(s)
	}
	now := time.Date(2031, 3, 4, 12, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, query string) {
		q, err := url.ParseQuery(query)
		if err != nil {
			return
		}
		got, err := ParseFilter(q, now, MaxLimit)
		if err != nil {
			return
		}
		if got.Limit < 1 || got.Limit > MaxLimit {
			t.Fatalf("limit %d out of bounds", got.Limit)
		}
		if got.StatusMin > got.StatusMax || (got.StatusMin != 0 && got.StatusMin < 100) || got.StatusMax > 599 {
			t.Fatalf("status range %d-%d", got.StatusMin, got.StatusMax)
		}
		if !got.From.IsZero() && !got.To.IsZero() && !got.From.Before(got.To) {
			t.Fatal("from not before to")
		}
		if got.After != nil && got.After.ID <= 0 {
			t.Fatal("cursor with a non-positive id")
		}
	})
}
