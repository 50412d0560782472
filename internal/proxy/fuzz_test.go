package proxy

import (
	"net/http"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/gatehouse/gatehouse"
	"github.com/google/go-cmp/cmp"
)

// Seeds are also in testdata/fuzz/<FuzzName>.

// FuzzCompileRoutePattern checks that the pattern parser never panics, that
// accepted patterns round-trip and compile, and that a path built from a
// pattern matches it.
func FuzzCompileRoutePattern(f *testing.F) {
	for _, s := range []string{"/", "/x", "/x/", "/*", "/v1/orders/{id}", "/v1/{a}/x/{b}/*", "/x//y", "/{a}/{a}", "/x/*/y", "/x/..;/y"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := parsePattern(s)
		_, cerr := Compile([]gatehouse.API{testAPI("a", route(s))})
		if err != nil {
			if cerr == nil {
				t.Fatalf("Compile accepted %q, which parsePattern refuses: %v", s, err)
			}
			return
		}
		if got := p.String(); got != s {
			t.Fatalf("parsePattern(%q).String() = %q", s, got)
		}
		if cerr != nil {
			t.Fatalf("Compile refused %q, which parsePattern accepts: %v", s, cerr)
		}
		tbl := mustCompile(t, testAPI("a", route(s)))
		var b strings.Builder
		var want []Param
		for i, seg := range p.segs {
			b.WriteByte('/')
			if seg.param {
				v := "v" + string(rune('a'+i%26))
				want = append(want, Param{seg.text, v})
				b.WriteString(v)
			} else {
				b.WriteString(seg.text)
			}
		}
		if p.wildcard {
			b.WriteString("/any/thing")
		}
		path := b.String()
		if path == "" {
			path = "/"
		}
		m, ok := tbl.Match("", "GET", path)
		if !ok {
			t.Fatalf("pattern %q does not match its own path %q", s, path)
		}
		if diff := cmp.Diff(want, m.Params); diff != "" {
			t.Fatalf("pattern %q path %q params (-want +got):\n%s", s, path, diff)
		}
	})
}

// fuzzRoutes overlap in every way the precedence rules decide.
var fuzzRoutes = []struct {
	api     string
	hosts   []string
	path    string
	methods []string
}{
	{"a", nil, "/", nil},
	{"a", nil, "/v1/orders", []string{"GET"}},
	{"a", nil, "/v1/orders/{id}", []string{"GET"}},
	{"a", nil, "/v1/orders/{id}", []string{"HEAD"}},
	{"a", nil, "/v1/{kind}/{id}", nil},
	{"a", nil, "/v1/{kind}/x", []string{"POST"}},
	{"a", nil, "/v1/*", []string{"DELETE", "PUT"}},
	{"a", nil, "/v1/orders/*", []string{"GET"}},
	{"b", nil, "/v1/orders/*", []string{"POST"}},
	{"b", nil, "/{t}/a/*", nil},
	{"b", nil, "/t/{x}/*", []string{"GET"}},
	{"b", nil, "/t/", nil},
	{"c", []string{"h.example"}, "/v1/orders", nil},
	{"c", []string{"h.example"}, "/*", []string{"GET"}},
	{"c", []string{"h.example"}, "/h/{x}/", nil},
}

func fuzzTable(t testing.TB) *Table {
	byName := map[string]*gatehouse.API{}
	var apis []gatehouse.API
	for _, r := range fuzzRoutes {
		if byName[r.api] == nil {
			apis = append(apis, withHosts(testAPI(r.api), r.hosts...))
			byName[r.api] = &apis[len(apis)-1]
		}
	}
	for _, r := range fuzzRoutes {
		for i := range apis {
			if apis[i].Name == r.api {
				apis[i].Routes = append(apis[i].Routes, route(r.path, r.methods...))
			}
		}
	}
	return mustCompile(t, apis...)
}

