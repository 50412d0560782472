package config

import (
	"net/netip"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse"
)

// More snippets. demoIssuer takes lines 1-6. issuerAPI adds the demo API
// accepting it on lines 7-13, so its routes start on line 14.
const (
	demoIssuer = `external_issuers:
  - name: idp
    issuer: https://idp.example.com
    jwks_uri: https://idp.example.com/jwks
    algorithms: [RS256]
    audience: https://demo.example.com
`
	issuerAPI = demoIssuer + `apis:
  - name: demo
    audience: https://demo.example.com
    scopes: [demo:read, demo:write]
    upstream: {targets: ["http://127.0.0.1:9000"]}
    external_issuers: [idp]
    routes:
`
)

// swap replaces the one line of s that starts with prefix (after its
// indentation) by repl, which may be several lines or none.
func swap(s, prefix, repl string) string {
	lines := strings.SplitAfter(s, "\n")
	for i, l := range lines {
		if strings.HasPrefix(strings.TrimLeft(l, " -"), prefix) {
			lines[i] = repl
			return strings.Join(lines, "")
		}
	}
	panic("swap: no line starts with " + prefix)
}

// TestGatewayRefusals has one case per rule of the gateway's settings: the
// HTTPS listener, gateway, external issuers, and the API, route and client
// keys that configure the data plane.
func TestGatewayRefusals(t *testing.T) {
	tlsBase := "listen:\n  tls:\n    addr: 127.0.0.1:8443\n"
	upstream := demoAPI + "    upstream:\n      targets: ['http://h']\n"
	auth := demoAPI + "    upstream_auth:\n"
	traffic := demoAPI + "    traffic:\n"
	runRefusals(t, []refusal{
		// listen.tls
		{"TLSAddrMissing", "listen:\n  tls:\n    self_signed: true\n", []string{"3 listen.tls.addr"}, "is required when tls is set"},
		{"TLSAddrInvalid", "listen:\n  tls: {addr: bogus, self_signed: true}\n", []string{"2 listen.tls.addr"}, "not a host:port address"},
		{"TLSAddrSameAsPublic", "listen:\n  public: 127.0.0.1:9000\n  tls: {addr: '127.0.0.1:9000', self_signed: true}\n", []string{"3 listen.tls.addr"}, "already used by listen.public"},
		{"TLSAddrSameAsDefaultAdmin", "listen:\n  tls: {addr: '127.0.0.1:8081', self_signed: true}\n", []string{"2 listen.tls.addr"}, "already used by listen.admin"},
		{"TLSNoCertificate", tlsBase, []string{"3 listen.tls.cert_file"}, "or self_signed: true"},
		{"TLSSelfSignedFalseNoCertificate", tlsBase + "    self_signed: false\n", []string{"3 listen.tls.cert_file"}, "give cert_file and key_file"},
		{"TLSCertWithoutKey", tlsBase + "    cert_file: c.pem\n", []string{"3 listen.tls.key_file"}, "is required with cert_file"},
		{"TLSKeyWithoutCert", tlsBase + "    key_file: k.pem\n", []string{"3 listen.tls.cert_file"}, "is required with key_file"},
		{"TLSEmptyCertPath", tlsBase + "    cert_file: ''\n    key_file: k.pem\n", []string{"3 listen.tls.cert_file"}, "is required with key_file"},
		{"TLSSelfSignedWithCert", tlsBase + "    cert_file: c.pem\n    key_file: k.pem\n    self_signed: true\n", []string{"6 listen.tls.self_signed"}, "not both"},
		{"TLSSelfSignedQuoted", tlsBase + "    self_signed: 'true'\n", []string{"4 listen.tls.self_signed"}, "write true or false without quotes"},
		{"TLSSelfSignedYes", tlsBase + "    self_signed: yes\n", []string{"4 listen.tls.self_signed"}, `"yes" is not a boolean; expected true or false`},
		{"TLSNotMapping", "listen:\n  tls: 127.0.0.1:8443\n", []string{"2 listen.tls"}, "must be a mapping with keys addr, cert_file, key_file, self_signed"},
		{"TLSUnknownKey", tlsBase + "    certfile: c.pem\n    key_file: k.pem\n", []string{"3 listen.tls.cert_file", "4 listen.tls.certfile"}, `did you mean "cert_file"?`},

		// gateway
		{"GatewayNotMapping", "gateway: true\n", []string{"1 gateway"}, "must be a mapping with keys trusted_proxies, trusted_proxies_header, max_body_bytes, allow_plain_http_tokens"},
		{"GatewayUnknownKey", "gateway:\n  trusted_proxy: [10.0.0.1]\n", []string{"2 gateway.trusted_proxy"}, "expected one of trusted_proxies, trusted_proxies_header, max_body_bytes, allow_plain_http_tokens"},
		{"MaxBodyZero", "gateway:\n  max_body_bytes: 0\n", []string{"2 gateway.max_body_bytes"}, "0 is out of range; expected a whole number between 1 and 1073741824"},
		{"MaxBodyTooLarge", "gateway:\n  max_body_bytes: 1073741825\n", []string{"2 gateway.max_body_bytes"}, "between 1 and 1073741824"},
		{"MaxBodyBeyondInt64", "gateway:\n  max_body_bytes: 99999999999999999999\n", []string{"2 gateway.max_body_bytes"}, "is out of range"},
		{"MaxBodyWithUnit", "gateway:\n  max_body_bytes: 10MiB\n", []string{"2 gateway.max_body_bytes"}, `"10MiB" is a string; expected a whole number`},
		{"MaxBodyQuoted", "gateway:\n  max_body_bytes: '1024'\n", []string{"2 gateway.max_body_bytes"}, "without quotes"},
		{"MaxBodyFloat", "gateway:\n  max_body_bytes: 1e6\n", []string{"2 gateway.max_body_bytes"}, "1e6 is not a whole number"},
		{"MaxBodyVariable", "gateway:\n  max_body_bytes: ${MAX_BODY}\n", []string{"2 gateway.max_body_bytes"}, "expanded only in string values"},
		{"MaxBodyList", "gateway:\n  max_body_bytes: [1]\n", []string{"2 gateway.max_body_bytes"}, "got a list"},
		{"PlainHTTPQuoted", "gateway:\n  allow_plain_http_tokens: 'false'\n", []string{"2 gateway.allow_plain_http_tokens"}, "is quoted"},
		{"PlainHTTPNumber", "gateway:\n  allow_plain_http_tokens: 1\n", []string{"2 gateway.allow_plain_http_tokens"}, `"1" is not a boolean`},
		{"PlainHTTPVariable", "gateway:\n  allow_plain_http_tokens: ${PLAIN}\n", []string{"2 gateway.allow_plain_http_tokens"}, "expanded only in string values"},
		{"PlainHTTPTagged", "gateway:\n  allow_plain_http_tokens: !flag true\n", []string{"2 gateway.allow_plain_http_tokens"}, "the tag !flag is not supported"},
		{"PlainHTTPExplicitTagYes", "gateway:\n  allow_plain_http_tokens: !!bool yes\n", []string{"2 gateway.allow_plain_http_tokens"}, `"yes" is not a boolean`},
		{"PlainHTTPDate", "gateway:\n  allow_plain_http_tokens: 2027-01-01\n", []string{"2 gateway.allow_plain_http_tokens"}, `"2027-01-01" is not a boolean`},
		{"PlainHTTPMapping", "gateway:\n  allow_plain_http_tokens: {a: b}\n", []string{"2 gateway.allow_plain_http_tokens"}, "must be true or false; got a mapping"},
		{"TrustedProxiesHeader", "gateway:\n  trusted_proxies_header: x-forwarded-for\n", []string{"2 gateway.trusted_proxies_header"}, "one of x_forwarded, forwarded"},
		{"TrustedProxiesNotList", "gateway:\n  trusted_proxies: 10.0.0.0/8\n", []string{"2 gateway.trusted_proxies"}, "must be a list of CIDR prefixes or IP addresses"},
		{"TrustedProxyNotAddress", "gateway:\n  trusted_proxies: [10.0.0.300]\n", []string{"2 gateway.trusted_proxies[0]"}, "not an IP address or CIDR prefix"},
		{"TrustedProxyHostName", "gateway:\n  trusted_proxies: [lb.internal]\n", []string{"2 gateway.trusted_proxies[0]"}, "such as 10.0.0.0/8"},
		{"TrustedProxyHostBits", "gateway:\n  trusted_proxies: [10.0.0.1/8]\n", []string{"2 gateway.trusted_proxies[0]"}, "did you mean 10.0.0.0/8?"},
		{"TrustedProxyIPv4Length", "gateway:\n  trusted_proxies: [10.0.0.0/33]\n", []string{"2 gateway.trusted_proxies[0]"}, "/0 to /32 for an IPv4 address"},
		{"TrustedProxyIPv6Length", "gateway:\n  trusted_proxies: ['2001:db8::/129']\n", []string{"2 gateway.trusted_proxies[0]"}, "/0 to /128 for an IPv6 address"},
		{"TrustedProxyZone", "gateway:\n  trusted_proxies: ['fe80::1%eth0']\n", []string{"2 gateway.trusted_proxies[0]"}, "zone"},
		{"TrustedProxyEveryIPv4", "gateway:\n  trusted_proxies: [0.0.0.0/0]\n", []string{"2 gateway.trusted_proxies[0]"}, "covers every IPv4 address"},
		{"TrustedProxyEveryIPv6", "gateway:\n  trusted_proxies: ['::/0']\n", []string{"2 gateway.trusted_proxies[0]"}, "covers every IPv6 address"},
		{"TrustedProxyEveryMappedIPv4", "gateway:\n  trusted_proxies: ['::ffff:0:0/96']\n", []string{"2 gateway.trusted_proxies[0]"}, "covers every IPv4 address"},
		{"TrustedProxyDuplicate", "gateway:\n  trusted_proxies: [10.0.0.1, 10.0.0.1]\n", []string{"2 gateway.trusted_proxies[1]"}, "listed twice (also as gateway.trusted_proxies[0])"},
		{"TrustedProxySameNetwork", "gateway:\n  trusted_proxies: [10.0.0.1, 10.0.0.1/32]\n", []string{"2 gateway.trusted_proxies[1]"}, `same network as "10.0.0.1"`},
		{"TrustedProxyMappedSameNetwork", "gateway:\n  trusted_proxies: ['::ffff:10.0.0.1', 10.0.0.1]\n", []string{"2 gateway.trusted_proxies[1]"}, "same network"},
		{"TrustedProxyEmpty", "gateway:\n  trusted_proxies: ['']\n", []string{"2 gateway.trusted_proxies[0]"}, "is empty"},

		// external_issuers
		{"ExternalNotList", "external_issuers: {name: idp}\n", []string{"1 external_issuers"}, "must be a list of external issuers"},
		{"ExternalNotMapping", "external_issuers: [idp]\n", []string{"1 external_issuers[0]"}, "must be a mapping with keys name, issuer, jwks_uri"},
		{"ExternalUnknownKey", demoIssuer + "    jwks_url: https://idp.example.com/jwks\n", []string{"7 external_issuers[0].jwks_url"}, `did you mean "jwks_uri"?`},
		{"ExternalNameMissing", swap(demoIssuer, "name:", "  -\n"), []string{"3 external_issuers[0].name"}, "is required"},
		{"ExternalNameInvalid", swap(demoIssuer, "name:", "  - name: Corp_IdP\n"), []string{"2 external_issuers[0].name"}, "lower-case letters, digits and -"},
		{"ExternalNameDuplicate", demoIssuer + "  - name: idp\n    issuer: https://other.example.com\n    jwks_uri: https://other.example.com/jwks\n    algorithms: [ES256]\n    audience: x\n",
			[]string{"7 external_issuers[1].name"}, "already the name of external_issuers[0]"},
		{"ExternalIssuerDuplicate", demoIssuer + "  - name: idp2\n    issuer: https://idp.example.com\n    jwks_uri: https://idp.example.com/jwks2\n    algorithms: [ES256]\n    audience: x\n",
			[]string{"8 external_issuers[1].issuer"}, "a token names only its issuer"},
		{"ExternalIssuerMissing", swap(demoIssuer, "issuer:", ""), []string{"2 external_issuers[0].issuer"}, "exactly as its tokens carry it in iss"},
		{"ExternalIssuerHTTP", swap(demoIssuer, "issuer:", "    issuer: http://idp.example.com\n"), []string{"3 external_issuers[0].issuer"}, "use https"},
		{"ExternalIssuerRelative", swap(demoIssuer, "issuer:", "    issuer: idp.example.com\n"), []string{"3 external_issuers[0].issuer"}, "not an absolute URL"},
		{"ExternalIssuerQuery", swap(demoIssuer, "issuer:", "    issuer: https://idp.example.com?realm=x\n"), []string{"3 external_issuers[0].issuer"}, "must not have a query"},
		{"ExternalIssuerSpace", swap(demoIssuer, "issuer:", "    issuer: https://idp.example.com/a b\n"), []string{"3 external_issuers[0].issuer"}, "spaces"},
		{"ExternalIssuerIsOwn", "issuer: https://idp.example.com\n" + demoIssuer, []string{"4 external_issuers[0].issuer"}, "Gatehouse's own issuer"},
		{"JWKSURIMissing", swap(demoIssuer, "jwks_uri:", ""), []string{"2 external_issuers[0].jwks_uri"}, "discovery document"},
		{"JWKSURIHTTP", swap(demoIssuer, "jwks_uri:", "    jwks_uri: http://idp.example.com/jwks\n"), []string{"4 external_issuers[0].jwks_uri"}, "use https"},
		{"JWKSURIFragment", swap(demoIssuer, "jwks_uri:", "    jwks_uri: https://idp.example.com/jwks#k\n"), []string{"4 external_issuers[0].jwks_uri"}, "fragment"},
		{"JWKSURIUserInfo", swap(demoIssuer, "jwks_uri:", "    jwks_uri: https://u:p@idp.example.com/jwks\n"), []string{"4 external_issuers[0].jwks_uri"}, "user info"},
		{"AlgorithmsMissing", swap(demoIssuer, "algorithms:", ""), []string{"2 external_issuers[0].algorithms"}, "is required: the algorithms the identity provider signs with"},
		{"AlgorithmsEmpty", swap(demoIssuer, "algorithms:", "    algorithms: []\n"), []string{"5 external_issuers[0].algorithms"}, "is empty"},
		{"AlgorithmsNotList", swap(demoIssuer, "algorithms:", "    algorithms: RS256\n"), []string{"5 external_issuers[0].algorithms"}, "must be a list of JWS algorithms"},
		{"AlgorithmSymmetric", swap(demoIssuer, "algorithms:", "    algorithms: [HS256]\n"), []string{"5 external_issuers[0].algorithms[0]"}, "could also forge one"},
		{"AlgorithmNone", swap(demoIssuer, "algorithms:", "    algorithms: [none]\n"), []string{"5 external_issuers[0].algorithms[0]"}, "asymmetric algorithm"},
		{"AlgorithmTypo", swap(demoIssuer, "algorithms:", "    algorithms: [RS265]\n"), []string{"5 external_issuers[0].algorithms[0]"}, `did you mean "RS256"?`},
		{"AlgorithmCase", swap(demoIssuer, "algorithms:", "    algorithms: [es384]\n"), []string{"5 external_issuers[0].algorithms[0]"}, `did you mean "ES384"?`},
		{"AlgorithmDuplicate", swap(demoIssuer, "algorithms:", "    algorithms: [RS256, RS256]\n"), []string{"5 external_issuers[0].algorithms[1]"}, "listed twice"},
		{"ExternalAudienceMissing", swap(demoIssuer, "audience:", ""), []string{"2 external_issuers[0].audience"}, "is required: the aud value"},
		{"ExternalAudienceSpace", swap(demoIssuer, "audience:", "    audience: 'orders api'\n"), []string{"6 external_issuers[0].audience"}, "spaces"},
		{"ScopeClaimInvalid", demoIssuer + "    scope_claim: 'my scopes'\n", []string{"7 external_issuers[0].scope_claim"}, "such as scope, scp or roles"},
		{"ScopeMapNotMapping", demoIssuer + "    scope_map: [a]\n", []string{"7 external_issuers[0].scope_map"}, "must be a mapping from the identity provider's scope names"},
		{"ScopeMapKeyNotScalar", demoIssuer + "    scope_map: {[a]: b}\n", []string{"7 external_issuers[0].scope_map"}, "has a key that is a list"},
		{"ScopeMapKeyInvalid", demoIssuer + "    scope_map: {'a b': demo:read}\n", []string{"7 external_issuers[0].scope_map.a b"}, "not a valid scope name"},
		{"ScopeMapKeyTwice", demoIssuer + "    scope_map:\n      a: demo:read\n      a: demo:write\n", []string{"9 external_issuers[0].scope_map.a"}, "first on line 8"},
		{"ScopeMapValueEmpty", demoIssuer + "    scope_map: {a: ''}\n", []string{"7 external_issuers[0].scope_map.a"}, "is empty"},
		{"ScopeMapValueInvalid", demoIssuer + "    scope_map: {a: 'x y'}\n", []string{"7 external_issuers[0].scope_map.a"}, "not a valid scope"},
		{"ScopeMapValueNotString", demoIssuer + "    scope_map: {a: [b]}\n", []string{"7 external_issuers[0].scope_map.a"}, "must be a string"},
		{"ScopeMapValueNotAPIScope", swap(issuerAPI, "audience: https://demo", "    audience: https://demo.example.com\n    scope_map: {orders.read: demo:raed}\n") + "      - path: /x\n",
			[]string{"7 external_issuers[0].scope_map.orders.read"}, "not a scope of any API that accepts idp (demo); expected one of their scopes (demo:read, demo:write)"},
		{"RefreshIntervalTooShort", demoIssuer + "    refresh_interval: 30s\n", []string{"7 external_issuers[0].refresh_interval"}, "between 1m and 24h"},
		{"RefreshIntervalTooLong", demoIssuer + "    refresh_interval: 25h\n", []string{"7 external_issuers[0].refresh_interval"}, "between 1m and 24h"},

		// apis: sunset, hosts, external_issuers
		{"SunsetNotDeprecated", demoAPI + "    sunset: 2027-06-30T00:00:00Z\n", []string{"5 apis[0].sunset"}, "only announced for deprecated APIs, and this one is published"},
		{"SunsetRetired", demoAPI + "    lifecycle: retired\n    sunset: 2027-06-30T00:00:00Z\n", []string{"6 apis[0].sunset"}, "this one is retired"},
		{"SunsetDateOnly", demoAPI + "    lifecycle: deprecated\n    sunset: 2027-06-30\n", []string{"6 apis[0].sunset"}, "such as 2027-06-30T00:00:00Z"},
		{"SunsetSpaceSeparated", demoAPI + "    lifecycle: deprecated\n    sunset: 2027-06-30 10:00:00\n", []string{"6 apis[0].sunset"}, "not an RFC 3339 date and time"},
		{"SunsetWords", demoAPI + "    lifecycle: deprecated\n    sunset: next summer\n", []string{"6 apis[0].sunset"}, "not an RFC 3339 date and time"},
		{"SunsetBadLifecycleNoCascade", demoAPI + "    lifecycle: old\n    sunset: 2027-06-30T00:00:00Z\n", []string{"5 apis[0].lifecycle"}, "draft, published, deprecated, retired"},
		{"HostPort", demoAPI + "    hosts: ['api.example.com:8443']\n", []string{"5 apis[0].hosts[0]"}, "has a port"},
		{"HostWildcard", demoAPI + "    hosts: ['*.example.com']\n", []string{"5 apis[0].hosts[0]"}, "wildcard"},
		{"HostUnderscore", demoAPI + "    hosts: [api_v1.example.com]\n", []string{"5 apis[0].hosts[0]"}, "not a valid host name"},
		{"HostURL", demoAPI + "    hosts: ['https://api.example.com']\n", []string{"5 apis[0].hosts[0]"}, "not a URL"},
		{"HostPath", demoAPI + "    hosts: ['api.example.com/v1']\n", []string{"5 apis[0].hosts[0]"}, "not a URL"},
		{"HostBadPort", demoAPI + "    hosts: ['api.example.com:https']\n", []string{"5 apis[0].hosts[0]"}, "not a valid host name"},
		{"HostLabelTooLong", demoAPI + "    hosts: [" + strings.Repeat("a", 64) + ".example.com]\n", []string{"5 apis[0].hosts[0]"}, "not a valid host name"},
		{"HostIPv6WithoutBrackets", demoAPI + "    hosts: ['2001:db8::1']\n", []string{"5 apis[0].hosts[0]"}, "write [2001:db8::1]"},
		{"HostBracketsNotIPv6", demoAPI + "    hosts: ['[10.0.0.1]']\n", []string{"5 apis[0].hosts[0]"}, "not an IPv6 address in brackets"},
		{"HostDuplicateAnyCase", demoAPI + "    hosts: [api.example.com, API.Example.com]\n", []string{"5 apis[0].hosts[1]"}, "listed twice"},
		{"APIExternalIssuerUnknown", swap(issuerAPI, "external_issuers: [idp]", "    external_issuers: [ipd]\n") + "      - path: /x\n", []string{"12 apis[0].external_issuers[0]"}, `did you mean "idp"?`},
		{"APIExternalIssuerNoneDefined", swap(demoRoutes, "routes:", "    external_issuers: [idp]\n    routes:\n") + "      - path: /x\n", []string{"6 apis[0].external_issuers[0]"}, "under external_issuers (it has none)"},
		{"APIExternalIssuerDuplicate", swap(issuerAPI, "external_issuers: [idp]", "    external_issuers: [idp, idp]\n") + "      - path: /x\n", []string{"12 apis[0].external_issuers[1]"}, "listed twice"},
		{"APIExternalIssuerNoBearerRoute", issuerAPI + "      - {path: /x, credential: api_key}\n      - {path: /y, credential: none}\n", []string{"12 apis[0].external_issuers"}, "only used by routes with credential bearer, and this API has none"},
		{"APIExternalIssuerNoRoutes", demoIssuer + swap(demoAPI, "scopes:", "    scopes: [demo:read]\n    external_issuers: [idp]\n"), []string{"11 apis[0].external_issuers"}, "add a bearer route"},
		{"APIExternalIssuerBadCredentialNoCascade", issuerAPI + "      - {path: /x, credential: jwt}\n", []string{"14 apis[0].routes[0].credential"}, "bearer, api_key, none"},

		// apis[].upstream
		{"UpstreamNewKeyTypo", upstream + "      retires: 2\n", []string{"7 apis[0].upstream.retires"}, `did you mean "retries"?`},
		{"Balance", upstream + "      balance: random\n", []string{"7 apis[0].upstream.balance"}, "one of round_robin, least_conn"},
		{"BalanceTypo", upstream + "      balance: round-robin\n", []string{"7 apis[0].upstream.balance"}, `did you mean "round_robin"?`},
		{"Forwarding", upstream + "      forwarding: rfc7239\n", []string{"7 apis[0].upstream.forwarding"}, "one of x_forwarded, forwarded, both, none"},
		{"ForwardingTypo", upstream + "      forwarding: x-forwarded\n", []string{"7 apis[0].upstream.forwarding"}, `did you mean "x_forwarded"?`},
		{"ConnectTimeoutTooShort", upstream + "      connect_timeout: 50ms\n", []string{"7 apis[0].upstream.connect_timeout"}, "between 100ms and 1m"},
		{"ConnectTimeoutTooLong", upstream + "      connect_timeout: 61s\n", []string{"7 apis[0].upstream.connect_timeout"}, "between 100ms and 1m"},
		{"ReadTimeoutTooShort", upstream + "      read_timeout: 999ms\n", []string{"7 apis[0].upstream.read_timeout"}, "between 1s and 10m"},
		{"ReadTimeoutTooLong", upstream + "      read_timeout: 11m\n", []string{"7 apis[0].upstream.read_timeout"}, "between 1s and 10m"},
		{"RetriesTooMany", upstream + "      retries: 6\n", []string{"7 apis[0].upstream.retries"}, "between 0 and 5"},
		{"RetriesNegative", upstream + "      retries: -1\n", []string{"7 apis[0].upstream.retries"}, "between 0 and 5"},
		{"RetriesDuration", upstream + "      retries: 1s\n", []string{"7 apis[0].upstream.retries"}, `"1s" is a string`},
		{"HealthPathRelative", upstream + "      health_path: healthz\n", []string{"7 apis[0].upstream.health_path"}, "must start with /"},
		{"HealthPathFragment", upstream + "      health_path: '/healthz#x'\n", []string{"7 apis[0].upstream.health_path"}, "must not contain #"},
		{"HealthPathSpace", upstream + "      health_path: /health z\n", []string{"7 apis[0].upstream.health_path"}, "spaces"},
		{"HealthIntervalWithoutPath", upstream + "      health_interval: 5s\n", []string{"7 apis[0].upstream.health_interval"}, "only used with health_path"},
		{"HealthIntervalTooShort", upstream + "      health_path: /healthz\n      health_interval: 500ms\n", []string{"8 apis[0].upstream.health_interval"}, "between 1s and 10m"},
		{"HealthIntervalTooLong", upstream + "      health_path: /healthz\n      health_interval: 1h\n", []string{"8 apis[0].upstream.health_interval"}, "between 1s and 10m"},
		{"UpstreamPolicyWithoutTargets", demoAPI + "    upstream:\n      read_timeout: 5s\n", []string{"6 apis[0].upstream.targets"}, "is required when upstream sets read_timeout"},

		// apis[].upstream_auth
		{"UpstreamAuthNotMapping", auth[:len(auth)-1] + " true\n", []string{"5 apis[0].upstream_auth"}, "must be a mapping with keys identity_headers, mint_token"},
		{"UpstreamAuthUnknownKey", auth + "      identity_header: true\n", []string{"6 apis[0].upstream_auth.identity_header"}, `did you mean "identity_headers"?`},
		{"IdentityHeadersNotBool", auth + "      identity_headers: on\n", []string{"6 apis[0].upstream_auth.identity_headers"}, `"on" is not a boolean`},
		{"MintWithoutAudience", auth + "      mint_token: true\n", []string{"6 apis[0].upstream_auth.mint_audience"}, "is required with mint_token: true"},
		{"MintAudienceWithoutMint", auth + "      mint_audience: https://demo.internal\n", []string{"6 apis[0].upstream_auth.mint_audience"}, "only used with mint_token: true"},
		{"MintAudienceWithMintFalse", auth + "      mint_token: false\n      mint_audience: https://demo.internal\n", []string{"7 apis[0].upstream_auth.mint_audience"}, "only used with mint_token: true"},
		{"MintAudienceEmpty", auth + "      mint_token: true\n      mint_audience: ''\n", []string{"7 apis[0].upstream_auth.mint_audience"}, "is empty"},
		{"MintAudienceRelative", auth + "      mint_token: true\n      mint_audience: demo.internal\n", []string{"7 apis[0].upstream_auth.mint_audience"}, "not an absolute URI"},
		{"MintAudienceAdmin", auth + "      mint_token: true\n      mint_audience: urn:gatehouse:admin\n", []string{"7 apis[0].upstream_auth.mint_audience"}, "reserved"},
		{"MintAudienceOwnAPI", auth + "      mint_token: true\n      mint_audience: https://demo.example.com\n", []string{"7 apis[0].upstream_auth.mint_audience"}, "is the audience of apis[0], and the gateway would accept"},
		{"MintAudienceOtherAPI", auth + "      mint_token: true\n      mint_audience: urn:example:other\n  - name: other\n    audience: urn:example:other\n",
			[]string{"7 apis[0].upstream_auth.mint_audience"}, "is the audience of apis[1]"},
		{"StaticHeaderWithoutValue", auth + "      static_header: X-Api-Secret\n", []string{"6 apis[0].upstream_auth.static_value"}, "is required with static_header"},
		{"StaticValueWithoutHeader", auth + "      static_value: abc\n", []string{"6 apis[0].upstream_auth.static_value"}, "only used with static_header"},
		{"StaticHeaderEmpty", auth + "      static_header: ''\n      static_value: v\n", []string{"7 apis[0].upstream_auth.static_value"}, "only used with static_header"},
		{"StaticValueEmpty", auth + "      static_header: X-Api-Secret\n      static_value: ''\n", []string{"7 apis[0].upstream_auth.static_value"}, "is empty"},
		{"StaticValueNewline", auth + "      static_header: X-Api-Secret\n      static_value: \"a\\r\\nX-Admin: 1\"\n", []string{"7 apis[0].upstream_auth.static_value"}, "one line without control characters"},
		{"StaticValueTooLong", auth + "      static_header: X-Api-Secret\n      static_value: " + strings.Repeat("v", 8193) + "\n", []string{"7 apis[0].upstream_auth.static_value"}, "longer than 8192 bytes"},
		{"StaticValueUnsetVariable", auth + "      static_header: X-Api-Secret\n      static_value: ${UPSTREAM_SECRET}\n", []string{"7 apis[0].upstream_auth.static_value"}, "UPSTREAM_SECRET is not set"},
		{"StaticHeaderInvalid", auth + "      static_header: 'X Api Secret'\n      static_value: v\n", []string{"6 apis[0].upstream_auth.static_header"}, "not a header name"},
		{"StaticHeaderColon", auth + "      static_header: 'X-Api-Secret:'\n      static_value: v\n", []string{"6 apis[0].upstream_auth.static_header"}, "not a header name"},
		{"StaticHeaderHopByHop", auth + "      static_header: connection\n      static_value: v\n", []string{"6 apis[0].upstream_auth.static_header"}, "hop-by-hop"},
		{"StaticHeaderProxyAuthorization", auth + "      static_header: Proxy-Authorization\n      static_value: v\n", []string{"6 apis[0].upstream_auth.static_header"}, "removes or sets itself"},
		{"StaticHeaderHost", auth + "      static_header: host\n      static_value: v\n", []string{"6 apis[0].upstream_auth.static_header"}, "framing"},
		{"StaticHeaderForwarded", auth + "      static_header: X-Forwarded-For\n      static_value: v\n", []string{"6 apis[0].upstream_auth.static_header"}, "forwarding"},
		{"StaticHeaderForwardedPort", auth + "      static_header: X-Forwarded-Port\n      static_value: v\n", []string{"6 apis[0].upstream_auth.static_header"}, "forwarding"},
		{"StaticHeaderRealIP", auth + "      static_header: X-Real-IP\n      static_value: v\n", []string{"6 apis[0].upstream_auth.static_header"}, "forwarding"},
		{"StaticHeaderRequestID", auth + "      static_header: x-request-id\n      static_value: v\n", []string{"6 apis[0].upstream_auth.static_header"}, "request id"},
		{"StaticHeaderGatehouse", auth + "      static_header: x-gatehouse-client-id\n      static_value: v\n", []string{"6 apis[0].upstream_auth.static_header"}, "X-Gatehouse- range"},
		{"StaticAuthorizationWithMint", auth + "      mint_token: true\n      mint_audience: https://demo.internal\n      static_header: authorization\n      static_value: Basic abc\n",
			[]string{"8 apis[0].upstream_auth.static_header"}, "cannot be Authorization with mint_token: true"},

		// apis[].traffic
		{"TrafficNotMapping", traffic[:len(traffic)-1] + " [per_client]\n", []string{"5 apis[0].traffic"}, "must be a mapping with keys per_client, spike_arrest, quota, ip_allow, ip_deny"},
		{"TrafficUnknownKey", traffic + "      per_clients: {rate: 1}\n", []string{"6 apis[0].traffic.per_clients"}, `did you mean "per_client"?`},
		{"RateLimitNotMapping", traffic + "      per_client: 100\n", []string{"6 apis[0].traffic.per_client"}, "must be a mapping with keys rate, period, burst"},
		{"RateMissing", traffic + "      per_client: {period: 1s}\n", []string{"6 apis[0].traffic.per_client.rate"}, "is required: how many requests each period allows"},
		{"RateZero", traffic + "      per_client: {rate: 0}\n", []string{"6 apis[0].traffic.per_client.rate"}, "between 1 and 1000000000"},
		{"RateTooHigh", traffic + "      spike_arrest: {rate: 1000000001}\n", []string{"6 apis[0].traffic.spike_arrest.rate"}, "between 1 and 1000000000"},
		{"RatePerSecondString", traffic + "      spike_arrest: {rate: 10/s}\n", []string{"6 apis[0].traffic.spike_arrest.rate"}, `"10/s" is a string`},
		{"PeriodTooShort", traffic + "      per_client: {rate: 1, period: 500us}\n", []string{"6 apis[0].traffic.per_client.period"}, "between 1ms and 24h"},
		{"PeriodTooLong", traffic + "      per_client: {rate: 1, period: 25h}\n", []string{"6 apis[0].traffic.per_client.period"}, "between 1ms and 24h"},
		{"PeriodBareNumber", traffic + "      per_client: {rate: 1, period: 1}\n", []string{"6 apis[0].traffic.per_client.period"}, "has no unit"},
		{"BurstNegative", traffic + "      per_client: {rate: 1, burst: -1}\n", []string{"6 apis[0].traffic.per_client.burst"}, "between 0 and 1000000000"},
		{"RateLimitUnknownKey", traffic + "      spike_arrest: {rate: 1, brust: 1}\n", []string{"6 apis[0].traffic.spike_arrest.brust"}, `did you mean "burst"?`},
		{"QuotaNegative", traffic + "      quota: {daily: -1}\n", []string{"6 apis[0].traffic.quota.daily"}, "a whole number of at least 0"},
		{"QuotaDailyAboveMonthly", traffic + "      quota:\n        daily: 1000\n        monthly: 100\n", []string{"7 apis[0].traffic.quota.daily"}, "more than the monthly quota (100)"},
		{"QuotaUnknownKey", traffic + "      quota: {weekly: 10}\n", []string{"6 apis[0].traffic.quota.weekly"}, "expected one of daily, monthly"},
		{"IPAllowInvalid", traffic + "      ip_allow: [nope]\n", []string{"6 apis[0].traffic.ip_allow[0]"}, "not an IP address or CIDR prefix"},
		{"IPDenyHostBits", traffic + "      ip_deny: ['2001:db8::1/32']\n", []string{"6 apis[0].traffic.ip_deny[0]"}, "did you mean 2001:db8::/32?"},
		{"IPDenyDuplicate", traffic + "      ip_deny: [203.0.113.7, '::ffff:203.0.113.7/128']\n", []string{"6 apis[0].traffic.ip_deny[1]"}, "same network"},

		// apis[].routes
		{"RouteCredential", demoRoutes + "      - {path: /x, credential: token}\n", []string{"7 apis[0].routes[0].credential"}, "one of bearer, api_key, none"},
		{"RouteCredentialTypo", demoRoutes + "      - {path: /x, credential: apikey}\n", []string{"7 apis[0].routes[0].credential"}, `did you mean "api_key"?`},
		{"RouteNoneWithScopes", demoRoutes + "      - path: /x\n        credential: none\n        scopes: [demo:read]\n", []string{"9 apis[0].routes[0].scopes"}, "checks no credential"},
		{"RouteNoneWithRateLimit", demoRoutes + "      - path: /x\n        credential: none\n        rate_limit: {rate: 1}\n", []string{"9 apis[0].routes[0].rate_limit"}, "use traffic.spike_arrest"},
		{"RouteQueryTokenWithAPIKey", demoRoutes + "      - {path: /x, credential: api_key, allow_query_token: true}\n", []string{"7 apis[0].routes[0].allow_query_token"}, "only used by routes with credential bearer"},
		{"RouteQueryTokenWithNone", demoRoutes + "      - {path: /x, credential: none, allow_query_token: true}\n", []string{"7 apis[0].routes[0].allow_query_token"}, "this one takes none"},
		{"RouteQueryTokenQuoted", demoRoutes + "      - {path: /x, allow_query_token: 'true'}\n", []string{"7 apis[0].routes[0].allow_query_token"}, "is quoted"},
		{"RouteRateLimitNoRate", demoRoutes + "      - {path: /x, rate_limit: {burst: 5}}\n", []string{"7 apis[0].routes[0].rate_limit.rate"}, "is required"},
		{"RouteRateLimitNotMapping", demoRoutes + "      - {path: /x, rate_limit: 10}\n", []string{"7 apis[0].routes[0].rate_limit"}, "must be a mapping with keys rate, period, burst"},

		// clients[].networks
		{"NetworksNotMapping", "clients:\n  - id: a\n    networks: [10.0.0.0/8]\n", []string{"3 clients[0].networks"}, "must be a mapping with keys allow, deny"},
		{"NetworksUnknownKey", "clients:\n  - id: a\n    networks: {allowed: [10.0.0.0/8]}\n", []string{"3 clients[0].networks.allowed"}, `did you mean "allow"?`},
		{"NetworksAllowInvalid", "clients:\n  - id: a\n    networks: {allow: [10.0.0.0/40]}\n", []string{"3 clients[0].networks.allow[0]"}, "/0 to /32"},
		{"NetworksDenyNotList", "clients:\n  - id: a\n    networks: {deny: 10.0.0.1}\n", []string{"3 clients[0].networks.deny"}, "must be a list"},
	})
}

