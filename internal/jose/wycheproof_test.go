package jose

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"sort"
	"testing"
)

// Project Wycheproof JOSE vectors (testdata/wycheproof/README.md). Every case
// marked invalid must be refused by ParseJWK/ParseJWKSet, Parse or Verify.
// Every valid case must be accepted unless it is listed below or uses HMAC,
// which we refuse on purpose; those are counted as "unsupported by policy".
// The exact number of accepted cases is pinned so the test cannot pass by
// refusing everything.

type wycheproofFile struct {
	NumberOfTests int               `json:"numberOfTests"`
	TestGroups    []wycheproofGroup `json:"testGroups"`
}

type wycheproofGroup struct {
	Comment string          `json:"comment"`
	Public  json.RawMessage `json:"public"`
	Private json.RawMessage `json:"private"`
	Tests   []struct {
		TcID    int      `json:"tcId"`
		Comment string   `json:"comment"`
		JWS     string   `json:"jws"`
		Result  string   `json:"result"`
		Flags   []string `json:"flags"`
	} `json:"tests"`
}

// wycheproofRelabel overrides labels that contradict RFC 7515. The README
// warns that a few "base64" cases look mislabelled; we judge them by the RFC.
var wycheproofRelabel = map[int]struct{ result, reason string }{
	367: {"valid", "'invalidBase64Padding': the jws is byte-identical to tcId 357 (ValidMac); the padding the comment speaks of is not in the vector, so by RFC 7515 §2 it is a valid HS256 JWS"},
	370: {"valid", "'invalidBase64PaddingInPayload': byte-identical to tcId 357 as well; nothing in it violates RFC 7515"},
	372: {"invalid", "'InvalidCharacterInsertedInHeader': '?' is outside the base64url alphabet; RFC 7515 §2 and §7.1 allow no other characters, so it cannot be valid"},
	373: {"invalid", "'InvalidCharacterInsertedInPayload': '?' in the payload segment; invalid for the same reason"},
}

// wycheproofPolicy lists valid cases (by the file and the RFCs) that we
// refuse on purpose, with the error kind the refusal must carry.
var wycheproofPolicy = map[int]struct {
	kind   error
	reason string
}{
	259: {ErrMalformed, "empty payload segment: a JWT always has claims, and an empty segment is what RFC 7515 Appendix F detached content looks like"},
	264: {ErrMalformed, "empty payload segment"},
	268: {ErrMalformed, "empty payload segment"},
	272: {ErrMalformed, "empty payload segment"},
	320: {ErrMalformed, "empty payload segment"},
	325: {ErrMalformed, "empty payload segment"},
	346: {ErrKeyMismatch, "the JWK pins alg PS256 but the token (RFC 7520 figure 20) uses PS384: one algorithm per key (RFC 8725 §3.1, RFC 7517 §4.4)"},
	350: {ErrKeyMismatch, "the same with key_ops [verify]"},
	347: {ErrPolicy, "the JWK says alg \"ES521\", which is not a registered JWS algorithm (RFC 7518 §3.1 has ES512); we do not guess what was meant"},
	351: {ErrPolicy, "the same with key_ops [verify]"},
}

// Accepted-valid counts; see the comment at the top.
const (
	wantWycheproofJWSAccepted = 26
	wantWycheproofJWKAccepted = 1
)

func TestWycheproofJWS(t *testing.T) {
	runWycheproof(t, "testdata/wycheproof/json_web_signature_test.json", wantWycheproofJWSAccepted)
}

func TestWycheproofJWK(t *testing.T) {
	runWycheproof(t, "testdata/wycheproof/json_web_key_test.json", wantWycheproofJWKAccepted)
}

