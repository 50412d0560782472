package app

import (
	"log/slog"
	"net/http"
	"time"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/internal/admin"
	"github.com/gatehouse/gatehouse/internal/audit"
	"github.com/gatehouse/gatehouse/internal/config"
	"github.com/gatehouse/gatehouse/internal/proxy"
)

// adminHandler wires the admin API to this node's store and state. Every
// change it makes is applied on this node (GovernanceChanged) before its
// response goes out.
func (n *Node) adminHandler(policy gatehouse.TokenPolicy, cat *catalog, metrics http.Handler, log *slog.Logger, now func() time.Time, events *audit.Events) *admin.Handler {
	return &admin.Handler{
		Verifier: n.Verifier, Tokens: n.Store, Keys: n.Keys, Keyring: n.Keyring, Store: n.Store,
		Users: withAuditEvents{n.Store, events}, Revocations: n.Revocations, GrantLifetime: policy.RefreshTokenTTL,
		Clients: n.Store, APIByName: cat.API, Accounts: n.Store, Audit: n.Audit,
		Teams: n.Store, AccountsStore: n.Store, APIs: n.Store, Apps: n.Store, Subscriptions: n.Store,
		Changed:     n.GovernanceChanged,
		IssueAPIKey: n.IssueAPIKey,
		ValidateAPI: func(a *gatehouse.API) error { return validateAPI(cat, a) },
		ValidateOpenAPI: func(doc []byte) error {
			if _, err := config.CheckOpenAPI(doc); err != nil {
				return gatehouse.Errorf(gatehouse.CodeInvalid, "the document %v", err)
			}
			return nil
		},
		Metrics: metrics, Log: log, Now: now,
	}
}

// validateAPI checks that the catalog with a (new, or replacing the
// version of that name) still compiles into a routing table, so that the
// admin API never stores a catalog the gateway would refuse to load.
func validateAPI(cat *catalog, a *gatehouse.API) error {
	apis := []gatehouse.API{*a}
	for _, x := range cat.APIs() {
		if x.Name != a.Name && x.Name != gatehouse.AdminAPIName {
			apis = append(apis, *x)
		}
	}
	if _, err := proxy.Compile(apis); err != nil {
		return gatehouse.Errorf(gatehouse.CodeInvalid, "%s", err.Error())
	}
	return nil
}