// FuzzMatchPath compares the trie with a brute-force reference that applies
// the precedence rules as written in Compile's documentation.
func FuzzMatchPath(f *testing.F) {
	for _, s := range [][3]string{
		{"", "GET", "/v1/orders/7"}, {"h.example:80", "HEAD", "/v1/orders"}, {"", "DELETE", "/v1/orders/7"},
		{"", "GET", "/t/a/b"}, {"", "POST", "/v1/x/x"}, {"", "GET", "//"}, {"H.EXAMPLE.", "GET", "/h/1/"},
	} {
		f.Add(s[0], s[1], s[2])
	}
	tbl := fuzzTable(f)
	f.Fuzz(func(t *testing.T, host, method, path string) {
		var got string
		if m, ok := tbl.Match(host, method, path); ok {
			got = m.API.Name + " " + m.Route.Path + " " + methodList(m.Route.Methods)
			for _, p := range m.Params {
				if p.Value == "" || strings.Contains(p.Value, "/") {
					t.Fatalf("param %q = %q", p.Name, p.Value)
				}
			}
		}
		if want := referenceMatch(host, method, path); got != want {
			t.Fatalf("Match(%q, %q, %q) = %q, reference %q", host, method, path, got, want)
		}
		allowed := tbl.Allowed(host, path)
		if !slices.IsSorted(allowed) {
			t.Fatalf("Allowed not sorted: %q", allowed)
		}
		if u, ok := checkPathString(path); ok && u != path {
			t.Fatalf("checkPath changed %q to %q", path, u)
		}
	})
}

func checkPathString(p string) (string, bool) {
	req, err := http.NewRequest("GET", "http://x", nil)
	if err != nil {
		return "", false
	}
	req.URL.Path = p
	return checkPath(req.URL)
}

func referenceMatch(host, method, path string) string {
	if !strings.HasPrefix(path, "/") {
		return ""
	}
	h := canonicalHost(host)
	hostTier := false
	for _, r := range fuzzRoutes {
		hostTier = hostTier || slices.Contains(r.hosts, h)
	}
	segs := strings.Split(path[1:], "/")
	type cand struct {
		key  []int // sort key, smaller first
		name string
	}
	var best *cand
	for tier := range 2 {
		if tier == 0 && !hostTier {
			continue
		}
		for _, r := range fuzzRoutes {
			if (tier == 0) != slices.Contains(r.hosts, h) || (tier == 1 && len(r.hosts) > 0) {
				continue
			}
			pref := methodPreference(r.methods, method)
			if pref < 0 {
				continue
			}
			p, _ := parsePattern(r.path)
			if !referencePatternMatch(p, segs) {
				continue
			}
			key := []int{int(p.kind())}
			if p.wildcard {
				key = append(key, -len(p.segs))
			}
			for _, s := range p.segs {
				key = append(key, map[bool]int{false: 0, true: 1}[s.param])
			}
			key = append(key, pref)
			c := &cand{key, r.api + " " + r.path + " " + methodList(r.methods)}
			if best == nil || slices.Compare(c.key, best.key) < 0 {
				best = c
			}
		}
		if best != nil {
			return best.name
		}
	}
	return ""
}

// methodPreference ranks how a route takes method: 0 explicitly, 1 as GET
// for HEAD, 2 as any method, -1 not at all.
func methodPreference(methods []string, method string) int {
	switch {
	case methods == nil:
		return 2
	case slices.Contains(methods, method):
		return 0
	case method == http.MethodHead && slices.Contains(methods, http.MethodGet):
		return 1
	}
	return -1
}

func referencePatternMatch(p *pattern, segs []string) bool {
	if p.wildcard {
		if len(segs) < len(p.segs) {
			return false
		}
		segs = segs[:len(p.segs)]
	} else if len(segs) != len(p.segs) {
		return false
	}
	for i, s := range p.segs {
		if s.param && segs[i] == "" || !s.param && s.text != segs[i] {
			return false
		}
	}
	return true
}

