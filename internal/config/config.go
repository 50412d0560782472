// Package config reads Gatehouse's declarative YAML file and turns it into
// domain types. It walks the YAML node tree itself rather than decoding into
// tagged structs, so that one pass reports every problem in the file, each
// with its line and key path, instead of stopping at the first.
//
// The schema is documented in docs/CONFIG.md.
package config

import (
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"path/filepath"

	"github.com/gatehouse/gatehouse"
)

// Config is a validated configuration file.
type Config struct {
	// Issuer is the OAuth issuer identifier. Empty means it is derived from
	// the public listener when Gatehouse starts.
	Issuer string
	// Public serves the gateway and the OAuth endpoints. Default
	// 127.0.0.1:8080, so that a fresh install is not reachable from the
	// network until someone says so.
	Public Listener
	// Admin serves the admin API and console. Default 127.0.0.1:8081: the
	// admin surface stays on loopback unless the file moves it.
	Admin Listener
	// TLS is an optional HTTPS listener for what Public serves (listen.tls
	// in the file). Its zero value, the default, means none.
	TLS TLSConfig
	// DataDir is where the embedded store and keys live, relative to the
	// working directory (like a command-line flag). Default "gatehouse-data".
	DataDir string
	// Gateway holds the gateway's node-wide settings, defaults applied.
	Gateway GatewayConfig
	// CallLog is the call log's settings, defaults applied.
	CallLog CallLogConfig
	// Tokens is the token policy with every default applied.
	Tokens gatehouse.TokenPolicy
	// ExternalIssuers are identity providers whose tokens the APIs that name
	// them (API.ExternalIssuers) also accept, defaults applied.
	ExternalIssuers []gatehouse.ExternalIssuer
	// APIs have every default applied: lifecycle, upstream policy, route
	// credential and scope mode. `retries: 0` is UpstreamPolicy.Retries
	// NoRetries, since a zero there means the default.
	APIs []gatehouse.API
	// Teams own clients (apps).
	Teams []gatehouse.Team
	// Clients are the clients the file owns (Source is SourceConfig).
	// Each apis entry is also an approved subscription of the client.
	Clients []Client
	// Subscriptions are the file's other subscriptions: pending, suspended,
	// with fewer approved scopes than asked, or expiring.
	Subscriptions []Subscription
	// Users are local accounts the file defines; accounts made with
	// `gatehouse users add` live only in the store.
	Users []User
	// Audit holds the audit log's settings, defaults applied.
	Audit AuditConfig
	// Anomaly, Webhooks and Tracing watch the traffic (docs/ALERTS.md).
	Anomaly  AnomalyConfig
	Webhooks []Webhook
	Tracing  TracingConfig
	Idle     IdleConfig // revoking what is not used (docs/ALERTS.md)
}

// Listener is an address to listen on, host:port.
type Listener struct {
	Addr string
}

// TLSConfig is the HTTPS listener of the public surface. It serves either
// the certificate in CertFile and KeyFile, or, with SelfSigned, one that
// Gatehouse generates into the data directory for development.
type TLSConfig struct {
	// Addr is host:port; empty means no HTTPS listener.
	Addr string
	// CertFile and KeyFile are PEM files, both set or both empty. Relative
	// paths in the file are resolved against the file's directory. They are
	// read when the listener starts, not by Parse.
	CertFile string
	KeyFile  string
	// SelfSigned is only ever true without CertFile.
	SelfSigned bool
	// ClientCAFile is a PEM bundle of the CAs that tls_client_auth client
	// certificates must chain to (RFC 8705 section 2.1). Read at start.
	ClientCAFile string
}

// Headers trusted proxies write (GatewayConfig.TrustedProxiesHeader).
const (
	ProxiesXForwarded = "x_forwarded"
	ProxiesForwarded  = "forwarded"
)

// GatewayConfig is how the gateway treats every request.
type GatewayConfig struct {
	// TrustedProxies are the networks whose X-Forwarded-For and Forwarded
	// headers are believed when finding the client's address. Empty, the
	// default, trusts none: the client is the connection's peer.
	TrustedProxies []netip.Prefix
	// TrustedProxiesHeader is what the trusted proxies write:
	// ProxiesXForwarded (X-Forwarded-For, -Proto and -Host, the default)
	// or ProxiesForwarded (RFC 7239 Forwarded).
	TrustedProxiesHeader string
	// MaxBodyBytes caps request bodies. Default DefaultMaxBodyBytes.
	MaxBodyBytes int64
	// AllowPlainHTTPTokens accepts bearer tokens and API keys over plain
	// HTTP from clients that are not on loopback. Default false.
	AllowPlainHTTPTokens bool
	// GCPercent is the Go garbage collector's target (GOGC) for the serving
	// process. Default DefaultGCPercent; the GOGC environment variable wins.
	GCPercent int
}

// ProxiesSpeakForwarded reports whether the trusted proxies write RFC
// 7239 Forwarded rather than X-Forwarded-* (proxy.Gateway.UseForwardedHeader).
func (g GatewayConfig) ProxiesSpeakForwarded() bool {
	return g.TrustedProxiesHeader == ProxiesForwarded
}

