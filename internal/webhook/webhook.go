// Package webhook delivers security alerts to HTTP endpoints: a JSON
// payload signed with HMAC-SHA256 over the timestamp and the body
// (SignatureHeader), retried with exponential backoff and jitter, from a
// bounded queue per endpoint, never following redirects.
package webhook

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Payload is the JSON body of a delivery. Fields hold ids and addresses,
// never a token or secret.
type Payload struct {
	// ID is unique per alert and the same on every retry: receivers
	// deduplicate on it.
	ID string `json:"id"`
	// Type is "anomaly.<kind>" for a rule hit, or a security event type
	// (refresh_token_reuse, idle_revoked...).
	Type      string    `json:"type"`
	At        time.Time `json:"at"`
	Rule      string    `json:"rule,omitempty"`
	Action    string    `json:"action,omitempty"` // alert or revoke
	Revoked   string    `json:"revoked,omitempty"`
	ClientID  string    `json:"client_id,omitempty"`
	Subject   string    `json:"subject,omitempty"`
	GrantID   string    `json:"grant_id,omitempty"`
	TokenID   string    `json:"token_id,omitempty"`
	APIKeyID  string    `json:"api_key_id,omitempty"`
	Address   string    `json:"address,omitempty"`
	Count     int       `json:"count,omitempty"`
	Threshold int       `json:"threshold,omitempty"`
	Window    string    `json:"window,omitempty"`
	Detail    string    `json:"detail,omitempty"`
}

// Endpoint is one configured receiver.
type Endpoint struct {
	Name   string
	URL    string
	Secret []byte // the HMAC key; never logged
	// Events are the payload types sent here: exact types, "prefix.*", or
	// "*". Empty means DefaultEvents.
	Events []string
	// Timeout bounds one attempt (connect to the end of the answer's
	// headers and body). Zero means DefaultTimeout.
	Timeout time.Duration
	// MaxAttempts is how many times a payload is tried before it is given
	// up (logged and counted). Zero means DefaultMaxAttempts.
	MaxAttempts int
}

// Defaults.
const (
	DefaultTimeout     = 5 * time.Second
	DefaultMaxAttempts = 6
	DefaultQueue       = 1024
	DefaultBaseDelay   = time.Second
	DefaultMaxDelay    = 5 * time.Minute
)

// DefaultEvents sends every anomaly alert and nothing else.
var DefaultEvents = []string{"anomaly.*"}

// Wants reports whether payloads of type typ go to e.
func (e *Endpoint) Wants(typ string) bool {
	evs := e.Events
	if len(evs) == 0 {
		evs = DefaultEvents
	}
	for _, p := range evs {
		if p == "*" || p == typ || (strings.HasSuffix(p, ".*") && strings.HasPrefix(typ, p[:len(p)-1])) {
			return true
		}
	}
	return false
}

// Options tune a Sender. Zero values mean the documented defaults.
type Options struct {
	Queue     int           // payloads waiting per endpoint; DefaultQueue
	BaseDelay time.Duration // first retry delay; doubles each attempt; DefaultBaseDelay
	MaxDelay  time.Duration // cap of a retry delay; DefaultMaxDelay
	// Transport sends the requests; nil means a fresh http.Transport that
	// does not use proxies from the environment.
	Transport http.RoundTripper
	Log       *slog.Logger
	Now       func() time.Time
}

// Sender delivers payloads to its endpoints, each from its own queue and
// goroutine so that one slow or dead receiver delays only itself.
type Sender struct {
	targets []*target
	opt     Options
	client  *http.Client
	stats   Stats
}

// Stats count deliveries since the Sender was made.
type Stats struct {
	Delivered atomic.Uint64
	Retried   atomic.Uint64 // attempts after the first
	GaveUp    atomic.Uint64 // payloads dropped after MaxAttempts
	Dropped   atomic.Uint64 // payloads refused because a queue was full
}

type target struct {
	Endpoint
	queue chan delivery
}

type delivery struct {
	id   string
	body []byte
}

