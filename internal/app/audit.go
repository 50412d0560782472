package app

import (
	"bufio"
	"context"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"time"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/internal/audit"
	"github.com/gatehouse/gatehouse/internal/seal"
	"github.com/gatehouse/gatehouse/internal/sqlite"
	"github.com/gatehouse/gatehouse/internal/token"
)

// ExitTampered is `gatehouse audit verify`'s exit code when the log is not
// intact (1 means the check itself could not run).
const ExitTampered = 4

const auditUsage = `Usage:
  gatehouse audit verify [--file EXPORT] [--data DIR] [--config FILE]
      recompute the hash chain (of the store, or of a whole NDJSON export),
      check the signed checkpoints (store and DATA/audit/checkpoints.jsonl);
      exit 0 when intact, 4 when not
  gatehouse audit export [--since TIME] [--until TIME] [--data DIR] [--config FILE]
      write the entries as NDJSON to stdout (TIME in RFC 3339)
`

// withAuditEvents is the store with security events recorded through the
// audit log as well, for the surfaces that record events.
type withAuditEvents struct {
	*sqlite.DB
	events *audit.Events
}

func (s withAuditEvents) RecordEvent(ctx context.Context, e *gatehouse.SecurityEvent) error {
	return s.events.RecordEvent(ctx, e)
}

// auditEventSync is how often security events recorded without going
// through audit.Events (bulk revocations in store transactions, other
// processes) are appended to the audit log.
const auditEventSync = time.Second

// startAudit sets up the node's audit log and checkpointer; the caller
// starts their loops with the other background jobs.
func (n *Node) startAudit(cfg string, now func() time.Time) *audit.Events {
	n.Audit = &audit.Log{Store: n.Store, Now: now}
	n.AuditCheckpoints = &audit.Checkpointer{Store: n.Store, Signer: n.Keyring,
		File: filepath.Join(cfg, audit.CheckpointFile), Now: now, Log: n.log}
	return &audit.Events{Store: n.Store, Log: n.Audit}
}

// finalCheckpoint appends the events still queued and signs the head once
// more at shutdown, after the listeners and background jobs have stopped,
// so that the last entries are covered.
func (n *Node) finalCheckpoint() {
	if n.AuditCheckpoints == nil || n.Store == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := n.Audit.SyncEvents(ctx); err != nil {
		n.log.Error("final audit event sync", "err", err)
	}
	if _, err := n.AuditCheckpoints.Checkpoint(ctx); err != nil {
		n.log.Error("final audit checkpoint", "err", err)
	}
}

// cliAudit records a command that changed the store directly, bypassing
// the admin API: actor "cli", the operating system user in the details. A
// failure to record is reported on stderr; the change has been made.
func cliAudit(ctx context.Context, db audit.Store, action, targetType, targetID string, code int, stderr io.Writer) {
	outcome := gatehouse.AuditSuccess
	if code != ExitOK {
		outcome = gatehouse.AuditFailure
	}
	d := map[string]string{"exit_code": strconv.Itoa(code)}
	appendCLIAudit(ctx, db, audit.Record{Actor: "cli", Action: "cli " + action, TargetType: targetType,
		TargetID: audit.Clean(targetID), Outcome: outcome, Details: d}, stderr)
}

// appendCLIAudit appends r with the operating system user added to its
// details; a failure to record is reported on stderr.
func appendCLIAudit(ctx context.Context, db audit.Store, r audit.Record, stderr io.Writer) {
	if r.Details == nil {
		r.Details = map[string]string{}
	}
	if u, err := user.Current(); err == nil {
		r.Details["os_user"] = u.Username
	}
	if _, err := (&audit.Log{Store: db}).Append(ctx, r); err != nil {
		fmt.Fprintf(stderr, "gatehouse: audit log: %v\n", err)
	}
}

