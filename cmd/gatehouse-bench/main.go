// Command gatehouse-bench measures what Gatehouse costs on the request path.
//
// In one run it sends the same load, in interleaved rounds, to an upstream
// reached directly, to a bare httputil.ReverseProxy, to nginx (when
// installed) and to Gatehouse with no auth, with JWT checks, and with JWT,
// scopes and a rate limit. Every server runs in its own process so that the
// CPU each one spends per request can be read from /proc, and so that none
// of them shares a Go runtime with the load generator.
//
//	go run ./cmd/gatehouse-bench [--duration 5s] [--rounds 3] [--conns 64]
//	    [--only direct,reverseproxy,...] [--loadgen auto|wrk|go] [--warmup 1s]
//	    [--rate N]
//
// By default the load is a closed loop, which saturates every target: good
// for throughput, not for latency. --rate N sends N requests per second
// instead (an open loop, timed from each request's due time), to measure
// the latency a proxy adds below saturation.
//
// The hidden subcommands "upstream" and "reverseproxy" are how the tool
// re-executes itself to run those two servers.
//
// Exit status: 0 when the measurement ran, even if targets are missed; 1 when
// a requested target could not be set up; 2 for a bad command line.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	// After the first signal, a second one kills the tool at once; the
	// servers it started still die with it (see Pdeathsig in proc.go).
	context.AfterFunc(ctx, stop)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
