package app

import (
	"bufio"
	"context"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/internal/anomaly"
	"github.com/gatehouse/gatehouse/internal/config"
	"github.com/gatehouse/gatehouse/internal/edge"
	"github.com/gatehouse/gatehouse/internal/proxy"
	"github.com/gatehouse/gatehouse/internal/token"
	"github.com/gatehouse/gatehouse/internal/tracing"
	"github.com/gatehouse/gatehouse/internal/webhook"
)

// alerting is the node's traffic watching: anomaly rules over what the
// public listener answers, alerts to webhooks, and tracing. Each part is
// nil when the config does not ask for it; with none, wrap adds nothing
// to the request path.
type alerting struct {
	engine *anomaly.Engine
	hooks  *webhook.Sender
	tracer *tracing.Tracer
	events eventRecorder
	revoke func(ctx context.Context, tokenID, grantID string) error
	// issuer is the node's own issuer: a token whose iss differs was issued
	// by an external identity provider, which alone can revoke it.
	issuer string
	log    *slog.Logger
	now    func() time.Time
	hits   *prometheus.CounterVec
}

type eventRecorder interface {
	RecordEvent(ctx context.Context, e *gatehouse.SecurityEvent) error
}

// newAlerting builds what cfg asks for. revoke is set later (the OAuth server
// owns revocation and is built after).
func newAlerting(ctx context.Context, cfg *config.Config, events eventRecorder, reg prometheus.Registerer, log *slog.Logger, now func() time.Time) (*alerting, error) {
	w := &alerting{events: events, log: log, now: now}
	if len(cfg.Anomaly.Rules) > 0 {
		e, err := anomaly.New(cfg.Anomaly.Rules, anomaly.Options{MaxKeys: cfg.Anomaly.MaxKeys, Queue: cfg.Anomaly.Queue, OnHit: w.onHit})
		if err != nil {
			return nil, err
		}
		w.engine = e
		w.hits = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "gatehouse_anomaly_alerts_total",
			Help: "Anomaly rule hits, by rule."}, []string{"rule"})
		st := func(f func(anomaly.Stats) uint64) func() float64 {
			return func() float64 { return float64(f(e.Stats())) }
		}
		reg.MustRegister(w.hits,
			prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "gatehouse_anomaly_observations_total", Help: "Requests the anomaly rules looked at."}, st(func(s anomaly.Stats) uint64 { return s.Observed })),
			prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "gatehouse_anomaly_observations_dropped_total", Help: "Observations dropped because the anomaly queue was full."}, st(func(s anomaly.Stats) uint64 { return s.Dropped })),
			prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "gatehouse_anomaly_keys_evicted_total", Help: "Tracked keys dropped to stay within anomaly.max_keys."}, st(func(s anomaly.Stats) uint64 { return s.Evicted })),
		)
	}
	if len(cfg.Webhooks) > 0 {
		eps := make([]webhook.Endpoint, len(cfg.Webhooks))
		for i, h := range cfg.Webhooks {
			eps[i] = webhook.Endpoint{Name: h.Name, URL: h.URL, Secret: h.Secret, Events: h.Events, Timeout: h.Timeout, MaxAttempts: h.MaxAttempts}
		}
		// Signatures carry the wall clock: receivers compare it with theirs.
		w.hooks = webhook.New(eps, webhook.Options{Log: log})
		st := w.hooks.Stats()
		reg.MustRegister(
			prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "gatehouse_webhook_delivered_total", Help: "Alerts a webhook receiver accepted."}, func() float64 { return float64(st.Delivered.Load()) }),
			prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "gatehouse_webhook_retries_total", Help: "Webhook attempts after the first."}, func() float64 { return float64(st.Retried.Load()) }),
			prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "gatehouse_webhook_failed_total", Help: "Alerts given up after the last attempt."}, func() float64 { return float64(st.GaveUp.Load()) }),
			prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "gatehouse_webhook_dropped_total", Help: "Alerts dropped because a webhook queue was full."}, func() float64 { return float64(st.Dropped.Load()) }),
		)
	}
	if cfg.Tracing.OTLPEndpoint != "" {
		t, err := tracing.New(ctx, tracing.Config{Endpoint: cfg.Tracing.OTLPEndpoint, ServiceName: cfg.Tracing.ServiceName, SampleRatio: cfg.Tracing.SampleRatio})
		if err != nil {
			return nil, err
		}
		w.tracer = t
	}
	return w, nil
}

// start runs the engine and the webhook sender until ctx ends.
func (w *alerting) start(ctx context.Context, wg *sync.WaitGroup) {
	if w.engine != nil {
		wg.Go(func() { w.engine.Run(ctx) })
	}
	if w.hooks != nil {
		wg.Go(func() { w.hooks.Run(ctx) })
	}
}