// Client is a client defined in the file.
type Client struct {
	// Client.SecretHash is set from `secret` (hashed with
	// gatehouse.HashSecret) or from `secret_sha256`.
	gatehouse.Client
	// GenerateSecret is true for a confidential client (client_secret_basic
	// or client_secret_post) whose entry gives no secret: the application
	// generates one at first start and shows it once, so that no default
	// secret ever ships in a file.
	GenerateSecret bool
}

// Default addresses and paths.
const (
	DefaultPublicAddr = "127.0.0.1:8080"
	DefaultAdminAddr  = "127.0.0.1:8081"
	DefaultDataDir    = "gatehouse-data"
)

// Gateway defaults and limits.
const (
	DefaultMaxBodyBytes = 10 << 20
	MaxMaxBodyBytes     = 1 << 30
	// DefaultGCPercent lets the heap grow to five times what is live before
	// a collection: a gateway's live heap is small and its garbage is
	// per-request, so collecting a quarter as often costs a few tens of MiB
	// and saves CPU on every request (docs/BENCHMARKS.md).
	DefaultGCPercent = 400
	MinGCPercent     = 25
	MaxGCPercent     = 10000
)

// Default returns the configuration of an empty file.
func Default() *Config {
	return &Config{
		Public:  Listener{Addr: DefaultPublicAddr},
		Admin:   Listener{Addr: DefaultAdminAddr},
		DataDir: DefaultDataDir,
		Gateway: GatewayConfig{MaxBodyBytes: DefaultMaxBodyBytes, GCPercent: DefaultGCPercent, TrustedProxiesHeader: ProxiesXForwarded},
		CallLog: DefaultCallLog(),
		Tokens:  gatehouse.DefaultTokenPolicy(),
		Audit:   AuditConfig{CheckpointInterval: DefaultCheckpointInterval},
	}
}

// API returns the API with the given name, or nil.
func (c *Config) API(name string) *gatehouse.API {
	for i := range c.APIs {
		if c.APIs[i].Name == name {
			return &c.APIs[i]
		}
	}
	return nil
}

// APIByAudience returns the API whose audience is aud, or nil.
func (c *Config) APIByAudience(aud string) *gatehouse.API {
	for i := range c.APIs {
		if c.APIs[i].Audience == aud {
			return &c.APIs[i]
		}
	}
	return nil
}

// ExternalIssuer returns the external issuer with the given name, or nil.
func (c *Config) ExternalIssuer(name string) *gatehouse.ExternalIssuer {
	for i := range c.ExternalIssuers {
		if c.ExternalIssuers[i].Name == name {
			return &c.ExternalIssuers[i]
		}
	}
	return nil
}

// Load reads and parses the file at path. Errors reading the file are
// returned as they are; problems with its content are Problems. Relative
// jwks_file, cert_file and key_file paths are resolved against the file's
// directory.
func Load(path string, lookupEnv func(string) (string, bool)) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	return Parse(data, path, lookupEnv)
}

// Parse parses a configuration file's content. name is the file's path: it
// prefixes every problem and relative paths (jwks_file, cert_file,
// key_file) are resolved against its directory.
//
// lookupEnv resolves ${VAR} references (os.LookupEnv in production). Nil
// means no variable is set.
//
// When the file has problems, Parse returns a nil Config and a non-empty
// Problems listing all of them, sorted by line.
func Parse(data []byte, name string, lookupEnv func(string) (string, bool)) (*Config, error) {
	return parse(data, name, lookupEnv, readSmallFile)
}

// maxFileSize bounds files the config refers to (JWK Sets): they are small,
// and a mistaken path to a huge file should fail fast.
const maxFileSize = 1 << 20

// readSmallFile reads a regular file of at most maxFileSize bytes. Checking
// the mode before opening keeps a path to a FIFO or device from blocking or
// streaming forever.
func readSmallFile(path string) ([]byte, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, errors.New("not a regular file")
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxFileSize+1))
	if err != nil {
		return nil, err
	}
	if len(data) > maxFileSize {
		return nil, fmt.Errorf("larger than %d bytes", maxFileSize)
	}
	return data, nil
}

// parse is Parse with the file reader injected, so that tests and the fuzzer
// stay off the real filesystem.
func parse(data []byte, name string, lookupEnv func(string) (string, bool), readFile func(string) ([]byte, error)) (*Config, error) {
	if lookupEnv == nil {
		lookupEnv = func(string) (string, bool) { return "", false }
	}
	d := &decoder{file: name, dir: filepath.Dir(name), env: lookupEnv, readFile: readFile}
	root, ok := d.document(data)
	if !ok {
		return nil, d.problems.sorted()
	}
	cfg := d.config(root)
	if len(d.problems) > 0 {
		return nil, d.problems.sorted()
	}
	return cfg, nil
}

// resolvePath makes a path from the file relative to the file's directory.
func (d *decoder) resolvePath(p string) string {
	if filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(d.dir, filepath.FromSlash(p))
}
