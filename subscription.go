package gatehouse

import (
	"slices"
	"time"
)

// SubscriptionState is where a subscription stands.
type SubscriptionState string

const (
	SubPending   SubscriptionState = "pending"   // waits for an administrator (manual approval)
	SubApproved  SubscriptionState = "approved"  // grants its approved scopes
	SubRejected  SubscriptionState = "rejected"  // final; Reason says why
	SubSuspended SubscriptionState = "suspended" // grants nothing until resumed
	SubRevoked   SubscriptionState = "revoked"   // final
	SubExpired   SubscriptionState = "expired"   // final; ExpiresAt passed
)

// SubscriptionStates lists every state.
var SubscriptionStates = []SubscriptionState{SubPending, SubApproved, SubRejected, SubSuspended, SubRevoked, SubExpired}

// Final reports whether no move leaves state s.
func (s SubscriptionState) Final() bool {
	return s == SubRejected || s == SubRevoked || s == SubExpired
}

// Subscription is an app's request to use one API version with some
// scopes, and the decision on it. At most one subscription of an app to an
// API is open (pending, approved or suspended) at a time.
type Subscription struct {
	ID       string
	ClientID string   // the app
	API      string   // the API (one version) by name
	Scopes   []string // asked for
	// ApprovedScopes is what an approval granted: a subset of Scopes.
	ApprovedScopes []string
	State          SubscriptionState
	// Reason is the last rejection, suspension or revocation reason.
	Reason string
	// ExpiresAt ends the subscription; zero means it does not expire.
	ExpiresAt time.Time
	Source    ClientSource
	Revision  int64
	CreatedAt time.Time
	UpdatedAt time.Time
}

// NewSubscription opens a subscription of app clientID to api asking for
// scopes: approved at once with every scope asked when the API's approval
// is auto, pending when it is manual. Scopes must be scopes of the API
// (none means all of them), expires, when set, after now, and the API must
// be published. It returns the subscription and its first recorded step.
func NewSubscription(id, clientID string, api *API, scopes []string, expires time.Time, actor string, now time.Time) (*Subscription, StateChange, error) {
	switch lifecycleOf(api.Lifecycle) {
	case LifecyclePublished:
	case LifecycleDeprecated:
		return nil, StateChange{}, Errorf(CodeConflict, "API %s is deprecated: it takes no new subscriptions", api.Name)
	default:
		return nil, StateChange{}, Errorf(CodeConflict, "API %s is %s: only a published API takes subscriptions", api.Name, api.Lifecycle)
	}
	if clientID == "" || id == "" {
		return nil, StateChange{}, Errorf(CodeInvalid, "a subscription needs an id and an app")
	}
	if len(scopes) == 0 {
		scopes = slices.Clone(api.Scopes)
	}
	for _, s := range scopes {
		if !api.HasScope(s) {
			return nil, StateChange{}, Errorf(CodeInvalid, "scope %q is not a scope of API %s", s, api.Name)
		}
	}
	if !expires.IsZero() && !expires.After(now) {
		return nil, StateChange{}, Errorf(CodeInvalid, "the expiry time must be in the future")
	}
	s := &Subscription{ID: id, ClientID: clientID, API: api.Name, Scopes: dedupe(scopes),
		State: SubPending, ExpiresAt: expires, CreatedAt: now, UpdatedAt: now}
	if !api.Manual() {
		s.State, s.ApprovedScopes = SubApproved, slices.Clone(s.Scopes)
	}
	return s, StateChange{Kind: ObjectSubscription, ID: id, To: string(s.State), Actor: actor, At: now}, nil
}

// Active reports whether the subscription grants its approved scopes at
// now: approved and not past its expiry.
func (s *Subscription) Active(now time.Time) bool {
	return s.State == SubApproved && (s.ExpiresAt.IsZero() || now.Before(s.ExpiresAt))
}

// StateAt is the subscription's state at now: expired once ExpiresAt has
// passed even if no one recorded the expiry yet.
func (s *Subscription) StateAt(now time.Time) SubscriptionState {
	if !s.State.Final() && !s.ExpiresAt.IsZero() && !now.Before(s.ExpiresAt) {
		return SubExpired
	}
	return s.State
}

// Subscription actions, as named in a TransitionError.
const (
	ActionApprove = "approve"
	ActionReject  = "reject"
	ActionSuspend = "suspend"
	ActionResume  = "resume"
	ActionRevoke  = "revoke"
	ActionExpire  = "expire"
)

