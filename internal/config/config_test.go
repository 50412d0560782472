package config

import (
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse"
	"github.com/google/go-cmp/cmp"
)

// equatePrefixes lets cmp compare netip.Prefix, whose fields are unexported.
var equatePrefixes = cmp.Comparer(func(a, b netip.Prefix) bool { return a == b })

// defaultUpstreamPolicy is what an API without upstream settings gets.
var defaultUpstreamPolicy = gatehouse.UpstreamPolicy{
	Balance:        gatehouse.BalanceRoundRobin,
	Forwarding:     gatehouse.ForwardingXForwarded,
	ConnectTimeout: 5 * time.Second,
	ReadTimeout:    30 * time.Second,
	Retries:        1,
}

// TestParseFull checks that a file setting every key becomes exactly the
// domain values it describes.
func TestParseFull(t *testing.T) {
	got, err := Load("testdata/good-full.yaml", testEnv())
	if err != nil {
		t.Fatal(err)
	}
	sha, _ := hex.DecodeString("5e884898da28047151d0e56f8dc6292773603d0d6aabbdd62a11ef721d1542d8")
	want := &Config{
		Issuer:  "https://auth.example.com/gatehouse",
		Public:  Listener{Addr: "0.0.0.0:8443"},
		Admin:   Listener{Addr: "127.0.0.1:9443"},
		TLS:     TLSConfig{Addr: ":443", CertFile: filepath.Join("testdata", "tls", "cert.pem"), KeyFile: "/etc/gatehouse/key.pem"},
		DataDir: "/var/lib/gatehouse",
		Audit:   AuditConfig{CheckpointInterval: 10 * time.Second},
		Gateway: GatewayConfig{
			TrustedProxies: []netip.Prefix{
				netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("::1/128"),
				netip.MustParsePrefix("192.168.1.0/24"), netip.MustParsePrefix("172.16.0.1/32"),
			},
			TrustedProxiesHeader: ProxiesForwarded,
			MaxBodyBytes:         1 << 20,
			AllowPlainHTTPTokens: true,
			GCPercent:            200,
		},
		CallLog: CallLogConfig{Enabled: true, QueueSize: 1024, BatchSize: 100, FlushInterval: 250 * time.Millisecond,
			MaxAge: 168 * time.Hour, MaxRows: 0, MaxSpillBytes: 100 << 20},
		Tokens: gatehouse.TokenPolicy{
			AccessTokenFormat:   gatehouse.FormatOpaque,
			AccessTokenTTL:      10 * time.Minute,
			RefreshTokenTTL:     240 * time.Hour,
			RefreshTokenIdleTTL: 48 * time.Hour,
			RefreshReuseGrace:   5 * time.Second,
			SigningAlgorithm:    gatehouse.AlgES256,
			KeyRotationPeriod:   168 * time.Hour,
			KeyPrepublish:       90 * time.Minute,
			Leeway:              10 * time.Second,
			DPoPNonce:           true,
		},
		ExternalIssuers: []gatehouse.ExternalIssuer{
			{
				Name:            "corp-idp",
				Issuer:          "https://idp.example.com/realms/corp",
				JWKSURI:         "https://idp.example.com/realms/corp/protocol/openid-connect/certs",
				Algorithms:      []string{"RS256", "PS256"},
				Audience:        "https://orders.example.com",
				ScopeClaim:      "scp",
				ScopeMap:        map[string]string{"orders.read": "orders:read", "orders.write": "orders:write"},
				RefreshInterval: 15 * time.Minute,
			},
			{
				Name:            "partner",
				Issuer:          "https://partner.example/",
				JWKSURI:         "http://127.0.0.1:8999/jwks.json?v=1",
				Algorithms:      []string{"EdDSA"},
				Audience:        "api://orders",
				ScopeClaim:      "scope",
				RefreshInterval: 5 * time.Minute,
			},
		},
		APIs: []gatehouse.API{
			{
				Name:           "orders",
				Audience:       "https://orders.example.com",
				Approval:       gatehouse.ApprovalAuto,
				Scopes:         []string{"orders:read", "orders:write"},
				TokenFormat:    gatehouse.FormatJWT,
				AccessTokenTTL: 5 * time.Minute,
				Lifecycle:      gatehouse.LifecycleDeprecated,
				SunsetAt:       time.Date(2027, 6, 30, 0, 0, 0, 0, time.UTC),
				Upstream:       gatehouse.Upstream{Targets: []string{"http://10.0.0.5:9000", "https://orders-2.internal/base"}},
				Routes: []gatehouse.Route{
					{Path: "/v1/orders/{id}", Methods: []string{"GET"}, Scopes: []string{"orders:read"}, ScopeMode: "all",
						Credential: gatehouse.CredentialBearer, AllowQueryToken: true,
						RateLimit: &gatehouse.RateLimit{Rate: 10, Period: 100 * time.Millisecond, Burst: 5}},
					{Path: "/v1/*", Methods: []string{"POST", "DELETE"}, Scopes: []string{"orders:read", "orders:write"}, ScopeMode: "any",
						Credential: gatehouse.CredentialAPIKey},
					{Path: "/health", ScopeMode: "all", Credential: gatehouse.CredentialNone},
				},
				Hosts: []string{"api.example.com", "[2001:db8::1]", "203.0.113.10"},
				UpstreamPolicy: gatehouse.UpstreamPolicy{
					Balance:        gatehouse.BalanceLeastConn,
					Forwarding:     gatehouse.ForwardingBoth,
					ConnectTimeout: 250 * time.Millisecond,
					ReadTimeout:    time.Minute,
					Retries:        NoRetries,
					HealthPath:     "/healthz?deep=1",
					HealthInterval: 30 * time.Second,
				},
				UpstreamAuth: gatehouse.UpstreamAuth{
					IdentityHeaders: true,
					MintToken:       true,
					MintAudience:    "https://orders.internal",
					StaticHeader:    "X-Api-Secret",
					StaticValue:     "orders-upstream-secret",
				},
				Traffic: gatehouse.Traffic{
					PerClient:   &gatehouse.RateLimit{Rate: 100, Period: time.Second, Burst: 20},
					SpikeArrest: &gatehouse.RateLimit{Rate: 1000, Period: time.Second},
					Quota:       gatehouse.Quota{Daily: 100000, Monthly: 2000000},
					IPAllow:     []netip.Prefix{netip.MustParsePrefix("203.0.113.0/24"), netip.MustParsePrefix("2001:db8::/32")},
					IPDeny:      []netip.Prefix{netip.MustParsePrefix("203.0.113.7/32")},
				},
				ExternalIssuers: []string{"corp-idp", "partner"},
			},
			{
				Name:           "reports",
				Audience:       "urn:example:reports",
				Approval:       gatehouse.ApprovalAuto,
				Scopes:         []string{"reports:read"},
				Lifecycle:      gatehouse.LifecyclePublished,
				UpstreamPolicy: defaultUpstreamPolicy,
				DPoP:           gatehouse.DPoPRequired,
				DPoPNonce:      true,
			},
		},
		Clients: []Client{
			{Client: gatehouse.Client{
				ID:         "billing-service",
				Name:       "Billing service",
				AuthMethod: gatehouse.AuthSecretBasic,
				SecretHash: gatehouse.HashSecret("billing-0123456789abcdef0123456789abcdef"),
				GrantTypes: []string{gatehouse.GrantClientCredentials},
				Access:     []gatehouse.Access{{API: "orders", Scopes: []string{"orders:read", "orders:write"}, DefaultScopes: []string{"orders:read"}}},
				Networks: gatehouse.ClientNetworks{
					Allow: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("192.168.1.7/32")},
					Deny:  []netip.Prefix{netip.MustParsePrefix("10.0.0.13/32")},
				},
				Source: gatehouse.SourceConfig,
			}},
			{Client: gatehouse.Client{
				ID:          "batch.job_2~x",
				AuthMethod:  gatehouse.AuthSecretPost,
				SecretHash:  sha,
				GrantTypes:  []string{gatehouse.GrantClientCredentials},
				TokenFormat: gatehouse.FormatJWT,
				Source:      gatehouse.SourceConfig,
			}},
			{Client: gatehouse.Client{
				ID:         "reporting",
				AuthMethod: gatehouse.AuthPrivateKeyJWT,
				JWKS:       []byte(`{"keys":[{"kty":"OKP","crv":"Ed25519","kid":"reporting-2025","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}]}`),
				GrantTypes: []string{gatehouse.GrantClientCredentials},
				Access:     []gatehouse.Access{{API: "reports", Scopes: []string{"reports:read"}}},
				Source:     gatehouse.SourceConfig,
				DPoPBound:  true,
			}},
			{Client: gatehouse.Client{
				ID:         "inline-keys",
				AuthMethod: gatehouse.AuthPrivateKeyJWT,
				JWKS: []byte(`{"keys":[{"kty":"EC","crv":"P-256","kid":"k1",` +
					`"x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0","key_ops":["verify"]}]}`),
				GrantTypes: []string{gatehouse.GrantClientCredentials},
				Source:     gatehouse.SourceConfig,
			}},
			{Client: gatehouse.Client{
				ID:           "spa",
				Name:         "Single-page app",
				AuthMethod:   gatehouse.AuthNone,
				GrantTypes:   []string{gatehouse.GrantAuthorizationCode, gatehouse.GrantRefreshToken},
				RedirectURIs: []string{"https://app.example.com/callback", "http://127.0.0.1/callback", "com.example.app:/callback"},
				Access:       []gatehouse.Access{{API: "orders", Scopes: []string{"orders:read"}}},
				Source:       gatehouse.SourceConfig,
			}},
			{
				Client: gatehouse.Client{
					ID:         "1234",
					AuthMethod: gatehouse.AuthSecretBasic,
					GrantTypes: []string{gatehouse.GrantClientCredentials},
					Source:     gatehouse.SourceConfig,
				},
				GenerateSecret: true,
			},
		},
	}
	if diff := cmp.Diff(got, want, equatePrefixes); diff != "" {
		t.Errorf("Load(good-full.yaml) mismatch (-got +want):\n%s", diff)
	}
}

