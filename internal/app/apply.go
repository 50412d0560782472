package app

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/internal/audit"
	"github.com/gatehouse/gatehouse/internal/config"
	"github.com/gatehouse/gatehouse/internal/seal"
	"github.com/gatehouse/gatehouse/internal/sqlite"
)

// ExitChanges is what `gatehouse apply --dry-run` returns when the store
// differs from the file (0 when it matches), so scripts can tell.
const ExitChanges = 4

// openState opens the store and the master key of a data directory,
// creating both when they do not exist yet (apply may fill a new store).
func openState(ctx context.Context, dataDir string, env func(string) (string, bool)) (*sqlite.DB, *seal.Box, error) {
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return nil, nil, fmt.Errorf("data directory: %w", err)
	}
	masterEnv, _ := env("GATEHOUSE_MASTER_KEY")
	mk, _, err := seal.LoadOrCreateKey(filepath.Join(dataDir, "master.key"), masterEnv)
	if err != nil {
		return nil, nil, err
	}
	box, err := seal.New(mk)
	if err != nil {
		return nil, nil, err
	}
	db, err := sqlite.Open(ctx, filepath.Join(dataDir, "gatehouse.db"))
	if err != nil {
		return nil, nil, err
	}
	return db, box, nil
}

// stateFlags are the flags of apply and export.
type stateFlags struct {
	commonFlags
	file   string
	out    string
	dryRun bool
}

func parseStateFlags(name string, args []string, env func(string) (string, bool), stderr io.Writer) (*stateFlags, error) {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	getenv := func(k string) string { v, _ := env(k); return v }
	f := &stateFlags{}
	fs.StringVar(&f.config, "config", getenv("GATEHOUSE_CONFIG"), "serve config `file`, for its data_dir")
	fs.StringVar(&f.data, "data", getenv("GATEHOUSE_DATA"), "data `directory` (store, keys)")
	if name == "apply" {
		fs.StringVar(&f.file, "f", "", "the `file` to apply (same schema as the serve config)")
		fs.BoolVar(&f.dryRun, "dry-run", false, "print the changes and make none")
	} else {
		fs.StringVar(&f.out, "o", "", "write to `file` (and its OpenAPI documents beside it) instead of stdout")
	}
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if name == "apply" && f.file == "" {
		fmt.Fprintln(stderr, "gatehouse apply: -f FILE is required")
		return nil, errors.New("usage")
	}
	return f, nil
}

// runApply makes the store match a file for the objects `gatehouse apply`
// manages: teams, APIs, clients and subscriptions (users and node
// settings in the file are ignored). Twice the same file changes nothing
// the second time. A running node picks the changes up within 2 s.
func runApply(ctx context.Context, args []string, env func(string) (string, bool), stdout, stderr io.Writer) int {
	f, err := parseStateFlags("apply", args, env, stderr)
	if err != nil {
		return ExitUsage
	}
	file, err := config.Load(f.file, env)
	if err != nil {
		fmt.Fprintf(stderr, "%v\nnothing was changed\n", err)
		return ExitConfig
	}
	if len(file.Users) > 0 {
		fmt.Fprintln(stderr, "note: the file's users are not applied (use the serve config or `gatehouse users`)")
	}
	cfg, err := loadConfig(&f.commonFlags, env)
	if err != nil {
		fmt.Fprintf(stderr, "gatehouse: %v\n", err)
		return ExitConfig
	}
	db, box, err := openState(ctx, cfg.DataDir, env)
	if err != nil {
		fmt.Fprintf(stderr, "gatehouse: %v\n", err)
		return ExitError
	}
	defer db.Close()
	p := &planner{db: db, box: box, owner: gatehouse.SourceApply, now: time.Now(), dataDir: cfg.DataDir,
		stderr: stderr, log: newLogger(env, io.Discard), withClients: true}
	changes, err := p.plan(ctx, desiredFrom(file))
	if err != nil {
		fmt.Fprintf(stderr, "gatehouse apply: %v\nnothing was changed\n", err)
		return ExitError
	}
	n := 0
	for _, c := range changes {
		fmt.Fprintln(stdout, c)
		if c.Op != "skip" {
			n++
		}
	}
	switch {
	case n == 0:
		fmt.Fprintln(stdout, "no changes")
		return ExitOK
	case f.dryRun:
		fmt.Fprintf(stdout, "%d changes (dry run: nothing was changed)\n", n)
		return ExitChanges
	}
	if err := runAudited(ctx, db, changes, stderr); err != nil {
		fmt.Fprintf(stderr, "gatehouse apply: %v\nthe changes listed before it were made; run apply again once fixed\n", err)
		return ExitError
	}
	fmt.Fprintf(stdout, "%d changes applied\n", n)
	return ExitOK
}

