package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"os/exec"
	"regexp"
	"strconv"
	"syscall"
	"time"
)

// wrkThreads is wrk's -t: the reference figures of the issue were taken with
// wrk -t2 on a 2-core machine.
const wrkThreads = 2

// wrkLoad runs wrk (https://github.com/wg/wrk) and parses its report.
type wrkLoad struct {
	path string
}

func (wrkLoad) name() string { return fmt.Sprintf("wrk -t%d", wrkThreads) }

func (w wrkLoad) run(ctx context.Context, t *target, d time.Duration, conns int) (loadResult, error) {
	// wrk takes whole seconds.
	secs := int(math.Ceil(d.Seconds()))
	args := []string{
		"-t", strconv.Itoa(min(wrkThreads, conns)),
		"-c", strconv.Itoa(conns),
		"-d", strconv.Itoa(secs) + "s",
		"--latency",
	}
	if t.header != "" {
		args = append(args, "-H", t.header)
	}
	args = append(args, t.url)
	cmd := exec.CommandContext(ctx, w.path, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Run(); err != nil {
		if ctx.Err() != nil {
			return loadResult{}, ctx.Err()
		}
		return loadResult{}, fmt.Errorf("wrk: %v: %s%s", err, stderr.Bytes(), stdout.Bytes())
	}
	res, err := parseWrk(stdout.Bytes())
	if err != nil {
		return res, fmt.Errorf("wrk: %v in its output:\n%s", err, stdout.Bytes())
	}
	res.loadgenCPU = cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
	return res, nil
}

var (
	wrkRequestsRE = regexp.MustCompile(`(?m)^\s*(\d+) requests in `)
	wrkRPSRE      = regexp.MustCompile(`(?m)^Requests/sec:\s+([\d.]+)`)
	wrkP50RE      = regexp.MustCompile(`(?m)^\s+50%\s+([\d.]+)(us|ms|s|m|h)\b`)
	wrkP99RE      = regexp.MustCompile(`(?m)^\s+99%\s+([\d.]+)(us|ms|s|m|h)\b`)
	wrkNon2xxRE   = regexp.MustCompile(`(?m)^\s*Non-2xx or 3xx responses: (\d+)`)
	wrkSocketRE   = regexp.MustCompile(`(?m)^\s*Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)`)
)

// parseWrk reads the report of wrk --latency.
func parseWrk(out []byte) (loadResult, error) {
	var res loadResult
	m := wrkRequestsRE.FindSubmatch(out)
	r := wrkRPSRE.FindSubmatch(out)
	p50 := wrkP50RE.FindSubmatch(out)
	p99 := wrkP99RE.FindSubmatch(out)
	if m == nil || r == nil || p50 == nil || p99 == nil {
		return res, errors.New("no request count, Requests/sec or latency distribution (was --latency given?)")
	}
	var errs []error
	var err error
	res.requests, err = strconv.ParseInt(string(m[1]), 10, 64)
	errs = append(errs, err)
	res.rps, err = strconv.ParseFloat(string(r[1]), 64)
	errs = append(errs, err)
	res.p50, err = wrkDuration(p50[1], p50[2])
	errs = append(errs, err)
	res.p99, err = wrkDuration(p99[1], p99[2])
	errs = append(errs, err)
	if m := wrkNon2xxRE.FindSubmatch(out); m != nil {
		n, err := strconv.ParseInt(string(m[1]), 10, 64)
		res.errors += n
		errs = append(errs, err)
	}
	if m := wrkSocketRE.FindSubmatch(out); m != nil {
		for _, g := range m[1:] {
			n, err := strconv.ParseInt(string(g), 10, 64)
			res.errors += n
			errs = append(errs, err)
		}
	}
	return res, errors.Join(errs...)
}

// wrkDuration reads a wrk latency such as "612.00us" or "3.48ms".
func wrkDuration(num, unit []byte) (time.Duration, error) {
	f, err := strconv.ParseFloat(string(num), 64)
	if err != nil {
		return 0, err
	}
	scale := map[string]time.Duration{"us": time.Microsecond, "ms": time.Millisecond, "s": time.Second, "m": time.Minute, "h": time.Hour}[string(unit)]
	return time.Duration(f * float64(scale)), nil
}
