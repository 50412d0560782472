package app

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/gatehouse/gatehouse"
)

// Exit codes of the commands that call the admin API, beyond ExitOK,
// ExitError (network, server error) and ExitUsage.
const (
	ExitNotFound     = 4 // 404: no such object (or not yours)
	ExitConflict     = 5 // 409, 412, 428: the object's state refuses it, or it changed
	ExitUnauthorized = 6 // 401, 403: no valid credentials, or not allowed
	ExitInvalid      = 7 // 400, 413, 415, 422: the request was refused as invalid
)

const adminUsage = `Usage (commands over the admin API):
  gatehouse apis list [--family F] [--lifecycle L]
  gatehouse apis show NAME
  gatehouse apps list [--team T]
  gatehouse apps show ID
  gatehouse apps rotate-secret ID [--overlap DURATION]       (the new secret is printed once)
  gatehouse subscriptions list [--state S] [--app ID] [--api NAME] [--team T]
  gatehouse subscriptions show ID
  gatehouse subscriptions approve ID [--scopes a,b] [--reason R]
  gatehouse subscriptions reject ID --reason R
  gatehouse subscriptions suspend|resume|revoke ID [--reason R]
  gatehouse tokens list [--client ID] [--subject S] [--kind K] [--active]
  gatehouse tokens revoke ID

Every command takes:
  --admin-url URL        the admin listener (GATEHOUSE_ADMIN_URL; default http://127.0.0.1:8081)
  -o table|json          output: a table for people (default) or JSON for scripts
and credentials, the first that is set:
  --token TOKEN          an admin access token (GATEHOUSE_TOKEN)
  client credentials     GATEHOUSE_CLIENT_ID and GATEHOUSE_CLIENT_SECRET (or --client-id and
                         --client-secret-file FILE), exchanged at --issuer (GATEHOUSE_ISSUER)
                         /oauth/token for a token with --scope (default admin)

Exit codes: 0 ok, 1 error (network, server), 2 usage, 4 not found, 5 conflict (the state
refuses it, or If-Match failed), 6 unauthorized or forbidden, 7 invalid request.
`

// adminCLI is a client of the admin HTTP API, never of the store.
type adminCLI struct {
	base, token string
	json        bool
	hc          *http.Client
	stdout      io.Writer
	stderr      io.Writer
}

// cliError carries the exit code a failed call maps to.
type cliError struct {
	code int
	msg  string
}

func (e *cliError) Error() string { return e.msg }

