package config

import (
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gatehouse/gatehouse"
	"github.com/google/go-cmp/cmp"
)

// Snippets the cases build on. demoAPI takes lines 1-4 and demoClient lines
// 5-6, so a case's own lines start at 7.
const (
	demoAPI = `apis:
  - name: demo
    audience: https://demo.example.com
    scopes: [demo:read, demo:write]
`
	demoClient = demoAPI + `clients:
  - id: c
`
	demoRoutes = `apis:
  - name: demo
    audience: https://demo.example.com
    scopes: [demo:read, demo:write]
    upstream: {targets: ["http://127.0.0.1:9000"]}
    routes:
`
)

// testFiles is what jwks_file can read in these tests, by resolved path.
var testFiles = map[string]string{
	"cfg/keys.json":       `{"keys": [{"kty": "EC", "crv": "P-256", "x": "a", "y": "b"}]}`,
	"cfg/not-json.json":   `{"keys": [`,
	"cfg/array.json":      `[{"kty": "EC"}]`,
	"/etc/gh/keys.json":   `{"keys": [{"kty": "OKP"}]}`,
	"cfg/upper-keys.json": `{"KEYS": [{"kty": "EC"}]}`,
}

func readTestFile(p string) ([]byte, error) {
	if s, ok := testFiles[filepath.ToSlash(p)]; ok {
		return []byte(s), nil
	}
	return nil, fs.ErrNotExist
}

// parseTest parses data as the file cfg/gatehouse.yaml.
func parseTest(data string, env map[string]string) (*Config, error) {
	return parse([]byte(data), "cfg/gatehouse.yaml", mapEnv(env), readTestFile)
}

// refusal is a file that breaks a rule, the problems expected (line and
// key, so that a single mistake yields a single problem) and a piece of
// their messages, which must say what is expected.
type refusal struct {
	name string
	data string
	want []string // "line key"
	msg  string   // in one of the messages
}

func runRefusals(t *testing.T, cases []refusal) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := parseTest(tc.data, nil)
			var ps Problems
			if !errors.As(err, &ps) {
				t.Fatalf("got config %+v, error %v; want Problems", cfg, err)
			}
			if cfg != nil {
				t.Errorf("got a config along with problems")
			}
			var got []string
			for _, p := range ps {
				got = append(got, strings.TrimSpace(fmt.Sprintf("%d %s", p.Line, p.Key)))
			}
			want := make([]string, len(tc.want))
			for i, w := range tc.want {
				want[i] = strings.TrimSpace(w)
			}
			if diff := cmp.Diff(got, want); diff != "" {
				t.Errorf("problems (-got +want):\n%s\nall:\n%v", diff, ps)
			}
			if !strings.Contains(ps.Error(), tc.msg) {
				t.Errorf("no message contains %q:\n%v", tc.msg, ps)
			}
		})
	}
}

// acceptance is a file at the edge of the rules, which must pass, and what
// a part of its Config must be.
type acceptance struct {
	name string
	data string
	get  func(*Config) any
	want any
}

func runAccepts(t *testing.T, cases []acceptance) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := parseTest(tc.data, nil)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.get(cfg), tc.want, equatePrefixes); diff != "" {
				t.Errorf("mismatch (-got +want):\n%s", diff)
			}
		})
	}
}

