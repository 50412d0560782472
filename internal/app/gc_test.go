package app

import (
	"log/slog"
	"os"
	"path/filepath"
	"runtime/debug"
	"testing"

	"github.com/gatehouse/gatehouse/internal/config"
)

func TestParseMemoryMax(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int64
		ok   bool
	}{
		{"max\n", 0, false},
		{"536870912\n", 512 << 20, true},
		{"9223372036854771712\n", 0, false}, // cgroup v1 without a limit
		{"", 0, false},
		{"-1", 0, false},
		{"12ab", 0, false},
	} {
		got, ok := parseMemoryMax(tc.in)
		if got != tc.want || ok != tc.ok {
			t.Errorf("parseMemoryMax(%q) = %d, %v; want %d, %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
}

// TestTuneGC: the config's target applies unless GOGC is in the
// environment.
func TestTuneGC(t *testing.T) {
	prev := debug.SetGCPercent(100)
	prevLimit := debug.SetMemoryLimit(-1)
	defer func() {
		debug.SetGCPercent(prev)
		debug.SetMemoryLimit(prevLimit)
	}()
	log := slog.New(slog.DiscardHandler)
	tuneGC(config.GatewayConfig{GCPercent: 250}, func(string) (string, bool) { return "", false }, log)
	if got := debug.SetGCPercent(100); got != 250 {
		t.Errorf("GC percent %d, want the config's 250", got)
	}
	tuneGC(config.GatewayConfig{GCPercent: 250}, func(k string) (string, bool) { return "100", k == "GOGC" }, log)
	if got := debug.SetGCPercent(100); got != 100 {
		t.Errorf("GC percent %d with GOGC set, want it left alone (100)", got)
	}
}

// TestCgroupMemoryLimit reads limits from a cgroup tree laid out in a
// temporary directory: the process's own, a parent's, the smallest of
// several, cgroup v1, and none.
func TestCgroupMemoryLimit(t *testing.T) {
	root := t.TempDir()
	write := func(rel, v string) {
		t.Helper()
		p := filepath.Join(root, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(v), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("memory.max", "max\n")
	write("own/memory.max", "1073741824\n")
	write("slice/memory.max", "536870912\n")
	write("slice/svc/memory.max", "max\n")
	write("both/memory.max", "268435456\n")
	write("both/inner/memory.max", "805306368\n")
	write("free/memory.max", "max\n")
	write("memory/pod/memory.limit_in_bytes", "209715200\n")
	write("memory/memory.limit_in_bytes", "9223372036854771712\n")
	for _, tc := range []struct {
		name, self string
		want       int64
		ok         bool
	}{
		{"Own", "0::/own\n", 1 << 30, true},
		{"Parent", "0::/slice/svc\n", 512 << 20, true},
		{"SmallestOnTheWay", "0::/both/inner\n", 256 << 20, true},
		{"NoLimit", "0::/free\n", 0, false},
		{"V1", "12:cpu,cpuacct:/pod\n11:memory:/pod\n", 200 << 20, true},
		{"Hybrid", "4:memory:/pod\n0::/free\n", 200 << 20, true},
		{"Unreadable", "", 0, false},
		{"Outside", "0::/../../etc\n", 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := cgroupMemoryLimit(root, tc.self)
			if got != tc.want || ok != tc.ok {
				t.Errorf("cgroupMemoryLimit(%q) = %d, %v; want %d, %v", tc.self, got, ok, tc.want, tc.ok)
			}
		})
	}
}
