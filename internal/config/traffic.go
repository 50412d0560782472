package config

import (
	"math"
	"time"

	"github.com/gatehouse/gatehouse"
	"go.yaml.in/yaml/v3"
)

var (
	trafficKeys   = []string{"per_client", "spike_arrest", "quota", "ip_allow", "ip_deny"}
	rateLimitKeys = []string{"rate", "period", "burst"}
	quotaKeys     = []string{"daily", "monthly"}
)

// Rate limit defaults and limits.
const (
	DefaultRatePeriod = time.Second
	minRatePeriod     = time.Millisecond
	maxRatePeriod     = 24 * time.Hour
	// maxRate bounds rate and burst well inside int on every platform.
	maxRate = 1_000_000_000
)

// traffic decodes an API's traffic policy.
func (d *decoder) traffic(n *yaml.Node, path string, parentLine int) gatehouse.Traffic {
	var t gatehouse.Traffic
	o, ok := d.object(n, path, parentLine, trafficKeys)
	if !ok {
		return t
	}
	key := func(k string) string { return join(path, k) }
	t.PerClient = d.rateLimit(o.get("per_client"), key("per_client"))
	t.SpikeArrest = d.rateLimit(o.get("spike_arrest"), key("spike_arrest"))

	q, _ := d.object(o.get("quota"), key("quota"), o.lineOf("quota"), quotaKeys)
	daily, _ := d.integer(q.get("daily"), key("quota.daily"), 0, math.MaxInt64)
	monthly, _ := d.integer(q.get("monthly"), key("quota.monthly"), 0, math.MaxInt64)
	if daily > 0 && monthly > 0 && daily > monthly {
		d.report(q.lineOf("daily"), key("quota.daily"), "%d is more than the monthly quota (%d), so it could never be reached; expected at most that, or 0 for no daily cap", daily, monthly)
	}
	t.Quota = gatehouse.Quota{Daily: daily, Monthly: monthly}

	t.IPAllow = d.prefixes(o.get("ip_allow"), key("ip_allow"), true)
	t.IPDeny = d.prefixes(o.get("ip_deny"), key("ip_deny"), true)
	return t
}

// rateLimit decodes a GCRA limit; nil when absent.
func (d *decoder) rateLimit(n *yaml.Node, path string) *gatehouse.RateLimit {
	if isNull(resolve(n)) {
		return nil
	}
	o, ok := d.object(n, path, nodeLine(n), rateLimitKeys)
	if !ok {
		return nil
	}
	rl := &gatehouse.RateLimit{Period: DefaultRatePeriod}
	rate, _ := d.integer(o.get("rate"), join(path, "rate"), 1, maxRate)
	if !o.has("rate") {
		d.report(o.line, join(path, "rate"), "is required: how many requests each period allows, such as 100 (with period: 1s)")
	}
	rl.Rate = int(rate)
	if p, ok := d.duration(o.get("period"), join(path, "period"), minRatePeriod, maxRatePeriod); ok {
		rl.Period = p
	}
	burst, _ := d.integer(o.get("burst"), join(path, "burst"), 0, maxRate)
	rl.Burst = int(burst)
	return rl
}
