package anomaly

import (
	"math"
	"time"
)

// buckets is the number of buckets a window is split into: a sliding count
// is exact to one bucket (Window/8).
const buckets = 8

// counter counts events in a sliding window of fixed buckets. Slot i holds
// the count of bucket number stamp[i] (time / bucket width); a slot whose
// stamp is out of the window counts nothing.
type counter struct {
	stamp [buckets]int64
	count [buckets]uint32
}

// add counts n events in bucket b and returns the sum over the window
// ending at b.
func (c *counter) add(b int64, n uint32) int {
	i := int(b % buckets)
	if c.stamp[i] != b {
		c.stamp[i], c.count[i] = b, 0
	}
	c.count[i] += n
	return c.sum(b)
}

// sum returns the count of the window ending at bucket b.
func (c *counter) sum(b int64) int {
	total := 0
	for i := range buckets {
		if s := c.stamp[i]; s > b-buckets && s <= b {
			total += int(c.count[i])
		}
	}
	return total
}

// bucketOf returns the bucket number of t for windows of width w.
func bucketOf(t time.Time, w time.Duration) int64 {
	return t.UnixNano() / int64(w/buckets)
}

// baseline is a client's usual traffic: an exponentially weighted average
// of the counts of buckets that have left the sliding window, so that the
// current window never raises its own baseline.
type baseline struct {
	avg    float64 // requests per bucket, biased towards zero while young
	weight float64 // 1 - (1-alpha)^folded: divides the bias out
	folded int64   // buckets folded in so far
	done   int64   // the last bucket folded into avg
}

// perWindow returns the baseline as requests per window.
func (bl *baseline) perWindow() float64 {
	if bl.weight == 0 {
		return 0
	}
	return bl.avg / bl.weight * buckets
}

// alpha weighs one bucket: the baseline forgets with a half-life of about
// four windows.
var alpha = 1 - math.Pow(0.5, 1.0/(4*buckets))

// fold brings the baseline up to bucket b: every bucket that left the
// window ending at b is folded in, with its count from c or zero.
func (bl *baseline) fold(c *counter, b int64) {
	upTo := b - buckets // the newest bucket outside the window
	if upTo <= bl.done {
		return
	}
	from := bl.done + 1
	if upTo-from > 4*buckets*8 {
		// A long silence: decay in one step, then fold the recent buckets.
		skip := upTo - 4*buckets*8 - from
		bl.avg *= math.Pow(1-alpha, float64(skip))
		bl.weight = 1 - (1-bl.weight)*math.Pow(1-alpha, float64(skip))
		bl.folded += skip
		from += skip
	}
	for x := from; x <= upTo; x++ {
		n := 0.0
		if i := int(x % buckets); c.stamp[i] == x {
			n = float64(c.count[i])
		}
		bl.avg += alpha * (n - bl.avg)
		bl.weight += alpha * (1 - bl.weight)
		bl.folded++
	}
	bl.done = upTo
}
