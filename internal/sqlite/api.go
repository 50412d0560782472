package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"net/netip"
	"time"

	"github.com/gatehouse/gatehouse"
)

const selectAPISQL = `SELECT name, audience, family, version, description, scopes, approval, lifecycle, sunset_at,
	openapi, spec, source, revision, created_at, updated_at FROM apis`

// The stored form of an API's gateway settings. Its own JSON names, so that
// renaming a Go field cannot silently orphan stored data. A static upstream
// credential is stored only sealed (SealedStaticValue), never in clear.
type apiSpecJSON struct {
	TokenFormat     string             `json:"token_format,omitempty"`
	AccessTokenTTL  time.Duration      `json:"access_token_ttl,omitempty"`
	Targets         []string           `json:"targets,omitempty"`
	Routes          []routeJSON        `json:"routes,omitempty"`
	Hosts           []string           `json:"hosts,omitempty"`
	UpstreamPolicy  upstreamPolicyJSON `json:"upstream_policy"`
	UpstreamAuth    upstreamAuthJSON   `json:"upstream_auth"`
	Traffic         trafficJSON        `json:"traffic"`
	ExternalIssuers []string           `json:"external_issuers,omitempty"`
	DPoP            string             `json:"dpop,omitempty"`
	DPoPNonce       bool               `json:"dpop_nonce,omitempty"`
}

type routeJSON struct {
	Path            string         `json:"path"`
	Methods         []string       `json:"methods,omitempty"`
	Scopes          []string       `json:"scopes,omitempty"`
	ScopeMode       string         `json:"scope_mode,omitempty"`
	Credential      string         `json:"credential,omitempty"`
	AllowQueryToken bool           `json:"allow_query_token,omitempty"`
	RateLimit       *rateLimitJSON `json:"rate_limit,omitempty"`
}

type rateLimitJSON struct {
	Rate   int           `json:"rate"`
	Period time.Duration `json:"period"`
	Burst  int           `json:"burst"`
}

type upstreamPolicyJSON struct {
	Balance        string        `json:"balance,omitempty"`
	Forwarding     string        `json:"forwarding,omitempty"`
	ConnectTimeout time.Duration `json:"connect_timeout,omitempty"`
	ReadTimeout    time.Duration `json:"read_timeout,omitempty"`
	Retries        int           `json:"retries,omitempty"`
	HealthPath     string        `json:"health_path,omitempty"`
	HealthInterval time.Duration `json:"health_interval,omitempty"`
}

type upstreamAuthJSON struct {
	IdentityHeaders   bool   `json:"identity_headers,omitempty"`
	MintToken         bool   `json:"mint_token,omitempty"`
	MintAudience      string `json:"mint_audience,omitempty"`
	StaticHeader      string `json:"static_header,omitempty"`
	SealedStaticValue []byte `json:"sealed_static_value,omitempty"`
}

type trafficJSON struct {
	PerClient    *rateLimitJSON `json:"per_client,omitempty"`
	SpikeArrest  *rateLimitJSON `json:"spike_arrest,omitempty"`
	QuotaDaily   int64          `json:"quota_daily,omitempty"`
	QuotaMonthly int64          `json:"quota_monthly,omitempty"`
	IPAllow      []netip.Prefix `json:"ip_allow,omitempty"`
	IPDeny       []netip.Prefix `json:"ip_deny,omitempty"`
}

func rateLimitOut(r *gatehouse.RateLimit) *rateLimitJSON {
	if r == nil {
		return nil
	}
	return &rateLimitJSON{Rate: r.Rate, Period: r.Period, Burst: r.Burst}
}

func rateLimitIn(r *rateLimitJSON) *gatehouse.RateLimit {
	if r == nil {
		return nil
	}
	return &gatehouse.RateLimit{Rate: r.Rate, Period: r.Period, Burst: r.Burst}
}

func apiSpec(a *gatehouse.API) (string, error) {
	s := apiSpecJSON{
		TokenFormat: string(a.TokenFormat), AccessTokenTTL: a.AccessTokenTTL, Targets: a.Upstream.Targets,
		Hosts: a.Hosts, ExternalIssuers: a.ExternalIssuers, DPoP: string(a.DPoP), DPoPNonce: a.DPoPNonce,
		UpstreamPolicy: upstreamPolicyJSON{Balance: a.UpstreamPolicy.Balance, Forwarding: a.UpstreamPolicy.Forwarding, ConnectTimeout: a.UpstreamPolicy.ConnectTimeout,
			ReadTimeout: a.UpstreamPolicy.ReadTimeout, Retries: a.UpstreamPolicy.Retries,
			HealthPath: a.UpstreamPolicy.HealthPath, HealthInterval: a.UpstreamPolicy.HealthInterval},
		UpstreamAuth: upstreamAuthJSON{IdentityHeaders: a.UpstreamAuth.IdentityHeaders, MintToken: a.UpstreamAuth.MintToken,
			MintAudience: a.UpstreamAuth.MintAudience, StaticHeader: a.UpstreamAuth.StaticHeader,
			SealedStaticValue: a.UpstreamAuth.SealedStaticValue},
		Traffic: trafficJSON{PerClient: rateLimitOut(a.Traffic.PerClient), SpikeArrest: rateLimitOut(a.Traffic.SpikeArrest),
			QuotaDaily: a.Traffic.Quota.Daily, QuotaMonthly: a.Traffic.Quota.Monthly,
			IPAllow: a.Traffic.IPAllow, IPDeny: a.Traffic.IPDeny},
	}
	for _, r := range a.Routes {
		s.Routes = append(s.Routes, routeJSON{Path: r.Path, Methods: r.Methods, Scopes: r.Scopes, ScopeMode: r.ScopeMode,
			Credential: r.Credential, AllowQueryToken: r.AllowQueryToken, RateLimit: rateLimitOut(r.RateLimit)})
	}
	b, err := json.Marshal(s)
	return string(b), err
}

