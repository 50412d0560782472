package proxy

import (
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"

	"github.com/gatehouse/gatehouse"
	"github.com/google/go-cmp/cmp"
)

func prefixes(ss ...string) []netip.Prefix {
	var out []netip.Prefix
	for _, s := range ss {
		out = append(out, netip.MustParsePrefix(s))
	}
	return out
}

func TestClientAddr(t *testing.T) {
	trusted := prefixes("10.0.0.0/8", "2001:db8:ffff::/48")
	tests := []struct {
		name         string
		remote       string
		xff          []string
		forwarded    []string
		useForwarded bool
		want         string // "" for the zero Addr
	}{
		{"UntrustedPeerIgnoresHeaders", "203.0.113.9:5000", []string{"198.51.100.1"}, nil, false, "203.0.113.9"},
		{"UntrustedPeerIgnoresForwarded", "203.0.113.9:5000", nil, []string{"for=198.51.100.1"}, true, "203.0.113.9"},
		{"TrustedPeerWithoutHeader", "10.0.0.1:5000", nil, nil, false, "10.0.0.1"},
		{"TrustedPeerOneHop", "10.0.0.1:5000", []string{"198.51.100.1"}, nil, false, "198.51.100.1"},
		{"RightmostUntrusted", "10.0.0.1:5000", []string{"1.1.1.1, 198.51.100.1, 10.0.0.2"}, nil, false, "198.51.100.1"},
		{"ClientForgedLeftIsIgnored", "10.0.0.1:5000", []string{"10.9.9.9, 198.51.100.1"}, nil, false, "198.51.100.1"},
		{"SeveralLines", "10.0.0.1:5000", []string{"1.1.1.1", "198.51.100.1, 10.0.0.3"}, nil, false, "198.51.100.1"},
		{"AllTrusted", "10.0.0.1:5000", []string{"10.0.0.7, 10.0.0.2"}, nil, false, "10.0.0.7"},
		{"GarbageStopsWalk", "10.0.0.1:5000", []string{"198.51.100.1, garbage, 10.0.0.2"}, nil, false, ""},
		{"EmptyElementsSkipped", "10.0.0.1:5000", []string{"198.51.100.1, , "}, nil, false, "198.51.100.1"},
		{"EntryWithPort", "10.0.0.1:5000", []string{"198.51.100.1:1234"}, nil, false, "198.51.100.1"},
		{"IPv6Entry", "10.0.0.1:5000", []string{"2001:db8::1"}, nil, false, "2001:db8::1"},
		{"BracketedIPv6EntryWithPort", "10.0.0.1:5000", []string{"[2001:db8::1]:443"}, nil, false, "2001:db8::1"},
		{"ZoneRefused", "10.0.0.1:5000", []string{"fe80::1%eth0"}, nil, false, ""},
		{"MappedIPv4PeerTrusted", "[::ffff:10.0.0.1]:5000", []string{"198.51.100.1"}, nil, false, "198.51.100.1"},
		{"IPv6TrustedPeer", "[2001:db8:ffff::1]:5000", []string{"198.51.100.1"}, nil, false, "198.51.100.1"},
		{"IPv6UntrustedPeer", "[2001:db8::5]:5000", []string{"198.51.100.1"}, nil, false, "2001:db8::5"},
		{"UnparsablePeer", "pipe", []string{"198.51.100.1"}, nil, false, ""},
		{"ForwardedIgnoredByDefault", "10.0.0.1:5000", nil, []string{"for=198.51.100.1"}, false, "10.0.0.1"},
		{"XFFIgnoredWithForwarded", "10.0.0.1:5000", []string{"198.51.100.7"}, nil, true, "10.0.0.1"},
		{"Forwarded", "10.0.0.1:5000", nil, []string{`for=198.51.100.1;proto=https, for="[2001:db8:ffff::2]:80"`}, true, "198.51.100.1"},
		{"ForwardedIPv6", "10.0.0.1:5000", nil, []string{`for="[2001:db8::9]:4711"`}, true, "2001:db8::9"},
		{"ForwardedUnknownStops", "10.0.0.1:5000", nil, []string{"for=198.51.100.1, for=unknown, for=10.0.0.5"}, true, ""},
		{"ForwardedMalformedLine", "10.0.0.1:5000", nil, []string{"for=198.51.100.1", "for=10.0.0.5;;=x"}, true, "10.0.0.1"},
		{"ForwardedLaterLineAfterMalformed", "10.0.0.1:5000", nil, []string{"garbage=", "for=198.51.100.2"}, true, "198.51.100.2"},
		{"ForwardedWithoutForStops", "10.0.0.1:5000", nil, []string{"for=198.51.100.1, proto=https"}, true, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := http.Header{}
			for _, v := range tt.xff {
				h.Add("X-Forwarded-For", v)
			}
			for _, v := range tt.forwarded {
				h.Add("Forwarded", v)
			}
			var info requestInfo
			info.resolveClient(&http.Request{RemoteAddr: tt.remote, Header: h}, trusted, tt.useForwarded)
			got := info.client
			want := netip.Addr{}
			if tt.want != "" {
				want = netip.MustParseAddr(tt.want)
			}
			if got != want {
				t.Errorf("got %v, want %v", got, want)
			}
		})
	}
}