// TestParseEmpty checks that files saying nothing give the defaults.
func TestParseEmpty(t *testing.T) {
	for _, tc := range []struct{ name, data string }{
		{"EmptyFile", ""},
		{"EmptyMapping", "{}"},
		{"CommentsOnly", "# nothing yet\n"},
		{"Null", "~\n"},
		{"DocumentMarker", "---\n"},
		{"EmptySections", "listen:\ntokens:\napis: []\nclients:\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Parse([]byte(tc.data), "gatehouse.yaml", nil)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(got, Default(), equatePrefixes); diff != "" {
				t.Errorf("mismatch (-got +want):\n%s", diff)
			}
		})
	}
}

func TestDefault(t *testing.T) {
	got := Default()
	want := &Config{
		Public:  Listener{Addr: "127.0.0.1:8080"},
		Admin:   Listener{Addr: "127.0.0.1:8081"},
		DataDir: "gatehouse-data",
		Gateway: GatewayConfig{MaxBodyBytes: 10 << 20, GCPercent: 400, TrustedProxiesHeader: "x_forwarded"},
		CallLog: CallLogConfig{Enabled: true, QueueSize: 16384, BatchSize: 128, FlushInterval: 100 * time.Millisecond,
			MaxAge: 30 * 24 * time.Hour, MaxRows: 10_000_000, MaxSpillBytes: 1 << 30},
		Tokens: gatehouse.DefaultTokenPolicy().WithDefaults(),
		Audit:  AuditConfig{CheckpointInterval: 30 * time.Second},
	}
	if diff := cmp.Diff(got, want); diff != "" {
		t.Errorf("mismatch (-got +want):\n%s", diff)
	}
}