// runAdmin runs `gatehouse apis|apps|subscriptions|tokens ...`.
func runAdmin(ctx context.Context, args []string, env func(string) (string, bool), stdout, stderr io.Writer) int {
	if len(args) < 2 {
		fmt.Fprint(stderr, adminUsage)
		return ExitUsage
	}
	group, verb := args[0], args[1]
	getenv := func(k string) string { v, _ := env(k); return v }
	fs := flag.NewFlagSet(group+" "+verb, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, adminUsage) }
	adminURL := fs.String("admin-url", getenv("GATEHOUSE_ADMIN_URL"), "admin listener `URL`")
	tok := fs.String("token", getenv("GATEHOUSE_TOKEN"), "admin access `token`")
	issuer := fs.String("issuer", getenv("GATEHOUSE_ISSUER"), "issuer `URL` whose /oauth/token gives the token")
	clientID := fs.String("client-id", getenv("GATEHOUSE_CLIENT_ID"), "client `id` for client credentials")
	secretFile := fs.String("client-secret-file", "", "`file` holding the client secret (else GATEHOUSE_CLIENT_SECRET)")
	scope := fs.String("scope", "admin", "`scope` to ask for with client credentials")
	output := fs.String("o", "table", "output `format`: table or json")
	// Command flags; each command reads the ones it documents.
	var (
		family    = fs.String("family", "", "filter: API family")
		lifecycle = fs.String("lifecycle", "", "filter: lifecycle")
		team      = fs.String("team", "", "filter: team")
		state     = fs.String("state", "", "filter: subscription state")
		app       = fs.String("app", "", "filter: app id")
		api       = fs.String("api", "", "filter: API name")
		client    = fs.String("client", "", "filter: client id")
		subject   = fs.String("subject", "", "filter: subject")
		kind      = fs.String("kind", "", "filter: token kind")
		active    = fs.Bool("active", false, "only active tokens")
		scopes    = fs.String("scopes", "", "approve with these scopes (comma separated)")
		reason    = fs.String("reason", "", "reason, recorded with the change")
		overlap   = fs.Duration("overlap", 0, "how long the previous secret keeps working")
	)
	pos, err := parseInterleaved(fs, args[2:])
	if err != nil {
		return ExitUsage
	}
	if *output != "table" && *output != "json" {
		fmt.Fprintln(stderr, "gatehouse: -o must be table or json")
		return ExitUsage
	}
	// Which commands take one positional id, and which flags they take.
	type command struct {
		id    bool
		flags []string
	}
	commands := map[string]command{
		"apis list": {false, []string{"family", "lifecycle"}}, "apis show": {true, nil},
		"apps list": {false, []string{"team"}}, "apps show": {true, nil}, "apps rotate-secret": {true, []string{"overlap"}},
		"subscriptions list": {false, []string{"state", "app", "api", "team"}}, "subscriptions show": {true, nil},
		"subscriptions approve": {true, []string{"scopes", "reason"}}, "subscriptions reject": {true, []string{"reason"}},
		"subscriptions suspend": {true, []string{"reason"}}, "subscriptions resume": {true, []string{"reason"}},
		"subscriptions revoke": {true, []string{"reason"}},
		"tokens list":          {false, []string{"client", "subject", "kind", "active"}}, "tokens revoke": {true, nil},
	}
	cmd, ok := commands[group+" "+verb]
	if !ok {
		fmt.Fprintf(stderr, "gatehouse: unknown command %q\n\n%s", group+" "+verb, adminUsage)
		return ExitUsage
	}
	if (cmd.id && len(pos) != 1) || (!cmd.id && len(pos) != 0) {
		fmt.Fprintf(stderr, "gatehouse: %s %s takes %s\n\n%s", group, verb, map[bool]string{true: "one id", false: "no argument"}[cmd.id], adminUsage)
		return ExitUsage
	}
	common := map[string]bool{"admin-url": true, "token": true, "issuer": true, "client-id": true, "client-secret-file": true, "scope": true, "o": true}
	bad := ""
	fs.Visit(func(f *flag.Flag) {
		if !common[f.Name] && !contains(cmd.flags, f.Name) {
			bad = f.Name
		}
	})
	if bad != "" {
		fmt.Fprintf(stderr, "gatehouse: %s %s does not take --%s\n", group, verb, bad)
		return ExitUsage
	}
	if group+" "+verb == "subscriptions reject" && *reason == "" {
		fmt.Fprintln(stderr, "gatehouse: subscriptions reject needs --reason")
		return ExitUsage
	}
	if *adminURL == "" {
		*adminURL = "http://127.0.0.1:8081"
	}
	c := &adminCLI{base: strings.TrimSuffix(*adminURL, "/"), json: *output == "json", stdout: stdout, stderr: stderr,
		hc: &http.Client{Timeout: 30 * time.Second}}
	if c.token = *tok; c.token == "" {
		secret := getenv("GATEHOUSE_CLIENT_SECRET")
		if *secretFile != "" {
			b, err := readSmallFile(*secretFile)
			if err != nil {
				fmt.Fprintf(stderr, "gatehouse: %v\n", err)
				return ExitUsage
			}
			secret = strings.TrimSpace(string(b))
		}
		if *clientID == "" || secret == "" || *issuer == "" {
			fmt.Fprintln(stderr, "gatehouse: no credentials: set GATEHOUSE_TOKEN, or GATEHOUSE_CLIENT_ID, GATEHOUSE_CLIENT_SECRET and GATEHOUSE_ISSUER")
			return ExitUsage
		}
		if c.token, err = c.clientCredentials(ctx, *issuer, *clientID, secret, *scope); err != nil {
			return c.fail(err)
		}
	}
	id := ""
	if cmd.id {
		id = url.PathEscape(pos[0])
	}
	q := url.Values{}
	set := func(k, v string) {
		if v != "" {
			q.Set(k, v)
		}
	}
	switch group + " " + verb {
	case "apis list":
		set("family", *family)
		set("lifecycle", *lifecycle)
		err = c.list(ctx, "/admin/v1/apis", q, []string{"NAME", "VERSION", "LIFECYCLE", "APPROVAL", "AUDIENCE", "SCOPES"},
			[]string{"name", "version", "lifecycle", "approval", "audience", "scopes"})
	case "apis show":
		err = c.show(ctx, "GET", "/admin/v1/apis/"+id, nil)
	case "apps list":
		set("team", *team)
		err = c.list(ctx, "/admin/v1/apps", q, []string{"ID", "NAME", "TEAM", "AUTH", "SOURCE", "DISABLED"},
			[]string{"id", "name", "team", "auth_method", "source", "disabled"})
	case "apps show":
		err = c.show(ctx, "GET", "/admin/v1/apps/"+id, nil)
	case "apps rotate-secret":
		err = c.show(ctx, "POST", "/admin/v1/apps/"+id+"/rotate-secret", map[string]any{"overlap_seconds": int64(*overlap / time.Second)})
		if err == nil && !c.json {
			fmt.Fprintln(stderr, "The new client secret is shown only now: store it safely.")
		}
	case "subscriptions list":
		set("state", *state)
		set("app_id", *app)
		set("api", *api)
		set("team", *team)
		err = c.list(ctx, "/admin/v1/subscriptions", q, []string{"ID", "APP", "API", "STATE", "SCOPES", "APPROVED"},
			[]string{"id", "app_id", "api", "state", "scopes", "approved_scopes"})
	case "subscriptions show":
		err = c.show(ctx, "GET", "/admin/v1/subscriptions/"+id, nil)
	case "subscriptions approve", "subscriptions reject", "subscriptions suspend", "subscriptions resume", "subscriptions revoke":
		body := map[string]any{}
		if *reason != "" {
			body["reason"] = *reason
		}
		if *scopes != "" {
			body["scopes"] = strings.Split(*scopes, ",")
		}
		err = c.show(ctx, "POST", "/admin/v1/subscriptions/"+id+"/"+verb, body)
	case "tokens list":
		set("client_id", *client)
		set("subject", *subject)
		set("kind", *kind)
		if *active {
			q.Set("active", "true")
		}
		err = c.list(ctx, "/admin/v1/tokens", q, []string{"ID", "KIND", "CLIENT", "SUBJECT", "AUDIENCE", "STATUS", "EXPIRES"},
			[]string{"id", "kind", "client_id", "subject", "audience", "status", "expires_at"})
	case "tokens revoke":
		err = c.show(ctx, "POST", "/admin/v1/tokens/"+id+"/revoke", map[string]any{})
	}
	if err != nil {
		return c.fail(err)
	}
	return ExitOK
}

