package admin

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gatehouse/gatehouse"
)

// The management plane's store, split by concern. Error contract in
// docs/GOVERNANCE.md: CodeNotFound, CodeConflict, CodeInvalid, and
// *gatehouse.RevisionError (CodeStale) when an object's Revision is not
// the stored one; each method that changes state is one transaction.

// TeamStore keeps teams.
type TeamStore interface {
	CreateTeam(ctx context.Context, t *gatehouse.Team) error
	FindTeam(ctx context.Context, name string) (*gatehouse.Team, error)
	FindTeams(ctx context.Context, f gatehouse.TeamFilter) ([]*gatehouse.Team, string, error)
	UpdateTeam(ctx context.Context, t *gatehouse.Team) error
	DeleteTeam(ctx context.Context, name string, revision int64) error
}

// AccountStore keeps accounts (users with a role).
type AccountStore interface {
	FindUserByID(ctx context.Context, id string) (*gatehouse.User, error)
	FindUsers(ctx context.Context) ([]*gatehouse.User, error)
	UpdateUser(ctx context.Context, u *gatehouse.User) error
}

// APIStore keeps the catalog, one row per API version.
type APIStore interface {
	CreateAPI(ctx context.Context, a *gatehouse.API) error
	FindAPI(ctx context.Context, name string) (*gatehouse.API, error)
	FindAPIs(ctx context.Context, f gatehouse.APIFilter) ([]*gatehouse.API, string, error)
	UpdateAPI(ctx context.Context, a *gatehouse.API, change *gatehouse.StateChange) error
	DeleteAPI(ctx context.Context, name string, revision int64) error
	FindStateChanges(ctx context.Context, f gatehouse.StateChangeFilter) ([]gatehouse.StateChange, string, error)
}

// AppStore keeps apps (OAuth clients) and their credentials.
type AppStore interface {
	CreateClient(ctx context.Context, c *gatehouse.Client) error
	FindClientByID(ctx context.Context, id string) (*gatehouse.Client, error)
	FindClientPage(ctx context.Context, f gatehouse.ClientFilter) ([]*gatehouse.Client, string, error)
	UpdateClient(ctx context.Context, c *gatehouse.Client) error
	// DeleteApp deletes an app, revokes its open subscriptions and its
	// credentials and cuts off its tokens, in one transaction.
	DeleteApp(ctx context.Context, id string, revision int64, actor string, at time.Time) error

	CreateCredential(ctx context.Context, c *gatehouse.Credential) error
	FindCredential(ctx context.Context, id string) (*gatehouse.Credential, error)
	FindCredentials(ctx context.Context, f gatehouse.CredentialFilter) ([]*gatehouse.Credential, error)
	RevokeCredential(ctx context.Context, c *gatehouse.Credential, change gatehouse.StateChange) ([]gatehouse.Revocation, error)
	// RotateClientSecret replaces the primary secret and keeps the old
	// one as previous (when set), in one transaction.
	RotateClientSecret(ctx context.Context, id string, revision int64, newHash []byte, previous *gatehouse.Credential, at time.Time) (int64, error)
}

// SubscriptionStore keeps subscriptions and the cutoffs that end tokens.
type SubscriptionStore interface {
	CreateSubscription(ctx context.Context, s *gatehouse.Subscription, change gatehouse.StateChange) error
	FindSubscription(ctx context.Context, id string) (*gatehouse.Subscription, error)
	FindSubscriptions(ctx context.Context, f gatehouse.SubscriptionFilter) ([]*gatehouse.Subscription, string, error)
	UpdateSubscription(ctx context.Context, s *gatehouse.Subscription, change *gatehouse.StateChange) error
	// BulkRevoke writes a cutoff (by app or by API) and its security
	// event in one transaction.
	BulkRevoke(ctx context.Context, c gatehouse.Cutoff, e *gatehouse.SecurityEvent) error
}

