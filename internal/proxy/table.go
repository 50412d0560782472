package proxy

import (
	"fmt"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gatehouse/gatehouse"
)

// Table is an immutable routing snapshot compiled from the APIs. A Gateway
// serves each request from the Table that was loaded when the request
// arrived, so a reload never changes the route of a request in flight.
type Table struct {
	apis  []compiledAPI
	hosts map[string]*tree // APIs that name their hosts, by canonical host
	any   *tree            // APIs that serve every host
}

// compiledAPI is one routed API with what the gateway needs precomputed.
type compiledAPI struct {
	api     gatehouse.API // a deep copy: the caller's slices may change later
	targets []*url.URL
	policy  policy
	sunset  string // RFC 8594 Sunset value, "" when not deprecated or no date
	// deprecation is the RFC 9745 Deprecation value (@epoch-seconds), ""
	// when not deprecated.
	deprecation string
}

// tree routes the APIs of one host (or of any host).
type tree struct {
	exact     map[string]*leaf // literal-only patterns, by the whole path
	root      node             // patterns with parameters or a wildcard
	hasParams bool
	hasPrefix bool
}

// node is a position in the segment trie. Literal children are tried before
// the parameter child, which makes "a literal where the other has a
// parameter, leftmost first" the tie-break between parameter patterns.
type node struct {
	lits   map[string]*node
	param  *node
	full   *leaf // patterns with parameters ending here
	prefix *leaf // patterns "…/*" whose base ends here
}

// leaf holds the routes of one pattern shape. Their methods are disjoint
// (Compile refuses overlaps), so at most one entry takes a given method.
type leaf struct {
	entries []*entry
}

// entry is one route in a tree.
type entry struct {
	api     int // index in Table.apis
	route   *gatehouse.Route
	pattern *pattern
	methods []string // nil means any
	static  *Match   // shared Match for patterns without parameters
	key     string   // Match.Key
}

// Compile builds a routing Table from apis. Drafts are left out, as if they
// did not exist; APIs without routes are token-only and not routed.
//
// Precedence, most specific first, decided per method like net/http.ServeMux:
//   - an API that names its Hosts takes precedence on those hosts over APIs
//     that serve any host; when none of its routes takes the path, the
//     any-host APIs are tried;
//   - an exact pattern beats one with parameters, which beats a prefix;
//   - between parameter patterns, the one with a literal segment where the
//     other has a parameter, leftmost first;
//   - between prefixes, the longest (in segments), then as above;
//   - a route that does not allow the method is skipped, so "GET /x/{id}"
//     and "DELETE /x/*" split the work on /x/1 by method.
//
// Two routes of the same shape (the same pattern up to parameter names)
// whose methods overlap on a common host are a conflict: Compile reports
// every conflict, naming both APIs and routes, and returns no Table.
// Compile errors are *gatehouse.Error with code invalid.
func Compile(apis []gatehouse.API) (*Table, error) {
	c := compiler{t: &Table{hosts: map[string]*tree{}, any: newTree()}, names: map[string]bool{}}
	c.t.apis = make([]compiledAPI, 0, len(apis))
	for i := range apis {
		c.addAPI(&apis[i])
	}
	if len(c.problems) > 0 {
		return nil, &gatehouse.Error{Code: gatehouse.CodeInvalid, Message: strings.Join(c.problems, "; ")}
	}
	return c.t, nil
}

type compiler struct {
	t        *Table
	names    map[string]bool
	problems []string
}

func (c *compiler) report(format string, args ...any) {
	c.problems = append(c.problems, fmt.Sprintf(format, args...))
}

