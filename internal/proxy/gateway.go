// Package proxy is Gatehouse's data plane: it routes requests to the APIs'
// upstreams through httputil.ReverseProxy.
//
// A Table is an immutable routing snapshot compiled from the APIs; a
// Gateway serves from the Table last given to Load, swapped atomically. Edge
// checks (tokens, rate limits, IP lists) are middleware of type
// func(http.Handler) http.Handler that run after routing and before
// proxying; they find the route, the request id and the client address in
// the request context (RequestFrom), leave the verified claims there for
// the later ones (SetClaims) and answer refusals with WriteError.
package proxy

import (
	"context"
	"crypto/tls"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"log/slog"
	"maps"
	"math/rand/v2"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gatehouse/gatehouse"
)

// DefaultMaxBodyBytes is the request body cap when Gateway.MaxBodyBytes is 0.
const DefaultMaxBodyBytes = 10 << 20

// DefaultBodyIdleTimeout is how long one read of a request body may wait for
// the client when Gateway.BodyIdleTimeout is 0.
const DefaultBodyIdleTimeout = 30 * time.Second

// Gateway is the data plane's http.Handler. Its exported fields are options
// whose zero value is the documented default; set them before the first
// Load and do not change them afterwards. The header size limit is the
// http.Server's (MaxHeaderBytes), not the Gateway's.
//
// A Gateway that has been loaded runs health checks in the background:
// Close it when the server has shut down.
type Gateway struct {
	// TrustedProxies are the networks of our own load balancers and
	// proxies. Only a peer in them may tell the client's address (in
	// X-Forwarded-For or Forwarded), pass on X-Forwarded-* and choose the
	// request id. None by default: the TCP peer is the client.
	TrustedProxies []netip.Prefix
	// UseForwardedHeader reads the client address, scheme and host from
	// the RFC 7239 Forwarded header of trusted proxies instead of
	// X-Forwarded-For, -Proto and -Host (config
	// gateway.trusted_proxies_header: forwarded). Only one kind is read: a
	// proxy that sets one usually passes the other through from the client
	// untouched, so reading both would let the client choose.
	UseForwardedHeader bool
	// MaxBodyBytes caps request bodies; a larger one gets 413. Zero means
	// DefaultMaxBodyBytes, negative no cap.
	MaxBodyBytes int64
	// BodyIdleTimeout bounds how long one read of a request body may wait
	// for the client; a stalled upload then fails and the connection
	// closes. Zero means DefaultBodyIdleTimeout.
	BodyIdleTimeout time.Duration
	// Transport, when set, sends every upstream request (tests, special
	// dialing). By default each API gets its own http.Transport with the
	// connect timeout (dialer and TLS handshake) and response header
	// timeout of its UpstreamPolicy; a custom Transport is responsible for
	// its own timeouts.
	Transport http.RoundTripper
	// TLSClientConfig is used for https targets by the default transports
	// (custom roots, client certificates). Nil means Go's defaults.
	TLSClientConfig *tls.Config
	// Logger receives upstream failures and health changes. Nil means
	// slog.Default().
	Logger *slog.Logger
	// Now is the clock for health check times. Nil means time.Now.
	Now func() time.Time
	// Middleware runs after routing and before proxying, Middleware[0]
	// first. Each sees the route in the request context.
	Middleware []func(http.Handler) http.Handler
	// UpstreamHeaders, when set, is called with the request as the
	// middleware left it (its context holds what they found, such as the
	// token's claims) and the upstream request's headers, after the client's
	// credentials were removed and the forwarding headers set: the place to
	// add identity headers or a minted token.
	UpstreamHeaders func(r *http.Request, out http.Header)
	// WatchResponse, when set, is shown each upstream response before it is
	// passed on; res.Request's context is the request's as the middleware
	// left it. It must not read the body. The function it returns, if any,
	// is called when the request's handler returns, whether the response
	// was copied whole or broke off; until then res.Body may be closed from
	// another goroutine to end the exchange (a stream whose credential was
	// revoked): ReverseProxy then aborts the response and both connections
	// close.
	WatchResponse func(res *http.Response) (end func())

	mu     sync.Mutex // serialises Load and Close
	snap   atomic.Pointer[snapshot]
	chain  http.Handler // Middleware around the proxy, built once
	closed bool
}

