package app

import (
	"log/slog"
	"os"
	"path/filepath"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"

	"github.com/gatehouse/gatehouse/internal/config"
)

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
		self, _ := os.ReadFile("/proc/self/cgroup")
		if n, ok := cgroupMemoryLimit("/sys/fs/cgroup", string(self)); ok {
			debug.SetMemoryLimit(n / 10 * 9)
			limit = strconv.FormatInt(n/10*9, 10)
		}
	}
	log.Debug("garbage collector", "gc_percent", percent, "memory_limit_bytes", limit)
}

// cgroupMemoryLimit returns the smallest memory limit set on the process's
// cgroup or any above it, under root (the cgroup file system), given the
// text of /proc/self/cgroup: cgroup v2's memory.max, or v1's
// memory.limit_in_bytes of the memory controller. A limit set on a parent
// (a systemd slice, a pod) binds the process as much as its own.
func cgroupMemoryLimit(root, self string) (int64, bool) {
	// Hybrid hosts list both: v2's unified line and v1's memory controller;
	// whichever has a limit counts, v2 first.
	var v2, v1 string
	for line := range strings.Lines(self) {
		parts := strings.SplitN(strings.TrimSpace(line), ":", 3)
		if len(parts) != 3 {
			continue
		}
		switch {
		case parts[0] == "0" && parts[1] == "":
			v2 = filepath.Join(root, parts[2])
		case slices.Contains(strings.Split(parts[1], ","), "memory"):
			v1 = filepath.Join(root, "memory", parts[2])
		}
	}
	if v2 != "" {
		if n, ok := smallestLimit(root, v2, "memory.max"); ok {
			return n, true
		}
	}
	if v1 != "" {
		return smallestLimit(root, v1, "memory.limit_in_bytes")
	}
	return 0, false
}

// smallestLimit returns the smallest limit in file found in dir or any
// directory above it up to root, never outside root.
func smallestLimit(root, dir, file string) (int64, bool) {
	var best int64
	for {
		rel, err := filepath.Rel(root, dir)
		if err != nil || strings.HasPrefix(rel, "..") {
			break
		}
		if b, err := os.ReadFile(filepath.Join(dir, file)); err == nil {
			if n, ok := parseMemoryMax(string(b)); ok && (best == 0 || n < best) {
				best = n
			}
		}
		if rel == "." {
			break
		}
		dir = filepath.Dir(dir)
	}
	return best, best > 0
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
