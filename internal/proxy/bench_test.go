package proxy

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"testing"

	"github.com/gatehouse/gatehouse"
)

// benchTable has 50 routes over 5 APIs, one of them host-specific, mixing
// exact, parameter and prefix patterns.
func benchTable(b *testing.B) *Table {
	var apis []gatehouse.API
	for i := range 5 {
		name := fmt.Sprintf("api%d", i)
		var routes []gatehouse.Route
		base := fmt.Sprintf("/%s/v1", name)
		routes = append(routes,
			route(base+"/orders", "GET", "POST"),
			route(base+"/orders/{id}", "GET", "PUT", "DELETE"),
			route(base+"/orders/{id}/items", "GET"),
			route(base+"/orders/{id}/items/{item}", "GET"),
			route(base+"/customers/{id}", "GET"),
			route(base+"/customers/{id}/orders/*", "GET"),
			route(base+"/health", "GET"),
			route(base+"/static/*", "GET"),
			route(base+"/*", "POST"),
			route(base+"/search"),
		)
		a := testAPI(name, routes...)
		if i == 4 {
			a.Hosts = []string{"api.example.com"}
		}
		apis = append(apis, a)
	}
	return mustCompile(b, apis...)
}

func BenchmarkMatch(b *testing.B) {
	tbl := benchTable(b)
	cases := []struct{ name, host, method, path string }{
		{"Exact", "example.com", "GET", "/api2/v1/orders"},
		{"Params", "example.com", "GET", "/api2/v1/orders/12345/items/678"},
		{"Prefix", "example.com", "GET", "/api3/v1/static/css/site.css"},
		{"MethodFallthrough", "example.com", "POST", "/api1/v1/orders/12345"},
		{"HostSpecific", "api.example.com:443", "GET", "/api4/v1/orders/9"},
		{"Miss", "example.com", "GET", "/nothing/here/at/all"},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				tbl.Match(c.host, c.method, c.path)
			}
		})
	}
}

// nopTransport answers every request at once without I/O, so that
// BenchmarkGatewayChain measures the gateway's own work.
type nopTransport struct{}

func (nopTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	return &http.Response{
		StatusCode: http.StatusOK, ProtoMajor: 1, ProtoMinor: 1,
		Header: http.Header{}, Body: http.NoBody, Request: req, ContentLength: 0,
	}, nil
}

// discardWriter is a ResponseWriter that keeps nothing but its header map,
// cleared between requests.
type discardWriter struct{ h http.Header }

func (w *discardWriter) Header() http.Header         { return w.h }
func (w *discardWriter) Write(p []byte) (int, error) { return len(p), nil }
func (w *discardWriter) WriteHeader(int)             {}

// BenchmarkGatewayChain measures a whole ServeHTTP (request id, client
// address, path check, route match, forwarding headers, ReverseProxy)
// in-process, with a no-op upstream and a pass-through middleware.
func BenchmarkGatewayChain(b *testing.B) {
	g := &Gateway{
		Transport: nopTransport{},
		Logger:    quietLogger(),
		Middleware: []func(http.Handler) http.Handler{func(next http.Handler) http.Handler {
			return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if _, ok := RequestFrom(r.Context()); !ok {
					panic("no route")
				}
				next.ServeHTTP(w, r)
			})
		}},
	}
	g.Load(benchTable(b))
	defer g.Close()
	for _, path := range []string{"/api2/v1/orders", "/api2/v1/orders/12345/items/678"} {
		b.Run(path, func(b *testing.B) {
			req := httptest.NewRequest(http.MethodGet, "http://example.com"+path+"?q=1", nil)
			req.Header.Set("Authorization", "Bearer x")
			req.Header.Set("User-Agent", "bench")
			req.Header.Set("Accept", "application/json")
			w := &discardWriter{h: http.Header{}}
			b.ReportAllocs()
			for b.Loop() {
				clear(w.h)
				g.ServeHTTP(w, req)
			}
		})
	}
}

var _ io.Writer = (*discardWriter)(nil)

// BenchmarkReverseProxyBaseline is a bare httputil.ReverseProxy with the
// same no-op upstream: BenchmarkGatewayChain minus this is the gateway's
// own cost.
func BenchmarkReverseProxyBaseline(b *testing.B) {
	target, _ := url.Parse("http://upstream.internal")
	rp := &httputil.ReverseProxy{
		Rewrite:    func(pr *httputil.ProxyRequest) { pr.SetURL(target); pr.SetXForwarded() },
		Transport:  nopTransport{},
		BufferPool: buffers,
	}
	req := httptest.NewRequest(http.MethodGet, "http://example.com/api2/v1/orders?q=1", nil)
	req.Header.Set("Authorization", "Bearer x")
	req.Header.Set("User-Agent", "bench")
	req.Header.Set("Accept", "application/json")
	w := &discardWriter{h: http.Header{}}
	b.ReportAllocs()
	for b.Loop() {
		clear(w.h)
		rp.ServeHTTP(w, req)
	}
}
