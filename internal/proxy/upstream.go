package proxy

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gatehouse/gatehouse"
)

// errNoTarget is returned by a pool when every target is out of rotation.
var errNoTarget = errors.New("proxy: no healthy upstream target")

// poolKey identifies a pool across reloads: an API keeps its pool, with the
// health state and idle connections, while its upstream does not change.
type poolKey struct {
	api     string
	targets string
	policy  policy
}

func keyOf(ca *compiledAPI) poolKey {
	return poolKey{api: ca.api.Name, targets: strings.Join(ca.api.Upstream.Targets, "\n"), policy: ca.policy}
}

// target is one upstream base URL and its live state.
type target struct {
	url     *url.URL
	healthy atomic.Bool
	active  atomic.Int64 // requests in flight, for least_conn
	checked atomic.Int64 // UnixNano of the last health probe, 0 if none
}

// pool sends one API's requests to its targets. It is the Transport of the
// API's ReverseProxy, so that choosing a target, and choosing another one
// after a connection failure, happens per attempt rather than once in
// Rewrite.
type pool struct {
	name    string
	key     poolKey
	policy  policy
	targets []*target
	rt      http.RoundTripper
	owned   *http.Transport // the transport the pool built, nil for Gateway.Transport
	proxy   *httputil.ReverseProxy
	log     *slog.Logger
	now     func() time.Time
	next    atomic.Uint64

	stop context.CancelFunc // ends the health checks; nil when none run
	done chan struct{}      // closed when the health checks have ended
}

func newPool(g *Gateway, ca *compiledAPI) *pool {
	p := &pool{
		name:   ca.api.Name,
		key:    keyOf(ca),
		policy: ca.policy,
		log:    g.logger().With("api", ca.api.Name),
		now:    g.now,
	}
	for _, u := range ca.targets {
		t := &target{url: u}
		t.healthy.Store(true) // serve at once; the first probe runs now
		p.targets = append(p.targets, t)
	}
	if g.Transport != nil {
		p.rt = g.Transport
	} else {
		p.owned = g.newTransport(p.policy)
		p.rt = p.owned
	}
	p.proxy = g.newReverseProxy(p)
	return p
}

// newTransport builds the transport of one upstream from the policy. It
// does not use the environment's HTTP_PROXY: upstream traffic goes where
// the config says and nowhere else.
func (g *Gateway) newTransport(pol policy) *http.Transport {
	d := &net.Dialer{Timeout: pol.connectTimeout, KeepAlive: 30 * time.Second}
	return &http.Transport{
		DialContext:       d.DialContext,
		ForceAttemptHTTP2: true,
		// A proxy passes Accept-Encoding through as the client sent it.
		// Without this the transport would ask for gzip on behalf of a
		// client that did not, and unzip the answer: CPU on both sides,
		// and a response that is not the upstream's.
		DisableCompression: true,
		// The defaults (2 idle connections per host) suit a browser, not a
		// gateway sending everything to a handful of hosts.
		MaxIdleConns:          1024,
		MaxIdleConnsPerHost:   1024,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   pol.connectTimeout,
		ExpectContinueTimeout: time.Second,
		ResponseHeaderTimeout: pol.readTimeout,
		TLSClientConfig:       g.TLSClientConfig.Clone(),
	}
}

