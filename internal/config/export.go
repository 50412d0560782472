package config

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/netip"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/gatehouse/gatehouse"
)

// Export is the state `gatehouse export` writes, in the file's own schema,
// so that `gatehouse apply` reads it back. It never holds a secret: client
// secrets are left out (apply generates new ones), a static upstream
// credential is written as a ${VAR} reference (StaticValueVar).
type Export struct {
	Teams         []gatehouse.Team
	APIs          []gatehouse.API
	Clients       []gatehouse.Client
	Subscriptions []Subscription
	// OpenAPIFiles names, per API, the file its OpenAPI document was
	// written to, relative to the exported file.
	OpenAPIFiles map[string]string
}

// StaticValueVar is the environment variable an exported file refers to
// for an API's static upstream credential.
func StaticValueVar(api string) string {
	return "GATEHOUSE_STATIC_VALUE_" + strings.ToUpper(strings.ReplaceAll(api, "-", "_"))
}

const exportHeader = `# Written by gatehouse export. Apply it with: gatehouse apply -f FILE
# No secret is ever exported: clients authenticating with a secret have none here, so
# applying this file to another store generates new secrets (shown once); a static
# upstream credential is a ${GATEHOUSE_STATIC_VALUE_<API>} reference to set at apply time.
`

type fileDoc struct {
	Teams         []fileTeam         `yaml:"teams,omitempty"`
	APIs          []fileAPI          `yaml:"apis,omitempty"`
	Clients       []fileClient       `yaml:"clients,omitempty"`
	Subscriptions []fileSubscription `yaml:"subscriptions,omitempty"`
}

type fileTeam struct {
	Name        string `yaml:"name"`
	Description string `yaml:"description,omitempty"`
}

type fileAPI struct {
	Name            string            `yaml:"name"`
	Family          string            `yaml:"family,omitempty"`
	Version         string            `yaml:"version,omitempty"`
	Description     string            `yaml:"description,omitempty"`
	Audience        string            `yaml:"audience"`
	Scopes          []string          `yaml:"scopes,omitempty"`
	Approval        string            `yaml:"approval,omitempty"`
	Lifecycle       string            `yaml:"lifecycle,omitempty"`
	Sunset          string            `yaml:"sunset,omitempty"`
	OpenAPI         string            `yaml:"openapi,omitempty"`
	TokenFormat     string            `yaml:"token_format,omitempty"`
	AccessTokenTTL  string            `yaml:"access_token_ttl,omitempty"`
	Hosts           []string          `yaml:"hosts,omitempty"`
	Upstream        *fileUpstream     `yaml:"upstream,omitempty"`
	UpstreamAuth    *fileUpstreamAuth `yaml:"upstream_auth,omitempty"`
	Traffic         *fileTraffic      `yaml:"traffic,omitempty"`
	ExternalIssuers []string          `yaml:"external_issuers,omitempty"`
	DPoP            string            `yaml:"dpop,omitempty"`
	DPoPNonce       bool              `yaml:"dpop_nonce,omitempty"`
	Routes          []fileRoute       `yaml:"routes,omitempty"`
}

type fileUpstream struct {
	Targets        []string `yaml:"targets,omitempty"`
	Balance        string   `yaml:"balance,omitempty"`
	Forwarding     string   `yaml:"forwarding,omitempty"`
	ConnectTimeout string   `yaml:"connect_timeout,omitempty"`
	ReadTimeout    string   `yaml:"read_timeout,omitempty"`
	Retries        *int     `yaml:"retries,omitempty"`
	HealthPath     string   `yaml:"health_path,omitempty"`
	HealthInterval string   `yaml:"health_interval,omitempty"`
}

type fileUpstreamAuth struct {
	IdentityHeaders bool   `yaml:"identity_headers,omitempty"`
	MintToken       bool   `yaml:"mint_token,omitempty"`
	MintAudience    string `yaml:"mint_audience,omitempty"`
	StaticHeader    string `yaml:"static_header,omitempty"`
	StaticValue     string `yaml:"static_value,omitempty"`
}

type fileRateLimit struct {
	Rate   int    `yaml:"rate"`
	Period string `yaml:"period,omitempty"`
	Burst  int    `yaml:"burst,omitempty"`
}

type fileQuota struct {
	Daily   int64 `yaml:"daily,omitempty"`
	Monthly int64 `yaml:"monthly,omitempty"`
}

type fileTraffic struct {
	PerClient   *fileRateLimit `yaml:"per_client,omitempty"`
	SpikeArrest *fileRateLimit `yaml:"spike_arrest,omitempty"`
	Quota       *fileQuota     `yaml:"quota,omitempty"`
	IPAllow     []string       `yaml:"ip_allow,omitempty"`
	IPDeny      []string       `yaml:"ip_deny,omitempty"`
}

