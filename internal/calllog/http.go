package calllog

import (
	"bufio"
	"hash/maphash"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gatehouse/gatehouse"
)

// maxUserAgent caps the logged User-Agent.
const maxUserAgent = 256

// Route is what the router matched for a request.
type Route struct {
	API        *gatehouse.API
	Route      *gatehouse.Route
	RouteKey   string // the route's pattern and methods: a bounded label
	RequestID  string
	ClientAddr netip.Addr
}

// Recorder observes each request through the gateway: Wrap goes around the
// whole gateway, and Matched and Upstream are the first and the last
// middleware of its chain. The credential check tells the Exchange the
// verified claims (SetClaims) and every refusal its reason (SetRefusal).
// At the end of a request the Recorder hands one gatehouse.Call to Log,
// the credential's use to Usage and the request to Metrics; any of them
// may be nil.
type Recorder struct {
	Log     *Log
	Usage   *Tracker
	Metrics *Metrics
	// Info returns what the router matched (false outside its chain).
	Info func(r *http.Request) (Route, bool)
	Now  func() time.Time // the clock of Call.Time
	// Observe, when set, is called with every finished call, on the
	// request's goroutine (anomaly rules); it must be quick and must not
	// keep c.
	Observe func(c *gatehouse.Call)

	userAgents userAgents
}

// userAgents remembers how recent User-Agent values were logged. Redacting
// one with spaces in it (a browser's, most SDKs') costs microseconds, and
// a gateway sees the same few values over and over. The cache is keyed by
// a seeded hash, so it keeps no raw value (which might hold a secret), and
// is emptied when full.
type userAgents struct {
	mu sync.RWMutex
	m  map[uint64]string
}

// userAgentSeed keys the cache; random per process.
var userAgentSeed = maphash.MakeSeed()

// maxUserAgents bounds the cache; maxCachedUserAgent the values it takes.
const (
	maxUserAgents      = 1024
	maxCachedUserAgent = 512
)

// maxRedactedUserAgent is how much of a User-Agent is redacted before the
// cap: four times what is kept, so that replacing tokens by REDACTED never
// leaves the logged value short of what it would show uncut. Redaction
// costs about 10 to 15 ns per byte, so an 8 KiB User-Agent chosen to be
// dear (token prefixes, JWT-like runs) cost its request 70 to 126 µs; cut
// here it costs 9 to 16 µs (BenchmarkRedactLongUserAgent).
const maxRedactedUserAgent = 4 * maxUserAgent

// cutUserAgent returns the first maxRedactedUserAgent bytes of ua, ending
// at a separator so that no token is cut in two (its first part could
// escape the token tests, which want a whole token); a first part with no
// separator is REDACTED whole.
func cutUserAgent(ua string) string {
	if len(ua) <= maxRedactedUserAgent {
		return ua
	}
	cut := ua[:maxRedactedUserAgent]
	i := strings.LastIndexAny(cut, textSeparators)
	if i < 0 {
		return Redacted
	}
	return cut[:i]
}

// redact returns ua as logged: redacted (RedactText) and capped.
func (u *userAgents) redact(ua string) string {
	if ua == "" {
		return ""
	}
	if len(ua) > maxCachedUserAgent {
		return capString(RedactText(cutUserAgent(ua)), maxUserAgent)
	}
	k := maphash.String(userAgentSeed, ua)
	u.mu.RLock()
	v, ok := u.m[k]
	u.mu.RUnlock()
	if ok {
		return v
	}
	v = capString(RedactText(ua), maxUserAgent)
	u.mu.Lock()
	if u.m == nil || len(u.m) >= maxUserAgents {
		u.m = make(map[uint64]string)
	}
	u.m[k] = v
	u.mu.Unlock()
	return v
}

func (rec *Recorder) now() time.Time {
	if rec.Now != nil {
		return rec.Now()
	}
	return time.Now()
}

