package config

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden from the current output")

// testEnv is the environment the testdata files are parsed with.
func testEnv() func(string) (string, bool) {
	return mapEnv(map[string]string{
		"BILLING_SECRET":         "billing-0123456789abcdef0123456789abcdef",
		"ORDERS_UPSTREAM_SECRET": "orders-upstream-secret",
		"EMPTY":                  "",
	})
}

func mapEnv(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

// TestGolden parses each testdata/bad-*.yaml and compares the whole error
// text, every problem on its line, with the .golden file next to it. Run
// `go test ./internal/config -update` to rewrite the golden files after an
// intended change, and read the diff.
func TestGolden(t *testing.T) {
	files, err := filepath.Glob("testdata/bad-*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("no testdata/bad-*.yaml files")
	}
	for _, file := range files {
		name := strings.TrimSuffix(filepath.Base(file), ".yaml")
		t.Run(name, func(t *testing.T) {
			cfg, err := Load(file, testEnv())
			if err == nil {
				t.Fatalf("Load(%s) = %+v, want problems", file, cfg)
			}
			if _, ok := err.(Problems); !ok {
				t.Fatalf("Load(%s) error is %T (%v), want Problems", file, err, err)
			}
			got := err.Error() + "\n"
			golden := strings.TrimSuffix(file, ".yaml") + ".golden"
			if *update {
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if diff := cmp.Diff(got, string(want)); diff != "" {
				t.Errorf("problems differ from %s (-got +want):\n%s", golden, diff)
			}
		})
	}
}

// TestGoodFiles checks that the shipped example and every
// testdata/good-*.yaml parse without problems.
func TestGoodFiles(t *testing.T) {
	files, err := filepath.Glob("testdata/good-*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	files = append(files, filepath.Join("..", "..", "examples", "quickstart.yaml"))
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			if _, err := Load(file, testEnv()); err != nil {
				t.Errorf("Load(%s):\n%v", file, err)
			}
		})
	}
}