// subMoves is the subscription state machine: for each action, the states
// it may start from and the state it leads to. Everything else is refused.
var subMoves = map[string]struct {
	from []SubscriptionState
	to   SubscriptionState
}{
	ActionApprove: {[]SubscriptionState{SubPending}, SubApproved},
	ActionReject:  {[]SubscriptionState{SubPending}, SubRejected},
	ActionSuspend: {[]SubscriptionState{SubApproved}, SubSuspended},
	ActionResume:  {[]SubscriptionState{SubSuspended}, SubApproved},
	ActionRevoke:  {[]SubscriptionState{SubPending, SubApproved, SubSuspended}, SubRevoked},
	ActionExpire:  {[]SubscriptionState{SubPending, SubApproved, SubSuspended}, SubExpired},
}

// SubscriptionMove reports the state action leads to from state from, and
// whether the move is allowed.
func SubscriptionMove(from SubscriptionState, action string) (SubscriptionState, bool) {
	m, ok := subMoves[action]
	if !ok || !slices.Contains(m.from, from) {
		return "", false
	}
	return m.to, true
}

// move applies action if the state machine allows it at now.
func (s *Subscription) move(action, actor, reason string, now time.Time) (StateChange, error) {
	from := s.State
	to, ok := SubscriptionMove(from, action)
	if !ok {
		return StateChange{}, &TransitionError{Kind: ObjectSubscription, ID: s.ID, From: string(from), Action: action, Why: subWhy(from, action)}
	}
	if action != ActionExpire && action != ActionRevoke && s.StateAt(now) == SubExpired {
		return StateChange{}, &TransitionError{Kind: ObjectSubscription, ID: s.ID, From: string(from), Action: action,
			Why: "it expired at " + s.ExpiresAt.UTC().Format(time.RFC3339)}
	}
	s.State, s.UpdatedAt = to, now
	if reason != "" || to == SubApproved {
		s.Reason = reason
	}
	return StateChange{Kind: ObjectSubscription, ID: s.ID, From: string(from), To: string(to), Actor: actor, Reason: reason, At: now}, nil
}

func subWhy(from SubscriptionState, action string) string {
	switch {
	case from.Final():
		return string(from) + " is final; the app can subscribe again"
	case action == ActionApprove || action == ActionReject:
		return "only a pending subscription is approved or rejected"
	case action == ActionSuspend:
		return "only an approved subscription is suspended"
	case action == ActionResume:
		return "only a suspended subscription is resumed"
	case action == ActionExpire:
		return "it has no expiry to reach"
	}
	return "the state machine does not allow it"
}

// Approve approves a pending subscription with scopes, a subset of the
// scopes asked for; none means all of them.
func (s *Subscription) Approve(scopes []string, actor, reason string, now time.Time) (StateChange, error) {
	if len(scopes) == 0 {
		scopes = s.Scopes
	}
	for _, sc := range scopes {
		if !slices.Contains(s.Scopes, sc) {
			return StateChange{}, Errorf(CodeInvalid, "scope %q was not asked for; approve a subset of %v", sc, s.Scopes)
		}
	}
	c, err := s.move(ActionApprove, actor, reason, now)
	if err == nil {
		s.ApprovedScopes = dedupe(scopes)
	}
	return c, err
}

// Reject rejects a pending subscription. A reason is required: the app's
// developers read it.
func (s *Subscription) Reject(actor, reason string, now time.Time) (StateChange, error) {
	if reason == "" {
		return StateChange{}, Errorf(CodeInvalid, "a rejection needs a reason")
	}
	return s.move(ActionReject, actor, reason, now)
}

// Suspend stops an approved subscription from granting anything; the
// caller must also refuse the app's existing tokens for the API (a Cutoff).
func (s *Subscription) Suspend(actor, reason string, now time.Time) (StateChange, error) {
	return s.move(ActionSuspend, actor, reason, now)
}

// Resume approves a suspended subscription again with its approved scopes.
func (s *Subscription) Resume(actor, reason string, now time.Time) (StateChange, error) {
	return s.move(ActionResume, actor, reason, now)
}

// Revoke ends a subscription for good.
func (s *Subscription) Revoke(actor, reason string, now time.Time) (StateChange, error) {
	return s.move(ActionRevoke, actor, reason, now)
}

// Expire records that the subscription passed its expiry time; refused
// before then.
func (s *Subscription) Expire(actor string, now time.Time) (StateChange, error) {
	if s.ExpiresAt.IsZero() || now.Before(s.ExpiresAt) {
		return StateChange{}, &TransitionError{Kind: ObjectSubscription, ID: s.ID, From: string(s.State), Action: ActionExpire,
			Why: "its expiry time has not come"}
	}
	return s.move(ActionExpire, actor, "", now)
}

func dedupe(xs []string) []string {
	var out []string
	for _, x := range xs {
		if !slices.Contains(out, x) {
			out = append(out, x)
		}
	}
	return out
}
