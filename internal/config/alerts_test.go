package config

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/internal/anomaly"
	"github.com/google/go-cmp/cmp"
)

const hookSecret = "0123456789abcdef0123456789abcdef0123"

func TestAlertRefusals(t *testing.T) {
	env := map[string]string{"HOOK": hookSecret}
	for _, tc := range []refusal{
		{"RuleWithoutKind", "anomaly:\n  rules:\n    - {threshold: 1, window: 1m}\n", []string{"3 anomaly.rules[0].kind"}, "is required; one of token_networks"},
		{"UnknownKind", "anomaly:\n  rules:\n    - {kind: token_network, threshold: 1, window: 1m}\n", []string{"3 anomaly.rules[0].kind"}, `did you mean "token_networks"`},
		{"MissingThreshold", "anomaly:\n  rules:\n    - {kind: auth_failures, window: 1m}\n", []string{"3 anomaly.rules[0].threshold"}, "largest count still considered normal"},
		{"MissingWindow", "anomaly:\n  rules:\n    - kind: auth_failures\n      threshold: 5\n", []string{"3 anomaly.rules[0].window"}, "how far back"},
		{"WindowTooShort", "anomaly:\n  rules:\n    - kind: auth_failures\n      threshold: 5\n      window: 10ms\n", []string{"5 anomaly.rules[0].window"}, "out of range"},
		{"RevokeOnClientRule", "anomaly:\n  rules:\n    - kind: auth_failures\n      threshold: 5\n      window: 1m\n      action: revoke\n", []string{"3 anomaly.rules[0]"}, "action revoke applies only to token_networks and token_replay"},
		{"FactorOnOtherKind", "anomaly:\n  rules:\n    - {kind: auth_failures, threshold: 5, window: 1m, factor: 3}\n", []string{"3 anomaly.rules[0]"}, "factor applies only to rate_spike"},
		{"FactorQuoted", "anomaly:\n  rules:\n    - {kind: rate_spike, threshold: 5, window: 1m, factor: '3'}\n", []string{"3 anomaly.rules[0].factor"}, "unquoted"},
		{"NetworksThresholdZero", "anomaly:\n  rules:\n    - {kind: token_networks, threshold: 0, window: 1h}\n", []string{"3 anomaly.rules[0]"}, "between 1 and 63"},
		{"DuplicateRuleNames", "anomaly:\n  rules:\n    - {kind: auth_failures, threshold: 5, window: 1m}\n    - {kind: auth_failures, threshold: 50, window: 1h}\n", []string{"4 anomaly.rules[1].name"}, "line 3"},
		{"UnknownRuleKey", "anomaly:\n  rules:\n    - {kind: auth_failures, threshold: 5, window: 1m, treshold: 3}\n", []string{"3 anomaly.rules[0].treshold"}, `did you mean "threshold"`},
		{"WebhookSecretInFile", "webhooks:\n  - name: soc\n    url: https://hooks.example.com/x\n    secret: " + hookSecret + "\n", []string{"4 webhooks[0].secret"}, "environment variable reference"},
		{"WebhookSecretMissing", "webhooks:\n  - name: soc\n    url: https://hooks.example.com/x\n", []string{"2 webhooks[0].secret"}, "is required"},
		{"WebhookSecretUnset", "webhooks:\n  - name: soc\n    url: https://hooks.example.com/x\n    secret: ${NOPE}\n", []string{"4 webhooks[0].secret"}, "NOPE"},
		{"WebhookPlainHTTP", "webhooks:\n  - name: soc\n    url: http://hooks.example.com/x\n    secret: ${HOOK}\n", []string{"3 webhooks[0].url"}, "https"},
		{"WebhookUserInfo", "webhooks:\n  - name: soc\n    url: https://u:p@hooks.example.com/x\n    secret: ${HOOK}\n", []string{"3 webhooks[0].url"}, ""},
		{"WebhookBadEvent", "webhooks:\n  - name: soc\n    url: https://hooks.example.com/x\n    secret: ${HOOK}\n    events: ['Refresh Reuse']\n", []string{"5 webhooks[0].events[0]"}, "not an event type"},
		{"WebhookDuplicateName", "webhooks:\n  - {name: soc, url: 'https://a.example.com', secret: '${HOOK}'}\n  - {name: soc, url: 'https://b.example.com', secret: '${HOOK}'}\n", []string{"3 webhooks[1].name"}, "line 2"},
		{"WebhookAttempts", "webhooks:\n  - {name: soc, url: 'https://a.example.com', secret: '${HOOK}', max_attempts: 50}\n", []string{"2 webhooks[0].max_attempts"}, "between 1 and 20"},
		{"TracingWithoutEndpoint", "tracing:\n  service_name: gh\n", []string{"2 tracing.otlp_endpoint"}, "is required"},
		{"TracingEndpointPath", "tracing:\n  otlp_endpoint: http://127.0.0.1:4318/v1/traces\n", []string{"2 tracing.otlp_endpoint"}, "base URL"},
		{"IdleUnknownAPI", demoAPI + "idle:\n  apis:\n    demi: 720h\n", []string{"7 idle.apis.demi"}, `did you mean "demo"`},
		{"IdleTooShort", demoAPI + "idle:\n  apis:\n    demo: 10s\n", []string{"7 idle.apis.demo"}, "out of range"},
		{"IdleNoUnit", "idle:\n  clients:\n    c: 720\n", []string{"3 idle.clients.c"}, "no unit"},
		{"IdleNotAMapping", "idle:\n  clients: [c]\n", []string{"2 idle.clients"}, "mapping of names to durations"},
		{"IdleDuplicate", "idle:\n  clients:\n    c: 1h\n    c: 2h\n", []string{"4 idle.clients.c"}, "set twice"},
		{"TracingRatio", "tracing:\n  otlp_endpoint: http://127.0.0.1:4318\n  sample_ratio: 2\n", []string{"3 tracing.sample_ratio"}, "between 0 and 1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := parseTest(tc.data, env)
			var ps Problems
			if !errors.As(err, &ps) || cfg != nil {
				t.Fatalf("got config %+v, error %v; want Problems", cfg, err)
			}
			var got []string
			for _, p := range ps {
				got = append(got, fmt.Sprintf("%d %s", p.Line, p.Key))
			}
			if diff := cmp.Diff(got, tc.want); diff != "" {
				t.Errorf("problems (-got +want):\n%s\nall:\n%v", diff, ps)
			}
			if !strings.Contains(ps.Error(), tc.msg) {
				t.Errorf("no message contains %q:\n%v", tc.msg, ps)
			}
		})
	}
}