type fileRoute struct {
	Path            string         `yaml:"path"`
	Methods         []string       `yaml:"methods,omitempty"`
	Scopes          []string       `yaml:"scopes,omitempty"`
	ScopeMode       string         `yaml:"scope_mode,omitempty"`
	Credential      string         `yaml:"credential,omitempty"`
	AllowQueryToken bool           `yaml:"allow_query_token,omitempty"`
	RateLimit       *fileRateLimit `yaml:"rate_limit,omitempty"`
}

type fileClient struct {
	ID           string        `yaml:"id"`
	Name         string        `yaml:"name,omitempty"`
	Team         string        `yaml:"team,omitempty"`
	AuthMethod   string        `yaml:"auth_method"`
	JWKS         any           `yaml:"jwks,omitempty"`
	GrantTypes   []string      `yaml:"grant_types,omitempty"`
	RedirectURIs []string      `yaml:"redirect_uris,omitempty"`
	TokenFormat  string        `yaml:"token_format,omitempty"`
	APIs         []fileAccess  `yaml:"apis,omitempty"`
	Networks     *fileNetworks `yaml:"networks,omitempty"`
	DPoP         string        `yaml:"dpop,omitempty"`

	TLSSubjectDN    string `yaml:"tls_client_auth_subject_dn,omitempty"`
	TLSSANDNS       string `yaml:"tls_client_auth_san_dns,omitempty"`
	TLSSANURI       string `yaml:"tls_client_auth_san_uri,omitempty"`
	TLSSANIP        string `yaml:"tls_client_auth_san_ip,omitempty"`
	TLSSANEmail     string `yaml:"tls_client_auth_san_email,omitempty"`
	CertBoundTokens bool   `yaml:"tls_client_certificate_bound_access_tokens,omitempty"`

	TokenExchange []fileExchange `yaml:"token_exchange,omitempty"`
}

type fileExchange struct {
	From string   `yaml:"from"`
	To   []string `yaml:"to"`
}

type fileAccess struct {
	API           string   `yaml:"api"`
	Scopes        []string `yaml:"scopes,omitempty"`
	DefaultScopes []string `yaml:"default_scopes,omitempty"`
	Introspect    bool     `yaml:"introspect,omitempty"`
}

type fileNetworks struct {
	Allow []string `yaml:"allow,omitempty"`
	Deny  []string `yaml:"deny,omitempty"`
}

type fileSubscription struct {
	App            string   `yaml:"app"`
	API            string   `yaml:"api"`
	Scopes         []string `yaml:"scopes,omitempty"`
	ApprovedScopes []string `yaml:"approved_scopes,omitempty"`
	State          string   `yaml:"state"`
	Reason         string   `yaml:"reason,omitempty"`
	ExpiresAt      string   `yaml:"expires_at,omitempty"`
}

func rateLimitOut(r *gatehouse.RateLimit) *fileRateLimit {
	if r == nil {
		return nil
	}
	out := &fileRateLimit{Rate: r.Rate, Burst: r.Burst}
	if r.Period != 0 {
		out.Period = fmtDuration(r.Period)
	}
	return out
}

func durationOut(d time.Duration) string {
	if d == 0 {
		return ""
	}
	return fmtDuration(d)
}

func prefixesOut(ps []netip.Prefix) []string {
	var out []string
	for _, p := range ps {
		out = append(out, p.String())
	}
	return out
}

