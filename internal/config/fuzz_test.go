package config

import (
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse"
)

// FuzzParse checks that no input makes Parse panic, and that it returns
// either a valid Config or a non-empty Problems, never both nor neither.
// jwks_file reads go to the test's in-memory files, never to the disk.
//
//	go test ./internal/config -run '^$' -fuzz FuzzParse -fuzztime 30s
func FuzzParse(f *testing.F) {
	files, err := filepath.Glob("testdata/*.yaml")
	if err != nil {
		f.Fatal(err)
	}
	files = append(files, filepath.Join("..", "..", "examples", "quickstart.yaml"))
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	for _, s := range []string{
		"",
		"{}",
		"a: &x [*x]\napis: *x\n",
		"clients: [{id: a, auth_method: private_key_jwt, jwks: &x {keys: [*x]}}]\n",
		"clients: [{id: a, auth_method: private_key_jwt, jwks_file: keys.json}]\n",
		"data_dir: ${A:-${B}}$$$\n",
		"apis: [{name: a, audience: 'urn:a:b', routes: [{path: '/{x}/*'}]}]\n",
		"? [a]\n: b\n",
		"--- !!map\n",
		"gateway: {trusted_proxies: ['::ffff:10.0.0.0/104', 10.0.0.1], max_body_bytes: 0x10_0000, allow_plain_http_tokens: TRUE}\n",
		"listen: {tls: {addr: ':0', self_signed: true}}\n",
		"external_issuers: [{name: i, issuer: 'https://i.example/', jwks_uri: 'https://i.example/k', algorithms: [RS256], audience: a, scope_map: {x: s}}]\n" +
			"apis: [{name: a, audience: 'urn:a:b', scopes: [s], external_issuers: [i], upstream: {targets: ['http://h']}, routes: [{path: /x, credential: none}, {path: /y}]}]\n",
		"apis: [{name: a, audience: 'urn:a:b', lifecycle: deprecated, sunset: 2027-06-30T00:00:00Z, hosts: [A.example], upstream_auth: {mint_token: true, mint_audience: 'urn:a:c', static_header: x-k, static_value: '${A}'}, traffic: {per_client: {rate: 1}, quota: {daily: 1}, ip_deny: ['::/0']}}]\n",
		"clients: [{id: a, networks: {allow: [10.0.0.0/8], deny: ['fe80::1']}}]\n",
		"teams: [{name: t, description: d}]\napis: [{name: a, audience: 'urn:a:b', scopes: [s, u], family: f, version: v1, approval: manual, openapi: keys.json}]\n" +
			"clients: [{id: c, team: t}]\nsubscriptions: [{app: c, api: a, scopes: [s, u], approved_scopes: [s], state: suspended, expires_at: 2031-01-01T00:00:00Z}]\n" +
			"users: [{username: u, password_hash: x, role: developer, team: t}]\n",
	} {
		f.Add([]byte(s))
	}
	env := mapEnv(map[string]string{"A": "x", "BILLING_SECRET": "0123456789abcdef0123456789abcdef", "REF": "${A}"})

	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := parse(data, "cfg/gatehouse.yaml", env, readTestFile)
		if err == nil {
			if cfg == nil {
				t.Fatal("nil Config and nil error")
			}
			checkValid(t, cfg)
			return
		}
		if cfg != nil {
			t.Fatalf("a Config along with error %v", err)
		}
		var ps Problems
		if !errors.As(err, &ps) || len(ps) == 0 {
			t.Fatalf("error %T %q, want a non-empty Problems", err, err)
		}
		for _, p := range ps {
			if p.Message == "" || p.Line < 0 {
				t.Errorf("malformed problem %+v", p)
			}
		}
		_ = err.Error()
	})
}