func runWycheproof(t *testing.T, path string, wantAccepted int) {
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var f wycheproofFile
	if err := json.Unmarshal(data, &f); err != nil {
		t.Fatal(err)
	}
	var total, accepted, rejected, policy, relabelled int
	reasons := map[string]int{}
	for _, g := range f.TestGroups {
		keyJSON := g.Public
		if len(keyJSON) == 0 {
			keyJSON = publicPart(t, g.Private)
		}
		keys, keyErr := parseWycheproofKeys(keyJSON)
		hmac := hasOctKey(t, g.Private) || hasOctKey(t, g.Public)
		for _, tc := range g.Tests {
			total++
			name := fmt.Sprintf("%d/%s/%s", tc.TcID, g.Comment, tc.Comment)
			want := tc.Result
			if r, ok := wycheproofRelabel[tc.TcID]; ok && path == "testdata/wycheproof/json_web_signature_test.json" {
				t.Logf("tcId %d relabelled %s -> %s: %s", tc.TcID, want, r.result, r.reason)
				want = r.result
				relabelled++
			}

			j, parseErr := Parse(tc.JWS)
			err := keyErr
			if err == nil {
				err = parseErr
			}
			if err == nil {
				err = j.Verify(selectKey(keys, j.Header.Kid))
			}

			// The base64 group is all HMAC, which we refuse anyway; check
			// that Parse judged the encoding as RFC 7515 does before it
			// looked at the algorithm.
			if g.Comment == "base64" {
				if want == "invalid" && !errors.Is(parseErr, ErrMalformed) {
					t.Errorf("%s: Parse error %v, want an encoding error (ErrMalformed)", name, parseErr)
				}
				if want == "valid" && !errors.Is(parseErr, ErrPolicy) {
					t.Errorf("%s: Parse error %v, want only the HMAC refusal (ErrPolicy)", name, parseErr)
				}
			}

			switch {
			case want == "invalid":
				if err == nil {
					t.Errorf("%s: accepted, want rejected (flags %v)", name, tc.Flags)
					continue
				}
				rejected++
				reasons[kindOf(err).Error()]++
			case want == "valid" && hmac:
				if err == nil {
					t.Errorf("%s: HMAC token accepted", name)
					continue
				}
				policy++
				t.Logf("tcId %d unsupported by policy: HMAC is refused (RFC 8725 §2.1): %v", tc.TcID, err)
			case want == "valid":
				if p, ok := wycheproofPolicy[tc.TcID]; ok && path == "testdata/wycheproof/json_web_signature_test.json" {
					if !errors.Is(err, p.kind) {
						t.Errorf("%s: got %v, want a refusal by policy wrapping %v (%s)", name, err, p.kind, p.reason)
						continue
					}
					policy++
					t.Logf("tcId %d unsupported by policy: %s: %v", tc.TcID, p.reason, err)
					continue
				}
				if err != nil {
					t.Errorf("%s: rejected, want accepted: %v", name, err)
					continue
				}
				accepted++
			default: // "acceptable": either answer conforms
				if err == nil {
					accepted++
				} else {
					rejected++
				}
			}
		}
	}
	if total != f.NumberOfTests {
		t.Errorf("ran %d cases, file says %d", total, f.NumberOfTests)
	}
	var kinds []string
	for k, n := range reasons {
		kinds = append(kinds, fmt.Sprintf("%s: %d", k, n))
	}
	sort.Strings(kinds)
	t.Logf("%s: %d cases: %d valid accepted, %d invalid rejected, %d valid unsupported by policy, %d relabelled; rejections by kind %v",
		path, total, accepted, rejected, policy, relabelled, kinds)
	if accepted != wantAccepted {
		t.Errorf("accepted %d valid cases, want %d", accepted, wantAccepted)
	}
}

// parseWycheproofKeys reads a group's key, a single JWK or a JWK Set.
func parseWycheproofKeys(raw json.RawMessage) ([]PublicKey, error) {
	var probe map[string]json.RawMessage
	if err := json.Unmarshal(raw, &probe); err != nil {
		return nil, err
	}
	if _, ok := probe["keys"]; ok {
		return ParseJWKSet(raw)
	}
	k, err := ParseJWK(raw)
	if err != nil {
		return nil, err
	}
	return []PublicKey{k}, nil
}

// selectKey picks the key for a kid the way a gateway does; with a single
// key it returns it whatever the kid, so that Verify judges the token.
func selectKey(keys []PublicKey, kid string) PublicKey {
	if len(keys) == 1 {
		return keys[0]
	}
	for _, k := range keys {
		if k.ID == kid {
			return k
		}
	}
	return PublicKey{}
}

// publicPart derives a public JWK (or set) from a private one by dropping
// the private members. For a symmetric key that leaves a kty "oct" JWK with
// no key, which ParseJWK must still refuse.
func publicPart(t *testing.T, raw json.RawMessage) json.RawMessage {
	t.Helper()
	strip := func(m map[string]json.RawMessage) {
		for _, name := range privateMembers {
			delete(m, name)
		}
	}
	var set struct {
		Keys []map[string]json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(raw, &set); err == nil && set.Keys != nil {
		for _, k := range set.Keys {
			strip(k)
		}
		out, err := json.Marshal(set)
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	var k map[string]json.RawMessage
	if err := json.Unmarshal(raw, &k); err != nil {
		t.Fatal(err)
	}
	strip(k)
	out, err := json.Marshal(k)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// hasOctKey reports whether raw (a JWK or set) holds a symmetric key.
func hasOctKey(t *testing.T, raw json.RawMessage) bool {
	t.Helper()
	if len(raw) == 0 {
		return false
	}
	var doc struct {
		Kty  string `json:"kty"`
		Keys []struct {
			Kty string `json:"kty"`
		} `json:"keys"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	if doc.Kty == "oct" {
		return true
	}
	for _, k := range doc.Keys {
		if k.Kty == "oct" {
			return true
		}
	}
	return false
}
