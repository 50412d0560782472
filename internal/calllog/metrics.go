package calllog

import (
	"maps"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/gatehouse/gatehouse"
	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the gateway's Prometheus metrics. Labels are bounded: the
// API's name, the route's pattern (never the raw path), the status code and
// short reason codes.
type Metrics struct {
	requests    *prometheus.CounterVec
	total       *prometheus.HistogramVec
	upstream    *prometheus.HistogramVec
	refusals    *prometheus.CounterVec
	rateLimited *prometheus.CounterVec
	validations *prometheus.CounterVec

	// Handles of the series seen so far: WithLabelValues hashes and checks
	// every label on each call, which the request path need not repeat.
	// They hold no more entries than the metrics have series.
	requestsBy    handles[requestLabels, prometheus.Counter]
	totalBy       handles[string, prometheus.Observer]
	upstreamBy    handles[string, prometheus.Observer]
	validationsBy handles[[3]string, prometheus.Counter]
}

type requestLabels struct {
	api, route string
	status     int
}

// handles caches metric handles by label values: a map read without a
// lock (and without boxing the key, as sync.Map would), copied on the rare
// insert of a new series.
type handles[K comparable, V any] struct {
	mu sync.Mutex
	m  atomic.Pointer[map[K]V]
}

func (h *handles[K, V]) get(k K, make func() V) V {
	if m := h.m.Load(); m != nil {
		if v, ok := (*m)[k]; ok {
			return v
		}
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	var old map[K]V
	if m := h.m.Load(); m != nil {
		old = *m
	}
	if v, ok := old[k]; ok {
		return v
	}
	next := maps.Clone(old)
	if next == nil {
		next = map[K]V{}
	}
	v := make()
	next[k] = v
	h.m.Store(&next)
	return v
}

// latencyBuckets span 0.5 ms to 30 s.
var latencyBuckets = []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30}

// NewMetrics creates the gateway metrics and registers them with reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gatehouse_gateway_requests_total",
			Help: "Requests through the gateway by API, route pattern and status code (api and route empty when no route matched).",
		}, []string{"api", "route", "code"}),
		total: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "gatehouse_gateway_request_duration_seconds",
			Help:    "Time from a request's arrival to the end of its answer, by API.",
			Buckets: latencyBuckets,
		}, []string{"api"}),
		upstream: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "gatehouse_gateway_upstream_duration_seconds",
			Help:    "Time from sending a request upstream to the upstream's response headers, by API.",
			Buckets: latencyBuckets,
		}, []string{"api"}),
		refusals: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gatehouse_gateway_refusals_total",
			Help: "Requests the gateway answered itself, by API and reason code (not_found, invalid_token, insufficient_scope, forbidden, rate_limited, bad_gateway...).",
		}, []string{"api", "reason"}),
		rateLimited: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gatehouse_gateway_rate_limited_total",
			Help: "Requests refused by a rate limit (rate_limited) or a quota (quota_exceeded), by API.",
		}, []string{"api", "reason"}),
		validations: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gatehouse_gateway_token_validations_total",
			Help: "Credential checks at the gateway by API, credential (bearer, api_key) and outcome (valid, missing, malformed, or the refusal reason: expired, revoked, bad_signature...).",
		}, []string{"api", "credential", "outcome"}),
	}
	reg.MustRegister(m.requests, m.total, m.upstream, m.refusals, m.rateLimited, m.validations)
	return m
}

// RegisterLog exports l's queue depth and counters.
func RegisterLog(reg prometheus.Registerer, l *Log) {
	counter := func(name, help string, f func() uint64) prometheus.Collector {
		return prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help}, func() float64 { return float64(f()) })
	}
	reg.MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "gatehouse_calllog_queue_depth", Help: "Calls waiting in memory to be written."},
			func() float64 { return float64(len(l.queue)) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "gatehouse_calllog_spill_bytes", Help: "Bytes of spilled calls on disk waiting to be replayed."},
			func() float64 { return float64(l.spill.bytes()) }),
		counter("gatehouse_calllog_written_total", "Calls inserted into the store (replayed ones included).", l.written.Load),
		counter("gatehouse_calllog_spilled_total", "Calls written to a spill segment because the queue was full or the store failed.", l.spilled.Load),
		counter("gatehouse_calllog_replayed_total", "Spilled calls read back and inserted.", l.replayed.Load),
		counter("gatehouse_calllog_lost_total", "Calls neither stored nor spilled (spill full, disk error) or lost in a corrupt spill segment.", l.lost.Load),
		counter("gatehouse_calllog_pruned_total", "Calls deleted by retention.", l.pruned.Load),
	)
}

// RegisterTracker exports t's pending and dropped uses.
func RegisterTracker(reg prometheus.Registerer, t *Tracker) {
	reg.MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "gatehouse_usage_pending", Help: "Credentials with uses counted but not written yet."},
			func() float64 { return float64(t.Pending()) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "gatehouse_usage_dropped_total", Help: "Uses not counted because too many credentials were pending."},
			func() float64 { return float64(t.Dropped()) }),
	)
}

// statusCodes are the code label values, made once.
var statusCodes [600]string

func init() {
	for i := range statusCodes {
		statusCodes[i] = strconv.Itoa(i)
	}
}

func codeLabel(status int) string {
	if status >= 0 && status < len(statusCodes) {
		return statusCodes[status]
	}
	return "other"
}

func (m *Metrics) observe(c *gatehouse.Call, e *Exchange, cred string) {
	m.requestsBy.get(requestLabels{c.API, c.Route, c.Status}, func() prometheus.Counter {
		return m.requests.WithLabelValues(c.API, c.Route, codeLabel(c.Status))
	}).Inc()
	m.totalBy.get(c.API, func() prometheus.Observer { return m.total.WithLabelValues(c.API) }).Observe(c.Total.Seconds())
	if c.Upstream > 0 {
		m.upstreamBy.get(c.API, func() prometheus.Observer { return m.upstream.WithLabelValues(c.API) }).Observe(c.Upstream.Seconds())
	}
	code, detail, _ := strings.Cut(c.Reason, ":")
	if code != "" {
		m.refusals.WithLabelValues(c.API, code).Inc()
		if code == "rate_limited" || code == "quota_exceeded" {
			m.rateLimited.WithLabelValues(c.API, code).Inc()
		}
	}
	if !e.matched || cred == "none" {
		return
	}
	if cred == "" {
		cred = "bearer"
	}
	var outcome string
	switch {
	case e.claims != nil:
		outcome = "valid"
	case code == "invalid_token" || code == "invalid_api_key":
		outcome = detail
		if outcome == "" {
			outcome = "invalid"
		}
	case code == "unauthorized":
		outcome = "missing"
	case code == "invalid_request":
		outcome = "malformed"
	case code == "temporarily_unavailable":
		outcome = "error"
	default:
		// Refused before the credential was looked at (network rules).
		return
	}
	m.validationsBy.get([3]string{c.API, cred, outcome}, func() prometheus.Counter {
		return m.validations.WithLabelValues(c.API, cred, outcome)
	}).Inc()
}
