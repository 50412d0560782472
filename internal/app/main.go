// Package app is Gatehouse's composition root: it parses the command line
// and the config, chooses and opens the store, builds the surfaces, owns the
// listeners and background jobs, and stops everything cleanly. It is the
// only package that sees every other.
package app

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/gatehouse/gatehouse/internal/config"
	"github.com/gatehouse/gatehouse/internal/seal"
	"github.com/gatehouse/gatehouse/internal/sqlite"
	"github.com/gatehouse/gatehouse/internal/token"
)

// Exit codes scripts can rely on.
const (
	ExitOK     = 0
	ExitError  = 1 // the command failed
	ExitUsage  = 2 // bad command line
	ExitConfig = 3 // the config file is invalid
)

const usage = `gatehouse: API gateway and OAuth 2.0 authorization server

Usage:
  gatehouse serve [--config FILE] [--data DIR] [--public ADDR] [--admin ADDR] [--issuer URL]
  gatehouse config check FILE
  gatehouse apply -f FILE [--dry-run] [--data DIR | --config FILE]
  gatehouse export [-o FILE] [--data DIR | --config FILE]
  gatehouse keys rotate [--config FILE] [--data DIR]
  gatehouse users add|passwd|disable|enable|revoke-grants NAME [--data DIR]   (passwords from stdin)
  gatehouse users list [--data DIR]
  gatehouse dpop keygen --out FILE [--alg ES256|EdDSA]   (prints the key's thumbprint, jkt)
  gatehouse dpop proof --key FILE --method M --url U [--token AT] [--nonce N]
  gatehouse apis list|show, apps list|show|rotate-secret,
  gatehouse subscriptions list|show|approve|reject|suspend|resume|revoke,
  gatehouse tokens list|revoke          (over the admin API: gatehouse apis -h for details)
  gatehouse audit verify [--data DIR]              (exit 0 intact, 4 tampered)
  gatehouse audit export [--since TIME] [--until TIME] [--data DIR]   (NDJSON)
  gatehouse tokens stale [--within DUR] [-o json] [--config FILE] [--data DIR]
  gatehouse logs [--since DUR] [--api NAME] [--client ID] [--status CODE] [--token-id ID] [-o table|json|ndjson|csv] [--data DIR]
  gatehouse version

Environment: GATEHOUSE_CONFIG, GATEHOUSE_DATA, GATEHOUSE_PUBLIC_ADDR,
GATEHOUSE_ADMIN_ADDR, GATEHOUSE_ISSUER, GATEHOUSE_BOOTSTRAP_SECRET,
GATEHOUSE_MASTER_KEY, GATEHOUSE_LOG_LEVEL (debug|info|warn|error); for the commands
over the admin API: GATEHOUSE_ADMIN_URL, GATEHOUSE_TOKEN, or GATEHOUSE_CLIENT_ID and
GATEHOUSE_CLIENT_SECRET with GATEHOUSE_ISSUER.
Flags override the environment, which overrides the config file.

Exit codes: 0 done (or nothing to change), 1 failed, 2 bad command line,
3 invalid config file (nothing changed), 4 apply --dry-run found changes.
The commands over the admin API: 4 not found, 5 conflict, 6 unauthorized or
forbidden, 7 invalid request.
`

// Version is set at build time with -ldflags "-X ...app.Version=...".
var Version = "dev"

// Main runs the gatehouse command and returns its exit code. ctx ends on
// SIGINT/SIGTERM; stdin is read only by commands that take a password.
func Main(ctx context.Context, args []string, env func(string) (string, bool), stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return ExitUsage
	}
	switch args[0] {
	case "serve":
		return runServe(ctx, args[1:], env, stderr)
	case "config":
		if len(args) == 3 && args[1] == "check" {
			return runConfigCheck(args[2], env, stdout, stderr)
		}
	case "keys":
		if len(args) >= 2 && args[1] == "rotate" {
			return runKeysRotate(ctx, args[2:], env, stdout, stderr)
		}
	case "users":
		return runUsers(ctx, args[1:], env, stdin, stdout, stderr)
	case "dpop":
		return runDPoP(args[1:], time.Now, stdout, stderr)
	case "apply":
		return runApply(ctx, args[1:], env, stdout, stderr)
	case "export":
		return runExport(ctx, args[1:], env, stdout, stderr)
	case "apis", "apps", "subscriptions", "tokens":
		if args[0] == "tokens" && len(args) > 1 && args[1] == "stale" {
			return runTokens(ctx, args[1:], env, stdout, stderr) // reads the store directly
		}
		return runAdmin(ctx, args, env, stdout, stderr)
	case "audit":
		return runAudit(ctx, args[1:], env, stdout, stderr)
	case "logs":
		return runLogs(ctx, args[1:], env, stdout, stderr)
	case "version":
		fmt.Fprintln(stdout, "gatehouse", Version)
		return ExitOK
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return ExitOK
	}
	fmt.Fprintf(stderr, "gatehouse: unknown command %q\n\n%s", args[0], usage)
	return ExitUsage
}

