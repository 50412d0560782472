package config

import (
	"errors"
	"strings"
	"testing"
)

func TestCallLog(t *testing.T) {
	t.Run("Defaults", func(t *testing.T) {
		cfg, err := parseTest("", nil)
		if err != nil {
			t.Fatal(err)
		}
		if cfg.CallLog != DefaultCallLog() || !cfg.CallLog.Enabled {
			t.Fatalf("call log %+v, want the defaults", cfg.CallLog)
		}
	})
	t.Run("Set", func(t *testing.T) {
		cfg, err := parseTest("call_log:\n  enabled: false\n  retention: {max_age: 0s, max_rows: 5000}\n", nil)
		if err != nil {
			t.Fatal(err)
		}
		want := DefaultCallLog()
		want.Enabled, want.MaxAge, want.MaxRows = false, 0, 5000
		if cfg.CallLog != want {
			t.Fatalf("call log %+v, want %+v", cfg.CallLog, want)
		}
	})
	for _, tc := range []struct {
		name, file string
		line       int
		key, msg   string
	}{
		{"QueueTooSmall", "call_log:\n  queue_size: 1\n", 2, "call_log.queue_size", "between 64"},
		{"BatchTooLarge", "call_log:\n  batch_size: 100000\n", 2, "call_log.batch_size", "between 1 and 8192"},
		{"FlushNoUnit", "call_log:\n  flush_interval: 5\n", 2, "call_log.flush_interval", "no unit"},
		{"MaxAgeShort", "call_log:\n  retention:\n    max_age: 1m\n", 3, "call_log.retention.max_age", "at least 1h"},
		{"MaxRowsSmall", "call_log:\n  retention:\n    max_rows: 10\n", 3, "call_log.retention.max_rows", "at least 1000"},
		{"Unbounded", "call_log:\n  retention:\n    max_age: 0s\n    max_rows: 0\n", 4, "call_log.retention", "disk is full"},
		{"UnknownKey", "call_log:\n  queue_sise: 5\n", 2, "call_log.queue_sise", "did you mean"},
		{"EnabledString", "call_log:\n  enabled: \"yes\"\n", 2, "call_log.enabled", "true or false"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parseTest(tc.file, nil)
			var ps Problems
			if !errors.As(err, &ps) || len(ps) != 1 {
				t.Fatalf("error %v, want one problem", err)
			}
			p := ps[0]
			if p.Line != tc.line || p.Key != tc.key || !strings.Contains(p.Message, tc.msg) {
				t.Fatalf("problem %+v, want line %d key %s message with %q", p, tc.line, tc.key, tc.msg)
			}
		})
	}
}
