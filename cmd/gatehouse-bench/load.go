package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"math/bits"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
)

// loadgen sends load to one target for a while.
type loadgen interface {
	name() string
	run(ctx context.Context, t *target, d time.Duration, conns int) (loadResult, error)
}

// loadResult is what one load run measured.
type loadResult struct {
	requests int64   // responses received
	errors   int64   // responses other than 2xx, and socket errors
	rps      float64 // requests per second
	p50, p99 time.Duration
	// loadgenCPU is the CPU the load generator itself used.
	loadgenCPU time.Duration
}

// goLoad is the built-in load generator, used when wrk is not installed: a
// fixed number of keep-alive connections, each a goroutine sending one
// request at a time (closed loop, like wrk), timing each response into a
// histogram. It writes a prepared request and reads responses with
// http.ReadResponse instead of going through http.Client, whose per-request
// goroutine handoffs would take CPU from the servers being measured.
type goLoad struct{}

func (goLoad) name() string { return "built-in Go load generator" }

func (goLoad) run(ctx context.Context, t *target, d time.Duration, conns int) (loadResult, error) {
	u, err := url.Parse(t.url)
	if err != nil {
		return loadResult{}, err
	}
	var req strings.Builder
	fmt.Fprintf(&req, "GET %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: gatehouse-bench\r\n", u.RequestURI(), u.Host)
	if t.header != "" {
		req.WriteString(t.header + "\r\n")
	}
	req.WriteString("\r\n")
	raw := []byte(req.String())

	cpu0, err := selfCPU()
	if err != nil {
		return loadResult{}, err
	}
	workers := make([]worker, conns)
	start := time.Now()
	deadline := start.Add(d)
	var wg sync.WaitGroup
	for i := range workers {
		w := &workers[i]
		wg.Go(func() { w.loop(ctx, u.Host, raw, deadline) })
	}
	wg.Wait()
	elapsed := time.Since(start)
	if err := ctx.Err(); err != nil {
		return loadResult{}, err
	}

	var res loadResult
	cpu1, err := selfCPU()
	if err != nil {
		return res, err
	}
	res.loadgenCPU = cpu1 - cpu0
	var h histogram
	var firstErr error
	for i := range workers {
		w := &workers[i]
		res.requests += w.requests
		res.errors += w.errors
		h.merge(&w.hist)
		if firstErr == nil {
			firstErr = w.err
		}
	}
	if res.requests == 0 {
		return res, fmt.Errorf("no response from %s: %v", t.url, firstErr)
	}
	res.rps = float64(res.requests) / elapsed.Seconds()
	res.p50, res.p99 = h.quantile(0.50), h.quantile(0.99)
	return res, nil
}

// worker is one connection of the Go load generator.
type worker struct {
	hist     histogram
	requests int64
	errors   int64
	err      error // the first socket error, to explain a run without responses
}

var dialer = net.Dialer{Timeout: 5 * time.Second}

// loop sends requests on one connection until deadline, reconnecting after
// an error or a Connection: close.
func (w *worker) loop(ctx context.Context, addr string, req []byte, deadline time.Time) {
	br := bufio.NewReaderSize(nil, 16<<10)
	for ctx.Err() == nil && time.Now().Before(deadline) {
		conn, err := dialer.DialContext(ctx, "tcp", addr)
		if err != nil {
			w.fail(err)
			time.Sleep(10 * time.Millisecond)
			continue
		}
		// A response still missing long after the deadline is a failure;
		// Ctrl-C unblocks at once.
		_ = conn.SetDeadline(deadline.Add(10 * time.Second))
		stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Unix(1, 0)) })
		br.Reset(conn)
		w.send(conn, br, req, deadline)
		stop()
		conn.Close()
	}
}

// send sends requests on conn until the deadline or until the
// connection cannot carry more.
func (w *worker) send(conn net.Conn, br *bufio.Reader, req []byte, deadline time.Time) {
	for {
		t0 := time.Now()
		if !t0.Before(deadline) {
			return
		}
		if _, err := conn.Write(req); err != nil {
			w.fail(err)
			return
		}
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			w.fail(err)
			return
		}
		_, err = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if err != nil {
			w.fail(err)
			return
		}
		w.hist.record(time.Since(t0))
		w.requests++
		if resp.StatusCode/100 != 2 {
			w.errors++
		}
		if resp.Close {
			return
		}
	}
}

func (w *worker) fail(err error) {
	if errors.Is(err, context.Canceled) {
		return
	}
	w.errors++
	if w.err == nil {
		w.err = err
	}
}

// histogram counts durations in log-linear buckets, like HdrHistogram with
// two significant digits: exact below 256 ns, then 128 buckets per power of
// two, so any quantile is within 0.8% of the true value. Fixed size, no
// allocation per sample.
type histogram struct {
	counts [histBuckets]uint64
}

const (
	subBits     = 7
	histBuckets = (64 - subBits + 1) << subBits
)

func bucketOf(v uint64) int {
	shift := bits.Len64(v) - (subBits + 1)
	if shift <= 0 {
		return int(v)
	}
	return shift<<subBits + int(v>>shift)
}

// bucketRange is the lowest value of bucket i and its width.
func bucketRange(i int) (lo, width uint64) {
	if i < 2<<subBits {
		return uint64(i), 1
	}
	shift := i>>subBits - 1
	return uint64(i-shift<<subBits) << shift, 1 << shift
}

func (h *histogram) record(d time.Duration) {
	h.counts[bucketOf(uint64(max(d, 0)))]++
}

func (h *histogram) merge(o *histogram) {
	for i, c := range o.counts {
		h.counts[i] += c
	}
}

// quantile returns the middle of the bucket holding the q-quantile.
func (h *histogram) quantile(q float64) time.Duration {
	var total uint64
	for _, c := range h.counts {
		total += c
	}
	if total == 0 {
		return 0
	}
	rank := uint64(math.Ceil(q * float64(total)))
	rank = max(rank, 1)
	var seen uint64
	for i, c := range h.counts {
		seen += c
		if seen >= rank {
			lo, w := bucketRange(i)
			return time.Duration(lo + w/2)
		}
	}
	return 0 // not reached
}
