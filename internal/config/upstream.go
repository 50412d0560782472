package config

import (
	"net/textproto"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/gatehouse/gatehouse"
	"go.yaml.in/yaml/v3"
)

var (
	upstreamKeys = []string{"targets", "balance", "forwarding", "connect_timeout", "read_timeout", "retries", "health_path", "health_interval"}
	balances     = []string{gatehouse.BalanceRoundRobin, gatehouse.BalanceLeastConn}
	forwardings  = []string{gatehouse.ForwardingXForwarded, gatehouse.ForwardingRFC7239, gatehouse.ForwardingBoth, gatehouse.ForwardingNone}

	upstreamAuthKeys = []string{"identity_headers", "mint_token", "mint_audience", "static_header", "static_value"}
	// RFC 9110 section 5.6.2 token.
	headerNameRE = regexp.MustCompile("^[A-Za-z0-9!#$%&'*+.^_`|~-]+$")
	// Headers static_header may not set, in canonical form: hop-by-hop
	// headers (RFC 9110 section 7.6.1), which never reach the upstream;
	// message framing; and what the gateway itself sets.
	reservedHeaders = []string{"Connection", "Proxy-Connection", "Keep-Alive", "Te", "Trailer", "Transfer-Encoding", "Upgrade",
		"Proxy-Authenticate", "Proxy-Authorization", "Host", "Content-Length", "Forwarded", "X-Real-Ip", "X-Request-Id"} // and every X-Forwarded-*
)

// Upstream policy defaults and limits.
const (
	DefaultConnectTimeout = 5 * time.Second
	DefaultReadTimeout    = 30 * time.Second
	DefaultRetries        = 1
	DefaultHealthInterval = 10 * time.Second
	// NoRetries is UpstreamPolicy.Retries for `retries: 0`: there, as in
	// internal/proxy, zero means the default and no retry is negative.
	NoRetries = -1

	minConnectTimeout = 100 * time.Millisecond
	maxConnectTimeout = time.Minute
	minReadTimeout    = time.Second
	maxReadTimeout    = 10 * time.Minute
	maxRetries        = 5
	minHealthInterval = time.Second
	maxHealthInterval = 10 * time.Minute
	maxStaticValue    = 8 << 10
)

// upstreamPolicy decodes how the gateway uses an API's targets, defaults
// applied. up is the API's upstream mapping.
func (d *decoder) upstreamPolicy(up object, path string) gatehouse.UpstreamPolicy {
	key := func(k string) string { return join(path, k) }
	p := gatehouse.UpstreamPolicy{
		Balance:        gatehouse.BalanceRoundRobin,
		Forwarding:     gatehouse.ForwardingXForwarded,
		ConnectTimeout: DefaultConnectTimeout,
		ReadTimeout:    DefaultReadTimeout,
		Retries:        DefaultRetries,
	}
	if b, _ := d.enum(up.get("balance"), key("balance"), balances); b != "" {
		p.Balance = b
	}
	if f, _ := d.enum(up.get("forwarding"), key("forwarding"), forwardings); f != "" {
		p.Forwarding = f
	}
	if v, ok := d.duration(up.get("connect_timeout"), key("connect_timeout"), minConnectTimeout, maxConnectTimeout); ok {
		p.ConnectTimeout = v
	}
	if v, ok := d.duration(up.get("read_timeout"), key("read_timeout"), minReadTimeout, maxReadTimeout); ok {
		p.ReadTimeout = v
	}
	if v, ok := d.integer(up.get("retries"), key("retries"), 0, maxRetries); ok {
		p.Retries = int(v)
		if v == 0 {
			p.Retries = NoRetries
		}
	}
	hp, hpOK := d.str(up.get("health_path"), key("health_path"))
	if hp != "" {
		if msg := checkHealthPath(hp); msg != "" {
			d.report(up.lineOf("health_path"), key("health_path"), "%q %s", hp, msg)
		}
		p.HealthPath = hp
	}
	interval, intervalSet := d.duration(up.get("health_interval"), key("health_interval"), minHealthInterval, maxHealthInterval)
	switch {
	case hp != "":
		p.HealthInterval = DefaultHealthInterval
		if intervalSet {
			p.HealthInterval = interval
		}
	case hpOK && up.has("health_interval"):
		d.report(up.lineOf("health_interval"), key("health_interval"), "is only used with health_path; add the path to probe, such as /healthz, or remove health_interval")
	}
	return p
}