// TestQuickstart checks the shipped example: no problems without any
// environment variable, and a demo client whose secret Gatehouse generates.
func TestQuickstart(t *testing.T) {
	cfg, err := Load(filepath.Join("..", "..", "examples", "quickstart.yaml"), nil)
	if err != nil {
		t.Fatal(err)
	}
	api := cfg.API("demo")
	if api == nil {
		t.Fatal(`no API "demo"`)
	}
	if diff := cmp.Diff(api.Audience, "https://demo.gatehouse.local"); diff != "" {
		t.Errorf("audience (-got +want):\n%s", diff)
	}
	if diff := cmp.Diff(api.Upstream.Targets, []string{"http://127.0.0.1:9000"}); diff != "" {
		t.Errorf("targets (-got +want):\n%s", diff)
	}
	var credentials []string
	for _, r := range api.Routes {
		credentials = append(credentials, r.Credential)
	}
	if diff := cmp.Diff(credentials, []string{"bearer", "bearer", "none"}); diff != "" {
		t.Errorf("route credentials (-got +want):\n%s", diff)
	}
	if !api.UpstreamAuth.IdentityHeaders || api.Traffic.PerClient == nil || cfg.TLS != (TLSConfig{}) {
		t.Errorf("identity headers %v, per-client limit %v, TLS %+v; want identity headers, a limit and no HTTPS listener",
			api.UpstreamAuth.IdentityHeaders, api.Traffic.PerClient, cfg.TLS)
	}
	if len(cfg.Clients) != 1 {
		t.Fatalf("got %d clients, want 1", len(cfg.Clients))
	}
	c := cfg.Clients[0]
	if c.ID != "demo-client" || !c.GenerateSecret || c.SecretHash != nil {
		t.Errorf("client %q GenerateSecret=%v SecretHash=%x, want demo-client, true and no hash", c.ID, c.GenerateSecret, c.SecretHash)
	}
	if diff := cmp.Diff(c.Access, []gatehouse.Access{{API: "demo", Scopes: []string{"demo:read", "demo:write"}, DefaultScopes: []string{"demo:read"}}}); diff != "" {
		t.Errorf("access (-got +want):\n%s", diff)
	}
}