// shutdown exports the spans still buffered.
func (w *alerting) shutdown(ctx context.Context) error {
	if w.tracer != nil {
		return w.tracer.Shutdown(ctx)
	}
	return nil
}

// onHit runs on the engine's goroutine for every rule hit: revoke when the
// rule says so, record a security event, log, and alert the webhooks.
//
// Two hits are never revoked, whatever the rule's action: a token of an
// external issuer (Gatehouse's revocations do not apply to it, and its jti
// is the issuer's, not ours), and an expired token replayed (anyone holding
// an old token from a log could otherwise end a live grant). Both are sent
// as action "alert" with the reason in the detail.
func (w *alerting) onHit(ctx context.Context, h anomaly.Hit) {
	w.hits.WithLabelValues(h.Rule).Inc()
	action, kept := h.Action, ""
	if action == anomaly.ActionRevoke {
		switch {
		case h.External:
			kept = "external token: revoke it at its issuer"
		case h.Kind == anomaly.KindTokenReplay && h.Refusal != anomaly.RefusalRevoked:
			kept = "expired token: alert only"
		}
		if kept != "" {
			action = anomaly.ActionAlert
		}
	}
	revoked := ""
	if action == anomaly.ActionRevoke && w.revoke != nil {
		what, tokenID, grantID := "token "+h.CredentialID, h.CredentialID, h.GrantID
		if h.APIKey {
			what = "api key " + h.CredentialID
		}
		if grantID != "" {
			// A stolen access token means its refresh token may be too:
			// the whole family goes.
			what, tokenID = "grant "+grantID, ""
		}
		if tokenID == "" && grantID == "" {
			w.log.Error("anomaly: nothing to revoke", "rule", h.Rule)
		} else if err := w.revoke(ctx, tokenID, grantID); err != nil {
			w.log.Error("anomaly: revoke", "rule", h.Rule, "err", err)
		} else {
			revoked = what
		}
	}
	detail := h.Detail()
	if revoked != "" {
		detail += "; revoked " + revoked
	}
	if kept != "" {
		detail += "; not revoked (" + kept + ")"
	}
	ev := &gatehouse.SecurityEvent{ID: token.NewID(), Type: gatehouse.EventAnomalyPrefix + string(h.Kind),
		ClientID: h.ClientID, Subject: h.Subject, GrantID: h.GrantID, Detail: detail, At: h.At}
	if err := w.events.RecordEvent(ctx, ev); err != nil {
		w.log.Error("record security event", "type", ev.Type, "err", err)
	}
	w.log.Warn("anomaly detected", "rule", h.Rule, "kind", string(h.Kind), "client_id", h.ClientID,
		"credential_id", h.CredentialID, "grant_id", h.GrantID, "count", h.Count, "revoked", revoked)
	if w.hooks != nil {
		p := &webhook.Payload{ID: ev.ID, Type: ev.Type, At: h.At, Rule: h.Rule, Action: string(action), Revoked: revoked,
			ClientID: h.ClientID, Subject: h.Subject, GrantID: h.GrantID, Count: h.Count, Threshold: h.Threshold,
			Window: h.Window.String(), Detail: detail}
		if h.APIKey {
			p.APIKeyID = h.CredentialID
		} else {
			p.TokenID = h.CredentialID
		}
		if h.Addr.IsValid() {
			p.Address = h.Addr.String()
		}
		w.hooks.Send(p)
	}
}

// eventsTo wraps the store's RecordEvent for the OAuth server: every
// security event is also offered to the webhooks (which send the types
// they list) and refresh-token reuse feeds its anomaly rule.
func (w *alerting) eventsTo(store eventRecorder) eventRecorder {
	if w.engine == nil && w.hooks == nil {
		return store
	}
	return watchedEvents{store: store, w: w}
}

type watchedEvents struct {
	store eventRecorder
	w     *alerting
}

func (e watchedEvents) RecordEvent(ctx context.Context, ev *gatehouse.SecurityEvent) error {
	err := e.store.RecordEvent(ctx, ev)
	if ev.Type == gatehouse.EventRefreshReuse && e.w.engine != nil {
		e.w.engine.Observe(anomaly.Observation{At: ev.At, ClientID: ev.ClientID, Subject: ev.Subject, GrantID: ev.GrantID, Refusal: anomaly.RefusalRotated})
	}
	if e.w.hooks != nil {
		e.w.hooks.Send(&webhook.Payload{ID: ev.ID, Type: ev.Type, At: ev.At, ClientID: ev.ClientID, Subject: ev.Subject, GrantID: ev.GrantID, Detail: ev.Detail})
	}
	return err
}