// New returns a Sender for endpoints; Run delivers.
func New(endpoints []Endpoint, opt Options) *Sender {
	if opt.Queue <= 0 {
		opt.Queue = DefaultQueue
	}
	if opt.BaseDelay <= 0 {
		opt.BaseDelay = DefaultBaseDelay
	}
	if opt.MaxDelay <= 0 {
		opt.MaxDelay = DefaultMaxDelay
	}
	if opt.Log == nil {
		opt.Log = slog.Default()
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	rt := opt.Transport
	if rt == nil {
		rt = &http.Transport{MaxIdleConnsPerHost: 2, IdleConnTimeout: 90 * time.Second, TLSHandshakeTimeout: 10 * time.Second}
	}
	s := &Sender{opt: opt, client: &http.Client{
		Transport: rt,
		// A receiver that redirects is misconfigured or compromised: the
		// signed alert goes nowhere else.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
	for _, e := range endpoints {
		if e.Timeout <= 0 {
			e.Timeout = DefaultTimeout
		}
		if e.MaxAttempts <= 0 {
			e.MaxAttempts = DefaultMaxAttempts
		}
		s.targets = append(s.targets, &target{Endpoint: e, queue: make(chan delivery, opt.Queue)})
	}
	return s
}

// Stats returns the delivery counters.
func (s *Sender) Stats() *Stats { return &s.stats }

// Send queues p for every endpoint that wants its type, without blocking.
func (s *Sender) Send(p *Payload) {
	body, err := json.Marshal(p)
	if err != nil {
		s.opt.Log.Error("webhook payload", "type", p.Type, "err", err)
		return
	}
	for _, t := range s.targets {
		if !t.Wants(p.Type) {
			continue
		}
		select {
		case t.queue <- delivery{id: p.ID, body: body}:
		default:
			s.stats.Dropped.Add(1)
			s.opt.Log.Warn("webhook queue full; alert dropped", "webhook", t.Name, "id", p.ID, "type", p.Type)
		}
	}
}

// Run delivers until ctx ends; what is still queued then is not sent.
func (s *Sender) Run(ctx context.Context) {
	var wg sync.WaitGroup
	for _, t := range s.targets {
		wg.Go(func() {
			for {
				select {
				case <-ctx.Done():
					return
				case d := <-t.queue:
					s.deliver(ctx, t, d)
				}
			}
		})
	}
	wg.Wait()
}

// deliver tries d until it is accepted (2xx), MaxAttempts is reached or ctx
// ends.
func (s *Sender) deliver(ctx context.Context, t *target, d delivery) {
	var err error
	for attempt := 1; attempt <= t.MaxAttempts; attempt++ {
		if attempt > 1 {
			s.stats.Retried.Add(1)
			if !sleep(ctx, s.backoff(attempt-1)) {
				return
			}
		}
		var retry bool
		retry, err = s.post(ctx, t, d)
		if err == nil {
			s.stats.Delivered.Add(1)
			return
		}
		s.opt.Log.Warn("webhook attempt failed", "webhook", t.Name, "id", d.id, "attempt", attempt, "err", err)
		if !retry {
			break
		}
	}
	if ctx.Err() != nil {
		return
	}
	s.stats.GaveUp.Add(1)
	s.opt.Log.Error("webhook delivery given up", "webhook", t.Name, "id", d.id, "err", err)
}

// backoff is the delay before retry n (1, 2, ...): BaseDelay·2^(n-1) capped
// at MaxDelay, with full jitter in its upper half so that many alerts
// failing together do not retry in lockstep.
func (s *Sender) backoff(n int) time.Duration {
	d := s.opt.MaxDelay
	if n < 30 {
		d = min(s.opt.BaseDelay<<(n-1), s.opt.MaxDelay)
	}
	return d/2 + rand.N(d/2+1)
}

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// post makes one attempt. retry is false for answers that another attempt
// cannot change (4xx other than 408 and 429, redirects).
func (s *Sender) post(ctx context.Context, t *target, d delivery) (retry bool, err error) {
	ctx, cancel := context.WithTimeout(ctx, t.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, t.URL, bytes.NewReader(d.body))
	if err != nil {
		return false, fmt.Errorf("request: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "Gatehouse-Webhook/1")
	req.Header.Set("Gatehouse-Delivery", d.id)
	req.Header.Set(SignatureHeader, Sign(t.Secret, d.body, s.opt.Now()))
	resp, err := s.client.Do(req)
	if err != nil {
		// The URL is from the config (which refuses user info in it), so
		// the error may be logged; the secret is only in the signature.
		return true, err
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	switch {
	case resp.StatusCode >= 200 && resp.StatusCode < 300:
		return false, nil
	case resp.StatusCode == http.StatusRequestTimeout, resp.StatusCode == http.StatusTooManyRequests, resp.StatusCode >= 500:
		return true, fmt.Errorf("receiver answered %d", resp.StatusCode)
	case resp.StatusCode >= 300 && resp.StatusCode < 400:
		return false, fmt.Errorf("receiver answered %d (redirects are not followed)", resp.StatusCode)
	}
	return false, fmt.Errorf("receiver answered %d", resp.StatusCode)
}