// Exchange is the ResponseWriter of a request the Recorder watches: it
// counts the bytes and notes the status, the timings and any refusal
// reason. Flush, Hijack, ReadFrom and Unwrap pass through, so streaming
// (SSE), WebSocket upgrades and http.ResponseController keep working.
type Exchange struct {
	w       http.ResponseWriter
	start   time.Time // monotonic
	at      time.Time // Recorder's clock
	status  int
	out     atomic.Int64 // written after a hijack from other goroutines
	in      atomic.Int64
	upStart time.Time // when the request went to the upstream
	upDone  time.Duration
	info    Route
	matched bool
	claims  *gatehouse.AccessClaims
	reason  string
	hijack  bool
	body    countingBody // the request body, counted (one allocation with the Exchange)
}

var _ http.ResponseWriter = (*Exchange)(nil)

func (e *Exchange) Header() http.Header { return e.w.Header() }

func (e *Exchange) WriteHeader(code int) {
	if e.status == 0 && (code >= 200 || code == http.StatusSwitchingProtocols) {
		e.status = code
		if !e.upStart.IsZero() && e.upDone == 0 {
			e.upDone = time.Since(e.upStart)
		}
	}
	e.w.WriteHeader(code)
}

func (e *Exchange) Write(p []byte) (int, error) {
	if e.status == 0 {
		e.WriteHeader(http.StatusOK)
	}
	n, err := e.w.Write(p)
	e.out.Add(int64(n))
	return n, err
}

// ReadFrom keeps the server's sendfile path for whoever uses io.Copy.
func (e *Exchange) ReadFrom(src io.Reader) (int64, error) {
	if e.status == 0 {
		e.WriteHeader(http.StatusOK)
	}
	var n int64
	var err error
	if rf, ok := e.w.(io.ReaderFrom); ok {
		n, err = rf.ReadFrom(src)
	} else {
		n, err = io.Copy(writerOnly{e.w}, src)
	}
	e.out.Add(n)
	return n, err
}

type writerOnly struct{ io.Writer }

func (e *Exchange) Flush() {
	_ = e.FlushError()
}

// FlushError is what http.ResponseController calls.
func (e *Exchange) FlushError() error {
	if e.status == 0 {
		e.WriteHeader(http.StatusOK)
	}
	return http.NewResponseController(e.w).Flush()
}

// Hijack hands over the connection (a WebSocket upgrade); the bytes that
// cross it afterwards are still counted.
func (e *Exchange) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	conn, brw, err := http.NewResponseController(e.w).Hijack()
	if err != nil {
		return nil, nil, err
	}
	if e.status == 0 {
		// The upgrade's 101 is written on the hijacked connection.
		e.status = http.StatusSwitchingProtocols
		if !e.upStart.IsZero() {
			e.upDone = time.Since(e.upStart)
		}
	}
	e.hijack = true
	return &countingConn{Conn: conn, e: e}, brw, nil
}

// Unwrap lets http.ResponseController reach the server's writer.
func (e *Exchange) Unwrap() http.ResponseWriter { return e.w }

// SetRefusal records why the gateway refused the request: the short code of
// its error answer. A later, more precise reason replaces it.
func (e *Exchange) SetRefusal(reason string) { e.reason = reason }

// SetClaims records the verified claims of the request's credential.
func (e *Exchange) SetClaims(c *gatehouse.AccessClaims) { e.claims = c }

type countingConn struct {
	net.Conn
	e *Exchange
}

func (c *countingConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.e.in.Add(int64(n))
	return n, err
}

func (c *countingConn) Write(p []byte) (int, error) {
	n, err := c.Conn.Write(p)
	c.e.out.Add(int64(n))
	return n, err
}

// countingBody counts the request body as it is read (by the transport,
// possibly on another goroutine).
type countingBody struct {
	io.ReadCloser
	e *Exchange
}

func (b *countingBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	b.e.in.Add(int64(n))
	return n, err
}

// Wrap is the outermost handler: it watches next (the gateway) serve the
// request and records it once next returns.
func (rec *Recorder) Wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		e := &Exchange{w: w, start: time.Now(), at: rec.now()}
		if r.Body != nil && r.Body != http.NoBody {
			e.body = countingBody{ReadCloser: r.Body, e: e}
			r.Body = &e.body
		}
		next.ServeHTTP(e, r)
		rec.finish(e, r)
	})
}

// Matched is the first middleware of the gateway's chain: it notes the
// route.
func (rec *Recorder) Matched(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if e := exchangeOf(w); e != nil {
			e.info, e.matched = rec.Info(r)
		}
		next.ServeHTTP(w, r)
	})
}

