package app

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/internal/config"
	"github.com/gatehouse/gatehouse/internal/edge"
	"github.com/gatehouse/gatehouse/internal/external"
	"github.com/gatehouse/gatehouse/internal/proxy"
	"github.com/gatehouse/gatehouse/internal/token"
	"github.com/gatehouse/gatehouse/internal/traffic"
)

// gateway is the data plane as assembled for one node.
type gateway struct {
	proxy    *proxy.Gateway
	limits   *edge.Limits
	external *external.Set
	networks atomic.Pointer[clientNetworks] // swapped on reload
	streams  *edge.StreamGuard
}

// requestInfo adapts what the router put in the context to the edge checks.
func requestInfo(r *http.Request) (edge.RequestInfo, bool) {
	pr, ok := proxy.RequestFrom(r.Context())
	if !ok {
		return edge.RequestInfo{}, false
	}
	m := pr.Match
	return edge.RequestInfo{
		API: m.API, Route: m.Route, RouteKey: m.Key,
		RequestID: pr.ID, ClientAddr: pr.ClientAddr, Claims: pr.Claims,
	}, true
}

// setClaims keeps the claims the edge checks accepted with the router's
// request info, where requestInfo finds them.
func setClaims(r *http.Request, c *gatehouse.AccessClaims) bool {
	return proxy.SetClaims(r.Context(), c)
}

// externalVerifier adapts external.Set to the edge checks.
type externalVerifier struct{ set *external.Set }

func (e externalVerifier) Verify(ctx context.Context, tok string, names []string) (*gatehouse.AccessClaims, error) {
	c, _, err := e.set.Verify(ctx, tok, names)
	return c, err
}

// clientNetworks holds the network restrictions of the config's clients.
type clientNetworks map[string]*traffic.IPFilter

func (c *clientNetworks) lookup(id string) edge.Networks {
	if f, ok := (*c)[id]; ok {
		return f
	}
	return nil
}

func newGateway(cfg *config.Config, n *Node, apis []gatehouse.API, clients []*gatehouse.Client, log *slog.Logger, now func() time.Time, minRefetch time.Duration) (*gateway, error) {
	g := &gateway{}
	rec := n.watch.recorder
	if len(cfg.ExternalIssuers) > 0 {
		set, err := external.NewSet(cfg.ExternalIssuers, external.Options{Log: log, Now: now, Cache: token.NewCache(100000), Leeway: cfg.Tokens.WithDefaults().Leeway, MinRefetch: minRefetch})
		if err != nil {
			return nil, fmt.Errorf("external issuers: %w", err)
		}
		g.external = set
	}
	if err := g.setClients(clients); err != nil {
		return nil, err
	}
	checks := &edge.Checks{
		Info: requestInfo, SetClaims: setClaims, Tokens: n.Verifier, AllowPlainHTTP: cfg.Gateway.AllowPlainHTTPTokens,
		ClientNetworks: func(id string) edge.Networks { return g.networks.Load().lookup(id) }, Log: log,
		Secure: proxy.SecureFrom, Origin: proxy.ExternalOrigin, DPoP: n.dpop.gateway, DPoPNonce: n.dpop.gatewayNonce,
	}
	g.streams = &edge.StreamGuard{Info: requestInfo, Refused: n.Revocations.Refused, Now: now, Log: log}
	if g.external != nil {
		checks.External = externalVerifier{g.external}
	}
	g.limits = &edge.Limits{
		Info: requestInfo, Clients: traffic.NewLimiter(1 << 20), Spikes: traffic.NewLimiter(1 << 12),
		Quotas: traffic.NewQuotas(1 << 20), Now: now,
	}
	up := &edge.Upstream{Info: requestInfo, Minter: &token.Minter{Keys: n.Keyring}, Issuer: n.Issuer, Now: now}
	g.proxy = &proxy.Gateway{
		TrustedProxies:     cfg.Gateway.TrustedProxies,
		UseForwardedHeader: cfg.Gateway.ProxiesSpeakForwarded(),
		MaxBodyBytes:       cfg.Gateway.MaxBodyBytes,
		Logger:             log,
		Now:                now,
		// The order is the point: network rules before credentials, the
		// credential before the limits that count per client.
		// The recorder's steps note the route and the moment the request
		// leaves for the upstream (call log, metrics).
		Middleware: []func(http.Handler) http.Handler{rec.Matched, g.limits.IPRules, checks.Authenticate, g.limits.RateLimit, rec.Upstream},
		// Streams (SSE, WebSocket) end when their credential does.
		WatchResponse: g.streams.Watch,
		UpstreamHeaders: func(r *http.Request, out http.Header) {
			if err := up.Headers(r, out); err != nil {
				log.Error("upstream credentials", "err", err)
			}
			n.alerting.upstreamHeaders(r, out)
		},
	}
	if n.alerting.watching() {
		g.proxy.Middleware = append([]func(http.Handler) http.Handler{n.alerting.routed}, g.proxy.Middleware...)
	}
	if err := g.load(apis); err != nil {
		return nil, err
	}
	return g, nil
}

// setClients builds the network restrictions of the clients.
func (g *gateway) setClients(clients []*gatehouse.Client) error {
	nets := clientNetworks{}
	for _, c := range clients {
		if len(c.Networks.Allow) > 0 || len(c.Networks.Deny) > 0 {
			f, err := traffic.NewIPFilter(c.Networks.Allow, c.Networks.Deny)
			if err != nil {
				return fmt.Errorf("client %s networks: %w", c.ID, err)
			}
			nets[c.ID] = f
		}
	}
	g.networks.Store(&nets)
	return nil
}

// load compiles apis into a routing table and swaps it in.
func (g *gateway) load(apis []gatehouse.API) error {
	t, err := proxy.Compile(apis)
	if err != nil {
		return fmt.Errorf("routes: %w", err)
	}
	if err := g.limits.SetAPIs(apis); err != nil {
		return fmt.Errorf("traffic: %w", err)
	}
	g.proxy.Load(t)
	return nil
}

// publicHandler serves the OAuth endpoints and sends everything else to
// the gateway. API routes cannot shadow the authorization server.
func publicHandler(oauthH, gw http.Handler) http.Handler {
	return hsts(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/oauth/") || strings.HasPrefix(r.URL.Path, "/.well-known/") {
			oauthH.ServeHTTP(w, r)
			return
		}
		gw.ServeHTTP(w, r)
	}))
}
