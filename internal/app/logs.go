package app

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/gatehouse/gatehouse/internal/admin"
	"github.com/gatehouse/gatehouse/internal/calllog"
	"github.com/gatehouse/gatehouse/internal/sqlite"
)

const logsUsage = `Usage:
  gatehouse logs [--since DUR] [--from T] [--to T] [--api NAME] [--client ID] [--status CODE|4xx|500-599]
                 [--token-id ID] [--limit N] [--order asc|desc] [-o table|json|ndjson|csv] [--data DIR] [--config FILE]

Reads the call log from the data directory (DATA/calllog/calls.db); a running node may keep writing.
table and json show the newest calls first (--limit, default 100); ndjson and csv export every
matching call oldest first (--limit caps them).
`

// runLogs prints the call log, reading its SQLite file directly (like
// `gatehouse users list`), so it works without the admin listener and
// without a token; who may read the data directory may read the log.
func runLogs(ctx context.Context, args []string, env func(string) (string, bool), stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("logs", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, logsUsage) }
	getenv := func(k string) string { v, _ := env(k); return v }
	f := &commonFlags{}
	fs.StringVar(&f.config, "config", getenv("GATEHOUSE_CONFIG"), "config `file` (YAML)")
	fs.StringVar(&f.data, "data", getenv("GATEHOUSE_DATA"), "data `directory`")
	params := map[string]*string{}
	for _, p := range []struct{ flag, param, help string }{
		{"since", "since", "calls from this long ago (15m, 24h)"},
		{"from", "from", "calls at or after this time (RFC 3339 or unix seconds)"},
		{"to", "to", "calls before this time"},
		{"api", "api", "calls to this API"},
		{"client", "client", "calls by this client id"},
		{"status", "status", "status code (404), class (4xx) or range (500-599)"},
		{"token-id", "token_id", "calls with this token id (jti or sha256:...)"},
		{"order", "order", "asc or desc"},
		{"limit", "limit", "at most this many calls"},
	} {
		params[p.param] = fs.String(p.flag, "", p.help)
	}
	var format string
	fs.StringVar(&format, "o", "table", "output: table, json, ndjson or csv")
	if err := fs.Parse(args); err != nil {
		return ExitUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "gatehouse logs: unexpected argument %q\n", fs.Arg(0))
		return ExitUsage
	}
	export := format == "ndjson" || format == "csv"
	if !export && format != "table" && format != "json" {
		fmt.Fprintf(stderr, "gatehouse logs: -o %q: expected table, json, ndjson or csv\n", format)
		return ExitUsage
	}
	q := url.Values{}
	for k, v := range params {
		if *v != "" {
			q.Set(k, *v)
		}
	}
	if export && !q.Has("order") {
		q.Set("order", "asc")
	}
	maxLimit := calllog.MaxLimit
	if export {
		maxLimit = 0
	}
	filter, err := calllog.ParseFilter(q, time.Now(), maxLimit)
	if err != nil {
		fmt.Fprintf(stderr, "gatehouse logs: %v\n", err)
		return ExitUsage
	}
	cfg, err := loadConfig(f, env)
	if err != nil {
		fmt.Fprintf(stderr, "gatehouse: %v\n", err)
		return ExitConfig
	}
	path := callLogDB(cfg.DataDir)
	if _, err := os.Stat(path); err != nil {
		fmt.Fprintf(stderr, "gatehouse: no call log at %s: pass --data (or the call log is disabled)\n", path)
		return ExitError
	}
	// Opening a call log written before pages moves it (once, logged).
	db, err := sqlite.OpenLogged(ctx, path, slog.New(slog.NewTextHandler(stderr, nil)))
	if err != nil {
		fmt.Fprintf(stderr, "gatehouse: %v\n", err)
		return ExitError
	}
	defer db.Close()

	if export {
		if err := admin.ExportCalls(ctx, db, filter, format, stdout, nil); err != nil {
			fmt.Fprintf(stderr, "gatehouse: %v\n", err)
			return ExitError
		}
		return ExitOK
	}
	calls, err := db.FindCalls(ctx, filter)
	if err != nil {
		fmt.Fprintf(stderr, "gatehouse: %v\n", err)
		return ExitError
	}
	if format == "json" {
		recs := make([]calllog.Record, len(calls))
		for i := range calls {
			recs[i] = calllog.RecordOf(&calls[i])
		}
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(recs); err != nil {
			return ExitError
		}
		return ExitOK
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TIME\tSTATUS\tMETHOD\tAPI\tPATH\tCLIENT\tTOKEN\tADDRESS\tTOTAL\tREASON")
	for _, c := range calls {
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", c.Time.UTC().Format(time.RFC3339Nano), c.Status, termSafe(c.Method),
			termSafe(dash(c.API)), termSafe(c.Path), termSafe(dash(c.ClientID)), termSafe(dash(c.TokenID)), termSafe(dash(c.ClientAddr)),
			strconv.FormatFloat(float64(c.Total.Microseconds())/1000, 'f', 1, 64)+"ms", termSafe(dash(c.Reason)))
	}
	if err := tw.Flush(); err != nil {
		return ExitError
	}
	return ExitOK
}

// termSafe returns s for a terminal: every control character and other
// non-printable rune (ESC, BEL, CR, LF, tab, DEL, bidi overrides) written
// as a Go escape (\x1b, \a, \u202e) and every invalid UTF-8 byte as \xNN,
// so no byte a client sent reaches the terminal raw.
func termSafe(s string) string {
	plain := true
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] >= 0x7f {
			plain = false
			break
		}
	}
	if plain {
		return s
	}
	var b strings.Builder
	for i, r := range s {
		switch {
		case r == utf8.RuneError && !strings.HasPrefix(s[i:], "\uFFFD"):
			fmt.Fprintf(&b, `\x%02x`, s[i])
		case unicode.IsPrint(r):
			b.WriteRune(r)
		default:
			q := strconv.QuoteRune(r)
			b.WriteString(q[1 : len(q)-1])
		}
	}
	return b.String()
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
