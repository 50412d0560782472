package token

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/gatehouse/gatehouse"
)

func TestActRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		name     string
		act      *gatehouse.Actor
		wantJSON string // the act member of the payload, "" for none
	}{
		{"None", nil, ""},
		{"One", &gatehouse.Actor{Subject: "orders-svc"}, `{"sub":"orders-svc"}`},
		{"Nested", &gatehouse.Actor{Subject: "inventory-svc", Actor: &gatehouse.Actor{Subject: "orders-svc"}},
			`{"sub":"inventory-svc","act":{"sub":"orders-svc"}}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			c := f.claims()
			c.Act = tc.act
			tok := f.mint(t, c)
			seg, err := base64.RawURLEncoding.DecodeString(strings.Split(tok, ".")[1])
			if err != nil {
				t.Fatal(err)
			}
			var payload map[string]json.RawMessage
			if err := json.Unmarshal(seg, &payload); err != nil {
				t.Fatal(err)
			}
			if got := string(payload["act"]); got != tc.wantJSON {
				t.Errorf("act on the wire = %s, want %s", got, tc.wantJSON)
			}
			got, err := f.ver.Verify(context.Background(), tok)
			if err != nil {
				t.Fatal(err)
			}
			if !got.Act.Equal(tc.act) {
				t.Errorf("verified act = %v, want %v", got.Act.Chain(), tc.act.Chain())
			}
		})
	}
}

// TestActRefused: an act claim Gatehouse would not mint is refused, never
// ignored nor half read: a gateway must not show upstreams a chain it
// cannot vouch for.
func TestActRefused(t *testing.T) {
	f := newFixture(t)
	iat := f.now.Unix()
	hdr := `{"alg":"EdDSA","typ":"at+jwt","kid":"k1"}`
	deep := `{"sub":"x"}`
	for i := 1; i < gatehouse.MaxActorDepth+1; i++ {
		deep = `{"sub":"x","act":` + deep + `}`
	}
	for _, tc := range []struct{ name, act string }{
		{"Null", `null`},
		{"Empty", `{}`},
		{"String", `"orders-svc"`},
		{"Array", `[{"sub":"orders-svc"}]`},
		{"SubMissing", `{"act":{"sub":"a"}}`},
		{"SubEmpty", `{"sub":""}`},
		{"SubNumber", `{"sub":7}`},
		{"SubTooLong", `{"sub":"` + strings.Repeat("a", 257) + `"}`},
		{"ExtraMember", `{"sub":"a","iss":"https://other"}`},
		{"CaseFoldedSub", `{"SUB":"a"}`},
		{"DuplicateSub", `{"sub":"a","sub":"b"}`},
		{"NestedNull", `{"sub":"a","act":null}`},
		{"NestedBad", `{"sub":"a","act":{"sub":"b","x":1}}`},
		{"TooDeep", deep},
	} {
		t.Run(tc.name, func(t *testing.T) {
			payload := fmt.Sprintf(`{"iss":%q,"sub":"s","aud":"a","client_id":"c","jti":"j","iat":%d,"exp":%d,"act":%s}`,
				testIssuer, iat, iat+300, tc.act)
			_, err := f.ver.Verify(context.Background(), f.signRaw(t, hdr, payload))
			if got := ReasonOf(err); got != ReasonClaims && got != ReasonMalformed {
				t.Fatalf("Verify = %v, want a refusal of the claims", err)
			}
		})
	}
	t.Run("MaxDepthAccepted", func(t *testing.T) {
		ok := `{"sub":"x"}`
		for i := 1; i < gatehouse.MaxActorDepth; i++ {
			ok = `{"sub":"x","act":` + ok + `}`
		}
		payload := fmt.Sprintf(`{"iss":%q,"sub":"s","aud":"a","client_id":"c","jti":"j2","iat":%d,"exp":%d,"act":%s}`,
			testIssuer, iat, iat+300, ok)
		c, err := f.ver.Verify(context.Background(), f.signRaw(t, hdr, payload))
		if err != nil {
			t.Fatal(err)
		}
		if c.Act.Depth() != gatehouse.MaxActorDepth {
			t.Errorf("depth = %d, want %d", c.Act.Depth(), gatehouse.MaxActorDepth)
		}
	})
}

// TestActOpaque: an opaque token's chain comes from its record.
func TestActOpaque(t *testing.T) {
	f := newFixture(t)
	tok := PrefixAccess + "opaque-act-test"
	rec := &gatehouse.Token{
		ID: "t1", Hash: gatehouse.HashSecret(tok), Kind: gatehouse.KindAccess, Format: gatehouse.FormatOpaque,
		ClientID: "c", Subject: "s", Audience: "a", IssuedAt: f.now, ExpiresAt: f.now.Add(5 * 60e9),
		Act: &gatehouse.Actor{Subject: "c", Actor: &gatehouse.Actor{Subject: "b"}},
	}
	f.ver.Tokens = actFinder{rec}
	got, err := f.ver.Verify(context.Background(), tok)
	if err != nil {
		t.Fatal(err)
	}
	if !got.Act.Equal(rec.Act) {
		t.Errorf("act = %v, want %v", got.Act.Chain(), rec.Act.Chain())
	}
}

type actFinder struct{ rec *gatehouse.Token }

func (f actFinder) FindTokenByHash(_ context.Context, hash []byte) (*gatehouse.Token, error) {
	if string(hash) == string(f.rec.Hash) {
		return f.rec, nil
	}
	return nil, gatehouse.Errorf(gatehouse.CodeNotFound, "no token")
}

// FuzzParseAct: no input panics, and whatever is accepted is a chain of
// non-empty subjects within the depth bound that survives a round trip.
func FuzzParseAct(f *testing.F) {
	for _, s := range []string{`{"sub":"a"}`, `{"sub":"a","act":{"sub":"b"}}`, `{}`, `null`, `{"sub":"a","sub":"b"}`,
		`{"sub":"a","act":{"sub":"b","act":{"sub":"c"}}}`, `{"sub":"\ud800"}`, `[]`, `{"sub":"a","act":[]}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		a, err := parseActClaim(data)
		if err != nil {
			return
		}
		if a.Depth() < 1 || a.Depth() > gatehouse.MaxActorDepth {
			t.Fatalf("accepted depth %d", a.Depth())
		}
		for _, s := range a.Chain() {
			if s == "" || len(s) > maxActorSubject {
				t.Fatalf("accepted subject %q", s)
			}
		}
		raw, err := json.Marshal(actToWire(a))
		if err != nil {
			t.Fatal(err)
		}
		b, err := parseActClaim(raw)
		if err != nil || !b.Equal(a) {
			t.Fatalf("round trip of %s: %v", raw, err)
		}
	})
}