func TestParseForwarded(t *testing.T) {
	type fp = forwardedPair
	tests := []struct {
		in   string
		want []forwardedElement // nil with ok false
	}{
		{"for=192.0.2.60;proto=http;by=203.0.113.43", []forwardedElement{{fp{"for", "192.0.2.60"}, fp{"proto", "http"}, fp{"by", "203.0.113.43"}}}},
		{`For="[2001:db8:cafe::17]:4711"`, []forwardedElement{{fp{"for", "[2001:db8:cafe::17]:4711"}}}},
		{"for=192.0.2.43, for=198.51.100.17", []forwardedElement{{fp{"for", "192.0.2.43"}}, {fp{"for", "198.51.100.17"}}}},
		{"for=a ; proto=https ,, for=b", []forwardedElement{{fp{"for", "a"}, fp{"proto", "https"}}, {fp{"for", "b"}}}},
		{`host="a\"b\\c"`, []forwardedElement{{fp{"host", `a"b\c`}}}},
		{"", nil},
		{"for=", nil},
		{"for", nil},
		{"for=a;for=b", nil},
		{`for="unterminated`, nil},
		{"for=a b", nil},
		{"=a", nil},
		{"for=\"a\x00\"", nil},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, ok := parseForwarded(tt.in)
			if wantOK := tt.want != nil || tt.in == ""; ok != wantOK {
				t.Fatalf("ok %v, want %v (got %v)", ok, wantOK, got)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

// TestForwardingHeaders checks what the upstream is told about the client,
// through real listeners, from an untrusted client and from a trusted proxy,
// over IPv4 and IPv6 loopback.
func TestForwardingHeaders(t *testing.T) {
	forged := http.Header{
		"X-Forwarded-For":    {"6.6.6.6"},
		"X-Forwarded-Host":   {"evil.example"},
		"X-Forwarded-Proto":  {"https"},
		"X-Forwarded-Port":   {"443"},
		"X-Forwarded-Prefix": {"/admin"},
		// A client's own Forwarded, which a proxy speaking X-Forwarded-For
		// passes on untouched: never the chain the upstream gets.
		"Forwarded":        {"for=10.9.9.9;host=admin.internal;proto=https"},
		"X-Real-Ip":        {"6.6.6.6"},
		"True-Client-Ip":   {"6.6.6.6"},
		"Cf-Connecting-Ip": {"6.6.6.6"},
		"X-Client-Ip":      {"6.6.6.6"},
		"Via":              {"1.1 corp-proxy.internal"},
	}
	// Client-address headers of other proxies: only from a trusted peer.
	otherAddrs := func(kept bool) map[string][]string {
		m := map[string][]string{"True-Client-Ip": nil, "Cf-Connecting-Ip": nil, "X-Client-Ip": nil}
		if kept {
			for k := range m {
				m[k] = []string{"6.6.6.6"}
			}
		}
		return m
	}
	xNone := map[string][]string{"X-Forwarded-For": nil, "X-Forwarded-Host": nil, "X-Forwarded-Proto": nil,
		"X-Forwarded-Port": nil, "X-Forwarded-Prefix": nil, "X-Real-Ip": nil}
	with := func(ms ...map[string][]string) map[string][]string {
		out := map[string][]string{}
		for _, m := range ms {
			for k, v := range m {
				out[k] = v
			}
		}
		return out
	}
	via := func(kept bool) map[string][]string {
		if kept {
			return map[string][]string{"Via": {"1.1 corp-proxy.internal"}}
		}
		return map[string][]string{"Via": nil}
	}
	tests := []struct {
		name       string
		network    string // "tcp4" or "tcp6"
		trusted    []netip.Prefix
		forwarding string              // UpstreamPolicy.Forwarding
		rfc7239    bool                // Gateway.UseForwardedHeader
		want       map[string][]string // headers the upstream must see; nil value means absent
		client     string
	}{
		{
			name: "DefaultUntrusted", network: "tcp4",
			want: with(otherAddrs(false), via(true), map[string][]string{
				"X-Forwarded-For":    {"127.0.0.1"},
				"X-Forwarded-Proto":  {"http"},
				"X-Forwarded-Host":   {"HOST"},
				"X-Real-Ip":          {"127.0.0.1"},
				"Forwarded":          nil,
				"X-Forwarded-Port":   nil,
				"X-Forwarded-Prefix": nil,
			}),
			client: "127.0.0.1",
		},
		{
			name: "DefaultTrusted", network: "tcp4", trusted: prefixes("127.0.0.0/8"), forwarding: gatehouse.ForwardingXForwarded,
			want: with(otherAddrs(true), via(true), map[string][]string{
				"X-Forwarded-For":    {"6.6.6.6, 127.0.0.1"},
				"X-Forwarded-Proto":  {"https"},
				"X-Forwarded-Host":   {"evil.example"},
				"X-Real-Ip":          {"6.6.6.6"},
				"X-Forwarded-Port":   {"443"},
				"X-Forwarded-Prefix": {"/admin"},
				"Forwarded":          nil, // the trusted proxy's chain would lack this hop
			}),
			client: "6.6.6.6",
		},
		{
			name: "RFC7239Untrusted", network: "tcp4", forwarding: gatehouse.ForwardingRFC7239,
			want:   with(xNone, otherAddrs(false), via(true), map[string][]string{"Forwarded": {"for=127.0.0.1;host=HOST;proto=http"}}),
			client: "127.0.0.1",
		},
		{
			// The proxy speaks X-Forwarded-For: the earlier hops are
			// rebuilt from it, not taken from the Forwarded it passed on.
			name: "RFC7239Trusted", network: "tcp4", trusted: prefixes("127.0.0.0/8"), forwarding: gatehouse.ForwardingRFC7239,
			want:   with(xNone, otherAddrs(true), via(true), map[string][]string{"Forwarded": {"for=6.6.6.6, for=127.0.0.1;host=HOST;proto=http"}}),
			client: "6.6.6.6",
		},
		{
			// The proxies speak RFC 7239 (UseForwardedHeader): their chain
			// is carried on; X-Forwarded-For is not read.
			name: "RFC7239TrustedSpeaksForwarded", network: "tcp4", trusted: prefixes("127.0.0.0/8"), forwarding: gatehouse.ForwardingRFC7239, rfc7239: true,
			want:   with(xNone, otherAddrs(true), via(true), map[string][]string{"Forwarded": {`for=10.9.9.9;host=admin.internal;proto=https, for=127.0.0.1;host=HOST;proto=http`}}),
			client: "10.9.9.9",
		},
		{
			// Proxies that speak RFC 7239: the X-Forwarded-* set is built
			// from their Forwarded header; their X-Forwarded-* may be the
			// client's own and go.
			name: "DefaultTrustedSpeaksForwarded", network: "tcp4", trusted: prefixes("127.0.0.0/8"), rfc7239: true,
			want: with(otherAddrs(true), via(true), map[string][]string{
				"X-Forwarded-For":    {"10.9.9.9, 127.0.0.1"},
				"X-Forwarded-Proto":  {"https"},
				"X-Forwarded-Host":   {"admin.internal"},
				"X-Real-Ip":          {"10.9.9.9"},
				"X-Forwarded-Port":   nil,
				"X-Forwarded-Prefix": nil,
				"Forwarded":          nil,
			}),
			client: "10.9.9.9",
		},
		{
			name: "NoneUntrusted", network: "tcp4", forwarding: gatehouse.ForwardingNone,
			want:   with(xNone, otherAddrs(false), via(false), map[string][]string{"Forwarded": nil}),
			client: "127.0.0.1",
		},
		{
			name: "NoneTrusted", network: "tcp4", trusted: prefixes("127.0.0.0/8"), forwarding: gatehouse.ForwardingNone,
			want:   with(xNone, otherAddrs(false), via(false), map[string][]string{"Forwarded": nil}),
			client: "6.6.6.6",
		},
		{
			name: "BothUntrustedIPv4", network: "tcp4", forwarding: gatehouse.ForwardingBoth,
			want: with(otherAddrs(false), map[string][]string{
				"X-Forwarded-For":    {"127.0.0.1"},
				"X-Forwarded-Proto":  {"http"},
				"Forwarded":          {"for=127.0.0.1;host=HOST;proto=http"},
				"X-Real-Ip":          {"127.0.0.1"},
				"X-Forwarded-Host":   {"HOST"},
				"X-Forwarded-Port":   nil,
				"X-Forwarded-Prefix": nil,
			}),
			client: "127.0.0.1",
		},
		{
			name: "BothTrustedIPv4", network: "tcp4", trusted: prefixes("127.0.0.0/8"), forwarding: gatehouse.ForwardingBoth,
			want: with(otherAddrs(true), map[string][]string{
				"X-Forwarded-For":    {"6.6.6.6, 127.0.0.1"},
				"X-Forwarded-Proto":  {"https"},
				"X-Forwarded-Host":   {"evil.example"},
				"Forwarded":          {"for=6.6.6.6, for=127.0.0.1;host=HOST;proto=http"},
				"X-Real-Ip":          {"6.6.6.6"},
				"X-Forwarded-Port":   {"443"},
				"X-Forwarded-Prefix": {"/admin"},
			}),
			client: "6.6.6.6",
		},
		{
			name: "BothUntrustedIPv6", network: "tcp6", trusted: prefixes("127.0.0.0/8"), forwarding: gatehouse.ForwardingBoth,
			want: with(otherAddrs(false), map[string][]string{
				"X-Forwarded-For": {"::1"},
				"Forwarded":       {`for="[::1]";host=HOST;proto=http`},
				"X-Real-Ip":       {"::1"},
			}),
			client: "::1",
		},
		{
			name: "BothTrustedIPv6", network: "tcp6", trusted: prefixes("::1/128"), forwarding: gatehouse.ForwardingBoth,
			want: with(otherAddrs(true), map[string][]string{
				"X-Forwarded-For": {"6.6.6.6, ::1"},
				"Forwarded":       {`for=6.6.6.6, for="[::1]";host=HOST;proto=http`},
				"X-Real-Ip":       {"6.6.6.6"},
			}),
			client: "6.6.6.6",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			addr := "127.0.0.1:0"
			if tt.network == "tcp6" {
				addr = "[::1]:0"
			}
			l, err := net.Listen(tt.network, addr)
			if err != nil {
				t.Skipf("no %s loopback here: %v", tt.network, err)
			}
			up := echoUpstream(t, "up")
			var sawClient netip.Addr
			g := &Gateway{TrustedProxies: tt.trusted, UseForwardedHeader: tt.rfc7239, Logger: quietLogger(), Middleware: []func(http.Handler) http.Handler{
				func(next http.Handler) http.Handler {
					return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
						pr, _ := RequestFrom(r.Context())
						sawClient = pr.ClientAddr
						next.ServeHTTP(w, r)
					})
				},
			}}
			api := apiTo("a", urls(up), route("/x"))
			api.UpstreamPolicy.Forwarding = tt.forwarding
			g.Load(mustCompile(t, api))
			defer g.Close()
			gw := httptest.NewUnstartedServer(g)
			gw.Listener.Close()
			gw.Listener = l
			gw.Start()
			defer gw.Close()

			req, _ := http.NewRequest(http.MethodGet, gw.URL+"/x", nil)
			for k, v := range forged {
				req.Header[k] = v
			}
			s := doSeen(t, req)
			host := req.URL.Host
			for k, want := range tt.want {
				for i := range want {
					want[i] = replaceHost(want[i], host)
				}
				if diff := cmp.Diff(want, s.Header.Values(k)); diff != "" {
					t.Errorf("%s (-want +got):\n%s", k, diff)
				}
			}
			if sawClient != netip.MustParseAddr(tt.client) {
				t.Errorf("client address = %v, want %s", sawClient, tt.client)
			}
		})
	}
}