func TestLoadMissingFile(t *testing.T) {
	_, err := Load(filepath.Join(t.TempDir(), "nope.yaml"), nil)
	if !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("Load(missing) = %v, want an fs.ErrNotExist error", err)
	}
	var ps Problems
	if errors.As(err, &ps) {
		t.Errorf("Load(missing) returned Problems %v; a read error is not a problem with the content", ps)
	}
}

func TestLookups(t *testing.T) {
	cfg, err := Load("testdata/good-full.yaml", testEnv())
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		got  *gatehouse.API
		want string // API name, "" for nil
	}{
		{"APIByName", cfg.API("reports"), "reports"},
		{"APIByUnknownName", cfg.API("nope"), ""},
		{"APIByAudience", cfg.APIByAudience("https://orders.example.com"), "orders"},
		{"APIByURNAudience", cfg.APIByAudience("urn:example:reports"), "reports"},
		{"APIByUnknownAudience", cfg.APIByAudience("https://orders.example.com/"), ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := ""
			if tc.got != nil {
				got = tc.got.Name
			}
			if got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
	// The helpers return pointers into the config, not copies.
	if cfg.API("orders") != &cfg.APIs[0] {
		t.Error("API returned a copy")
	}
}

func TestProblemsError(t *testing.T) {
	ps := Problems{
		{File: "g.yaml", Line: 3, Key: "apis[1].audience", Message: "is required"},
		{File: "g.yaml", Line: 1, Message: "invalid YAML: oops"},
		{File: "g.yaml", Key: "x", Message: "no line"},
	}
	want := strings.Join([]string{
		"g.yaml:3: apis[1].audience: is required",
		"g.yaml:1: invalid YAML: oops",
		"g.yaml: x: no line",
	}, "\n")
	if diff := cmp.Diff(ps.Error(), want); diff != "" {
		t.Errorf("mismatch (-got +want):\n%s", diff)
	}
}

// TestProblemsSorted checks that problems found by later checks (duplicates,
// references) still come out in line order.
func TestProblemsSorted(t *testing.T) {
	_, err := Load("testdata/bad-many.yaml", testEnv())
	var ps Problems
	if !errors.As(err, &ps) {
		t.Fatalf("got %v, want Problems", err)
	}
	for i := 1; i < len(ps); i++ {
		if ps[i].Line < ps[i-1].Line {
			t.Errorf("problem %d (line %d) comes after line %d", i, ps[i].Line, ps[i-1].Line)
		}
	}
	// One file, many mistakes: each one reported, none swallowed.
	if len(ps) < 40 {
		t.Errorf("got %d problems, want every one of the 40+ mistakes in bad-many.yaml", len(ps))
	}
}

// TestSecretsNeverInMessages checks that no message quotes a secret value,
// whatever is wrong with it.
func TestSecretsNeverInMessages(t *testing.T) {
	for _, tc := range []struct{ name, data string }{
		{"TooShort", "clients:\n  - id: c\n    secret: hunter2\n"},
		{"BadInterpolation", "clients:\n  - id: c\n    secret: 'hunter2-$abc-${oops'\n"},
		{"PublicClient", "clients:\n  - id: c\n    auth_method: none\n    grant_types: [authorization_code]\n    redirect_uris: [https://a.example/cb]\n    secret: hunter2hunter2hunter2hunter2hunter2\n"},
		{"BadHash", "clients:\n  - id: c\n    secret_sha256: hunter2hunter2\n"},
		{"StaticValueControl", demoAPI + "    upstream_auth: {static_header: X-Key, static_value: \"hunter2\\nX-Admin: yes\"}\n"},
		{"StaticValueBadInterpolation", demoAPI + "    upstream_auth: {static_header: X-Key, static_value: 'hunter2-$abc-${oops'}\n"},
		{"StaticValueWithoutHeader", demoAPI + "    upstream_auth: {static_value: hunter2}\n"},
		{"StaticValueBadHeader", demoAPI + "    upstream_auth: {static_header: Connection, static_value: hunter2}\n"},
		{"StaticValueTooLong", demoAPI + "    upstream_auth: {static_header: X-Key, static_value: " + strings.Repeat("hunter2", 2000) + "}\n"},
		{"StaticValueNotString", demoAPI + "    upstream_auth: {static_header: X-Key, static_value: [hunter2]}\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(tc.data), "g.yaml", nil)
			if err == nil {
				t.Fatal("no problems, want some")
			}
			if strings.Contains(err.Error(), "hunter2") {
				t.Errorf("message shows the secret:\n%v", err)
			}
		})
	}
}

