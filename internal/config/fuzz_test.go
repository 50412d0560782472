package config

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// FuzzParse checks that no input makes Parse panic, and that it returns
// either a valid Config or a non-empty Problems, never both nor neither.
// jwks_file reads go to the test's in-memory files, never to the disk.
//
//	go test ./internal/config -run '^$' -fuzz FuzzParse -fuzztime 30s
func FuzzParse(f *testing.F) {
	files, err := filepath.Glob("testdata/*.yaml")
	if err != nil {
		f.Fatal(err)
	}
	files = append(files, filepath.Join("..", "..", "examples", "quickstart.yaml"))
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	for _, s := range []string{
		"",
		"{}",
		"a: &x [*x]\napis: *x\n",
		"clients: [{id: a, auth_method: private_key_jwt, jwks: &x {keys: [*x]}}]\n",
		"clients: [{id: a, auth_method: private_key_jwt, jwks_file: keys.json}]\n",
		"data_dir: ${A:-${B}}$$$\n",
		"apis: [{name: a, audience: 'urn:a:b', routes: [{path: '/{x}/*'}]}]\n",
		"? [a]\n: b\n",
		"--- !!map\n",
	} {
		f.Add([]byte(s))
	}
	env := mapEnv(map[string]string{"A": "x", "BILLING_SECRET": "0123456789abcdef0123456789abcdef", "REF": "${A}"})

	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := parse(data, "cfg/gatehouse.yaml", env, readTestFile)
		if err == nil {
			if cfg == nil {
				t.Fatal("nil Config and nil error")
			}
			checkValid(t, cfg)
			return
		}
		if cfg != nil {
			t.Fatalf("a Config along with error %v", err)
		}
		var ps Problems
		if !errors.As(err, &ps) || len(ps) == 0 {
			t.Fatalf("error %T %q, want a non-empty Problems", err, err)
		}
		for _, p := range ps {
			if p.Message == "" || p.Line < 0 {
				t.Errorf("malformed problem %+v", p)
			}
		}
		_ = err.Error()
	})
}

// checkValid checks invariants every parsed Config must hold.
func checkValid(t *testing.T, cfg *Config) {
	t.Helper()
	if cfg.Tokens != cfg.Tokens.WithDefaults() {
		t.Errorf("token policy without defaults: %+v", cfg.Tokens)
	}
	for _, api := range cfg.APIs {
		if cfg.API(api.Name) == nil || cfg.APIByAudience(api.Audience) == nil {
			t.Errorf("API %q cannot be found by name or audience", api.Name)
		}
		for _, r := range api.Routes {
			for _, s := range r.Scopes {
				if !api.HasScope(s) {
					t.Errorf("API %q route %q needs scope %q the API lacks", api.Name, r.Path, s)
				}
			}
		}
	}
	for _, c := range cfg.Clients {
		if c.Source != "config" || len(c.GrantTypes) == 0 {
			t.Errorf("client %q: source %q, grant types %q", c.ID, c.Source, c.GrantTypes)
		}
		for _, a := range c.Access {
			api := cfg.API(a.API)
			if api == nil {
				t.Errorf("client %q has access to unknown API %q", c.ID, a.API)
				continue
			}
			for _, s := range a.Scopes {
				if !api.HasScope(s) {
					t.Errorf("client %q has scope %q that API %q lacks", c.ID, s, a.API)
				}
			}
		}
	}
}
