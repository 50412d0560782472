package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"sync"
	"time"
)

// upstreamBody is what the upstream answers to every request: small, so that
// the benchmark measures the proxies rather than copying bytes.
var upstreamBody = []byte("hello from the gatehouse-bench upstream\n")

// headerUpstreamPath carries the path the upstream saw, so that the
// pre-flight check can prove that a proxy forwarded the full path.
const headerUpstreamPath = "X-Upstream-Path"

// upstreamHandler answers every request with upstreamBody.
func upstreamHandler() http.Handler {
	contentType := []string{"text/plain; charset=utf-8"}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h["Content-Type"] = contentType
		h[headerUpstreamPath] = []string{r.URL.Path}
		_, _ = w.Write(upstreamBody)
	})
}

// newReverseProxy is the bare proxy: httputil.ReverseProxy with no checks,
// and with the two settings any Go proxy in production has, so that it is a
// ceiling and not a straw man. Its transport keeps as many idle connections
// to the upstream as the load generator holds to it: with the default of 2
// per host, most requests would open a new connection. And a buffer pool
// lends it the 32 KiB copy buffer it would otherwise allocate per response
// (about a third of its CPU per request on the reference machine).
func newReverseProxy(target *url.URL) *httputil.ReverseProxy {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConns = 1024
	tr.MaxIdleConnsPerHost = 1024
	return &httputil.ReverseProxy{
		Rewrite:    func(pr *httputil.ProxyRequest) { pr.SetURL(target) },
		Transport:  tr,
		BufferPool: &bufferPool{},
	}
}

type bufferPool struct{ p sync.Pool }

func (b *bufferPool) Get() []byte {
	if v, ok := b.p.Get().(*[]byte); ok {
		return *v
	}
	return make([]byte, 32<<10)
}

func (b *bufferPool) Put(buf []byte) { b.p.Put(&buf) }

var _ httputil.BufferPool = (*bufferPool)(nil)

// serveUpstream is the hidden "upstream --addr ADDR" subcommand.
func serveUpstream(ctx context.Context, args []string, stderr io.Writer) int {
	fs := flag.NewFlagSet("upstream", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", "127.0.0.1:0", "listen `address`")
	if err := fs.Parse(args); err != nil {
		return exitUsage
	}
	return serve(ctx, *addr, upstreamHandler(), stderr)
}

// serveReverseProxy is the hidden "reverseproxy --addr ADDR --upstream URL"
// subcommand.
func serveReverseProxy(ctx context.Context, args []string, stderr io.Writer) int {
	fs := flag.NewFlagSet("reverseproxy", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", "127.0.0.1:0", "listen `address`")
	upstream := fs.String("upstream", "", "upstream base `URL`")
	if err := fs.Parse(args); err != nil {
		return exitUsage
	}
	target, err := url.Parse(*upstream)
	if err != nil || target.Scheme == "" || target.Host == "" {
		fmt.Fprintf(stderr, "reverseproxy: --upstream %q: expected an absolute URL\n", *upstream)
		return exitUsage
	}
	return serve(ctx, *addr, newReverseProxy(target), stderr)
}

// serve runs h on addr until ctx ends.
func serve(ctx context.Context, addr string, h http.Handler, stderr io.Writer) int {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return exitSetup
	}
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          log.New(stderr, "", log.LstdFlags),
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		fmt.Fprintln(stderr, err)
		return exitSetup
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		fmt.Fprintln(stderr, err)
	}
	<-errc
	return exitOK
}
