package config

import (
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/gatehouse/gatehouse"
	"go.yaml.in/yaml/v3"
)

var (
	apiKeys = []string{"name", "audience", "scopes", "token_format", "access_token_ttl", "lifecycle", "sunset", "hosts",
		"upstream", "upstream_auth", "traffic", "external_issuers", "routes", "dpop", "dpop_nonce",
		"family", "version", "approval", "description", "openapi"}
	routeKeys   = []string{"path", "methods", "scopes", "scope_mode", "credential", "allow_query_token", "rate_limit"}
	credentials = []string{gatehouse.CredentialBearer, gatehouse.CredentialAPIKey, gatehouse.CredentialNone}
	lifecycles  = []string{string(gatehouse.LifecycleDraft), string(gatehouse.LifecyclePublished),
		string(gatehouse.LifecycleDeprecated), string(gatehouse.LifecycleRetired)}
	scopeModes = []string{"all", "any"}
	dpopModes  = []string{string(gatehouse.DPoPAllowed), string(gatehouse.DPoPRequired)}
	// Methods offered as corrections; others that look like methods are
	// accepted, for WebDAV and friends.
	knownMethods = []string{"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "CONNECT", "TRACE"}

	apiNameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,62}$`)
	// RFC 6749 section 3.3: scope-token = 1*( %x21 / %x23-5B / %x5D-7E ).
	scopeRE = regexp.MustCompile(`^[\x21\x23-\x5B\x5D-\x7E]+$`)
	// RFC 8141: urn:<NID>:<NSS>.
	urnRE   = regexp.MustCompile(`^urn:[A-Za-z0-9][A-Za-z0-9-]{0,30}[A-Za-z0-9]:[^\s?#]+$`)
	paramRE = regexp.MustCompile(`^\{[A-Za-z_][A-Za-z0-9_]*\}$`)
	// RFC 9110 section 5.6.2 token, upper case.
	methodRE = regexp.MustCompile("^[A-Z0-9!#$%&'*+.^_`|~-]+$")
	// RFC 1123 host name, lower case.
	hostnameRE = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$`)
)

// nodeLine is the line of a list entry, for problems about missing keys.
func nodeLine(n *yaml.Node) int {
	if n = resolve(n); n != nil {
		return n.Line
	}
	return 0
}

func (d *decoder) apis(n *yaml.Node, ext externals) []gatehouse.API {
	nodes, _ := d.list(n, "apis", "APIs (mappings with name, audience, ...)")
	var out []gatehouse.API
	var auths []object
	names, audiences := map[string]string{}, map[string]string{}
	for i, it := range nodes {
		path := index("apis", i)
		api, o, auth := d.api(it, path, ext)
		if first, dup := names[api.Name]; dup && api.Name != "" {
			d.report(o.lineOf("name"), join(path, "name"), "%q is already the name of %s; API names must be unique", api.Name, first)
		} else {
			names[api.Name] = path
		}
		if first, dup := audiences[api.Audience]; dup && api.Audience != "" {
			d.report(o.lineOf("audience"), join(path, "audience"), "%q is already the audience of %s; each API needs its own audience", api.Audience, first)
		} else {
			audiences[api.Audience] = path
		}
		out = append(out, api)
		auths = append(auths, auth)
	}
	// A token minted for an upstream is signed by Gatehouse: with the
	// audience of an API, the gateway would take it for a token of that API.
	for i, api := range out {
		if aud := api.UpstreamAuth.MintAudience; aud != "" && audiences[aud] != "" {
			d.report(auths[i].lineOf("mint_audience"), join(index("apis", i), "upstream_auth.mint_audience"),
				"%q is the audience of %s, and the gateway would accept a token minted for the upstream as a token for it; expected an audience of the upstream's own, such as https://orders.internal", aud, audiences[aud])
		}
	}
	return out
}

// api decodes one API. Its name and scopes are kept as written even when
// invalid (and reported), so that references to them do not cascade into
// more problems.
func (d *decoder) api(n *yaml.Node, path string, ext externals) (gatehouse.API, object, object) {
	var api gatehouse.API
	o, ok := d.object(n, path, nodeLine(n), apiKeys)
	if !ok {
		return api, o, object{}
	}
	key := func(k string) string { return join(path, k) }

	var nameOK, audOK bool
	api.Name, nameOK = d.str(o.get("name"), key("name"))
	switch {
	case !nameOK:
	case api.Name == "":
		d.report(o.line, key("name"), "is required: a short name such as \"orders\" (lower-case letters, digits and -)")
	case api.Name == gatehouse.AdminAPIName:
		d.report(o.lineOf("name"), key("name"), "%q is reserved for Gatehouse's own admin API; choose another name", api.Name)
	case !apiNameRE.MatchString(api.Name):
		d.report(o.lineOf("name"), key("name"), "%q is not a valid API name; expected 1 to 63 lower-case letters, digits and -, starting with a letter or digit", api.Name)
	}

	api.Audience, audOK = d.str(o.get("audience"), key("audience"))
	switch {
	case !audOK:
	case api.Audience == "":
		d.report(o.line, key("audience"), "is required: the API's resource identifier, an absolute URI such as https://orders.example.com or urn:example:orders")
	default:
		if msg := checkAudience(api.Audience); msg != "" {
			d.report(o.lineOf("audience"), key("audience"), "%q %s", api.Audience, msg)
		}
	}

	scopes, _ := d.strList(o.get("scopes"), key("scopes"), "scope names such as orders:read")
	for _, s := range scopes {
		if !scopeRE.MatchString(s.val) {
			d.report(s.line, s.key, "%q is not a valid scope; expected printable ASCII without spaces, \" or \\ (RFC 6749 section 3.3), such as orders:read", s.val)
		}
	}
	d.unique(scopes)
	api.Scopes = values(scopes)

	f, _ := d.enum(o.get("token_format"), key("token_format"), formats)
	api.TokenFormat = gatehouse.TokenFormat(f)
	api.AccessTokenTTL, _ = d.duration(o.get("access_token_ttl"), key("access_token_ttl"), minAccessTTL, maxAccessTTL)
	lc, lcOK := d.enum(o.get("lifecycle"), key("lifecycle"), lifecycles)
	api.Lifecycle = gatehouse.Lifecycle(lc)
	if api.Lifecycle == "" {
		api.Lifecycle = gatehouse.LifecyclePublished
	}
	api.SunsetAt = d.sunset(o, path, api.Lifecycle, lcOK)
	api.Hosts = d.hosts(o.get("hosts"), key("hosts"))
	d.apiGovernance(o, path, &api)

	up, upOK := d.object(o.get("upstream"), key("upstream"), o.lineOf("upstream"), upstreamKeys)
	targets, targetsOK := d.strList(up.get("targets"), key("upstream.targets"), "absolute http(s) URLs such as http://127.0.0.1:9000")
	for _, t := range targets {
		if msg := checkTarget(t.val); msg != "" {
			d.report(t.line, t.key, "%q %s", gatehouse.RedactedTarget(t.val), msg)
		}
	}
	d.unique(targets)
	api.Upstream.Targets = values(targets)
	api.UpstreamPolicy = d.upstreamPolicy(up, key("upstream"))
	var auth object
	api.UpstreamAuth, auth = d.upstreamAuth(o.get("upstream_auth"), key("upstream_auth"), o.lineOf("upstream_auth"))
	api.Traffic = d.traffic(o.get("traffic"), key("traffic"), o.lineOf("traffic"))

	issuers, _ := d.strList(o.get("external_issuers"), key("external_issuers"), "names of external_issuers entries")
	for _, it := range issuers {
		if _, ok := ext.byName[it.val]; !ok {
			d.report(it.line, it.key, "there is no external issuer named %q%s; expected the name of an entry under external_issuers (%s)", it.val, didYouMean(it.val, mapKeys(ext.byName)), listOrNone(mapKeys(ext.byName)))
		}
	}
	d.unique(issuers)
	api.ExternalIssuers = values(issuers)

	var credentialsOK bool
	api.Routes, credentialsOK = d.routes(o.get("routes"), key("routes"), &api)
	if len(targets) == 0 && upOK && targetsOK {
		policy := slices.IndexFunc(upstreamKeys[1:], up.has)
		switch {
		case len(api.Routes) > 0:
			d.report(up.lineOf("targets"), key("upstream.targets"), "is required when the API has routes; expected absolute http(s) URLs to send the traffic to, such as http://127.0.0.1:9000")
		case policy >= 0:
			d.report(up.lineOf("targets"), key("upstream.targets"), "is required when upstream sets %s; expected absolute http(s) URLs to send the traffic to, such as http://127.0.0.1:9000", upstreamKeys[1+policy])
		}
	}
	bearer := slices.ContainsFunc(api.Routes, func(r gatehouse.Route) bool { return r.Credential == gatehouse.CredentialBearer })
	if len(issuers) > 0 && credentialsOK && !bearer {
		d.report(o.lineOf("external_issuers"), key("external_issuers"), "is only used by routes with credential bearer, and this API has none; add a bearer route or remove external_issuers")
	}
	d.apiDPoP(o, path, &api, len(issuers) > 0)
	return api, o, auth
}

// apiDPoP decodes the API's DPoP policy (RFC 9449): dpop (allowed, the
// default, or required) and dpop_nonce.
func (d *decoder) apiDPoP(o object, path string, api *gatehouse.API, external bool) {
	key := func(k string) string { return join(path, k) }
	mode, modeOK := d.enum(o.get("dpop"), key("dpop"), dpopModes)
	api.DPoP = gatehouse.DPoPMode(mode) // "" means allowed
	api.DPoPNonce, _ = d.boolean(o.get("dpop_nonce"), key("dpop_nonce"))
	if api.DPoP == gatehouse.DPoPRequired && modeOK && external {
		d.report(o.lineOf("dpop"), key("dpop"), "required refuses every token that is not DPoP-bound by Gatehouse, so the tokens of external_issuers would never be accepted; remove one of them")
	}
}

// sunset decodes the date a deprecated API goes away (RFC 8594), in UTC.
func (d *decoder) sunset(o object, path string, lc gatehouse.Lifecycle, lcOK bool) time.Time {
	key := join(path, "sunset")
	s, _ := d.str(o.get("sunset"), key)
	if s == "" {
		return time.Time{}
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		if day, err := time.Parse(time.DateOnly, s); err == nil {
			d.report(o.lineOf("sunset"), key, "%q has no time of day; expected an RFC 3339 date and time such as %s", s, day.Format(time.RFC3339))
		} else {
			d.report(o.lineOf("sunset"), key, "%q is not an RFC 3339 date and time; expected for example 2027-06-30T00:00:00Z", s)
		}
		return time.Time{}
	}
	if lcOK && lc != gatehouse.LifecycleDeprecated {
		d.report(o.lineOf("sunset"), key, "is only announced for deprecated APIs, and this one is %s; set lifecycle: deprecated, or remove sunset", lc)
	}
	return t.UTC()
}

// hosts decodes the Host header values an API answers on, in lower case
// since host names are compared without regard to case.
func (d *decoder) hosts(n *yaml.Node, path string) []string {
	items, _ := d.strList(n, path, "host names such as api.example.com")
	var good []item
	for _, it := range items {
		h := strings.ToLower(it.val)
		if msg := checkHost(h); msg != "" {
			d.report(it.line, it.key, "%q %s", it.val, msg)
			continue
		}
		it.val = h
		good = append(good, it)
	}
	d.unique(good)
	return values(good)
}

// checkHost returns what is wrong with a lower-case host name, or "".
func checkHost(h string) string {
	const expected = "; expected a host name such as api.example.com, or an IP address"
	switch {
	case strings.Contains(h, "*"):
		return "has a wildcard, which is not supported; list every host name"
	case strings.Contains(h, "/"):
		return "must be a host name, not a URL or path; write it without scheme or path, such as api.example.com"
	}
	if strings.HasPrefix(h, "[") && strings.HasSuffix(h, "]") {
		if a, err := netip.ParseAddr(h[1 : len(h)-1]); err == nil && a.Is6() && a.Zone() == "" {
			return ""
		}
		return "is not an IPv6 address in brackets" + expected
	}
	if a, err := netip.ParseAddr(h); err == nil {
		if a.Is6() {
			return fmt.Sprintf("is an IPv6 address, which a Host header carries in brackets; write [%s]", a)
		}
		return ""
	}
	if host, port, err := net.SplitHostPort(h); err == nil && port != "" && strings.Trim(port, "0123456789") == "" {
		return fmt.Sprintf("has a port; list the host alone (%s), without :%s", host, port)
	}
	if len(h) > 253 || !hostnameRE.MatchString(h) {
		return "is not a valid host name" + expected
	}
	return ""
}

// routes decodes an API's routes. credentialsOK is false when a route's
// credential was invalid, so that checks on the API's credentials hold off.
func (d *decoder) routes(n *yaml.Node, path string, api *gatehouse.API) (out []gatehouse.Route, credentialsOK bool) {
	nodes, _ := d.list(n, path, "routes (mappings with path, methods, scopes)")
	credentialsOK = true
	var where []string
	for i, it := range nodes {
		rpath := index(path, i)
		o, ok := d.object(it, rpath, nodeLine(it), routeKeys)
		if !ok {
			continue
		}
		var r gatehouse.Route
		var pathOK bool
		r.Path, pathOK = d.str(o.get("path"), join(rpath, "path"))
		switch {
		case !pathOK:
		case r.Path == "":
			d.report(o.line, join(rpath, "path"), "is required: the request path to match, such as /v1/orders, /v1/* or /v1/orders/{id}")
		default:
			if msg := checkRoutePath(r.Path); msg != "" {
				d.report(o.lineOf("path"), join(rpath, "path"), "%q %s", r.Path, msg)
			}
		}

		methods, _ := d.strList(o.get("methods"), join(rpath, "methods"), "HTTP methods such as GET")
		for _, m := range methods {
			if msg := checkMethod(m.val); msg != "" {
				d.report(m.line, m.key, "%q %s", m.val, msg)
			}
		}
		d.unique(methods)
		r.Methods = values(methods)

		scopes, _ := d.strList(o.get("scopes"), join(rpath, "scopes"), "scopes of this API")
		for _, s := range scopes {
			if !api.HasScope(s.val) {
				d.report(s.line, s.key, "%q is not a scope of this API; expected one of its scopes (%s)", s.val, listOrNone(api.Scopes))
			}
		}
		d.unique(scopes)
		r.Scopes = values(scopes)

		r.ScopeMode, _ = d.enum(o.get("scope_mode"), join(rpath, "scope_mode"), scopeModes)
		if r.ScopeMode == "" {
			r.ScopeMode = "all"
		}

		cred, credOK := d.enum(o.get("credential"), join(rpath, "credential"), credentials)
		credentialsOK = credentialsOK && credOK
		r.Credential = cred
		if cred == "" && credOK {
			r.Credential = gatehouse.CredentialBearer
		}
		r.AllowQueryToken, _ = d.boolean(o.get("allow_query_token"), join(rpath, "allow_query_token"))
		r.RateLimit = d.rateLimit(o.get("rate_limit"), join(rpath, "rate_limit"))
		switch r.Credential {
		case gatehouse.CredentialNone:
			if o.has("scopes") {
				d.report(o.lineOf("scopes"), join(rpath, "scopes"), "cannot be required by a route with credential none, which checks no credential; remove scopes, or set credential to bearer or api_key")
			}
			if r.RateLimit != nil {
				d.report(o.lineOf("rate_limit"), join(rpath, "rate_limit"), "applies per client, and a route with credential none has no client; use traffic.spike_arrest for a limit on the whole API, or set credential to bearer or api_key")
			}
		}
		if r.AllowQueryToken && credOK && r.Credential != gatehouse.CredentialBearer {
			d.report(o.lineOf("allow_query_token"), join(rpath, "allow_query_token"), "is only used by routes with credential bearer (access_token in the query, RFC 6750 section 2.3), and this one takes %s; remove it", r.Credential)
		}

		for j, prev := range out {
			if r.Path != "" && prev.Path == r.Path && methodsOverlap(prev.Methods, r.Methods) {
				d.report(o.lineOf("path"), join(rpath, "path"), "%q with these methods is already routed by %s; merge the two routes or give them different methods", r.Path, where[j])
				break
			}
		}
		out = append(out, r)
		where = append(where, rpath)
	}
	return out, credentialsOK
}

// methodsOverlap reports whether two routes' method lists share a method;
// an empty list means every method.
func methodsOverlap(a, b []string) bool {
	if len(a) == 0 || len(b) == 0 {
		return true
	}
	for _, m := range a {
		if slices.Contains(b, m) {
			return true
		}
	}
	return false
}

func listOrNone(xs []string) string {
	if len(xs) == 0 {
		return "it has none"
	}
	return strings.Join(xs, ", ")
}

// hasSpaceOrControl reports whether s has whitespace or control characters,
// which no URI or path here may contain.
func hasSpaceOrControl(s string) bool {
	return strings.ContainsFunc(s, func(r rune) bool { return r <= ' ' || r == 0x7f })
}

// checkAudience returns what is wrong with an RFC 8707 resource identifier,
// or "".
func checkAudience(s string) string {
	if s == gatehouse.AdminAudience {
		return "is reserved for Gatehouse's own admin API; choose another audience"
	}
	if hasSpaceOrControl(s) {
		return "must not contain spaces or control characters; expected an absolute URI such as https://orders.example.com"
	}
	if strings.HasPrefix(s, "urn:") {
		if !urnRE.MatchString(s) {
			return "is not a valid URN; expected urn:<namespace>:<name>, such as urn:example:orders, without ? or #"
		}
		return ""
	}
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || !strings.HasPrefix(s, u.Scheme+"://") {
		return "is not an absolute URI; expected an https or http URL such as https://orders.example.com, or a URN such as urn:example:orders"
	}
	switch {
	case u.Hostname() == "":
		return "has no host; expected an absolute URI such as https://orders.example.com"
	case u.User != nil:
		return "must not contain user info; expected an absolute URI such as https://orders.example.com"
	case u.Fragment != "" || strings.Contains(s, "#"):
		return "must not have a fragment (#...) (RFC 8707 section 2); expected an absolute URI such as https://orders.example.com"
	case u.RawQuery != "" || u.ForceQuery:
		return "must not have a query (?...) (RFC 8707 section 2); expected an absolute URI such as https://orders.example.com"
	}
	return ""
}

// checkTarget returns what is wrong with an upstream base URL, or "".
func checkTarget(s string) string {
	u, err := url.Parse(s)
	switch {
	case hasSpaceOrControl(s):
		return "must not contain spaces or control characters; expected an absolute http(s) URL such as http://127.0.0.1:9000"
	case err != nil || (u.Scheme != "https" && u.Scheme != "http") || !strings.HasPrefix(s, u.Scheme+"://") || u.Hostname() == "":
		return "is not an absolute http(s) URL; expected for example http://127.0.0.1:9000 or https://orders.internal"
	case u.User != nil:
		return "must not contain user info; credentials do not belong in a target URL"
	case u.RawQuery != "" || u.ForceQuery || u.Fragment != "" || strings.Contains(s, "#"):
		return "must not have a query or fragment; expected a base URL such as http://10.0.0.5:9000/base"
	}
	return ""
}

// checkRoutePath returns what is wrong with a route path pattern, or "".
// Patterns are exact (/x), prefix (/x/*) or with parameters (/x/{id}).
func checkRoutePath(p string) string {
	const expected = "; expected for example /v1/orders, /v1/* or /v1/orders/{id}"
	switch {
	case !strings.HasPrefix(p, "/"):
		return "must start with /" + expected
	case strings.ContainsAny(p, "?#"):
		return "must not contain ? or # (routes match the path only)" + expected
	case hasSpaceOrControl(p):
		return "must not contain spaces or control characters" + expected
	}
	segs := strings.Split(p[1:], "/")
	params := map[string]bool{}
	for i, seg := range segs {
		last := i == len(segs)-1
		switch {
		case seg == "" && !last:
			return "has an empty segment (//)" + expected
		case seg == "." || seg == "..":
			return "must not contain . or .. segments" + expected
		case strings.Contains(seg, "*"):
			if seg != "*" || !last {
				return "may use * only as its whole last segment, as in /v1/*"
			}
		case strings.ContainsAny(seg, "{}"):
			if !paramRE.MatchString(seg) {
				return fmt.Sprintf("has the segment %q; a parameter is a whole segment {name}, name made of letters, digits and _", seg)
			}
			if params[seg] {
				return fmt.Sprintf("uses the parameter %s twice; give each parameter its own name", seg)
			}
			params[seg] = true
		}
	}
	return ""
}

// checkMethod returns what is wrong with an HTTP method, or "".
func checkMethod(m string) string {
	if up := strings.ToUpper(m); up != m {
		return fmt.Sprintf("is not upper case; methods are case-sensitive, did you mean %q?", up)
	}
	if !methodRE.MatchString(m) {
		return "is not an HTTP method; expected for example GET, POST or DELETE"
	}
	if !slices.Contains(knownMethods, m) {
		if s := suggest(m, knownMethods); s != "" {
			return fmt.Sprintf("is not a standard HTTP method; did you mean %q?", s)
		}
	}
	return ""
}