// RevokedTokenPresented implements oauth.RefusalWatcher: a revoked refresh
// token at the token endpoint is a replay like a revoked access token at
// the gateway.
func (w *alerting) RevokedTokenPresented(_ context.Context, t *gatehouse.Token) {
	if w.engine != nil {
		w.engine.Observe(anomaly.Observation{At: w.now(), CredentialID: t.ID, ClientID: t.ClientID, Subject: t.Subject,
			GrantID: t.GrantID, Status: http.StatusBadRequest, Refusal: anomaly.RefusalRevoked, ExpiresAt: t.ExpiresAt})
	}
}

// note is what one request through the public listener taught the watch.
type note struct {
	out  edge.Outcome
	addr netip.Addr
	sw   statusWriter // one allocation for the whole note
}

type noteKey struct{}

// wrap watches every request of h (the public listener): a span when
// tracing is on, and an observation for the anomaly rules after the answer.
// With neither configured it returns h itself.
func (w *alerting) wrap(h http.Handler) http.Handler {
	if !w.watching() {
		return h
	}
	return http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		n := &note{sw: statusWriter{ResponseWriter: rw}}
		sw := &n.sw
		ctx := edge.WithOutcome(context.WithValue(r.Context(), noteKey{}, n), &n.out)
		var sp *requestSpan
		if w.tracer != nil {
			ctx, sp = w.startSpan(ctx, r)
		}
		// Deferred: the reverse proxy aborts a broken stream with a panic
		// (http.ErrAbortHandler), and that request is observed too.
		defer func() {
			status := sw.status
			if status == 0 {
				status = http.StatusOK
			}
			if sp != nil {
				sp.end(status)
			}
			if w.engine != nil {
				if !n.addr.IsValid() {
					n.addr = peerOf(r.RemoteAddr)
				}
				w.engine.Observe(observation(w.now(), n, status, w.issuer))
			}
		}()
		h.ServeHTTP(sw, r.WithContext(ctx))
	})
}

// watching reports whether requests are watched at all.
func (w *alerting) watching() bool { return w != nil && (w.engine != nil || w.tracer != nil) }

// observation turns what a request taught into what the rules read;
// issuer is the node's own, to tell external tokens apart.
func observation(at time.Time, n *note, status int, issuer string) anomaly.Observation {
	o := anomaly.Observation{At: at, Addr: n.addr, Status: status, APIKey: n.out.APIKey}
	if c := n.out.Claims; c != nil {
		o.CredentialID, o.ClientID, o.Subject, o.GrantID, o.ExpiresAt = c.ID, c.ClientID, c.Subject, c.GrantID, c.ExpiresAt
		o.External = !o.APIKey && c.Issuer != issuer
	}
	switch n.out.Refusal {
	case "":
	case token.ReasonRevoked:
		o.Refusal = anomaly.RefusalRevoked
	case token.ReasonExpired:
		o.Refusal, o.ExpiredAt = anomaly.RefusalExpired, o.ExpiresAt
	default:
		o.Refusal = anomaly.RefusalOther
	}
	return o
}

// routed is the gateway's first middleware: it copies what the router
// found (the client address behind trusted proxies, the API and route) to
// the request's note and span.
func (w *alerting) routed(next http.Handler) http.Handler {
	return http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		if n, ok := ctx.Value(noteKey{}).(*note); ok {
			if pr, ok := proxy.RequestFrom(ctx); ok {
				n.addr = pr.ClientAddr
				if w.tracer != nil {
					spanRoute(ctx, r.Method, pr.Match.API.Name, pr.Match.Key)
				}
			}
		}
		next.ServeHTTP(rw, r)
	})
}

// upstreamHeaders adds the trace context to a request going upstream.
func (w *alerting) upstreamHeaders(r *http.Request, out http.Header) {
	if w != nil && w.tracer != nil {
		w.tracer.Inject(r.Context(), out)
	}
}

func peerOf(remote string) netip.Addr {
	ap, err := netip.ParseAddrPort(remote)
	if err != nil {
		return netip.Addr{}
	}
	return ap.Addr().Unmap()
}

// statusWriter remembers the status of the answer. Unwrap lets
// http.ResponseController reach Flush and Hijack (streams, WebSockets).
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (s *statusWriter) WriteHeader(code int) {
	if s.status == 0 || s.status < 200 {
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusWriter) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	return s.ResponseWriter.Write(b)
}

func (s *statusWriter) Unwrap() http.ResponseWriter { return s.ResponseWriter }

func (s *statusWriter) Flush() {
	_ = http.NewResponseController(s.ResponseWriter).Flush()
}

func (s *statusWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	return http.NewResponseController(s.ResponseWriter).Hijack()
}
