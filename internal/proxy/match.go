package proxy

import (
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/gatehouse/gatehouse"
)

// Match is the route a request matched. Matches of routes without
// parameters are shared between requests: treat a Match as read-only.
type Match struct {
	API    *gatehouse.API
	Route  *gatehouse.Route
	Params []Param // in pattern order
	// Key identifies the route within its API (path, and methods when it
	// has any), for per-route limits and metrics; computed once at Compile.
	Key string

	api int // index in Table.apis
}

// Param is the value of one {name} segment of the matched route.
type Param struct {
	Name, Value string
}

// Param returns the value of the parameter name, or "".
func (m *Match) Param(name string) string {
	for _, p := range m.Params {
		if p.Name == name {
			return p.Value
		}
	}
	return ""
}

// Match returns the route for a request: host is the Host header (port and
// case ignored), path the decoded request path as checkPath accepted it. It
// reports false when no route takes the method and path; Allowed then tells
// 405 from 404.
//
// Matching allocates only for routes with parameters (one Match holding
// their values, which are substrings of path).
func (t *Table) Match(host, method, path string) (*Match, bool) {
	if !strings.HasPrefix(path, "/") {
		return nil, false
	}
	if len(t.hosts) > 0 {
		if tr := t.hosts[canonicalHost(host)]; tr != nil {
			if m := tr.match(t, method, path); m != nil {
				return m, true
			}
		}
	}
	if m := t.any.match(t, method, path); m != nil {
		return m, true
	}
	return nil, false
}

// Allowed returns the methods that some route takes on host and path,
// sorted, with HEAD added where GET is (RFC 9110 section 15.5.6 asks a 405
// to list them in Allow). Call it when Match failed: an empty result means
// 404, not 405.
func (t *Table) Allowed(host, path string) []string {
	if !strings.HasPrefix(path, "/") {
		return nil
	}
	var ms []string
	add := func(l *leaf) {
		for _, e := range l.entries {
			for _, m := range e.methods {
				if !slices.Contains(ms, m) {
					ms = append(ms, m)
				}
			}
		}
	}
	if tr := t.hosts[canonicalHost(host)]; tr != nil {
		tr.visit(path, add)
	}
	t.any.visit(path, add)
	if slices.Contains(ms, http.MethodGet) && !slices.Contains(ms, http.MethodHead) {
		ms = append(ms, http.MethodHead)
	}
	slices.Sort(ms)
	return ms
}

func (tr *tree) match(t *Table, method, path string) *Match {
	if e := tr.exact[path].pick(method); e != nil {
		return e.static
	}
	var vals [maxParams]string
	if tr.hasParams {
		if e := tr.root.matchFull(method, path, &vals, 0); e != nil {
			return newMatch(t, e, &vals)
		}
	}
	if tr.hasPrefix {
		s := prefixSearch{method: method, depth: -1}
		tr.root.matchPrefix(&s, path, 0, 0)
		if s.best != nil {
			if s.best.static != nil {
				return s.best.static
			}
			return newMatch(t, s.best, &s.bestVals)
		}
	}
	return nil
}

// matchFull finds a pattern with parameters that takes the whole of s,
// literal children first. s is "" or starts with "/". Each trie node is
// visited at most once, so the work is bounded by the size of the trie.
func (n *node) matchFull(method, s string, vals *[maxParams]string, k int) *entry {
	if s == "" {
		return n.full.pick(method)
	}
	seg, rest := nextSegment(s)
	if c := n.lits[seg]; c != nil {
		if e := c.matchFull(method, rest, vals, k); e != nil {
			return e
		}
	}
	if n.param != nil && seg != "" && k < maxParams {
		vals[k] = seg
		return n.param.matchFull(method, rest, vals, k+1)
	}
	return nil
}

// prefixSearch keeps the best prefix found so far: the deepest; at equal
// depth the first found, which the literal-first walk makes the one with a
// literal where the other has a parameter, leftmost first.
type prefixSearch struct {
	method   string
	best     *entry
	depth    int
	vals     [maxParams]string
	bestVals [maxParams]string
}

func (n *node) matchPrefix(s *prefixSearch, rest string, depth, k int) {
	// Here rest is "" or starts with "/": the base of a prefix pattern ending
	// at n has been matched, so "/x/*" takes "/x" and "/x/…" but not "/xy".
	if n.prefix != nil && depth > s.depth {
		if e := n.prefix.pick(s.method); e != nil {
			s.best, s.depth = e, depth
			copy(s.bestVals[:k], s.vals[:k])
		}
	}
	if rest == "" {
		return
	}
	seg, tail := nextSegment(rest)
	if c := n.lits[seg]; c != nil {
		c.matchPrefix(s, tail, depth+1, k)
	}
	if n.param != nil && seg != "" && k < maxParams {
		s.vals[k] = seg
		n.param.matchPrefix(s, tail, depth+1, k+1)
	}
}

