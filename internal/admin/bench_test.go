package admin_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// BenchmarkAdminRead is one authenticated read of an app: token
// verification (cached after the first), account lookup, store read,
// JSON out. The admin API is not a hot path; this keeps it honest.
func BenchmarkAdminRead(b *testing.B) {
	f := newFixture(b)
	devA, _, appA, _ := f.seed()
	h := f.h.Routes()
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		req := httptest.NewRequest("GET", "/admin/v1/apps/"+appA, nil)
		req.Header.Set("Authorization", "Bearer "+devA)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			b.Fatalf("status %d: %s", rec.Code, rec.Body)
		}
	}
}

// BenchmarkAdminList lists 50 subscriptions as an admin.
func BenchmarkAdminList(b *testing.B) {
	f := newFixture(b)
	_, _, _, _ = f.seed()
	adm := f.adminToken()
	for i := 0; i < 50; i++ {
		app := f.must(201, f.do("POST", "/admin/v1/apps", adm, `{"name":"x","team":"team-a"}`))["id"].(string)
		f.must(201, f.do("POST", "/admin/v1/subscriptions", adm, `{"app_id":"`+app+`","api":"orders"}`))
	}
	h := f.h.Routes()
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		req := httptest.NewRequest("GET", "/admin/v1/subscriptions?limit=50", nil)
		req.Header.Set("Authorization", "Bearer "+adm)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK || strings.Count(rec.Body.String(), `"state"`) != 50 {
			b.Fatalf("status %d", rec.Code)
		}
	}
}