// Upstream is the last middleware: what passes it goes to the upstream.
func (rec *Recorder) Upstream(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if e := exchangeOf(w); e != nil {
			e.upStart = time.Now()
		}
		next.ServeHTTP(w, r)
	})
}

// exchangeOf finds the Exchange under w, through writers that wrap it
// (the gateway's stream watch) and say so with Unwrap.
func exchangeOf(w http.ResponseWriter) *Exchange {
	for {
		switch v := w.(type) {
		case *Exchange:
			return v
		case interface{ Unwrap() http.ResponseWriter }:
			w = v.Unwrap()
		default:
			return nil
		}
	}
}

// finish builds the call and hands it on.
func (rec *Recorder) finish(e *Exchange, r *http.Request) {
	status := e.status
	if status == 0 {
		// The handler wrote nothing: the server sends 200.
		status = http.StatusOK
	}
	c := gatehouse.Call{
		Time:      e.at,
		Method:    r.Method,
		Path:      RedactPath(r.URL.EscapedPath(), r.URL.RawQuery),
		Status:    status,
		UserAgent: rec.userAgents.redact(userAgent(r)),
		BytesIn:   e.in.Load(),
		BytesOut:  e.out.Load(),
		Upstream:  e.upDone,
		Total:     time.Since(e.start),
		Reason:    e.reason,
	}
	var cred string
	if e.matched {
		c.API, c.Route, c.RequestID = e.info.API.Name, e.info.RouteKey, e.info.RequestID
		if e.info.ClientAddr.IsValid() {
			c.ClientAddr = e.info.ClientAddr.String()
		}
		cred = e.info.Route.Credential
	} else {
		// Refused before routing (404, 405, 400...): the id is in the
		// answer and the client is the TCP peer.
		c.RequestID = capString(e.w.Header().Get("X-Request-Id"), 128)
		if ap, err := netip.ParseAddrPort(r.RemoteAddr); err == nil {
			c.ClientAddr = ap.Addr().Unmap().String()
		}
	}
	if cl := e.claims; cl != nil {
		c.ClientID, c.Subject, c.GrantID, c.TokenID = cl.ClientID, cl.Subject, cl.GrantID, cl.ID
	}
	if c.TokenID == "" && e.matched && cred != gatehouse.CredentialNone {
		if v := presented(r, cred); v != "" {
			c.TokenID = CredentialID(v)
		}
	}
	if rec.Log != nil {
		rec.Log.Add(&c)
	}
	if rec.Observe != nil {
		// A copy, so that c itself stays on the stack when nobody observes.
		oc := c
		rec.Observe(&oc)
	}
	if rec.Usage != nil && e.claims != nil {
		if c.GrantID != "" {
			rec.Usage.Use(gatehouse.UsageGrant, c.GrantID, c.ClientID, c.API, c.ClientAddr, c.Time)
		}
		if cred == gatehouse.CredentialAPIKey {
			rec.Usage.Use(gatehouse.UsageAPIKey, c.TokenID, c.ClientID, c.API, c.ClientAddr, c.Time)
		}
	}
	if rec.Metrics != nil {
		rec.Metrics.observe(&c, e, cred)
	}
}

// userAgent is r.UserAgent() without canonicalising the header's name on
// every request.
func userAgent(r *http.Request) string {
	if v := r.Header["User-Agent"]; len(v) > 0 {
		return v[0]
	}
	return ""
}

// presented returns the credential a request carried for its route, or "".
// Only hashed, never kept.
func presented(r *http.Request, cred string) string {
	if cred == gatehouse.CredentialAPIKey {
		return capString(r.Header.Get("X-API-Key"), 256)
	}
	if h := r.Header.Get("Authorization"); h != "" {
		if scheme, tok, ok := strings.Cut(h, " "); ok && (strings.EqualFold(scheme, "Bearer") || strings.EqualFold(scheme, "DPoP")) {
			return capString(strings.TrimSpace(tok), 8<<10)
		}
		return ""
	}
	if r.URL.RawQuery != "" {
		return capString(r.URL.Query().Get("access_token"), 8<<10)
	}
	return ""
}

func capString(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}