// visit calls fn for every leaf whose pattern matches path, whatever the
// method. It is for the 405 answer, not the hot path.
func (tr *tree) visit(path string, fn func(*leaf)) {
	if l := tr.exact[path]; l != nil {
		fn(l)
	}
	tr.root.visit(path, fn)
}

func (n *node) visit(rest string, fn func(*leaf)) {
	if n.prefix != nil {
		fn(n.prefix)
	}
	if rest == "" {
		if n.full != nil {
			fn(n.full)
		}
		return
	}
	seg, tail := nextSegment(rest)
	if c := n.lits[seg]; c != nil {
		c.visit(tail, fn)
	}
	if n.param != nil && seg != "" {
		n.param.visit(tail, fn)
	}
}

// matchWithParams holds a Match and the backing array of its Params in one
// allocation for the common case of a few parameters.
type matchWithParams struct {
	m   Match
	buf [4]Param
}

func newMatch(t *Table, e *entry, vals *[maxParams]string) *Match {
	names := e.pattern.names
	var m *Match
	var ps []Param
	if len(names) <= 4 {
		mp := &matchWithParams{}
		m, ps = &mp.m, mp.buf[:len(names)]
	} else {
		m, ps = &Match{}, make([]Param, len(names))
	}
	for i, name := range names {
		ps[i] = Param{Name: name, Value: vals[i]}
	}
	*m = Match{API: &t.apis[e.api].api, Route: e.route, Params: ps, Key: e.key, api: e.api}
	return m
}

// nextSegment splits s, which starts with "/", into its first segment and
// the rest (which is "" or starts with "/").
func nextSegment(s string) (seg, rest string) {
	s = s[1:]
	if i := strings.IndexByte(s, '/'); i >= 0 {
		return s[:i], s[i:]
	}
	return s, ""
}

// canonicalHost reduces a Host header to what APIs name: no port, no
// brackets around IPv6, no trailing dot, lower case (RFC 9110 section 4.2.3:
// the host is case-insensitive). It does not allocate for a host already in
// lower case.
func canonicalHost(h string) string {
	if strings.HasPrefix(h, "[") {
		if i := strings.IndexByte(h, ']'); i > 0 {
			h = h[1:i]
		}
	} else if i := strings.LastIndexByte(h, ':'); i >= 0 && strings.IndexByte(h, ':') == i {
		h = h[:i]
	}
	h = strings.TrimSuffix(h, ".")
	return strings.ToLower(h)
}

// checkPath returns the decoded path to route, or false when the path must
// be refused with 400. Nothing is normalised: a gateway that cleaned "/a/../b"
// into "/b" for routing while the upstream saw something else would route
// by one path and serve another. So the gateway refuses what the gateway and
// an upstream could read differently:
//   - empty segments ("//") and dot segments ("." and "..", RFC 3986 section
//     5.2.4), also as "..;x", which some servers read as "..";
//   - encoded slashes (%2F): the gateway would see one segment, an upstream
//     that decodes before splitting two;
//   - backslashes, which some servers treat as slashes;
//   - NUL and other control characters.
//
// The trailing slash is kept: "/x" and "/x/" are different paths.
func checkPath(u *url.URL) (string, bool) {
	p := u.Path
	if !strings.HasPrefix(p, "/") {
		return "", false
	}
	// url.URL keeps RawPath only when it is not the default encoding of
	// Path, which any %2F makes it.
	if raw := u.RawPath; raw != "" {
		for i := 0; i+2 < len(raw); i++ {
			if raw[i] == '%' && raw[i+1] == '2' && (raw[i+2] == 'f' || raw[i+2] == 'F') {
				return "", false
			}
		}
	}
	segStart := 1
	for i := 1; i <= len(p); i++ {
		if i < len(p) {
			c := p[i]
			if c < ' ' || c == 0x7f || c == '\\' {
				return "", false
			}
			if c != '/' {
				continue
			}
		}
		seg := p[segStart:i]
		if (seg == "" && i < len(p)) || isDotSegment(seg) {
			return "", false
		}
		segStart = i + 1
	}
	return p, true
}
