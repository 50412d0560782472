package oauth

import (
	"encoding/json"
	"net/http"
	"testing"

	"github.com/gatehouse/gatehouse"
)

var managed = &gatehouse.Client{ID: "c1", SecretHash: gatehouse.HashSecret("ghs_current")}

func TestDecodeRegistrationUpdate(t *testing.T) {
	for _, tc := range []struct {
		name, body, code string
	}{
		{"Good", `{"client_id":"c1","client_name":"x","grant_types":["client_credentials"],"unknown":1}`, ""},
		{"CurrentSecret", `{"client_id":"c1","client_secret":"ghs_current"}`, ""},
		{"NoClientID", `{"client_name":"x"}`, "invalid_request"},
		{"OtherClientID", `{"client_id":"c2"}`, "invalid_request"},
		{"WrongSecret", `{"client_id":"c1","client_secret":"ghs_old"}`, "invalid_request"},
		{"ServerMember", `{"client_id":"c1","client_id_issued_at":1}`, "invalid_request"},
		{"RegistrationToken", `{"client_id":"c1","registration_access_token":"ghm_x"}`, "invalid_request"},
		{"Duplicate", `{"client_id":"c1","client_id":"c1"}`, "invalid_client_metadata"},
		{"WrongType", `{"client_id":"c1","grant_types":"client_credentials"}`, "invalid_client_metadata"},
		{"NotJSON", `client_id=c1`, "invalid_client_metadata"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, e := decodeRegistrationUpdate([]byte(tc.body), managed)
			switch {
			case tc.code == "" && e != nil:
				t.Fatalf("refused: %v", e)
			case tc.code == "" && req == nil:
				t.Fatal("no request")
			case tc.code != "" && (e == nil || e.Code != tc.code || e.Status != http.StatusBadRequest):
				t.Fatalf("got %v, want %s", e, tc.code)
			}
		})
	}
}

// FuzzDecodeRegistrationUpdate: an RFC 7592 update body never panics the
// decoder, is refused only with a 400 OAuth error, and is accepted only
// for the client's own id.
func FuzzDecodeRegistrationUpdate(f *testing.F) {
	for _, s := range []string{`{"client_id":"c1"}`, `{"client_id":"c1","client_secret":"ghs_current","scope":"a b"}`,
		`{"client_id":"c1","jwks":{"keys":[]}}`, `{"client_id":"c1","client_id":"c2"}`, `[]`, `{"client_id":"c1","redirect_uris":[1]}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		req, e := decodeRegistrationUpdate(body, managed)
		if e != nil {
			if e.Status != http.StatusBadRequest || (e.Code != "invalid_request" && e.Code != "invalid_client_metadata") {
				t.Fatalf("refusal %+v", e)
			}
			return
		}
		var id struct {
			ClientID string `json:"client_id"`
		}
		if err := json.Unmarshal(body, &id); req == nil || err != nil || id.ClientID != "c1" {
			t.Fatalf("accepted %q without the client's id", body)
		}
	})
}
