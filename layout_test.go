package gatehouse_test

import (
	"encoding/json"
	"io"
	"os/exec"
	"strings"
	"testing"
)

const module = "github.com/gatehouse/gatehouse"

// Package roles for the import rules in ../shared/STYLE.md: the domain
// imports only the standard library; a store imports the domain and its
// driver, never another store nor a surface; a surface never imports a
// store nor another surface; only internal/app sees everything.
var (
	stores   = []string{"internal/sqlite", "internal/postgres", "internal/redis"}
	surfaces = []string{"internal/oauth", "internal/admin", "internal/proxy", "internal/console"}
)

type listedPackage struct {
	ImportPath string
	Deps       []string
	Standard   bool
}

func listPackages(t *testing.T) []listedPackage {
	t.Helper()
	out, err := exec.Command("go", "list", "-deps=false", "-json", "./...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	var pkgs []listedPackage
	dec := json.NewDecoder(strings.NewReader(string(out)))
	for {
		var p listedPackage
		if err := dec.Decode(&p); err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		pkgs = append(pkgs, p)
	}
	if len(pkgs) < 5 {
		t.Fatalf("go list found only %d packages", len(pkgs))
	}
	return pkgs
}

func rel(path string) string { return strings.TrimPrefix(strings.TrimPrefix(path, module), "/") }

func isIn(path string, roles []string) bool {
	for _, r := range roles {
		if path == r || strings.HasPrefix(path, r+"/") {
			return true
		}
	}
	return false
}

func TestImportDirection(t *testing.T) {
	std := map[string]bool{}
	out, err := exec.Command("go", "list", "std").Output()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range strings.Fields(string(out)) {
		std[p] = true
	}
	for _, p := range listPackages(t) {
		self := rel(p.ImportPath)
		for _, d := range p.Deps {
			dep := rel(d)
			internal := strings.HasPrefix(d, module)
			switch {
			case self == "":
				if !std[d] {
					t.Errorf("the domain package imports %s; it may import only the standard library", d)
				}
			case isIn(self, stores) && internal && (isIn(dep, stores) || isIn(dep, surfaces) || dep == "internal/app"):
				t.Errorf("store %s imports %s", self, dep)
			case isIn(self, surfaces) && internal && (isIn(dep, stores) || isIn(dep, surfaces) || dep == "internal/app"):
				t.Errorf("surface %s imports %s; declare the interface it needs instead", self, dep)
			case self != "internal/app" && !strings.HasPrefix(self, "cmd/") && dep == "internal/app":
				t.Errorf("%s imports the composition root", self)
			}
		}
	}
}
