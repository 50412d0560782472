package app

import (
	"cmp"
	"context"
	"crypto/hkdf"
	"crypto/sha256"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/internal/audit"
	"github.com/gatehouse/gatehouse/internal/calllog"
	"github.com/gatehouse/gatehouse/internal/config"
	"github.com/gatehouse/gatehouse/internal/idle"
	"github.com/gatehouse/gatehouse/internal/oauth"
	"github.com/gatehouse/gatehouse/internal/proxy"
	"github.com/gatehouse/gatehouse/internal/seal"
	"github.com/gatehouse/gatehouse/internal/sqlite"
	"github.com/gatehouse/gatehouse/internal/token"
)

// Options start a node. Config is required; the rest override it.
type Options struct {
	Config *config.Config
	// Env looks up environment variables (os.LookupEnv in production).
	Env func(string) (string, bool)
	// Stderr receives the one-time secret notices; Log the structured logs.
	Stderr io.Writer
	Log    *slog.Logger
	// KeyTick is how often key maintenance and the revocation sync run;
	// default 10s.
	KeyTick time.Duration
	// Now replaces the clock (tests).
	Now func() time.Time
	// ExternalMinRefetch overrides the least time between two JWKS fetches
	// of an external issuer triggered by unknown key ids (default 30 s).
	ExternalMinRefetch time.Duration
	// StorePoll is how often the store's change counter is read, to pick
	// up changes other processes made (`gatehouse apply`); default 2s.
	StorePoll time.Duration
	// CallLogWriteTimeout overrides how long the call log's writer waits
	// on its store before spilling (default 10 s; tests).
	CallLogWriteTimeout time.Duration
}

// Node is a running Gatehouse: its store, listeners and background jobs.
type Node struct {
	Issuer    string
	PublicURL string
	AdminURL  string

	Store       *sqlite.DB
	Keys        *token.KeyManager
	Keyring     *token.Keyring
	Verifier    *token.Verifier
	Revocations *token.Revocations
	OAuth       *oauth.Server
	// Audit is the audit log; AuditCheckpoints signs its head.
	Audit            *audit.Log
	AuditCheckpoints *audit.Checkpointer

	// TLSURL is the HTTPS listener's URL when one is configured.
	TLSURL string

	public, admin, tls *http.Server
	gateway            *gateway
	dpop               *dpopVerifiers
	watch              *watch    // call log, usage, gateway metrics
	alerting           *alerting // anomaly rules, webhooks, tracing (alerts.go)
	idle               *idle.Job
	catalog            *catalog
	cfg                *config.Config // the running configuration
	box                *seal.Box
	policy             gatehouse.TokenPolicy
	maxTTL             time.Duration
	govMu              sync.Mutex // serialises loads from the store
	seenChanges        int64      // the store's change counter at the last load
	env                func(string) (string, bool)
	stderr             io.Writer
	now                func() time.Time
	cancel             context.CancelFunc
	wg                 sync.WaitGroup
	log                *slog.Logger
}

