package config

import (
	"fmt"
	"math"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/gatehouse/gatehouse/internal/anomaly"
	"go.yaml.in/yaml/v3"
)

// AnomalyConfig is the `anomaly` section: rules applied to what the gateway
// and the token endpoint see.
type AnomalyConfig struct {
	// Rules are validated (anomaly.Rule.Validate) with defaults applied
	// and unique names. None means the engine is not started.
	Rules []anomaly.Rule
	// MaxKeys caps what each rule tracks; 0 means anomaly.DefaultMaxKeys.
	MaxKeys int
	// Queue is the observation queue; 0 means anomaly.DefaultQueue.
	Queue int
}

// Webhook is one entry of `webhooks`: where alerts are sent.
type Webhook struct {
	Name string
	URL  string
	// Secret is the HMAC-SHA256 key, always from an environment variable;
	// never logged, never defaulted.
	Secret      []byte
	Events      []string // default: webhook.DefaultEvents
	Timeout     time.Duration
	MaxAttempts int
}

// TracingConfig is the `tracing` section. Its zero value, the default, is
// tracing off: no spans are made and requests pay nothing.
type TracingConfig struct {
	// OTLPEndpoint is the base URL of an OTLP/HTTP receiver, such as
	// http://127.0.0.1:4318; spans go to its /v1/traces.
	OTLPEndpoint string
	ServiceName  string  // default "gatehouse"
	SampleRatio  float64 // of new traces (a sampled parent is followed); default 1
}

// Minimum length of a webhook secret.
const MinWebhookSecretBytes = 32

var (
	anomalyKeys = []string{"rules", "max_keys", "queue"}
	ruleKeys    = []string{"name", "kind", "threshold", "window", "factor", "grace", "action"}
	webhookKeys = []string{"name", "url", "secret", "events", "timeout", "max_attempts"}
	tracingKeys = []string{"otlp_endpoint", "service_name", "sample_ratio"}
)

func kindNames() []string {
	out := make([]string, len(anomaly.Kinds))
	for i, k := range anomaly.Kinds {
		out[i] = string(k)
	}
	return out
}

// anomaly decodes the `anomaly` section.
func (d *decoder) anomaly(n *yaml.Node, parentLine int) AnomalyConfig {
	var a AnomalyConfig
	o, _ := d.object(n, "anomaly", parentLine, anomalyKeys)
	if v, ok := d.integer(o.get("max_keys"), "anomaly.max_keys", 100, 10_000_000); ok {
		a.MaxKeys = int(v)
	}
	if v, ok := d.integer(o.get("queue"), "anomaly.queue", 16, 1_000_000); ok {
		a.Queue = int(v)
	}
	nodes, _ := d.list(o.get("rules"), "anomaly.rules", "rules")
	names := map[string]int{}
	for i, rn := range nodes {
		path := index("anomaly.rules", i)
		r, ok := d.anomalyRule(rn, path)
		if !ok {
			continue
		}
		if first, dup := names[r.Name]; dup {
			d.reportAt(resolve(rn), path+".name", "%q is already the name of the rule on line %d; give each rule its own name", r.Name, first)
			continue
		}
		names[r.Name] = resolve(rn).Line
		a.Rules = append(a.Rules, r)
	}
	return a
}

