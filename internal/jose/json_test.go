package jose

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestDecodeJSONAccepts(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want any
	}{
		{"Object", `{"a":1,"b":[true,false,null],"c":{"d":"e"}}`, map[string]any{"a": 1.0, "b": []any{true, false, nil}, "c": map[string]any{"d": "e"}}},
		{"SameNameInSiblingObjects", `[{"a":1},{"a":2}]`, []any{map[string]any{"a": 1.0}, map[string]any{"a": 2.0}}},
		{"SameNameAtDifferentDepths", `{"a":{"a":{"a":1}}}`, map[string]any{"a": map[string]any{"a": map[string]any{"a": 1.0}}}},
		{"Numbers", `[0,-0,1.5,-2e10,3E+2,4e-2,12345678901234567890]`, []any{0.0, 0.0, 1.5, -2e10, 300.0, 0.04, 12345678901234567890.0}},
		{"Escapes", `"\"\\\/\b\f\n\r\t\u00e9\ud83d\ude00"`, "\"\\/\b\f\n\r\té😀"},
		{"UTF8", `"héllo wörld ✓ 😀"`, "héllo wörld ✓ 😀"},
		{"Whitespace", " \t\r\n{ \"a\" : [ 1 , 2 ] } \n", map[string]any{"a": []any{1.0, 2.0}}},
		{"EmptyContainers", `{"a":{},"b":[]}`, map[string]any{"a": map[string]any{}, "b": []any{}}},
		{"Scalar", `"x"`, "x"},
		{"NestedToLimit", strings.Repeat("[", maxJSONDepth) + strings.Repeat("]", maxJSONDepth), nil},
		{"ManyMembers", manyMembers(100, false), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got any
			if err := DecodeJSON([]byte(tt.in), &got); err != nil {
				t.Fatal(err)
			}
			if tt.want != nil {
				if diff := cmp.Diff(tt.want, got); diff != "" {
					t.Errorf("(-want +got):\n%s", diff)
				}
			}
		})
	}
}

// manyMembers builds an object with n members, the last one repeating the
// first if dup is set, to exercise the map-based duplicate check.
func manyMembers(n int, dup bool) string {
	var b strings.Builder
	b.WriteString("{")
	for i := 0; i < n; i++ {
		if i > 0 {
			b.WriteString(",")
		}
		b.WriteString(`"m` + strings.Repeat("x", i) + `":1`)
	}
	if dup {
		b.WriteString(`,"MX":2`)
	}
	b.WriteString("}")
	return b.String()
}

func TestDecodeJSONRefuses(t *testing.T) {
	tests := []struct {
		name string
		in   string
		msg  string
	}{
		{"DuplicateTopLevel", `{"exp":1,"exp":2}`, `duplicate member name "exp"`},
		{"DuplicateNested", `{"cnf":{"jkt":"a","jkt":"b"}}`, `duplicate member name "jkt"`},
		{"DuplicateInArray", `[1,{"a":1,"b":{},"a":2}]`, `duplicate member name "a"`},
		{"DuplicateDeep", strings.Repeat(`{"x":`, 30) + `{"a":1,"a":1}` + strings.Repeat("}", 30), `duplicate member name "a"`},
		{"DuplicateViaEscape", `{"exp":1,"\u0065xp":2}`, `duplicate member name "exp"`},
		{"DuplicateDifferentCase", `{"exp":1,"EXP":2}`, `duplicate member name "EXP"`},
		{"DuplicateKelvinSign", `{"kid":1,"\u212aid":2}`, `duplicate member name`},
		{"DuplicateLongS", `{"sub":1,"\u017fub":2}`, `duplicate member name`},
		{"DuplicateAmongMany", manyMembers(40, true), `duplicate member name "MX"`},
		{"TrailingData", `{"a":1} {"a":2}`, "data after the json value"},
		{"TrailingGarbage", `{"a":1}x`, "data after the json value"},
		{"TrailingNUL", "{\"a\":1}\x00", "data after the json value"},
		{"InvalidUTF8InString", "{\"a\":\"\xc3\x28\"}", "invalid utf-8"},
		{"InvalidUTF8InName", "{\"\xff\":1}", "invalid utf-8"},
		{"OverlongUTF8", "\"\xc0\xaf\"", "invalid utf-8"},
		{"EncodedSurrogateUTF8", "\"\xed\xa0\x80\"", "invalid utf-8"},
		{"TruncatedUTF8", "\"\xe2\x82\"", "invalid utf-8"},
		{"LoneHighSurrogate", `"\ud800"`, "lone surrogate"},
		{"LoneLowSurrogate", `"\udc00"`, "lone surrogate"},
		{"HighSurrogateThenText", `"\ud800x"`, "lone surrogate"},
		{"TwoHighSurrogates", `"\ud800\ud800"`, "lone surrogate"},
		{"ControlCharacter", "\"a\tb\"", "control character in string"},
		{"InvalidEscape", `"\x41"`, "invalid escape"},
		{"ShortUnicodeEscape", `"\u12"`, `invalid \u escape`},
		{"Unterminated", `{"a":"b`, "unterminated string"},
		{"TooDeep", strings.Repeat("[", maxJSONDepth+1) + strings.Repeat("]", maxJSONDepth+1), "nesting too deep"},
		{"ByteOrderMark", "\ufeff{}", "unexpected byte"},
		{"Empty", "", "unexpected end"},
		{"OnlyWhitespace", " \n", "unexpected end"},
		{"LeadingZero", `[01]`, "want ',' or ']'"},
		{"BareDot", `[1.]`, "invalid number"},
		{"LeadingDot", `[.5]`, "unexpected byte"},
		{"PlusSign", `[+1]`, "unexpected byte"},
		{"BareMinus", `[-]`, "invalid number"},
		{"BareExponent", `[1e]`, "invalid number"},
		{"NaN", `[NaN]`, "unexpected byte"},
		{"BadLiteral", `[tru]`, "invalid literal"},
		{"SingleQuotes", `{'a':1}`, "want member name"},
		{"UnquotedName", `{a:1}`, "want member name"},
		{"TrailingComma", `[1,]`, "unexpected byte"},
		{"MissingColon", `{"a" 1}`, "want ':'"},
		{"Comment", `{"a":1 /* no */}`, "want ',' or '}'"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var v any
			err := DecodeJSON([]byte(tt.in), &v)
			checkErr(t, err, ErrMalformed, tt.msg)
			if v != nil {
				t.Errorf("refused input decoded into %v", v)
			}
		})
	}
}

func TestDecodeJSONTypeErrorIsReachable(t *testing.T) {
	var claims struct {
		Exp int64 `json:"exp"`
	}
	err := DecodeJSON([]byte(`{"exp":"soon"}`), &claims)
	if !errors.Is(err, ErrMalformed) {
		t.Fatalf("got %v, want ErrMalformed", err)
	}
	var typeErr *json.UnmarshalTypeError
	if !errors.As(err, &typeErr) || typeErr.Field != "exp" {
		t.Fatalf("got %v, want a *json.UnmarshalTypeError for exp", err)
	}
}
