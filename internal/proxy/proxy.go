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
	"time"

	"github.com/gatehouse/gatehouse"
)

// newReverseProxy builds the ReverseProxy of one upstream pool.
//
// Streams are not buffered: ReverseProxy flushes every write at once for
// server-sent events (text/event-stream) and for any response of unknown
// length (chunked), whatever FlushInterval says. FlushInterval stays 0
// rather than -1 because -1 would also apply to responses of known length,
// where it buys nothing and costs a timer goroutine per response (measured:
// about half the gateway's time per request). TestStreaming checks both
// kinds of stream event by event. Upgrades (WebSocket, RFC 9110 section
// 7.8) are passed through by ReverseProxy itself.
func (g *Gateway) newReverseProxy(p *pool) *httputil.ReverseProxy {
	return &httputil.ReverseProxy{
		Rewrite:        g.rewrite,
		Transport:      p,
		BufferPool:     buffers,
		ModifyResponse: g.modifyResponse,
		ErrorHandler:   g.proxyError,
		ErrorLog:       slog.NewLogLogger(g.logger().Handler(), slog.LevelWarn),
	}
}

// rewrite turns the client's request into the upstream request. The target
// (scheme, host, base path) is set per attempt by the pool, so that a retry
// can go elsewhere; everything else is decided here.
//
// The client's credentials are for the gateway, not the upstream: the
// Authorization and DPoP headers always go, and so do the API key (X-API-Key) on
// api_key routes and the RFC 6750 access_token query parameter on routes
// that accept it. What the upstream gets instead is the business of
// Gateway.UpstreamHeaders, called last. Client headers in the X-Gatehouse-
// namespace are dropped so that an upstream can trust the ones it sees.
// Cookies are left alone: they belong to the upstream's own sessions.
func (g *Gateway) rewrite(pr *httputil.ProxyRequest) {
	info := infoFrom(pr.In.Context())
	out := pr.Out
	out.Host = "" // send the target's host; the client's is in X-Forwarded-Host
	h := out.Header
	delete(h, "Authorization")
	// A DPoP proof is for the gateway too: an upstream holding one could
	// replay it to another node within its window (RFC 9449 §11.1).
	delete(h, "Dpop")
	delete(h, "X-Api-Key") // a client's API key is for the gateway, whatever the route
	// Method overrides would let a request authorised as POST run as DELETE
	// on frameworks that honour them.
	delete(h, "X-Http-Method-Override")
	delete(h, "X-Http-Method")
	delete(h, "X-Method-Override")
	x, rfc := info.pool.policy.xForwarded, info.pool.policy.rfc7239
	// X-Forwarded-Port, -Prefix... of a trusted proxy that speaks them.
	keepXForwarded := x && info.trusted && !info.useForwarded
	keepClientAddr := (x || rfc) && info.trusted
	for k := range h {
		// Names with '_' are dropped: CGI-style servers read X_Gatehouse_Scopes
		// as X-Gatehouse-Scopes, which would let a client forge identity.
		if strings.IndexByte(k, '_') >= 0 || strings.HasPrefix(k, "X-Gatehouse-") ||
			(!keepXForwarded && strings.HasPrefix(k, "X-Forwarded-")) || (!keepClientAddr && isClientAddrHeader(k)) {
			delete(h, k)
		}
	}
	r := info.match.Route
	if r.AllowQueryToken && out.URL.RawQuery != "" {
		out.URL.RawQuery = removeQueryParam(out.URL.RawQuery, "access_token")
	}
	setForwarding(h, pr.In, info, x, rfc)
	h["X-Request-Id"] = info.vals[0:1:1]
	if g.UpstreamHeaders != nil {
		g.UpstreamHeaders(pr.In, h)
	}
}

// modifyResponse keeps the gateway's word on what it owns: the request id
// it sent, and the lifecycle headers it set before the chain ran. Without
// this the client would get both, since ReverseProxy adds the upstream's
// headers to those already set. Then it shows the response to
// WatchResponse.
func (g *Gateway) modifyResponse(res *http.Response) error {
	delete(res.Header, "X-Request-Id")
	if res.Request == nil {
		return nil // a custom Transport that does not set it
	}
	info := infoFrom(res.Request.Context())
	if info == nil {
		return nil
	}
	info.restoreHeader()
	if info.match.API.Lifecycle == gatehouse.LifecycleDeprecated {
		delete(res.Header, "Deprecation")
		delete(res.Header, "Sunset")
	}
	if g.WatchResponse != nil {
		if end := g.WatchResponse(res); end != nil {
			info.end = end
		}
	}
	return nil
}

