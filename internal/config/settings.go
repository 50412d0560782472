package config

import (
	"net"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gatehouse/gatehouse"
	"go.yaml.in/yaml/v3"
)

var topKeys = []string{"issuer", "listen", "data_dir", "gateway", "tokens", "external_issuers", "teams", "apis", "clients",
	"subscriptions", "users", "audit", "call_log", "anomaly", "webhooks", "tracing", "idle"}

// config decodes the whole file. root nil is an empty file.
func (d *decoder) config(root *yaml.Node) *Config {
	cfg := Default()
	if r := resolve(root); !isNull(r) && r.Kind != yaml.MappingNode {
		d.reportAt(r, "", "the top level must be a mapping with keys %s; got %s", strings.Join(topKeys, ", "), kindName(r))
		return cfg
	}
	o, _ := d.object(root, "", 1, topKeys)
	cfg.Issuer = d.issuer(o.get("issuer"))
	d.listen(o, cfg)
	if s, _ := d.str(o.get("data_dir"), "data_dir"); s != "" {
		cfg.DataDir = s
	}
	cfg.Gateway = d.gateway(o.get("gateway"), o.lineOf("gateway"))
	cfg.CallLog = d.callLog(o.get("call_log"), o.lineOf("call_log"))
	cfg.Tokens = d.tokens(o.get("tokens"), o.lineOf("tokens"))
	ext := d.externalIssuers(o.get("external_issuers"), cfg.Issuer)
	cfg.ExternalIssuers = ext.list
	cfg.Teams = d.teams(o.get("teams"))
	d.teamNames = map[string]bool{}
	for _, t := range cfg.Teams {
		d.teamNames[t.Name] = true
	}
	cfg.APIs = d.apis(o.get("apis"), ext)
	d.scopeMapTargets(ext, cfg.APIs)
	cfg.Clients = d.clients(o.get("clients"), cfg.APIs)
	cfg.Subscriptions = d.subscriptions(o.get("subscriptions"), cfg.APIs, cfg.Clients)
	cfg.Users = d.users(o.get("users"))
	cfg.Audit = d.audit(o.get("audit"), o.lineOf("audit"))
	cfg.Anomaly = d.anomaly(o.get("anomaly"), o.lineOf("anomaly"))
	cfg.Webhooks = d.webhooks(o.get("webhooks"))
	cfg.Tracing = d.tracing(o.get("tracing"), o.lineOf("tracing"))
	cfg.Idle = d.idle(o.get("idle"), o.lineOf("idle"), cfg.APIs)
	return cfg
}

func (d *decoder) issuer(n *yaml.Node) string {
	s, _ := d.str(n, "issuer")
	if s == "" {
		return ""
	}
	if msg := checkIssuer(s); msg != "" {
		d.reportAt(resolve(n), "issuer", "%q %s", s, msg)
		return ""
	}
	return s
}

// checkIssuer returns what is wrong with an issuer identifier (RFC 8414
// section 2), or "".
func checkIssuer(s string) string {
	if msg := checkHTTPSURL(s, false); msg != "" {
		return msg
	}
	if u, _ := url.Parse(s); strings.HasSuffix(u.Path, "/") {
		return "must not end with /; write it without the trailing slash (clients compare the issuer character by character)"
	}
	return ""
}