func setAPISpec(a *gatehouse.API, spec string) error {
	var s apiSpecJSON
	if err := json.Unmarshal([]byte(spec), &s); err != nil {
		return fmt.Errorf("api %q: spec: %w", a.Name, err)
	}
	a.TokenFormat, a.AccessTokenTTL = gatehouse.TokenFormat(s.TokenFormat), s.AccessTokenTTL
	a.Upstream.Targets, a.Hosts, a.ExternalIssuers = s.Targets, s.Hosts, s.ExternalIssuers
	a.DPoP, a.DPoPNonce = gatehouse.DPoPMode(s.DPoP), s.DPoPNonce
	p := s.UpstreamPolicy
	a.UpstreamPolicy = gatehouse.UpstreamPolicy{Balance: p.Balance, Forwarding: p.Forwarding, ConnectTimeout: p.ConnectTimeout, ReadTimeout: p.ReadTimeout,
		Retries: p.Retries, HealthPath: p.HealthPath, HealthInterval: p.HealthInterval}
	u := s.UpstreamAuth
	a.UpstreamAuth = gatehouse.UpstreamAuth{IdentityHeaders: u.IdentityHeaders, MintToken: u.MintToken, MintAudience: u.MintAudience,
		StaticHeader: u.StaticHeader, SealedStaticValue: u.SealedStaticValue}
	t := s.Traffic
	a.Traffic = gatehouse.Traffic{PerClient: rateLimitIn(t.PerClient), SpikeArrest: rateLimitIn(t.SpikeArrest),
		Quota: gatehouse.Quota{Daily: t.QuotaDaily, Monthly: t.QuotaMonthly}, IPAllow: t.IPAllow, IPDeny: t.IPDeny}
	a.Routes = nil
	for _, r := range s.Routes {
		a.Routes = append(a.Routes, gatehouse.Route{Path: r.Path, Methods: r.Methods, Scopes: r.Scopes, ScopeMode: r.ScopeMode,
			Credential: r.Credential, AllowQueryToken: r.AllowQueryToken, RateLimit: rateLimitIn(r.RateLimit)})
	}
	return nil
}

// apiValues returns the stored columns of a, after checking its keys.
func apiValues(a *gatehouse.API) (scopes, spec, approval, lifecycle string, err error) {
	switch {
	case a.Name == "":
		return "", "", "", "", gatehouse.Errorf(gatehouse.CodeInvalid, "api name required")
	case a.Audience == "":
		return "", "", "", "", gatehouse.Errorf(gatehouse.CodeInvalid, "api %s: audience required", a.Name)
	}
	approval = string(a.Approval)
	if approval == "" {
		approval = string(gatehouse.ApprovalAuto)
	}
	lifecycle = string(a.Lifecycle)
	if lifecycle == "" {
		lifecycle = string(gatehouse.LifecyclePublished)
	}
	if scopes, err = jsonList(a.Scopes); err != nil {
		return
	}
	spec, err = apiSpec(a)
	return
}

