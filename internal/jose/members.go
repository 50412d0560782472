package jose

// Member is one name/value pair of a JSON object; Raw is the value still
// encoded.
type Member struct {
	Name string
	Raw  []byte
}

// Members checks that data is strict JSON (see DecodeJSON) holding an
// object, and returns its members in order, names exactly as written. It
// lets a caller match member names exactly, which decoding into a struct
// does not (encoding/json folds case), in one pass. Errors wrap
// ErrMalformed.
func Members(data []byte, what string) ([]Member, error) {
	if err := checkJSON(data); err != nil {
		return nil, err
	}
	ms, err := objectMembers(data, what)
	if err != nil {
		return nil, err
	}
	out := make([]Member, len(ms))
	for i, m := range ms {
		out[i] = Member{Name: m.name, Raw: m.raw}
	}
	return out, nil
}

// String decodes raw, which must be a JSON string (from Members).
func String(raw []byte, what string) (string, error) {
	return jsonString(raw, what)
}