func (d *decoder) anomalyRule(n *yaml.Node, path string) (anomaly.Rule, bool) {
	var r anomaly.Rule
	o, ok := d.object(n, path, resolve(n).Line, ruleKeys)
	if !ok {
		return r, false
	}
	key := func(k string) string { return path + "." + k }
	good := true
	r.Name, _ = d.str(o.get("name"), key("name"))
	if r.Name != "" && !plainName(r.Name) {
		d.report(o.lineOf("name"), key("name"), "%q must be letters, digits, '-' and '_' (at most 64)", r.Name)
		good = false
	}
	kind, kindOK := d.enum(o.get("kind"), key("kind"), kindNames())
	if kind == "" && kindOK {
		d.report(o.line, key("kind"), "is required; one of %s", strings.Join(kindNames(), ", "))
	}
	r.Kind = anomaly.Kind(kind)
	good = good && kind != ""
	th, thSet := d.integer(o.get("threshold"), key("threshold"), 0, anomaly.MaxThreshold)
	if !thSet && !o.has("threshold") {
		d.report(o.line, key("threshold"), "is required: the largest count still considered normal")
	}
	r.Threshold = int(th)
	good = good && thSet
	w, wSet := d.duration(o.get("window"), key("window"), anomaly.MinWindow, anomaly.MaxWindow)
	if !wSet && !o.has("window") {
		d.report(o.line, key("window"), "is required: how far back the rule counts, such as 10m")
	}
	r.Window = w
	good = good && wSet
	if o.has("factor") {
		f, ok := d.number(o.get("factor"), key("factor"), 1.5, 1000)
		r.Factor, good = f, good && ok
	}
	if o.has("grace") {
		g, ok := d.duration(o.get("grace"), key("grace"), time.Second, anomaly.MaxWindow)
		r.Grace, good = g, good && ok
	}
	act, actOK := d.enum(o.get("action"), key("action"), []string{string(anomaly.ActionAlert), string(anomaly.ActionRevoke)})
	r.Action = anomaly.Action(act)
	good = good && actOK
	if !good {
		return r, false
	}
	if err := r.Validate(); err != nil {
		d.report(o.line, path, "%v", err)
		return r, false
	}
	return r, true
}

// webhooks decodes the `webhooks` list.
func (d *decoder) webhooks(n *yaml.Node) []Webhook {
	nodes, _ := d.list(n, "webhooks", "webhooks")
	var out []Webhook
	names := map[string]int{}
	for i, wn := range nodes {
		path := index("webhooks", i)
		w, ok := d.webhook(wn, path)
		if !ok {
			continue
		}
		if first, dup := names[w.Name]; dup {
			d.reportAt(resolve(wn), path+".name", "%q is already the name of the webhook on line %d", w.Name, first)
			continue
		}
		names[w.Name] = resolve(wn).Line
		out = append(out, w)
	}
	return out
}

func (d *decoder) webhook(n *yaml.Node, path string) (Webhook, bool) {
	var w Webhook
	o, ok := d.object(n, path, resolve(n).Line, webhookKeys)
	if !ok {
		return w, false
	}
	key := func(k string) string { return path + "." + k }
	good := true
	w.Name, _ = d.str(o.get("name"), key("name"))
	switch {
	case w.Name == "":
		d.report(o.line, key("name"), "is required: a short name for logs and metrics")
		good = false
	case !plainName(w.Name):
		d.report(o.lineOf("name"), key("name"), "%q must be letters, digits, '-' and '_' (at most 64)", w.Name)
		good = false
	}
	w.URL, _ = d.str(o.get("url"), key("url"))
	if w.URL == "" {
		d.report(o.line, key("url"), "is required: where alerts are POSTed, such as https://hooks.example.com/gatehouse")
		good = false
	} else if msg := checkHTTPSURL(w.URL, true); msg != "" {
		d.report(o.lineOf("url"), key("url"), "%s", msg)
		good = false
	}
	if raw := resolve(o.get("secret")); isNull(raw) {
		d.report(o.line, key("secret"), "is required: the HMAC key receivers verify signatures with, from an environment variable such as ${GATEHOUSE_WEBHOOK_SECRET} (at least %d bytes, e.g. `openssl rand -hex 32`)", MinWebhookSecretBytes)
		good = false
	} else if raw.Kind != yaml.ScalarNode || !strings.HasPrefix(strings.TrimSpace(raw.Value), "${") || !strings.HasSuffix(strings.TrimSpace(raw.Value), "}") {
		d.reportAt(raw, key("secret"), "must be an environment variable reference such as ${GATEHOUSE_WEBHOOK_SECRET}; a secret written in the file would end up in backups and version control")
		good = false
	} else if s, ok := d.str(raw, key("secret")); ok {
		if len(s) < MinWebhookSecretBytes {
			d.reportAt(raw, key("secret"), "is too short; webhook secrets must be at least %d bytes of random data (e.g. `openssl rand -hex 32`)", MinWebhookSecretBytes)
			good = false
		}
		w.Secret = []byte(s)
	} else {
		good = false
	}
	evs, _ := d.strList(o.get("events"), key("events"), "event types")
	for _, it := range evs {
		if !eventPattern(it.val) {
			d.report(it.line, it.key, "%q is not an event type; expected a type such as refresh_token_reuse, a prefix such as anomaly.*, or *", it.val)
			good = false
			continue
		}
		w.Events = append(w.Events, it.val)
	}
	d.unique(evs)
	if t, ok := d.duration(o.get("timeout"), key("timeout"), 100*time.Millisecond, time.Minute); ok {
		w.Timeout = t
	}
	if v, ok := d.integer(o.get("max_attempts"), key("max_attempts"), 1, 20); ok {
		w.MaxAttempts = int(v)
	}
	return w, good
}