// checkValid checks invariants every parsed Config must hold.
func checkValid(t *testing.T, cfg *Config) {
	t.Helper()
	if cfg.Tokens != cfg.Tokens.WithDefaults() {
		t.Errorf("token policy without defaults: %+v", cfg.Tokens)
	}
	if b := cfg.Gateway.MaxBodyBytes; b < 1 || b > MaxMaxBodyBytes {
		t.Errorf("max body bytes %d out of range", b)
	}
	checkPrefixes(t, "trusted proxies", cfg.Gateway.TrustedProxies)
	for _, p := range cfg.Gateway.TrustedProxies {
		if p.Bits() == 0 {
			t.Errorf("trusted proxy %s trusts everyone", p)
		}
	}
	if tls := cfg.TLS; tls.Addr == "" && tls != (TLSConfig{}) || tls.Addr != "" && (tls.SelfSigned == (tls.CertFile != "") || (tls.CertFile == "") != (tls.KeyFile == "")) {
		t.Errorf("TLS listener %+v needs an address and exactly one of a certificate pair or self_signed", tls)
	}
	for _, e := range cfg.ExternalIssuers {
		if cfg.ExternalIssuer(e.Name) == nil || e.Issuer == "" || e.JWKSURI == "" || e.Audience == "" || len(e.Algorithms) == 0 || e.ScopeClaim == "" || e.RefreshInterval == 0 {
			t.Errorf("external issuer without a required value or default: %+v", e)
		}
	}
	for _, api := range cfg.APIs {
		if cfg.API(api.Name) == nil || cfg.APIByAudience(api.Audience) == nil {
			t.Errorf("API %q cannot be found by name or audience", api.Name)
		}
		bearer := false
		for _, r := range api.Routes {
			for _, s := range r.Scopes {
				if !api.HasScope(s) {
					t.Errorf("API %q route %q needs scope %q the API lacks", api.Name, r.Path, s)
				}
			}
			switch r.Credential {
			case "bearer":
				bearer = true
			case "api_key", "none":
				if r.AllowQueryToken {
					t.Errorf("API %q route %q takes query tokens with credential %s", api.Name, r.Path, r.Credential)
				}
			default:
				t.Errorf("API %q route %q has credential %q", api.Name, r.Path, r.Credential)
			}
			if r.Credential == "none" && (len(r.Scopes) > 0 || r.RateLimit != nil) {
				t.Errorf("API %q public route %q has scopes or a per-client limit", api.Name, r.Path)
			}
			checkRateLimit(t, r.RateLimit)
		}
		for _, name := range api.ExternalIssuers {
			if cfg.ExternalIssuer(name) == nil {
				t.Errorf("API %q accepts unknown external issuer %q", api.Name, name)
			}
		}
		if len(api.ExternalIssuers) > 0 && !bearer {
			t.Errorf("API %q accepts external issuers on no bearer route", api.Name)
		}
		if p := api.UpstreamPolicy; p.Balance == "" || p.ConnectTimeout == 0 || p.ReadTimeout == 0 || p.Retries == 0 || p.Retries < NoRetries || (p.HealthPath == "") != (p.HealthInterval == 0) {
			t.Errorf("API %q upstream policy without defaults: %+v", api.Name, p)
		}
		if ua := api.UpstreamAuth; ua.MintToken != (ua.MintAudience != "") || (ua.StaticHeader == "") != (ua.StaticValue == "") || cfg.APIByAudience(ua.MintAudience) != nil {
			t.Errorf("API %q upstream auth is inconsistent: mint %v %q, static header %q", api.Name, ua.MintToken, ua.MintAudience, ua.StaticHeader)
		}
		if !api.SunsetAt.IsZero() && (api.Lifecycle != "deprecated" || api.SunsetAt.Location() != time.UTC) {
			t.Errorf("API %q has sunset %v while %s", api.Name, api.SunsetAt, api.Lifecycle)
		}
		checkRateLimit(t, api.Traffic.PerClient)
		checkRateLimit(t, api.Traffic.SpikeArrest)
		checkPrefixes(t, "ip_allow", api.Traffic.IPAllow)
		checkPrefixes(t, "ip_deny", api.Traffic.IPDeny)
	}
	for _, c := range cfg.Clients {
		checkPrefixes(t, "networks.allow", c.Networks.Allow)
		checkPrefixes(t, "networks.deny", c.Networks.Deny)
		if c.Source != "config" || len(c.GrantTypes) == 0 {
			t.Errorf("client %q: source %q, grant types %q", c.ID, c.Source, c.GrantTypes)
		}
		for _, a := range c.Access {
			api := cfg.API(a.API)
			if api == nil {
				t.Errorf("client %q has access to unknown API %q", c.ID, a.API)
				continue
			}
			for _, s := range a.Scopes {
				if !api.HasScope(s) {
					t.Errorf("client %q has scope %q that API %q lacks", c.ID, s, a.API)
				}
			}
		}
	}
}

// checkPrefixes checks that prefixes are canonical: masked, unmapped, once.
func checkPrefixes(t *testing.T, what string, ps []netip.Prefix) {
	t.Helper()
	seen := map[netip.Prefix]bool{}
	for _, p := range ps {
		if !p.IsValid() || p != p.Masked() || p.Addr().Is4In6() || p.Addr().Zone() != "" || seen[p] {
			t.Errorf("%s: prefix %s is not canonical, or listed twice", what, p)
		}
		seen[p] = true
	}
}

func checkRateLimit(t *testing.T, rl *gatehouse.RateLimit) {
	t.Helper()
	if rl != nil && (rl.Rate < 1 || rl.Burst < 0 || rl.Period < time.Millisecond) {
		t.Errorf("rate limit %+v out of range", *rl)
	}
}
