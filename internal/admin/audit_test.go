package admin

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/internal/audit"
)

// TestTarget routes real requests through a ServeMux, so Pattern and the
// path values are set as in production.
func TestTarget(t *testing.T) {
	for _, tc := range []struct {
		pattern, method, path string
		typ, id, route        string
	}{
		{"POST /admin/v1/users/{id}/revoke-grants", "POST", "/admin/v1/users/u-1/revoke-grants", "users", "u-1", "/admin/v1/users/{id}/revoke-grants"},
		{"DELETE /admin/v1/apps/{app}/credentials/{cred}", "DELETE", "/admin/v1/apps/a1/credentials/c9", "credentials", "c9", "/admin/v1/apps/{app}/credentials/{cred}"},
		{"PUT /admin/v1/files/{path...}", "PUT", "/admin/v1/files/a/b", "files", "a/b", "/admin/v1/files/{path...}"},
		{"POST /admin/v1/keys/rotate", "POST", "/admin/v1/keys/rotate", "keys", "", "/admin/v1/keys/rotate"},
		{"/admin/", "PATCH", "/admin/x", "", "", "/admin/"},
	} {
		t.Run(tc.pattern, func(t *testing.T) {
			mux := http.NewServeMux()
			var typ, id, route string
			mux.HandleFunc(tc.pattern, func(w http.ResponseWriter, r *http.Request) {
				typ, id = target(r)
				route = routeOf(r)
			})
			mux.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(tc.method, tc.path, nil))
			if typ != tc.typ || id != tc.id || route != tc.route {
				t.Errorf("target %q %q route %q, want %q %q %q", typ, id, route, tc.typ, tc.id, tc.route)
			}
		})
	}
	if got := routeOf(httptest.NewRequest("GET", "/x", nil)); got != "(no route)" {
		t.Errorf("unmatched route %q", got)
	}
}

