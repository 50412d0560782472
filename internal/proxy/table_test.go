package proxy

import (
	"net/url"
	"strings"
	"testing"

	"github.com/gatehouse/gatehouse"
	"github.com/google/go-cmp/cmp"
)

func route(path string, methods ...string) gatehouse.Route {
	return gatehouse.Route{Path: path, Methods: methods}
}

// testAPI is a published API with one (unreachable) target.
func testAPI(name string, routes ...gatehouse.Route) gatehouse.API {
	return gatehouse.API{
		Name:     name,
		Audience: "https://" + name + ".example",
		Upstream: gatehouse.Upstream{Targets: []string{"http://127.0.0.1:9"}},
		Routes:   routes,
	}
}

func withHosts(a gatehouse.API, hosts ...string) gatehouse.API {
	a.Hosts = hosts
	return a
}

func mustCompile(t testing.TB, apis ...gatehouse.API) *Table {
	t.Helper()
	tbl, err := Compile(apis)
	if err != nil {
		t.Fatalf("Compile: %v", err)
	}
	return tbl
}

func TestMatchPrecedence(t *testing.T) {
	tbl := mustCompile(t,
		testAPI("orders",
			route("/v1/orders", "GET"),
			route("/v1/orders/special", "GET"),
			route("/v1/orders/{id}", "GET"),
			route("/v1/orders/{id}/items"),
			route("/v1/{kind}/x", "GET"),
			route("/v1/orders/*", "GET"),
			route("/v1/*", "POST", "PUT", "DELETE"),
			route("/slash/"),
			route("/slash"),
			route("/"),
		),
		testAPI("files",
			route("/files/*"),
			route("/files/public/*"),
			route("/t/{tenant}/*"),
			route("/t/admin/*"),
			route("/t/{tenant}/a/*"),
			route("/head", "HEAD"),
			route("/head", "GET"),
		),
	)
	tests := []struct {
		name, method, path string
		wantAPI, wantRoute string
		wantParams         []Param
	}{
		{"ExactBeatsParams", "GET", "/v1/orders/special", "orders", "/v1/orders/special", nil},
		{"Exact", "GET", "/v1/orders", "orders", "/v1/orders", nil},
		{"Params", "GET", "/v1/orders/42", "orders", "/v1/orders/{id}", []Param{{"id", "42"}}},
		{"ParamsBeatPrefix", "GET", "/v1/orders/42/items", "orders", "/v1/orders/{id}/items", []Param{{"id", "42"}}},
		{"LeftmostLiteralWins", "GET", "/v1/orders/x", "orders", "/v1/orders/{id}", []Param{{"id", "x"}}},
		{"ParamWhenNoLiteral", "GET", "/v1/users/x", "orders", "/v1/{kind}/x", []Param{{"kind", "users"}}},
		{"MethodFallsThroughToPrefix", "DELETE", "/v1/orders/42", "orders", "/v1/*", nil},
		{"PrefixForMethod", "POST", "/v1/orders", "orders", "/v1/*", nil},
		{"PrefixMatchesBase", "POST", "/v1", "orders", "/v1/*", nil},
		{"LongerPrefix", "GET", "/v1/orders/42/other", "orders", "/v1/orders/*", nil},
		{"HeadUsesGet", "HEAD", "/v1/orders/42", "orders", "/v1/orders/{id}", []Param{{"id", "42"}}},
		{"ExplicitHeadBeatsGet", "HEAD", "/head", "files", "/head", nil},
		{"TrailingSlashIsSignificant", "GET", "/slash/", "orders", "/slash/", nil},
		{"NoTrailingSlash", "GET", "/slash", "orders", "/slash", nil},
		{"Root", "GET", "/", "orders", "/", nil},
		{"LongestPrefix", "GET", "/files/public/a/b", "files", "/files/public/*", nil},
		{"ShorterPrefix", "GET", "/files/private", "files", "/files/*", nil},
		{"PrefixBaseWithoutSlash", "GET", "/files", "files", "/files/*", nil},
		{"PrefixWithSlash", "GET", "/files/", "files", "/files/*", nil},
		{"PrefixLiteralBeatsParamAtSameDepth", "GET", "/t/admin/x", "files", "/t/admin/*", nil},
		{"PrefixParam", "GET", "/t/acme/x", "files", "/t/{tenant}/*", []Param{{"tenant", "acme"}}},
		{"DeeperPrefixBeatsLiteral", "GET", "/t/admin/a/b", "files", "/t/{tenant}/a/*", []Param{{"tenant", "admin"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, ok := tbl.Match("example.com", tt.method, tt.path)
			if !ok {
				t.Fatalf("Match(%s %s) found nothing", tt.method, tt.path)
			}
			if m.API.Name != tt.wantAPI || m.Route.Path != tt.wantRoute {
				t.Errorf("got API %q route %q, want %q %q", m.API.Name, m.Route.Path, tt.wantAPI, tt.wantRoute)
			}
			if diff := cmp.Diff(tt.wantParams, m.Params); diff != "" {
				t.Errorf("params (-want +got):\n%s", diff)
			}
			for _, p := range tt.wantParams {
				if got := m.Param(p.Name); got != p.Value {
					t.Errorf("Param(%q) = %q, want %q", p.Name, got, p.Value)
				}
			}
		})
	}
}

func TestMatchMisses(t *testing.T) {
	tbl := mustCompile(t, testAPI("a",
		route("/v1/*", "POST", "PUT"),
		route("/v1/orders/{id}", "GET"),
		route("/files/*"),
		route("/only", "GET"),
	))
	tests := []struct {
		name, method, path string
		wantAllow          []string
	}{
		{"UnknownPath", "GET", "/nothing", nil},
		{"PrefixIsSegmentWise", "GET", "/filesystem", nil},
		{"ParamNeedsASegment", "GET", "/v2/orders/", nil},
		{"MethodNotAllowed", "GET", "/v1/other", []string{"POST", "PUT"}},
		{"AllowUnionOfMatchingRoutes", "DELETE", "/v1/orders/1", []string{"GET", "HEAD", "POST", "PUT"}},
		{"AllowAddsHead", "POST", "/only", []string{"GET", "HEAD"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if m, ok := tbl.Match("", tt.method, tt.path); ok {
				t.Fatalf("Match(%s %s) = %q, want no match", tt.method, tt.path, m.Route.Path)
			}
			if diff := cmp.Diff(tt.wantAllow, tbl.Allowed("", tt.path)); diff != "" {
				t.Errorf("Allowed (-want +got):\n%s", diff)
			}
		})
	}
}

func TestMatchHosts(t *testing.T) {
	tbl := mustCompile(t,
		withHosts(testAPI("internal", route("/v1/orders"), route("/only-internal")), "API.Example.com", "[2001:db8::1]"),
		testAPI("public", route("/v1/orders"), route("/v1/*")),
	)
	tests := []struct {
		name, host, path string
		want             string // API name, "" for no match
	}{
		{"HostSpecificWins", "api.example.com", "/v1/orders", "internal"},
		{"CaseInsensitive", "API.EXAMPLE.COM", "/v1/orders", "internal"},
		{"PortIgnored", "api.example.com:8443", "/v1/orders", "internal"},
		{"TrailingDot", "api.example.com.", "/v1/orders", "internal"},
		{"IPv6Host", "[2001:db8::1]:443", "/v1/orders", "internal"},
		{"FallsBackToAnyHost", "api.example.com", "/v1/other", "public"},
		{"OtherHost", "www.example.com", "/v1/orders", "public"},
		{"EmptyHost", "", "/v1/orders", "public"},
		{"HostOnlyRouteElsewhere", "www.example.com", "/only-internal", ""},
		{"HostOnlyRoute", "api.example.com", "/only-internal", "internal"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, ok := tbl.Match(tt.host, "GET", tt.path)
			got := ""
			if ok {
				got = m.API.Name
			}
			if got != tt.want {
				t.Errorf("Match(%q, %q) = %q, want %q", tt.host, tt.path, got, tt.want)
			}
		})
	}
}

