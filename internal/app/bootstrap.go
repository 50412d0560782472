package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/internal/config"
	"github.com/gatehouse/gatehouse/internal/token"
)

// ClientStore is what client bootstrap needs from the store.
type ClientStore interface {
	CreateClient(ctx context.Context, c *gatehouse.Client) error
	FindClientByID(ctx context.Context, id string) (*gatehouse.Client, error)
	UpdateClient(ctx context.Context, c *gatehouse.Client) error
	FindClients(ctx context.Context, f gatehouse.ClientFilter) ([]*gatehouse.Client, error)
}

// syncClients creates the administrator client on first start and makes the
// config file's clients match the store. Gatehouse ships no secret: a
// secret it must invent is generated, shown once on stderr and written to a
// 0600 file in the data directory.
func syncClients(ctx context.Context, st ClientStore, cfg *config.Config, env func(string) (string, bool), stderr io.Writer, log *slog.Logger, now time.Time) error {
	if err := bootstrapAdmin(ctx, st, cfg.DataDir, env, stderr, log, now); err != nil {
		return err
	}
	if err := bootstrapConsole(ctx, st, now); err != nil {
		return err
	}
	inFile := map[string]bool{}
	for i := range cfg.Clients {
		inFile[cfg.Clients[i].ID] = true
	}
	// A client removed from the file is disabled, not left working: the
	// file owns its clients. (Disabled, not deleted, so its id is not
	// reused by accident and its records stay for investigation.)
	stored, err := st.FindClients(ctx, gatehouse.ClientFilter{Source: gatehouse.SourceConfig})
	if err != nil {
		return fmt.Errorf("find config clients: %w", err)
	}
	for _, old := range stored {
		if !inFile[old.ID] && !old.Disabled {
			old.Disabled, old.UpdatedAt = true, now
			if err := st.UpdateClient(ctx, old); err != nil {
				return fmt.Errorf("disable removed client %s: %w", old.ID, err)
			}
			log.Warn("client removed from the config file: disabled", "client_id", old.ID)
		}
	}
	for i := range cfg.Clients {
		cc := cfg.Clients[i]
		c := cc.Client
		c.Source = gatehouse.SourceConfig
		old, err := st.FindClientByID(ctx, c.ID)
		switch {
		case gatehouse.ErrorCode(err) == gatehouse.CodeNotFound:
			if cc.GenerateSecret {
				secret := gatehouse.NewSecret(token.PrefixClientSecret)
				c.SecretHash = gatehouse.HashSecret(secret)
				path := filepath.Join(cfg.DataDir, "secrets", c.ID+".secret")
				if err := writeSecretFile(path, secret); err != nil {
					return err
				}
				// Only the path: stderr often ends up in a log collector.
				fmt.Fprintf(stderr, "Generated a secret for client %q; read it from %s (mode 0600).\n", c.ID, path)
			}
			c.CreatedAt, c.UpdatedAt = now, now
			if err := st.CreateClient(ctx, &c); err != nil {
				return fmt.Errorf("create client %s: %w", c.ID, err)
			}
			log.Info("client created from config", "client_id", c.ID)
		case err != nil:
			return fmt.Errorf("find client %s: %w", c.ID, err)
		case old.Source != gatehouse.SourceConfig:
			return fmt.Errorf("config client %q: a client with that id was created another way (%s); rename it in the config", c.ID, old.Source)
		default:
			if cc.GenerateSecret {
				c.SecretHash = old.SecretHash // keep the secret generated earlier
			}
			if len(diffFields(comparableClient(*old, false), comparableClient(c, false))) == 0 {
				continue // unchanged: no write, the revision (ETag) stays
			}
			c.CreatedAt, c.UpdatedAt = old.CreatedAt, now
			if err := st.UpdateClient(ctx, &c); err != nil {
				return fmt.Errorf("update client %s: %w", c.ID, err)
			}
		}
	}
	return nil
}

// bootstrapConsole creates the public client people use to get a token for
// the admin API (developers, auditors, administrators): authorization code
// with PKCE and a loopback redirect (RFC 8252), any port. The scopes their
// tokens get follow their account's role (oauth adminScopesFor). It has no
// secret, so there is nothing to hand out.
func bootstrapConsole(ctx context.Context, st ClientStore, now time.Time) error {
	_, err := st.FindClientByID(ctx, gatehouse.ConsoleClientID)
	if err == nil {
		return nil
	} else if gatehouse.ErrorCode(err) != gatehouse.CodeNotFound {
		return fmt.Errorf("find console client: %w", err)
	}
	c := &gatehouse.Client{
		ID: gatehouse.ConsoleClientID, Name: "Gatehouse console and CLI",
		AuthMethod:   gatehouse.AuthNone,
		GrantTypes:   []string{gatehouse.GrantAuthorizationCode, gatehouse.GrantRefreshToken},
		RedirectURIs: []string{"http://127.0.0.1/callback", "http://[::1]/callback"},
		Access: []gatehouse.Access{{API: gatehouse.AdminAPIName,
			Scopes: []string{gatehouse.AdminScope, gatehouse.AdminReadScope, gatehouse.DeveloperScope}}},
		Source: gatehouse.SourceBootstrap, CreatedAt: now, UpdatedAt: now,
	}
	if err := st.CreateClient(ctx, c); err != nil && gatehouse.ErrorCode(err) != gatehouse.CodeConflict {
		return fmt.Errorf("create console client: %w", err)
	}
	return nil
}