// changed tells the node the management plane changed, so that the
// catalog, the routing table and the refusal state are rebuilt before the
// response goes out: the very next request sees the change. The change is
// already stored, so a failure to apply it is never reported as a
// problem with the request (no 4xx, and its message, which may name
// internals, is only logged): it is an opaque 500 saying so, and the
// node's store poll retries.
func (h *Handler) changed(ctx context.Context) error {
	if h.Changed == nil {
		return nil
	}
	if err := h.Changed(ctx); err != nil {
		h.Log.Error("a stored admin change was not applied on this node yet; the store poll retries", "err", err)
		return problem(http.StatusInternalServerError, typeInternal, "internal error",
			"the change was stored but this node could not apply it yet; it retries on its own")
	}
	return nil
}

// actor names who made a change in the recorded history.
func (p *Principal) actor() string { return p.Subject }

// revTag is the ETag of a governed object: its revision, which the store
// moves on every change, so If-Match is checked by the store inside the
// update's own transaction.
func revTag(rev int64) string { return `"` + strconv.FormatInt(rev, 10) + `"` }

// ifMatch reads the revision a change is made against. Required (428)
// unless optional; "*" and an absent optional header mean any (0).
func ifMatch(r *http.Request, optional bool) (int64, error) {
	h := strings.TrimSpace(r.Header.Get("If-Match"))
	switch {
	case h == "" && optional:
		return 0, nil
	case h == "":
		return 0, &Problem{Type: typePreconditionReq, Title: "precondition required", Status: http.StatusPreconditionRequired,
			Detail: "send If-Match with the ETag of the resource you read, so that a concurrent change is not overwritten",
			Field:  "If-Match", Reason: "missing"}
	case h == "*":
		return 0, nil
	}
	s, ok := strings.CutPrefix(h, `"`)
	s, ok2 := strings.CutSuffix(s, `"`)
	rev, err := strconv.ParseInt(s, 10, 64)
	if !ok || !ok2 || err != nil || rev < 1 {
		// Not an ETag this server hands out for this resource: it cannot
		// match the current one.
		return 0, stale()
	}
	return rev, nil
}

func stale() *Problem {
	return &Problem{Type: typePrecondition, Title: "precondition failed", Status: http.StatusPreconditionFailed,
		Detail: "the resource changed since it was read; read it again and retry with its new ETag",
		Field:  "If-Match", Reason: "does not match the current ETag"}
}

// parseTime reads an optional RFC 3339 time of a request member.
func parseTime(field, s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}, invalidField(field, "must be an RFC 3339 date-time such as 2030-01-31T00:00:00Z")
	}
	return t, nil
}

// listErr maps a store's refusal of a cursor (one this API wrapped but
// the store cannot read) to the cursor parameter.
func listErr(err error, p page) error {
	if gatehouse.ErrorCode(err) == gatehouse.CodeInvalid && p.After != "" {
		return invalidParam("cursor", "not a cursor this server returned")
	}
	return err
}

// pageOf converts the admin API's page to the store's.
func pageOf(p page) gatehouse.Page { return gatehouse.Page{Cursor: p.After, Limit: p.Limit} }

// storeList is a page of a store list.
func storeList[T any](items []T, next string) list[T] {
	l := list[T]{Items: items, NextCursor: ""}
	if l.Items == nil {
		l.Items = []T{}
	}
	if next != "" {
		l.NextCursor = encodeCursor(next)
	}
	return l
}

// checkName checks a key used in URLs (team and API names).
func checkName(field, s string) error {
	if s == "" || len(s) > 64 {
		return invalidField(field, "must be 1 to 64 characters")
	}
	for i, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || (i > 0 && (c == '-' || c == '_' || c == '.'))) {
			return invalidField(field, "may contain lower-case letters, digits and - _ . (not first)")
		}
	}
	return nil
}

// checkText checks a one-line human text.
func checkText(field, s string, max int) error {
	if len(s) > max {
		return invalidField(field, "must be at most "+strconv.Itoa(max)+" bytes")
	}
	for _, c := range s {
		if c < 0x20 || c == 0x7f {
			return invalidField(field, "must be one line without control characters")
		}
	}
	return nil
}
