package oauth

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"mime"
	"net/http"
	"strings"
	"time"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/internal/jose"
	"github.com/gatehouse/gatehouse/internal/token"
)

// managementTokenTTL is how long a registration access token lives. Each
// update issues a fresh one, so a client that manages itself keeps one.
const managementTokenTTL = 365 * 24 * time.Hour

// issueManagementToken creates the RFC 7592 registration access token of a
// client: a random ghm_ string stored as its hash, good for that client's
// configuration endpoint only.
func (s *Server) issueManagementToken(ctx context.Context, clientID string, now time.Time) (string, *Error) {
	tok := gatehouse.NewSecret(token.PrefixManagement)
	rec := &gatehouse.Token{ID: token.NewID(), Hash: gatehouse.HashSecret(tok), Kind: gatehouse.KindClientManagement,
		Format: gatehouse.FormatOpaque, ClientID: clientID, Subject: clientID, IssuedAt: now, ExpiresAt: now.Add(managementTokenTTL)}
	if err := s.Tokens.CreateToken(ctx, rec); err != nil {
		return "", s.internalError(ctx, "create registration access token", err)
	}
	return tok, nil
}

// handleClientConfiguration is the RFC 7592 client configuration endpoint
// of a dynamically registered client: GET reads the registration, PUT
// replaces it (validated exactly as a registration), DELETE disables the
// client and refuses its tokens at once. Every call needs the client's
// registration access token; anything else, including the token of another
// client or of a deleted one, is 401 (section 2: the server does not
// reveal whether a client exists).
func (s *Server) handleClientConfiguration(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	switch r.Method {
	case http.MethodGet, http.MethodPut, http.MethodDelete:
	default:
		writeError(w, &Error{Status: http.StatusMethodNotAllowed, Code: "invalid_request", Description: "use GET, PUT or DELETE", allow: "GET, PUT, DELETE"})
		return
	}
	client, rec, e := s.checkManagementToken(ctx, r)
	if e != nil {
		w.Header().Set("WWW-Authenticate", bearerChallenge(e))
		writeError(w, e)
		return
	}
	switch r.Method {
	case http.MethodGet:
		writeJSON(w, http.StatusOK, s.registrationResponse(client, scopeOf(client), ""))
	case http.MethodPut:
		s.updateRegistration(w, r, client, rec)
	case http.MethodDelete:
		s.deleteRegistration(w, r, client, rec)
	}
}

// checkManagementToken returns the client whose registration access token
// the request bears.
func (s *Server) checkManagementToken(ctx context.Context, r *http.Request) (*gatehouse.Client, *gatehouse.Token, *Error) {
	h := r.Header.Get("Authorization")
	scheme, tok, ok := strings.Cut(h, " ")
	if h == "" || !ok || !strings.EqualFold(scheme, "Bearer") || tok == "" {
		return nil, nil, &Error{Status: http.StatusUnauthorized, Code: "invalid_token", Description: "the registration access token is required", noChallengeCode: true}
	}
	bad := &Error{Status: http.StatusUnauthorized, Code: "invalid_token", Description: "the registration access token is not valid for this client"}
	if !strings.HasPrefix(tok, token.PrefixManagement) {
		return nil, nil, bad
	}
	rec, err := s.Tokens.FindTokenByHash(ctx, gatehouse.HashSecret(tok))
	if gatehouse.ErrorCode(err) == gatehouse.CodeNotFound {
		return nil, nil, bad
	} else if err != nil {
		return nil, nil, s.internalError(ctx, "find registration access token", err)
	}
	id := r.PathValue("id")
	if rec.Kind != gatehouse.KindClientManagement || !rec.Active(s.now()) ||
		subtle.ConstantTimeCompare([]byte(rec.ClientID), []byte(id)) != 1 {
		return nil, nil, bad
	}
	client, err := s.Clients.FindClientByID(ctx, id)
	if gatehouse.ErrorCode(err) == gatehouse.CodeNotFound || (err == nil && (client.Disabled || client.Source != gatehouse.SourceDynamic)) {
		// RFC 7592 2: the client is gone; its token goes too.
		if _, err := s.Tokens.RevokeToken(ctx, rec.ID, s.now()); err != nil && gatehouse.ErrorCode(err) != gatehouse.CodeNotFound {
			return nil, nil, s.internalError(ctx, "revoke registration access token", err)
		}
		return nil, nil, bad
	} else if err != nil {
		return nil, nil, s.internalError(ctx, "find client", err)
	}
	return client, rec, nil
}

// scopeOf is the scope string of a client's access entries.
func scopeOf(c *gatehouse.Client) string {
	var scopes []string
	for _, a := range c.Access {
		for _, sc := range a.Scopes {
			if !contains(scopes, sc) {
				scopes = append(scopes, sc)
			}
		}
	}
	return strings.Join(scopes, " ")
}

