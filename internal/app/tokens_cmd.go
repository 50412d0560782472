package app

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/gatehouse/gatehouse/internal/idle"
)

// runTokens is `gatehouse tokens stale [--within DUR] [-o json]`: what idle
// revocation takes within DUR (default 0: what is due now), read from the
// store. A running node flushes usage every few seconds, so uses of the
// last seconds may not show yet.
func runTokens(ctx context.Context, args []string, env func(string) (string, bool), stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] != "stale" {
		fmt.Fprintf(stderr, "gatehouse: usage: gatehouse tokens stale [--within DUR] [-o json] [--config FILE] [--data DIR]\n")
		return ExitUsage
	}
	fs := flag.NewFlagSet("tokens stale", flag.ContinueOnError)
	fs.SetOutput(stderr)
	getenv := func(k string) string { v, _ := env(k); return v }
	f := &commonFlags{}
	fs.StringVar(&f.config, "config", getenv("GATEHOUSE_CONFIG"), "config `file` (YAML)")
	fs.StringVar(&f.data, "data", getenv("GATEHOUSE_DATA"), "data `directory` (store, keys)")
	within := fs.Duration("within", 0, "list what is revoked within this `duration` from now (e.g. 72h)")
	format := fs.String("o", "table", "output `format`: table or json")
	if err := fs.Parse(args[1:]); err != nil {
		return ExitUsage
	}
	if fs.NArg() > 0 || *within < 0 || (*format != "table" && *format != "json") {
		fmt.Fprintf(stderr, "gatehouse: tokens stale: --within must be a positive duration and -o table or json\n")
		return ExitUsage
	}
	cfg, db, code := openStore(ctx, f, env, stderr)
	if code != ExitOK {
		return code
	}
	defer db.Close()
	j := &idle.Job{Store: db, KeepSecret: configOwnsSecret(cfg), Now: time.Now}
	j.SetRules(idleRules(cfg))
	cs, err := j.Stale(ctx, *within)
	if err != nil {
		fmt.Fprintf(stderr, "gatehouse: %v\n", err)
		return ExitError
	}
	if *format == "json" {
		out := make([]idle.Entry, len(cs))
		for i, c := range cs {
			out[i] = idle.EntryOf(c)
		}
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(out); err != nil {
			return ExitError
		}
		return ExitOK
	}
	if len(cs) == 0 {
		fmt.Fprintf(stdout, "nothing idle revocation takes within %s\n", *within)
		return ExitOK
	}
	tw := tabwriter.NewWriter(stdout, 2, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "REVOKE AT\tKIND\tID\tCLIENT\tSUBJECT\tLAST USED\tRULE")
	for _, c := range cs {
		last := "never"
		if !c.LastUsed.IsZero() {
			last = c.LastUsed.UTC().Format(time.RFC3339)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s (%s)\n", c.RevokeAt.UTC().Format(time.RFC3339), c.Kind, c.ID,
			c.ClientID, c.Subject, last, c.Rule, c.Limit)
	}
	return map[bool]int{true: ExitOK, false: ExitError}[tw.Flush() == nil]
}
