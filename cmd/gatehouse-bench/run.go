package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strings"
	"time"
)

// Exit codes.
const (
	exitOK     = 0
	exitSetup  = 1 // a requested target could not be set up
	exitUsage  = 2
	exitSignal = 130 // interrupted, as shells report SIGINT
)

const usage = `gatehouse-bench: throughput, latency and CPU cost of Gatehouse against an
upstream reached directly, a bare httputil.ReverseProxy and nginx.

Usage:
  go run ./cmd/gatehouse-bench [flags]     (from the repository root)

`

// options are the command-line settings of a run.
type options struct {
	duration time.Duration // per target per round
	warmup   time.Duration // per target, once, before the rounds
	rounds   int
	conns    int
	only     []string // target names, in the canonical order
	loadgen  string   // auto, wrk or go
	rate     float64  // requests per second in an open loop; 0 for a closed loop
	callLog  bool     // Gatehouse's call_log.enabled
	gcPct    int      // Gatehouse's gateway.gc_percent; 0 for its default
	// sameRequest sends every target the request the token-checking
	// Gatehouse targets get, Authorization header included.
	sameRequest bool
}

func parseOptions(args []string, stderr io.Writer) (*options, error) {
	fs := flag.NewFlagSet("gatehouse-bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, usage)
		fmt.Fprintln(stderr, "Targets (all by default, measured in interleaved rounds):")
		for _, n := range targetNames {
			fmt.Fprintf(stderr, "  %-16s  %s\n", n, targetDesc[n])
		}
		fmt.Fprintln(stderr, "\nFlags:")
		fs.PrintDefaults()
	}
	o := &options{}
	fs.DurationVar(&o.duration, "duration", 5*time.Second, "load `time` per target per round")
	fs.DurationVar(&o.warmup, "warmup", time.Second, "load `time` per target before the measured rounds (0 for none)")
	fs.IntVar(&o.rounds, "rounds", 3, "`number` of interleaved rounds")
	fs.IntVar(&o.conns, "conns", 64, "keep-alive `connections` held open by the load generator")
	only := fs.String("only", "", "comma-separated `targets` to measure (default: all)")
	fs.StringVar(&o.loadgen, "loadgen", "auto", "load generator: auto (wrk when installed, else go), wrk or go")
	fs.Float64Var(&o.rate, "rate", 0, "open loop: send this many `requests` per second in all, latency counted from each request's due time,\nwith the built-in Go load generator (0: closed loop, each connection sends as fast as it is answered)")
	fs.BoolVar(&o.callLog, "call-log", true, "Gatehouse writes its call log (call_log.enabled); compare a run with --call-log=false to see its cost")
	fs.IntVar(&o.gcPct, "gc-percent", 0, "Gatehouse's gateway.gc_percent (25 to 10000); 0 for its default (400), 100 for Go's")
	fs.BoolVar(&o.sameRequest, "same-request", true, "send every target the same request, the bearer token included, so that only the proxy differs;\nfalse sends it only to the Gatehouse targets that check it (how runs before 2026-11-29 measured)")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	var problems []string
	if fs.NArg() > 0 {
		problems = append(problems, fmt.Sprintf("unexpected argument %q", fs.Arg(0)))
	}
	if o.duration < time.Second {
		problems = append(problems, "--duration must be at least 1s")
	}
	if o.warmup < 0 {
		problems = append(problems, "--warmup must not be negative")
	}
	if o.rounds < 1 {
		problems = append(problems, "--rounds must be at least 1")
	}
	if o.conns < 1 {
		problems = append(problems, "--conns must be at least 1")
	}
	if o.gcPct != 0 && (o.gcPct < 25 || o.gcPct > 10000) {
		problems = append(problems, "--gc-percent must be 0 (Gatehouse's default) or from 25 to 10000")
	}
	if !slices.Contains([]string{"auto", "wrk", "go"}, o.loadgen) {
		problems = append(problems, fmt.Sprintf("--loadgen %q: expected auto, wrk or go", o.loadgen))
	}
	switch {
	case o.rate < 0 || math.IsNaN(o.rate) || math.IsInf(o.rate, 0):
		problems = append(problems, "--rate must be 0 (closed loop) or a positive number of requests per second")
	case o.rate > 0 && o.loadgen == "wrk":
		problems = append(problems, "--rate needs the built-in load generator (wrk has no open loop): drop --loadgen wrk")
	}
	o.only = targetNames
	if *only != "" {
		want := map[string]bool{}
		for n := range strings.SplitSeq(*only, ",") {
			n = strings.TrimSpace(n)
			if !slices.Contains(targetNames, n) {
				problems = append(problems, fmt.Sprintf("--only: unknown target %q; expected some of %s", n, strings.Join(targetNames, ",")))
			}
			want[n] = true
		}
		o.only = slices.DeleteFunc(slices.Clone(targetNames), func(n string) bool { return !want[n] })
	}
	if len(problems) > 0 {
		for _, p := range problems {
			fmt.Fprintln(stderr, "gatehouse-bench:", p)
		}
		return nil, errors.New("bad command line")
	}
	return o, nil
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 {
		switch args[0] {
		case "upstream":
			return serveUpstream(ctx, args[1:], stderr)
		case "reverseproxy":
			return serveReverseProxy(ctx, args[1:], stderr)
		}
	}
	o, err := parseOptions(args, stderr)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitUsage
	}
	return bench(ctx, o, stdout, stderr)
}