// replaceHost puts the gateway's host:port where a want value says HOST,
// quoted where RFC 7239 needs it (a port's ":" is not a token character).
func replaceHost(v, host string) string {
	v = strings.ReplaceAll(v, "host=HOST", `host="`+host+`"`)
	return strings.ReplaceAll(v, "HOST", host)
}

// TestSecureFrom: a trusted proxy's word on the client's scheme counts, a
// client's own does not.
func TestSecureFrom(t *testing.T) {
	trusted := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}
	for _, tc := range []struct {
		name      string
		peer      string
		forwarded bool
		hdr       map[string]string
		want      bool
	}{
		{"UntrustedPeerXFP", "203.0.113.1:1", false, map[string]string{"X-Forwarded-Proto": "https"}, false},
		{"TrustedPeerXFP", "10.1.2.3:1", false, map[string]string{"X-Forwarded-Proto": "https"}, true},
		{"TrustedPeerXFPList", "10.1.2.3:1", false, map[string]string{"X-Forwarded-Proto": "HTTPS, http"}, true},
		{"TrustedPeerHTTP", "10.1.2.3:1", false, map[string]string{"X-Forwarded-Proto": "http"}, false},
		{"TrustedPeerNoHeader", "10.1.2.3:1", false, nil, false},
		{"ForwardedProto", "10.1.2.3:1", true, map[string]string{"Forwarded": "for=198.51.100.1;proto=https, for=10.9.9.9"}, true},
		{"ForwardedModeIgnoresXFP", "10.1.2.3:1", true, map[string]string{"X-Forwarded-Proto": "https"}, false},
		{"ForwardedUnparsable", "10.1.2.3:1", true, map[string]string{"Forwarded": "for=;;proto=https"}, false},
		{"UntrustedForwarded", "203.0.113.1:1", true, map[string]string{"Forwarded": "proto=https"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got bool
			g := &Gateway{TrustedProxies: trusted, UseForwardedHeader: tc.forwarded,
				Middleware: []func(http.Handler) http.Handler{func(http.Handler) http.Handler {
					return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { got = SecureFrom(r) })
				}}}
			tbl, err := Compile([]gatehouse.API{apiTo("a", []string{"http://127.0.0.1:9"}, route("/x", "GET"))})
			if err != nil {
				t.Fatal(err)
			}
			g.Load(tbl)
			defer g.Close()
			r := httptest.NewRequest("GET", "http://example.com/x", nil)
			r.RemoteAddr = tc.peer
			for k, v := range tc.hdr {
				r.Header.Set(k, v)
			}
			g.ServeHTTP(httptest.NewRecorder(), r)
			if got != tc.want {
				t.Errorf("SecureFrom = %v, want %v", got, tc.want)
			}
			// The OAuth endpoints' view (outside the gateway) agrees.
			if _, secure := ClientOf(r, trusted, tc.forwarded); secure != tc.want {
				t.Errorf("ClientOf secure = %v, want %v", secure, tc.want)
			}
		})
	}
}

