package gatehouse

import (
	"errors"
	"slices"
	"testing"
	"time"
)

var tNow = time.Date(2031, 3, 4, 5, 6, 7, 0, time.UTC)

// TestSubscriptionTransitions tries every action from every state: the
// allowed ones land in the right state and record a step, the refused ones
// return a *TransitionError with CodeConflict and change nothing.
func TestSubscriptionTransitions(t *testing.T) {
	allowed := map[SubscriptionState]map[string]SubscriptionState{
		SubPending:   {ActionApprove: SubApproved, ActionReject: SubRejected, ActionRevoke: SubRevoked, ActionExpire: SubExpired},
		SubApproved:  {ActionSuspend: SubSuspended, ActionRevoke: SubRevoked, ActionExpire: SubExpired},
		SubSuspended: {ActionResume: SubApproved, ActionRevoke: SubRevoked, ActionExpire: SubExpired},
		SubRejected:  {},
		SubRevoked:   {},
		SubExpired:   {},
	}
	actions := []string{ActionApprove, ActionReject, ActionSuspend, ActionResume, ActionRevoke, ActionExpire}
	for _, from := range SubscriptionStates {
		for _, action := range actions {
			want, ok := allowed[from][action]
			name := string(from) + "/" + action
			t.Run(name, func(t *testing.T) {
				s := &Subscription{ID: "sub1", ClientID: "app", API: "orders", Scopes: []string{"read", "write"},
					ApprovedScopes: []string{"read"}, State: from, Revision: 3}
				now := tNow
				if action == ActionExpire {
					s.ExpiresAt = tNow.Add(-time.Second) // due
				}
				var c StateChange
				var err error
				switch action {
				case ActionApprove:
					c, err = s.Approve([]string{"read"}, "alice", "", now)
				case ActionReject:
					c, err = s.Reject("alice", "no such project", now)
				case ActionSuspend:
					c, err = s.Suspend("alice", "abuse", now)
				case ActionResume:
					c, err = s.Resume("alice", "", now)
				case ActionRevoke:
					c, err = s.Revoke("alice", "contract ended", now)
				case ActionExpire:
					c, err = s.Expire("system", now)
				}
				if !ok {
					var te *TransitionError
					if !errors.As(err, &te) {
						t.Fatalf("%s from %s: error %v, want a *TransitionError", action, from, err)
					}
					if ErrorCode(err) != CodeConflict || te.Action != action || te.From != string(from) || te.Why == "" {
						t.Errorf("error %+v (code %s): want conflict naming %s from %s with a reason", te, ErrorCode(err), action, from)
					}
					if s.State != from {
						t.Errorf("state changed to %s by a refused move", s.State)
					}
					if _, ok := SubscriptionMove(from, action); ok {
						t.Errorf("SubscriptionMove allows %s from %s", action, from)
					}
					return
				}
				if err != nil {
					t.Fatalf("%s from %s: %v", action, from, err)
				}
				if s.State != want {
					t.Errorf("state %s, want %s", s.State, want)
				}
				wantChange := StateChange{Kind: ObjectSubscription, ID: "sub1", From: string(from), To: string(want), Actor: c.Actor, Reason: c.Reason, At: now}
				if c != wantChange || c.Actor == "" {
					t.Errorf("change %+v, want %+v", c, wantChange)
				}
				if to, ok := SubscriptionMove(from, action); !ok || to != want {
					t.Errorf("SubscriptionMove(%s, %s) = %s, %v", from, action, to, ok)
				}
			})
		}
	}
}