func bootstrapAdmin(ctx context.Context, st ClientStore, dataDir string, env func(string) (string, bool), stderr io.Writer, log *slog.Logger, now time.Time) error {
	_, err := st.FindClientByID(ctx, gatehouse.AdminClientID)
	if err == nil {
		return nil
	} else if gatehouse.ErrorCode(err) != gatehouse.CodeNotFound {
		return fmt.Errorf("find admin client: %w", err)
	}
	secret, fromEnv := env("GATEHOUSE_BOOTSTRAP_SECRET")
	if fromEnv && len(secret) < gatehouse.MinSecretBytes {
		return fmt.Errorf("GATEHOUSE_BOOTSTRAP_SECRET must be at least %d characters of random data (try: openssl rand -base64 32)", gatehouse.MinSecretBytes)
	}
	if !fromEnv {
		secret = gatehouse.NewSecret(token.PrefixClientSecret)
	}
	c := &gatehouse.Client{
		ID:         gatehouse.AdminClientID,
		Name:       "Gatehouse administrator",
		AuthMethod: gatehouse.AuthSecretBasic,
		SecretHash: gatehouse.HashSecret(secret),
		GrantTypes: []string{gatehouse.GrantClientCredentials},
		Access: []gatehouse.Access{{
			API: gatehouse.AdminAPIName,
			// admin:read lets scripts that only read ask for less.
			Scopes:        []string{gatehouse.AdminScope, gatehouse.AdminReadScope},
			DefaultScopes: []string{gatehouse.AdminScope},
		}},
		Source:    gatehouse.SourceBootstrap,
		CreatedAt: now,
		UpdatedAt: now,
	}
	if err := st.CreateClient(ctx, c); err != nil {
		if gatehouse.ErrorCode(err) == gatehouse.CodeConflict {
			return nil // another node bootstrapped at the same moment
		}
		return fmt.Errorf("create admin client: %w", err)
	}
	if fromEnv {
		log.Info("created administrator client with the secret from GATEHOUSE_BOOTSTRAP_SECRET", "client_id", c.ID)
		return nil
	}
	path := filepath.Join(dataDir, "admin-secret")
	if err := writeSecretFile(path, secret); err != nil {
		return err
	}
	fmt.Fprintf(stderr, "\nCreated the administrator client %q (client_credentials, scope admin).\nIts secret is shown only now and saved (mode 0600) in %s:\n\n    %s\n\n", c.ID, path, secret)
	return nil
}

// writeSecretFile writes secret to a new file only its owner can read; it
// refuses to overwrite one.
func writeSecretFile(path, secret string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("secret file: %w", err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		if errors.Is(err, os.ErrExist) {
			return fmt.Errorf("secret file %s already exists; remove it or restore the store it belongs to", path)
		}
		return fmt.Errorf("secret file: %w", err)
	}
	if _, err := f.WriteString(secret + "\n"); err != nil {
		f.Close()
		return fmt.Errorf("secret file: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("secret file: %w", err)
	}
	return f.Close()
}

// UserStore is what user sync needs from the store.
type UserStore interface {
	CreateUser(ctx context.Context, u *gatehouse.User) error
	FindUserByUsername(ctx context.Context, username string) (*gatehouse.User, error)
	UpdateUser(ctx context.Context, u *gatehouse.User) error
}

// syncUsers makes the config file's users exist with the file's password
// hash and status. Users made with `gatehouse users add` are left alone.
func syncUsers(ctx context.Context, st UserStore, users []config.User, log *slog.Logger, now time.Time) error {
	for _, cu := range users {
		u, err := st.FindUserByUsername(ctx, cu.Username)
		switch {
		case gatehouse.ErrorCode(err) == gatehouse.CodeNotFound:
			u = &gatehouse.User{ID: token.NewID(), Username: cu.Username, PasswordHash: cu.PasswordHash,
				Disabled: cu.Disabled, Role: cu.Role, Team: cu.Team, CreatedAt: now, UpdatedAt: now}
			if err := st.CreateUser(ctx, u); err != nil {
				return fmt.Errorf("create user %s: %w", cu.Username, err)
			}
			log.Info("user created from config", "user_id", u.ID)
		case err != nil:
			return fmt.Errorf("find user %s: %w", cu.Username, err)
		case u.PasswordHash != cu.PasswordHash || u.Disabled != cu.Disabled || u.Role != cu.Role || u.Team != cu.Team:
			u.PasswordHash, u.Disabled, u.Role, u.Team, u.UpdatedAt = cu.PasswordHash, cu.Disabled, cu.Role, cu.Team, now
			if err := st.UpdateUser(ctx, u); err != nil {
				return fmt.Errorf("update user %s: %w", cu.Username, err)
			}
		}
	}
	return nil
}