// proxyError answers a failed upstream exchange. The client learns the
// kind of failure (RFC 9110 section 15.6.3 502, 15.6.5 504) and the request
// id to quote; the cause goes to the log only.
func (g *Gateway) proxyError(w http.ResponseWriter, r *http.Request, err error) {
	info := infoFrom(r.Context())
	info.restoreHeader()
	log := g.logger().With("request_id", info.id, "api", info.match.API.Name)
	var tooLarge *http.MaxBytesError
	var ne net.Error
	switch {
	case info.bodyTooLarge.Load() || errors.As(err, &tooLarge):
		writeError(w, info.id, http.StatusRequestEntityTooLarge, "request_too_large", "the request body is too large")
	case info.bodyFailed.Load() == bodyStalled:
		log.Info("client request body stalled", "err", err)
		writeError(w, info.id, http.StatusRequestTimeout, "request_timeout", "the request body stopped arriving")
	case info.bodyFailed.Load() == bodyMalformed:
		log.Info("client request body could not be read", "err", err)
		writeError(w, info.id, http.StatusBadRequest, "bad_request", "the request body could not be read (malformed chunked encoding or cut short)")
	case r.Context().Err() != nil && errors.Is(err, context.Canceled):
		// The client went away; nobody reads this answer.
		log.Debug("client canceled the request", "err", err)
		w.WriteHeader(http.StatusBadGateway)
	case errors.Is(err, errNoTarget):
		log.Warn("no healthy upstream target")
		writeError(w, info.id, http.StatusBadGateway, "bad_gateway", "no upstream is available")
	case errors.As(err, &ne) && ne.Timeout():
		log.Warn("upstream timed out", "err", err)
		writeError(w, info.id, http.StatusGatewayTimeout, "gateway_timeout", "the upstream did not answer in time")
	default:
		log.Warn("upstream request failed", "err", err)
		writeError(w, info.id, http.StatusBadGateway, "bad_gateway", "the upstream could not be reached")
	}
}

// removeQueryParam removes every name=… pair from a raw query, keeping the
// other pairs byte for byte and in order. Names are compared decoded, so
// access%5Ftoken goes too.
func removeQueryParam(raw, name string) string {
	var b strings.Builder
	removed := false
	for pair := range strings.SplitSeq(raw, "&") {
		k, _, _ := strings.Cut(pair, "=")
		if dk, err := url.QueryUnescape(k); err == nil && dk == name {
			removed = true
			continue
		}
		if b.Len() > 0 {
			b.WriteByte('&')
		}
		b.WriteString(pair)
	}
	if !removed {
		return raw
	}
	return b.String()
}

// limitedBody caps the request body (http.MaxBytesReader) and remembers
// that the cap was hit, since the transport may report the failed upload
// as some other error.
//
// It also bounds how long one read may wait for the client: the public
// listener has no whole-request deadline, since streams may last, so
// without this a client trickling a body would hold a connection, and one
// to the upstream, forever. After the whole body the deadline is cleared;
// after a failure it stays, so the server's drain of the unread body gives
// up too and the connection closes.
type limitedBody struct {
	io.ReadCloser
	info *requestInfo
	rc   *http.ResponseController
	idle time.Duration
}

func (b *limitedBody) Read(p []byte) (int, error) {
	if b.rc != nil {
		_ = b.rc.SetReadDeadline(time.Now().Add(b.idle))
	}
	n, err := b.ReadCloser.Read(p)
	if err == io.EOF && b.rc != nil {
		_ = b.rc.SetReadDeadline(time.Time{})
	}
	if err != nil && err != io.EOF {
		var tooLarge *http.MaxBytesError
		var ne net.Error
		switch {
		case errors.As(err, &tooLarge):
			b.info.bodyTooLarge.Store(true)
		case errors.As(err, &ne) && ne.Timeout():
			b.info.bodyFailed.Store(bodyStalled)
		default:
			b.info.bodyFailed.Store(bodyMalformed)
		}
	}
	return n, err
}

// How reading the client's request body failed, when it did: the failure
// is the client's, so the answer is a 4xx, not the 502 of an upstream
// failure.
const (
	bodyMalformed int32 = 1 + iota // broken chunked encoding, a connection cut mid-body
	bodyStalled                    // no byte for the idle timeout
)

// buffers lends ReverseProxy its 32 KiB copy buffers, which it would
// otherwise allocate per response. The pool holds array pointers so that
// Put, given a slice, does not allocate to box it.
var buffers = &bufferPool{}

const bufferSize = 32 << 10

type bufferPool struct{ p sync.Pool }

func (b *bufferPool) Get() []byte {
	if a, ok := b.p.Get().(*[bufferSize]byte); ok {
		return a[:]
	}
	return make([]byte, bufferSize)
}

func (b *bufferPool) Put(buf []byte) {
	if cap(buf) >= bufferSize {
		b.p.Put((*[bufferSize]byte)(buf[:bufferSize]))
	}
}

var _ httputil.BufferPool = (*bufferPool)(nil)