// snapshot is what a request is served with: a table and the pools of its
// APIs (by index in the table).
type snapshot struct {
	table   *Table
	pools   []*pool
	handler http.Handler
}

// Load makes t the routing table of new requests; requests in flight finish
// with the table they started with. Upstreams whose name, targets and
// policy did not change keep their pool (health state, connections); new
// ones start their health checks and those no longer in t are stopped.
// Load(nil) unloads: every request then gets 503.
func (g *Gateway) Load(t *Table) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.chain == nil {
		g.chain = g.buildChain()
	}
	old := map[poolKey]*pool{}
	if s := g.snap.Load(); s != nil {
		for _, p := range s.pools {
			old[p.key] = p
		}
	}
	var next *snapshot
	if t != nil {
		next = &snapshot{table: t, handler: g.chain, pools: make([]*pool, len(t.apis))}
		for i := range t.apis {
			k := keyOf(&t.apis[i])
			p := old[k]
			if p != nil {
				delete(old, k)
			} else {
				p = newPool(g, &t.apis[i])
				if !g.closed {
					p.startHealth()
				}
			}
			next.pools[i] = p
		}
	}
	g.snap.Store(next)
	for _, p := range old {
		p.close()
	}
}

// Close stops the health checks and closes idle upstream connections. The
// Gateway still serves with the table it has, without health checks; Close
// is for after the server has shut down.
func (g *Gateway) Close() error {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.closed = true
	if s := g.snap.Load(); s != nil {
		for _, p := range s.pools {
			p.close()
		}
	}
	return nil
}

// buildChain folds the middleware around the proxy, Middleware[0]
// outermost, like caddy's RouteList.Compile.
func (g *Gateway) buildChain() http.Handler {
	var h http.Handler = http.HandlerFunc(serveProxy)
	for i := len(g.Middleware) - 1; i >= 0; i-- {
		h = g.Middleware[i](h)
	}
	return h
}

// serveProxy is the end of the chain: the matched API's ReverseProxy.
func serveProxy(w http.ResponseWriter, r *http.Request) {
	info := infoFrom(r.Context())
	if info == nil || info.pool == nil {
		// A middleware replaced the context instead of deriving from it.
		writeError(w, "", http.StatusInternalServerError, "internal", "internal error")
		return
	}
	// Deferred: ReverseProxy panics with http.ErrAbortHandler when a
	// response breaks off mid-body.
	defer info.done()
	// A response without Content-Type stays without one: net/http would
	// otherwise sniff the body and add its guess (RFC 9110 section 8.3
	// leaves sniffing to the recipient, not to a proxy on the way). The
	// upstream's own Content-Type is appended to this empty entry.
	h := w.Header()
	if h["Content-Type"] == nil {
		h["Content-Type"] = nil
	}
	info.saveHeader(h)
	info.pool.proxy.ServeHTTP(w, r)
}

// headerEntry is one header of the client's response, kept by saveHeader.
type headerEntry struct {
	k string
	v []string
}

// saveHeader remembers what the gateway put in the client's response
// header (request id, lifecycle and rate-limit headers, the empty
// Content-Type) before the upstream exchange. ReverseProxy sends it with
// each 1xx interim response and then clears the map, which would leave the
// final response without it; restoreHeader puts it back. The entries are
// kept in the request's info: no allocation for the usual handful.
func (info *requestInfo) saveHeader(h http.Header) {
	info.hdr = h
	n := 0
	for k, v := range h {
		if n == len(info.saved) {
			info.savedAll = h.Clone()
			return
		}
		info.saved[n] = headerEntry{k, v}
		n++
	}
	info.nsaved = n
}

// restoreHeader puts back what saveHeader kept, if a 1xx response cleared
// the header since.
func (info *requestInfo) restoreHeader() {
	h := info.hdr
	if h == nil || len(h) != 0 {
		return
	}
	if info.savedAll != nil {
		maps.Copy(h, info.savedAll)
		return
	}
	for _, e := range info.saved[:info.nsaved] {
		h[e.k] = e.v
	}
}

// done ends the request's time in flight at its target (least_conn) and
// its watch (WatchResponse).
func (info *requestInfo) done() {
	if t := info.target; t != nil {
		info.target = nil
		t.active.Add(-1)
	}
	if end := info.end; end != nil {
		info.end = nil
		end()
	}
}

