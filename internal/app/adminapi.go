package app

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/internal/admin"
	"github.com/gatehouse/gatehouse/internal/proxy"
)

// adminHandler wires the admin API to this node's store and state.
func (n *Node) adminHandler(policy gatehouse.TokenPolicy, cat *catalog, metrics http.Handler, log *slog.Logger, now func() time.Time) *admin.Handler {
	return &admin.Handler{
		Verifier: n.Verifier, Tokens: n.Store, Keys: n.Keys, Keyring: n.Keyring, Store: n.Store,
		Users: n.Store, Revocations: n.Revocations, GrantLifetime: policy.RefreshTokenTTL,
		Clients: n.Store, APIByName: cat.API, Accounts: n.Store,
		Teams: n.Store, AccountsStore: n.Store, APIs: n.Store, Apps: n.Store, Subscriptions: n.Store,
		Changed:     n.adminChanged,
		ValidateAPI: validateAPI,
		Metrics:     metrics, Log: log, Now: now,
	}
}

// validateAPI checks that an API version made through the admin API
// compiles into a routing table.
func validateAPI(a *gatehouse.API) error {
	if _, err := proxy.Compile([]gatehouse.API{*a}); err != nil {
		return gatehouse.Errorf(gatehouse.CodeInvalid, "%s", err.Error())
	}
	return nil
}

// adminChanged applies a change made through the admin API on this node
// before the response goes out: disabled and deleted apps stop at once.
func (n *Node) adminChanged(ctx context.Context) error {
	clients, err := n.Store.FindClients(ctx, gatehouse.ClientFilter{})
	if err != nil {
		return fmt.Errorf("load clients: %w", err)
	}
	for _, c := range clients {
		n.Revocations.SetSuspended(c.ID, c.Disabled)
	}
	return nil
}