// TestClientOf: outside the gateway, the client address follows the same
// rules as inside: the peer, unless it is a trusted proxy.
func TestClientOf(t *testing.T) {
	trusted := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}
	for _, tc := range []struct {
		peer, xff, want string
	}{
		{"203.0.113.1:1", "198.51.100.1", "203.0.113.1"},
		{"10.1.2.3:1", "198.51.100.1", "198.51.100.1"},
		{"10.1.2.3:1", "198.51.100.1, 10.9.9.9", "198.51.100.1"},
		{"10.1.2.3:1", "", "10.1.2.3"},
		{"10.1.2.3:1", "not-an-address", "invalid IP"},
		{"[::ffff:10.1.2.3]:1", "2001:db8::1", "2001:db8::1"},
	} {
		r := httptest.NewRequest("GET", "http://example.com/x", nil)
		r.RemoteAddr = tc.peer
		if tc.xff != "" {
			r.Header.Set("X-Forwarded-For", tc.xff)
		}
		if got, _ := ClientOf(r, trusted, false); got.String() != tc.want {
			t.Errorf("peer %s, X-Forwarded-For %q: %v, want %s", tc.peer, tc.xff, got, tc.want)
		}
	}
}

// TestPriorForwarded: the hops before a trusted peer, as RFC 7239 elements,
// from the header the gateway reads the client from.
func TestPriorForwarded(t *testing.T) {
	tests := []struct {
		name         string
		h            http.Header
		useForwarded bool
		want         string
	}{
		{"None", http.Header{}, false, ""},
		{"XFFOne", http.Header{"X-Forwarded-For": {"203.0.113.7"}}, false, "for=203.0.113.7, "},
		{"XFFChainAndLines", http.Header{"X-Forwarded-For": {"203.0.113.7, 2001:db8::1", "10.0.0.2"}}, false,
			`for=203.0.113.7, for="[2001:db8::1]", for=10.0.0.2, `},
		{"XFFWithPortAndEmpty", http.Header{"X-Forwarded-For": {"203.0.113.7:443,, [2001:db8::2]:80"}}, false,
			`for=203.0.113.7, for="[2001:db8::2]", `},
		{"XFFMapped", http.Header{"X-Forwarded-For": {"::ffff:198.51.100.1"}}, false, "for=198.51.100.1, "},
		{"XFFGarbage", http.Header{"X-Forwarded-For": {"203.0.113.7, not-an-ip"}}, false, ""},
		{"XFFIgnoresForwarded", http.Header{"Forwarded": {"for=10.9.9.9"}}, false, ""},
		{"Forwarded", http.Header{"Forwarded": {"for=10.9.9.9;proto=https"}, "X-Forwarded-For": {"6.6.6.6"}}, true, "for=10.9.9.9;proto=https, "},
		{"ForwardedMalformed", http.Header{"Forwarded": {"for=\"unterminated"}}, true, ""},
	}
	xffTests := []struct {
		name         string
		h            http.Header
		useForwarded bool
		want         string
	}{
		{"XFF", http.Header{"X-Forwarded-For": {"203.0.113.7, 10.0.0.2"}}, false, "203.0.113.7, 10.0.0.2, "},
		{"XFFGarbage", http.Header{"X-Forwarded-For": {"nope"}}, false, ""},
		{"Forwarded", http.Header{"Forwarded": {`for=203.0.113.7;proto=https, for="[2001:db8::1]:80"`}, "X-Forwarded-For": {"6.6.6.6"}}, true, "203.0.113.7, 2001:db8::1, "},
		{"ForwardedUnknown", http.Header{"Forwarded": {"for=unknown, for=203.0.113.7"}}, true, ""},
		{"ForwardedIgnoresXFF", http.Header{"X-Forwarded-For": {"6.6.6.6"}}, true, ""},
	}
	for _, tt := range xffTests {
		t.Run("XFF/"+tt.name, func(t *testing.T) {
			if got := priorXFF(tt.h, tt.useForwarded); got != tt.want {
				t.Fatalf("priorXFF = %q, want %q", got, tt.want)
			}
		})
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := priorForwarded(tt.h, tt.useForwarded)
			if got != tt.want {
				t.Fatalf("priorForwarded = %q, want %q", got, tt.want)
			}
			if got != "" {
				if _, ok := parseForwarded(strings.TrimSuffix(got, ", ")); !ok {
					t.Fatalf("%q is not a valid Forwarded value", got)
				}
			}
		})
	}
}

