package admin

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
)

// sample is a request shape with every kind of member the admin API uses.
type sample struct {
	Name   string          `json:"name"`
	Count  int64           `json:"count"`
	On     *bool           `json:"on"`
	Tags   []string        `json:"tags"`
	Inner  *sampleInner    `json:"inner"`
	Raw    json.RawMessage `json:"raw"`
	Ratio  float64         `json:"ratio"`
	Opt    *string         `json:"opt"`
	Nested []sampleInner   `json:"nested"`
}

type sampleInner struct {
	Path string `json:"path"`
	N    int    `json:"n"`
}

func TestDecodeJSON(t *testing.T) {
	for _, tc := range []struct {
		name, body      string
		typ, field, why string
	}{
		{"Good", `{"name":"x","count":2,"tags":["a"],"inner":{"path":"/p"}}`, "", "", ""},
		{"Empty object", `{}`, "", "", ""},
		{"Malformed", `{"name":`, typeMalformedJSON, "", "unexpected end"},
		{"Trailing data", `{"name":"x"} {}`, typeMalformedJSON, "", "data after"},
		{"Duplicate member", `{"name":"x","name":"y"}`, typeMalformedJSON, "", "duplicate"},
		{"Duplicate folded", `{"name":"x","NAME":"y"}`, typeMalformedJSON, "", "duplicate"},
		{"Not an object", `["name"]`, typeWrongType, "", "must be an object"},
		{"Null body", `null`, typeWrongType, "", "must be an object"},
		{"Unknown field", `{"name":"x","colour":"red"}`, typeUnknownField, "colour", "unknown field"},
		{"Unknown nested", `{"inner":{"path":"/","extra":1}}`, typeUnknownField, "extra", "unknown field"},
		{"Name in another case", `{"NAME":"x"}`, typeUnknownField, "NAME", "unknown field"},
		{"Nested name in another case", `{"inner":{"Path":"/"}}`, typeUnknownField, "Path", "unknown field"},
		{"Array element name in another case", `{"nested":[{"n":1},{"N":2}]}`, typeUnknownField, "N", "unknown field"},
		{"String for int", `{"count":"2"}`, typeWrongType, "count", "must be an integer, not a string"},
		{"Float for int", `{"count":2.5}`, typeWrongType, "count", "must be an integer"},
		{"Int overflow", `{"count":1e30}`, typeWrongType, "count", "must be an integer"},
		{"Number for string", `{"name":5}`, typeWrongType, "name", "must be a string, not a number"},
		{"Object for array", `{"tags":{}}`, typeWrongType, "tags", "must be an array, not an object"},
		{"Wrong array element", `{"tags":["a",1]}`, typeWrongType, "tags", "must be a string"},
		{"Nested wrong type", `{"inner":{"path":1}}`, typeWrongType, "inner.path", "must be a string"},
		{"Array element member", `{"nested":[{"n":"x"}]}`, typeWrongType, "nested.n", "must be an integer"},
		{"String for bool", `{"on":"yes"}`, typeWrongType, "on", "must be true or false"},
		{"Bad UTF-8", "{\"name\":\"\xff\"}", typeMalformedJSON, "", "utf-8"},
		{"Lone surrogate", `{"name":"\ud800"}`, typeMalformedJSON, "", "surrogate"},
		{"Too deep", `{"raw":` + strings.Repeat("[", 100) + strings.Repeat("]", 100) + `}`, typeMalformedJSON, "", "deep"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var v sample
			err := decodeJSON([]byte(tc.body), &v)
			if tc.typ == "" {
				if err != nil {
					t.Fatalf("decodeJSON: %v", err)
				}
				return
			}
			p, ok := err.(*Problem)
			if !ok {
				t.Fatalf("got %v (%T), want a *Problem", err, err)
			}
			if p.Type != tc.typ || p.Field != tc.field || !strings.Contains(strings.ToLower(p.Reason), strings.ToLower(tc.why)) {
				t.Errorf("got type %s field %q reason %q; want %s %q containing %q", p.Type, p.Field, p.Reason, tc.typ, tc.field, tc.why)
			}
			if p.Status != http.StatusBadRequest {
				t.Errorf("status %d, want 400", p.Status)
			}
		})
	}
}

