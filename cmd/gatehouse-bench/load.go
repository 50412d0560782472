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
	"runtime"
	"strings"
	"sync"
	"syscall"
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
	p999     time.Duration // 0 when the load generator does not give it (wrk)
	// Open loop only (rate > 0): the target rate, the requests due before
	// the end of the run, and those sent more than lateSlack after their
	// due time or not sent at all.
	rate      float64
	scheduled int64
	late      int64
	// slow counts the late requests that were released late by the load
	// generator itself: the machine was short of CPU, not of connections.
	slow int64
	// loadgenCPU is the CPU the load generator itself used.
	loadgenCPU time.Duration
}

// goLoad is the built-in load generator, used when wrk is not installed or
// --rate is set: a fixed number of keep-alive connections, each a goroutine
// sending one request at a time, timing each response into a histogram. It
// writes a prepared request and reads responses with http.ReadResponse
// instead of going through http.Client, whose per-request goroutine handoffs
// would take CPU from the servers being measured.
//
// With rate 0 each connection sends its next request as soon as it has the
// answer to the last one (closed loop, like wrk). With rate > 0 the load is
// an open loop, like wrk2's: request k is due at start + k/rate, whichever
// connection is free takes the next request due, waits for its due time and
// sends it, and its latency is counted from the due time, not from when it
// was sent. A server that stalls is then charged for every request that
// should have been sent meanwhile (no coordinated omission), and requests
// that no free connection could send on time are counted as late.
type goLoad struct {
	rate float64 // requests per second over all connections; 0 for a closed loop
}

func (g goLoad) name() string {
	if g.rate > 0 {
		return fmt.Sprintf("built-in Go load generator, open loop at %s req/s", thousands(g.rate))
	}
	return "built-in Go load generator"
}

// lateSlack is how long after its due time a request may be sent and still
// count as on time.
const lateSlack = time.Millisecond

// openStartDelay leaves the connections time to be dialled before the
// first request is due.
const openStartDelay = 20 * time.Millisecond

// pacer hands out the due times of an open-loop run: request k is due at
// start + k/rate. One goroutine, on a thread of its own, releases each
// request at its due time into a queue that the idle connections take from:
// a Go timer or time.Sleep wakes up to a millisecond late on Linux (the
// runtime polls with millisecond timeouts), nanosleep(2) within tens of
// microseconds. A request no connection is free to take waits in the
// queue and is sent late, timed from its due time all the same.
type pacer struct {
	start, deadline time.Time
	interval        float64 // nanoseconds between two requests
	queue           chan time.Time
	slow            int64 // requests released more than lateSlack after their due time
}

func newPacer(start time.Time, d time.Duration, rate float64) *pacer {
	p := &pacer{start: start, deadline: start.Add(d), interval: float64(time.Second) / rate}
	p.queue = make(chan time.Time, min(p.scheduled(), 1<<20))
	return p
}

// due is when request k is due.
func (p *pacer) due(k int64) time.Time {
	return p.start.Add(time.Duration(float64(k) * p.interval))
}

// scheduled is the number of requests due before the deadline.
func (p *pacer) scheduled() int64 {
	n := int64(float64(p.deadline.Sub(p.start)) / p.interval)
	for p.due(n).Before(p.deadline) {
		n++
	}
	for n > 0 && !p.due(n-1).Before(p.deadline) {
		n--
	}
	return n
}

// release puts every request due before the deadline in the queue at its
// due time, then closes the queue. It returns early when ctx is done.
func (p *pacer) release(ctx context.Context) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	defer close(p.queue)
	n := p.scheduled()
	for k := range n {
		at := p.due(k)
		if !sleepUntil(ctx, at) {
			return
		}
		if time.Since(at) > lateSlack {
			p.slow++
		}
		select {
		case p.queue <- at:
		case <-ctx.Done():
			return
		}
	}
}

// take returns the due time of the next request, and false when the run is
// over: every request released, or the deadline passed. In the latter case
// the request taken is not sent: the caller counts it with unsent, as it
// does what is left in the queue.
func (p *pacer) take() (time.Time, bool) {
	at, ok := <-p.queue
	return at, ok && time.Now().Before(p.deadline)
}

// unsent drains the queue once the connections are done: each request left
// is late, with a latency of at least the deadline minus its due time,
// recorded as such (a lower bound, as it was never answered).
func (p *pacer) unsent(h *histogram) (n int64) {
	for at := range p.queue {
		p.missed(h, at)
		n++
	}
	return n
}

// missed records a request due at at and never sent.
func (p *pacer) missed(h *histogram, at time.Time) {
	h.record(p.deadline.Sub(at))
}

// sleepUntil waits for t with nanosleep(2), precise to tens of
// microseconds; false when ctx is done first.
func sleepUntil(ctx context.Context, t time.Time) bool {
	for ctx.Err() == nil {
		d := time.Until(t)
		if d <= 0 {
			return true
		}
		ts := syscall.NsecToTimespec(int64(min(d, 10*time.Millisecond)))
		_ = syscall.Nanosleep(&ts, nil) // EINTR: the loop sleeps again
	}
	return false
}

func (g goLoad) run(ctx context.Context, t *target, d time.Duration, conns int) (loadResult, error) {
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
	var pace *pacer
	if g.rate > 0 {
		start = start.Add(openStartDelay)
		pace = newPacer(start, d, g.rate)
	}
	deadline := start.Add(d)
	var wg sync.WaitGroup
	if pace != nil {
		wg.Go(func() { pace.release(ctx) })
	}
	for i := range workers {
		w := &workers[i]
		w.pace = pace
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
		res.late += w.late
		h.merge(&w.hist)
		if firstErr == nil {
			firstErr = w.err
		}
	}
	if res.requests == 0 {
		return res, fmt.Errorf("no response from %s: %v", t.url, firstErr)
	}
	if pace != nil {
		res.rate = g.rate
		res.scheduled = pace.scheduled()
		res.late += pace.unsent(&h)
		res.slow = pace.slow
	}
	res.rps = float64(res.requests) / elapsed.Seconds()
	res.p50, res.p99, res.p999 = h.quantile(0.50), h.quantile(0.99), h.quantile(0.999)
	return res, nil
}

// worker is one connection of the Go load generator.
type worker struct {
	hist     histogram
	requests int64
	errors   int64
	late     int64  // open loop: requests sent more than lateSlack after their due time
	pace     *pacer // nil for a closed loop
	over     bool   // open loop: no more requests to send
	err      error  // the first socket error, to explain a run without responses
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
		w.send(ctx, conn, br, req, deadline)
		stop()
		conn.Close()
		if w.over {
			return
		}
	}
}

// send sends requests on conn until the deadline or until the
// connection cannot carry more. Latency is counted from t0: the time of
// sending in a closed loop, the due time in an open one.
func (w *worker) send(ctx context.Context, conn net.Conn, br *bufio.Reader, req []byte, deadline time.Time) {
	for {
		t0 := time.Now()
		if w.pace != nil {
			due, ok := w.pace.take()
			if !ok {
				if !due.IsZero() { // taken after the deadline
					w.pace.missed(&w.hist, due)
					w.late++
				}
				w.over = true
				return
			}
			if time.Since(due) > lateSlack {
				w.late++
			}
			t0 = due
		} else if !t0.Before(deadline) {
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
