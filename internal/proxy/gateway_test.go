package proxy

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse"
	"github.com/google/go-cmp/cmp"
)

func TestGatewayRouting(t *testing.T) {
	up := echoUpstream(t, "up")
	gw := serveGateway(t, &Gateway{}, apiTo("orders", urls(up),
		route("/v1/orders/{id}", "GET"),
		route("/v1/*", "POST"),
	))
	addr := strings.TrimPrefix(gw.URL, "http://")

	t.Run("Proxied", func(t *testing.T) {
		s := getSeen(t, gw.URL+"/v1/orders/42?x=1")
		if s.Path != "/v1/orders/42" || s.Query != "x=1" || s.Method != "GET" {
			t.Errorf("upstream saw %s %s?%s", s.Method, s.Path, s.Query)
		}
		if s.Host != strings.TrimPrefix(up.URL, "http://") {
			t.Errorf("upstream Host %q, want the target's", s.Host)
		}
	})
	t.Run("NotFound", func(t *testing.T) {
		res, body := get(t, gw.URL+"/nothing")
		e := decodeError(t, res, body, http.StatusNotFound)
		if e.Error != "not_found" {
			t.Errorf("error %q", e.Error)
		}
	})
	t.Run("MethodNotAllowed", func(t *testing.T) {
		req, _ := http.NewRequest(http.MethodDelete, gw.URL+"/v1/orders/42", nil)
		res, body := do(t, req)
		e := decodeError(t, res, body, http.StatusMethodNotAllowed)
		if e.Error != "method_not_allowed" {
			t.Errorf("error %q", e.Error)
		}
		if got := res.Header.Get("Allow"); got != "GET, HEAD, POST" {
			t.Errorf("Allow %q, want GET, HEAD, POST", got)
		}
	})
	badPaths := []string{
		"/v1/orders/../admin", "/v1/orders/%2e%2e/admin", "/v1//orders/1", "/v1/orders/a%2Fb",
		"/v1/orders/a%00", "/v1/orders/a%5Cb", "/v1/orders/..;/x", "*",
	}
	for _, p := range badPaths {
		t.Run("BadPath"+p, func(t *testing.T) {
			res, body := rawRequest(t, addr, "GET "+p+" HTTP/1.1\r\nHost: example.com\r\nConnection: close\r\n\r\n")
			e := decodeError(t, res, body, http.StatusBadRequest)
			if e.Error != "bad_request" {
				t.Errorf("error %q", e.Error)
			}
		})
	}
	t.Run("EncodedCharactersReachUpstreamAsSent", func(t *testing.T) {
		res, body := rawRequest(t, addr, "GET /v1/orders/a%20b%252F HTTP/1.1\r\nHost: example.com\r\nConnection: close\r\n\r\n")
		s := decodeSeen(t, res, body)
		if s.Path != "/v1/orders/a%20b%252F" {
			t.Errorf("upstream path %q", s.Path)
		}
	})
}

func TestGatewayTargetBasePath(t *testing.T) {
	up := echoUpstream(t, "up")
	gw := serveGateway(t, &Gateway{}, apiTo("a", []string{up.URL + "/base/"}, route("/v1/*")))
	s := getSeen(t, gw.URL+"/v1/x%20y")
	if s.Path != "/base/v1/x%20y" {
		t.Errorf("upstream path %q, want /base/v1/x%%20y", s.Path)
	}
}

func TestGatewayNoTable(t *testing.T) {
	g := &Gateway{Logger: quietLogger()}
	srv := httptest.NewServer(g)
	defer srv.Close()
	res, body := get(t, srv.URL+"/x")
	if e := decodeError(t, res, body, http.StatusServiceUnavailable); e.Error != "unavailable" {
		t.Errorf("error %q", e.Error)
	}
}