func TestSubscriptionRules(t *testing.T) {
	manual := &API{Name: "orders", Scopes: []string{"read", "write"}, Approval: ApprovalManual, Lifecycle: LifecyclePublished}
	auto := &API{Name: "stock", Scopes: []string{"read", "write"}}

	t.Run("ManualStartsPending", func(t *testing.T) {
		s, c, err := NewSubscription("s1", "app", manual, []string{"read", "write"}, time.Time{}, "dev", tNow)
		if err != nil {
			t.Fatal(err)
		}
		if s.State != SubPending || len(s.ApprovedScopes) != 0 || c.To != string(SubPending) || c.From != "" {
			t.Errorf("got %+v, change %+v", s, c)
		}
		if s.Active(tNow) {
			t.Error("a pending subscription is active")
		}
	})
	t.Run("AutoApprovedWithAllAsked", func(t *testing.T) {
		s, _, err := NewSubscription("s1", "app", auto, nil, time.Time{}, "dev", tNow)
		if err != nil {
			t.Fatal(err)
		}
		if s.State != SubApproved || !slices.Equal(s.ApprovedScopes, []string{"read", "write"}) || !s.Active(tNow) {
			t.Errorf("got %+v", s)
		}
	})
	t.Run("ApproveFewerScopes", func(t *testing.T) {
		s, _, _ := NewSubscription("s1", "app", manual, []string{"read", "write"}, time.Time{}, "dev", tNow)
		if _, err := s.Approve([]string{"read"}, "admin", "", tNow); err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(s.ApprovedScopes, []string{"read"}) {
			t.Errorf("approved %v", s.ApprovedScopes)
		}
	})
	t.Run("ApproveScopeNotAsked", func(t *testing.T) {
		s, _, _ := NewSubscription("s1", "app", manual, []string{"read"}, time.Time{}, "dev", tNow)
		_, err := s.Approve([]string{"write"}, "admin", "", tNow)
		if ErrorCode(err) != CodeInvalid || s.State != SubPending {
			t.Errorf("err %v, state %s", err, s.State)
		}
	})
	t.Run("RejectNeedsReason", func(t *testing.T) {
		s, _, _ := NewSubscription("s1", "app", manual, nil, time.Time{}, "dev", tNow)
		if _, err := s.Reject("admin", "", tNow); ErrorCode(err) != CodeInvalid {
			t.Errorf("err %v", err)
		}
	})
	t.Run("UnknownScope", func(t *testing.T) {
		_, _, err := NewSubscription("s1", "app", auto, []string{"admin"}, time.Time{}, "dev", tNow)
		if ErrorCode(err) != CodeInvalid {
			t.Errorf("err %v", err)
		}
	})
	for _, lc := range []Lifecycle{LifecycleDraft, LifecycleDeprecated, LifecycleRetired} {
		t.Run("NoSubscriptionTo"+string(lc), func(t *testing.T) {
			api := *auto
			api.Lifecycle = lc
			if _, _, err := NewSubscription("s1", "app", &api, nil, time.Time{}, "dev", tNow); ErrorCode(err) != CodeConflict {
				t.Errorf("err %v", err)
			}
		})
	}
	t.Run("ExpiryInThePast", func(t *testing.T) {
		if _, _, err := NewSubscription("s1", "app", auto, nil, tNow, "dev", tNow); ErrorCode(err) != CodeInvalid {
			t.Errorf("err %v", err)
		}
	})
	t.Run("ExpiresAtItsTime", func(t *testing.T) {
		s, _, _ := NewSubscription("s1", "app", auto, nil, tNow.Add(time.Hour), "dev", tNow)
		if !s.Active(tNow.Add(time.Hour-1)) || s.Active(tNow.Add(time.Hour)) {
			t.Error("active outside its time")
		}
		if s.StateAt(tNow.Add(time.Hour)) != SubExpired {
			t.Errorf("state at expiry %s", s.StateAt(tNow.Add(time.Hour)))
		}
		if _, err := s.Expire("system", tNow); ErrorCode(err) != CodeConflict {
			t.Errorf("expire early: %v", err)
		}
	})
	t.Run("NoResumeAfterExpiry", func(t *testing.T) {
		s, _, _ := NewSubscription("s1", "app", auto, nil, tNow.Add(time.Hour), "dev", tNow)
		if _, err := s.Suspend("admin", "", tNow); err != nil {
			t.Fatal(err)
		}
		var te *TransitionError
		if _, err := s.Resume("admin", "", tNow.Add(2*time.Hour)); !errors.As(err, &te) || s.State != SubSuspended {
			t.Errorf("err %v, state %s", err, s.State)
		}
	})
}