// checkHealthPath returns what is wrong with a health check path, or "".
func checkHealthPath(p string) string {
	const expected = "; expected a path each target answers GET on, such as /healthz"
	switch {
	case !strings.HasPrefix(p, "/"):
		return "must start with /" + expected
	case hasSpaceOrControl(p):
		return "must not contain spaces or control characters" + expected
	case strings.Contains(p, "#"):
		return "must not contain #" + expected
	}
	return ""
}

// upstreamAuth decodes what the gateway sends upstream in place of the
// client's credential. The mint audience is kept only when valid, for the
// check against the other APIs' audiences.
func (d *decoder) upstreamAuth(n *yaml.Node, path string, parentLine int) (gatehouse.UpstreamAuth, object) {
	var ua gatehouse.UpstreamAuth
	o, ok := d.object(n, path, parentLine, upstreamAuthKeys)
	if !ok {
		return ua, o
	}
	key := func(k string) string { return join(path, k) }
	ua.IdentityHeaders, _ = d.boolean(o.get("identity_headers"), key("identity_headers"))
	mint, mintSet := d.boolean(o.get("mint_token"), key("mint_token"))
	ua.MintToken = mint

	aud, _ := d.str(o.get("mint_audience"), key("mint_audience"))
	switch {
	case mint && aud == "" && !o.has("mint_audience"):
		d.report(o.line, key("mint_audience"), "is required with mint_token: true: the audience of the tokens minted for this upstream, an absolute URI such as https://orders.internal")
	case !mint && (mintSet || !o.has("mint_token")) && o.has("mint_audience"):
		d.report(o.lineOf("mint_audience"), key("mint_audience"), "is only used with mint_token: true; set mint_token: true, or remove mint_audience")
	case aud == "" && o.has("mint_audience"):
		d.report(o.lineOf("mint_audience"), key("mint_audience"), "is empty; expected the audience of the minted tokens, an absolute URI such as https://orders.internal")
	case aud != "":
		if msg := checkAudience(aud); msg != "" {
			d.report(o.lineOf("mint_audience"), key("mint_audience"), "%q %s", aud, msg)
		} else {
			ua.MintAudience = aud
		}
	}

	header, headerOK := d.str(o.get("static_header"), key("static_header"))
	hasHeader := o.has("static_header") && (header != "" || !headerOK)
	if header != "" {
		canon := textproto.CanonicalMIMEHeaderKey(header)
		switch {
		case !headerNameRE.MatchString(header):
			d.report(o.lineOf("static_header"), key("static_header"), "%q is not a header name; expected letters, digits and - such as X-Api-Secret (RFC 9110 section 5.6.2)", header)
		case slices.Contains(reservedHeaders, canon) || strings.HasPrefix(canon, "X-Forwarded-"):
			d.report(o.lineOf("static_header"), key("static_header"), "%q is a header the proxy removes or sets itself (hop-by-hop, framing, forwarding or the request id); expected the name of the upstream's credential header, such as X-Api-Secret or Authorization", header)
		case strings.HasPrefix(canon, "X-Gatehouse-"):
			d.report(o.lineOf("static_header"), key("static_header"), "%q is in the X-Gatehouse- range, which the gateway sets itself; expected the name of the upstream's credential header, such as X-Api-Secret", header)
		case mint && canon == "Authorization":
			d.report(o.lineOf("static_header"), key("static_header"), "cannot be Authorization with mint_token: true, which sends the minted token in Authorization; use another header, or turn mint_token off")
		default:
			ua.StaticHeader = canon
		}
	}
	// The value is a credential: no message may quote it.
	value, valueOK := d.str(o.get("static_value"), key("static_value"))
	switch {
	case !valueOK:
	case hasHeader && !o.has("static_value"):
		d.report(o.line, key("static_value"), "is required with static_header: the header's value, best from a variable such as ${ORDERS_UPSTREAM_SECRET}")
	case !hasHeader && o.has("static_value"):
		d.report(o.lineOf("static_value"), key("static_value"), "is only used with static_header; add the header's name, such as X-Api-Secret, or remove static_value")
	case !o.has("static_value"):
	case value == "":
		d.report(o.lineOf("static_value"), key("static_value"), "is empty; expected the header's value, best from a variable such as ${ORDERS_UPSTREAM_SECRET}")
	case strings.ContainsFunc(value, func(r rune) bool { return r < ' ' && r != '\t' || r == 0x7f }):
		d.report(o.lineOf("static_value"), key("static_value"), "must be one line without control characters; expected the header's value")
	case len(value) > maxStaticValue:
		d.report(o.lineOf("static_value"), key("static_value"), "is longer than %d bytes; expected a header value", maxStaticValue)
	default:
		ua.StaticValue = value
	}
	return ua, o
}