func TestGatewayLifecycle(t *testing.T) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// An upstream with its own opinion, which the gateway's replaces.
		w.Header().Set("Deprecation", "@1")
		w.Header().Set("Sunset", "Thu, 01 Jan 1970 00:00:00 GMT")
		w.Header().Set("X-Request-Id", "upstream-made")
		w.WriteHeader(http.StatusOK)
	}))
	defer up.Close()
	sunset := time.Date(2030, 6, 30, 23, 59, 59, 0, time.UTC)
	published := apiTo("published", urls(up), route("/published"))
	deprecated := apiTo("deprecated", urls(up), route("/deprecated"))
	deprecated.Lifecycle, deprecated.SunsetAt = gatehouse.LifecycleDeprecated, sunset
	deprecated.DeprecatedAt = time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	undated := apiTo("undated", urls(up), route("/undated"))
	undated.Lifecycle = gatehouse.LifecycleDeprecated
	retired := apiTo("retired", nil, route("/retired/*"))
	retired.Lifecycle = gatehouse.LifecycleRetired
	draft := apiTo("draft", urls(up), route("/draft"), route("/published"))
	draft.Lifecycle = gatehouse.LifecycleDraft
	gw := serveGateway(t, &Gateway{}, published, deprecated, undated, retired, draft)

	t.Run("Published", func(t *testing.T) {
		res, _ := get(t, gw.URL+"/published")
		if res.StatusCode != http.StatusOK {
			t.Fatalf("status %d", res.StatusCode)
		}
		if got := res.Header.Values("X-Request-Id"); len(got) != 1 || got[0] == "upstream-made" {
			t.Errorf("X-Request-Id %q, want only the gateway's", got)
		}
	})
	t.Run("Deprecated", func(t *testing.T) {
		res, _ := get(t, gw.URL+"/deprecated")
		if res.StatusCode != http.StatusOK {
			t.Fatalf("status %d", res.StatusCode)
		}
		// RFC 9745: an sf-date, @ and the epoch seconds of DeprecatedAt.
		if diff := cmp.Diff([]string{"@1793491200"}, res.Header.Values("Deprecation")); diff != "" {
			t.Errorf("Deprecation (-want +got):\n%s", diff)
		}
		if diff := cmp.Diff([]string{"Sun, 30 Jun 2030 23:59:59 GMT"}, res.Header.Values("Sunset")); diff != "" {
			t.Errorf("Sunset (-want +got):\n%s", diff)
		}
	})
	t.Run("DeprecatedWithoutSunset", func(t *testing.T) {
		res, _ := get(t, gw.URL+"/undated")
		if res.Header.Get("Deprecation") != "@0" || len(res.Header.Values("Sunset")) != 0 {
			t.Errorf("Deprecation %q Sunset %q", res.Header.Get("Deprecation"), res.Header.Values("Sunset"))
		}
	})
	t.Run("Retired", func(t *testing.T) {
		res, body := get(t, gw.URL+"/retired/anything")
		e := decodeError(t, res, body, http.StatusGone)
		if diff := cmp.Diff(errorBody{"gone", "this API was retired", e.RequestID}, e); diff != "" {
			t.Errorf("body (-want +got):\n%s", diff)
		}
	})
	t.Run("DraftIsAbsent", func(t *testing.T) {
		res, body := get(t, gw.URL+"/draft")
		decodeError(t, res, body, http.StatusNotFound)
	})
}

