package config

import (
	"slices"
	"time"

	"github.com/gatehouse/gatehouse"
	"go.yaml.in/yaml/v3"
)

// IdleConfig is the `idle` section: how long a credential may go unused
// before the background job revokes it. Grants and API keys follow the
// limit of their API and of their client (the shorter one wins); a
// client's secret follows its client's limit.
type IdleConfig struct {
	// CheckEvery is how often the job runs; zero means DefaultIdleCheck.
	CheckEvery time.Duration
	// APIs maps API names to limits; Clients maps client ids to limits
	// (clients registered at run time may be named too).
	APIs    map[string]time.Duration
	Clients map[string]time.Duration
}

// Enabled reports whether any limit is set.
func (c IdleConfig) Enabled() bool { return len(c.APIs) > 0 || len(c.Clients) > 0 }

// Bounds of the idle section.
const (
	DefaultIdleCheck = 10 * time.Minute
	MinIdleLimit     = time.Minute
	MaxIdleLimit     = 5 * 365 * 24 * time.Hour
)

var idleKeys = []string{"check_every", "apis", "clients"}

func (d *decoder) idle(n *yaml.Node, parentLine int, apis []gatehouse.API) IdleConfig {
	var c IdleConfig
	o, _ := d.object(n, "idle", parentLine, idleKeys)
	if v, ok := d.duration(o.get("check_every"), "idle.check_every", time.Second, 24*time.Hour); ok {
		c.CheckEvery = v
	}
	var names []string
	for _, a := range apis {
		names = append(names, a.Name)
	}
	c.APIs = d.limits(o.get("apis"), "idle.apis", func(name string, k *yaml.Node) bool {
		if slices.Contains(names, name) {
			return true
		}
		if s := suggest(name, names); s != "" {
			d.reportAt(k, "idle.apis."+name, "is not an API of this file; did you mean %q?", s)
		} else {
			d.reportAt(k, "idle.apis."+name, "is not an API of this file")
		}
		return false
	})
	c.Clients = d.limits(o.get("clients"), "idle.clients", func(name string, k *yaml.Node) bool {
		if name == "" || len(name) > 255 {
			d.reportAt(k, "idle.clients", "has an empty or overlong client id")
			return false
		}
		return true
	})
	return c
}

// limits decodes a mapping of names to idle limits.
func (d *decoder) limits(n *yaml.Node, path string, known func(string, *yaml.Node) bool) map[string]time.Duration {
	n = resolve(n)
	if isNull(n) {
		return nil
	}
	if n.Kind != yaml.MappingNode {
		d.reportAt(n, path, "must be a mapping of names to durations, such as {orders: 720h}; got %s", kindName(n))
		return nil
	}
	out := map[string]time.Duration{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k := resolve(n.Content[i])
		if k == nil || k.Kind != yaml.ScalarNode {
			d.reportAt(n.Content[i], path, "keys must be names")
			continue
		}
		if _, dup := out[k.Value]; dup {
			d.reportAt(k, path+"."+k.Value, "is set twice; keep one")
			continue
		}
		if !known(k.Value, k) {
			continue
		}
		if v, ok := d.duration(n.Content[i+1], path+"."+k.Value, MinIdleLimit, MaxIdleLimit); ok {
			out[k.Value] = v
		} else if isNull(resolve(n.Content[i+1])) {
			d.reportAt(k, path+"."+k.Value, "needs a duration, such as 720h")
		}
	}
	return out
}