// bench sets up the requested targets, measures them and prints the report.
func bench(ctx context.Context, o *options, stdout, stderr io.Writer) int {
	logf := func(format string, a ...any) { fmt.Fprintf(stderr, format+"\n", a...) }

	lg, err := chooseLoadgen(o)
	if err != nil {
		logf("gatehouse-bench: %v", err)
		return exitSetup
	}
	l, err := newLab()
	if err != nil {
		logf("gatehouse-bench: %v", err)
		return exitSetup
	}
	defer l.close()

	targets, failed, skipped := setup(ctx, l, o, logf)
	if ctx.Err() != nil {
		logf("gatehouse-bench: interrupted")
		return exitSignal
	}
	if len(targets) == 0 {
		logf("gatehouse-bench: no target to measure")
		return exitSetup
	}

	env := describeEnv(o, lg)
	idle, err := idleLoad(ctx, time.Second)
	if ctx.Err() != nil {
		logf("gatehouse-bench: interrupted")
		return exitSignal
	}
	if err != nil {
		logf("gatehouse-bench: %v", err)
		return exitSetup
	}
	if idle > busyWarning {
		logf("warning: before the run, other processes keep %.2f of %d cores busy; figures will be depressed", idle, runtime.NumCPU())
	}
	logf("measuring %s with %s: %d round(s) of %v per target, %d connections",
		strings.Join(names(targets), ", "), lg.name(), o.rounds, o.duration, o.conns)
	results, err := measure(ctx, lg, targets, o, logf)
	if ctx.Err() != nil {
		logf("gatehouse-bench: interrupted")
		return exitSignal
	}
	if err != nil {
		logf("gatehouse-bench: %v", err)
		return exitSetup
	}
	report(stdout, env, idle, results, failed, skipped)
	if len(failed) > 0 {
		return exitSetup
	}
	return exitOK
}