// checkHTTPSURL returns what is wrong with a URL Gatehouse calls or compares
// as an identifier, or "": https, or http on a loopback host only; no user
// info, no fragment, and a query only with allowQuery.
func checkHTTPSURL(s string, allowQuery bool) string {
	if hasSpaceOrControl(s) {
		return "must not contain spaces or control characters; expected https://host[:port][/path]"
	}
	u, err := url.Parse(s)
	if err != nil || u.Scheme == "" || u.Opaque != "" || u.Hostname() == "" {
		return "is not an absolute URL; expected https://host[:port][/path], such as https://auth.example.com"
	}
	if !strings.HasPrefix(s, u.Scheme+"://") {
		return "must start with a lower-case https://"
	}
	switch u.Scheme {
	case "https":
	case "http":
		if !isLoopback(u.Hostname()) {
			return "uses http on a host that is not loopback; use https (http is allowed only for localhost and loopback addresses)"
		}
	default:
		return "must use https (or http for a loopback host)"
	}
	switch {
	case u.User != nil:
		return "must not contain user info; expected https://host[:port][/path]"
	case u.Fragment != "" || strings.Contains(s, "#"):
		return "must not have a fragment (#...); expected https://host[:port][/path]"
	case !allowQuery && (u.RawQuery != "" || u.ForceQuery):
		return "must not have a query (?...); expected https://host[:port][/path]"
	}
	return ""
}

// isLoopback reports whether host is localhost or a loopback IP address.
func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.IsLoopback()
}

func (d *decoder) listen(top object, cfg *Config) {
	o, _ := d.object(top.get("listen"), "listen", top.lineOf("listen"), []string{"public", "admin", "tls"})
	public := d.addr(o.get("public"), "listen.public")
	if public != "" {
		cfg.Public.Addr = public
	}
	admin := d.addr(o.get("admin"), "listen.admin")
	if admin != "" {
		cfg.Admin.Addr = admin
	}
	// A bad address is already reported; comparing the default in its place
	// would only add noise.
	bad := (o.has("public") && public == "") || (o.has("admin") && admin == "")
	if !bad && cfg.Public.Addr == cfg.Admin.Addr && !strings.HasSuffix(cfg.Admin.Addr, ":0") {
		key := "listen.admin"
		if !o.has("admin") {
			key = "listen.public"
		}
		d.report(o.lineOf(key[len("listen."):]), key, "%q is used by both listeners; the admin API needs its own address (defaults: public %s, admin %s)", cfg.Admin.Addr, DefaultPublicAddr, DefaultAdminAddr)
	}
	var taken []listener
	if !bad {
		taken = []listener{{"listen.public", cfg.Public.Addr}, {"listen.admin", cfg.Admin.Addr}}
	}
	cfg.TLS = d.tlsListener(o.get("tls"), o.lineOf("tls"), taken)
	d.tls = &cfg.TLS
}

// listener is an address already in use, and the key that set it.
type listener struct{ key, addr string }

var tlsKeys = []string{"addr", "cert_file", "key_file", "self_signed", "client_ca_file"}

// tls decodes the optional HTTPS listener. A section with no keys set is no
// listener, like an absent one.
// The HTTPS address must differ from those taken (unless both use port 0).
func (d *decoder) tlsListener(n *yaml.Node, parentLine int, taken []listener) TLSConfig {
	var t TLSConfig
	o, ok := d.object(n, "listen.tls", parentLine, tlsKeys)
	if !ok || !slices.ContainsFunc(tlsKeys, o.has) {
		return t
	}
	key := func(k string) string { return "listen.tls." + k }
	t.Addr = d.addr(o.get("addr"), key("addr"))
	if !o.has("addr") {
		d.report(o.line, key("addr"), "is required when tls is set: the address of the HTTPS listener, such as 127.0.0.1:8443")
	}
	for _, l := range taken {
		if t.Addr != "" && t.Addr == l.addr && !strings.HasSuffix(t.Addr, ":0") {
			d.report(o.lineOf("addr"), key("addr"), "%q is already used by %s; the HTTPS listener needs its own address, such as 127.0.0.1:8443", t.Addr, l.key)
			break
		}
	}
	cert, certOK := d.str(o.get("cert_file"), key("cert_file"))
	keyFile, keyOK := d.str(o.get("key_file"), key("key_file"))
	if cert != "" {
		t.CertFile = d.resolvePath(cert)
	}
	if keyFile != "" {
		t.KeyFile = d.resolvePath(keyFile)
	}
	if ca, _ := d.str(o.get("client_ca_file"), key("client_ca_file")); ca != "" {
		t.ClientCAFile = d.resolvePath(ca)
	}
	self, selfSet := d.boolean(o.get("self_signed"), key("self_signed"))
	t.SelfSigned = self
	// An empty path is no path; one with a problem (reported) counts as
	// given, so that it does not also read as missing.
	hasCert := o.has("cert_file") && (cert != "" || !certOK)
	hasKey := o.has("key_file") && (keyFile != "" || !keyOK)
	switch {
	case self && (hasCert || hasKey):
		d.report(o.lineOf("self_signed"), key("self_signed"), "cannot be true together with cert_file and key_file; use your certificate, or a generated one, not both")
	case hasCert && !hasKey:
		d.report(o.line, key("key_file"), "is required with cert_file: the PEM file of the certificate's private key")
	case hasKey && !hasCert:
		d.report(o.line, key("cert_file"), "is required with key_file: the PEM file of the certificate (chain)")
	case !hasCert && !self && (selfSet || !o.has("self_signed")):
		d.report(o.line, key("cert_file"), "is required: give cert_file and key_file (PEM files), or self_signed: true for a generated development certificate")
	}
	return t
}