// Start opens the store, prepares keys and clients, binds both listeners
// and serves until Shutdown. Addresses with port 0 pick a free port; the
// bound addresses are logged and set on the Node.
func Start(ctx context.Context, o Options) (n *Node, err error) {
	cfg := o.Config
	if o.Env == nil {
		o.Env = os.LookupEnv
	}
	if o.Log == nil {
		o.Log = slog.New(slog.NewJSONHandler(io.Discard, nil))
	}
	if o.Stderr == nil {
		o.Stderr = io.Discard
	}
	if o.KeyTick == 0 {
		o.KeyTick = 10 * time.Second
	}
	if o.StorePoll == 0 {
		o.StorePoll = 2 * time.Second
	}
	now := o.Now
	if now == nil {
		now = time.Now
	}
	policy := cfg.Tokens.WithDefaults()
	n = &Node{log: o.Log}
	// The cleanup holds the node in its own variable: every failure path
	// returns nil for n.
	started := n
	defer func() {
		if err != nil {
			started.closeWatch(context.Background())
			started.closeStore()
		}
	}()

	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("create data directory: %w", err)
	}
	masterEnv, _ := o.Env("GATEHOUSE_MASTER_KEY")
	mk, created, err := seal.LoadOrCreateKey(filepath.Join(cfg.DataDir, "master.key"), masterEnv)
	if err != nil {
		return nil, err
	}
	if created {
		o.Log.Info("generated master key for secrets at rest", "path", filepath.Join(cfg.DataDir, "master.key"))
	}
	box, err := seal.New(mk)
	if err != nil {
		return nil, err
	}
	sessionKey, err := hkdf.Key(sha256.New, mk, nil, "gatehouse session v1", 32)
	if err != nil {
		return nil, fmt.Errorf("derive session key: %w", err)
	}
	refreshKey, err := hkdf.Key(sha256.New, mk, nil, "gatehouse refresh successor v1", 32)
	if err != nil {
		return nil, fmt.Errorf("derive refresh key: %w", err)
	}
	if n.Store, err = sqlite.Open(ctx, filepath.Join(cfg.DataDir, "gatehouse.db")); err != nil {
		return nil, err
	}

	n.env, n.stderr, n.now, n.cfg, n.box, n.policy = o.Env, o.Stderr, now, cfg, box, policy
	// The store is the source of truth for the catalog, apps and
	// subscriptions: the config file's are applied to it as config-owned
	// objects, then everything is loaded from it.
	if err := n.syncConfig(ctx, cfg); err != nil {
		return nil, err
	}
	storeAPIs, err := n.storeAPIs(ctx)
	if err != nil {
		return nil, err
	}
	cat := newCatalog(storeAPIs)
	n.catalog = cat
	maxTTL := maxAccessTTL(policy, cat)
	n.maxTTL = maxTTL
	n.Keyring = &token.Keyring{}
	n.Keys = &token.KeyManager{
		Store: n.Store, Keys: n.Keyring, Sealer: box, Policy: policy,
		MaxTokenLifetime: maxTTL, Log: o.Log, Now: now,
	}
	if err := n.Keys.Ensure(ctx); err != nil {
		return nil, fmt.Errorf("signing keys: %w", err)
	}
	n.Revocations = token.NewRevocations()
	if n.seenChanges, err = n.Store.ChangeCounter(ctx); err != nil {
		return nil, fmt.Errorf("store change counter: %w", err)
	}
	if err := n.loadEnforcement(ctx); err != nil {
		return nil, err
	}

	publicLn, err := net.Listen("tcp", cfg.Public.Addr)
	if err != nil {
		return nil, fmt.Errorf("public listener %s: %w", cfg.Public.Addr, err)
	}
	adminLn, err := net.Listen("tcp", cfg.Admin.Addr)
	if err != nil {
		publicLn.Close()
		return nil, fmt.Errorf("admin listener %s: %w", cfg.Admin.Addr, err)
	}
	n.PublicURL = "http://" + displayAddr(publicLn.Addr())
	n.AdminURL = "http://" + displayAddr(adminLn.Addr())
	n.Issuer = cfg.Issuer
	if n.Issuer == "" {
		n.Issuer = n.PublicURL
	}
	n.Issuer = strings.TrimSuffix(n.Issuer, "/")

	n.Verifier = &token.Verifier{
		Issuer: n.Issuer, Keys: n.Keyring, Revocations: n.Revocations,
		Cache: token.NewCache(100000), Tokens: n.Store,
		Leeway: policy.Leeway, MaxLifetime: maxTTL, Now: now,
	}
	if n.dpop, err = newDPoPVerifiers(mk, policy.DPoPNonce, now); err != nil {
		publicLn.Close()
		adminLn.Close()
		return nil, err
	}
	clientCAs, err := loadClientCAs(cfg.TLS.ClientCAFile)
	if err != nil {
		publicLn.Close()
		adminLn.Close()
		return nil, err
	}
	events := n.startAudit(cfg.DataDir, now)
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	if n.watch, err = startWatch(ctx, cfg, n.Store, reg, o.Log, now, o.CallLogWriteTimeout); err != nil {
		return nil, err
	}
	if n.alerting, err = newAlerting(ctx, cfg, n.Store, reg, o.Log, now); err != nil {
		n.closeWatch(ctx)
		publicLn.Close()
		adminLn.Close()
		return nil, err
	}
	n.OAuth = &oauth.Server{
		Issuer: n.Issuer, Policy: policy, Catalog: cat,
		Clients: n.Store, Tokens: n.Store, Assertions: n.Store,
		Users: n.Store, Consents: n.Store, Codes: n.Store, Grants: n.Store, Events: n.alerting.eventsTo(events), Watcher: n.alerting,
		Subscriptions: n.Store, Credentials: n.Store,
		SessionKey: sessionKey, RefreshKey: refreshKey, LoginLimiter: &oauth.FailureLimiter{},
		AllowPlainHTTP: cfg.Gateway.AllowPlainHTTPTokens,
		Client: func(r *http.Request) (netip.Addr, bool) {
			return proxy.ClientOf(r, cfg.Gateway.TrustedProxies, cfg.Gateway.ProxiesSpeakForwarded())
		},
		ClientCAs: clientCAs, MutualTLS: cfg.TLS.Addr != "",
		Keys: n.Keyring, Minter: &token.Minter{Keys: n.Keyring}, Verifier: n.Verifier,
		Revocations: n.Revocations, Limiter: &oauth.FailureLimiter{},
		Metrics: oauth.NewMetrics(reg), Log: o.Log, Now: now,
		DPoP: n.dpop.token,
		ClientUsed: func(clientID, addr string, at time.Time) {
			n.watch.usage.Use(gatehouse.UsageClientSecret, clientID, clientID, "", addr, at)
		},
		GrantUsed: func(grantID, clientID, api string, at time.Time) {
			n.watch.usage.Use(gatehouse.UsageGrant, grantID, clientID, api, "", at)
		},
	}
	n.alerting.revoke, n.alerting.issuer = n.OAuth.RevokeByID, n.Issuer
	n.idle = newIdleJob(cfg, n, n.alerting.eventsTo(events))
	adminH := n.adminHandler(policy, cat, promhttp.HandlerFor(reg, promhttp.HandlerOpts{}), o.Log, now, events)
	adminH.Calls = n.watch.callStore()
	adminH.Stale = n.idle
	clients, err := n.Store.FindClients(ctx, gatehouse.ClientFilter{})
	if err != nil {
		publicLn.Close()
		adminLn.Close()
		return nil, fmt.Errorf("load clients: %w", err)
	}
	gw, err := newGateway(cfg, n, storeAPIs, clients, o.Log, now, o.ExternalMinRefetch)
	if err != nil {
		publicLn.Close()
		adminLn.Close()
		return nil, err
	}
	n.gateway = gw
	pub := n.alerting.wrap(publicHandler(n.OAuth.Handler(), n.watch.recorder.Wrap(gw.proxy)))
	n.public = newHTTPServer(pub, o.Log)
	// Streams (SSE, long downloads, WebSockets) may last: no whole-request
	// deadlines on the public side; slow clients are bounded by the header
	// timeout and the idle timeout.
	n.public.ReadTimeout, n.public.WriteTimeout = 0, 0
	n.admin = newHTTPServer(adminH.Routes(), o.Log)
	var tlsLn net.Listener
	if cfg.TLS.Addr != "" {
		cert, fp, err := loadCertificate(cfg, now())
		if err != nil {
			publicLn.Close()
			adminLn.Close()
			return nil, err
		}
		raw, err := net.Listen("tcp", cfg.TLS.Addr)
		if err != nil {
			publicLn.Close()
			adminLn.Close()
			return nil, fmt.Errorf("tls listener %s: %w", cfg.TLS.Addr, err)
		}
		// Limit below TLS: the server must see the *tls.Conn itself to
		// negotiate HTTP/2 and fill in r.TLS.
		tlsLn = tls.NewListener(limitConns(raw, maxConns), serverTLSConfig(cert))
		n.TLSURL = "https://" + displayAddr(raw.Addr())
		n.OAuth.MTLSBaseURL = mtlsBaseURL(n.Issuer, raw.Addr())
		n.tls = newHTTPServer(pub, o.Log)
		n.tls.ReadTimeout, n.tls.WriteTimeout = 0, 0
		n.tls.TLSConfig = serverTLSConfig(cert)
		o.Log.Info("https listener", "addr", n.TLSURL, "certificate_sha256", fp)
	}

	bg, cancel := context.WithCancel(context.Background())
	n.cancel = cancel
	n.serve(n.public, limitConns(publicLn, maxConns), "public")
	n.serve(n.admin, adminLn, "admin")
	if tlsLn != nil {
		n.serve(n.tls, tlsLn, "https")
	}
	n.wg.Add(5)
	go func() { defer n.wg.Done(); n.Keys.Run(bg, o.KeyTick) }()
	go func() { defer n.wg.Done(); n.AuditCheckpoints.Run(bg, cfg.Audit.CheckpointInterval) }()
	go func() { defer n.wg.Done(); n.Audit.RunEventSync(bg, auditEventSync, o.Log) }()
	go func() { defer n.wg.Done(); n.watch.usage.Run(bg, calllog.DefaultUsageFlushInterval) }()
	go func() { defer n.wg.Done(); n.housekeeping(bg, o.KeyTick, now) }()
	n.wg.Add(1)
	go func() { defer n.wg.Done(); gw.streams.Run(bg) }()
	n.wg.Add(1)
	go func() { defer n.wg.Done(); n.watchStore(bg, o.StorePoll) }()
	n.alerting.start(bg, &n.wg)
	n.wg.Go(func() { n.idle.Run(bg, cmp.Or(cfg.Idle.CheckEvery, config.DefaultIdleCheck)) })
	if gw.external != nil {
		// Tokens of an issuer whose keys could not be fetched are refused
		// until a fetch succeeds; the node starts anyway.
		sctx, scancel := context.WithTimeout(ctx, 10*time.Second)
		if err := gw.external.Start(sctx); err != nil {
			o.Log.Warn("external issuers not ready", "err", err)
		}
		scancel()
		n.wg.Add(1)
		go func() { defer n.wg.Done(); gw.external.Run(bg) }()
	}
	o.Log.Info("gatehouse started", "public", n.PublicURL, "admin", n.AdminURL, "issuer", n.Issuer, "data", cfg.DataDir)
	return n, nil
}