// Marshal writes e as a config file (YAML) with a header saying what was
// left out. Lists keep the order of e.
func (e *Export) Marshal() ([]byte, error) {
	var doc fileDoc
	for _, t := range e.Teams {
		doc.Teams = append(doc.Teams, fileTeam{Name: t.Name, Description: literal(t.Description)})
	}
	for _, a := range e.APIs {
		fa := fileAPI{Name: a.Name, Version: a.Version, Description: literal(a.Description), Audience: a.Audience, Scopes: a.Scopes,
			Approval: string(a.Approval), Lifecycle: string(a.Lifecycle), OpenAPI: e.OpenAPIFiles[a.Name],
			TokenFormat: string(a.TokenFormat), AccessTokenTTL: durationOut(a.AccessTokenTTL), Hosts: a.Hosts,
			ExternalIssuers: a.ExternalIssuers, DPoP: string(a.DPoP), DPoPNonce: a.DPoPNonce}
		if a.Family != "" && a.Family != a.Name {
			fa.Family = a.Family
		}
		if !a.SunsetAt.IsZero() {
			fa.Sunset = a.SunsetAt.UTC().Format(time.RFC3339)
		}
		if p := a.UpstreamPolicy; len(a.Upstream.Targets) > 0 || p.HealthPath != "" {
			up := &fileUpstream{Targets: exportTargets(a.Upstream.Targets), Balance: p.Balance, Forwarding: p.Forwarding, ConnectTimeout: durationOut(p.ConnectTimeout),
				ReadTimeout: durationOut(p.ReadTimeout), HealthPath: p.HealthPath, HealthInterval: durationOut(p.HealthInterval)}
			switch {
			case p.Retries == NoRetries:
				zero := 0
				up.Retries = &zero
			case p.Retries > 0:
				r := p.Retries
				up.Retries = &r
			}
			fa.Upstream = up
		}
		if u := a.UpstreamAuth; u.IdentityHeaders || u.MintToken || u.StaticHeader != "" {
			fa.UpstreamAuth = &fileUpstreamAuth{IdentityHeaders: u.IdentityHeaders, MintToken: u.MintToken,
				MintAudience: u.MintAudience, StaticHeader: u.StaticHeader}
			if u.StaticHeader != "" {
				fa.UpstreamAuth.StaticValue = "${" + StaticValueVar(a.Name) + "}"
			}
		}
		if t := a.Traffic; t.PerClient != nil || t.SpikeArrest != nil || t.Quota != (gatehouse.Quota{}) || len(t.IPAllow) > 0 || len(t.IPDeny) > 0 {
			ft := &fileTraffic{PerClient: rateLimitOut(t.PerClient), SpikeArrest: rateLimitOut(t.SpikeArrest),
				IPAllow: prefixesOut(t.IPAllow), IPDeny: prefixesOut(t.IPDeny)}
			if t.Quota != (gatehouse.Quota{}) {
				ft.Quota = &fileQuota{Daily: t.Quota.Daily, Monthly: t.Quota.Monthly}
			}
			fa.Traffic = ft
		}
		for _, r := range a.Routes {
			fa.Routes = append(fa.Routes, fileRoute{Path: r.Path, Methods: r.Methods, Scopes: r.Scopes, ScopeMode: r.ScopeMode,
				Credential: r.Credential, AllowQueryToken: r.AllowQueryToken, RateLimit: rateLimitOut(r.RateLimit)})
		}
		doc.APIs = append(doc.APIs, fa)
	}
	for _, c := range e.Clients {
		fc := fileClient{ID: c.ID, Name: literal(c.Name), Team: c.Team, AuthMethod: string(c.AuthMethod), GrantTypes: c.GrantTypes,
			RedirectURIs: c.RedirectURIs, TokenFormat: string(c.TokenFormat)}
		if len(c.JWKS) > 0 {
			var v any
			if err := json.Unmarshal(c.JWKS, &v); err != nil {
				return nil, fmt.Errorf("client %s: jwks: %w", c.ID, err)
			}
			fc.JWKS = v
		}
		for _, a := range c.Access {
			fc.APIs = append(fc.APIs, fileAccess{API: a.API, Scopes: a.Scopes, DefaultScopes: a.DefaultScopes, Introspect: a.Introspect})
		}
		if len(c.Networks.Allow) > 0 || len(c.Networks.Deny) > 0 {
			fc.Networks = &fileNetworks{Allow: prefixesOut(c.Networks.Allow), Deny: prefixesOut(c.Networks.Deny)}
		}
		if c.DPoPBound {
			fc.DPoP = string(gatehouse.DPoPRequired)
		}
		fc.TLSSubjectDN, fc.TLSSANDNS, fc.TLSSANURI = c.TLSSubject.DN, c.TLSSubject.DNS, c.TLSSubject.URI
		fc.TLSSANIP, fc.TLSSANEmail, fc.CertBoundTokens = c.TLSSubject.IP, c.TLSSubject.Email, c.CertificateBoundTokens
		for _, r := range c.TokenExchange {
			fc.TokenExchange = append(fc.TokenExchange, fileExchange{From: r.From, To: r.To})
		}
		doc.Clients = append(doc.Clients, fc)
	}
	for _, s := range e.Subscriptions {
		fs := fileSubscription{App: s.App, API: s.API, Scopes: s.Scopes, State: string(s.State), Reason: literal(s.Reason)}
		if s.State != gatehouse.SubPending {
			fs.ApprovedScopes = s.ApprovedScopes
		}
		if !s.ExpiresAt.IsZero() {
			fs.ExpiresAt = s.ExpiresAt.UTC().Format(time.RFC3339)
		}
		doc.Subscriptions = append(doc.Subscriptions, fs)
	}
	var b bytes.Buffer
	b.WriteString(exportHeader)
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(&doc); err != nil {
		return nil, fmt.Errorf("export: %w", err)
	}
	if err := enc.Close(); err != nil {
		return nil, fmt.Errorf("export: %w", err)
	}
	return b.Bytes(), nil
}

// literal escapes text so that reading the file back does not interpolate
// it: $$ is a literal $.
// exportTargets never writes a target's user info or query (a store from
// before they were refused may hold some): they are written REDACTED,
// which loading the file refuses, so the operator sees what to fix.
func exportTargets(ts []string) []string {
	out := make([]string, len(ts))
	for i, t := range ts {
		if strings.ContainsAny(t, "@?#") {
			t = gatehouse.RedactedTarget(t)
		}
		out[i] = t
	}
	return out
}

func literal(s string) string { return strings.ReplaceAll(s, "$", "$$") }