func (c *compiler) addAPI(in *gatehouse.API) {
	if in.Lifecycle == gatehouse.LifecycleDraft || len(in.Routes) == 0 {
		return
	}
	switch {
	case in.Name == "":
		c.report("an API with routes has no name")
		return
	case c.names[in.Name]:
		c.report("API %q is listed twice", in.Name)
		return
	}
	c.names[in.Name] = true
	switch in.Lifecycle {
	case "", gatehouse.LifecyclePublished, gatehouse.LifecycleDeprecated, gatehouse.LifecycleRetired:
	default:
		c.report("API %q has the unknown lifecycle %q", in.Name, in.Lifecycle)
		return
	}
	ca := compiledAPI{api: cloneAPI(in)}
	a := &ca.api
	if a.Lifecycle == gatehouse.LifecycleDeprecated && !a.SunsetAt.IsZero() {
		ca.sunset = a.SunsetAt.UTC().Format(http.TimeFormat)
	}
	if a.Lifecycle == gatehouse.LifecycleDeprecated {
		// RFC 9745: a Structured Field Date. When the moment is unknown
		// (an API deprecated before steps were recorded), the epoch says
		// "deprecated, since some time in the past", which clients read
		// the same way.
		ca.deprecation = "@" + strconv.FormatInt(max(a.DeprecatedAt.Unix(), 0), 10)
	}
	var err error
	if ca.policy, err = newPolicy(a.UpstreamPolicy); err != nil {
		c.report("API %q: %v", a.Name, err)
	}
	if len(a.Upstream.Targets) == 0 && a.Lifecycle != gatehouse.LifecycleRetired {
		c.report("API %q has routes but no upstream targets", a.Name)
	}
	for _, s := range a.Upstream.Targets {
		u, err := parseTarget(s)
		if err != nil {
			c.report("API %q: upstream target %q %v", a.Name, gatehouse.RedactedTarget(s), err)
			continue
		}
		ca.targets = append(ca.targets, u)
	}
	hosts := make([]string, 0, len(a.Hosts))
	for _, h := range a.Hosts {
		ch, err := configHost(h)
		if err != nil {
			c.report("API %q: host %q %v", a.Name, h, err)
			continue
		}
		if !slices.Contains(hosts, ch) {
			hosts = append(hosts, ch)
		}
	}
	idx := len(c.t.apis)
	c.t.apis = append(c.t.apis, ca) // capacity was reserved: no reallocation
	stored := &c.t.apis[idx].api
	for j := range stored.Routes {
		c.addRoute(idx, stored, &stored.Routes[j], hosts)
	}
}

func (c *compiler) addRoute(idx int, a *gatehouse.API, r *gatehouse.Route, hosts []string) {
	p, err := parsePattern(r.Path)
	if err != nil {
		c.report("API %q: route %q %v", a.Name, r.Path, err)
		return
	}
	e := &entry{api: idx, route: r, pattern: p, key: r.Path}
	if len(r.Methods) > 0 {
		// Two routes on one path with different methods are different
		// routes (their own limits).
		e.key = r.Path + " " + strings.Join(r.Methods, ",")
	}
	for _, m := range r.Methods {
		if !isToken(m) {
			c.report("API %q: route %q has the method %q, which is not an HTTP method token", a.Name, r.Path, m)
			return
		}
		if !slices.Contains(e.methods, m) {
			e.methods = append(e.methods, m)
		}
	}
	if len(p.names) == 0 {
		e.static = &Match{API: a, Route: r, Key: e.key, api: idx}
	}
	if len(hosts) == 0 {
		c.insert(c.t.any, e, "")
		return
	}
	for _, h := range hosts {
		tr := c.t.hosts[h]
		if tr == nil {
			tr = newTree()
			c.t.hosts[h] = tr
		}
		c.insert(tr, e, h)
	}
}

func (c *compiler) insert(tr *tree, e *entry, host string) {
	other := tr.insert(e)
	if other == nil {
		return
	}
	where := "on any host"
	if host != "" {
		where = "on host " + host
	}
	oa, ea := &c.t.apis[other.api].api, &c.t.apis[e.api].api
	c.report("route conflict %s: API %q route %q %s and API %q route %q %s match the same requests",
		where, oa.Name, other.route.Path, methodList(other.methods), ea.Name, e.route.Path, methodList(e.methods))
}

func newTree() *tree { return &tree{exact: map[string]*leaf{}} }