// measure runs the warm-up and then the rounds. Each round visits every
// target once, starting one target further each round, so that slow drifts of
// the machine (thermal, other tenants) spread over all targets alike.
func measure(ctx context.Context, lg loadgen, targets []*target, o *options, logf func(string, ...any)) ([]*targetResult, error) {
	if o.warmup > 0 {
		logf("warm-up: %v per target", o.warmup)
		for _, t := range targets {
			if _, err := lg.run(ctx, t, o.warmup, o.conns); err != nil {
				return nil, fmt.Errorf("warm-up of %s: %w", t.name, err)
			}
		}
	}
	results := make([]*targetResult, len(targets))
	for i, t := range targets {
		results[i] = &targetResult{target: t}
	}
	for r := range o.rounds {
		for k := range targets {
			i := (r + k) % len(targets)
			t := targets[i]
			rr, err := measureOnce(ctx, lg, t, o)
			if err != nil {
				return nil, fmt.Errorf("round %d, %s: %w", r+1, t.name, err)
			}
			results[i].rounds = append(results[i].rounds, rr)
			proxy := "-"
			if t.proxy != nil {
				proxy = fmtMicros(rr.proxyCPU, rr.load.requests)
			}
			open := ""
			if rr.load.rate > 0 {
				open = fmt.Sprintf("  p99.9 %s  late %s  load generator CPU %s/req", fmtMS(rr.load.p999),
					fmtLate(rr.load.late, rr.load.scheduled), fmtMicros(rr.load.loadgenCPU, rr.load.requests))
			}
			logf("round %d/%d %-16s %7s req/s  p50 %s  p99 %s%s  proxy CPU %s/req  other load %.2f cores%s",
				r+1, o.rounds, t.name, thousands(rr.rps()), fmtMS(rr.load.p50), fmtMS(rr.load.p99), open,
				proxy, cores(rr.otherCPU, rr.wall), errNote(rr.load))
		}
	}
	return results, nil
}

// measureOnce loads one target once and reads the CPU that its processes,
// the load generator and the whole machine spent meanwhile.
func measureOnce(ctx context.Context, lg loadgen, t *target, o *options) (round, error) {
	var r round
	p0, err := t.proxyCPU()
	if err != nil {
		return r, err
	}
	u0, err := t.upstream.cpu()
	if err != nil {
		return r, err
	}
	m0, err := machineCPU()
	if err != nil {
		return r, err
	}
	start := time.Now()
	r.load, err = lg.run(ctx, t, o.duration, o.conns)
	if err != nil {
		return r, err
	}
	r.wall = time.Since(start)
	p1, err := t.proxyCPU()
	if err != nil {
		return r, err
	}
	u1, err := t.upstream.cpu()
	if err != nil {
		return r, err
	}
	m1, err := machineCPU()
	if err != nil {
		return r, err
	}
	r.proxyCPU, r.upstreamCPU = p1-p0, u1-u0
	// Whatever the machine ran besides the servers and the load generator:
	// other tenants, builds, tests. Clock ticks make it approximate.
	r.otherCPU = max(0, (m1-m0)-r.proxyCPU-r.upstreamCPU-r.load.loadgenCPU)
	return r, nil
}

func chooseLoadgen(o *options) (loadgen, error) {
	if o.rate > 0 {
		return goLoad{rate: o.rate}, nil
	}
	path, err := exec.LookPath("wrk")
	switch {
	case o.loadgen == "go" || o.loadgen == "auto" && err != nil:
		return goLoad{}, nil
	case err != nil:
		return nil, errors.New("--loadgen wrk: wrk is not installed (apt-get install wrk)")
	}
	return wrkLoad{path: path}, nil
}

func names(ts []*target) []string {
	var out []string
	for _, t := range ts {
		out = append(out, t.name)
	}
	return out
}

// describeEnv says where and how the figures were taken, for the report.
func describeEnv(o *options, lg loadgen) string {
	host, _ := os.Hostname()
	gc := "default gc_percent"
	if o.gcPct > 0 {
		gc = fmt.Sprintf("gc_percent %d", o.gcPct)
	}
	callLog := "call log on"
	if !o.callLog {
		callLog = "call log off"
	}
	// With a Gatehouse target, the request carries its bearer token.
	token := "the same request to every target"
	if !o.sameRequest {
		token = "the bearer token to the token-checking targets only"
	}
	return fmt.Sprintf("%s, %s, %s; load: %s, %d conns, %d x %v per target, %s; gatehouse: %s, %s",
		time.Now().UTC().Format("2006-01-02 15:04 MST"), host, machine(), lg.name(), o.conns, o.rounds, o.duration, token, callLog, gc)
}
