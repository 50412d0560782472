package edge

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/internal/token"
)

// fakeTokens answers like token.Verifier for a good token, a revoked one
// whose ids are known, and garbage.
type fakeTokens struct{}

var (
	goodClaims    = &gatehouse.AccessClaims{ID: "jti-good", ClientID: "app", GrantID: "g1", Audience: "https://a.example", Scopes: []string{"read"}, ExpiresAt: time.Now().Add(time.Hour)}
	revokedClaims = &gatehouse.AccessClaims{ID: "jti-revoked", ClientID: "app", GrantID: "g2", Audience: "https://a.example"}
)

func (fakeTokens) Verify(_ context.Context, tok string) (*gatehouse.AccessClaims, error) {
	switch tok {
	case "good":
		return goodClaims, nil
	case "revoked":
		return nil, &token.InvalidError{Reason: token.ReasonRevoked, Claims: revokedClaims}
	}
	return nil, &token.InvalidError{Reason: token.ReasonMalformed}
}

func (fakeTokens) VerifyAPIKey(context.Context, string) (*gatehouse.AccessClaims, error) {
	return nil, &token.InvalidError{Reason: token.ReasonUnknown}
}

// TestOutcome: the checks tell an outer watcher what they concluded: the
// accepted claims (also when a later check refuses), or the refusal with
// the ids of a token Gatehouse issued.
func TestOutcome(t *testing.T) {
	api := &gatehouse.API{Name: "a", Audience: "https://a.example"}
	for _, tc := range []struct {
		name, tok, cred string
		scopes          []string
		wantStatus      int
		wantID          string
		wantRefusal     token.Reason
		wantAPIKey      bool
	}{
		{"Accepted", "good", gatehouse.CredentialBearer, []string{"read"}, 200, "jti-good", "", false},
		{"AcceptedThenScopeRefused", "good", gatehouse.CredentialBearer, []string{"write"}, 403, "jti-good", "", false},
		{"RevokedKeepsIDs", "revoked", gatehouse.CredentialBearer, nil, 401, "jti-revoked", token.ReasonRevoked, false},
		{"GarbageHasNoIDs", "x.y.z", gatehouse.CredentialBearer, nil, 401, "", token.ReasonMalformed, false},
		{"UnknownAPIKey", "ghk_nope", gatehouse.CredentialAPIKey, nil, 401, "", token.ReasonUnknown, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rt := &gatehouse.Route{Path: "/x", Credential: tc.cred, Scopes: tc.scopes}
			c := &Checks{Tokens: fakeTokens{}, Info: func(*http.Request) (RequestInfo, bool) {
				return RequestInfo{API: api, Route: rt, ClientAddr: netip.MustParseAddr("127.0.0.1")}, true
			}}
			h := c.Authenticate(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
			var out Outcome
			r := httptest.NewRequest("GET", "/x", nil)
			if tc.cred == gatehouse.CredentialAPIKey {
				r.Header.Set("X-API-Key", tc.tok)
			} else {
				r.Header.Set("Authorization", "Bearer "+tc.tok)
			}
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r.WithContext(WithOutcome(r.Context(), &out)))
			id := ""
			if out.Claims != nil {
				id = out.Claims.ID
			}
			if w.Code != tc.wantStatus || id != tc.wantID || out.Refusal != tc.wantRefusal || out.APIKey != tc.wantAPIKey {
				t.Errorf("status %d, outcome id %q refusal %q api key %v; want %d %q %q %v", w.Code, id, out.Refusal, out.APIKey,
					tc.wantStatus, tc.wantID, tc.wantRefusal, tc.wantAPIKey)
			}
		})
	}
	t.Run("NoOutcomeInContext", func(t *testing.T) {
		c := &Checks{Tokens: fakeTokens{}, Info: func(*http.Request) (RequestInfo, bool) {
			return RequestInfo{API: api, Route: &gatehouse.Route{Path: "/x"}, ClientAddr: netip.MustParseAddr("127.0.0.1")}, true
		}}
		r := httptest.NewRequest("GET", "/x", nil)
		r.Header.Set("Authorization", "Bearer revoked")
		w := httptest.NewRecorder()
		c.Authenticate(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {})).ServeHTTP(w, r)
		if w.Code != 401 {
			t.Errorf("status %d", w.Code)
		}
	})
}

// TestSetClaims: with Checks.SetClaims the accepted claims reach the later
// middleware through Info, on the request itself (no copy with a new
// context); without it, through the context.
func TestSetClaims(t *testing.T) {
	api := &gatehouse.API{Name: "a", Audience: "https://a.example"}
	rt := &gatehouse.Route{Path: "/x", Credential: gatehouse.CredentialBearer}
	for _, tc := range []struct {
		name     string
		keep     bool
		wantCopy bool
	}{{"Recorded", true, false}, {"InContext", false, true}} {
		t.Run(tc.name, func(t *testing.T) {
			var kept *gatehouse.AccessClaims
			info := func(*http.Request) (RequestInfo, bool) {
				return RequestInfo{API: api, Route: rt, ClientAddr: netip.MustParseAddr("127.0.0.1"), Claims: kept}, true
			}
			c := &Checks{Tokens: fakeTokens{}, Info: info}
			if tc.keep {
				c.SetClaims = func(_ *http.Request, cl *gatehouse.AccessClaims) bool { kept = cl; return true }
			}
			r := httptest.NewRequest("GET", "/x", nil)
			r.Header.Set("Authorization", "Bearer good")
			var got *gatehouse.AccessClaims
			var copied bool
			h := c.Authenticate(http.HandlerFunc(func(_ http.ResponseWriter, next *http.Request) {
				i, _ := info(next)
				got, copied = claimsOf(next, i), next != r
			}))
			h.ServeHTTP(httptest.NewRecorder(), r)
			if got != goodClaims || copied != tc.wantCopy {
				t.Errorf("claims %v, request copied %v; want %v, %v", got, copied, goodClaims, tc.wantCopy)
			}
		})
	}
}
