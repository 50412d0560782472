package config

import (
	"time"

	"go.yaml.in/yaml/v3"
)

// AuditConfig is the audit log's settings.
type AuditConfig struct {
	// CheckpointInterval is how often the head of the audit chain is
	// signed when it moved (and once at shutdown). Default 30s, from 1s to
	// 1h: a shorter interval leaves fewer of the newest entries that could
	// be cut off undetected.
	CheckpointInterval time.Duration
}

// Audit limits and defaults.
const (
	DefaultCheckpointInterval = 30 * time.Second
	minCheckpointInterval     = time.Second
	maxCheckpointInterval     = time.Hour
)

var auditKeys = []string{"checkpoint_interval"}

func (d *decoder) audit(n *yaml.Node, parentLine int) AuditConfig {
	a := AuditConfig{CheckpointInterval: DefaultCheckpointInterval}
	o, _ := d.object(n, "audit", parentLine, auditKeys)
	if v, ok := d.duration(o.get("checkpoint_interval"), "audit.checkpoint_interval", minCheckpointInterval, maxCheckpointInterval); ok {
		a.CheckpointInterval = v
	}
	return a
}