func TestCreatedID(t *testing.T) {
	for _, tc := range []struct {
		name, location, body, want string
	}{
		{"Location", "/admin/v1/apps/app-7", `{"id":"other"}`, "app-7"},
		{"LocationTrailingSlash", "https://x/admin/v1/apps/app-7/", "", "app-7"},
		{"BodyID", "", `{"token":"ghi_secret","id":"tok-1"}`, "tok-1"},
		{"NumericID", "", `{"id":42}`, "42"},
		{"NoID", "", `{"token":"ghi_secret"}`, ""},
		{"NotJSON", "", `oops`, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := &auditRecorder{ResponseWriter: httptest.NewRecorder(), capture: true}
			if tc.location != "" {
				rec.Header().Set("Location", tc.location)
			}
			rec.WriteHeader(201)
			rec.Write([]byte(tc.body))
			if got := createdID(rec); got != tc.want {
				t.Errorf("createdID = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestRecorderCaptureBounded(t *testing.T) {
	rec := &auditRecorder{ResponseWriter: httptest.NewRecorder(), capture: true}
	for range 3 {
		rec.Write([]byte(strings.Repeat("x", 3000)))
	}
	if rec.body.Len() != maxCapture || rec.status != 200 {
		t.Errorf("captured %d bytes, status %d; want %d, 200", rec.body.Len(), rec.status, maxCapture)
	}
}

func TestFailureCap(t *testing.T) {
	var c failureCap
	now := time.Unix(1000, 0)
	for i := range failureBurst {
		if ok, s := c.take(now); !ok || s != 0 {
			t.Fatalf("failure %d refused", i)
		}
	}
	for range 5 {
		if ok, _ := c.take(now.Add(time.Second)); ok {
			t.Fatal("failure over the burst recorded")
		}
	}
	if ok, s := c.take(now.Add(time.Minute)); !ok || s != 5 {
		t.Errorf("next window: %v, suppressed %d; want true, 5", ok, s)
	}
	if ok, s := c.take(now.Add(time.Minute)); !ok || s != 0 {
		t.Errorf("the suppressed count is reported once: %v %d", ok, s)
	}
}

func TestClean(t *testing.T) {
	if got := clean("a\xffb"); got != "a\uFFFDb" {
		t.Errorf("clean invalid UTF-8 = %q", got)
	}
	long := strings.Repeat("é", audit.MaxFieldLen) // 2 bytes each
	got := clean(long)
	if len(got) > audit.MaxFieldLen || !utf8.ValidString(got) || len(got) < audit.MaxFieldLen-1 {
		t.Errorf("clean long: %d bytes, valid %v", len(got), utf8.ValidString(got))
	}
}

// FuzzAuditQuery: no query string panics the list's parameter decoding,
// and what it accepts is within the documented bounds.
func FuzzAuditQuery(f *testing.F) {
	for _, s := range []string{"", "limit=10&cursor=5", "since=2026-01-02T15:04:05Z&until=2026-01-03T00:00:00.5%2B02:00",
		"action=POST+%2Fadmin%2Fv1%2Fkeys%2Frotate&actor=x", "limit=1001", "cursor=-1", "a=1&a=2", "%zz", "since=2026-01-02T15:04:05Z&until=2026-01-01T00:00:00Z"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, q string) {
		r := httptest.NewRequest("GET", "/admin/v1/audit", nil)
		r.URL.RawQuery = q
		fl, vals, err := auditQuery(r, "since", "until", "action", "actor", "cursor", "limit")
		if err != nil {
			return
		}
		if !fl.Since.IsZero() && !fl.Until.IsZero() && !fl.Until.After(fl.Since) {
			t.Fatalf("accepted since %v not before until %v", fl.Since, fl.Until)
		}
		for k, v := range vals {
			if len(v) != 1 {
				t.Fatalf("accepted %q %d times", k, len(v))
			}
		}
	})
}

// TestAuditOpenAPIFragment: the fragment to merge into the admin API's
// OpenAPI document describes exactly the audit routes, and its list
// example has every member the handler writes.
func TestAuditOpenAPIFragment(t *testing.T) {
	raw, err := os.ReadFile("openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Paths map[string]map[string]struct {
			Responses map[string]struct {
				Content map[string]struct {
					Example json.RawMessage `json:"example"`
				} `json:"content"`
			} `json:"responses"`
		} `json:"paths"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	var got []string
	for p, ops := range doc.Paths {
		if !strings.HasPrefix(p, "/admin/v1/audit") {
			continue
		}
		for m := range ops {
			got = append(got, strings.ToUpper(m)+" "+p)
		}
	}
	slices.Sort(got)
	if !slices.Equal(got, auditRoutePatterns) {
		t.Errorf("fragment routes %v, router %v", got, auditRoutePatterns)
	}
	var page struct {
		Items      []audit.Wire `json:"items"`
		NextCursor string       `json:"next_cursor"`
	}
	dec := json.NewDecoder(bytes.NewReader(doc.Paths["/admin/v1/audit"]["get"].Responses["200"].Content["application/json"].Example))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&page); err != nil || len(page.Items) != 1 {
		t.Fatalf("list example: %v", err)
	}
	line, err := audit.MarshalLine(&gatehouse.AuditEntry{Seq: 1, Details: []byte("{}"), PrevHash: make([]byte, 32), Hash: make([]byte, 32)})
	if err != nil {
		t.Fatal(err)
	}
	var want, have map[string]any
	json.Unmarshal(line, &want)
	b, _ := json.Marshal(page.Items[0])
	json.Unmarshal(b, &have)
	for k := range want {
		if _, ok := have[k]; !ok {
			t.Errorf("the example lacks %q", k)
		}
	}
}

// TestHostileRequestStillRecorded: the longest, most escaped path an
// attacker can send still yields a record Seal accepts.
func TestHostileRequestStillRecorded(t *testing.T) {
	r := httptest.NewRequest("GET", "/admin/v1/x", nil)
	r.URL.Path = "/admin/" + strings.Repeat("<\x01\xff", 3000)
	note := &auditNote{actor: strings.Repeat("\x02", 600), clientID: strings.Repeat("\x03", 600), reason: strings.Repeat("\x04", 600)}
	rec := &auditRecorder{ResponseWriter: httptest.NewRecorder(), status: 403}
	rec.Header().Set("WWW-Authenticate", `Bearer error="`+strings.Repeat("\x05", 600)+`"`)
	h := &Handler{}
	rcd := h.failureRecord(r, note, rec, "admin.access_denied")
	if _, err := audit.Seal(gatehouse.AuditHead{}, rcd, time.Unix(1, 0)); err != nil {
		t.Fatalf("a hostile request's record is refused: %v", err)
	}
}