// FuzzClientAddr checks the client address logic and that the forwarding
// headers the gateway sends upstream always parse.
func FuzzClientAddr(f *testing.F) {
	f.Add("10.0.0.1:1", "198.51.100.1, 10.0.0.2", "for=198.51.100.1", "example.com", false)
	f.Add("[::1]:1", "", `for="[2001:db8::1]:80";proto=https`, "[::1]:8080", true)
	f.Add("203.0.113.1:1", "1.1.1.1", "", "a", true)
	f.Add("[::1]:0", "0", "", "a", false) // an unreadable hop from a trusted peer
	trusted := prefixes("10.0.0.0/8", "::1/128")
	f.Fuzz(func(t *testing.T, remote, xff, fwd, host string, useForwarded bool) {
		h := http.Header{}
		if xff != "" {
			h["X-Forwarded-For"] = strings.Split(xff, "\n")
		}
		if fwd != "" {
			h["Forwarded"] = strings.Split(fwd, "\n")
		}
		info := &requestInfo{}
		in := &http.Request{RemoteAddr: remote, Header: h}
		info.resolveClient(in, trusted, useForwarded)
		peer, got, isTrusted := info.peer, info.client, info.trusted
		if peer != peerAddr(remote) || isTrusted != (peer.IsValid() && inPrefixes(peer, trusted)) {
			t.Fatalf("peer %v (trusted %v) for %q", peer, isTrusted, remote)
		}
		switch {
		case !peer.IsValid() && got.IsValid():
			t.Fatalf("no peer, yet client %v", got)
		case peer.IsValid() && !isTrusted && got != peer:
			t.Fatalf("untrusted peer %v, client %v", peer, got)
		// A trusted peer's client may be invalid: a hop it wrote that
		// cannot be read makes the client unknown (RFC 7239 5.2), and
		// IP rules and the plain-HTTP check fail closed on it.
		case isTrusted && !got.IsValid() && xff == "" && fwd == "":
			t.Fatalf("trusted peer %v without forwarding headers, invalid client", peer)
		case got.Zone() != "" || got.Is4In6():
			t.Fatalf("client %v not normalised", got)
		}
		for i := 0; i < len(host); i++ {
			if host[i] < ' ' || host[i] == 0x7f {
				return // the server refuses such Host headers
			}
		}
		in.Host = host
		out := http.Header{}
		setForwarding(out, in, info, true, true)
		if p := out.Get("X-Forwarded-Proto"); p != "http" && p != "https" {
			t.Fatalf("the gateway sent X-Forwarded-Proto %q", p)
		}
		for _, b := range []byte(out.Get("X-Forwarded-Host")) {
			if (b < ' ' && b != '\t') || b == 0x7f {
				t.Fatalf("the gateway sent a control character in X-Forwarded-Host: %q", out.Get("X-Forwarded-Host"))
			}
		}
		if _, ok := parseForwarded(out.Get("Forwarded")); !ok {
			t.Fatalf("the gateway sent an invalid Forwarded header: %q", out.Get("Forwarded"))
		}
		if v := out["X-Forwarded-For"]; len(v) > 0 && !validXFF(v) {
			t.Fatalf("the gateway sent an invalid X-Forwarded-For: %q", v)
		}
	})
}

// FuzzPeerAddr checks that the IPv4 fast path of peerAddr agrees with
// netip.ParseAddrPort on everything it accepts, and that peerAddr gives
// what ParseAddrPort alone would.
func FuzzPeerAddr(f *testing.F) {
	for _, s := range []string{"127.0.0.1:5555", "10.0.0.1:0", "1.2.3.4:65535", "1.2.3.4:65536", "01.2.3.4:1",
		"1.2.3.4:00080", "1.2.3.4:", "256.1.1.1:1", "[::ffff:1.2.3.4]:1", "[fe80::1%eth0]:80", "1.2.3.4:+1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		want := netip.Addr{}
		if ap, err := netip.ParseAddrPort(s); err == nil {
			want = ap.Addr().Unmap().WithZone("")
		}
		if a, ok := parseIPv4Port(s); ok && a != want {
			t.Fatalf("parseIPv4Port(%q) = %v, netip says %v", s, a, want)
		}
		if got := peerAddr(s); got != want {
			t.Fatalf("peerAddr(%q) = %v, want %v", s, got, want)
		}
	})
}

// FuzzForwarded checks that the RFC 7239 parser never panics and that what
// it accepts formats back to an equivalent value.
func FuzzForwarded(f *testing.F) {
	for _, s := range []string{
		"for=192.0.2.60;proto=http;by=203.0.113.43",
		`for="[2001:db8:cafe::17]:4711", for=unknown`,
		`host="a\"b";for=_hidden`,
		"for=a;;for=b",
		" , for=a ,",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		elems, ok := parseForwarded(s)
		if !ok {
			return
		}
		for _, e := range elems {
			if len(e) == 0 {
				t.Fatalf("empty element kept from %q", s)
			}
			_, _ = parseNode(e.get("for"))
		}
		again, ok := parseForwarded(formatForwarded(elems))
		if !ok {
			t.Fatalf("%q formatted as %q, which does not parse", s, formatForwarded(elems))
		}
		if diff := cmp.Diff(elems, again); diff != "" {
			t.Fatalf("round trip of %q (-first +second):\n%s", s, diff)
		}
	})
}