// parseInterleaved parses flags that may come before, between or after
// the positional arguments.
func parseInterleaved(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		if fs.NArg() == 0 {
			return pos, nil
		}
		pos = append(pos, fs.Arg(0))
		args = fs.Args()[1:]
	}
}

func readSmallFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(io.LimitReader(f, 4096))
}

func (c *adminCLI) fail(err error) int {
	var ce *cliError
	if errors.As(err, &ce) {
		fmt.Fprintf(c.stderr, "gatehouse: %s\n", ce.msg)
		return ce.code
	}
	fmt.Fprintf(c.stderr, "gatehouse: %v\n", err)
	return ExitError
}

// clientCredentials gets an admin access token at the issuer's token
// endpoint (RFC 6749 4.4) for the admin API (RFC 8707 resource).
func (c *adminCLI) clientCredentials(ctx context.Context, issuer, id, secret, scope string) (string, error) {
	form := url.Values{"grant_type": {"client_credentials"}, "resource": {gatehouse.AdminAudience}, "scope": {scope}}
	req, err := http.NewRequestWithContext(ctx, "POST", strings.TrimSuffix(issuer, "/")+"/oauth/token", strings.NewReader(form.Encode()))
	if err != nil {
		return "", &cliError{ExitUsage, "issuer: " + err.Error()}
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(url.QueryEscape(id), url.QueryEscape(secret))
	resp, err := c.hc.Do(req)
	if err != nil {
		return "", fmt.Errorf("token endpoint: %w", err)
	}
	defer resp.Body.Close()
	var body struct {
		AccessToken string `json:"access_token"`
		Error       string `json:"error"`
		Description string `json:"error_description"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&body); err != nil {
		return "", fmt.Errorf("token endpoint answered %d without JSON", resp.StatusCode)
	}
	if resp.StatusCode != 200 || body.AccessToken == "" {
		code := ExitError
		if resp.StatusCode == 400 || resp.StatusCode == 401 {
			code = ExitUnauthorized
		}
		return "", &cliError{code, "token endpoint: " + body.Error + ": " + body.Description}
	}
	return body.AccessToken, nil
}

// call sends one request to the admin API and decodes a JSON answer into
// out. A problem document becomes a *cliError with its exit code.
func (c *adminCLI) call(ctx context.Context, method, path string, body any, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return &cliError{ExitUsage, "admin URL: " + err.Error()}
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	resp, err := c.hc.Do(req)
	if err != nil {
		return fmt.Errorf("admin API: %w", err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return fmt.Errorf("admin API: %w", err)
	}
	if resp.StatusCode >= 400 {
		var p struct {
			Title, Detail, Field string
		}
		_ = json.Unmarshal(raw, &p)
		msg := fmt.Sprintf("%d %s", resp.StatusCode, p.Title)
		if p.Detail != "" {
			msg += ": " + p.Detail
		}
		return &cliError{exitFor(resp.StatusCode), msg}
	}
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			return fmt.Errorf("admin API answered %d with %d bytes that are not JSON", resp.StatusCode, len(raw))
		}
	}
	return nil
}

// exitFor maps an admin API status to the CLI's exit code.
func exitFor(status int) int {
	switch status {
	case 404:
		return ExitNotFound
	case 409, 412, 428:
		return ExitConflict
	case 401, 403:
		return ExitUnauthorized
	case 400, 413, 415, 422:
		return ExitInvalid
	}
	return ExitError
}

// list fetches every page of a list and prints the items: a table of the
// given columns, or a JSON array.
func (c *adminCLI) list(ctx context.Context, path string, q url.Values, heads, cols []string) error {
	var items []map[string]any
	q.Set("limit", "500")
	for {
		var page struct {
			Items      []map[string]any `json:"items"`
			NextCursor string           `json:"next_cursor"`
		}
		if err := c.call(ctx, "GET", path+"?"+q.Encode(), nil, &page); err != nil {
			return err
		}
		items = append(items, page.Items...)
		if page.NextCursor == "" {
			break
		}
		q.Set("cursor", page.NextCursor)
	}
	if c.json {
		if items == nil {
			items = []map[string]any{}
		}
		return writeJSONOut(c.stdout, items)
	}
	tw := tabwriter.NewWriter(c.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, strings.Join(heads, "\t"))
	for _, it := range items {
		var cells []string
		for _, col := range cols {
			cells = append(cells, cell(it[col]))
		}
		fmt.Fprintln(tw, strings.Join(cells, "\t"))
	}
	return tw.Flush()
}

// show prints one object: "key: value" lines, or JSON.
func (c *adminCLI) show(ctx context.Context, method, path string, body any) error {
	var obj map[string]any
	if err := c.call(ctx, method, path, body, &obj); err != nil {
		return err
	}
	if c.json {
		return writeJSONOut(c.stdout, obj)
	}
	keys := make([]string, 0, len(obj))
	for k := range obj {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	tw := tabwriter.NewWriter(c.stdout, 0, 4, 2, ' ', 0)
	for _, k := range keys {
		fmt.Fprintf(tw, "%s:\t%s\n", termSafe(k), cell(obj[k]))
	}
	return tw.Flush()
}

func writeJSONOut(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// cell renders one JSON value in a table.
func cell(v any) string {
	switch v := v.(type) {
	case nil:
		return "-"
	case string:
		if v == "" {
			return "-"
		}
		// Names and reasons come from developers and clients: no byte
		// of theirs reaches the operator's terminal raw.
		return termSafe(v)
	case float64:
		return strconv.FormatFloat(v, 'f', -1, 64)
	case bool:
		return strconv.FormatBool(v)
	case []any:
		var parts []string
		for _, x := range v {
			parts = append(parts, cell(x))
		}
		if len(parts) == 0 {
			return "-"
		}
		return strings.Join(parts, ",")
	}
	b, _ := json.Marshal(v)
	return string(b)
}

func contains(xs []string, x string) bool {
	for _, y := range xs {
		if y == x {
			return true
		}
	}
	return false
}