// TestRefusals has one case per rule of the file's core: listeners,
// tokens, APIs, routes and clients. TestGatewayRefusals covers the gateway.
func TestRefusals(t *testing.T) {
	runRefusals(t, []refusal{
		// Structure.
		{"UnknownTopLevelKey", "isuer: https://a.example\n", []string{"1 isuer"}, `did you mean "issuer"?`},
		{"UnknownKeyFarFromAny", "colour: blue\n", []string{"1 colour"}, "expected one of issuer, listen"},
		{"DuplicateKey", "data_dir: a\ndata_dir: b\n", []string{"2 data_dir"}, "first on line 1"},
		{"MergeKey", "x: &x {data_dir: a}\n<<: *x\n", []string{"1 x", "2 <<"}, "merge keys are not supported"},
		{"TopLevelList", "- a\n", []string{"1 "}, "top level must be a mapping"},
		{"TopLevelScalar", "hello\n", []string{"1 "}, "top level must be a mapping"},
		{"MultipleDocuments", "data_dir: a\n---\ndata_dir: b\n", []string{"2 "}, "more than one YAML document"},
		{"SyntaxError", "apis:\n  - name: a\n   audience: b\n", []string{"3 "}, "invalid YAML"},
		{"UnsupportedTag", "data_dir: !!binary aGVsbG8=\n", []string{"1 data_dir"}, "tag !!binary is not supported"},
		{"CustomTag", "data_dir: !env HOME\n", []string{"1 data_dir"}, "tag !env is not supported"},
		{"StringNotList", "data_dir: [a]\n", []string{"1 data_dir"}, "must be a string; got a list"},

		// Issuer.
		{"IssuerNotAbsolute", "issuer: auth.example.com\n", []string{"1 issuer"}, "expected https://host"},
		{"IssuerHTTPNotLoopback", "issuer: http://auth.example.com\n", []string{"1 issuer"}, "use https"},
		{"IssuerOtherScheme", "issuer: ftp://auth.example.com\n", []string{"1 issuer"}, "must use https"},
		{"IssuerUpperCaseScheme", "issuer: HTTPS://auth.example.com\n", []string{"1 issuer"}, "lower-case https://"},
		{"IssuerQuery", "issuer: https://auth.example.com?x=1\n", []string{"1 issuer"}, "must not have a query"},
		{"IssuerFragment", "issuer: https://auth.example.com#x\n", []string{"1 issuer"}, "must not have a fragment"},
		{"IssuerEmptyFragment", "issuer: https://auth.example.com#\n", []string{"1 issuer"}, "must not have a fragment"},
		{"IssuerTrailingSlash", "issuer: https://auth.example.com/\n", []string{"1 issuer"}, "without the trailing slash"},
		{"IssuerUserInfo", "issuer: https://me@auth.example.com\n", []string{"1 issuer"}, "user info"},

		// Listeners and data directory.
		{"ListenNoPort", "listen: {public: localhost}\n", []string{"1 listen.public"}, "expected for example 127.0.0.1:8080"},
		{"ListenPortRange", "listen: {admin: '127.0.0.1:70000'}\n", []string{"1 listen.admin"}, "from 0 to 65535"},
		{"ListenPortName", "listen: {admin: '127.0.0.1:http'}\n", []string{"1 listen.admin"}, "from 0 to 65535"},
		{"ListenSameAddress", "listen:\n  public: 127.0.0.1:9000\n  admin: 127.0.0.1:9000\n", []string{"3 listen.admin"}, "needs its own address"},
		{"ListenPublicOnDefaultAdmin", "listen:\n  public: 127.0.0.1:8081\n", []string{"2 listen.public"}, "needs its own address"},
		{"ListenBadAddressNoCascade", "listen: {public: bogus, admin: '127.0.0.1:8080'}\n", []string{"1 listen.public"}, "host:port"},
		{"ListenUnknownKey", "listen: {pubilc: ':80'}\n", []string{"1 listen.pubilc"}, `did you mean "public"?`},
		{"DataDirNotString", "data_dir: {a: b}\n", []string{"1 data_dir"}, "must be a string"},

		// Tokens.
		{"TokenFormat", "tokens: {access_token_format: paseto}\n", []string{"1 tokens.access_token_format"}, "one of jwt, opaque"},
		{"DurationBareNumber", "tokens:\n  access_token_ttl: 900\n", []string{"2 tokens.access_token_ttl"}, `such as "15m"`},
		{"DurationSyntax", "tokens:\n  access_token_ttl: 15 minutes\n", []string{"2 tokens.access_token_ttl"}, "not a duration"},
		{"DurationNegative", "tokens:\n  refresh_reuse_grace: -1s\n", []string{"2 tokens.refresh_reuse_grace"}, "between 0s and 1m"},
		{"AccessTTLTooShort", "tokens:\n  access_token_ttl: 30s\n", []string{"2 tokens.access_token_ttl"}, "between 1m and 24h"},
		{"AccessTTLTooLong", "tokens:\n  access_token_ttl: 25h\n", []string{"2 tokens.access_token_ttl"}, "between 1m and 24h"},
		{"RefreshTTLTooLong", "tokens:\n  refresh_token_ttl: 9000h\n", []string{"2 tokens.refresh_token_ttl"}, "between 1m and 8760h"},
		{"RefreshIdleLongerThanAbsolute", "tokens:\n  refresh_token_ttl: 24h\n  refresh_token_idle_ttl: 48h\n", []string{"3 tokens.refresh_token_idle_ttl"}, "at most that"},
		{"RefreshIdleLongerThanDefaultAbsolute", "tokens:\n  refresh_token_idle_ttl: 800h\n", []string{"2 tokens.refresh_token_idle_ttl"}, "refresh_token_ttl (720h)"},
		{"ReuseGraceTooLong", "tokens:\n  refresh_reuse_grace: 61s\n", []string{"2 tokens.refresh_reuse_grace"}, "between 0s and 1m"},
		{"Algorithm", "tokens:\n  signing_algorithm: HS256\n", []string{"2 tokens.signing_algorithm"}, "EdDSA, ES256, RS256, PS256"},
		{"AlgorithmCase", "tokens:\n  signing_algorithm: eddsa\n", []string{"2 tokens.signing_algorithm"}, `did you mean "EdDSA"?`},
		{"RotationTooShort", "tokens:\n  key_rotation_period: 59m\n", []string{"2 tokens.key_rotation_period"}, "at least 1h"},
		{"PrepublishNotShorter", "tokens:\n  key_rotation_period: 2h\n  key_prepublish: 2h\n", []string{"3 tokens.key_prepublish"}, "must be shorter than key_rotation_period (2h)"},
		{"DefaultPrepublishNotShorter", "tokens:\n  key_rotation_period: 12h\n", []string{"2 tokens.key_rotation_period"}, "key_prepublish (24h)"},
		{"PrepublishZero", "tokens:\n  key_prepublish: 0s\n", []string{"2 tokens.key_prepublish"}, "at least 1m"},
		{"LeewayZero", "tokens:\n  leeway: 0s\n", []string{"2 tokens.leeway"}, "between 1s and 1m"},
		{"CheckpointIntervalTooShort", "audit:\n  checkpoint_interval: 500ms\n", []string{"2 audit.checkpoint_interval"}, "between 1s and 1h"},
		{"CheckpointIntervalTooLong", "audit:\n  checkpoint_interval: 2h\n", []string{"2 audit.checkpoint_interval"}, "between 1s and 1h"},
		{"AuditUnknownKey", "audit:\n  retention: 1h\n", []string{"2 audit.retention"}, "unknown key"},
		{"LeewayTooLong", "tokens:\n  leeway: 2m\n", []string{"2 tokens.leeway"}, "between 1s and 1m"},
		{"TokensUnknownKey", "tokens:\n  acess_token_ttl: 5m\n", []string{"2 tokens.acess_token_ttl"}, `did you mean "access_token_ttl"?`},

		// APIs.
		{"APIsNotList", "apis: {name: a}\n", []string{"1 apis"}, "must be a list"},
		{"APINotMapping", "apis: [demo]\n", []string{"1 apis[0]"}, "must be a mapping with keys name, audience"},
		{"APINameMissing", "apis:\n  - audience: https://a.example\n", []string{"2 apis[0].name"}, "is required"},
		{"APINameInvalid", "apis:\n  - name: Demo_API\n    audience: https://a.example\n", []string{"2 apis[0].name"}, "lower-case letters, digits and -"},
		{"APINameTooLong", "apis:\n  - name: " + strings.Repeat("a", 64) + "\n    audience: https://a.example\n", []string{"2 apis[0].name"}, "1 to 63"},
		{"APINameReserved", "apis:\n  - name: gatehouse-admin\n    audience: https://a.example\n", []string{"2 apis[0].name"}, "reserved"},
		{"APINameDuplicate", demoAPI + "  - name: demo\n    audience: https://b.example\n", []string{"5 apis[1].name"}, "already the name of apis[0]"},
		{"AudienceMissing", "apis:\n  - name: a\n", []string{"2 apis[0].audience"}, "is required"},
		{"AudienceRelative", "apis:\n  - name: a\n    audience: a.example.com\n", []string{"3 apis[0].audience"}, "not an absolute URI"},
		{"AudienceScheme", "apis:\n  - name: a\n    audience: ftp://a.example.com\n", []string{"3 apis[0].audience"}, "https or http URL"},
		{"AudienceFragment", "apis:\n  - name: a\n    audience: https://a.example.com#x\n", []string{"3 apis[0].audience"}, "fragment"},
		{"AudienceQuery", "apis:\n  - name: a\n    audience: https://a.example.com?x\n", []string{"3 apis[0].audience"}, "query"},
		{"AudienceNoHost", "apis:\n  - name: a\n    audience: https:///path\n", []string{"3 apis[0].audience"}, "has no host"},
		{"AudienceBadURN", "apis:\n  - name: a\n    audience: 'urn:x'\n", []string{"3 apis[0].audience"}, "urn:<namespace>:<name>"},
		{"AudienceReserved", "apis:\n  - name: a\n    audience: urn:gatehouse:admin\n", []string{"3 apis[0].audience"}, "reserved"},
		{"AudienceDuplicate", demoAPI + "  - name: b\n    audience: https://demo.example.com\n", []string{"6 apis[1].audience"}, "already the audience of apis[0]"},
		{"ScopeCharset", "apis:\n  - name: a\n    audience: https://a.example\n    scopes: ['a\"b']\n", []string{"4 apis[0].scopes[0]"}, "RFC 6749 section 3.3"},
		{"ScopeSpace", "apis:\n  - name: a\n    audience: https://a.example\n    scopes: ['a b']\n", []string{"4 apis[0].scopes[0]"}, "without spaces"},
		{"ScopeEmpty", "apis:\n  - name: a\n    audience: https://a.example\n    scopes: ['']\n", []string{"4 apis[0].scopes[0]"}, "is empty"},
		{"ScopeDuplicate", "apis:\n  - name: a\n    audience: https://a.example\n    scopes: [x, x]\n", []string{"4 apis[0].scopes[1]"}, "listed twice"},
		{"APITokenFormat", demoAPI + "    token_format: JWT\n", []string{"5 apis[0].token_format"}, `did you mean "jwt"?`},
		{"APIAccessTTL", demoAPI + "    access_token_ttl: 10s\n", []string{"5 apis[0].access_token_ttl"}, "between 1m and 24h"},
		{"Lifecycle", demoAPI + "    lifecycle: live\n", []string{"5 apis[0].lifecycle"}, "draft, published, deprecated, retired"},
		{"TargetNotHTTP", demoAPI + "    upstream: {targets: ['ftp://h']}\n", []string{"5 apis[0].upstream.targets[0]"}, "http(s) URL"},
		{"TargetRelative", demoAPI + "    upstream: {targets: ['127.0.0.1:9000']}\n", []string{"5 apis[0].upstream.targets[0]"}, "http(s) URL"},
		{"TargetUserInfo", demoAPI + "    upstream: {targets: ['http://u:p@h']}\n", []string{"5 apis[0].upstream.targets[0]"}, "user info"},
		{"TargetQuery", demoAPI + "    upstream: {targets: ['http://h/?a=1']}\n", []string{"5 apis[0].upstream.targets[0]"}, "query or fragment"},
		{"TargetDuplicate", demoAPI + "    upstream: {targets: ['http://h', 'http://h']}\n", []string{"5 apis[0].upstream.targets[1]"}, "listed twice"},
		{"UpstreamUnknownKey", demoAPI + "    upstream: {target: 'http://h'}\n", []string{"5 apis[0].upstream.target"}, `did you mean "targets"?`},
		{"UpstreamNotMappingNoCascade", demoAPI + "    upstream: ['http://h']\n    routes: [{path: /x}]\n", []string{"5 apis[0].upstream"}, "must be a mapping with keys targets"},
		{"APINameNotStringNoCascade", "apis:\n  - name: [a]\n    audience: https://a.example\n", []string{"2 apis[0].name"}, "must be a string; got a list"},
		{"RoutesWithoutTargets", demoAPI + "    routes: [{path: /x}]\n", []string{"2 apis[0].upstream.targets"}, "is required when the API has routes"},

		// Routes.
		{"RoutePathMissing", demoRoutes + "      - methods: [GET]\n", []string{"7 apis[0].routes[0].path"}, "is required"},
		{"RoutePathNoSlash", demoRoutes + "      - path: v1\n", []string{"7 apis[0].routes[0].path"}, "must start with /"},
		{"RoutePathWildcardInside", demoRoutes + "      - path: /v1/*/x\n", []string{"7 apis[0].routes[0].path"}, "whole last segment"},
		{"RoutePathWildcardPartial", demoRoutes + "      - path: /v1/x*\n", []string{"7 apis[0].routes[0].path"}, "whole last segment"},
		{"RoutePathParam", demoRoutes + "      - path: /v1/{id\n", []string{"7 apis[0].routes[0].path"}, "{name}"},
		{"RoutePathParamTwice", demoRoutes + "      - path: /{id}/{id}\n", []string{"7 apis[0].routes[0].path"}, "twice"},
		{"RoutePathDotDot", demoRoutes + "      - path: /v1/../admin\n", []string{"7 apis[0].routes[0].path"}, ". or .. segments"},
		{"RoutePathEmptySegment", demoRoutes + "      - path: /v1//x\n", []string{"7 apis[0].routes[0].path"}, "empty segment"},
		{"RoutePathQuery", demoRoutes + "      - path: /v1?x=1\n", []string{"7 apis[0].routes[0].path"}, "? or #"},
		{"RoutePathSpace", demoRoutes + "      - path: /v1/a b\n", []string{"7 apis[0].routes[0].path"}, "spaces"},
		{"RouteMethodCase", demoRoutes + "      - {path: /x, methods: [get]}\n", []string{"7 apis[0].routes[0].methods[0]"}, `did you mean "GET"?`},
		{"RouteMethodTypo", demoRoutes + "      - {path: /x, methods: [DELTE]}\n", []string{"7 apis[0].routes[0].methods[0]"}, `did you mean "DELETE"?`},
		{"RouteMethodNotToken", demoRoutes + "      - {path: /x, methods: ['GET/POST']}\n", []string{"7 apis[0].routes[0].methods[0]"}, "not an HTTP method"},
		{"RouteMethodDuplicate", demoRoutes + "      - {path: /x, methods: [GET, GET]}\n", []string{"7 apis[0].routes[0].methods[1]"}, "listed twice"},
		{"RouteScopeNotOfAPI", demoRoutes + "      - {path: /x, scopes: [demo:admin]}\n", []string{"7 apis[0].routes[0].scopes[0]"}, "demo:read, demo:write"},
		{"RouteScopeMode", demoRoutes + "      - {path: /x, scope_mode: every}\n", []string{"7 apis[0].routes[0].scope_mode"}, "one of all, any"},
		{"RouteDuplicate", demoRoutes + "      - path: /x\n      - path: /x\n", []string{"8 apis[0].routes[1].path"}, "already routed by apis[0].routes[0]"},
		{"RouteDuplicateMethod", demoRoutes + "      - {path: /x, methods: [GET, PUT]}\n      - {path: /x, methods: [PUT]}\n", []string{"8 apis[0].routes[1].path"}, "already routed"},
		{"RouteUnknownKey", demoRoutes + "      - {path: /x, scope: [demo:read]}\n", []string{"7 apis[0].routes[0].scope"}, `did you mean "scopes"?`},

		// Clients.
		{"ClientsNotList", "clients: {id: a}\n", []string{"1 clients"}, "must be a list"},
		{"ClientIDMissing", "clients:\n  - name: x\n", []string{"2 clients[0].id"}, "is required"},
		{"ClientIDInvalid", "clients:\n  - id: 'a b'\n", []string{"2 clients[0].id"}, "letters, digits and . _ ~ -"},
		{"ClientIDTooLong", "clients:\n  - id: " + strings.Repeat("a", 129) + "\n", []string{"2 clients[0].id"}, "1 to 128"},
		{"ClientIDReserved", "clients:\n  - id: gatehouse-admin\n", []string{"2 clients[0].id"}, "reserved"},
		{"ClientIDDuplicate", "clients:\n  - id: a\n  - id: a\n", []string{"3 clients[1].id"}, "already the id of clients[0]"},
		{"ClientNameMultiline", "clients:\n  - id: a\n    name: \"a\\nb\"\n", []string{"3 clients[0].name"}, "one line"},
		{"AuthMethod", "clients:\n  - id: a\n    auth_method: client_secret_jwt\n", []string{"3 clients[0].auth_method"}, "client_secret_basic, client_secret_post, private_key_jwt, none"},
		{"SecretTooShort", "clients:\n  - id: a\n    secret: " + strings.Repeat("x", 31) + "\n", []string{"3 clients[0].secret"}, "openssl rand -base64 32"},
		{"SecretUnsetVariable", "clients:\n  - id: a\n    secret: ${A_SECRET}\n", []string{"3 clients[0].secret"}, "A_SECRET is not set"},
		{"SecretSHA256NotHex", "clients:\n  - id: a\n    secret_sha256: " + strings.Repeat("z", 64) + "\n", []string{"3 clients[0].secret_sha256"}, "64 hexadecimal characters"},
		{"SecretSHA256Length", "clients:\n  - id: a\n    secret_sha256: abcd\n", []string{"3 clients[0].secret_sha256"}, "64 hexadecimal characters"},
		{"SecretAndSHA256", "clients:\n  - id: a\n    secret: " + strings.Repeat("x", 32) + "\n    secret_sha256: " + strings.Repeat("a", 64) + "\n", []string{"4 clients[0].secret_sha256"}, "not be used together"},
		{"SecretOnPrivateKeyJWT", "clients:\n  - id: a\n    auth_method: private_key_jwt\n    jwks_file: keys.json\n    secret: " + strings.Repeat("x", 32) + "\n", []string{"5 clients[0].secret"}, "only used by client_secret_basic and client_secret_post"},
		{"SecretOnPublicClient", "clients:\n  - id: a\n    auth_method: none\n    grant_types: [authorization_code]\n    redirect_uris: [https://a.example/cb]\n    secret_sha256: " + strings.Repeat("a", 64) + "\n", []string{"6 clients[0].secret_sha256"}, "public client"},
		{"JWKSOnSecretClient", "clients:\n  - id: a\n    jwks_file: keys.json\n", []string{"3 clients[0].jwks_file"}, "only used by private_key_jwt"},
		{"JWKSOnPublicClient", "clients:\n  - id: a\n    auth_method: none\n    grant_types: [authorization_code]\n    redirect_uris: [https://a.example/cb]\n    jwks_file: keys.json\n", []string{"6 clients[0].jwks_file"}, "public client"},
		{"PrivateKeyJWTWithoutKeys", "clients:\n  - id: a\n    auth_method: private_key_jwt\n", []string{"2 clients[0].jwks"}, "inline (jwks) or in a file (jwks_file)"},
		{"JWKSAndFile", "clients:\n  - id: a\n    auth_method: private_key_jwt\n    jwks: {keys: [{kty: EC}]}\n    jwks_file: keys.json\n", []string{"5 clients[0].jwks_file"}, "not both"},
		{"JWKSNoKeys", "clients:\n  - id: a\n    auth_method: private_key_jwt\n    jwks: {kty: EC}\n", []string{"4 clients[0].jwks"}, `has no "keys"`},
		{"JWKSKeysNotArray", "clients:\n  - id: a\n    auth_method: private_key_jwt\n    jwks: {keys: {kty: EC}}\n", []string{"4 clients[0].jwks"}, "not an array of JWK objects"},
		{"JWKSEmpty", "clients:\n  - id: a\n    auth_method: private_key_jwt\n    jwks: {keys: []}\n", []string{"4 clients[0].jwks"}, "empty"},
		{"JWKSKeyNotObject", "clients:\n  - id: a\n    auth_method: private_key_jwt\n    jwks: {keys: [EC]}\n", []string{"4 clients[0].jwks"}, "not an array of JWK objects"},
		{"JWKSKeyNull", "clients:\n  - id: a\n    auth_method: private_key_jwt\n    jwks: {keys: [null]}\n", []string{"4 clients[0].jwks"}, "keys[0] that is not a JWK object"},
		{"JWKSKeyWithoutKty", "clients:\n  - id: a\n    auth_method: private_key_jwt\n    jwks: {keys: [{crv: P-256}]}\n", []string{"4 clients[0].jwks"}, `without "kty"`},
		{"JWKSPrivateKey", "clients:\n  - id: a\n    auth_method: private_key_jwt\n    jwks: {keys: [{kty: EC, d: x}]}\n", []string{"4 clients[0].jwks"}, "private key material"},
		{"JWKSSymmetricKey", "clients:\n  - id: a\n    auth_method: private_key_jwt\n    jwks: {keys: [{kty: oct, k: x}]}\n", []string{"4 clients[0].jwks"}, "symmetric"},
		{"JWKSStringNotJSON", "clients:\n  - id: a\n    auth_method: private_key_jwt\n    jwks: 'keys: []'\n", []string{"4 clients[0].jwks"}, "not valid JSON"},
		{"JWKSDuplicateMember", "clients:\n  - id: a\n    auth_method: private_key_jwt\n    jwks: {keys: [{kty: EC, kty: RSA}]}\n", []string{"4 clients[0].jwks.keys[0].kty"}, "set twice"},
		{"JWKSInfinity", "clients:\n  - id: a\n    auth_method: private_key_jwt\n    jwks: {keys: [{kty: EC, n: .inf}]}\n", []string{"4 clients[0].jwks.keys[0].n"}, "quote it"},
		{"JWKSFileMissing", "clients:\n  - id: a\n    auth_method: private_key_jwt\n    jwks_file: nope.json\n", []string{"4 clients[0].jwks_file"}, "looked for cfg/nope.json"},
		{"JWKSFileNotJSON", "clients:\n  - id: a\n    auth_method: private_key_jwt\n    jwks_file: not-json.json\n", []string{"4 clients[0].jwks_file"}, "not valid JSON"},
		{"JWKSFileNotObject", "clients:\n  - id: a\n    auth_method: private_key_jwt\n    jwks_file: array.json\n", []string{"4 clients[0].jwks_file"}, "not a JSON object"},
		{"JWKSFileKeysCase", "clients:\n  - id: a\n    auth_method: private_key_jwt\n    jwks_file: upper-keys.json\n", []string{"4 clients[0].jwks_file"}, `has no "keys"`},
		{"GrantUnknown", "clients:\n  - id: a\n    grant_types: [password]\n", []string{"3 clients[0].grant_types[0]"}, "client_credentials, authorization_code, refresh_token"},
		{"GrantTypo", "clients:\n  - id: a\n    grant_types: [client_credential]\n", []string{"3 clients[0].grant_types[0]"}, `did you mean "client_credentials"?`},
		{"GrantDuplicate", "clients:\n  - id: a\n    grant_types: [client_credentials, client_credentials]\n", []string{"3 clients[0].grant_types[1]"}, "listed twice"},
		{"GrantEmpty", "clients:\n  - id: a\n    grant_types: []\n", []string{"3 clients[0].grant_types"}, "at least one"},
		{"PublicClientCredentials", "clients:\n  - id: a\n    auth_method: none\n    grant_types: [client_credentials]\n", []string{"4 clients[0].grant_types"}, "cannot use client_credentials"},
		{"PublicClientDefaultGrant", "clients:\n  - id: a\n    auth_method: none\n", []string{"2 clients[0].grant_types"}, "expected [authorization_code]"},
		{"RefreshWithoutCode", "clients:\n  - id: a\n    grant_types: [client_credentials, refresh_token]\n", []string{"3 clients[0].grant_types"}, "RFC 6749 section 4.4.3"},
		{"CodeWithoutRedirect", "clients:\n  - id: a\n    grant_types: [authorization_code]\n", []string{"2 clients[0].redirect_uris"}, "is required for the authorization_code grant"},
		{"RedirectWithoutCode", "clients:\n  - id: a\n    redirect_uris: [https://a.example/cb]\n", []string{"3 clients[0].redirect_uris"}, "only used by the authorization_code grant"},
		{"RedirectRelative", codeClient("/cb"), []string{"4 clients[0].redirect_uris[0]"}, "not an absolute URI"},
		{"RedirectFragment", codeClient("https://a.example/cb#x"), []string{"4 clients[0].redirect_uris[0]"}, "fragment"},
		{"RedirectHTTPNotLoopback", codeClient("http://a.example/cb"), []string{"4 clients[0].redirect_uris[0]"}, "use https"},
		{"RedirectScheme", codeClient("javascript:alert(1)"), []string{"4 clients[0].redirect_uris[0]"}, "reverse-domain form"},
		{"RedirectWildcard", codeClient("https://*.example.com/cb"), []string{"4 clients[0].redirect_uris[0]"}, "wildcard"},
		{"RedirectNoHost", codeClient("https:/cb"), []string{"4 clients[0].redirect_uris[0]"}, "has no host"},
		{"RedirectDuplicate", "clients:\n  - id: a\n    grant_types: [authorization_code]\n    redirect_uris: [https://a.example/cb, https://a.example/cb]\n", []string{"4 clients[0].redirect_uris[1]"}, "listed twice"},
		{"ClientTokenFormat", "clients:\n  - id: a\n    token_format: opaq\n", []string{"3 clients[0].token_format"}, `did you mean "opaque"?`},
		{"ClientUnknownKey", "clients:\n  - id: a\n    client_secret: x\n", []string{"3 clients[0].client_secret"}, "expected one of id, name"},
		{"AccessAPIMissing", demoClient + "    apis:\n      - scopes: [demo:read]\n", []string{"8 clients[0].apis[0].api"}, "is required"},
		{"AccessAPIUnknown", demoClient + "    apis:\n      - api: dmeo\n", []string{"8 clients[0].apis[0].api"}, `did you mean "demo"?`},
		{"AccessAPIAdmin", demoClient + "    apis:\n      - api: gatehouse-admin\n", []string{"8 clients[0].apis[0].api"}, "built-in admin API"},
		{"AccessAPIDuplicate", demoClient + "    apis:\n      - api: demo\n      - api: demo\n", []string{"9 clients[0].apis[1].api"}, "already listed at clients[0].apis[0]"},
		{"AccessScopeNotOfAPI", demoClient + "    apis:\n      - api: demo\n        scopes: [demo:admin]\n", []string{"9 clients[0].apis[0].scopes[0]"}, "demo:read, demo:write"},
		{"AccessScopeDuplicate", demoClient + "    apis:\n      - api: demo\n        scopes: [demo:read, demo:read]\n", []string{"9 clients[0].apis[0].scopes[1]"}, "listed twice"},
		{"AccessDefaultNotSubset", demoClient + "    apis:\n      - api: demo\n        scopes: [demo:read]\n        default_scopes: [demo:write]\n", []string{"10 clients[0].apis[0].default_scopes[0]"}, "subset of scopes (demo:read)"},
		{"AccessUnknownKey", demoClient + "    apis:\n      - api: demo\n        scope: [demo:read]\n", []string{"9 clients[0].apis[0].scope"}, `did you mean "scopes"?`},
	})
}