func TestReadJSON(t *testing.T) {
	for _, tc := range []struct {
		name, ct, body string
		optional       bool
		status         int
		typ            string
	}{
		{"Good", "application/json", `{"name":"x"}`, false, 0, ""},
		{"Charset", "application/json; charset=utf-8", `{"name":"x"}`, false, 0, ""},
		{"MergePatch", "application/merge-patch+json", `{"name":"x"}`, false, 0, ""},
		{"Form", "application/x-www-form-urlencoded", `{"name":"x"}`, false, 415, typeMediaType},
		{"NoType", "", `{"name":"x"}`, false, 0, ""},
		{"Text", "text/plain", `{"name":"x"}`, false, 415, typeMediaType},
		{"EmptyRequired", "application/json", ``, false, 400, typeMalformedJSON},
		{"EmptyOptional", "", ``, true, 0, ""},
		{"TooLarge", "application/json", `{"name":"` + strings.Repeat("x", 200) + `"}`, false, 413, typeTooLarge},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest("POST", "/", strings.NewReader(tc.body))
			if tc.ct != "" {
				r.Header.Set("Content-Type", tc.ct)
			}
			var v sample
			err := readJSON(httptest.NewRecorder(), r, &v, 100, tc.optional)
			if tc.status == 0 {
				if err != nil {
					t.Fatalf("readJSON: %v", err)
				}
				return
			}
			p, ok := err.(*Problem)
			if !ok || p.Status != tc.status || p.Type != tc.typ {
				t.Fatalf("got %#v, want status %d type %s", err, tc.status, tc.typ)
			}
		})
	}
}

// FuzzDecodeJSON checks the one decoder every admin request body goes
// through: it never panics, refuses only with a 4xx problem that names a
// known type, and what it accepts survives a round trip unchanged.
func FuzzDecodeJSON(f *testing.F) {
	for _, s := range []string{
		`{}`, `{"name":"x","count":1,"tags":["a","b"],"inner":{"path":"/","n":2},"raw":{"k":[1,2]}}`,
		`{"name":"x","name":"y"}`, `{"count":"1"}`, `{"colour":1}`, `[]`, `null`, `{"nested":[{"n":1},{"n":"2"}]}`,
		`{"on":true,"opt":null,"ratio":1e308}`, `{"raw":"\ud83d\ude00"}`, "{\"name\":\"\\u0000\"}",
	} {
		f.Add([]byte(s))
	}
	known := map[string]bool{typeMalformedJSON: true, typeUnknownField: true, typeWrongType: true}
	f.Fuzz(func(t *testing.T, data []byte) {
		var v sample
		err := decodeJSON(data, &v)
		if err != nil {
			p, ok := err.(*Problem)
			if !ok || p.Status != http.StatusBadRequest || !known[p.Type] || p.Title == "" {
				t.Fatalf("refusal %#v is not a 400 problem of a known type", err)
			}
			return
		}
		out, err := json.Marshal(&v)
		if err != nil {
			t.Fatalf("accepted value does not encode: %v", err)
		}
		var again sample
		if err := decodeJSON(out, &again); err != nil {
			t.Fatalf("re-encoded value %s refused: %v", out, err)
		}
		if !reflect.DeepEqual(normalize(v), normalize(again)) {
			t.Fatalf("round trip changed the value: %+v != %+v", v, again)
		}
	})
}

// normalize compacts raw members, whose whitespace may differ.
func normalize(s sample) sample {
	if string(s.Raw) == "null" {
		s.Raw = nil
	}
	if len(s.Raw) > 0 {
		var b strings.Builder
		enc := json.NewEncoder(&b)
		var x any
		if json.Unmarshal(s.Raw, &x) == nil {
			_ = enc.Encode(x)
			s.Raw = json.RawMessage(b.String())
		}
	}
	return s
}
