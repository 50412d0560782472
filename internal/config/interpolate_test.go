package config

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestExpand(t *testing.T) {
	env := map[string]string{"HOST": "db.internal", "PORT": "5432", "EMPTY": "", "REF": "${HOST}", "DOLLAR": "$"}
	for _, tc := range []struct {
		name, in, want string
		errs           []string // pieces of each expected error, in order
	}{
		{"NoReference", "plain text", "plain text", nil},
		{"Set", "${HOST}", "db.internal", nil},
		{"SeveralInOneValue", "${HOST}:${PORT}", "db.internal:5432", nil},
		{"SurroundingText", "postgres://${HOST}/x", "postgres://db.internal/x", nil},
		{"DefaultWhenUnset", "${NOPE:-fallback}", "fallback", nil},
		{"DefaultWhenEmpty", "${EMPTY:-fallback}", "fallback", nil},
		{"ValueBeatsDefault", "${HOST:-fallback}", "db.internal", nil},
		{"EmptyDefault", "${NOPE:-}", "", nil},
		{"DefaultIsLiteral", "${NOPE:-a:-b $x}", "a:-b $x", nil},
		{"SetButEmpty", "${EMPTY}", "", nil},
		{"ValueNotExpandedAgain", "${REF}", "${HOST}", nil},
		{"ValueDollarKept", "${DOLLAR}{HOST}", "${HOST}", nil},
		{"EscapedDollar", "$$", "$", nil},
		{"EscapedReference", "$${HOST}", "${HOST}", nil},
		{"EscapedThenReference", "$$${HOST}", "$db.internal", nil},
		{"LoneDollarAtEnd", "cost: 5$", "cost: 5$", nil},
		{"DollarBeforeDigit", "$1.50", "$1.50", nil},
		{"DollarBeforeSpace", "a $ b", "a $ b", nil},
		{"Unset", "${NOPE}", "", []string{"NOPE is not set"}},
		{"EveryUnsetReported", "${A}-${B}", "", []string{"A is not set", "B is not set"}},
		{"Unclosed", "${HOST", "", []string{"unclosed ${"}},
		{"EmptyName", "${}", "", []string{"not a variable reference"}},
		{"NameStartsWithDigit", "${1X}", "", []string{"not a variable reference"}},
		{"NameWithDash", "${A-B}", "", []string{"not a variable reference"}},
		{"BareName", "$HOST", "", []string{"$HOST is not interpolated; write ${HOST}"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, errs := expand(tc.in, mapEnv(env), false)
			if diff := cmp.Diff(got, tc.want); diff != "" {
				t.Errorf("value (-got +want):\n%s", diff)
			}
			if len(errs) != len(tc.errs) {
				t.Fatalf("errors = %q, want %d", errs, len(tc.errs))
			}
			for i, e := range errs {
				if !strings.Contains(e, tc.errs[i]) {
					t.Errorf("error %q does not contain %q", e, tc.errs[i])
				}
			}
		})
	}
}

// TestInterpolation checks interpolation through Parse: it applies to values
// after YAML parsing, so a variable cannot change the file's structure.
func TestInterpolation(t *testing.T) {
	yamlish := "x\nclients:\n  - id: injected\n{a: [b]}: \"c\" # d"
	env := map[string]string{
		"DATA":    "/srv/gatehouse",
		"PORT":    "9090",
		"YAMLISH": yamlish,
		"NUMBER":  "42",
		"SECRET":  "0123456789abcdef0123456789abcdef",
	}
	for _, tc := range []struct {
		name string
		data string
		get  func(*Config) any
		want any
	}{
		{"Set", "data_dir: ${DATA}\n", func(c *Config) any { return c.DataDir }, "/srv/gatehouse"},
		{"InsideText", "listen: {public: '127.0.0.1:${PORT}'}\n", func(c *Config) any { return c.Public.Addr }, "127.0.0.1:9090"},
		{"Default", "data_dir: ${NOPE:-/var/lib/gh}\n", func(c *Config) any { return c.DataDir }, "/var/lib/gh"},
		{"EmptyDefaultMeansDefault", "issuer: ${NOPE:-}\n", func(c *Config) any { return c.Issuer }, ""},
		{"EscapedDollar", "data_dir: /srv/$$HOME\n", func(c *Config) any { return c.DataDir }, "/srv/$HOME"},
		{"QuotedStillInterpolated", "data_dir: '${DATA}'\n", func(c *Config) any { return c.DataDir }, "/srv/gatehouse"},
		{"YAMLSyntaxStaysAString", "data_dir: ${YAMLISH}\n", func(c *Config) any { return []any{c.DataDir, len(c.Clients)} }, []any{yamlish, 0}},
		{"NumberStaysAString", "apis: [{name: '${NUMBER}', audience: 'https://a.example'}]\n", func(c *Config) any { return c.APIs[0].Name }, "42"},
		{"Secret", "clients: [{id: a, secret: '${SECRET}'}]\n", func(c *Config) any { return c.Clients[0].GenerateSecret }, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := parseTest(tc.data, env)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.get(cfg), tc.want); diff != "" {
				t.Errorf("mismatch (-got +want):\n%s", diff)
			}
		})
	}

	for _, tc := range []struct {
		name string
		data string
		want []Problem
	}{
		{"UnsetNamesKeyLineAndVariable", "listen:\n  public: 127.0.0.1:8080\n  admin: ${ADMIN_ADDR}\n", []Problem{{
			File: "cfg/gatehouse.yaml", Line: 3, Key: "listen.admin",
			Message: "environment variable ADMIN_ADDR is not set; set it, or give a default with ${ADMIN_ADDR:-default}",
		}}},
		{"KeysAreNotInterpolated", "${KEY}: x\n", []Problem{{
			File: "cfg/gatehouse.yaml", Line: 1, Key: "${KEY}",
			Message: "unknown key; expected one of issuer, listen, data_dir, gateway, tokens, external_issuers, teams, apis, clients, subscriptions, users, audit, call_log, anomaly, webhooks, tracing, idle",
		}}},
		{"YAMLSyntaxCannotInject", "apis:\n  - name: ${YAMLISH}\n    audience: https://a.example\n", []Problem{{
			File: "cfg/gatehouse.yaml", Line: 2, Key: "apis[0].name",
			Message: `"` + strings.ReplaceAll(strings.ReplaceAll(yamlish, "\n", `\n`), `"`, `\"`) + `" is not a valid API name; expected 1 to 63 lower-case letters, digits and -, starting with a letter or digit`,
		}}},
		{"SecretTextNotShown", "clients:\n  - id: a\n    secret: 'abc${not closed'\n", []Problem{{
			File: "cfg/gatehouse.yaml", Line: 3, Key: "clients[0].secret",
			Message: "the value has an unclosed ${; write ${NAME} for a variable or $$ for a literal $",
		}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parseTest(tc.data, env)
			var got Problems
			if !errors.As(err, &got) {
				t.Fatalf("got %v, want Problems", err)
			}
			if diff := cmp.Diff([]Problem(got), tc.want); diff != "" {
				t.Errorf("mismatch (-got +want):\n%s", diff)
			}
		})
	}
}