func TestAlertShortSecret(t *testing.T) {
	_, err := parseTest("webhooks:\n  - {name: soc, url: 'https://a.example.com', secret: '${SHORT}'}\n", map[string]string{"SHORT": "abc"})
	var ps Problems
	if !errors.As(err, &ps) || len(ps) != 1 || !strings.Contains(ps[0].Message, "too short") {
		t.Fatalf("got %v", err)
	}
}

func TestAlertSecretNeverInMessages(t *testing.T) {
	_, err := parseTest("webhooks:\n  - {name: 'bad name', url: 'https://a.example.com', secret: '${SHORTISH}'}\n", map[string]string{"SHORTISH": "s3cr3t-value-xyz"})
	if err == nil || strings.Contains(err.Error(), "s3cr3t-value-xyz") {
		t.Fatalf("got %v", err)
	}
}

func TestAlertAccepts(t *testing.T) {
	cfg, err := parseTest(`anomaly:
  max_keys: 5000
  rules:
    - {name: stolen, kind: token_networks, threshold: 3, window: 1h, action: revoke}
    - {kind: token_replay, threshold: 0, window: 1h, grace: 10m, action: revoke}
    - {kind: refresh_reuse, threshold: 0, window: 1h}
    - {kind: auth_failures, threshold: 20, window: 1m}
    - {kind: rate_spike, threshold: 100, window: 5m, factor: 4.5}
webhooks:
  - name: soc
    url: https://hooks.example.com/gatehouse?team=sec
    secret: ${HOOK}
    events: [anomaly.*, refresh_token_reuse]
    timeout: 2s
    max_attempts: 3
tracing:
  otlp_endpoint: http://127.0.0.1:4318/
  sample_ratio: 0.25
`, map[string]string{"HOOK": hookSecret})
	if err != nil {
		t.Fatal(err)
	}
	want := AnomalyConfig{MaxKeys: 5000, Rules: []anomaly.Rule{
		{Name: "stolen", Kind: anomaly.KindTokenNetworks, Threshold: 3, Window: time.Hour, Action: anomaly.ActionRevoke},
		{Name: "token_replay", Kind: anomaly.KindTokenReplay, Threshold: 0, Window: time.Hour, Grace: 10 * time.Minute, Action: anomaly.ActionRevoke},
		{Name: "refresh_reuse", Kind: anomaly.KindRefreshReuse, Window: time.Hour, Action: anomaly.ActionAlert},
		{Name: "auth_failures", Kind: anomaly.KindAuthFailures, Threshold: 20, Window: time.Minute, Action: anomaly.ActionAlert},
		{Name: "rate_spike", Kind: anomaly.KindRateSpike, Threshold: 100, Window: 5 * time.Minute, Factor: 4.5, Action: anomaly.ActionAlert},
	}}
	if diff := cmp.Diff(cfg.Anomaly, want); diff != "" {
		t.Errorf("anomaly (-got +want):\n%s", diff)
	}
	wantHooks := []Webhook{{Name: "soc", URL: "https://hooks.example.com/gatehouse?team=sec", Secret: []byte(hookSecret),
		Events: []string{"anomaly.*", "refresh_token_reuse"}, Timeout: 2 * time.Second, MaxAttempts: 3}}
	if diff := cmp.Diff(cfg.Webhooks, wantHooks); diff != "" {
		t.Errorf("webhooks (-got +want):\n%s", diff)
	}
	if got, want := cfg.Tracing, (TracingConfig{OTLPEndpoint: "http://127.0.0.1:4318", ServiceName: "gatehouse", SampleRatio: 0.25}); got != want {
		t.Errorf("tracing = %+v, want %+v", got, want)
	}
}