// tracing decodes the `tracing` section.
func (d *decoder) tracing(n *yaml.Node, parentLine int) TracingConfig {
	var t TracingConfig
	o, _ := d.object(n, "tracing", parentLine, tracingKeys)
	if !o.has("otlp_endpoint") {
		if o.has("service_name") || o.has("sample_ratio") {
			d.report(o.line, "tracing.otlp_endpoint", "is required when tracing is set: the OTLP/HTTP receiver, such as http://127.0.0.1:4318")
		}
		return t
	}
	ep, _ := d.str(o.get("otlp_endpoint"), "tracing.otlp_endpoint")
	if msg := checkHTTPSURL(ep, false); ep != "" && msg != "" {
		d.report(o.lineOf("otlp_endpoint"), "tracing.otlp_endpoint", "%s", msg)
	} else if u, err := url.Parse(ep); err == nil && u.Path != "" && u.Path != "/" {
		d.report(o.lineOf("otlp_endpoint"), "tracing.otlp_endpoint", "%q must be the receiver's base URL without a path; spans are sent to its /v1/traces", ep)
	} else {
		t.OTLPEndpoint = strings.TrimSuffix(ep, "/")
	}
	t.ServiceName, _ = d.str(o.get("service_name"), "tracing.service_name")
	if t.ServiceName == "" {
		t.ServiceName = "gatehouse"
	}
	t.SampleRatio = 1
	if o.has("sample_ratio") {
		if v, ok := d.number(o.get("sample_ratio"), "tracing.sample_ratio", 0, 1); ok {
			t.SampleRatio = v
		}
	}
	return t
}

// number returns a YAML number (integer or decimal) within [lo, hi].
func (d *decoder) number(n *yaml.Node, path string, lo, hi float64) (float64, bool) {
	n = resolve(n)
	if isNull(n) {
		return 0, false
	}
	expected := fmt.Sprintf("a number between %g and %g", lo, hi)
	if n.Kind != yaml.ScalarNode || (n.ShortTag() != "!!int" && n.ShortTag() != "!!float") {
		d.reportAt(n, path, "must be %s, unquoted; got %s", expected, kindName(n))
		return 0, false
	}
	v, err := strconv.ParseFloat(strings.ReplaceAll(n.Value, "_", ""), 64)
	if err != nil || math.IsNaN(v) || v < lo || v > hi {
		d.reportAt(n, path, "%s is out of range; expected %s", n.Value, expected)
		return 0, false
	}
	return v, true
}

// plainName is a name fit for logs and metric labels.
func plainName(s string) bool {
	if len(s) == 0 || len(s) > 64 {
		return false
	}
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// eventPattern reports whether s is an event type, a "prefix.*" or "*".
func eventPattern(s string) bool {
	if s == "*" {
		return true
	}
	s = strings.TrimSuffix(s, ".*")
	if s == "" || len(s) > 64 {
		return false
	}
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_' || c == '.') {
			return false
		}
	}
	return !strings.HasPrefix(s, ".") && !strings.HasSuffix(s, ".")
}