// ServeHTTP routes and proxies one request:
//  1. request id: X-Request-Id from a trusted proxy, else a new random one;
//     sent back to the client and on to the upstream;
//  2. client address (see TrustedProxies);
//  3. the path is checked (checkPath: 400 rather than normalised) and
//     matched: 404, or 405 with Allow;
//  4. lifecycle: a draft is absent (Compile leaves it out); a retired API
//     answers 410; a deprecated one is served with Deprecation (RFC 9745)
//     and, when it has a date, Sunset (RFC 8594);
//  5. the body cap (413), the middleware, then the upstream.
func (g *Gateway) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	info := &requestInfo{}
	info.resolveClient(r, g.TrustedProxies, g.UseForwardedHeader)
	info.id = requestID(r.Header, info.trusted)
	info.vals[0] = info.id
	wh := w.Header()
	wh["X-Request-Id"] = info.vals[0:1:1]

	s := g.snap.Load()
	if s == nil {
		writeError(w, info.id, http.StatusServiceUnavailable, "unavailable", "the gateway has no routes loaded")
		return
	}
	if msg := checkMethodAndUpgrade(r); msg != "" {
		writeError(w, info.id, http.StatusBadRequest, "bad_request", msg)
		return
	}
	path, ok := checkPath(r.URL)
	if !ok {
		writeError(w, info.id, http.StatusBadRequest, "bad_request",
			"the request path must not contain empty or dot segments, encoded slashes, backslashes or control characters")
		return
	}
	m, ok := s.table.Match(r.Host, r.Method, path)
	if !ok {
		if allow := s.table.Allowed(r.Host, path); len(allow) > 0 {
			wh["Allow"] = []string{strings.Join(allow, ", ")}
			writeError(w, info.id, http.StatusMethodNotAllowed, "method_not_allowed", "the route does not allow this method")
			return
		}
		writeError(w, info.id, http.StatusNotFound, "not_found", "no route matches this request")
		return
	}
	info.match, info.pool = m, s.pools[m.api]
	switch m.API.Lifecycle {
	case gatehouse.LifecycleRetired:
		writeError(w, info.id, http.StatusGone, "gone", "this API was retired")
		return
	case gatehouse.LifecycleDeprecated:
		// RFC 9745: when the API was deprecated, as @epoch-seconds; RFC 8594
		// Sunset: when it goes away.
		wh["Deprecation"] = []string{s.table.apis[m.api].deprecation}
		if sunset := s.table.apis[m.api].sunset; sunset != "" {
			wh["Sunset"] = []string{sunset}
		}
	}

	limit := g.MaxBodyBytes
	if limit == 0 {
		limit = DefaultMaxBodyBytes
	}
	if limit > 0 && r.ContentLength > limit {
		writeError(w, info.id, http.StatusRequestEntityTooLarge, "request_too_large", "the request body is too large")
		return
	}
	r = r.WithContext(context.WithValue(r.Context(), infoKey{}, info))
	if r.Body != nil && r.Body != http.NoBody {
		idle := g.BodyIdleTimeout
		if idle == 0 {
			idle = DefaultBodyIdleTimeout
		}
		body := r.Body
		if limit > 0 {
			// The server's own writer, under any wrapper: only it can
			// close the connection after the 413 (the rest of the body
			// is never read).
			body = http.MaxBytesReader(serverWriter(w), body, limit)
		}
		r.Body = &limitedBody{ReadCloser: body, info: info, rc: http.NewResponseController(w), idle: idle}
	}
	s.handler.ServeHTTP(w, r)
}

// serverWriter returns the writer under w's wrappers (those that say so
// with Unwrap, as http.ResponseController expects).
func serverWriter(w http.ResponseWriter) http.ResponseWriter {
	for range 32 { // a wrapper that unwraps to itself must not loop forever
		u, ok := w.(interface{ Unwrap() http.ResponseWriter })
		if !ok {
			return w
		}
		w = u.Unwrap()
	}
	return w
}

