package main

import (
	"fmt"
	"io"
	"os"
	"runtime"
	"slices"
	"strings"
	"time"
	"unicode/utf8"
)

// Targets of the issue for Gatehouse with every check on.
const (
	targetThroughput = 0.90                 // of the bare ReverseProxy's requests/s
	targetAddedP99   = 1 * time.Millisecond // p99 over the bare ReverseProxy's
)

// round is one load run of one target.
type round struct {
	load        loadResult
	wall        time.Duration
	proxyCPU    time.Duration // zero when there is no proxy
	upstreamCPU time.Duration
	otherCPU    time.Duration // spent by processes that are not part of the run
}

func (r round) rps() float64 { return r.load.rps }

type targetResult struct {
	target *target
	rounds []round
}

// summary folds the rounds of a target: the median round for rates and
// latencies (one noisy round moves it little) and totals for CPU per request.
type summary struct {
	name             string
	rps, minRPS      float64
	maxRPS           float64
	p50, p99         time.Duration
	p999             time.Duration // median; 0 when the load generator does not give it
	minP99, maxP99   time.Duration
	requests, errors int64
	// Open loop: the target rate (0 for a closed loop), and the requests
	// due and late over all rounds.
	rate                  float64
	scheduled, late, slow int64
	proxyUS               float64 // CPU µs per request; < 0 when there is no proxy
	upstreamUS            float64
	otherCores            float64 // mean load of other processes during the rounds
}

func summarize(tr *targetResult) summary {
	s := summary{name: tr.target.name, proxyUS: -1}
	var rps []float64
	var p50s, p99s, p999s []time.Duration
	var proxyCPU, upstreamCPU, otherCPU, wall time.Duration
	for _, r := range tr.rounds {
		rps = append(rps, r.rps())
		p50s = append(p50s, r.load.p50)
		p99s = append(p99s, r.load.p99)
		p999s = append(p999s, r.load.p999)
		s.requests += r.load.requests
		s.errors += r.load.errors
		s.rate = r.load.rate
		s.scheduled += r.load.scheduled
		s.late += r.load.late
		s.slow += r.load.slow
		proxyCPU += r.proxyCPU
		upstreamCPU += r.upstreamCPU
		otherCPU += r.otherCPU
		wall += r.wall
	}
	s.rps, s.minRPS, s.maxRPS = median(rps), slices.Min(rps), slices.Max(rps)
	s.p50, s.p99, s.p999 = median(p50s), median(p99s), median(p999s)
	s.minP99, s.maxP99 = slices.Min(p99s), slices.Max(p99s)
	if s.requests > 0 {
		if tr.target.proxy != nil {
			s.proxyUS = micros(proxyCPU) / float64(s.requests)
		}
		s.upstreamUS = micros(upstreamCPU) / float64(s.requests)
	}
	s.otherCores = cores(otherCPU, wall)
	return s
}