// TestGatewayAccepts checks the gateway settings at the edges of their
// rules, and the defaults filled in around them.
func TestGatewayAccepts(t *testing.T) {
	prefixes := func(ss ...string) []netip.Prefix {
		var out []netip.Prefix
		for _, s := range ss {
			out = append(out, netip.MustParsePrefix(s))
		}
		return out
	}
	api := func(c *Config) *gatehouse.API { return &c.APIs[0] }
	upstream := demoAPI + "    upstream:\n      targets: ['http://h']\n"
	runAccepts(t, []acceptance{
		// listen.tls
		{"TLSAbsent", "listen: {public: '127.0.0.1:80'}\n", func(c *Config) any { return c.TLS }, TLSConfig{}},
		{"TLSNull", "listen:\n  tls:\n", func(c *Config) any { return c.TLS }, TLSConfig{}},
		{"TLSEmptyMapping", "listen:\n  tls: {}\n", func(c *Config) any { return c.TLS }, TLSConfig{}},
		{"TLSSelfSigned", "listen:\n  tls: {addr: '127.0.0.1:8443', self_signed: true}\n", func(c *Config) any { return c.TLS }, TLSConfig{Addr: "127.0.0.1:8443", SelfSigned: true}},
		{"TLSFilesRelativeToConfig", "listen:\n  tls: {addr: ':8443', cert_file: tls/cert.pem, key_file: /etc/k.pem, self_signed: false}\n",
			func(c *Config) any { return c.TLS }, TLSConfig{Addr: ":8443", CertFile: filepath.Join("cfg", "tls", "cert.pem"), KeyFile: "/etc/k.pem"}},
		{"TLSPortZeroLikeOthers", "listen: {public: '127.0.0.1:0', admin: '127.0.0.1:0', tls: {addr: '127.0.0.1:0', self_signed: true}}\n",
			func(c *Config) any { return c.TLS.Addr }, "127.0.0.1:0"},
		{"TLSBoolSpellings", "listen:\n  tls: {addr: ':8443', self_signed: TRUE}\n", func(c *Config) any { return c.TLS.SelfSigned }, true},

		// gateway
		{"GatewayDefaults", "gateway:\n", func(c *Config) any { return c.Gateway }, GatewayConfig{MaxBodyBytes: 10 << 20, GCPercent: 400, TrustedProxiesHeader: "x_forwarded"}},
		{"TrustedProxiesHeaderForwarded", "gateway: {trusted_proxies_header: forwarded}\n", func(c *Config) any { return c.Gateway.TrustedProxiesHeader }, "forwarded"},
		{"MaxBodyLowerBound", "gateway: {max_body_bytes: 1}\n", func(c *Config) any { return c.Gateway.MaxBodyBytes }, int64(1)},
		{"MaxBodyUpperBound", "gateway: {max_body_bytes: 1073741824}\n", func(c *Config) any { return c.Gateway.MaxBodyBytes }, int64(1 << 30)},
		{"MaxBodyUnderscoresAndHex", "gateway: {max_body_bytes: 0x10_0000}\n", func(c *Config) any { return c.Gateway.MaxBodyBytes }, int64(1 << 20)},
		{"PlainHTTPTrue", "gateway: {allow_plain_http_tokens: True}\n", func(c *Config) any { return c.Gateway.AllowPlainHTTPTokens }, true},
		{"PlainHTTPFalse", "gateway: {allow_plain_http_tokens: false}\n", func(c *Config) any { return c.Gateway.AllowPlainHTTPTokens }, false},
		{"TrustedProxyForms", "gateway:\n  trusted_proxies: [127.0.0.1, '::1', '::ffff:10.1.2.3', '2001:db8::/32', '::ffff:10.0.0.0/104', 192.168.0.0/16, 10.9.0.0/32]\n",
			func(c *Config) any { return c.Gateway.TrustedProxies },
			prefixes("127.0.0.1/32", "::1/128", "10.1.2.3/32", "2001:db8::/32", "10.0.0.0/8", "192.168.0.0/16", "10.9.0.0/32")},
		{"TrustedProxyOverlapping", "gateway:\n  trusted_proxies: [10.0.0.0/8, 10.1.0.0/16]\n", func(c *Config) any { return len(c.Gateway.TrustedProxies) }, 2},

		// external_issuers
		{"ExternalDefaults", demoIssuer, func(c *Config) any { return c.ExternalIssuers }, []gatehouse.ExternalIssuer{{
			Name: "idp", Issuer: "https://idp.example.com", JWKSURI: "https://idp.example.com/jwks", Algorithms: []string{"RS256"},
			Audience: "https://demo.example.com", ScopeClaim: "scope", RefreshInterval: 5 * time.Minute,
		}}},
		{"ExternalLookup", demoIssuer, func(c *Config) any {
			return []bool{c.ExternalIssuer("idp") == &c.ExternalIssuers[0], c.ExternalIssuer("nope") == nil}
		}, []bool{true, true}},
		{"ExternalHTTPLoopback", swap(swap(demoIssuer, "issuer:", "    issuer: http://127.0.0.1:9999/realms/x\n"), "jwks_uri:", "    jwks_uri: http://localhost:9999/certs\n"),
			func(c *Config) any { return []string{c.ExternalIssuers[0].Issuer, c.ExternalIssuers[0].JWKSURI} }, []string{"http://127.0.0.1:9999/realms/x", "http://localhost:9999/certs"}},
		{"ExternalIssuerTrailingSlash", swap(demoIssuer, "issuer:", "    issuer: https://tenant.idp.example/\n"), func(c *Config) any { return c.ExternalIssuers[0].Issuer }, "https://tenant.idp.example/"},
		{"ExternalIssuerDiffersFromOwn", "issuer: https://auth.example.com\n" + demoIssuer, func(c *Config) any { return c.ExternalIssuers[0].Issuer }, "https://idp.example.com"},
		{"JWKSURIWithQuery", swap(demoIssuer, "jwks_uri:", "    jwks_uri: https://idp.example.com/keys?v=2\n"), func(c *Config) any { return c.ExternalIssuers[0].JWKSURI }, "https://idp.example.com/keys?v=2"},
		{"EveryAlgorithm", swap(demoIssuer, "algorithms:", "    algorithms: [EdDSA, ES256, ES384, ES512, RS256, RS384, RS512, PS256, PS384, PS512]\n"),
			func(c *Config) any { return len(c.ExternalIssuers[0].Algorithms) }, 10},
		{"ExternalAudienceNotURI", swap(demoIssuer, "audience:", "    audience: api://orders\n"), func(c *Config) any { return c.ExternalIssuers[0].Audience }, "api://orders"},
		{"ExternalAudienceSameAsAPI", issuerAPI + "      - path: /x\n", func(c *Config) any { return []string{c.ExternalIssuers[0].Audience, c.APIs[0].Audience} },
			[]string{"https://demo.example.com", "https://demo.example.com"}},
		{"ScopeClaimURL", demoIssuer + "    scope_claim: https://example.com/roles\n", func(c *Config) any { return c.ExternalIssuers[0].ScopeClaim }, "https://example.com/roles"},
		{"ScopeMapManyToOne", swap(issuerAPI, "audience: https://demo", "    audience: https://demo.example.com\n    scope_map: {read: demo:read, view: demo:read, 'orders/all': demo:write}\n") + "      - path: /x\n",
			func(c *Config) any { return c.ExternalIssuers[0].ScopeMap }, map[string]string{"read": "demo:read", "view": "demo:read", "orders/all": "demo:write"}},
		{"ScopeMapOfUnusedIssuer", demoIssuer + "    scope_map: {a: anything}\n", func(c *Config) any { return c.ExternalIssuers[0].ScopeMap }, map[string]string{"a": "anything"}},
		{"ScopeMapEmpty", demoIssuer + "    scope_map: {}\n", func(c *Config) any { return c.ExternalIssuers[0].ScopeMap }, map[string]string(nil)},
		{"RefreshIntervalBounds", demoIssuer + "    refresh_interval: 1m\n  - {name: b, issuer: 'https://b.example', jwks_uri: 'https://b.example/k', algorithms: [ES256], audience: b, refresh_interval: 24h}\n",
			func(c *Config) any {
				return []time.Duration{c.ExternalIssuers[0].RefreshInterval, c.ExternalIssuers[1].RefreshInterval}
			}, []time.Duration{time.Minute, 24 * time.Hour}},
		{"SameAudienceTwoIssuers", demoIssuer + "  - {name: b, issuer: 'https://b.example', jwks_uri: 'https://b.example/k', algorithms: [ES256], audience: 'https://demo.example.com'}\n",
			func(c *Config) any { return len(c.ExternalIssuers) }, 2},

		// apis: sunset, hosts, external_issuers
		{"SunsetToUTC", demoAPI + "    lifecycle: deprecated\n    sunset: 2027-06-30T02:00:00.5+02:00\n", func(c *Config) any { return api(c).SunsetAt },
			time.Date(2027, 6, 30, 0, 0, 0, 5e8, time.UTC)},
		{"SunsetQuoted", demoAPI + "    lifecycle: deprecated\n    sunset: '2027-06-30T00:00:00Z'\n", func(c *Config) any { return api(c).SunsetAt }, time.Date(2027, 6, 30, 0, 0, 0, 0, time.UTC)},
		{"SunsetAbsent", demoAPI + "    lifecycle: deprecated\n", func(c *Config) any { return api(c).SunsetAt.IsZero() }, true},
		{"HostForms", demoAPI + "    hosts: [Api.Example.COM, localhost, '[::1]', 10.0.0.1, xn--bcher-kva.example]\n", func(c *Config) any { return api(c).Hosts },
			[]string{"api.example.com", "localhost", "[::1]", "10.0.0.1", "xn--bcher-kva.example"}},
		{"HostSameOnTwoAPIs", demoAPI + "    hosts: [api.example.com]\n  - {name: b, audience: 'https://b.example', hosts: [api.example.com]}\n", func(c *Config) any { return c.APIs[1].Hosts }, []string{"api.example.com"}},
		{"ExternalIssuersWithMixedRoutes", issuerAPI + "      - {path: /x, credential: none}\n      - {path: /y}\n", func(c *Config) any { return api(c).ExternalIssuers }, []string{"idp"}},

		// apis[].upstream
		{"UpstreamDefaults", demoRoutes + "      - path: /x\n", func(c *Config) any { return api(c).UpstreamPolicy }, defaultUpstreamPolicy},
		{"UpstreamDefaultsWithoutUpstream", demoAPI, func(c *Config) any { return api(c).UpstreamPolicy }, defaultUpstreamPolicy},
		{"UpstreamLowerBounds", upstream + "      connect_timeout: 100ms\n      read_timeout: 1s\n      retries: 0\n      health_path: /\n      health_interval: 1s\n",
			func(c *Config) any { return api(c).UpstreamPolicy },
			gatehouse.UpstreamPolicy{Balance: "round_robin", Forwarding: "x_forwarded", ConnectTimeout: 100 * time.Millisecond, ReadTimeout: time.Second, Retries: -1, HealthPath: "/", HealthInterval: time.Second}},
		{"UpstreamUpperBounds", upstream + "      balance: least_conn\n      forwarding: none\n      connect_timeout: 1m\n      read_timeout: 10m\n      retries: 5\n      health_path: /healthz?full=1\n      health_interval: 10m\n",
			func(c *Config) any { return api(c).UpstreamPolicy },
			gatehouse.UpstreamPolicy{Balance: "least_conn", Forwarding: "none", ConnectTimeout: time.Minute, ReadTimeout: 10 * time.Minute, Retries: 5, HealthPath: "/healthz?full=1", HealthInterval: 10 * time.Minute}},
		{"HealthIntervalDefault", upstream + "      health_path: /healthz\n", func(c *Config) any { return api(c).UpstreamPolicy.HealthInterval }, 10 * time.Second},

		// apis[].upstream_auth
		{"UpstreamAuthDefaults", demoAPI + "    upstream_auth:\n", func(c *Config) any { return api(c).UpstreamAuth }, gatehouse.UpstreamAuth{}},
		{"IdentityHeaders", demoAPI + "    upstream_auth: {identity_headers: true}\n", func(c *Config) any { return api(c).UpstreamAuth }, gatehouse.UpstreamAuth{IdentityHeaders: true}},
		{"MintURNAudience", demoAPI + "    upstream_auth: {mint_token: true, mint_audience: 'urn:example:demo-upstream'}\n", func(c *Config) any { return api(c).UpstreamAuth },
			gatehouse.UpstreamAuth{MintToken: true, MintAudience: "urn:example:demo-upstream"}},
		{"StaticAuthorizationWithoutMint", demoAPI + "    upstream_auth: {static_header: authorization, static_value: 'Basic dTpw'}\n", func(c *Config) any { return api(c).UpstreamAuth },
			gatehouse.UpstreamAuth{StaticHeader: "Authorization", StaticValue: "Basic dTpw"}},
		{"StaticValueWithTab", demoAPI + "    upstream_auth: {static_header: X-Key, static_value: \"a\\tb\"}\n", func(c *Config) any { return api(c).UpstreamAuth.StaticValue }, "a\tb"},
		{"StaticValueFromVariableDefault", demoAPI + "    upstream_auth: {static_header: X-Key, static_value: '${UPSTREAM_KEY:-dev-key}'}\n", func(c *Config) any { return api(c).UpstreamAuth.StaticValue }, "dev-key"},

		// apis[].traffic
		{"TrafficDefaults", demoAPI + "    traffic:\n", func(c *Config) any { return api(c).Traffic }, gatehouse.Traffic{}},
		{"RateLimitDefaults", demoAPI + "    traffic: {per_client: {rate: 5}}\n", func(c *Config) any { return api(c).Traffic.PerClient }, &gatehouse.RateLimit{Rate: 5, Period: time.Second}},
		{"RateLimitBounds", demoAPI + "    traffic:\n      per_client: {rate: 1, period: 1ms, burst: 0}\n      spike_arrest: {rate: 1000000000, period: 24h, burst: 1000000000}\n",
			func(c *Config) any {
				return []*gatehouse.RateLimit{api(c).Traffic.PerClient, api(c).Traffic.SpikeArrest}
			},
			[]*gatehouse.RateLimit{{Rate: 1, Period: time.Millisecond}, {Rate: 1e9, Period: 24 * time.Hour, Burst: 1e9}}},
		{"QuotaZeroIsNoCap", demoAPI + "    traffic: {quota: {daily: 0, monthly: 100}}\n", func(c *Config) any { return api(c).Traffic.Quota }, gatehouse.Quota{Monthly: 100}},
		{"QuotaDailyEqualsMonthly", demoAPI + "    traffic: {quota: {daily: 100, monthly: 100}}\n", func(c *Config) any { return api(c).Traffic.Quota }, gatehouse.Quota{Daily: 100, Monthly: 100}},
		{"QuotaDailyOnly", demoAPI + "    traffic: {quota: {daily: 5000000000}}\n", func(c *Config) any { return api(c).Traffic.Quota }, gatehouse.Quota{Daily: 5e9}},
		{"IPListsAnyAddress", demoAPI + "    traffic: {ip_allow: [0.0.0.0/0, '::/0'], ip_deny: ['::ffff:203.0.113.0/120']}\n",
			func(c *Config) any { return [][]netip.Prefix{api(c).Traffic.IPAllow, api(c).Traffic.IPDeny} },
			[][]netip.Prefix{prefixes("0.0.0.0/0", "::/0"), prefixes("203.0.113.0/24")}},

		// apis[].routes
		{"RouteCredentialDefault", demoRoutes + "      - path: /x\n", func(c *Config) any {
			return []any{api(c).Routes[0].Credential, api(c).Routes[0].AllowQueryToken, api(c).Routes[0].RateLimit}
		},
			[]any{"bearer", false, (*gatehouse.RateLimit)(nil)}},
		{"RouteAPIKeyWithScopes", demoRoutes + "      - {path: /x, credential: api_key, scopes: [demo:read]}\n", func(c *Config) any { return api(c).Routes[0].Scopes }, []string{"demo:read"}},
		{"RouteNoneQueryTokenFalse", demoRoutes + "      - {path: /x, credential: none, allow_query_token: false}\n", func(c *Config) any { return api(c).Routes[0].Credential }, "none"},
		{"RouteQueryToken", demoRoutes + "      - {path: /x, allow_query_token: true, rate_limit: {rate: 3, period: 1m}}\n",
			func(c *Config) any { return []any{api(c).Routes[0].AllowQueryToken, api(c).Routes[0].RateLimit} },
			[]any{true, &gatehouse.RateLimit{Rate: 3, Period: time.Minute}}},

		// clients[].networks
		{"ClientNetworks", "clients:\n  - id: a\n    networks: {allow: [10.0.0.0/8, '2001:db8::1'], deny: ['::ffff:10.0.0.7']}\n", func(c *Config) any { return c.Clients[0].Networks },
			gatehouse.ClientNetworks{Allow: prefixes("10.0.0.0/8", "2001:db8::1/128"), Deny: prefixes("10.0.0.7/32")}},
		{"ClientNetworksEmpty", "clients:\n  - id: a\n    networks: {}\n", func(c *Config) any { return c.Clients[0].Networks }, gatehouse.ClientNetworks{}},
	})
}