// RoundTrip sends req to a target, and after a connection failure retries
// idempotent requests on other targets. Only failures to connect are
// retried: then the upstream has certainly not seen the request. A request
// is retried only if its method is idempotent (RFC 9110 section 9.2.2) and
// its body can be sent again; the gateway does not buffer bodies to make
// that possible.
func (p *pool) RoundTrip(req *http.Request) (*http.Response, error) {
	attempts := 1
	if replayable(req) {
		attempts += p.policy.retries
	}
	// The pool is the Transport of its API's ReverseProxy only, which
	// serveProxy reaches with the request's info in the context.
	info := infoFrom(req.Context())
	if info == nil {
		return nil, errors.New("proxy: upstream request outside the gateway")
	}
	in := *req.URL // the path and query as rewrite left them
	var triedBuf [4]int
	tried := triedBuf[:0]
	var lastErr error
	for n := range attempts {
		i := p.pick(tried)
		if i < 0 {
			break
		}
		tried = append(tried, i)
		t := p.targets[i]
		t.active.Add(1)
		// req is the ReverseProxy's own outgoing request, made for this
		// exchange: the first attempt points it at its target in place. A
		// retry sends a copy, since the transport may still hold the
		// request of a failed attempt.
		out := req
		if n == 0 {
			setTarget(req.URL, &in, t.url)
		} else {
			out = withTarget(req, &in, t.url)
		}
		res, err := p.rt.RoundTrip(out)
		if err == nil {
			// In flight until the handler returns (serveProxy), by which
			// time ReverseProxy has copied and closed the body.
			info.target = t
			return res, nil
		}
		t.active.Add(-1)
		lastErr = err
		if !isConnectError(err) || req.Context().Err() != nil {
			break
		}
		p.log.Warn("upstream connection failed", "target", t.url.Redacted(), "request_id", RequestIDFrom(req.Context()), "err", err)
	}
	if lastErr == nil {
		return nil, errNoTarget
	}
	return nil, lastErr
}

// pick returns the index of the next target, skipping those out of rotation
// and those already tried, or -1. Round robin takes the next in turn; least
// connections the one with the fewest requests in flight, starting the scan
// at the round-robin position so that ties are spread.
func (p *pool) pick(tried []int) int {
	n := len(p.targets)
	if n == 0 {
		return -1
	}
	start := int((p.next.Add(1) - 1) % uint64(n))
	best := -1
	for k := range n {
		i := (start + k) % n
		t := p.targets[i]
		if !t.healthy.Load() || contains(tried, i) {
			continue
		}
		if p.policy.balance != gatehouse.BalanceLeastConn {
			return i
		}
		if best < 0 || t.active.Load() < p.targets[best].active.Load() {
			best = i
		}
	}
	return best
}

func contains(s []int, v int) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

func replayable(req *http.Request) bool {
	switch req.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodPut, http.MethodDelete:
	default:
		return false
	}
	return req.Body == nil || req.Body == http.NoBody || req.GetBody != nil
}

// isConnectError reports whether err is a failure to connect, which
// http.Transport returns as the dialer's *net.OpError.
func isConnectError(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial"
}

// setTarget points u at base: its scheme and host, and its path joined
// before in's, as httputil.ProxyRequest.SetURL does. The Host header follows
// the target (rewrite cleared it); the original is in X-Forwarded-Host.
// Nothing of an absolute-form request-target (user info, fragment) is kept.
func setTarget(u, in, base *url.URL) {
	*u = url.URL{Scheme: base.Scheme, Host: base.Host, RawQuery: in.RawQuery}
	u.Path, u.RawPath = joinURLPath(base, in)
}

// withTarget returns a copy of req sent to base, with the path and query
// of in (see setTarget).
func withTarget(req *http.Request, in, base *url.URL) *http.Request {
	a := &attempt{req: *req}
	setTarget(&a.url, in, base)
	a.req.URL = &a.url
	return &a.req
}

// attempt holds one attempt's request and URL in a single allocation.
type attempt struct {
	req http.Request
	url url.URL
}

// joinURLPath is httputil's unexported helper of the same name.
func joinURLPath(a, b *url.URL) (path, rawpath string) {
	if a.Path == "" || a.Path == "/" {
		return b.Path, b.RawPath
	}
	if a.RawPath == "" && b.RawPath == "" {
		return singleJoiningSlash(a.Path, b.Path), ""
	}
	apath, bpath := a.EscapedPath(), b.EscapedPath()
	aslash, bslash := strings.HasSuffix(apath, "/"), strings.HasPrefix(bpath, "/")
	switch {
	case aslash && bslash:
		return a.Path + b.Path[1:], apath + bpath[1:]
	case !aslash && !bslash:
		return a.Path + "/" + b.Path, apath + "/" + bpath
	}
	return a.Path + b.Path, apath + bpath
}