// TestSyntaxErrorLine checks that a YAML syntax error is reported on the
// line at fault, not where the YAML parser's enclosing block began.
func TestSyntaxErrorLine(t *testing.T) {
	var big strings.Builder
	big.WriteString("apis:\n")
	for i := range 700 {
		fmt.Fprintf(&big, "  - name: a%d\n    audience: https://a%d.example\n    scopes: [x, y]\n", i, i)
	}
	big.WriteString("   bad: indent\n")
	for _, tc := range []struct {
		name string
		data string
		want int
	}{
		{"BadIndent", "apis:\n  - name: a\n    audience: b\n   scopes: [c]\n", 4},
		{"MappingInScalar", "data_dir: a\n  b: c\n", 2},
		{"Tab", "apis:\n\t- name: a\n", 2},
		{"UnclosedFlow", "apis: [a\ndata_dir: b\n", 1},
		{"UnclosedQuote", "apis:\n  - name: a\n    audience: \"b\n    scopes: [c]\n", 3},
		{"AfterMultiLineFlow", "apis:\n  - name: x\n    scopes: [a,\n      b]\n  - name: y\n   audience: z\n", 6},
		{"UnknownAnchor", "data_dir: *nope\n", 1},
		{"LargeFile", big.String(), 2102},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(tc.data), "g.yaml", nil)
			var ps Problems
			if !errors.As(err, &ps) || len(ps) != 1 {
				t.Fatalf("got %v, want one problem", err)
			}
			if ps[0].Line != tc.want || !strings.HasPrefix(ps[0].Message, "invalid YAML: ") {
				t.Errorf("got %v, want an invalid YAML problem on line %d", ps[0], tc.want)
			}
		})
	}
}