func runAudit(ctx context.Context, args []string, env func(string) (string, bool), stdout, stderr io.Writer) int {
	if len(args) == 0 || (args[0] != "verify" && args[0] != "export") {
		fmt.Fprint(stderr, auditUsage)
		return ExitUsage
	}
	verb := args[0]
	fs := flag.NewFlagSet("audit "+verb, flag.ContinueOnError)
	fs.SetOutput(stderr)
	getenv := func(k string) string { v, _ := env(k); return v }
	f := &commonFlags{}
	fs.StringVar(&f.config, "config", getenv("GATEHOUSE_CONFIG"), "config `file` (YAML)")
	fs.StringVar(&f.data, "data", getenv("GATEHOUSE_DATA"), "data `directory`")
	var since, until, file string
	if verb == "verify" {
		fs.StringVar(&file, "file", "", "verify this NDJSON `export` (a whole one, from seq 1) instead of the store")
	}
	if verb == "export" {
		fs.StringVar(&since, "since", "", "only entries at or after `time` (RFC 3339)")
		fs.StringVar(&until, "until", "", "only entries before `time` (RFC 3339)")
	}
	if err := fs.Parse(args[1:]); err != nil {
		return ExitUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "gatehouse: unexpected argument %q\n", fs.Arg(0))
		return ExitUsage
	}
	var filter gatehouse.AuditFilter
	for _, p := range []struct {
		name, v string
		dst     *time.Time
	}{{"since", since, &filter.Since}, {"until", until, &filter.Until}} {
		if p.v == "" {
			continue
		}
		t, err := time.Parse(time.RFC3339Nano, p.v)
		if err != nil {
			fmt.Fprintf(stderr, "gatehouse: --%s %q is not an RFC 3339 time such as 2026-01-02T15:04:05Z\n", p.name, p.v)
			return ExitUsage
		}
		*p.dst = t
	}
	cfg, db, code := openStore(ctx, f, env, stderr)
	if code != ExitOK {
		return code
	}
	defer db.Close()
	if verb == "export" {
		if err := exportAudit(ctx, db, filter, stdout); err != nil {
			fmt.Fprintf(stderr, "gatehouse: %v\n", err)
			return ExitError
		}
		return ExitOK
	}
	keys, err := loadPublicKeys(ctx, db, cfg.DataDir, env)
	if err != nil {
		fmt.Fprintf(stderr, "gatehouse: %v\n", err)
		return ExitError
	}
	return verifyAudit(ctx, db, keys, filepath.Join(cfg.DataDir, audit.CheckpointFile), file, stdout, stderr)
}

// loadPublicKeys decrypts the store's signing keys with the master key
// (never creating one) and returns them as a keyring.
func loadPublicKeys(ctx context.Context, db *sqlite.DB, dataDir string, env func(string) (string, bool)) (*token.Keyring, error) {
	masterEnv, _ := env("GATEHOUSE_MASTER_KEY")
	path := filepath.Join(dataDir, "master.key")
	if masterEnv == "" {
		if _, err := os.Stat(path); err != nil {
			return nil, fmt.Errorf("no master key (%s or GATEHOUSE_MASTER_KEY): the checkpoints cannot be checked", path)
		}
	}
	mk, _, err := seal.LoadOrCreateKey(path, masterEnv)
	if err != nil {
		return nil, err
	}
	box, err := seal.New(mk)
	if err != nil {
		return nil, err
	}
	kr := &token.Keyring{}
	if err := (&token.KeyManager{Store: db, Keys: kr, Sealer: box}).Reload(ctx); err != nil {
		return nil, fmt.Errorf("load signing keys: %w", err)
	}
	return kr, nil
}