func singleJoiningSlash(a, b string) string {
	aslash, bslash := strings.HasSuffix(a, "/"), strings.HasPrefix(b, "/")
	switch {
	case aslash && bslash:
		return a + b[1:]
	case !aslash && !bslash:
		return a + "/" + b
	}
	return a + b
}

// startHealth runs the active health checks, if the policy asks for them,
// until close. The pool owns the goroutine; the Gateway owns the pool.
func (p *pool) startHealth() {
	if p.policy.healthPath == "" || len(p.targets) == 0 {
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	p.stop, p.done = cancel, make(chan struct{})
	go func() {
		defer close(p.done)
		tick := time.NewTicker(p.policy.healthInterval)
		defer tick.Stop()
		for {
			p.probeAll(ctx)
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
		}
	}()
}

// probeAll probes every target at once, so that one slow target does not
// delay the verdict on the others.
func (p *pool) probeAll(ctx context.Context) {
	var wg sync.WaitGroup
	for _, t := range p.targets {
		wg.Go(func() { p.probe(ctx, t) })
	}
	wg.Wait()
}

// probe GETs the health path of t. A target passes with a 2xx or 3xx
// answer within the interval; it leaves the rotation at the first failure
// and returns at the first pass: the interval is the damping.
func (p *pool) probe(ctx context.Context, t *target) {
	ctx, cancel := context.WithTimeout(ctx, p.policy.healthInterval)
	defer cancel()
	u := &url.URL{Scheme: t.url.Scheme, Host: t.url.Host, Path: p.policy.healthPath}
	u.Path, u.RawPath = joinURLPath(t.url, u)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		p.setHealth(t, false, err)
		return
	}
	req.Header.Set("User-Agent", "gatehouse-health-check")
	res, err := p.rt.RoundTrip(req)
	if ctx.Err() != nil && errors.Is(ctx.Err(), context.Canceled) {
		if res != nil {
			res.Body.Close()
		}
		return // the pool is closing: no verdict
	}
	if err != nil {
		p.setHealth(t, false, err)
		return
	}
	_, _ = io.CopyN(io.Discard, res.Body, 4<<10)
	res.Body.Close()
	if res.StatusCode < 200 || res.StatusCode > 399 {
		p.setHealth(t, false, errors.New(res.Status))
		return
	}
	p.setHealth(t, true, nil)
}

func (p *pool) setHealth(t *target, ok bool, err error) {
	t.checked.Store(p.now().UnixNano())
	if t.healthy.Swap(ok) == ok {
		return
	}
	if ok {
		p.log.Info("upstream target back in rotation", "target", t.url.Redacted())
	} else {
		p.log.Warn("upstream target out of rotation", "target", t.url.Redacted(), "err", err)
	}
}

// close stops the health checks and waits for them to end. Requests in
// flight keep their connections; idle ones are closed.
func (p *pool) close() {
	if p.stop != nil {
		p.stop()
		<-p.done
	}
	if p.owned != nil {
		p.owned.CloseIdleConnections()
	}
}

// TargetStatus is the live state of one upstream target, for readiness
// checks and the admin surface.
type TargetStatus struct {
	API       string
	Target    string // base URL
	Healthy   bool   // in rotation
	Active    int64  // requests in flight
	CheckedAt time.Time
}

// Targets returns the state of every target of the loaded table, in table
// order.
func (g *Gateway) Targets() []TargetStatus {
	s := g.snap.Load()
	if s == nil {
		return nil
	}
	var out []TargetStatus
	for _, p := range s.pools {
		for _, t := range p.targets {
			st := TargetStatus{API: p.name, Target: t.url.String(), Healthy: t.healthy.Load(), Active: t.active.Load()}
			if ns := t.checked.Load(); ns != 0 {
				st.CheckedAt = time.Unix(0, ns)
			}
			out = append(out, st)
		}
	}
	return out
}