// Reload applies a changed config without dropping a connection: the
// clients and users the file owns are synced, then the API catalog, the
// routing table and the client network rules are swapped atomically, so
// each request is served entirely by the old or entirely by the new
// configuration. The issuer, listeners, data directory, token policy,
// gateway settings and external issuers need a restart; a config that
// changes them is refused with an error naming the key, and nothing of it
// is applied.
func (n *Node) Reload(ctx context.Context, cfg *config.Config) error {
	if key := needsRestart(n.cfg, cfg); key != "" {
		return fmt.Errorf("%s changed: that takes a restart; nothing was reloaded", key)
	}
	// Compile first: a config whose routes do not compile, alone or with
	// the APIs made by the admin API or `gatehouse apply`, changes nothing.
	if _, err := proxy.Compile(cfg.APIs); err != nil {
		return fmt.Errorf("routes: %w", err)
	}
	others, err := n.storeAPIs(ctx)
	if err != nil {
		return err
	}
	all := append([]gatehouse.API(nil), cfg.APIs...)
	for _, a := range others {
		if a.Source != gatehouse.SourceConfig {
			all = append(all, a)
		}
	}
	if _, err := proxy.Compile(all); err != nil {
		return fmt.Errorf("routes (with the APIs not from the config file): %w", err)
	}
	if err := n.syncConfig(ctx, cfg); err != nil {
		return err
	}
	if err := n.GovernanceChanged(ctx); err != nil {
		return err
	}
	n.idle.SetRules(idleRules(cfg))
	n.cfg = cfg
	n.log.Info("configuration reloaded", "apis", len(cfg.APIs), "clients", len(cfg.Clients))
	return nil
}

