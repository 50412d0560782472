// Package storetest is the conformance suite that every store implementation
// (internal/sqlite, later internal/postgres) runs, so that they behave the
// same way. Run(t, open) exercises a fresh, empty store from open.
package storetest

import (
	"context"
	"time"

	"github.com/gatehouse/gatehouse"
)

// Store is everything the suite checks. Each surface declares the subset it
// needs in its own package; a store implementation satisfies all of them.
//
// Error contract: lookups of missing rows return a *gatehouse.Error with
// CodeNotFound; creating a row whose key exists returns CodeConflict; a
// missing key (an empty ID, a token without hash or expiry) returns
// CodeInvalid; every method that changes state does so in one transaction,
// so a failed call leaves nothing half-written. Other errors are internal.
//
// Times round-trip exactly, to the nanosecond (as instants: the location is
// not kept); the zero time round-trips as zero. Nil and empty slices are
// interchangeable.
type Store interface {
	// Clients.
	CreateClient(ctx context.Context, c *gatehouse.Client) error
	FindClientByID(ctx context.Context, id string) (*gatehouse.Client, error)
	// FindClients returns the clients matching f, ordered by ID.
	FindClients(ctx context.Context, f gatehouse.ClientFilter) ([]*gatehouse.Client, error)
	// UpdateClient replaces every field but ID and CreatedAt. CodeNotFound
	// if the client does not exist.
	UpdateClient(ctx context.Context, c *gatehouse.Client) error
	DeleteClient(ctx context.Context, id string) error

	// Tokens.

	// CreateToken stores t. CodeConflict also when t's grant has been
	// revoked, so that a refresh racing the revocation of its family cannot
	// add a live token to it.
	CreateToken(ctx context.Context, t *gatehouse.Token) error
	FindTokenByHash(ctx context.Context, hash []byte) (*gatehouse.Token, error)
	FindTokenByID(ctx context.Context, id string) (*gatehouse.Token, error)
	// RevokeToken marks one token revoked at `at`. It reports whether this
	// call revoked it (false when it was already revoked, whose time stays);
	// CodeNotFound when there is no such token.
	RevokeToken(ctx context.Context, id string, at time.Time) (bool, error)
	// RevokeGrant revokes every token with the grant id and records the
	// grant as revoked (even if it has no tokens yet), returning how many
	// tokens changed. A grant revoked twice keeps its first time.
	// CodeInvalid for an empty grant id.
	RevokeGrant(ctx context.Context, grantID string, at time.Time) (int, error)
	// FindRevocations lists the revocations that still matter at now:
	//   - each revoked token whose ExpiresAt is after now, until ExpiresAt,
	//     unless its grant is revoked (the grant's entry covers it);
	//   - each revoked grant until the later of its tokens' latest ExpiresAt
	//     and its revocation time plus GrantRevocationHorizon, if that is
	//     after now.
	FindRevocations(ctx context.Context, now time.Time) ([]gatehouse.Revocation, error)
	// DeleteExpiredTokens removes tokens that expired before `before`. It may
	// also forget revoked grants that FindRevocations(before) would no longer
	// return.
	DeleteExpiredTokens(ctx context.Context, before time.Time) (int, error)
	// FindTokens returns the tokens matching f, ordered by ID, at most
	// f.Limit of them (all when 0), only IDs after f.After.
	FindTokens(ctx context.Context, f gatehouse.TokenFilter) ([]*gatehouse.Token, error)

	// Signing keys.
	CreateKey(ctx context.Context, k *gatehouse.SigningKey) error
	// FindKeys returns every stored key, oldest first.
	FindKeys(ctx context.Context) ([]*gatehouse.SigningKey, error)
	// RotateKeys, in one transaction: if the current key's id is still
	// expectCurrent (CodeConflict otherwise, so two nodes cannot rotate at
	// once), it retires the current key (RetiredAt=now, RemoveAfter=removeAfter),
	// makes the next key current (ActivatedAt=now) and stores newNext as the
	// next key (whatever its State). With expectCurrent "" it requires that no
	// current key exists. CodeConflict too when there is no next key to
	// activate or newNext's ID is taken; CodeInvalid when newNext is nil.
	// There is at most one next and one current key: CreateKey refuses a
	// second one with CodeConflict.
	RotateKeys(ctx context.Context, expectCurrent string, newNext *gatehouse.SigningKey, now, removeAfter time.Time) error
	// DeleteRemovedKeys deletes retired keys whose RemoveAfter is before now.
	DeleteRemovedKeys(ctx context.Context, now time.Time) (int, error)

	// UseAssertionID records a client assertion's jti (RFC 7523) until exp.
	// It returns CodeConflict if the same client already used that jti and
	// it has not expired yet (now before its exp); expired entries are
	// forgotten.
	UseAssertionID(ctx context.Context, clientID, jti string, exp, now time.Time) error

	// Users (issue 3). Usernames are unique (CodeConflict).
	CreateUser(ctx context.Context, u *gatehouse.User) error
	FindUserByID(ctx context.Context, id string) (*gatehouse.User, error)
	FindUserByUsername(ctx context.Context, username string) (*gatehouse.User, error)
	// UpdateUser replaces Username, PasswordHash, Disabled and UpdatedAt.
	UpdateUser(ctx context.Context, u *gatehouse.User) error
	// FindUsers lists users ordered by username.
	FindUsers(ctx context.Context) ([]*gatehouse.User, error)

	// Consents: at most one per (subject, client); SaveConsent replaces it.
	SaveConsent(ctx context.Context, c *gatehouse.Consent) error
	FindConsent(ctx context.Context, subject, clientID string) (*gatehouse.Consent, error)
	// FindConsents lists a user's consents ordered by client id.
	FindConsents(ctx context.Context, subject string) ([]*gatehouse.Consent, error)
	// DeleteConsent withdraws a consent; CodeNotFound if there was none.
	DeleteConsent(ctx context.Context, subject, clientID string) error

	// Authorization codes.
	CreateAuthCode(ctx context.Context, c *gatehouse.AuthCode) error
	// FindAuthCode returns the code with that hash, used or not.
	FindAuthCode(ctx context.Context, hash []byte) (*gatehouse.AuthCode, error)
	// RedeemAuthCode, in one transaction: marks the code used (UsedAt=now)
	// if it was unused and unexpired, creates grant g and stores tokens. If
	// the code was already used, it revokes the code's grant (every token
	// issued from the first redemption) and returns CodeConflict, writing
	// nothing else. CodeNotFound for an unknown code, CodeInvalid for an
	// expired one (nothing written).
	RedeemAuthCode(ctx context.Context, hash []byte, now time.Time, g *gatehouse.Grant, tokens []*gatehouse.Token) error
	// DeleteExpiredAuthCodes removes codes that expired before `before`.
	DeleteExpiredAuthCodes(ctx context.Context, before time.Time) (int, error)

	// Grants.
	FindGrantByID(ctx context.Context, id string) (*gatehouse.Grant, error)
	// FindGrants lists the unrevoked grants of a subject, newest first.
	FindGrants(ctx context.Context, subject string) ([]*gatehouse.Grant, error)
	// RevokeGrantsBySubject revokes every grant of a user (and their tokens)
	// in one transaction and returns the revoked grant ids.
	RevokeGrantsBySubject(ctx context.Context, subject string, at time.Time) ([]string, error)

	// RotateRefreshToken is the refresh token compare-and-set, in one
	// transaction: if the refresh token oldID is still active (not rotated,
	// not revoked, not expired at now, grant not revoked) it is marked
	// rotated (RotatedAt=now, SuccessorID=successor.ID) and successor and
	// access are stored. Otherwise nothing is written and the error is
	// CodeConflict (already rotated or revoked: the caller treats it as
	// reuse) or CodeNotFound. Two concurrent calls with the same oldID never
	// both succeed.
	RotateRefreshToken(ctx context.Context, oldID string, now time.Time, successor, access *gatehouse.Token) error

	// Security events (append-only).
	RecordEvent(ctx context.Context, e *gatehouse.SecurityEvent) error
	// FindEvents lists events newest first.
	FindEvents(ctx context.Context, f gatehouse.EventFilter) ([]*gatehouse.SecurityEvent, error)

	GovernanceStore
	AuditStore // the audit log, see audit.go
}

