package app

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/internal/audit"
	"github.com/gatehouse/gatehouse/internal/password"
	"github.com/gatehouse/gatehouse/internal/sqlite"
	"github.com/gatehouse/gatehouse/internal/token"
)

const usersUsage = `Usage:
  gatehouse users add NAME        [--data DIR] [--config FILE]   (password read from stdin)
  gatehouse users passwd NAME     [--data DIR] [--config FILE]   (password read from stdin)
  gatehouse users disable NAME    [--data DIR] [--config FILE]
  gatehouse users enable NAME     [--data DIR] [--config FILE]
  gatehouse users revoke-grants NAME [--data DIR] [--config FILE]
  gatehouse users list            [--data DIR] [--config FILE]
  gatehouse users hash            (password from stdin; prints an argon2id hash for the config file)
`

// runUsers manages local user accounts directly in the store. A running
// node sees the changes at once (users are read per login) and picks up
// revocations at its next revocation sync (10 s).
func runUsers(ctx context.Context, args []string, env func(string) (string, bool), stdin io.Reader, stdout, stderr io.Writer) (code int) {
	if len(args) == 0 {
		fmt.Fprint(stderr, usersUsage)
		return ExitUsage
	}
	verb, rest := args[0], args[1:]
	if verb == "hash" {
		// For the config file's users: print a hash, touch no store.
		pw, err := readPassword(stdin)
		if err != nil {
			fmt.Fprintf(stderr, "gatehouse: %v\n", err)
			return ExitUsage
		}
		h, err := password.Hash(pw, password.Default)
		if err != nil {
			fmt.Fprintf(stderr, "gatehouse: %v\n", err)
			return ExitError
		}
		fmt.Fprintln(stdout, h)
		return ExitOK
	}
	name := ""
	if verb != "list" {
		if len(rest) == 0 || strings.HasPrefix(rest[0], "-") {
			fmt.Fprint(stderr, usersUsage)
			return ExitUsage
		}
		name, rest = rest[0], rest[1:]
	}
	f, err := parseFlags("users "+verb, rest, env, stderr, false)
	if err != nil {
		return ExitUsage
	}
	cfg, err := loadConfig(f, env)
	if err != nil {
		fmt.Fprintf(stderr, "gatehouse: %v\n", err)
		return ExitConfig
	}
	dbPath := filepath.Join(cfg.DataDir, "gatehouse.db")
	if verb != "add" {
		if _, err := os.Stat(dbPath); err != nil {
			fmt.Fprintf(stderr, "gatehouse: no store at %s: pass --data\n", dbPath)
			return ExitError
		}
	}
	db, err := sqlite.Open(ctx, dbPath)
	if err != nil {
		fmt.Fprintf(stderr, "gatehouse: %v\n", err)
		return ExitError
	}
	defer db.Close()
	if verb != "list" {
		defer func() { cliAudit(ctx, db, "users "+verb, "user", name, code, stderr) }()
	}
	now := time.Now()
	fail := func(err error) int {
		fmt.Fprintf(stderr, "gatehouse: %s\n", gatehouse.ErrorMessage(err))
		if gatehouse.ErrorCode(err) == gatehouse.CodeInternal {
			fmt.Fprintf(stderr, "gatehouse: %v\n", err)
		}
		return ExitError
	}
	switch verb {
	case "add", "passwd":
		pw, err := readPassword(stdin)
		if err != nil {
			fmt.Fprintf(stderr, "gatehouse: %v\n", err)
			return ExitUsage
		}
		hash, err := password.Hash(pw, password.Default)
		if err != nil {
			return fail(err)
		}
		if verb == "add" {
			if err := validUsername(name); err != nil {
				fmt.Fprintf(stderr, "gatehouse: %v\n", err)
				return ExitUsage
			}
			u := &gatehouse.User{ID: token.NewID(), Username: name, PasswordHash: hash, CreatedAt: now, UpdatedAt: now}
			if err := db.CreateUser(ctx, u); err != nil {
				return fail(err)
			}
			fmt.Fprintf(stdout, "user %s added (id %s)\n", name, u.ID)
			return ExitOK
		}
		return updateUser(ctx, db, name, stdout, fail, func(u *gatehouse.User) { u.PasswordHash = hash }, "password changed")
	case "disable":
		return updateUser(ctx, db, name, stdout, fail, func(u *gatehouse.User) { u.Disabled = true }, "disabled")
	case "enable":
		return updateUser(ctx, db, name, stdout, fail, func(u *gatehouse.User) { u.Disabled = false }, "enabled")
	case "revoke-grants":
		u, err := db.FindUserByUsername(ctx, name)
		if err != nil {
			return fail(err)
		}
		ids, err := db.RevokeGrantsBySubject(ctx, u.ID, now)
		if err != nil {
			return fail(err)
		}
		events := &audit.Events{Store: db, Log: &audit.Log{Store: db}}
		_ = events.RecordEvent(ctx, &gatehouse.SecurityEvent{ID: token.NewID(), Type: gatehouse.EventUserGrantsRevoked, Subject: u.ID,
			Detail: fmt.Sprintf("%d grants revoked from the command line", len(ids)), At: now})
		fmt.Fprintf(stdout, "%d grants of %s revoked\n", len(ids), name)
		return ExitOK
	case "list":
		users, err := db.FindUsers(ctx)
		if err != nil {
			return fail(err)
		}
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "USERNAME\tID\tSTATUS\tCREATED")
		for _, u := range users {
			status := "active"
			if u.Disabled {
				status = "disabled"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", termSafe(u.Username), u.ID, status, u.CreatedAt.UTC().Format(time.RFC3339))
		}
		_ = tw.Flush()
		return ExitOK
	}
	fmt.Fprint(stderr, usersUsage)
	return ExitUsage
}

type userStore interface {
	FindUserByUsername(ctx context.Context, username string) (*gatehouse.User, error)
	UpdateUser(ctx context.Context, u *gatehouse.User) error
}

func updateUser(ctx context.Context, db userStore, name string, stdout io.Writer, fail func(error) int, change func(*gatehouse.User), done string) int {
	u, err := db.FindUserByUsername(ctx, name)
	if err != nil {
		return fail(err)
	}
	change(u)
	u.UpdatedAt = time.Now()
	if err := db.UpdateUser(ctx, u); err != nil {
		return fail(err)
	}
	fmt.Fprintf(stdout, "user %s: %s\n", name, done)
	return ExitOK
}

// readPassword reads one line from stdin (a terminal or a pipe), so that
// the password never appears in the process list or shell history.
func readPassword(stdin io.Reader) (string, error) {
	line, err := bufio.NewReader(io.LimitReader(stdin, 8192)).ReadString('\n')
	if err != nil && err != io.EOF {
		return "", fmt.Errorf("read password from stdin: %w", err)
	}
	pw := strings.TrimRight(line, "\r\n")
	if err := password.Check(pw); err != nil {
		return "", err
	}
	return pw, nil
}

func validUsername(name string) error {
	if len(name) == 0 || len(name) > 64 {
		return fmt.Errorf("username must be 1 to 64 characters")
	}
	for _, c := range name {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.ContainsRune("._-@+", c)) {
			return fmt.Errorf("username may contain letters, digits and . _ - @ + only")
		}
	}
	return nil
}