var gatewayKeys = []string{"trusted_proxies", "trusted_proxies_header", "max_body_bytes", "allow_plain_http_tokens", "gc_percent"}

// gateway decodes the gateway's node-wide settings and applies defaults.
func (d *decoder) gateway(n *yaml.Node, parentLine int) GatewayConfig {
	g := GatewayConfig{MaxBodyBytes: DefaultMaxBodyBytes, GCPercent: DefaultGCPercent, TrustedProxiesHeader: ProxiesXForwarded}
	o, _ := d.object(n, "gateway", parentLine, gatewayKeys)
	g.TrustedProxies = d.prefixes(o.get("trusted_proxies"), "gateway.trusted_proxies", false)
	if v, _ := d.enum(o.get("trusted_proxies_header"), "gateway.trusted_proxies_header", []string{ProxiesXForwarded, ProxiesForwarded}); v != "" {
		g.TrustedProxiesHeader = v
	}
	if v, ok := d.integer(o.get("max_body_bytes"), "gateway.max_body_bytes", 1, MaxMaxBodyBytes); ok {
		g.MaxBodyBytes = v
	}
	g.AllowPlainHTTPTokens, _ = d.boolean(o.get("allow_plain_http_tokens"), "gateway.allow_plain_http_tokens")
	if v, ok := d.integer(o.get("gc_percent"), "gateway.gc_percent", MinGCPercent, MaxGCPercent); ok {
		g.GCPercent = int(v)
	}
	return g
}

// addr returns a valid host:port, or "" when absent or invalid.
func (d *decoder) addr(n *yaml.Node, path string) string {
	s, _ := d.str(n, path)
	if s == "" {
		return ""
	}
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		d.reportAt(resolve(n), path, "%q is not a host:port address; expected for example 127.0.0.1:8080, or :8080 for every interface", s)
		return ""
	}
	if p, err := strconv.Atoi(port); err != nil || p < 0 || p > 65535 {
		d.reportAt(resolve(n), path, "%q has port %q; expected a number from 0 to 65535", s, port)
		return ""
	}
	if strings.ContainsAny(host, " /\\@") {
		d.reportAt(resolve(n), path, "%q has an invalid host %q; expected an IP address or a host name", s, host)
		return ""
	}
	return s
}

var (
	tokenKeys = []string{"access_token_format", "access_token_ttl", "refresh_token_ttl", "refresh_token_idle_ttl",
		"refresh_reuse_grace", "signing_algorithm", "key_rotation_period", "key_prepublish", "leeway", "dpop_nonce"}
	formats    = []string{string(gatehouse.FormatJWT), string(gatehouse.FormatOpaque)}
	algorithms = []string{gatehouse.AlgEdDSA, gatehouse.AlgES256, gatehouse.AlgRS256, gatehouse.AlgPS256}
)

