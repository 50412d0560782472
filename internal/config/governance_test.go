package config

import (
	"errors"
	"io/fs"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse"
)

const governanceFile = `
teams:
  - name: payments
    description: The payments team
apis:
  - name: orders-v2
    family: orders
    version: v2
    approval: manual
    description: Orders, second version
    openapi: orders-v2.yaml
    audience: https://orders.example.com/v2
    scopes: [orders:read, orders:write]
clients:
  - id: shop
    team: payments
    apis:
      - api: orders-v2
        scopes: [orders:read]
  - id: reports
subscriptions:
  - app: reports
    api: orders-v2
    scopes: [orders:read, orders:write]
    approved_scopes: [orders:read]
    expires_at: 2031-01-01T00:00:00Z
users:
  - username: dev
    password_hash: $argon2id$v=19$m=65536,t=3,p=4$c2FsdHNhbHRzYWx0c2FsdA$0WbXpQlHzwqQ6ROtkMaIdWl8xwoY8aRAh5VAGj9vTG8
    role: developer
    team: payments
`

func readFiles(files map[string]string) func(string) ([]byte, error) {
	return func(p string) ([]byte, error) {
		for name, data := range files {
			if strings.HasSuffix(p, name) {
				return []byte(data), nil
			}
		}
		return nil, fs.ErrNotExist
	}
}

func TestGovernanceKeys(t *testing.T) {
	doc := "openapi: 3.1.0\ninfo: {title: Orders, version: '2'}\npaths: {}\n"
	cfg, err := parse([]byte(governanceFile), "cfg/gatehouse.yaml", nil, readFiles(map[string]string{"orders-v2.yaml": doc}))
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Teams) != 1 || cfg.Teams[0].Name != "payments" || cfg.Teams[0].Description != "The payments team" {
		t.Errorf("teams %+v", cfg.Teams)
	}
	a := cfg.APIs[0]
	if a.Family != "orders" || a.Version != "v2" || a.Approval != gatehouse.ApprovalManual || string(a.OpenAPI) != doc || a.Description == "" {
		t.Errorf("api %+v", a)
	}
	if cfg.Clients[0].Team != "payments" || cfg.Clients[1].Team != "" {
		t.Errorf("client teams %q %q", cfg.Clients[0].Team, cfg.Clients[1].Team)
	}
	want := Subscription{App: "reports", API: "orders-v2", Scopes: []string{"orders:read", "orders:write"},
		ApprovedScopes: []string{"orders:read"}, State: gatehouse.SubApproved, ExpiresAt: time.Date(2031, 1, 1, 0, 0, 0, 0, time.UTC)}
	if len(cfg.Subscriptions) != 1 || !equalSub(cfg.Subscriptions[0], want) {
		t.Errorf("subscriptions %+v", cfg.Subscriptions)
	}
	if cfg.Users[0].Role != gatehouse.RoleDeveloper || cfg.Users[0].Team != "payments" {
		t.Errorf("user %+v", cfg.Users[0])
	}
}

func equalSub(a, b Subscription) bool {
	return a.App == b.App && a.API == b.API && slices.Equal(a.Scopes, b.Scopes) && slices.Equal(a.ApprovedScopes, b.ApprovedScopes) &&
		a.State == b.State && a.Reason == b.Reason && a.ExpiresAt.Equal(b.ExpiresAt)
}