// median of an odd count is the middle value; of an even count, the mean of
// the two middle values.
func median[T float64 | time.Duration](xs []T) T {
	s := slices.Clone(xs)
	slices.Sort(s)
	n := len(s)
	if n == 0 {
		return 0
	}
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

// busyWarning is the load of other processes, in cores, above which the
// report warns that the figures are depressed.
const busyWarning = 0.25

// report prints the table, the legend and the verdict.
func report(w io.Writer, env string, idle float64, results []*targetResult, failed, skipped []string) {
	var sums []summary
	var base *summary
	for _, tr := range results {
		sums = append(sums, summarize(tr))
	}
	for i := range sums {
		if sums[i].name == targetReverseProxy {
			base = &sums[i]
		}
	}

	fmt.Fprintf(w, "\nGatehouse benchmark: %s\n\n", env)
	open := len(sums) > 0 && sums[0].rate > 0
	if open {
		writeTable(w, openRows(sums, base))
	} else {
		writeTable(w, closedRows(sums, base))
	}

	fmt.Fprintln(w)
	for _, s := range sums {
		fmt.Fprintf(w, "  %-16s  %s\n", s.name, targetDesc[s.name])
	}
	if open {
		fmt.Fprintf(w, "  Open loop: %s requests per second in all, each due at a fixed time; latency counted from that time, so a stall\n", thousands(sums[0].rate))
		fmt.Fprintf(w, "  is charged for every request due meanwhile. late: sent more than %v after its due time, or never sent.\n", lateSlack)
		fmt.Fprintln(w, "  req/s, p50, p99, p99.9: median of the rounds. CPU/req: user+system CPU of that process (nginx: with its workers)")
	} else {
		fmt.Fprintln(w, "  req/s, p50, p99: median of the rounds. CPU/req: user+system CPU of that process (nginx: with its workers)")
	}
	fmt.Fprintln(w, "  over all rounds / requests. other load: CPU used meanwhile by processes outside the run, in cores.")
	for _, s := range sums {
		if s.errors > 0 {
			fmt.Fprintf(w, "  warning: %s had %d errors (non-2xx answers or socket errors) in %d requests; its figures are not a fair measure\n", s.name, s.errors, s.requests)
		}
		if open && !heldRate(s) {
			fmt.Fprintf(w, "  warning: %s: the rate was not held (%s req/s, %s late, %s of them released late by the load generator itself,\n", s.name, thousands(s.rps), fmtLate(s.late, s.scheduled), fmtLate(s.slow, s.late))
			fmt.Fprintln(w, "           i.e. the machine was short of CPU): its latencies include queueing; a lower --rate measures the proxy better")
		}
	}
	var busy float64
	for _, s := range sums {
		busy = max(busy, s.otherCores)
	}
	if idle > busyWarning || busy > busyWarning {
		fmt.Fprintf(w, "  warning: the machine was not quiet (other processes: %.2f cores before the run, up to %.2f during it);\n", idle, busy)
		fmt.Fprintln(w, "           absolute figures are low and noisy, ratios between targets less so (rounds are interleaved)")
	}
	for _, f := range skipped {
		fmt.Fprintf(w, "  skipped: %s\n", f)
	}
	for _, f := range failed {
		first, _, _ := strings.Cut(f, "\n")
		fmt.Fprintf(w, "  not measured: %s\n", first)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, verdict(sums, base))
}

// closedRows is the table of a closed-loop run: throughput is what differs.
func closedRows(sums []summary, base *summary) [][]string {
	rows := [][]string{{"target", "req/s", "min–max req/s", "p50", "p99", "proxy CPU/req", "upstream CPU/req", "other load", "errors", "vs bare RP", "p99 vs bare RP"}}
	for _, s := range sums {
		ratio, added := "-", "-"
		if base != nil {
			ratio = fmt.Sprintf("%.0f%%", 100*s.rps/base.rps)
			added = fmtAddedMS(s.p99-base.p99) + " ms"
		}
		proxy := "-"
		if s.proxyUS >= 0 {
			proxy = fmt.Sprintf("%.1f µs", s.proxyUS)
		}
		rows = append(rows, []string{
			s.name, thousands(s.rps), thousands(s.minRPS) + "–" + thousands(s.maxRPS),
			fmtMS(s.p50), fmtMS(s.p99), proxy, fmt.Sprintf("%.1f µs", s.upstreamUS),
			fmt.Sprintf("%.2f cores", s.otherCores), errCount(s), ratio, added,
		})
	}
	return rows
}

// openRows is the table of an open-loop run: every target is sent the same
// rate, and latency is what differs.
func openRows(sums []summary, base *summary) [][]string {
	rows := [][]string{{"target", "req/s", "late", "p50", "p99", "min–max p99", "p99.9", "proxy CPU/req", "upstream CPU/req", "other load", "errors", "p50 vs bare RP", "p99 vs bare RP", "p99.9 vs bare RP"}}
	for _, s := range sums {
		added := []string{"-", "-", "-"}
		if base != nil {
			added = []string{fmtAddedMS(s.p50-base.p50) + " ms", fmtAddedMS(s.p99-base.p99) + " ms", fmtAddedMS(s.p999-base.p999) + " ms"}
		}
		proxy := "-"
		if s.proxyUS >= 0 {
			proxy = fmt.Sprintf("%.1f µs", s.proxyUS)
		}
		rows = append(rows, append([]string{
			s.name, thousands(s.rps), fmtLate(s.late, s.scheduled),
			fmtMS(s.p50), fmtMS(s.p99), fmtMS(s.minP99) + "–" + fmtMS(s.maxP99), fmtMS(s.p999), proxy,
			fmt.Sprintf("%.1f µs", s.upstreamUS), fmt.Sprintf("%.2f cores", s.otherCores), errCount(s),
		}, added...))
	}
	return rows
}

// heldRate tells whether an open-loop target kept up with the rate: at
// least 97% of it answered, and at most 1% of the requests late.
func heldRate(s summary) bool {
	return s.rps >= 0.97*s.rate && float64(s.late) <= 0.01*float64(s.scheduled)
}

// fmtLate is the share of requests late, e.g. "0.02%".
func fmtLate(late, scheduled int64) string {
	if scheduled == 0 {
		return "-"
	}
	return fmt.Sprintf("%.2f%%", 100*float64(late)/float64(scheduled))
}

// writeTable writes rows in aligned columns: the first left-aligned, the
// others right-aligned, as numbers read best.
func writeTable(w io.Writer, rows [][]string) {
	var widths []int
	for _, r := range rows {
		for i, c := range r {
			if i >= len(widths) {
				widths = append(widths, 0)
			}
			widths[i] = max(widths[i], utf8.RuneCountInString(c))
		}
	}
	for _, r := range rows {
		var b strings.Builder
		for i, c := range r {
			pad := strings.Repeat(" ", widths[i]-utf8.RuneCountInString(c))
			if i == 0 {
				b.WriteString(c + pad)
			} else {
				b.WriteString("  " + pad + c)
			}
		}
		fmt.Fprintln(w, b.String())
	}
}

// verdict compares Gatehouse with every check on against the targets.
func verdict(sums []summary, base *summary) string {
	i := slices.IndexFunc(sums, func(s summary) bool { return s.name == targetGHScoped })
	if base == nil || i < 0 {
		return fmt.Sprintf("Gatehouse JWT+scopes+rate limit: no verdict: it needs the targets %s and %s", targetReverseProxy, targetGHScoped)
	}
	s := sums[i]
	var line string
	if s.rate > 0 {
		line = openVerdict(s, base)
	} else {
		line = closedVerdict(s, base)
	}
	if s.proxyUS > 0 && base.proxyUS > 0 {
		// CPU per request hardly moves with the load of other processes,
		// which req/s and p99 do: a second opinion on a busy machine.
		line += fmt.Sprintf("\nBy CPU per request (steadier on a busy machine): %.1f µs against %.1f µs, %.0f%% of the bare ReverseProxy's throughput per core",
			s.proxyUS, base.proxyUS, 100*base.proxyUS/s.proxyUS)
	}
	return line
}

// openVerdict judges the latency target on an open-loop run. Throughput is
// not judged: both were sent the same rate.
func openVerdict(s summary, base *summary) string {
	added := s.p99 - base.p99
	result := "latency target met"
	if added >= targetAddedP99 {
		result = "latency target missed"
	}
	switch {
	case !heldRate(*base):
		result += fmt.Sprintf(" (but the rate was not held, %s late for the bare ReverseProxy and %s for Gatehouse: queueing included, try a lower --rate)",
			fmtLate(base.late, base.scheduled), fmtLate(s.late, s.scheduled))
	case !heldRate(s):
		result += fmt.Sprintf(" (Gatehouse did not hold the rate: %s late)", fmtLate(s.late, s.scheduled))
	}
	return fmt.Sprintf("Gatehouse JWT+scopes+rate limit, open loop at %s req/s: %s ms p99 over bare ReverseProxy (target < %d ms; %s against %s, p99.9 %s ms): %s; throughput not judged at a fixed rate (run without --rate)",
		thousands(s.rate), fmtAddedMS(added), targetAddedP99.Milliseconds(), fmtMS(s.p99), fmtMS(base.p99), fmtAddedMS(s.p999-base.p999), result)
}

// closedVerdict judges both targets on a closed-loop run, where the p99 is
// mostly queueing at saturation.
func closedVerdict(s summary, base *summary) string {
	ratio := s.rps / base.rps
	added := s.p99 - base.p99
	var missed []string
	if ratio < targetThroughput {
		missed = append(missed, "throughput")
	}
	if added >= targetAddedP99 {
		missed = append(missed, "latency")
	}
	result := "both targets met"
	if len(missed) > 0 {
		result = strings.Join(missed, " and ") + " target missed"
	}
	return fmt.Sprintf("Gatehouse JWT+scopes+rate limit: %.0f%% of bare ReverseProxy (target >= %.0f%%), %s ms p99 (target < %d ms): %s",
		100*ratio, 100*targetThroughput, fmtAddedMS(added), targetAddedP99.Milliseconds(), result)
}

func errCount(s summary) string {
	if s.errors == 0 {
		return "0"
	}
	return fmt.Sprintf("%d!", s.errors)
}

func errNote(r loadResult) string {
	if r.errors == 0 {
		return ""
	}
	return fmt.Sprintf("  (%d errors)", r.errors)
}

// fmtMS formats a latency in milliseconds with two decimals.
func fmtMS(d time.Duration) string {
	return fmt.Sprintf("%.2f ms", float64(d)/float64(time.Millisecond))
}

func fmtAddedMS(d time.Duration) string {
	return fmt.Sprintf("%+.2f", float64(d)/float64(time.Millisecond))
}

// fmtMicros formats CPU per request.
func fmtMicros(cpu time.Duration, requests int64) string {
	if requests == 0 {
		return "-"
	}
	return fmt.Sprintf("%.1f µs", micros(cpu)/float64(requests))
}

func micros(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }

// cores is the mean number of cores busy: CPU time over wall time.
func cores(cpu, wall time.Duration) float64 {
	if wall <= 0 {
		return 0
	}
	return cpu.Seconds() / wall.Seconds()
}

// thousands formats a rate as a whole number with thousands separators.
func thousands(f float64) string {
	s := fmt.Sprintf("%.0f", f)
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}

// machine describes the CPU, kernel and Go version.
func machine() string {
	model := "unknown CPU"
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for line := range strings.Lines(string(b)) {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				model = strings.Join(strings.Fields(v), " ")
				break
			}
		}
	}
	kernel := "?"
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		kernel = strings.TrimSpace(string(b))
	}
	return fmt.Sprintf("%d CPUs (%s), Linux %s, %s", runtime.NumCPU(), model, kernel, runtime.Version())
}