// Bounds on token lifetimes.
const (
	minAccessTTL  = time.Minute
	maxAccessTTL  = 24 * time.Hour
	minRefreshTTL = time.Minute
	maxRefreshTTL = 365 * 24 * time.Hour
	maxReuseGrace = time.Minute
	minRotation   = time.Hour
	minPrepublish = time.Minute
	// A zero leeway cannot be configured: zero in TokenPolicy means the default.
	minLeeway = time.Second
)

// tokens decodes the token policy and applies its defaults.
func (d *decoder) tokens(n *yaml.Node, parentLine int) gatehouse.TokenPolicy {
	o, _ := d.object(n, "tokens", parentLine, tokenKeys)
	key := func(k string) string { return "tokens." + k }
	var p gatehouse.TokenPolicy
	f, _ := d.enum(o.get("access_token_format"), key("access_token_format"), formats)
	p.AccessTokenFormat = gatehouse.TokenFormat(f)
	p.AccessTokenTTL, _ = d.duration(o.get("access_token_ttl"), key("access_token_ttl"), minAccessTTL, maxAccessTTL)
	refresh, refreshSet := d.duration(o.get("refresh_token_ttl"), key("refresh_token_ttl"), minRefreshTTL, maxRefreshTTL)
	idle, idleSet := d.duration(o.get("refresh_token_idle_ttl"), key("refresh_token_idle_ttl"), minRefreshTTL, maxRefreshTTL)
	p.RefreshTokenTTL, p.RefreshTokenIdleTTL = refresh, idle
	p.RefreshReuseGrace, _ = d.duration(o.get("refresh_reuse_grace"), key("refresh_reuse_grace"), 0, maxReuseGrace)
	p.SigningAlgorithm, _ = d.enum(o.get("signing_algorithm"), key("signing_algorithm"), algorithms)
	rotation, rotationSet := d.duration(o.get("key_rotation_period"), key("key_rotation_period"), minRotation, 0)
	pre, preSet := d.duration(o.get("key_prepublish"), key("key_prepublish"), minPrepublish, 0)
	p.KeyRotationPeriod, p.KeyPrepublish = rotation, pre
	p.Leeway, _ = d.duration(o.get("leeway"), key("leeway"), minLeeway, gatehouse.MaxLeeway)
	p.DPoPNonce, _ = d.boolean(o.get("dpop_nonce"), key("dpop_nonce"))

	// Relations between values only make sense when each is either valid or
	// absent (default); a bad value is already reported.
	bad := func(k string, set bool) bool { return o.has(k) && !set }
	eff := p.WithDefaults()
	if !bad("refresh_token_ttl", refreshSet) && !bad("refresh_token_idle_ttl", idleSet) && eff.RefreshTokenIdleTTL > eff.RefreshTokenTTL {
		if idleSet {
			d.report(o.lineOf("refresh_token_idle_ttl"), key("refresh_token_idle_ttl"), "%s is longer than refresh_token_ttl (%s); expected at most that",
				fmtDuration(idle), fmtDuration(eff.RefreshTokenTTL))
		} else {
			// The default idle limit cannot outlive a shorter absolute one.
			eff.RefreshTokenIdleTTL = eff.RefreshTokenTTL
		}
	}
	if !bad("key_rotation_period", rotationSet) && !bad("key_prepublish", preSet) && eff.KeyPrepublish >= eff.KeyRotationPeriod {
		k := "key_prepublish"
		if !preSet {
			k = "key_rotation_period"
		}
		d.report(o.lineOf(k), key(k), "key_prepublish (%s) must be shorter than key_rotation_period (%s): a new key is published that long before it starts signing",
			fmtDuration(eff.KeyPrepublish), fmtDuration(eff.KeyRotationPeriod))
	}
	return eff
}