// updateRegistration is RFC 7592 2.2: the body replaces the client's
// metadata (members left out are removed or take their defaults), checked
// by the same rules as a registration. A new registration access token is
// issued and the old one revoked; a new secret only when the client moves
// to a secret-based method.
func (s *Server) updateRegistration(w http.ResponseWriter, r *http.Request, client *gatehouse.Client, rec *gatehouse.Token) {
	ctx := r.Context()
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "application/json" {
		writeError(w, errInvalidClientMetadata("content type must be application/json"))
		return
	}
	body, err := readBody(w, r, maxFormBytes)
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			writeError(w, &Error{Status: http.StatusRequestEntityTooLarge, Code: "invalid_client_metadata", Description: "request body too large"})
			return
		}
		writeError(w, errInvalidRequest("cannot read request body"))
		return
	}
	req, e := decodeRegistrationUpdate(body, client)
	if e != nil {
		writeError(w, e)
		return
	}
	next, e := s.clientFromMetadata(req)
	if e != nil {
		writeError(w, e)
		return
	}
	now := s.now()
	var secret string
	next.ID, next.Source, next.Team, next.CreatedAt, next.UpdatedAt = client.ID, client.Source, client.Team, client.CreatedAt, now
	next.Networks, next.TokenFormat, next.Revision = client.Networks, client.TokenFormat, client.Revision
	switch next.AuthMethod {
	case gatehouse.AuthSecretBasic, gatehouse.AuthSecretPost:
		next.SecretHash = client.SecretHash
		if len(next.SecretHash) == 0 {
			secret = gatehouse.NewSecret(token.PrefixClientSecret)
			next.SecretHash = gatehouse.HashSecret(secret)
		}
	}
	if err := s.Clients.UpdateClient(ctx, next); err != nil {
		writeError(w, s.internalError(ctx, "update client", err))
		return
	}
	mgmt, e := s.issueManagementToken(ctx, client.ID, now)
	if e != nil {
		writeError(w, e)
		return
	}
	if _, err := s.Tokens.RevokeToken(ctx, rec.ID, now); err != nil {
		writeError(w, s.internalError(ctx, "revoke registration access token", err))
		return
	}
	s.log().InfoContext(ctx, "client registration updated", "client_id", client.ID, "auth_method", string(next.AuthMethod))
	resp := s.registrationResponse(next, req.Scope, secret)
	resp.RegistrationAccessToken = mgmt
	writeJSON(w, http.StatusOK, resp)
}

// deleteRegistration is RFC 7592 2.3: the client is disabled (kept, so its
// id is never reused and its history stays), its tokens are refused before
// the answer goes out, and its registration access token is revoked.
func (s *Server) deleteRegistration(w http.ResponseWriter, r *http.Request, client *gatehouse.Client, rec *gatehouse.Token) {
	ctx := r.Context()
	now := s.now()
	client.Disabled, client.UpdatedAt = true, now
	if err := s.Clients.UpdateClient(ctx, client); err != nil {
		writeError(w, s.internalError(ctx, "disable client", err))
		return
	}
	s.Revocations.SetSuspended(client.ID, true)
	if _, err := s.Tokens.RevokeToken(ctx, rec.ID, now); err != nil {
		writeError(w, s.internalError(ctx, "revoke registration access token", err))
		return
	}
	s.log().InfoContext(ctx, "client deleted its registration", "client_id", client.ID)
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusNoContent)
}

// decodeRegistrationUpdate reads the body of an RFC 7592 2.2 update of
// client: strict JSON (jose.DecodeJSON: no duplicate members), unknown
// members ignored as in registration, client_id required and the
// client's own, client_secret (optional) the current one, and none of
// the members the server alone sets.
func decodeRegistrationUpdate(body []byte, client *gatehouse.Client) (*registrationRequest, *Error) {
	var req struct {
		registrationRequest
		ClientID                string          `json:"client_id"`
		ClientSecret            *string         `json:"client_secret"`
		RegistrationAccessToken json.RawMessage `json:"registration_access_token"`
		RegistrationClientURI   json.RawMessage `json:"registration_client_uri"`
		ClientIDIssuedAt        json.RawMessage `json:"client_id_issued_at"`
		ClientSecretExpiresAt   json.RawMessage `json:"client_secret_expires_at"`
	}
	if err := jose.DecodeJSON(body, &req); err != nil {
		return nil, errInvalidClientMetadata("malformed client metadata: " + jsonProblem(err))
	}
	switch {
	case req.ClientID != client.ID:
		return nil, errInvalidRequest("client_id must be the client's own identifier")
	case req.RegistrationAccessToken != nil || req.RegistrationClientURI != nil || req.ClientIDIssuedAt != nil || req.ClientSecretExpiresAt != nil:
		return nil, errInvalidRequest("registration_access_token, registration_client_uri, client_id_issued_at and client_secret_expires_at are not sent in an update (RFC 7592 2.2)")
	case req.ClientSecret != nil && (len(client.SecretHash) == 0 ||
		subtle.ConstantTimeCompare(gatehouse.HashSecret(*req.ClientSecret), client.SecretHash) != 1):
		return nil, errInvalidRequest("client_secret does not match the client's current secret")
	}
	return &req.registrationRequest, nil
}
