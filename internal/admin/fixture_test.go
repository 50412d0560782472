package admin_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/internal/admin"
	"github.com/gatehouse/gatehouse/internal/seal"
	"github.com/gatehouse/gatehouse/internal/sqlite"
	"github.com/gatehouse/gatehouse/internal/token"
)

const issuer = "https://gatehouse.test"

// fixture is the admin API over a real SQLite store, with real keys and
// real tokens, served on loopback.
type fixture struct {
	t       testing.TB
	db      *sqlite.DB
	h       *admin.Handler
	srv     *httptest.Server
	minter  *token.Minter
	now     atomic.Int64
	changes atomic.Int64
	logs    bytes.Buffer
}

func newFixture(t testing.TB) *fixture {
	t.Helper()
	ctx := context.Background()
	f := &fixture{t: t}
	f.now.Store(time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC).UnixNano())
	now := func() time.Time { return time.Unix(0, f.now.Load()) }
	db, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "gatehouse.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	box, err := seal.New(bytes.Repeat([]byte{7}, 32))
	if err != nil {
		t.Fatal(err)
	}
	kr := &token.Keyring{}
	km := &token.KeyManager{Store: db, Keys: kr, Sealer: box, Policy: gatehouse.DefaultTokenPolicy(), MaxTokenLifetime: time.Hour, Now: now}
	if err := km.Ensure(ctx); err != nil {
		t.Fatal(err)
	}
	revs := token.NewRevocations()
	ver := &token.Verifier{Issuer: issuer, Keys: kr, Revocations: revs, Cache: token.NewCache(1000), Tokens: db,
		Leeway: 30 * time.Second, MaxLifetime: time.Hour, Now: now}
	f.db, f.minter = db, &token.Minter{Keys: kr}
	f.h = &admin.Handler{
		Verifier: ver, Tokens: db, Keys: km, Keyring: kr, Store: db, Users: db, Clients: db, Accounts: db,
		Teams: db, AccountsStore: db, APIs: db, Apps: db, Subscriptions: db,
		APIByName: func(string) *gatehouse.API { return nil }, Revocations: revs, GrantLifetime: time.Hour,
		Changed: func(context.Context) error { f.changes.Add(1); return nil },
		Log:     slog.New(slog.NewJSONHandler(&f.logs, nil)), Now: now,
	}
	// The node issues API keys with (*app.Node).IssueAPIKey, tested in
	// internal/app; this stand-in stores a key the same way, without the
	// subscription check.
	f.h.IssueAPIKey = func(ctx context.Context, clientID, api string, scopes []string, ttl time.Duration, label string) (string, *gatehouse.Credential, error) {
		a, err := db.FindAPI(ctx, api)
		if err != nil {
			return "", nil, err
		}
		now := time.Unix(0, f.now.Load())
		key := gatehouse.NewSecret(token.PrefixAPIKey)
		cred := &gatehouse.Credential{ID: token.NewID(), ClientID: clientID, Kind: gatehouse.CredentialKey, Hash: gatehouse.HashSecret(key),
			API: api, Label: label, ExpiresAt: now.Add(ttl), CreatedAt: now}
		rec := &gatehouse.Token{ID: token.NewID(), Hash: cred.Hash, Kind: gatehouse.KindAPIKey, Format: gatehouse.FormatOpaque,
			ClientID: clientID, Subject: clientID, Audience: a.Audience, Scopes: scopes, IssuedAt: now, ExpiresAt: now.Add(ttl), CredentialID: cred.ID}
		if err := db.CreateAPIKey(ctx, cred, rec); err != nil {
			return "", nil, err
		}
		return key, cred, nil
	}
	f.srv = httptest.NewServer(f.h.Routes())
	t.Cleanup(f.srv.Close)
	return f
}

// token mints an access token as the node's token endpoint would.
func (f *fixture) token(subject, audience string, scopes ...string) string {
	f.t.Helper()
	now := time.Unix(0, f.now.Load())
	tok, err := f.minter.MintJWT(&gatehouse.AccessClaims{Issuer: issuer, Subject: subject, Audience: audience, ClientID: subject,
		Scopes: scopes, ID: token.NewID(), IssuedAt: now, ExpiresAt: now.Add(10 * time.Minute)})
	if err != nil {
		f.t.Fatal(err)
	}
	return tok
}

func (f *fixture) adminToken() string {
	return f.token("root-client", gatehouse.AdminAudience, gatehouse.AdminScope)
}

// account creates a user with a role (and team).
func (f *fixture) account(name string, role gatehouse.Role, team string) *gatehouse.User {
	f.t.Helper()
	u := &gatehouse.User{ID: "u-" + name, Username: name, PasswordHash: "$argon2id$unused", Role: role, Team: team}
	if err := f.db.CreateUser(context.Background(), u); err != nil {
		f.t.Fatal(err)
	}
	return u
}

type response struct {
	status int
	header http.Header
	body   []byte
}

func (r *response) json(t testing.TB) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.body, &m); err != nil {
		t.Fatalf("status %d, body is not a JSON object: %q", r.status, r.body)
	}
	return m
}

// do sends a request; headers come in pairs.
func (f *fixture) do(method, path, tok, body string, headers ...string) *response {
	f.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, f.srv.URL+path, rd)
	if err != nil {
		f.t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		f.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return &response{resp.StatusCode, resp.Header, b}
}

// must fails the test unless the response has status want, and returns
// its JSON body.
func (f *fixture) must(want int, r *response) map[string]any {
	f.t.Helper()
	if r.status != want {
		f.t.Fatalf("status %d, want %d: %s", r.status, want, r.body)
	}
	if len(r.body) == 0 {
		return nil
	}
	return r.json(f.t)
}

// seed makes two teams with an app each, a published manual API and a
// developer per team.
func (f *fixture) seed() (devA, devB string, appA, appB string) {
	f.t.Helper()
	adm := f.adminToken()
	for _, team := range []string{"team-a", "team-b"} {
		f.must(201, f.do("POST", "/admin/v1/teams", adm, `{"name":"`+team+`"}`))
	}
	f.account("alice", gatehouse.RoleDeveloper, "team-a")
	f.account("bob", gatehouse.RoleDeveloper, "team-b")
	devA = f.token("u-alice", gatehouse.AdminAudience, gatehouse.DeveloperScope)
	devB = f.token("u-bob", gatehouse.AdminAudience, gatehouse.DeveloperScope)
	appA = f.must(201, f.do("POST", "/admin/v1/apps", devA, `{"name":"A app"}`))["id"].(string)
	appB = f.must(201, f.do("POST", "/admin/v1/apps", devB, `{"name":"B app"}`))["id"].(string)
	f.must(201, f.do("POST", "/admin/v1/apis", adm, `{"name":"orders","audience":"https://orders.test","scopes":["orders:read","orders:write"],"approval":"manual"}`))
	f.must(200, f.do("POST", "/admin/v1/apis/orders/publish", adm, ``))
	return devA, devB, appA, appB
}