// verifyAudit checks the store's chain, or the export at exportPath, against
// the checkpoints of the store and of the checkpoint file.
func verifyAudit(ctx context.Context, db *sqlite.DB, keys *token.Keyring, file, exportPath string, stdout, stderr io.Writer) int {
	stored, err := db.FindAuditCheckpoints(ctx)
	if err != nil {
		fmt.Fprintf(stderr, "gatehouse: %v\n", err)
		return ExitError
	}
	var cps audit.Checkpoints
	for _, c := range stored {
		cps.Stored = append(cps.Stored, c.JWS)
	}
	fromFile, ferr := audit.ReadCheckpointFile(file)
	cps.File = fromFile
	var r *audit.Report
	if exportPath != "" {
		f, ferr := os.Open(exportPath)
		if ferr != nil {
			fmt.Fprintf(stderr, "gatehouse: %v\n", ferr)
			return ExitError
		}
		defer f.Close()
		r, err = audit.VerifyNDJSON(f, cps, keys)
	} else {
		r, err = audit.Verify(ctx, db, cps, keys)
	}
	if err != nil {
		fmt.Fprintf(stderr, "gatehouse: %v\n", err)
		return ExitError
	}
	if ferr != nil {
		r.Problems = append([]audit.Problem{{Seq: 0, Reason: ferr.Error()}}, r.Problems...)
	}
	if !r.OK() {
		if bad := r.FirstBad(); bad > 0 {
			fmt.Fprintf(stdout, "audit log NOT intact: first bad seq %d\n", bad)
		} else {
			fmt.Fprintln(stdout, "audit log NOT intact: the checkpoints are forged, damaged or cannot be verified")
		}
		for _, p := range r.Problems {
			fmt.Fprintf(stdout, "  %s\n", p)
		}
		fmt.Fprintf(stdout, "read %d entries; %d signed checkpoints verified\n", r.Entries, r.Checkpoints)
		return ExitTampered
	}
	fmt.Fprintf(stdout, "audit log intact: %d entries, head seq %d", r.Entries, r.Head.Seq)
	if r.Head.Seq > 0 {
		fmt.Fprintf(stdout, " (hash %s)", hex.EncodeToString(r.Head.Hash))
	}
	fmt.Fprintf(stdout, "\n%d signed checkpoints verified", r.Checkpoints)
	if r.Checkpoints > 0 {
		fmt.Fprintf(stdout, ", the latest naming seq %d (signed %s)", r.Latest, r.LatestAt.Format(time.RFC3339))
	}
	fmt.Fprintln(stdout)
	if r.Unverifiable > 0 {
		fmt.Fprintf(stdout, "note: %d checkpoints were signed by keys neither in the store nor recorded in the checkpoint file; their signatures could not be checked, the entries they name were\n", r.Unverifiable)
	}
	switch {
	case r.Head.Seq > 0 && r.Checkpoints == 0:
		fmt.Fprintln(stdout, "warning: no verifiable checkpoint: deleting the newest entries would go unnoticed")
	case r.Head.Seq > r.Latest:
		fmt.Fprintf(stdout, "note: entries %d to %d are newer than the latest checkpoint; their removal would go unnoticed until the next one\n", r.Latest+1, r.Head.Seq)
	}
	if len(fromFile) == 0 && len(stored) > 0 {
		fmt.Fprintf(stdout, "warning: %s is missing or empty; checkpoints are only in the database\n", file)
	}
	return ExitOK
}

// exportAudit writes the entries matching f as NDJSON, page by page.
func exportAudit(ctx context.Context, db *sqlite.DB, f gatehouse.AuditFilter, w io.Writer) error {
	bw := bufio.NewWriter(w)
	f.Limit = 1000
	for {
		es, err := db.FindAuditEntries(ctx, f)
		if err != nil {
			return err
		}
		for _, e := range es {
			line, err := audit.MarshalLine(e)
			if err != nil {
				return err
			}
			if _, err := bw.Write(line); err != nil {
				return err
			}
			f.AfterSeq = e.Seq
		}
		if len(es) < f.Limit {
			break
		}
	}
	if err := bw.Flush(); err != nil {
		return errors.Join(errors.New("write export"), err)
	}
	return nil
}