// TestAPILifecycle tries every move between lifecycle states.
func TestAPILifecycle(t *testing.T) {
	states := []Lifecycle{LifecycleDraft, LifecyclePublished, LifecycleDeprecated, LifecycleRetired}
	allowed := map[[2]Lifecycle]bool{
		{LifecycleDraft, LifecyclePublished}:      true,
		{LifecyclePublished, LifecycleDeprecated}: true,
		{LifecycleDeprecated, LifecyclePublished}: true,
		{LifecycleDeprecated, LifecycleRetired}:   true,
	}
	sunset := tNow.Add(90 * 24 * time.Hour)
	for _, from := range states {
		for _, to := range states {
			t.Run(string(from)+"/"+string(to), func(t *testing.T) {
				api := &API{Name: "orders-v1", Lifecycle: from}
				if from == LifecycleDeprecated {
					api.SunsetAt = sunset
				}
				c, err := api.SetLifecycle(to, sunset, "alice", "why not", tNow)
				if !allowed[[2]Lifecycle{from, to}] {
					var te *TransitionError
					if !errors.As(err, &te) || ErrorCode(err) != CodeConflict || te.Why == "" {
						t.Fatalf("error %v, want a *TransitionError with a reason", err)
					}
					if api.Lifecycle != from {
						t.Errorf("lifecycle changed to %s by a refused move", api.Lifecycle)
					}
					return
				}
				if err != nil {
					t.Fatal(err)
				}
				want := StateChange{Kind: ObjectAPI, ID: "orders-v1", From: string(from), To: string(to), Actor: "alice", Reason: "why not", At: tNow}
				if c != want || api.Lifecycle != to {
					t.Errorf("change %+v, lifecycle %s", c, api.Lifecycle)
				}
				if (to == LifecycleDeprecated) != !api.SunsetAt.IsZero() {
					t.Errorf("sunset %v after moving to %s", api.SunsetAt, to)
				}
			})
		}
	}
	t.Run("PublishRetiredMessage", func(t *testing.T) {
		api := &API{Name: "orders-v1", Lifecycle: LifecycleRetired}
		_, err := api.SetLifecycle(LifecyclePublished, time.Time{}, "alice", "", tNow)
		if got, want := ErrorMessage(err), "api orders-v1: cannot publish while retired: retired is final; publish a new version instead"; got != want {
			t.Errorf("message %q, want %q", got, want)
		}
	})
	t.Run("DeprecateNeedsFutureSunset", func(t *testing.T) {
		for _, s := range []time.Time{{}, tNow, tNow.Add(-time.Hour)} {
			api := &API{Name: "orders-v1", Lifecycle: LifecyclePublished}
			if _, err := api.SetLifecycle(LifecycleDeprecated, s, "alice", "", tNow); ErrorCode(err) != CodeInvalid || api.Lifecycle != LifecyclePublished {
				t.Errorf("sunset %v: err %v", s, err)
			}
		}
	})
	t.Run("EmptyIsPublished", func(t *testing.T) {
		api := &API{Name: "old"}
		if _, err := api.SetLifecycle(LifecycleDeprecated, tNow.Add(time.Hour), "config", "", tNow); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("UnknownState", func(t *testing.T) {
		api := &API{Name: "x", Lifecycle: LifecycleDraft}
		if _, err := api.SetLifecycle("gone", time.Time{}, "a", "", tNow); ErrorCode(err) != CodeInvalid {
			t.Errorf("err %v", err)
		}
	})
}

func TestCredentialRevoke(t *testing.T) {
	c := &Credential{ID: "c1", ClientID: "app", Kind: CredentialSecret, ExpiresAt: tNow.Add(time.Hour)}
	if !c.Active(tNow) || c.Active(tNow.Add(time.Hour)) {
		t.Error("active outside its time")
	}
	ch, err := c.Revoke("alice", "leaked", tNow)
	if err != nil || ch.To != "revoked" || c.Active(tNow) {
		t.Fatalf("revoke: %v %+v", err, ch)
	}
	var te *TransitionError
	if _, err := c.Revoke("alice", "", tNow); !errors.As(err, &te) {
		t.Errorf("second revoke: %v", err)
	}
}

func TestMaySeeApp(t *testing.T) {
	app := &Client{ID: "a", Team: "blue"}
	for _, tc := range []struct {
		u    User
		want bool
	}{
		{User{Role: RoleOwner}, true},
		{User{Role: RoleAdmin}, true},
		{User{Role: RoleAuditor}, true},
		{User{Role: RoleDeveloper, Team: "blue"}, true},
		{User{Role: RoleDeveloper, Team: "red"}, false},
		{User{Role: RoleDeveloper}, false},
		{User{}, false},
	} {
		if got := tc.u.MaySeeApp(app); got != tc.want {
			t.Errorf("%+v: %v, want %v", tc.u, got, tc.want)
		}
	}
}

func TestRevisionError(t *testing.T) {
	err := error(&RevisionError{Kind: "api", ID: "orders", Expected: 2, Actual: 3})
	if ErrorCode(err) != CodeStale {
		t.Errorf("code %s", ErrorCode(err))
	}
}
