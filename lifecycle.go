package gatehouse

import "time"

// apiMoves lists the lifecycle moves an API may make. Every other move is
// refused with a *TransitionError; retired is final.
//
//	draft      -> published
//	published  -> deprecated (with a sunset date)
//	deprecated -> published  (the deprecation is withdrawn)
//	deprecated -> retired
var apiMoves = map[Lifecycle][]Lifecycle{
	LifecycleDraft:      {LifecyclePublished},
	LifecyclePublished:  {LifecycleDeprecated},
	LifecycleDeprecated: {LifecyclePublished, LifecycleRetired},
}

// lifecycleOf treats the empty lifecycle of older APIs as published, which
// is how the gateway serves them.
func lifecycleOf(l Lifecycle) Lifecycle {
	if l == "" {
		return LifecyclePublished
	}
	return l
}

// CanMoveLifecycle reports whether an API may go from one lifecycle state
// to another.
func CanMoveLifecycle(from, to Lifecycle) bool {
	for _, x := range apiMoves[lifecycleOf(from)] {
		if x == to {
			return true
		}
	}
	return false
}

// SetLifecycle moves the API to state to, recording who did it and why.
// Deprecating needs a sunset after now; other moves clear the sunset date.
// A refused move leaves the API unchanged and returns a *TransitionError
// (CodeConflict); a bad sunset date is CodeInvalid.
func (a *API) SetLifecycle(to Lifecycle, sunset time.Time, actor, reason string, now time.Time) (StateChange, error) {
	from := lifecycleOf(a.Lifecycle)
	refuse := func(why string) (StateChange, error) {
		return StateChange{}, &TransitionError{Kind: ObjectAPI, ID: a.Name, From: string(from), Action: lifecycleAction(to), Why: why}
	}
	switch {
	case to != LifecycleDraft && to != LifecyclePublished && to != LifecycleDeprecated && to != LifecycleRetired:
		return StateChange{}, Errorf(CodeInvalid, "unknown lifecycle state %q; expected draft, published, deprecated or retired", to)
	case from == LifecycleRetired:
		return refuse("retired is final; publish a new version instead")
	case from == to:
		return refuse("it already is " + string(to))
	case to == LifecycleDraft:
		return refuse("an API never goes back to draft")
	case from == LifecycleDraft && to == LifecycleRetired:
		return refuse("a draft was never published; delete it instead")
	case !CanMoveLifecycle(from, to) && to == LifecycleRetired:
		return refuse("deprecate it first, with a sunset date, so its users are warned")
	case !CanMoveLifecycle(from, to):
		return refuse("only a published API can be deprecated")
	}
	if to == LifecycleDeprecated {
		if sunset.IsZero() {
			return StateChange{}, Errorf(CodeInvalid, "deprecating an API needs a sunset date")
		}
		if !sunset.After(now) {
			return StateChange{}, Errorf(CodeInvalid, "the sunset date must be in the future")
		}
		a.SunsetAt = sunset
	} else {
		a.SunsetAt = time.Time{}
	}
	a.Lifecycle = to
	a.UpdatedAt = now
	return StateChange{Kind: ObjectAPI, ID: a.Name, From: string(from), To: string(to), Actor: actor, Reason: reason, At: now}, nil
}

func lifecycleAction(to Lifecycle) string {
	switch to {
	case LifecyclePublished:
		return "publish"
	case LifecycleDeprecated:
		return "deprecate"
	case LifecycleRetired:
		return "retire"
	case LifecycleDraft:
		return "return to draft"
	}
	return "move to " + string(to)
}