// TestOrigin: the scheme and host the client used, by who the peer is and
// what its proxies speak; and SecureFrom's view, which must agree.
func TestOrigin(t *testing.T) {
	h := http.Header{
		"X-Forwarded-Proto": {"https"},
		"X-Forwarded-Host":  {"api.example, inner.example"},
		"Forwarded":         {`for=192.0.2.1;host="rfc.example:8443";proto=HTTPS, for=10.0.0.1;host=inner;proto=http`},
	}
	tests := []struct {
		name         string
		peer         string
		h            http.Header
		useForwarded bool
		scheme, host string
	}{
		{"Untrusted", "192.0.2.9:1", h, false, "http", "gw.example"},
		{"UntrustedForwarded", "192.0.2.9:1", h, true, "http", "gw.example"},
		{"TrustedXForwarded", "10.0.0.2:1", h, false, "https", "api.example"},
		// The walk passes 10.0.0.1 (a trusted proxy) and stops at the
		// element naming 192.0.2.1: the outermost proxy's view.
		{"TrustedForwarded", "10.0.0.2:1", h, true, "https", "rfc.example:8443"},
		// A client's own element in front proves nothing.
		{"TrustedForwardedClientElement", "10.0.0.2:1", http.Header{"Forwarded": {
			"for=192.0.2.66;proto=https;host=evil.example, for=203.0.113.9;proto=http;host=api.example"}}, true, "http", "api.example"},
		{"TrustedNoHeaders", "10.0.0.2:1", http.Header{}, false, "http", "gw.example"},
		{"TrustedProtoCase", "10.0.0.2:1", http.Header{"X-Forwarded-Proto": {"HTTPS, http"}}, false, "https", "gw.example"},
		{"TrustedBadProto", "10.0.0.2:1", http.Header{"X-Forwarded-Proto": {"ftp"}, "X-Forwarded-Host": {" , x"}}, false, "http", "gw.example"},
		{"TrustedForwardedMalformed", "10.0.0.2:1", http.Header{"Forwarded": {`host="unterminated`}}, true, "http", "gw.example"},
		{"TrustedForwardedNoHost", "10.0.0.2:1", http.Header{"Forwarded": {"for=192.0.2.1;proto=https"}}, true, "https", "gw.example"},
	}
	trusted := prefixes("10.0.0.0/8")
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := &http.Request{Host: "gw.example", Header: tt.h, RemoteAddr: tt.peer}
			info := &requestInfo{}
			info.resolveClient(r, trusted, tt.useForwarded)
			if scheme, host := origin(r, info); scheme != tt.scheme || host != tt.host {
				t.Fatalf("origin = %s, %s; want %s, %s", scheme, host, tt.scheme, tt.host)
			}
			if _, sec := ClientOf(r, trusted, tt.useForwarded); sec != (tt.scheme == "https") {
				t.Fatalf("ClientOf secure = %v, origin scheme %s", sec, tt.scheme)
			}
		})
	}
}