// GovernanceStore is the management plane's part of the store: teams, the
// API catalog, app ownership and paging, credentials, subscriptions, the
// recorded lifecycle steps, cutoffs and the change counter (see
// docs/GOVERNANCE.md). Update methods take the expected revision in the
// object's Revision (0: no check) and return a *gatehouse.RevisionError
// (CodeStale) when it is stale; on success the object carries the new one.
type GovernanceStore interface {
	CreateTeam(ctx context.Context, t *gatehouse.Team) error
	FindTeam(ctx context.Context, name string) (*gatehouse.Team, error)
	FindTeams(ctx context.Context, f gatehouse.TeamFilter) ([]*gatehouse.Team, string, error)
	UpdateTeam(ctx context.Context, t *gatehouse.Team) error
	DeleteTeam(ctx context.Context, name string, revision int64) error

	CreateAPI(ctx context.Context, a *gatehouse.API) error
	FindAPI(ctx context.Context, name string) (*gatehouse.API, error)
	FindAPIs(ctx context.Context, f gatehouse.APIFilter) ([]*gatehouse.API, string, error)
	UpdateAPI(ctx context.Context, a *gatehouse.API, change *gatehouse.StateChange) error
	DeleteAPI(ctx context.Context, name string, revision int64) error

	FindClientPage(ctx context.Context, f gatehouse.ClientFilter) ([]*gatehouse.Client, string, error)
	DeleteApp(ctx context.Context, id string, revision int64, actor string, at time.Time) error

	CreateCredential(ctx context.Context, c *gatehouse.Credential) error
	FindCredential(ctx context.Context, id string) (*gatehouse.Credential, error)
	FindCredentials(ctx context.Context, f gatehouse.CredentialFilter) ([]*gatehouse.Credential, error)
	RevokeCredential(ctx context.Context, c *gatehouse.Credential, change gatehouse.StateChange) ([]gatehouse.Revocation, error)
	// RotateClientSecret replaces the client's primary secret hash and,
	// when previous is set, stores the old secret as that credential, in
	// one transaction; revision (when set) must be the stored one. It
	// returns the new revision.
	RotateClientSecret(ctx context.Context, id string, revision int64, newHash []byte, previous *gatehouse.Credential, at time.Time) (int64, error)
	// CreateAPIKey stores an API key credential and its token record in one
	// transaction.
	CreateAPIKey(ctx context.Context, c *gatehouse.Credential, t *gatehouse.Token) error

	CreateSubscription(ctx context.Context, s *gatehouse.Subscription, change gatehouse.StateChange) error
	FindSubscription(ctx context.Context, id string) (*gatehouse.Subscription, error)
	FindSubscriptions(ctx context.Context, f gatehouse.SubscriptionFilter) ([]*gatehouse.Subscription, string, error)
	FindSubscriptionsByClient(ctx context.Context, clientID string) ([]*gatehouse.Subscription, error)
	UpdateSubscription(ctx context.Context, s *gatehouse.Subscription, change *gatehouse.StateChange) error

	FindStateChanges(ctx context.Context, f gatehouse.StateChangeFilter) ([]gatehouse.StateChange, string, error)

	AddCutoff(ctx context.Context, c gatehouse.Cutoff) error
	BulkRevoke(ctx context.Context, c gatehouse.Cutoff, e *gatehouse.SecurityEvent) error
	FindCutoffs(ctx context.Context, since time.Time) ([]gatehouse.Cutoff, error)
	DeleteCutoffsBefore(ctx context.Context, before time.Time) (int, error)
	ChangeCounter(ctx context.Context) (int64, error)
	// Usage of credentials (issue 6), merged in batches.

	// RecordUsage merges each record into the stored one of its (Kind, ID)
	// as gatehouse.Usage.Merge does, in one transaction. CodeInvalid, with
	// nothing written, for a record without Kind, ID, FirstUsed or
	// LastUsed, with LastUsed before FirstUsed, or a negative Count.
	RecordUsage(ctx context.Context, us []gatehouse.Usage) error
	// FindUsage returns one record; CodeNotFound if none was recorded.
	FindUsage(ctx context.Context, kind gatehouse.UsageKind, id string) (*gatehouse.Usage, error)
	// ListUsage returns the records matching f, least recently used first,
	// then by kind and id.
	ListUsage(ctx context.Context, f gatehouse.UsageFilter) ([]*gatehouse.Usage, error)
	// DeleteUsage removes records last used before `before` and returns
	// how many; CodeInvalid for the zero time.
	DeleteUsage(ctx context.Context, before time.Time) (int, error)
	// FindIdleCredentials lists the active grants (not revoked, not
	// expired at f.Now), API keys (likewise) and client secrets (of
	// enabled clients) idle since before f.UnusedSince: last used then, or
	// never used and created then. Longest idle first, then by kind and
	// id. CodeInvalid without UnusedSince or Now, or for an unknown Kind.
	FindIdleCredentials(ctx context.Context, f gatehouse.IdleFilter) ([]*gatehouse.IdleCredential, error)
	// RevokeClientSecret removes a client's secret and reports whether it
	// had one; CodeNotFound when there is no such client.
	RevokeClientSecret(ctx context.Context, clientID string, at time.Time) (bool, error)

	// The call log (issue 6).

	// InsertCalls appends calls in one transaction and sets their IDs,
	// which increase with every insert. CodeInvalid, with nothing written,
	// for a call without a time.
	InsertCalls(ctx context.Context, cs []gatehouse.Call) error
	// FindCalls returns the calls matching f: newest first by (Time, ID), or
	// oldest first with f.Ascending; f.After is an exclusive keyset cursor.
	FindCalls(ctx context.Context, f gatehouse.CallFilter) ([]gatehouse.Call, error)
	// DeleteCallsBefore deletes up to limit calls with Time before
	// `before`, oldest first, and returns how many; CodeInvalid for a
	// limit <= 0.
	DeleteCallsBefore(ctx context.Context, before time.Time, limit int) (int, error)
	// TrimCalls deletes up to limit of the earliest inserted calls beyond
	// the keep inserted last, and returns how many.
	TrimCalls(ctx context.Context, keep int64, limit int) (int, error)
}