func TestIdleAccepts(t *testing.T) {
	cfg, err := parseTest(demoAPI+"idle:\n  check_every: 1m\n  apis: {demo: 720h}\n  clients: {web-app: 168h, registered-later: 1h}\n", nil)
	if err != nil {
		t.Fatal(err)
	}
	want := IdleConfig{CheckEvery: time.Minute, APIs: map[string]time.Duration{"demo": 720 * time.Hour},
		Clients: map[string]time.Duration{"web-app": 168 * time.Hour, "registered-later": time.Hour}}
	if diff := cmp.Diff(cfg.Idle, want); diff != "" || !cfg.Idle.Enabled() {
		t.Errorf("idle (-got +want):\n%s", diff)
	}
}

func TestAlertDefaultsOff(t *testing.T) {
	cfg, err := parseTest("{}\n", nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Anomaly.Rules) != 0 || len(cfg.Webhooks) != 0 || cfg.Tracing != (TracingConfig{}) || cfg.Idle.Enabled() {
		t.Errorf("alerts on by default: %+v %+v %+v", cfg.Anomaly, cfg.Webhooks, cfg.Tracing)
	}
}

// FuzzAlertSections checks that no anomaly, webhooks or tracing section
// makes Parse panic, and that every accepted rule is valid as the engine
// sees it.
//
//	go test ./internal/config -run '^$' -fuzz FuzzAlertSections -fuzztime 30s
func FuzzAlertSections(f *testing.F) {
	for _, s := range []string{
		"anomaly: {rules: [{kind: token_networks, threshold: 3, window: 1h, action: revoke}]}\n",
		"anomaly: {rules: [{kind: rate_spike, threshold: 100, window: 5m, factor: 4.5}, {kind: token_replay, threshold: 0, window: 1h, grace: 1m}]}\n",
		"anomaly: {max_keys: 100, queue: 16, rules: [{name: x, kind: auth_failures, threshold: 1_000, window: 7d}]}\n",
		"webhooks: [{name: a, url: 'https://h.example/x?y=1', secret: '${HOOK}', events: ['*', anomaly.*], timeout: 1s, max_attempts: 20}]\n",
		"tracing: {otlp_endpoint: 'http://[::1]:4318', sample_ratio: 0.0, service_name: gh}\n",
		"anomaly: {rules: [{kind: rate_spike, threshold: 1, window: 1m, factor: .nan}]}\n",
		"apis: [{name: a, audience: 'urn:a:b'}]\nidle: {check_every: 1m, apis: {a: 1h}, clients: {x: 720h, y: 1m}}\n",
	} {
		f.Add([]byte(s))
	}
	env := mapEnv(map[string]string{"HOOK": hookSecret})
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := parse(data, "cfg/gatehouse.yaml", env, readTestFile)
		if err != nil {
			return
		}
		for _, r := range cfg.Anomaly.Rules {
			again := r
			if err := again.Validate(); err != nil || again != r {
				t.Errorf("accepted rule %+v is not valid: %v", r, err)
			}
		}
		if _, err := anomaly.New(cfg.Anomaly.Rules, anomaly.Options{}); err != nil {
			t.Errorf("engine refuses accepted rules: %v", err)
		}
		for _, w := range cfg.Webhooks {
			if len(w.Secret) < MinWebhookSecretBytes || w.Name == "" || !strings.HasPrefix(w.URL, "http") {
				t.Errorf("accepted webhook %q without a secret, name or URL", w.Name)
			}
		}
		for name, l := range cfg.Idle.APIs {
			if cfg.API(name) == nil || l < MinIdleLimit || l > MaxIdleLimit {
				t.Errorf("idle limit %s for API %q", l, name)
			}
		}
		for _, l := range cfg.Idle.Clients {
			if l < MinIdleLimit || l > MaxIdleLimit {
				t.Errorf("idle limit %s", l)
			}
		}
		if tr := cfg.Tracing; tr.OTLPEndpoint != "" && (tr.SampleRatio < 0 || tr.SampleRatio > 1) {
			t.Errorf("sample ratio %v", tr.SampleRatio)
		}
	})
}