func codeClient(redirect string) string {
	return "clients:\n  - id: a\n    grant_types: [authorization_code]\n    redirect_uris: ['" + redirect + "']\n"
}

// TestAccepts checks values at the edges of the rules, which must pass, and
// the defaults filled in around them.
func TestAccepts(t *testing.T) {
	runAccepts(t, []acceptance{
		{"IssuerHTTPLocalhost", "issuer: http://localhost:8080\n", func(c *Config) any { return c.Issuer }, "http://localhost:8080"},
		{"IssuerHTTPLoopbackIPv4", "issuer: http://127.0.0.2\n", func(c *Config) any { return c.Issuer }, "http://127.0.0.2"},
		{"IssuerHTTPLoopbackIPv6", "issuer: 'http://[::1]:8080'\n", func(c *Config) any { return c.Issuer }, "http://[::1]:8080"},
		{"IssuerWithPath", "issuer: https://example.com/auth\n", func(c *Config) any { return c.Issuer }, "https://example.com/auth"},
		{"IssuerEmptyIsDerived", "issuer: ''\n", func(c *Config) any { return c.Issuer }, ""},
		{"ListenAllInterfaces", "listen: {public: ':8080'}\n", func(c *Config) any { return c.Public.Addr }, ":8080"},
		{"ListenBothPortZero", "listen: {public: '127.0.0.1:0', admin: '127.0.0.1:0'}\n", func(c *Config) any { return c.Admin.Addr }, "127.0.0.1:0"},
		{"ListenIPv6", "listen: {admin: '[::1]:9000'}\n", func(c *Config) any { return c.Admin.Addr }, "[::1]:9000"},
		{"AccessTTLLowerBound", "tokens: {access_token_ttl: 1m}\n", func(c *Config) any { return c.Tokens.AccessTokenTTL.String() }, "1m0s"},
		{"AccessTTLUpperBound", "tokens: {access_token_ttl: 24h}\n", func(c *Config) any { return c.Tokens.AccessTokenTTL.String() }, "24h0m0s"},
		{"DurationCompound", "tokens: {access_token_ttl: 1h30m}\n", func(c *Config) any { return c.Tokens.AccessTokenTTL.String() }, "1h30m0s"},
		{"LeewayUpperBound", "tokens: {leeway: 60s}\n", func(c *Config) any { return c.Tokens.Leeway.String() }, "1m0s"},
		{"ReuseGraceZero", "tokens: {refresh_reuse_grace: 0s}\n", func(c *Config) any { return c.Tokens.RefreshReuseGrace.String() }, "0s"},
		{"ReuseGraceUpperBound", "tokens: {refresh_reuse_grace: 1m}\n", func(c *Config) any { return c.Tokens.RefreshReuseGrace.String() }, "1m0s"},
		// The default idle limit (168h) cannot outlive a shorter absolute one.
		{"DefaultIdleClamped", "tokens: {refresh_token_ttl: 24h}\n", func(c *Config) any { return c.Tokens.RefreshTokenIdleTTL.String() }, "24h0m0s"},
		{"PrepublishJustShorter", "tokens: {key_rotation_period: 2h, key_prepublish: 119m}\n", func(c *Config) any { return c.Tokens.KeyPrepublish.String() }, "1h59m0s"},
		{"CheckpointInterval", "audit: {checkpoint_interval: 1s}\n", func(c *Config) any { return c.Audit.CheckpointInterval.String() }, "1s"},
		{"CheckpointIntervalDefault", "audit: {}\n", func(c *Config) any { return c.Audit.CheckpointInterval.String() }, "30s"},
		{"AllAlgorithms", "tokens: {signing_algorithm: PS256}\n", func(c *Config) any { return c.Tokens.SigningAlgorithm }, "PS256"},
		{"APINameShortest", "apis: [{name: a, audience: 'https://a.example'}]\n", func(c *Config) any { return c.APIs[0].Name }, "a"},
		{"APINameLongest", "apis: [{name: " + strings.Repeat("a", 63) + ", audience: 'https://a.example'}]\n", func(c *Config) any { return len(c.APIs[0].Name) }, 63},
		{"APINameNumeric", "apis: [{name: 42, audience: 'https://a.example'}]\n", func(c *Config) any { return c.APIs[0].Name }, "42"},
		{"AudienceHTTP", "apis: [{name: a, audience: 'http://a.internal:8080/x'}]\n", func(c *Config) any { return c.APIs[0].Audience }, "http://a.internal:8080/x"},
		{"AudienceURN", "apis: [{name: a, audience: 'urn:ietf:params:a'}]\n", func(c *Config) any { return c.APIs[0].Audience }, "urn:ietf:params:a"},
		{"ScopeCharsetEdges", "apis: [{name: a, audience: 'https://a.example', scopes: ['!#[]~', 'a:b/c']}]\n", func(c *Config) any { return c.APIs[0].Scopes }, []string{"!#[]~", "a:b/c"}},
		{"LifecycleDefault", "apis: [{name: a, audience: 'https://a.example'}]\n", func(c *Config) any { return string(c.APIs[0].Lifecycle) }, "published"},
		{"LifecycleRetired", "apis: [{name: a, audience: 'https://a.example', lifecycle: retired}]\n", func(c *Config) any { return string(c.APIs[0].Lifecycle) }, "retired"},
		{"APIWithoutUpstream", "apis: [{name: a, audience: 'https://a.example'}]\n", func(c *Config) any { return c.APIs[0].Upstream.Targets }, []string(nil)},
		{"RoutePaths", demoRoutes + "      - path: /\n      - path: /*\n      - path: /v1/\n      - path: /a/{id}/b/{sub_id}\n      - path: /a/b.json\n",
			func(c *Config) any {
				var ps []string
				for _, r := range c.APIs[0].Routes {
					ps = append(ps, r.Path)
				}
				return ps
			}, []string{"/", "/*", "/v1/", "/a/{id}/b/{sub_id}", "/a/b.json"}},
		{"RouteSamePathOtherMethods", demoRoutes + "      - {path: /x, methods: [GET]}\n      - {path: /x, methods: [POST]}\n", func(c *Config) any { return len(c.APIs[0].Routes) }, 2},
		{"RouteNonStandardMethod", demoRoutes + "      - {path: /x, methods: [PROPFIND]}\n", func(c *Config) any { return c.APIs[0].Routes[0].Methods }, []string{"PROPFIND"}},
		{"RouteScopeModeDefault", demoRoutes + "      - {path: /x}\n", func(c *Config) any { return c.APIs[0].Routes[0].ScopeMode }, "all"},
		{"AnchorsAndAliases", demoAPI + "    upstream: {targets: &t ['http://h']}\n  - {name: b, audience: 'https://b.example', upstream: {targets: *t}}\n",
			func(c *Config) any { return c.APIs[1].Upstream.Targets }, []string{"http://h"}},
		{"ClientIDCharset", "clients: [{id: 'A.b_c~d-1'}]\n", func(c *Config) any { return c.Clients[0].ID }, "A.b_c~d-1"},
		{"ClientIDLongest", "clients: [{id: " + strings.Repeat("a", 128) + "}]\n", func(c *Config) any { return len(c.Clients[0].ID) }, 128},
		{"ClientDefaults", "clients: [{id: a}]\n", func(c *Config) any {
			x := c.Clients[0]
			return []any{x.AuthMethod, x.GrantTypes, x.GenerateSecret, x.Source}
		}, []any{gatehouse.AuthSecretBasic, []string{"client_credentials"}, true, gatehouse.SourceConfig}},
		{"SecretPostGeneratesSecret", "clients: [{id: a, auth_method: client_secret_post}]\n", func(c *Config) any { return c.Clients[0].GenerateSecret }, true},
		{"SecretExactly32Bytes", "clients: [{id: a, secret: " + strings.Repeat("x", 32) + "}]\n", func(c *Config) any { return c.Clients[0].GenerateSecret }, false},
		{"PrivateKeyJWTNoSecret", "clients: [{id: a, auth_method: private_key_jwt, jwks_file: keys.json}]\n", func(c *Config) any { return c.Clients[0].GenerateSecret }, false},
		{"JWKSFileAbsolute", "clients: [{id: a, auth_method: private_key_jwt, jwks_file: /etc/gh/keys.json}]\n", func(c *Config) any { return string(c.Clients[0].JWKS) }, `{"keys":[{"kty":"OKP"}]}`},
		{"JWKSFileCompacted", "clients: [{id: a, auth_method: private_key_jwt, jwks_file: keys.json}]\n", func(c *Config) any { return string(c.Clients[0].JWKS) }, `{"keys":[{"kty":"EC","crv":"P-256","x":"a","y":"b"}]}`},
		{"JWKSInlineTypes", "clients: [{id: a, auth_method: private_key_jwt, jwks: {keys: [{kty: EC, n: 0x10, e: 1.5, ext: True, x5c: null}]}}]\n",
			func(c *Config) any { return string(c.Clients[0].JWKS) }, `{"keys":[{"kty":"EC","n":16,"e":1.5,"ext":true,"x5c":null}]}`},
		{"JWKSInlineJSONString", "clients: [{id: a, auth_method: private_key_jwt, jwks: '{\"keys\": [{\"kty\": \"EC\"}]}'}]\n", func(c *Config) any { return string(c.Clients[0].JWKS) }, `{"keys":[{"kty":"EC"}]}`},
		{"PublicClientCode", "clients:\n  - id: a\n    auth_method: none\n    grant_types: [authorization_code, refresh_token]\n    redirect_uris: ['http://[::1]:4000/cb', 'http://localhost/cb', 'com.example.app:/cb']\n",
			func(c *Config) any { return c.Clients[0].RedirectURIs }, []string{"http://[::1]:4000/cb", "http://localhost/cb", "com.example.app:/cb"}},
		{"AccessWithoutScopes", demoClient + "    apis: [{api: demo}]\n", func(c *Config) any { return c.Clients[0].Access }, []gatehouse.Access{{API: "demo"}}},
		{"NullValuesAreDefaults", "issuer:\nlisten:\n  public:\ntokens:\n  leeway: ~\n", func(c *Config) any { return []any{c.Public.Addr, c.Tokens.Leeway.String()} }, []any{DefaultPublicAddr, "30s"}},
	})
}