// requestInfo is what the gateway learned about a request before the
// middleware runs. It is reached through the request context.
type requestInfo struct {
	id           string
	peer         netip.Addr // the TCP peer
	client       netip.Addr // the resolved client
	trusted      bool       // peer is a trusted proxy
	useForwarded bool       // trusted proxies speak RFC 7239 Forwarded
	// fwd is the Forwarded element that named the client (useForwarded,
	// trusted peer): its proto and host are what the client used.
	fwd    forwardedElement
	match  *Match
	pool   *pool
	target *target                 // the target that answered, in flight until serveProxy returns
	end    func()                  // from WatchResponse
	claims *gatehouse.AccessClaims // from SetClaims
	// vals backs the values of the headers the gateway sets on every
	// request (the request id, the forwarding headers), so that they cost
	// no allocation of their own. Each is handed out with its capacity
	// capped, so that an append elsewhere copies instead of overwriting.
	vals [1 + forwardingHeaders]string
	// The client's response header before the upstream exchange, to put
	// back after a 1xx (saveHeader).
	hdr          http.Header
	saved        [6]headerEntry
	nsaved       int
	savedAll     http.Header // when more than fit in saved
	bodyTooLarge atomic.Bool
	bodyFailed   atomic.Int32 // bodyMalformed or bodyStalled
}

type infoKey struct{}

func infoFrom(ctx context.Context) *requestInfo {
	info, _ := ctx.Value(infoKey{}).(*requestInfo)
	return info
}

// Request is what the gateway learned about a request before its
// middleware ran.
type Request struct {
	Match      *Match
	ID         string     // the request id
	ClientAddr netip.Addr // see Gateway.TrustedProxies
	// Trusted reports whether the TCP peer is one of the trusted proxies,
	// whose X-Forwarded-* headers may be believed.
	Trusted bool
	// Claims are what a middleware recorded with SetClaims: the verified
	// claims of the request's credential, or nil.
	Claims *gatehouse.AccessClaims
}

// RequestFrom returns what the gateway learned about the request, in one
// context lookup; false outside the gateway's middleware chain.
func RequestFrom(ctx context.Context) (Request, bool) {
	info := infoFrom(ctx)
	if info == nil || info.match == nil {
		return Request{}, false
	}
	return Request{Match: info.match, ID: info.id, ClientAddr: info.client, Trusted: info.trusted, Claims: info.claims}, true
}

// SetClaims records the verified claims of the request's credential for the
// middleware after the caller and UpstreamHeaders (Request.Claims). They
// are kept in what the gateway already holds for the request, so passing
// them on costs no copy of the request. It reports false outside the
// gateway's middleware chain.
func SetClaims(ctx context.Context, c *gatehouse.AccessClaims) bool {
	info := infoFrom(ctx)
	if info == nil || info.match == nil {
		return false
	}
	info.claims = c
	return true
}

// RequestIDFrom returns the request's id, or "".
func RequestIDFrom(ctx context.Context) string {
	if info := infoFrom(ctx); info != nil {
		return info.id
	}
	return ""
}

// resolveClient sets who sent r: the TCP peer, whether it is a trusted
// proxy, and the client, which from a trusted proxy is the one its
// forwarding header names (with the Forwarded element that named it when
// its proxies speak RFC 7239).
func (info *requestInfo) resolveClient(r *http.Request, trusted []netip.Prefix, useForwarded bool) {
	info.peer, info.useForwarded = peerAddr(r.RemoteAddr), useForwarded
	info.trusted = info.peer.IsValid() && inPrefixes(info.peer, trusted)
	switch {
	case !info.trusted:
		info.client = info.peer
	case useForwarded:
		info.client, info.fwd = forwardedClient(info.peer, r.Header, trusted)
	default:
		info.client = xffClient(info.peer, r.Header, trusted)
	}
}

// SecureFrom reports whether the client reached Gatehouse over HTTPS: the
// connection is TLS, or the TCP peer is a trusted proxy that says the client
// used https (see origin). From any other peer those headers are ignored.
func SecureFrom(r *http.Request) bool {
	return secure(r, infoFrom(r.Context()))
}

// ExternalOrigin returns the scheme and host the client used for r, by the
// gateway's rules: the listener's scheme and the Host header, or what a
// trusted proxy says (see origin). A DPoP proof's htu names it.
func ExternalOrigin(r *http.Request) (scheme, host string) {
	return origin(r, infoFrom(r.Context()))
}