func TestGatewayCredentialsNeverForwarded(t *testing.T) {
	up := echoUpstream(t, "up")
	keyRoute := route("/key")
	keyRoute.Credential = gatehouse.CredentialAPIKey
	queryRoute := route("/query")
	queryRoute.AllowQueryToken = true
	g := &Gateway{
		UpstreamHeaders: func(r *http.Request, out http.Header) {
			out.Set("X-Gatehouse-Request-Id", RequestIDFrom(r.Context()))
			out.Set("X-Gatehouse-Subject", r.Context().Value(subjectKey{}).(string))
		},
		Middleware: []func(http.Handler) http.Handler{func(next http.Handler) http.Handler {
			return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				ctx := context.WithValue(r.Context(), subjectKey{}, "user-from-token")
				next.ServeHTTP(w, r.WithContext(ctx))
			})
		}},
	}
	gw := serveGateway(t, g, apiTo("a", urls(up), route("/bearer"), keyRoute, queryRoute))

	send := func(path string) seen {
		req, _ := http.NewRequest(http.MethodGet, gw.URL+path, nil)
		req.Header.Set("Authorization", "Bearer secret-token")
		req.Header.Set("X-Api-Key", "secret-key")
		req.Header.Set("X-Gatehouse-Subject", "forged")
		req.Header.Set("X-Gatehouse-Client-Id", "forged")
		req.Header.Set("Cookie", "session=kept")
		return doSeen(t, req)
	}
	for _, path := range []string{"/bearer", "/key", "/query?a=1&access_token=secret&b=2"} {
		s := send(path)
		if v := s.Header.Values("Authorization"); len(v) != 0 {
			t.Errorf("%s: upstream got Authorization %q", path, v)
		}
		if got := s.Header.Get("X-Gatehouse-Subject"); got != "user-from-token" {
			t.Errorf("%s: X-Gatehouse-Subject %q, want the hook's", path, got)
		}
		if v := s.Header.Values("X-Gatehouse-Client-Id"); len(v) != 0 {
			t.Errorf("%s: the client's X-Gatehouse-Client-Id reached the upstream: %q", path, v)
		}
		if got, want := s.Header.Get("X-Gatehouse-Request-Id"), s.Header.Get("X-Request-Id"); got == "" || got != want {
			t.Errorf("%s: X-Gatehouse-Request-Id %q, X-Request-Id %q", path, got, want)
		}
		if got := s.Header.Get("Cookie"); got != "session=kept" {
			t.Errorf("%s: Cookie %q, want it kept", path, got)
		}
		switch path {
		case "/bearer":
			if v := s.Header.Values("X-Api-Key"); len(v) != 0 {
				t.Errorf("X-Api-Key forwarded on a bearer route: %v", v)
			}
		case "/key":
			if v := s.Header.Values("X-Api-Key"); len(v) != 0 {
				t.Errorf("upstream got the client's API key %q", v)
			}
		default:
			if s.Query != "a=1&b=2" {
				t.Errorf("upstream query %q, want a=1&b=2", s.Query)
			}
		}
	}
}

type subjectKey struct{}

func TestGatewayMiddleware(t *testing.T) {
	up := echoUpstream(t, "up")
	var order []string
	type observed struct {
		route, id string
		client    netip.Addr
	}
	var got observed
	mw := func(name string) func(http.Handler) http.Handler {
		return func(next http.Handler) http.Handler {
			return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				order = append(order, name)
				pr, _ := RequestFrom(r.Context())
				got = observed{pr.Match.Route.Path + " " + pr.Match.Param("id"), pr.ID, pr.ClientAddr}
				if r.Header.Get("Authorization") == "" {
					w.Header().Set("WWW-Authenticate", "Bearer")
					WriteError(w, r, http.StatusUnauthorized, "invalid_token", "a bearer token is required")
					return
				}
				next.ServeHTTP(w, r)
			})
		}
	}
	g := &Gateway{Middleware: []func(http.Handler) http.Handler{mw("first"), mw("second")}}
	gw := serveGateway(t, g, apiTo("a", urls(up), route("/x/{id}")))

	res, body := get(t, gw.URL+"/x/7")
	e := decodeError(t, res, body, http.StatusUnauthorized)
	if e.Error != "invalid_token" || res.Header.Get("WWW-Authenticate") != "Bearer" {
		t.Errorf("refusal %+v, WWW-Authenticate %q", e, res.Header.Get("WWW-Authenticate"))
	}
	want := observed{"/x/{id} 7", e.RequestID, netip.MustParseAddr("127.0.0.1")}
	if got != want {
		t.Errorf("middleware saw %+v, want %+v", got, want)
	}

	order = nil
	req, _ := http.NewRequest(http.MethodGet, gw.URL+"/x/7", nil)
	req.Header.Set("Authorization", "Bearer t")
	doSeen(t, req)
	if diff := cmp.Diff([]string{"first", "second"}, order); diff != "" {
		t.Errorf("order (-want +got):\n%s", diff)
	}

	t.Run("NotRunForUnroutedRequests", func(t *testing.T) {
		order = nil
		res, body := get(t, gw.URL+"/nothing")
		decodeError(t, res, body, http.StatusNotFound)
		if len(order) != 0 {
			t.Errorf("middleware ran for a 404: %q", order)
		}
	})
}

