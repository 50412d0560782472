package gatehouse

import (
	"fmt"
	"slices"
	"time"
)

// SourceAdmin marks objects made through the admin API or the CLI, and
// SourceApply objects managed by `gatehouse apply`. SourceConfig objects
// belong to the serve config file: a reload makes them match it.
const (
	SourceAdmin ClientSource = "admin"
	SourceApply ClientSource = "apply"
)

// Role is what an account may do on the management plane.
type Role string

const (
	RoleOwner     Role = "owner"     // everything, including accounts and roles
	RoleAdmin     Role = "admin"     // the catalog, apps, subscriptions, approvals
	RoleAuditor   Role = "auditor"   // reads everything, changes nothing
	RoleDeveloper Role = "developer" // their team's apps and subscriptions only
)

// Roles lists the roles in decreasing power.
var Roles = []Role{RoleOwner, RoleAdmin, RoleAuditor, RoleDeveloper}

// Valid reports whether r is one of Roles. The empty role (an account that
// only logs in to authorize clients) is not a role.
func (r Role) Valid() bool { return slices.Contains(Roles, r) }

// Team owns apps. A developer belongs to one team and sees its apps only.
type Team struct {
	Name        string // unique, short, used in config and URLs
	Description string
	Source      ClientSource
	Revision    int64 // see Revision conventions in docs/GOVERNANCE.md
	CreatedAt   time.Time
	UpdatedAt   time.Time
}

// MaySeeApp reports whether the account u may see (and, with a role that
// writes, change) the app c: owners, admins and auditors see every app, a
// developer only the apps of their own team.
func (u *User) MaySeeApp(c *Client) bool {
	switch u.Role {
	case RoleOwner, RoleAdmin, RoleAuditor:
		return true
	case RoleDeveloper:
		return u.Team != "" && c.Team == u.Team
	}
	return false
}

// StateChange records one step of a lifecycle: who moved which object from
// which state to which, when and why. Stores keep them forever, written in
// the same transaction as the change itself.
type StateChange struct {
	Kind   string // KindAPI, KindSubscription or KindCredential
	ID     string // the API name, subscription id or credential id
	From   string // "" when the object was created
	To     string
	Actor  string // account, client id, "config" or "apply"
	Reason string
	At     time.Time
}

// Kinds of objects whose lifecycle is recorded.
const (
	ObjectAPI          = "api"
	ObjectSubscription = "subscription"
	ObjectCredential   = "credential"
)

// TransitionError refuses a move a state machine does not allow, such as
// publishing a retired API or approving a rejected subscription. Its code
// (through Unwrap) is CodeConflict: the request is well-formed but the
// object's state forbids it.
type TransitionError struct {
	Kind   string // ObjectAPI, ObjectSubscription, ObjectCredential
	ID     string
	From   string
	Action string // what was asked: "publish", "approve", ...
	Why    string // the rule that refuses it
}

func (e *TransitionError) Error() string {
	return fmt.Sprintf("%s %s: cannot %s while %s: %s", e.Kind, e.ID, e.Action, e.From, e.Why)
}

// Unwrap makes ErrorCode and ErrorMessage see a CodeConflict *Error.
func (e *TransitionError) Unwrap() error { return &Error{Code: CodeConflict, Message: e.Error()} }

// CodeStale is the code of a RevisionError.
const CodeStale = "stale"

// RevisionError refuses an update made against an old revision of an
// object (optimistic concurrency: ETag / If-Match on the admin API).
type RevisionError struct {
	Kind     string // "api", "team", "client", "subscription", ...
	ID       string
	Expected int64 // the revision the caller read
	Actual   int64 // the stored revision
}

func (e *RevisionError) Error() string {
	return fmt.Sprintf("%s %s changed since it was read: revision %d, not %d", e.Kind, e.ID, e.Actual, e.Expected)
}

// Unwrap makes ErrorCode see CodeStale.
func (e *RevisionError) Unwrap() error { return &Error{Code: CodeStale, Message: e.Error()} }

// Page selects one page of a list ordered by the object's key. Cursor is
// opaque: pass the next cursor a list call returned, or "" for the first
// page. Limit 0 means DefaultPageLimit; more than MaxPageLimit is capped.
type Page struct {
	Cursor string
	Limit  int
}

const (
	DefaultPageLimit = 100
	MaxPageLimit     = 1000
)

// PageLimit returns the effective limit of p.
func (p Page) PageLimit() int {
	switch {
	case p.Limit <= 0:
		return DefaultPageLimit
	case p.Limit > MaxPageLimit:
		return MaxPageLimit
	}
	return p.Limit
}

// TeamFilter selects teams, ordered by name.
type TeamFilter struct {
	Page
}

// APIFilter selects APIs, ordered by name. Zero fields do not filter.
type APIFilter struct {
	Family    string
	Lifecycle Lifecycle
	Source    ClientSource
	Page
}

// SubscriptionFilter selects subscriptions, ordered by id. Zero fields do
// not filter. Team selects the subscriptions of the team's apps.
type SubscriptionFilter struct {
	ClientID string
	API      string
	Team     string
	State    SubscriptionState
	Source   ClientSource
	Page
}

// CredentialFilter selects the credentials of one app, ordered by id.
type CredentialFilter struct {
	ClientID string
	Kind     CredentialKind
}

// StateChangeFilter selects recorded lifecycle steps, oldest first.
type StateChangeFilter struct {
	Kind string
	ID   string
	Page
}

// Cutoff refuses every access token of ClientID for Audience issued at or
// before At, cached or not: what suspending or revoking a subscription,
// deleting an app or a bulk revocation leaves behind. An empty ClientID or
// Audience matches any. Tokens issued after At are not affected, so a
// resumed subscription's new tokens work.
type Cutoff struct {
	ClientID string
	Audience string
	At       time.Time
}

// AdminScopes returns the scopes of the admin API (AdminAudience) an
// account with role r may hold in a user-delegated token, the first being
// the one given when the request names none. Nil: the role gives no access
// to the management plane.
func (r Role) AdminScopes() []string {
	switch r {
	case RoleOwner, RoleAdmin:
		return []string{AdminScope, AdminReadScope, DeveloperScope}
	case RoleAuditor:
		return []string{AdminReadScope}
	case RoleDeveloper:
		return []string{DeveloperScope}
	}
	return nil
}