func TestCompileConflicts(t *testing.T) {
	tests := []struct {
		name string
		apis []gatehouse.API
		want []string // substrings of the error; none means no error
	}{
		{
			name: "SamePatternAcrossAPIs",
			apis: []gatehouse.API{testAPI("a", route("/x", "GET")), testAPI("b", route("/x", "GET", "POST"))},
			want: []string{`API "a" route "/x" [GET]`, `API "b" route "/x" [GET POST]`, "on any host"},
		},
		{
			name: "ParamNamesDoNotMatter",
			apis: []gatehouse.API{testAPI("a", route("/x/{id}")), testAPI("b", route("/x/{name}", "GET"))},
			want: []string{`"a" route "/x/{id}" [any method]`, `"b" route "/x/{name}" [GET]`},
		},
		{
			name: "SamePrefix",
			apis: []gatehouse.API{testAPI("a", route("/x/*")), testAPI("b", route("/x/*"))},
			want: []string{`"a" route "/x/*"`, `"b" route "/x/*"`},
		},
		{
			name: "WithinOneAPI",
			apis: []gatehouse.API{testAPI("a", route("/x", "GET"), route("/x"))},
			want: []string{`API "a" route "/x" [GET] and API "a" route "/x" [any method]`},
		},
		{
			name: "SharedHost",
			apis: []gatehouse.API{
				withHosts(testAPI("a", route("/x")), "one.example", "two.example"),
				withHosts(testAPI("b", route("/x")), "TWO.example"),
			},
			want: []string{"on host two.example", `"a"`, `"b"`},
		},
		{
			name: "EveryConflictReported",
			apis: []gatehouse.API{testAPI("a", route("/x"), route("/y")), testAPI("b", route("/x"), route("/y"))},
			want: []string{`"a" route "/x"`, `"a" route "/y"`},
		},
		{
			name: "DisjointMethodsShare",
			apis: []gatehouse.API{testAPI("a", route("/x", "GET")), testAPI("b", route("/x", "POST"))},
		},
		{
			name: "HostAndAnyHostCoexist",
			apis: []gatehouse.API{withHosts(testAPI("a", route("/x")), "one.example"), testAPI("b", route("/x"))},
		},
		{
			name: "DifferentKindsCoexist",
			apis: []gatehouse.API{testAPI("a", route("/x")), testAPI("b", route("/x/*")), testAPI("c", route("/{p}"))},
		},
		{
			name: "DraftIsAbsent",
			apis: []gatehouse.API{testAPI("a", route("/x")), {Name: "b", Lifecycle: gatehouse.LifecycleDraft, Routes: []gatehouse.Route{route("/x"), route("bad")}}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Compile(tt.apis)
			if len(tt.want) == 0 {
				if err != nil {
					t.Fatalf("Compile: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatal("Compile succeeded, want a conflict")
			}
			if got := gatehouse.ErrorCode(err); got != gatehouse.CodeInvalid {
				t.Errorf("error code %q, want %q", got, gatehouse.CodeInvalid)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

func TestCompileErrors(t *testing.T) {
	bad := func(mod func(*gatehouse.API)) []gatehouse.API {
		a := testAPI("a", route("/x"))
		mod(&a)
		return []gatehouse.API{a}
	}
	tests := []struct {
		name string
		apis []gatehouse.API
		want string
	}{
		{"BadPattern", bad(func(a *gatehouse.API) { a.Routes[0].Path = "/x/*/y" }), "* only as its whole last segment"},
		{"NoTargets", bad(func(a *gatehouse.API) { a.Upstream.Targets = nil }), "no upstream targets"},
		{"BadTarget", bad(func(a *gatehouse.API) { a.Upstream.Targets = []string{"ftp://x"} }), "http or https"},
		{"TargetWithQuery", bad(func(a *gatehouse.API) { a.Upstream.Targets = []string{"http://x/?a=b"} }), "query"},
		// The message never shows a target's user info or query.
		{"TargetWithUserInfo", bad(func(a *gatehouse.API) { a.Upstream.Targets = []string{"http://svc:S3cretPass@x/"} }), `"http://REDACTED@x/" must not contain user info`},
		{"TargetWithSecretQuery", bad(func(a *gatehouse.API) { a.Upstream.Targets = []string{"http://x/?key=S3cretPass"} }), `"http://x/?REDACTED" must not have a query`},
		{"BadBalance", bad(func(a *gatehouse.API) { a.UpstreamPolicy.Balance = "random" }), "unknown balance"},
		{"BadLifecycle", bad(func(a *gatehouse.API) { a.Lifecycle = "gone" }), "unknown lifecycle"},
		{"BadMethod", bad(func(a *gatehouse.API) { a.Routes[0].Methods = []string{"GET POST"} }), "not an HTTP method"},
		{"HostWithPort", bad(func(a *gatehouse.API) { a.Hosts = []string{"a.example:443"} }), "without port"},
		{"WildcardHost", bad(func(a *gatehouse.API) { a.Hosts = []string{"*.example"} }), "without port or wildcard"},
		{"HealthPath", bad(func(a *gatehouse.API) { a.UpstreamPolicy.HealthPath = "healthz" }), "must start with /"},
		{"DuplicateName", []gatehouse.API{testAPI("a", route("/x")), testAPI("a", route("/y"))}, "listed twice"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Compile(tt.apis)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Compile error %v, want one containing %q", err, tt.want)
			}
		})
	}
}

func TestCompileCopies(t *testing.T) {
	apis := []gatehouse.API{testAPI("a", route("/x", "GET"))}
	tbl := mustCompile(t, apis...)
	apis[0].Routes[0].Path = "/changed"
	apis[0].Routes[0].Methods[0] = "POST"
	m, ok := tbl.Match("", "GET", "/x")
	if !ok || m.Route.Path != "/x" || m.Route.Methods[0] != "GET" {
		t.Fatalf("the table changed with the caller's APIs: %+v", m)
	}
}

func TestParsePattern(t *testing.T) {
	good := []string{"/", "/x", "/x/", "/*", "/x/*", "/x/{id}", "/x/{id}/", "/x/{a}/{b_2}/*", "/a;b", "/%41"}
	for _, s := range good {
		p, err := parsePattern(s)
		if err != nil {
			t.Errorf("parsePattern(%q): %v", s, err)
			continue
		}
		if got := p.String(); got != s {
			t.Errorf("parsePattern(%q).String() = %q", s, got)
		}
	}
	bad := []string{"", "x", "//", "/x//y", "/x/../y", "/./x", "/x/..;y", "/x/*/y", "/x*", "/{id", "/{1d}", "/{a}/{a}",
		"/x?y", "/x#y", "/x y", "/x\\y", "/x\x00", "/{}"}
	for _, s := range bad {
		if _, err := parsePattern(s); err == nil {
			t.Errorf("parsePattern(%q) succeeded, want an error", s)
		}
	}
}

func TestCheckPath(t *testing.T) {
	tests := []struct {
		target string // request-target as sent
		ok     bool
	}{
		{"/", true},
		{"/v1/orders", true},
		{"/v1/orders/", true},
		{"/v1/a..b", true},
		{"/v1/%41", true},
		{"/v1/a%252Fb", true}, // a literal %2F after decoding: one segment for everyone
		{"/v1/a%20b", true},
		{"/v1//orders", false},
		{"//", false},
		{"/v1/../admin", false},
		{"/v1/%2e%2e/admin", false},
		{"/v1/.", false},
		{"/v1/..;/admin", false},
		{"/v1/a%2Fb", false},
		{"/v1/a%2fb", false},
		{"/v1/a%00", false},
		{"/v1/a%0Ab", false},
		{"/v1/a%5Cb", false},
		{"*", false},
	}
	for _, tt := range tests {
		t.Run(tt.target, func(t *testing.T) {
			u, err := url.ParseRequestURI(tt.target)
			if err != nil {
				t.Fatal(err)
			}
			if _, ok := checkPath(u); ok != tt.ok {
				t.Errorf("checkPath(%q) = %v, want %v", tt.target, ok, tt.ok)
			}
		})
	}
}
