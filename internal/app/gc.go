package app

import (
	"log/slog"
	"os"
	"runtime/debug"
	"strconv"
	"strings"

	"github.com/gatehouse/gatehouse/internal/config"
)

// cgroupMemoryFiles hold the memory limit of the process's cgroup: v2, then
// v1.
var cgroupMemoryFiles = []string{"/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"}

// tuneGC applies the collector settings of a serving process: the target
// from gateway.gc_percent, and a soft memory limit of 90% of the cgroup's
// (a container's) memory limit, so that the larger target never runs the
// process into the OOM killer: near the limit the collector runs as often
// as it must. GOGC and GOMEMLIMIT in the environment win over both.
func tuneGC(cfg config.GatewayConfig, env func(string) (string, bool), log *slog.Logger) {
	percent, limit := "GOGC", "GOMEMLIMIT"
	if _, set := env("GOGC"); !set && cfg.GCPercent > 0 {
		debug.SetGCPercent(cfg.GCPercent)
		percent = strconv.Itoa(cfg.GCPercent)
	}
	if _, set := env("GOMEMLIMIT"); !set {
		limit = "none"
		for _, f := range cgroupMemoryFiles {
			b, err := os.ReadFile(f)
			if err != nil {
				continue
			}
			if n, ok := parseMemoryMax(string(b)); ok {
				debug.SetMemoryLimit(n / 10 * 9)
				limit = strconv.FormatInt(n/10*9, 10)
			}
			break
		}
	}
	log.Debug("garbage collector", "gc_percent", percent, "memory_limit_bytes", limit)
}

// parseMemoryMax reads a cgroup memory limit: a byte count, or "max" (v2)
// or a huge number (v1) for none.
func parseMemoryMax(s string) (int64, bool) {
	n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
	if err != nil || n <= 0 || n >= 1<<60 {
		return 0, false
	}
	return n, true
}
