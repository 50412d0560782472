package config

import (
	"time"

	"go.yaml.in/yaml/v3"
)

// CallLogConfig is the call log (call_log in the file), defaults applied.
type CallLogConfig struct {
	// Enabled records every request through the gateway. Default true.
	// Usage tracking and metrics run either way.
	Enabled bool
	// QueueSize is how many calls wait in memory for the writer before
	// they spill to disk. Default 16384.
	QueueSize int
	// BatchSize is how many calls one transaction inserts at most.
	// Default 128: the writer's work comes in small pieces, so it does not
	// hold a core for milliseconds while requests wait (docs/BENCHMARKS.md).
	BatchSize int
	// FlushInterval is the longest a call waits in memory. Default 100ms.
	FlushInterval time.Duration
	// MaxAge deletes calls older than this; 0 keeps them whatever their
	// age. Default 720h (30 days).
	MaxAge time.Duration
	// MaxRows keeps at most this many calls, the latest inserted; 0 means
	// no limit. Default 10,000,000.
	MaxRows int64
	// MaxSpillBytes bounds the spill directory. Default 1 GiB.
	MaxSpillBytes int64
}

// Call log defaults.
const (
	DefaultCallLogQueueSize     = 16384
	DefaultCallLogBatchSize     = 128
	DefaultCallLogFlushInterval = 100 * time.Millisecond
	DefaultCallLogMaxAge        = 30 * 24 * time.Hour
	DefaultCallLogMaxRows       = 10_000_000
	DefaultCallLogMaxSpillBytes = 1 << 30
)

// DefaultCallLog is the call log of a file without call_log.
func DefaultCallLog() CallLogConfig {
	return CallLogConfig{
		Enabled: true, QueueSize: DefaultCallLogQueueSize, BatchSize: DefaultCallLogBatchSize,
		FlushInterval: DefaultCallLogFlushInterval, MaxAge: DefaultCallLogMaxAge,
		MaxRows: DefaultCallLogMaxRows, MaxSpillBytes: DefaultCallLogMaxSpillBytes,
	}
}

var (
	callLogKeys   = []string{"enabled", "queue_size", "batch_size", "flush_interval", "max_spill_bytes", "retention"}
	retentionKeys = []string{"max_age", "max_rows"}
)

// callLog decodes call_log.
func (d *decoder) callLog(n *yaml.Node, parentLine int) CallLogConfig {
	c := DefaultCallLog()
	o, _ := d.object(n, "call_log", parentLine, callLogKeys)
	if v, ok := d.boolean(o.get("enabled"), "call_log.enabled"); ok {
		c.Enabled = v
	}
	if v, ok := d.integer(o.get("queue_size"), "call_log.queue_size", 64, 1<<22); ok {
		c.QueueSize = int(v)
	}
	if v, ok := d.integer(o.get("batch_size"), "call_log.batch_size", 1, 8192); ok {
		c.BatchSize = int(v)
	}
	if v, ok := d.duration(o.get("flush_interval"), "call_log.flush_interval", 10*time.Millisecond, time.Minute); ok {
		c.FlushInterval = v
	}
	if v, ok := d.integer(o.get("max_spill_bytes"), "call_log.max_spill_bytes", 1<<20, 1<<40); ok {
		c.MaxSpillBytes = v
	}
	r, _ := d.object(o.get("retention"), "call_log.retention", o.lineOf("retention"), retentionKeys)
	if r.has("max_age") {
		if v, ok := d.zeroOrDuration(r.get("max_age"), "call_log.retention.max_age", time.Hour); ok {
			c.MaxAge = v
		}
	}
	if v, ok := d.integer(r.get("max_rows"), "call_log.retention.max_rows", 0, 1<<40); ok {
		if v > 0 && v < 1000 {
			d.report(r.lineOf("max_rows"), "call_log.retention.max_rows", "%d is too small; expected 0 (no limit) or at least 1000", v)
		} else {
			c.MaxRows = v
		}
	}
	if c.MaxAge == 0 && c.MaxRows == 0 {
		d.report(r.lineOf("max_rows"), "call_log.retention", "max_age and max_rows are both 0, so the call log would grow until the disk is full; set at least one")
	}
	return c
}

// zeroOrDuration is duration with "0s" (or "0") also allowed: no limit.
func (d *decoder) zeroOrDuration(n *yaml.Node, path string, lo time.Duration) (time.Duration, bool) {
	if rn := resolve(n); rn != nil && rn.Kind == yaml.ScalarNode && (rn.Value == "0" || rn.Value == "0s") {
		return 0, true
	}
	return d.duration(n, path, lo, 0)
}