// commonFlags are the flags shared by commands that open a node's state.
type commonFlags struct {
	config, data, public, admin, issuer string
}

func parseFlags(name string, args []string, env func(string) (string, bool), stderr io.Writer, withListeners bool) (*commonFlags, error) {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	getenv := func(k string) string { v, _ := env(k); return v }
	f := &commonFlags{}
	fs.StringVar(&f.config, "config", getenv("GATEHOUSE_CONFIG"), "config `file` (YAML)")
	fs.StringVar(&f.data, "data", getenv("GATEHOUSE_DATA"), "data `directory` (store, keys)")
	if withListeners {
		fs.StringVar(&f.public, "public", getenv("GATEHOUSE_PUBLIC_ADDR"), "public listener `address` (gateway, OAuth)")
		fs.StringVar(&f.admin, "admin", getenv("GATEHOUSE_ADMIN_ADDR"), "admin listener `address` (admin API, health, metrics)")
		fs.StringVar(&f.issuer, "issuer", getenv("GATEHOUSE_ISSUER"), "issuer `URL` (default: the public listener's URL)")
	}
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	return f, nil
}

// loadConfig reads the config file (or the defaults) and applies overrides.
// openStore loads the config named by f and opens the store of its data
// directory for a command that works on an existing node's data: a missing
// store is an error, not a new empty one. On failure it has written the
// message and returns the exit code; the caller closes the store.
func openStore(ctx context.Context, f *commonFlags, env func(string) (string, bool), stderr io.Writer) (*config.Config, *sqlite.DB, int) {
	cfg, err := loadConfig(f, env)
	if err != nil {
		fmt.Fprintf(stderr, "gatehouse: %v\n", err)
		return nil, nil, ExitConfig
	}
	dbPath := filepath.Join(cfg.DataDir, "gatehouse.db")
	if _, err := os.Stat(dbPath); err != nil {
		fmt.Fprintf(stderr, "gatehouse: no store at %s: start `gatehouse serve` once first, or pass --data\n", dbPath)
		return nil, nil, ExitError
	}
	db, err := sqlite.Open(ctx, dbPath)
	if err != nil {
		fmt.Fprintf(stderr, "gatehouse: %v\n", err)
		return nil, nil, ExitError
	}
	return cfg, db, ExitOK
}

func loadConfig(f *commonFlags, env func(string) (string, bool)) (*config.Config, error) {
	cfg := config.Default()
	if f.config != "" {
		var err error
		if cfg, err = config.Load(f.config, env); err != nil {
			return nil, err
		}
	}
	if f.data != "" {
		cfg.DataDir = f.data
	}
	if f.public != "" {
		cfg.Public.Addr = f.public
	}
	if f.admin != "" {
		cfg.Admin.Addr = f.admin
	}
	if f.issuer != "" {
		cfg.Issuer = f.issuer
	}
	return cfg, nil
}

func newLogger(env func(string) (string, bool), w io.Writer) *slog.Logger {
	level := slog.LevelInfo
	if v, ok := env("GATEHOUSE_LOG_LEVEL"); ok {
		_ = level.UnmarshalText([]byte(v))
	}
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: level}))
}

func runServe(ctx context.Context, args []string, env func(string) (string, bool), stderr io.Writer) int {
	f, err := parseFlags("serve", args, env, stderr, true)
	if err != nil {
		return ExitUsage
	}
	cfg, err := loadConfig(f, env)
	if err != nil {
		fmt.Fprintf(stderr, "gatehouse: %v\n", err)
		return ExitConfig
	}
	log := newLogger(env, stderr)
	tuneGC(cfg.Gateway, env, log)
	n, err := Start(ctx, Options{Config: cfg, Env: env, Stderr: stderr, Log: log})
	if err != nil {
		log.Error("cannot start", "err", err)
		return ExitError
	}
	watchConfig(ctx, n, f, env, log)
	log.Info("shutting down: draining in-flight requests")
	sctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := n.Shutdown(sctx); err != nil {
		log.Error("shutdown", "err", err)
		return ExitError
	}
	return ExitOK
}