// needsRestart names the first setting that differs between the running
// and the new config and cannot change while the node runs, or "".
func needsRestart(old, new *config.Config) string {
	switch {
	case old.Issuer != new.Issuer:
		return "issuer"
	case old.Public != new.Public || old.Admin != new.Admin || old.TLS != new.TLS:
		return "listen"
	case old.DataDir != new.DataDir:
		return "data_dir"
	case old.Tokens != new.Tokens:
		return "tokens"
	case !reflect.DeepEqual(old.Gateway, new.Gateway):
		return "gateway"
	case old.CallLog != new.CallLog:
		return "call_log"
	case !reflect.DeepEqual(old.ExternalIssuers, new.ExternalIssuers):
		return "external_issuers"
	case old.Audit != new.Audit:
		return "audit"
	case !reflect.DeepEqual(old.Anomaly, new.Anomaly) || !reflect.DeepEqual(old.Webhooks, new.Webhooks) || old.Tracing != new.Tracing:
		// The engine, the senders and the exporter are built at start.
		return "anomaly, webhooks or tracing"
	case maxAccessTTL(new.Tokens.WithDefaults(), newCatalog(new.APIs)) > maxAccessTTL(old.Tokens.WithDefaults(), newCatalog(old.APIs)):
		// The verifier and key retirement are sized for the longest access
		// token lifetime at start; a longer one would be refused.
		return "apis[].access_token_ttl (beyond the longest one at start)"
	}
	return ""
}

// loadCertificate returns the HTTPS certificate: the configured files, or a
// self-signed development certificate kept in the data directory.
func loadCertificate(cfg *config.Config, now time.Time) (tls.Certificate, string, error) {
	if cfg.TLS.CertFile != "" {
		c, err := tls.LoadX509KeyPair(cfg.TLS.CertFile, cfg.TLS.KeyFile)
		if err != nil {
			return tls.Certificate{}, "", fmt.Errorf("tls certificate: %w", err)
		}
		return c, certFingerprint(c), nil
	}
	c, fp, _, err := selfSignedCert(cfg.DataDir, now)
	return c, fp, err
}

func newHTTPServer(h http.Handler, log *slog.Logger) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
}