func TestGatewayRequestID(t *testing.T) {
	up := echoUpstream(t, "up")
	api := apiTo("a", urls(up), route("/x"))
	tests := []struct {
		name     string
		trusted  []netip.Prefix
		incoming string
		wantKept bool
	}{
		{"UntrustedReplaced", nil, "client-chosen", false},
		{"TrustedKept", []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}, "lb-1234", true},
		{"TrustedButInvalid", []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}, "bad id\twith tab", false},
		{"TrustedButTooLong", []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}, strings.Repeat("a", 129), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			gw := serveGateway(t, &Gateway{TrustedProxies: tt.trusted}, api)
			req, _ := http.NewRequest(http.MethodGet, gw.URL+"/x", nil)
			req.Header.Set("X-Request-Id", tt.incoming)
			res, body := do(t, req)
			s := decodeSeen(t, res, body)
			id := res.Header.Get("X-Request-Id")
			if upID := s.Header.Get("X-Request-Id"); upID != id {
				t.Errorf("upstream got id %q, client %q", upID, id)
			}
			if kept := id == tt.incoming; kept != tt.wantKept {
				t.Errorf("id %q, incoming %q: kept %v, want %v", id, tt.incoming, kept, tt.wantKept)
			}
			if !tt.wantKept && len(id) != 32 {
				t.Errorf("generated id %q, want 32 hex digits", id)
			}
		})
	}
}

// TestRequestIDsUnique draws many generated ids: all 32 hex digits, no two
// alike.
func TestRequestIDsUnique(t *testing.T) {
	seen := map[string]bool{}
	for range 100000 {
		id := requestID(nil, false)
		if len(id) != 32 || strings.Trim(id, "0123456789abcdef") != "" {
			t.Fatalf("id %q: want 32 lower-case hex digits", id)
		}
		if seen[id] {
			t.Fatalf("id %q generated twice", id)
		}
		seen[id] = true
	}
}

// TestSetClaims: claims a middleware records are seen by the later ones and
// by UpstreamHeaders, on the same request; outside the chain nothing is
// recorded.
func TestSetClaims(t *testing.T) {
	up := echoUpstream(t, "up")
	claims := &gatehouse.AccessClaims{ID: "jti", ClientID: "app"}
	var seen, sentUp *gatehouse.AccessClaims
	var set bool
	first := func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			set = SetClaims(r.Context(), claims)
			next.ServeHTTP(w, r)
		})
	}
	second := func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			pr, _ := RequestFrom(r.Context())
			seen = pr.Claims
			next.ServeHTTP(w, r)
		})
	}
	g := &Gateway{Middleware: []func(http.Handler) http.Handler{first, second},
		UpstreamHeaders: func(r *http.Request, _ http.Header) {
			pr, _ := RequestFrom(r.Context())
			sentUp = pr.Claims
		}}
	gw := serveGateway(t, g, apiTo("a", urls(up), route("/x")))
	res, _ := get(t, gw.URL+"/x")
	if res.StatusCode != http.StatusOK || !set || seen != claims || sentUp != claims {
		t.Errorf("status %d, set %v, middleware saw %v, UpstreamHeaders saw %v; want %v", res.StatusCode, set, seen, sentUp, claims)
	}
	if SetClaims(t.Context(), claims) {
		t.Error("SetClaims outside the gateway reported true")
	}
}