// ClientOf returns the address of the client that sent r and whether it
// reached Gatehouse over HTTPS, by the gateway's rules (TrustedProxies,
// UseForwardedHeader, SecureFrom), for handlers outside the gateway on the
// same listener: the OAuth endpoints. The address is invalid when a
// trusted proxy named a hop that cannot be read.
func ClientOf(r *http.Request, trusted []netip.Prefix, useForwarded bool) (addr netip.Addr, isSecure bool) {
	var info requestInfo
	info.resolveClient(r, trusted, useForwarded)
	return info.client, secure(r, &info)
}

// secure is SecureFrom for a request whose info is known.
func secure(r *http.Request, info *requestInfo) bool {
	if r.TLS != nil {
		return true
	}
	scheme, _ := origin(r, info)
	return scheme == "https"
}

// checkMethodAndUpgrade refuses what an upstream could read differently
// from the gateway. Methods are case-sensitive (RFC 9110 9.1) and routes
// name them in upper case, but many servers upper-case what they get, so
// "delete" would slip past a scope tied to DELETE. TRACE echoes the
// credentials the gateway adds and CONNECT opens a tunnel: neither is
// proxied. The only upgrade passed through is WebSocket on GET; an h2c
// upgrade would let later requests on the connection skip every check
// (RFC 9113 3.1 deprecates it).
func checkMethodAndUpgrade(r *http.Request) string {
	for i := 0; i < len(r.Method); i++ {
		if c := r.Method[i]; c >= 'a' && c <= 'z' {
			return "methods are case-sensitive and upper case (RFC 9110 section 9.1)"
		}
	}
	if r.Method == http.MethodTrace || r.Method == http.MethodConnect {
		return "TRACE and CONNECT are not proxied"
	}
	if up := r.Header["Upgrade"]; len(up) > 0 { // canonical name: no Values on every request
		if len(up) > 1 || !strings.EqualFold(strings.TrimSpace(up[0]), "websocket") || r.Method != http.MethodGet {
			return "only WebSocket upgrades on GET are proxied"
		}
	}
	return ""
}

// maxRequestIDLen bounds an incoming X-Request-Id; longer ones are replaced.
const maxRequestIDLen = 128

// requestID returns the X-Request-Id of a trusted proxy when it is short and
// made of safe characters (it ends up in logs and upstream headers), or a
// new random one: 128 bits, so that ids from many nodes do not collide.
func requestID(h http.Header, trusted bool) string {
	if trusted {
		if v := h["X-Request-Id"]; len(v) == 1 && validRequestID(v[0]) {
			return v[0]
		}
	}
	// Not a secret, only unique: math/rand/v2's global source (ChaCha8,
	// seeded by the runtime from the OS) is 128 random bits for a tenth of
	// crypto/rand's cost on this path.
	var b [16]byte
	binary.LittleEndian.PutUint64(b[:8], rand.Uint64())
	binary.LittleEndian.PutUint64(b[8:], rand.Uint64())
	return hex.EncodeToString(b[:])
}

func validRequestID(s string) bool {
	if s == "" || len(s) > maxRequestIDLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !isAlnum(c) && strings.IndexByte("-_.:+/=", c) < 0 {
			return false
		}
	}
	return true
}

// WriteError writes the gateway's JSON error for a request in the chain,
// with its request id. Middleware use it so that every refusal has the same
// shape; set any extra header (WWW-Authenticate, Retry-After) first. The
// message is shown to the client: it must not carry internal detail.
func WriteError(w http.ResponseWriter, r *http.Request, status int, code, message string) {
	writeError(w, RequestIDFrom(r.Context()), status, code, message)
}

func writeError(w http.ResponseWriter, id string, status int, code, message string) {
	noteRefusal(w, code)
	h := w.Header()
	h["Content-Type"] = []string{"application/json"}
	h["Cache-Control"] = []string{"no-store"}
	h["X-Content-Type-Options"] = []string{"nosniff"}
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(struct {
		Error     string `json:"error"`
		Message   string `json:"message"`
		RequestID string `json:"request_id,omitempty"`
	}{code, message, id})
}

func (g *Gateway) logger() *slog.Logger {
	if g.Logger != nil {
		return g.Logger
	}
	return slog.Default()
}

func (g *Gateway) now() time.Time {
	if g.Now != nil {
		return g.Now()
	}
	return time.Now()
}

var _ http.Handler = (*Gateway)(nil)