// watchConfig reloads the config file on SIGHUP and when the file changes,
// until ctx ends. A change is applied only once the file has stayed the
// same (size and modification time) for one more check two seconds later,
// so a file caught half-written by an editor or a shell redirect is not
// applied; an empty file never is. A file with problems is logged, problem
// by problem, and the running configuration stays. Write new configs with
// an atomic rename to be safe.
func watchConfig(ctx context.Context, n *Node, f *commonFlags, env func(string) (string, bool), log *slog.Logger) {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	tick := time.NewTicker(2 * time.Second)
	defer tick.Stop()
	type stamp struct {
		mod  time.Time
		size int64
	}
	stat := func() stamp {
		if f.config == "" {
			return stamp{}
		}
		fi, err := os.Stat(f.config)
		if err != nil {
			return stamp{}
		}
		return stamp{fi.ModTime(), fi.Size()}
	}
	applied, pending := stat(), stamp{}
	reload := func(why string) {
		if f.config != "" {
			if st := stat(); st.size == 0 {
				log.Error("config reload refused: the file is empty or missing; the running configuration stays", "trigger", why)
				return
			}
		}
		cfg, err := loadConfig(f, env)
		if err != nil {
			log.Error("config reload refused; the running configuration stays", "trigger", why, "problems", err.Error())
			return
		}
		if err := n.Reload(ctx, cfg); err != nil {
			log.Error("config reload failed; the running configuration stays", "trigger", why, "err", err)
		}
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-hup:
			applied, pending = stat(), stamp{}
			reload("SIGHUP")
		case <-tick.C:
			st := stat()
			switch {
			case st == applied:
				pending = stamp{}
			case st != pending:
				pending = st // changed: wait one more tick for it to settle
			default:
				applied, pending = st, stamp{}
				reload("file changed")
			}
		}
	}
}

func runConfigCheck(path string, env func(string) (string, bool), stdout, stderr io.Writer) int {
	if _, err := config.Load(path, env); err != nil {
		fmt.Fprintf(stderr, "%v\n", err)
		return ExitConfig
	}
	fmt.Fprintf(stdout, "%s: ok\n", path)
	return ExitOK
}

// runKeysRotate rotates the signing keys in the store now. A running node
// picks the change up at its next key tick (10 s).
func runKeysRotate(ctx context.Context, args []string, env func(string) (string, bool), stdout, stderr io.Writer) int {
	f, err := parseFlags("keys rotate", args, env, stderr, false)
	if err != nil {
		return ExitUsage
	}
	cfg, db, code := openStore(ctx, f, env, stderr)
	if code != ExitOK {
		return code
	}
	defer db.Close()
	masterEnv, _ := env("GATEHOUSE_MASTER_KEY")
	mk, _, err := seal.LoadOrCreateKey(filepath.Join(cfg.DataDir, "master.key"), masterEnv)
	if err != nil {
		fmt.Fprintf(stderr, "gatehouse: %v\n", err)
		return ExitError
	}
	box, err := seal.New(mk)
	if err != nil {
		fmt.Fprintf(stderr, "gatehouse: %v\n", err)
		return ExitError
	}
	policy := cfg.Tokens.WithDefaults()
	km := &token.KeyManager{Store: db, Keys: &token.Keyring{}, Sealer: box, Policy: policy,
		MaxTokenLifetime: maxAccessTTL(policy, newCatalog(cfg.APIs))}
	if err := km.Ensure(ctx); err != nil {
		fmt.Fprintf(stderr, "gatehouse: %v\n", err)
		return ExitError
	}
	old := km.Keys.SigningKeyID()
	if err := km.Rotate(ctx); err != nil {
		fmt.Fprintf(stderr, "gatehouse: %v\n", err)
		return ExitError
	}
	cliAudit(ctx, db, "keys rotate", "keys", km.Keys.SigningKeyID(), ExitOK, stderr)
	fmt.Fprintf(stdout, "rotated: %s now signs; %s stays published until its tokens expire\n", km.Keys.SigningKeyID(), old)
	return ExitOK
}
