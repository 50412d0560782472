package admin

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"reflect"
	"strconv"
	"strings"

	"github.com/gatehouse/gatehouse/internal/jose"
)

// maxBody caps a request body; an imported OpenAPI document gets
// maxDocumentBody.
const (
	maxBody         = 64 << 10
	maxDocumentBody = 2 << 20
)

// readJSON reads the request body as one JSON object into v with decodeJSON.
// An empty body is allowed only when optional (action endpoints whose
// parameters all have defaults); v is then left as it is.
func readJSON(w http.ResponseWriter, r *http.Request, v any, limit int64, optional bool) error {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return &Problem{Type: typeTooLarge, Title: "body too large", Status: http.StatusRequestEntityTooLarge,
				Detail: "the request body is over " + strconv.FormatInt(limit, 10) + " bytes", Reason: "over " + strconv.FormatInt(limit, 10) + " bytes"}
		}
		return problem(http.StatusBadRequest, typeMalformedJSON, "malformed JSON", "the request body could not be read")
	}
	if len(bytes.TrimSpace(body)) == 0 {
		if optional {
			return nil
		}
		return &Problem{Type: typeMalformedJSON, Title: "malformed JSON", Status: http.StatusBadRequest,
			Detail: "a JSON object is required", Reason: "empty body"}
	}
	// A body without Content-Type is read as JSON (scripts forget it); one
	// that says it is something else is refused.
	ct := r.Header.Get("Content-Type")
	mt, _, err := mime.ParseMediaType(ct)
	if ct != "" && (err != nil || (mt != "application/json" && mt != "application/merge-patch+json")) {
		return &Problem{Type: typeMediaType, Title: "unsupported media type", Status: http.StatusUnsupportedMediaType,
			Detail: "send the body as application/json", Field: "Content-Type", Reason: "must be application/json"}
	}
	return decodeJSON(body, v)
}

// decodeJSON is the one strict decoder for every admin request body. The
// text must be strict JSON (jose.DecodeJSON: valid UTF-8, no duplicate
// members at any depth, bounded nesting, nothing after the value) holding
// one object; members v does not know are refused, and so are values of
// the wrong type. Every refusal is a *Problem naming the member and the
// reason, and never echoes the input.
func decodeJSON(data []byte, v any) error {
	var raw json.RawMessage
	if err := jose.DecodeJSON(data, &raw); err != nil {
		reason := strings.TrimPrefix(strings.TrimPrefix(err.Error(), "jose: "), "invalid json: ")
		return &Problem{Type: typeMalformedJSON, Title: "malformed JSON", Status: http.StatusBadRequest,
			Detail: "the body is not valid JSON: " + reason, Reason: reason}
	}
	if t := bytes.TrimLeft(raw, " \t\r\n"); len(t) == 0 || t[0] != '{' {
		return &Problem{Type: typeWrongType, Title: "wrong type", Status: http.StatusBadRequest,
			Detail: "the body must be a JSON object", Reason: "must be an object"}
	}
	// encoding/json matches member names without regard to case; ours
	// must match exactly, so {"NAME":…} is an unknown member, not name.
	if name, ok := inexactMember(raw, reflect.TypeOf(v)); !ok {
		return unknownField(name)
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	err := dec.Decode(v)
	if err == nil {
		return nil
	}
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		field := te.Field
		reason := "must be " + kindName(te.Type)
		if v := strings.Fields(te.Value); len(v) > 0 {
			reason += ", not " + article(v[0])
		}
		return &Problem{Type: typeWrongType, Title: "wrong type", Status: http.StatusBadRequest,
			Detail: fieldOrBody(field) + " " + reason, Field: field, Reason: reason}
	}
	if name, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
		if s, err := strconv.Unquote(name); err == nil {
			name = s
		}
		return unknownField(name)
	}
	// Strict JSON already passed, so what is left is a value encoding/json
	// cannot hold (a number too large for its field, say).
	reason := strings.TrimPrefix(err.Error(), "json: ")
	if len(reason) > 160 {
		reason = reason[:160]
	}
	return &Problem{Type: typeMalformedJSON, Title: "malformed JSON", Status: http.StatusBadRequest,
		Detail: "the body could not be decoded: " + reason, Reason: reason}
}

func fieldOrBody(f string) string {
	if f == "" {
		return "the body"
	}
	return "member " + strconv.Quote(f)
}

// kindName says in words what JSON a Go type expects.
func kindName(t reflect.Type) string {
	if t == nil {
		return "another type"
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "an integer"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Slice, reflect.Array:
		return "an array"
	case reflect.Struct, reflect.Map:
		return "an object"
	}
	return "another type"
}

func article(jsonKind string) string {
	switch jsonKind {
	case "array", "object":
		return "an " + jsonKind
	case "string", "number", "bool":
		return "a " + jsonKind
	}
	return jsonKind
}

// jsonRaw is a JSON value kept as it came (a JWK Set, a JWK), after the
// strict check of the whole body.
type jsonRaw = json.RawMessage

func unknownField(name string) *Problem {
	if len(name) > 100 {
		name = name[:100]
	}
	return &Problem{Type: typeUnknownField, Title: "unknown field", Status: http.StatusBadRequest,
		Detail: "member " + strconv.Quote(name) + " is not part of this resource", Field: name, Reason: "unknown field"}
}

var (
	rawType         = reflect.TypeFor[json.RawMessage]()
	unmarshalerType = reflect.TypeFor[json.Unmarshaler]()
)

// inexactMember walks data along t and returns the first object member
// whose name matches no field of its struct exactly. Values of the wrong
// type are left to the decoder, which names them.
func inexactMember(data []byte, t reflect.Type) (string, bool) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t == rawType || reflect.PointerTo(t).Implements(unmarshalerType) {
		return "", true // its own decoder judges it
	}
	switch t.Kind() {
	case reflect.Struct:
		var obj map[string]json.RawMessage
		if json.Unmarshal(data, &obj) != nil {
			return "", true
		}
		fields := jsonFields(t)
		for name, val := range obj {
			ft, ok := fields[name]
			if !ok {
				return name, false
			}
			if n, ok := inexactMember(val, ft); !ok {
				return n, false
			}
		}
	case reflect.Slice, reflect.Array:
		var arr []json.RawMessage
		if json.Unmarshal(data, &arr) != nil {
			return "", true
		}
		for _, val := range arr {
			if n, ok := inexactMember(val, t.Elem()); !ok {
				return n, false
			}
		}
	case reflect.Map:
		var obj map[string]json.RawMessage
		if json.Unmarshal(data, &obj) != nil {
			return "", true
		}
		for _, val := range obj {
			if n, ok := inexactMember(val, t.Elem()); !ok {
				return n, false
			}
		}
	}
	return "", true
}

// jsonFields maps the JSON member names of struct t (tags as encoding/json
// reads them, embedded structs promoted) to their types.
func jsonFields(t reflect.Type) map[string]reflect.Type {
	out := map[string]reflect.Type{}
	for f := range t.Fields() {
		tag := f.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, _, _ := strings.Cut(tag, ",")
		if f.Anonymous && name == "" {
			et := f.Type
			if et.Kind() == reflect.Pointer {
				et = et.Elem()
			}
			if et.Kind() == reflect.Struct {
				for n, ft := range jsonFields(et) {
					if _, ok := out[n]; !ok {
						out[n] = ft
					}
				}
				continue
			}
		}
		if !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		out[name] = f.Type
	}
	return out
}