// CreateAPI stores a (one API version) with revision 1 and records its
// first lifecycle step (from "" by actor a.Source). An empty Approval is
// stored as auto and an empty Lifecycle as published. CodeConflict if the
// name or the audience is taken, CodeInvalid without them.
func (db *DB) CreateAPI(ctx context.Context, a *gatehouse.API) error {
	scopes, spec, approval, lifecycle, err := apiValues(a)
	if err != nil {
		return formatError(err, "create api", "api")
	}
	err = db.writeTx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO apis (name, audience, family, version, description, scopes,
			approval, lifecycle, sunset_at, openapi, spec, source, revision, created_at, updated_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1, ?, ?)`,
			a.Name, a.Audience, a.FamilyName(), a.Version, a.Description, scopes, approval, lifecycle,
			timeValue(a.SunsetAt), blobValue(a.OpenAPI), spec, string(a.Source), timeValue(a.CreatedAt), timeValue(a.UpdatedAt)); err != nil {
			return err
		}
		at := a.CreatedAt
		if at.IsZero() {
			at = time.Now()
		}
		return insertStateChange(ctx, tx, gatehouse.StateChange{Kind: gatehouse.ObjectAPI, ID: a.Name, To: lifecycle,
			Actor: string(a.Source), Reason: "created", At: at})
	})
	if err != nil {
		return formatError(err, "create api", "api")
	}
	a.Revision = 1
	a.Approval, a.Lifecycle = gatehouse.Approval(approval), gatehouse.Lifecycle(lifecycle)
	if a.Family == "" {
		a.Family = a.Name
	}
	return nil
}

// FindAPI returns the API version with that name, or CodeNotFound.
func (db *DB) FindAPI(ctx context.Context, name string) (*gatehouse.API, error) {
	a, err := scanAPI(db.reader.QueryRowContext(ctx, selectAPISQL+` WHERE name = ?`, name))
	if err != nil {
		return nil, formatError(err, "find api", "api")
	}
	return a, nil
}

// FindAPIs returns a page of the APIs matching f, ordered by name.
func (db *DB) FindAPIs(ctx context.Context, f gatehouse.APIFilter) ([]*gatehouse.API, string, error) {
	var where []string
	var args []any
	if f.Family != "" {
		where, args = append(where, `family = ?`), append(args, f.Family)
	}
	if f.Lifecycle != "" {
		where, args = append(where, `lifecycle = ?`), append(args, string(f.Lifecycle))
	}
	if f.Source != "" {
		where, args = append(where, `source = ?`), append(args, string(f.Source))
	}
	return findPage(ctx, db.reader, selectAPISQL, "name", where, args, f.Page, "api", scanAPI,
		func(a *gatehouse.API) string { return a.Name })
}

// UpdateAPI replaces every field of the stored API version but Name,
// CreatedAt and Revision. change is required exactly when the lifecycle
// moves, and is recorded in the same transaction (see API.SetLifecycle).
// CodeNotFound if it does not exist, CodeConflict if the new audience is
// taken, a *RevisionError if a.Revision is set and stale.
func (db *DB) UpdateAPI(ctx context.Context, a *gatehouse.API, change *gatehouse.StateChange) error {
	scopes, spec, approval, lifecycle, err := apiValues(a)
	if err != nil {
		return formatError(err, "update api", "api")
	}
	err = db.writeTx(ctx, func(tx *sql.Tx) error {
		rev, err := checkRevision(ctx, tx, "apis", "name", a.Name, "api", a.Revision)
		if err != nil {
			return err
		}
		var stored string
		if err := tx.QueryRowContext(ctx, `SELECT lifecycle FROM apis WHERE name = ?`, a.Name).Scan(&stored); err != nil {
			return err
		}
		if err := checkChange(gatehouse.ObjectAPI, a.Name, stored, lifecycle, change); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE apis SET audience = ?, family = ?, version = ?, description = ?,
			scopes = ?, approval = ?, lifecycle = ?, sunset_at = ?, openapi = ?, spec = ?, source = ?,
			revision = revision + 1, updated_at = ? WHERE name = ?`,
			a.Audience, a.FamilyName(), a.Version, a.Description, scopes, approval, lifecycle, timeValue(a.SunsetAt),
			blobValue(a.OpenAPI), spec, string(a.Source), timeValue(a.UpdatedAt), a.Name); err != nil {
			return err
		}
		if change != nil {
			if err := insertStateChange(ctx, tx, *change); err != nil {
				return err
			}
		}
		a.Revision = rev + 1
		return nil
	})
	return formatError(err, "update api", "api")
}

// DeleteAPI deletes a draft or retired API version and its subscriptions
// (their recorded steps stay). CodeConflict for a published or deprecated
// API: retire it first. CodeNotFound if it does not exist.
func (db *DB) DeleteAPI(ctx context.Context, name string, revision int64) error {
	err := db.writeTx(ctx, func(tx *sql.Tx) error {
		if _, err := checkRevision(ctx, tx, "apis", "name", name, "api", revision); err != nil {
			return err
		}
		var lc string
		if err := tx.QueryRowContext(ctx, `SELECT lifecycle FROM apis WHERE name = ?`, name).Scan(&lc); err != nil {
			return err
		}
		if lc != string(gatehouse.LifecycleDraft) && lc != string(gatehouse.LifecycleRetired) {
			return gatehouse.Errorf(gatehouse.CodeConflict, "api %s is %s: only a draft or a retired API can be deleted", name, lc)
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM subscriptions WHERE api = ?`, name); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `DELETE FROM apis WHERE name = ?`, name)
		return err
	})
	return formatError(err, "delete api", "api")
}

func scanAPI(s scanner) (*gatehouse.API, error) {
	var a gatehouse.API
	var scopes, spec string
	var sunset, created, updated sql.NullInt64
	if err := s.Scan(&a.Name, &a.Audience, &a.Family, &a.Version, &a.Description, &scopes, &a.Approval, &a.Lifecycle,
		&sunset, &a.OpenAPI, &spec, &a.Source, &a.Revision, &created, &updated); err != nil {
		return nil, err
	}
	var err error
	if a.Scopes, err = parseList(scopes, "api", a.Name); err != nil {
		return nil, err
	}
	if err := setAPISpec(&a, spec); err != nil {
		return nil, err
	}
	a.SunsetAt, a.CreatedAt, a.UpdatedAt = timeOf(sunset), timeOf(created), timeOf(updated)
	return &a, nil
}