// insert adds e and returns the entry it conflicts with, if any.
func (tr *tree) insert(e *entry) *entry {
	p := e.pattern
	var lp **leaf
	if p.kind() == kindExact {
		key := p.String()
		l := tr.exact[key]
		if l == nil {
			l = &leaf{}
			tr.exact[key] = l
		}
		lp = &l
	} else {
		n := &tr.root
		for _, s := range p.segs {
			if s.param {
				if n.param == nil {
					n.param = &node{}
				}
				n = n.param
				continue
			}
			child := n.lits[s.text]
			if child == nil {
				if n.lits == nil {
					n.lits = map[string]*node{}
				}
				child = &node{}
				n.lits[s.text] = child
			}
			n = child
		}
		if p.wildcard {
			lp, tr.hasPrefix = &n.prefix, true
		} else {
			lp, tr.hasParams = &n.full, true
		}
		if *lp == nil {
			*lp = &leaf{}
		}
	}
	l := *lp
	for _, x := range l.entries {
		if methodsOverlap(x.methods, e.methods) {
			return x
		}
	}
	l.entries = append(l.entries, e)
	return nil
}

// pick returns the entry that takes method: an explicit method first, then
// (for HEAD) a GET route, as RFC 9110 section 9.3.2 makes HEAD a GET without
// the body, then a route for any method.
func (l *leaf) pick(method string) *entry {
	if l == nil {
		return nil
	}
	var get, anyMethod *entry
	for _, e := range l.entries {
		if e.methods == nil {
			anyMethod = e
			continue
		}
		for _, m := range e.methods {
			if m == method {
				return e
			}
			if m == http.MethodGet && method == http.MethodHead {
				get = e
			}
		}
	}
	if get != nil {
		return get
	}
	return anyMethod
}

func methodsOverlap(a, b []string) bool {
	if a == nil || b == nil {
		return true
	}
	for _, m := range a {
		if slices.Contains(b, m) {
			return true
		}
	}
	return false
}

func methodList(ms []string) string {
	if ms == nil {
		return "[any method]"
	}
	return "[" + strings.Join(ms, " ") + "]"
}

// isToken reports whether s is an RFC 9110 token (section 5.6.2), the syntax
// of a method name (section 9.1).
func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !isTchar(s[i]) {
			return false
		}
	}
	return true
}

// isTchar reports whether c is an RFC 9110 tchar. It runs on each byte of
// the Host in every Forwarded header the gateway sends, so it looks c up
// in a table.
func isTchar(c byte) bool { return tchars[c] }

var tchars = func() (t [256]bool) {
	for c := 0; c < 256; c++ {
		t[c] = 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
			strings.IndexByte("!#$%&'*+-.^_`|~", byte(c)) >= 0
	}
	return t
}()

// parseTarget checks an upstream base URL: absolute http or https, with a
// host, without user info, query or fragment (the config file's rules).
func parseTarget(s string) (*url.URL, error) {
	u, err := url.Parse(s)
	switch {
	case err != nil:
		return nil, fmt.Errorf("is not a URL")
	case u.Scheme != "http" && u.Scheme != "https":
		return nil, fmt.Errorf("must be an http or https URL")
	case u.Host == "" || u.Opaque != "":
		return nil, fmt.Errorf("has no host")
	case u.User != nil:
		return nil, fmt.Errorf("must not contain user info")
	case u.RawQuery != "" || u.ForceQuery || u.Fragment != "":
		return nil, fmt.Errorf("must not have a query or fragment")
	}
	return u, nil
}

// configHost canonicalises a host named by an API: lower case, no trailing
// dot, IPv6 without brackets. A port is refused rather than ignored, since
// requests are matched with the port ignored and the config would mislead.
func configHost(h string) (string, error) {
	if strings.HasPrefix(h, "[") && strings.HasSuffix(h, "]") {
		h = h[1 : len(h)-1]
	}
	if a, err := netip.ParseAddr(h); err == nil {
		if a.Zone() != "" {
			return "", fmt.Errorf("must not have an IPv6 zone")
		}
		return a.String(), nil
	}
	h = strings.TrimSuffix(strings.ToLower(h), ".")
	if h == "" {
		return "", fmt.Errorf("is empty")
	}
	for i := 0; i < len(h); i++ {
		c := h[i]
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '.' || c == '_') {
			return "", fmt.Errorf("must be a host name or IP address without port or wildcard")
		}
	}
	return h, nil
}