// runAudited makes the changes in order like run, appending one audit
// entry per change made (actor "cli apply", action "cli apply <op>", the
// object's kind and id as target), and one with outcome failure for the
// change that failed, after which it stops.
func runAudited(ctx context.Context, db *sqlite.DB, cs []change, stderr io.Writer) error {
	for _, c := range cs {
		if c.do == nil {
			continue
		}
		err := c.do(ctx)
		r := audit.Record{Actor: "cli apply", Action: "cli apply " + c.Op, TargetType: c.Kind, TargetID: audit.Clean(c.ID),
			Outcome: gatehouse.AuditSuccess, Details: map[string]string{}}
		if len(c.Fields) > 0 {
			r.Details["fields"] = audit.CleanN(strings.Join(c.Fields, ", "), 1024)
		}
		if err != nil {
			r.Outcome = gatehouse.AuditFailure
		}
		appendCLIAudit(ctx, db, r, stderr)
		if err != nil {
			return fmt.Errorf("%s: %w", c, err)
		}
	}
	return nil
}

// runExport writes the store's catalog, teams, apps and subscriptions as a
// file `gatehouse apply` reads back. No secret is written (see
// config.Export). OpenAPI documents go to openapi/ beside the -o file.
func runExport(ctx context.Context, args []string, env func(string) (string, bool), stdout, stderr io.Writer) int {
	f, err := parseStateFlags("export", args, env, stderr)
	if err != nil {
		return ExitUsage
	}
	_, db, code := openStore(ctx, &f.commonFlags, env, stderr)
	if code != ExitOK {
		return code
	}
	defer db.Close()
	e, docs, err := exportState(ctx, db)
	if err != nil {
		fmt.Fprintf(stderr, "gatehouse export: %v\n", err)
		return ExitError
	}
	if len(docs) > 0 && f.out == "" {
		fmt.Fprintln(stderr, "gatehouse export: some APIs have OpenAPI documents; use -o FILE so they can be written beside it")
		return ExitUsage
	}
	out, err := e.Marshal()
	if err != nil {
		fmt.Fprintf(stderr, "gatehouse export: %v\n", err)
		return ExitError
	}
	if f.out == "" {
		stdout.Write(out)
		return ExitOK
	}
	dir := filepath.Dir(f.out)
	for rel, doc := range docs {
		p := filepath.Join(dir, filepath.FromSlash(rel))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			fmt.Fprintf(stderr, "gatehouse export: %v\n", err)
			return ExitError
		}
		if err := os.WriteFile(p, doc, 0o644); err != nil {
			fmt.Fprintf(stderr, "gatehouse export: %v\n", err)
			return ExitError
		}
	}
	if err := os.WriteFile(f.out, out, 0o644); err != nil {
		fmt.Fprintf(stderr, "gatehouse export: %v\n", err)
		return ExitError
	}
	return ExitOK
}

// exportState reads what export writes: every team and API, the clients
// made by a file or the admin API (not the built-in admin client nor RFC
// 7591 registrations), and their open subscriptions that their apis
// entries do not already say. It returns the OpenAPI documents by the
// relative path the file names them with.
func exportState(ctx context.Context, db *sqlite.DB) (*config.Export, map[string][]byte, error) {
	e := &config.Export{OpenAPIFiles: map[string]string{}}
	docs := map[string][]byte{}
	teams, err := allTeams(ctx, db)
	if err != nil {
		return nil, nil, err
	}
	for _, t := range teams {
		e.Teams = append(e.Teams, *t)
	}
	apis, err := allAPIs(ctx, db)
	if err != nil {
		return nil, nil, err
	}
	for _, a := range apis {
		if len(a.OpenAPI) > 0 {
			ext := ".yaml"
			if t := bytes.TrimSpace(a.OpenAPI); len(t) > 0 && t[0] == '{' {
				ext = ".json"
			}
			rel := "openapi/" + a.Name + ext
			e.OpenAPIFiles[a.Name], docs[rel] = rel, a.OpenAPI
		}
		e.APIs = append(e.APIs, *a)
	}
	clients, err := db.FindClients(ctx, gatehouse.ClientFilter{})
	if err != nil {
		return nil, nil, err
	}
	exported := map[string]*gatehouse.Client{}
	for _, c := range clients {
		switch c.Source {
		case gatehouse.SourceConfig, gatehouse.SourceApply, gatehouse.SourceAdmin:
			exported[c.ID] = c
			e.Clients = append(e.Clients, *c)
		}
	}
	subs, err := allSubscriptions(ctx, db)
	if err != nil {
		return nil, nil, err
	}
	for _, s := range subs {
		c := exported[s.ClientID]
		if c == nil || s.State.Final() {
			continue
		}
		if c.AccessFor(s.API) != nil {
			continue // its apis entry says it (a suspension of it is not exported)
		}
		e.Subscriptions = append(e.Subscriptions, config.Subscription{App: s.ClientID, API: s.API, Scopes: s.Scopes,
			ApprovedScopes: s.ApprovedScopes, State: s.State, Reason: s.Reason, ExpiresAt: s.ExpiresAt})
	}
	// Subscription ids are random: order by what the file names them with,
	// so two stores with the same catalog export the same file.
	sort.Slice(e.Subscriptions, func(i, j int) bool {
		a, b := e.Subscriptions[i], e.Subscriptions[j]
		return a.App < b.App || (a.App == b.App && a.API < b.API)
	})
	return e, docs, nil
}
