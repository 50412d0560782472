package app

import (
	"log/slog"
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