// cloneAPI deep-copies the slices of a so that the Table stays immutable
// whatever the caller does with its APIs afterwards.
func cloneAPI(in *gatehouse.API) gatehouse.API {
	a := *in
	a.Scopes = slices.Clone(in.Scopes)
	a.Hosts = slices.Clone(in.Hosts)
	a.ExternalIssuers = slices.Clone(in.ExternalIssuers)
	a.Upstream.Targets = slices.Clone(in.Upstream.Targets)
	a.Traffic.IPAllow = slices.Clone(in.Traffic.IPAllow)
	a.Traffic.IPDeny = slices.Clone(in.Traffic.IPDeny)
	a.Traffic.PerClient = clonePtr(in.Traffic.PerClient)
	a.Traffic.SpikeArrest = clonePtr(in.Traffic.SpikeArrest)
	a.Routes = make([]gatehouse.Route, len(in.Routes))
	for i, r := range in.Routes {
		r.Methods = slices.Clone(r.Methods)
		r.Scopes = slices.Clone(r.Scopes)
		r.RateLimit = clonePtr(r.RateLimit)
		a.Routes[i] = r
	}
	return a
}

func clonePtr[T any](p *T) *T {
	if p == nil {
		return nil
	}
	v := *p
	return &v
}

// policy is an UpstreamPolicy with its defaults applied. It is comparable:
// a Gateway keeps an upstream's pool (health state, connections) across
// reloads while its name, targets and policy stay the same.
type policy struct {
	balance        string
	xForwarded     bool // send X-Forwarded-For, -Host, -Proto and X-Real-Ip
	rfc7239        bool // send Forwarded
	connectTimeout time.Duration
	readTimeout    time.Duration
	retries        int
	healthPath     string
	healthInterval time.Duration
}

// Defaults documented on gatehouse.UpstreamPolicy.
const (
	defaultConnectTimeout = 5 * time.Second
	defaultReadTimeout    = 30 * time.Second
	defaultRetries        = 1
	defaultHealthInterval = 10 * time.Second
)

func newPolicy(p gatehouse.UpstreamPolicy) (policy, error) {
	out := policy{
		balance:        p.Balance,
		connectTimeout: p.ConnectTimeout,
		readTimeout:    p.ReadTimeout,
		retries:        p.Retries,
		healthPath:     p.HealthPath,
		healthInterval: p.HealthInterval,
	}
	switch p.Balance {
	case "":
		out.balance = gatehouse.BalanceRoundRobin
	case gatehouse.BalanceRoundRobin, gatehouse.BalanceLeastConn:
	default:
		return out, fmt.Errorf("unknown balance %q; expected %s or %s", p.Balance, gatehouse.BalanceRoundRobin, gatehouse.BalanceLeastConn)
	}
	// An unknown set fails closed: a typo must not send client
	// addresses to an upstream meant to get none.
	switch p.Forwarding {
	case "", gatehouse.ForwardingXForwarded:
		out.xForwarded = true
	case gatehouse.ForwardingRFC7239:
		out.rfc7239 = true
	case gatehouse.ForwardingBoth:
		out.xForwarded, out.rfc7239 = true, true
	case gatehouse.ForwardingNone:
	default:
		return out, fmt.Errorf("unknown forwarding %q; expected %s, %s, %s or %s", p.Forwarding,
			gatehouse.ForwardingXForwarded, gatehouse.ForwardingRFC7239, gatehouse.ForwardingBoth, gatehouse.ForwardingNone)
	}
	if p.ConnectTimeout < 0 || p.ReadTimeout < 0 || p.HealthInterval < 0 {
		return out, fmt.Errorf("upstream timeouts and intervals must not be negative")
	}
	if out.connectTimeout == 0 {
		out.connectTimeout = defaultConnectTimeout
	}
	if out.readTimeout == 0 {
		out.readTimeout = defaultReadTimeout
	}
	if out.healthInterval == 0 {
		out.healthInterval = defaultHealthInterval
	}
	switch {
	case p.Retries == 0:
		out.retries = defaultRetries
	case p.Retries < 0: // the zero value means the default, so "none" is negative
		out.retries = 0
	}
	if p.HealthPath != "" && !strings.HasPrefix(p.HealthPath, "/") {
		return out, fmt.Errorf("health path %q must start with /", p.HealthPath)
	}
	return out, nil
}