func (n *Node) serve(s *http.Server, ln net.Listener, name string) {
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		if err := s.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			n.log.Error("listener stopped", "listener", name, "err", err)
		}
	}()
}

// housekeeping keeps in-memory state in step with the store and prunes
// what has outlived its purpose. Revocations made outside this process (the
// CLI, later other nodes) are picked up at the next sync.
func (n *Node) housekeeping(ctx context.Context, every time.Duration, now func() time.Time) {
	sync := time.NewTicker(every)
	defer sync.Stop()
	prune := time.NewTicker(time.Minute)
	defer prune.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-sync.C:
			revs, err := n.Store.FindRevocations(ctx, now())
			if err != nil {
				if ctx.Err() == nil {
					n.log.Error("sync revocations", "err", err)
				}
				continue
			}
			n.Revocations.Add(revs...)
		case <-prune.C:
			n.Revocations.Prune(now())
			if _, err := n.Store.DeleteCutoffsBefore(ctx, n.cutoffHorizon(now())); err != nil && ctx.Err() == nil {
				n.log.Error("prune cutoffs", "err", err)
			}
			if k, err := n.expireSubscriptions(ctx); err != nil && ctx.Err() == nil {
				n.log.Error("expire subscriptions", "err", err)
			} else if k > 0 {
				n.log.Info("subscriptions expired", "count", k)
			}
			// Keep expired records a day: revocation of a just-expired
			// token and investigations still find them.
			if _, err := n.Store.DeleteExpiredTokens(ctx, now().Add(-24*time.Hour)); err != nil && ctx.Err() == nil {
				n.log.Error("prune expired tokens", "err", err)
			}
			if _, err := n.Store.DeleteExpiredAuthCodes(ctx, now().Add(-time.Hour)); err != nil && ctx.Err() == nil {
				n.log.Error("prune expired codes", "err", err)
			}
		}
	}
}

// Shutdown stops accepting connections, lets in-flight requests finish
// until ctx ends, stops the background jobs and closes the store.
func (n *Node) Shutdown(ctx context.Context) error {
	err := errors.Join(n.public.Shutdown(ctx), n.admin.Shutdown(ctx))
	if n.tls != nil {
		err = errors.Join(err, n.tls.Shutdown(ctx))
	}
	n.cancel()
	if n.gateway != nil {
		err = errors.Join(err, n.gateway.proxy.Close())
	}
	n.wg.Wait()
	n.closeWatch(ctx)
	n.finalCheckpoint()
	if n.alerting != nil {
		err = errors.Join(err, n.alerting.shutdown(ctx))
	}
	n.closeStore()
	n.log.Info("gatehouse stopped")
	return err
}

// closeWatch drains and closes the call log; what ctx leaves no time for
// spills to disk.
func (n *Node) closeWatch(ctx context.Context) {
	if n.watch != nil {
		n.watch.close(ctx, n.log)
		n.watch = nil
	}
}

func (n *Node) closeStore() {
	if n.Store != nil {
		if err := n.Store.Close(); err != nil {
			n.log.Error("close store", "err", err)
		}
		n.Store = nil
	}
}

// displayAddr turns a bound address into one a client can dial: an
// unspecified host (0.0.0.0, ::) becomes localhost.
// mtlsBaseURL is where clients reach the HTTPS listener for mutual TLS,
// published in the metadata's mtls_endpoint_aliases (RFC 8705 section 5):
// the issuer's host name (which clients know, and the certificate names)
// with the listener's port; "" when that is the issuer's own origin, whose
// endpoints then take certificates already.
func mtlsBaseURL(issuer string, ln net.Addr) string {
	u, err := url.Parse(issuer)
	tcp, ok := ln.(*net.TCPAddr)
	if err != nil || !ok || u.Hostname() == "" {
		return ""
	}
	port := strconv.Itoa(tcp.Port)
	if u.Scheme == "https" && cmp.Or(u.Port(), "443") == port {
		return ""
	}
	return "https://" + net.JoinHostPort(u.Hostname(), port)
}

func displayAddr(a net.Addr) string {
	tcp, ok := a.(*net.TCPAddr)
	if !ok {
		return a.String()
	}
	if tcp.IP == nil || tcp.IP.IsUnspecified() {
		return fmt.Sprintf("localhost:%d", tcp.Port)
	}
	return tcp.String()
}

func maxAccessTTL(p gatehouse.TokenPolicy, cat *catalog) time.Duration {
	m := p.AccessTokenTTL
	for _, api := range cat.APIs() {
		if api.AccessTokenTTL > m {
			m = api.AccessTokenTTL
		}
	}
	return m
}
