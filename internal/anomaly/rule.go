// Package anomaly watches how credentials are used and raises a Hit when use
// looks wrong: one token from too many networks, a revoked or long-expired
// token presented again, refresh-token reuse, a burst of 401/403 answers for
// one client, or a sudden rise in a client's request rate.
//
// The request path only hands an Observation to Engine.Observe, which never
// blocks: a full queue drops the observation and counts it. One goroutine
// (Engine.Run) applies the rules. Memory is bounded: each rule tracks at most
// Options.MaxKeys keys, and every window is a fixed ring of buckets.
package anomaly

import (
	"fmt"
	"net/netip"
	"time"
)

// Kind is what a rule watches.
type Kind string

const (
	// KindTokenNetworks fires when one token or API key is used from more
	// than Threshold distinct client networks (/24 IPv4, /64 IPv6) within
	// Window.
	KindTokenNetworks Kind = "token_networks"
	// KindTokenReplay fires when a revoked token, or one expired for longer
	// than Grace, is presented more than Threshold times within Window.
	KindTokenReplay Kind = "token_replay"
	// KindRefreshReuse fires when a client's rotated refresh tokens are
	// presented again (reuse, already answered by revoking the grant) more
	// than Threshold times within Window.
	KindRefreshReuse Kind = "refresh_reuse"
	// KindAuthFailures fires when one client (or, when no client is known,
	// one address) gets more than Threshold 401/403 answers within Window.
	KindAuthFailures Kind = "auth_failures"
	// KindRateSpike fires when a client's requests in the last Window
	// exceed both Threshold (a floor) and Factor times its baseline: the
	// average per window of its earlier traffic.
	KindRateSpike Kind = "rate_spike"
)

// Kinds lists every rule kind.
var Kinds = []Kind{KindTokenNetworks, KindTokenReplay, KindRefreshReuse, KindAuthFailures, KindRateSpike}

// Action is what a hit does besides alerting.
type Action string

const (
	ActionAlert  Action = "alert"  // a security event and the webhooks
	ActionRevoke Action = "revoke" // also revoke the credential (or its grant) at once
)

// Rule is one configured rule.
type Rule struct {
	Name      string // unique among the rules; used in events and payloads
	Kind      Kind
	Threshold int // the largest count still considered normal
	Window    time.Duration
	Factor    float64       // KindRateSpike only: multiple of the baseline
	Grace     time.Duration // KindTokenReplay only: expired tokens younger than this are normal
	Action    Action
}

// Limits of rule settings, checked by Validate (and by the config).
const (
	MinWindow       = time.Second
	MaxWindow       = 7 * 24 * time.Hour
	MaxThreshold    = 1_000_000
	MaxNetworks     = 64 // KindTokenNetworks tracks Threshold+1 networks per token
	DefaultFactor   = 5
	DefaultGrace    = 5 * time.Minute
	minSpikeHistory = 2 // windows of history before a client's rate is judged
)

// Revocable reports whether a rule of kind k may take ActionRevoke: only
// rules about one credential have something to revoke.
func (k Kind) Revocable() bool { return k == KindTokenNetworks || k == KindTokenReplay }

// Validate checks r and fills in defaults (Factor, Grace, Action).
func (r *Rule) Validate() error {
	known := false
	for _, k := range Kinds {
		known = known || k == r.Kind
	}
	switch {
	case !known:
		return fmt.Errorf("unknown rule kind %q", r.Kind)
	case r.Window < MinWindow || r.Window > MaxWindow:
		return fmt.Errorf("window must be between %s and %s", MinWindow, MaxWindow)
	case r.Threshold < 0 || r.Threshold > MaxThreshold:
		return fmt.Errorf("threshold must be between 0 and %d", MaxThreshold)
	case r.Kind == KindTokenNetworks && (r.Threshold < 1 || r.Threshold >= MaxNetworks):
		return fmt.Errorf("threshold of %s must be between 1 and %d networks", r.Kind, MaxNetworks-1)
	case r.Factor != 0 && r.Kind != KindRateSpike:
		return fmt.Errorf("factor applies only to %s", KindRateSpike)
	case r.Factor != 0 && (r.Factor < 1.5 || r.Factor > 1000):
		return fmt.Errorf("factor must be between 1.5 and 1000")
	case r.Grace != 0 && r.Kind != KindTokenReplay:
		return fmt.Errorf("grace applies only to %s", KindTokenReplay)
	case r.Grace < 0 || r.Grace > MaxWindow:
		return fmt.Errorf("grace must be between 0 and %s", MaxWindow)
	}
	switch r.Action {
	case "":
		r.Action = ActionAlert
	case ActionAlert:
	case ActionRevoke:
		if !r.Kind.Revocable() {
			return fmt.Errorf("action revoke applies only to %s and %s", KindTokenNetworks, KindTokenReplay)
		}
	default:
		return fmt.Errorf("unknown action %q", r.Action)
	}
	if r.Kind == KindRateSpike && r.Factor == 0 {
		r.Factor = DefaultFactor
	}
	if r.Kind == KindTokenReplay && r.Grace == 0 {
		r.Grace = DefaultGrace
	}
	if r.Name == "" {
		r.Name = string(r.Kind)
	}
	return nil
}

// Refusal says why a presented credential was refused, when that matters to
// the rules.
type Refusal uint8

const (
	RefusalNone    Refusal = iota
	RefusalRevoked         // revoked token or API key, or its grant revoked
	RefusalExpired         // past its exp; ExpiredAt says since when
	RefusalRotated         // a rotated refresh token presented again (reuse)
	RefusalOther           // refused for another reason (bad signature, unknown...)
)

// Observation is what the gateway (or the token endpoint) saw of one
// request. It holds ids, never a token or secret. It is passed by value, so
// observing allocates nothing.
type Observation struct {
	At           time.Time
	CredentialID string // jti of the token, or id of the API key; "" when none was readable
	APIKey       bool   // CredentialID is an API key
	GrantID      string
	ClientID     string
	Subject      string
	Addr         netip.Addr
	Status       int // the HTTP status answered; 0 when not an HTTP answer
	Refusal      Refusal
	ExpiredAt    time.Time // RefusalExpired: the credential's exp
	ExpiresAt    time.Time // when the credential expires (for revocation), zero if unknown
	// External: the credential was issued by another party (a configured
	// external issuer); Gatehouse cannot revoke it.
	External bool
}

// Hit is one rule firing.
type Hit struct {
	Rule         string
	Kind         Kind
	Action       Action
	At           time.Time
	Key          string // what the rule counted by: a credential id, client id or address
	ClientID     string
	Subject      string
	CredentialID string
	APIKey       bool
	GrantID      string
	ExpiresAt    time.Time
	Addr         netip.Addr
	External     bool    // the credential was issued by another party
	Refusal      Refusal // of the observation that fired the rule
	Count        int     // the count that exceeded the threshold
	Threshold    int
	Window       time.Duration
}

// Detail is a one-line description for logs and events. It holds ids only.
func (h *Hit) Detail() string {
	s := fmt.Sprintf("rule %s (%s): %d > %d within %s", h.Rule, h.Kind, h.Count, h.Threshold, h.Window)
	if h.CredentialID != "" {
		what := "token"
		if h.APIKey {
			what = "api key"
		}
		s += "; " + what + " " + h.CredentialID
	}
	if h.Addr.IsValid() {
		s += "; last address " + h.Addr.String()
	}
	return s
}