// TestGovernanceProblems checks that each mistake is reported at its line
// with the key that is wrong.
func TestGovernanceProblems(t *testing.T) {
	for _, tc := range []struct {
		name, from, to string
		files          map[string]string
		line           int
		key, message   string
	}{
		{"UnknownTeam", "    team: payments\n", "    team: payment\n", nil, 16, "clients[0].team", `there is no team named "payment" (did you mean "payments"?)`},
		{"BadApproval", "approval: manual", "approval: later", nil, 9, "apis[0].approval", "expected one of auto, manual"},
		{"MissingOpenAPI", "openapi: orders-v2.yaml", "openapi: nope.yaml", nil, 11, "apis[0].openapi", `"nope.yaml" does not exist`},
		{"NotOpenAPI", "", "", map[string]string{"orders-v2.yaml": `{"swagger": "2.0"}`}, 11, "apis[0].openapi", `has no "openapi" member`},
		{"BrokenOpenAPI", "", "", map[string]string{"orders-v2.yaml": `{"openapi": "3.1.0"`}, 11, "apis[0].openapi", "neither valid JSON nor valid YAML"},
		{"SubscriptionUnknownApp", "  - app: reports", "  - app: report", nil, 22, "subscriptions[0].app", `there is no client with id "report"`},
		{"SubscriptionApprovedNotAsked", "    approved_scopes: [orders:read]", "    approved_scopes: [orders:admin]", nil, 25, "subscriptions[0].approved_scopes[0]", "was not asked for"},
		{"SubscriptionTwice", "  - app: reports\n    api: orders-v2", "  - app: shop\n    api: orders-v2", nil, 23, "subscriptions[0].api", "already has API"},
		{"SubscriptionBadState", "    expires_at:", "    state: gone\n    expires_at:", nil, 26, "subscriptions[0].state", "expected one of pending, approved"},
		{"RejectedNeedsReason", "    expires_at:", "    state: rejected\n    expires_at:", nil, 26, "subscriptions[0].reason", "is required for a rejected subscription"},
		{"BadExpiry", "2031-01-01T00:00:00Z", "2031-01-01", nil, 26, "subscriptions[0].expires_at", "not an RFC 3339"},
		{"DeveloperWithoutTeam", "    team: payments\n`", "`", nil, 0, "", ""},
		{"BadRole", "role: developer", "role: root", nil, 30, "users[0].role", "expected one of owner, admin, auditor, developer"},
		{"BadTeamName", "  - name: payments\n", "  - name: Payments!\n", nil, 3, "teams[0].name", "is not a valid team name"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.name == "DeveloperWithoutTeam" {
				return // covered below: the file's last line has no quote
			}
			files := map[string]string{"orders-v2.yaml": "openapi: 3.0.3\n"}
			for k, v := range tc.files {
				files[k] = v
			}
			src := strings.Replace(governanceFile, tc.from, tc.to, 1)
			if tc.from != "" && src == governanceFile {
				t.Fatalf("the test's edit %q did not apply", tc.from)
			}
			_, err := parse([]byte(src), "cfg/gatehouse.yaml", nil, readFiles(files))
			var ps Problems
			if !errors.As(err, &ps) {
				t.Fatalf("error %v, want problems", err)
			}
			for _, p := range ps {
				if p.Line == tc.line && p.Key == tc.key && strings.Contains(p.Message, tc.message) {
					return
				}
			}
			t.Errorf("no problem at line %d key %s with %q in:\n%v", tc.line, tc.key, tc.message, err)
		})
	}
	t.Run("DeveloperNeedsTeam", func(t *testing.T) {
		src := strings.Replace(governanceFile, "    team: payments\n", "", 2)
		src = strings.Replace(src, "    team: payment\n", "", 1)
		_, err := parse([]byte(src), "cfg/gatehouse.yaml", nil, readFiles(map[string]string{"orders-v2.yaml": "openapi: 3.0.3\n"}))
		if err == nil || !strings.Contains(err.Error(), "users[0].team: is required for a developer") {
			t.Errorf("error %v", err)
		}
	})
}

func TestCheckOpenAPI(t *testing.T) {
	for _, tc := range []struct {
		doc, version string
		ok           bool
	}{
		{`{"openapi":"3.1.0","info":{}}`, "3.1.0", true},
		{"openapi: 3.0.3\ninfo: {}\n", "3.0.3", true},
		{`{"openapi": 3.1}`, "", false},
		{`{"swagger":"2.0"}`, "", false},
		{`[1, 2]`, "", false},
		{``, "", false},
		{"openapi: [3]\n", "", false},
		{"\x00\x01", "", false},
	} {
		v, err := CheckOpenAPI([]byte(tc.doc))
		if (err == nil) != tc.ok || v != tc.version {
			t.Errorf("%q: %q, %v", tc.doc, v, err)
		}
	}
}

func FuzzCheckOpenAPI(f *testing.F) {
	for _, s := range []string{`{"openapi":"3.1.0"}`, "openapi: 3.0.0\n", `{"a":1}`, "- x\n", "openapi: &a 3.0.0\nx: *a\n"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		v, err := CheckOpenAPI(data)
		if err == nil && !strings.HasPrefix(v, "3.") {
			t.Fatalf("accepted version %q", v)
		}
		if err != nil && v != "" {
			t.Fatal("a version with an error")
		}
	})
}
