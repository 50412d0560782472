package gatehouse

import "time"

// AdminAPIName and AdminAudience identify the built-in API that protects
// Gatehouse's own admin surface and dynamic client registration.
const (
	AdminAPIName  = "gatehouse-admin"
	AdminAudience = "urn:gatehouse:admin"
	AdminScope    = "admin"
	// AdminReadScope reads the whole admin API and changes nothing
	// (auditors); DeveloperScope uses the developer routes for the
	// caller's own team.
	AdminReadScope = "admin:read"
	DeveloperScope = "developer"
	AdminClientID  = "gatehouse-admin"
	// ConsoleClientID is the public client people sign in with to the
	// management plane (authorization code + PKCE, loopback redirect):
	// what their token may do follows their account's role.
	ConsoleClientID = "gatehouse-console"
)

// Lifecycle is the publication state of an API.
type Lifecycle string

const (
	LifecycleDraft      Lifecycle = "draft"
	LifecyclePublished  Lifecycle = "published"
	LifecycleDeprecated Lifecycle = "deprecated"
	LifecycleRetired    Lifecycle = "retired"
)

// API is a protected resource: the audience tokens are minted for, the
// scopes it understands and where the gateway sends its traffic.
//
// Each version of an API is an API of its own, with its own Name (unique,
// such as "orders-v2"), Audience, scopes, routes, lifecycle and OpenAPI
// document; Family groups the versions of one API and Version labels this
// one. Subscriptions are to one version.
type API struct {
	Name     string // unique, short, used in config and URLs
	Audience string // RFC 8707 resource identifier; absolute URI; the token's aud
	Scopes   []string

	// Family groups the versions of one API ("orders"); "" means Name.
	Family string
	// Version labels this version within its family ("v2"); may be "".
	Version string
	// Approval says whether a new subscription is approved at once (auto,
	// the default) or waits for an administrator (manual).
	Approval Approval
	// OpenAPI is the version's OpenAPI document as imported, JSON or YAML
	// with a top-level "openapi" member; nil when none was imported.
	OpenAPI []byte
	// Description is a short human description shown in the catalog.
	Description string

	// TokenFormat overrides the policy's access token format for this API.
	// Empty means the policy default.
	TokenFormat TokenFormat
	// AccessTokenTTL overrides the policy's access token lifetime. Zero means
	// the policy default.
	AccessTokenTTL time.Duration

	Lifecycle Lifecycle
	// SunsetAt is announced in the Sunset header of a deprecated API.
	SunsetAt time.Time
	// DeprecatedAt is when the API became deprecated (the recorded
	// lifecycle step), announced in the Deprecation header (RFC 9745).
	// Derived when the catalog is loaded, never stored on its own.
	DeprecatedAt time.Time
	Upstream     Upstream
	Routes       []Route
	// Hosts, when set, limits the API's routes to these Host header values.
	Hosts []string
	// UpstreamPolicy, UpstreamAuth and Traffic configure the gateway.
	UpstreamPolicy UpstreamPolicy
	UpstreamAuth   UpstreamAuth
	Traffic        Traffic
	// ExternalIssuers names identity providers (config external_issuers)
	// whose tokens this API's bearer routes also accept.
	ExternalIssuers []string
	// DPoP says whether the API's bearer routes accept unbound tokens:
	// DPoPAllowed (or "") accepts both, DPoPRequired only DPoP-bound tokens
	// with a proof. A DPoP-bound token always needs its proof.
	DPoP DPoPMode
	// DPoPNonce makes the API demand a server nonce in DPoP proofs
	// (RFC 9449 §9).
	DPoPNonce bool

	Source    ClientSource // who owns the object: config, apply or admin
	Revision  int64
	CreatedAt time.Time
	UpdatedAt time.Time
}

// Approval is how an API's new subscriptions are decided.
type Approval string

const (
	ApprovalAuto   Approval = "auto"
	ApprovalManual Approval = "manual"
)

// FamilyName returns the API's family, which defaults to its name.
func (a *API) FamilyName() string {
	if a.Family != "" {
		return a.Family
	}
	return a.Name
}

// Manual reports whether the API's subscriptions wait for approval.
func (a *API) Manual() bool { return a.Approval == ApprovalManual }

// HasScope reports whether s is one of the API's scopes.
func (a *API) HasScope(s string) bool {
	for _, x := range a.Scopes {
		if x == s {
			return true
		}
	}
	return false
}

// Upstream is where the gateway proxies an API's traffic.
type Upstream struct {
	Targets []string // base URLs
}

// Route is one entry of an API's routing table.
type Route struct {
	Path    string   // exact ("/x"), prefix ("/x/*") or with parameters ("/x/{id}")
	Methods []string // empty means any
	Scopes  []string // scopes the route requires
	// ScopeMode is "all" (every scope required, the default) or "any".
	ScopeMode string
	// Credential is CredentialBearer (default), CredentialAPIKey or
	// CredentialNone.
	Credential string
	// AllowQueryToken accepts RFC 6750 access_token in the query or form
	// body; off by default because URLs end up in logs.
	AllowQueryToken bool
	// RateLimit applies per client on this route, on top of the API's.
	RateLimit *RateLimit
}
