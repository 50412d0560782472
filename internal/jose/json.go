package jose

import (
	"encoding/json"
	"unicode"
	"unicode/utf16"
	"unicode/utf8"
)

// maxJSONDepth bounds nesting so that hostile input cannot exhaust the stack;
// no header, claims set or JWK we read comes near it.
const maxJSONDepth = 64

// DecodeJSON decodes data into v after checking it is strict JSON (RFC 8259,
// with the I-JSON restrictions of RFC 7493 §2): valid UTF-8, no lone
// surrogate escapes, one value with nothing but whitespace after it, nesting
// at most 64 deep, and no object with two members of the same name at any
// depth. encoding/json would silently keep the last of two duplicates, which
// lets one JSON text mean different things to different parsers
// (RFC 8725 §3.2 asks for exactly this check on JWT claims).
//
// Names that differ only in case are duplicates too: encoding/json matches
// struct fields case-insensitively, so {"exp":1,"EXP":2} would otherwise be
// decoded last-wins into the same field.
//
// Errors wrap ErrMalformed; a type error from encoding/json is also
// reachable with errors.As.
func DecodeJSON(data []byte, v any) error {
	if err := checkJSON(data); err != nil {
		return err
	}
	if err := json.Unmarshal(data, v); err != nil {
		return &joseError{kind: ErrMalformed, msg: "jose: " + err.Error(), cause: err}
	}
	return nil
}

// checkJSON reports whether data is one strict JSON value; see DecodeJSON.
func checkJSON(data []byte) error {
	// Room for the member names of a typical claims set or JWK in one
	// allocation, rather than growing three slices name by name.
	sp := new(struct {
		names [512]byte
		ends  [32]int
		str   [64]byte
	})
	s := scanner{data: data, names: sp.names[:0], nameEnds: sp.ends[:0], str: sp.str[:0]}
	s.ws()
	if err := s.value(); err != nil {
		return err
	}
	s.ws()
	if s.pos != len(s.data) {
		return s.fail("data after the json value")
	}
	return nil
}

// scanner is a small validating JSON reader. It never builds a tree: callers
// walk the bytes and take only what they need, which keeps header parsing on
// the hot path allocation-light.
type scanner struct {
	data  []byte
	pos   int
	depth int

	// Names of the members of every object still open, folded (see
	// appendFold) and stored back to back in names; nameEnds[i] is where
	// the i-th one ends. An object's names are dropped when it closes.
	names    []byte
	nameEnds []int
	str      []byte // scratch for decoding names
}

func (s *scanner) fail(what string) error {
	return errorf(ErrMalformed, "jose: invalid json: %s at offset %d", what, s.pos)
}

func (s *scanner) ws() {
	for s.pos < len(s.data) {
		switch s.data[s.pos] {
		case ' ', '\t', '\n', '\r':
			s.pos++
		default:
			return
		}
	}
}

// value validates the value at s.pos and moves past it.
func (s *scanner) value() error {
	if s.pos >= len(s.data) {
		return s.fail("unexpected end")
	}
	switch c := s.data[s.pos]; {
	case c == '{':
		return s.object()
	case c == '[':
		return s.array()
	case c == '"':
		_, err := s.stringBytes(nil, false)
		return err
	case c == 't':
		return s.literal("true")
	case c == 'f':
		return s.literal("false")
	case c == 'n':
		return s.literal("null")
	case c == '-' || ('0' <= c && c <= '9'):
		return s.number()
	}
	return s.fail("unexpected byte")
}

func (s *scanner) enter() error {
	s.depth++
	if s.depth > maxJSONDepth {
		return s.fail("nesting too deep")
	}
	return nil
}

func (s *scanner) object() error {
	if err := s.enter(); err != nil {
		return err
	}
	s.pos++ // '{'
	firstName, firstByte := len(s.nameEnds), len(s.names)
	var set map[string]struct{} // only for objects with many members
	defer func() {
		s.nameEnds = s.nameEnds[:firstName]
		s.names = s.names[:firstByte]
		s.depth--
	}()
	s.ws()
	if s.pos < len(s.data) && s.data[s.pos] == '}' {
		s.pos++
		return nil
	}
	for {
		if s.pos >= len(s.data) || s.data[s.pos] != '"' {
			return s.fail("want member name")
		}
		at := s.pos
		name, err := s.stringBytes(s.str[:0], true)
		if err != nil {
			return err
		}
		s.str = name[:0]
		start := len(s.names)
		s.names = appendFold(s.names, name)
		folded := s.names[start:]
		if dup := s.seen(folded, firstName, firstByte, &set); dup {
			s.pos = at
			return errorf(ErrMalformed, "jose: invalid json: duplicate member name %s at offset %d", quoteShort(string(name)), at)
		}
		s.nameEnds = append(s.nameEnds, len(s.names))
		s.ws()
		if s.pos >= len(s.data) || s.data[s.pos] != ':' {
			return s.fail("want ':'")
		}
		s.pos++
		s.ws()
		if err := s.value(); err != nil {
			return err
		}
		s.ws()
		if s.pos >= len(s.data) {
			return s.fail("unexpected end")
		}
		switch s.data[s.pos] {
		case ',':
			s.pos++
			s.ws()
		case '}':
			s.pos++
			return nil
		default:
			return s.fail("want ',' or '}'")
		}
	}
}

// seen reports whether folded (the last name appended to s.names) equals an
// earlier name of the same object. Small objects are searched linearly; from
// 16 names on a set keeps the check linear in the size of the input.
func (s *scanner) seen(folded []byte, firstName, firstByte int, set *map[string]struct{}) bool {
	n := len(s.nameEnds) - firstName
	if *set == nil && n < 16 {
		prev := firstByte
		for _, end := range s.nameEnds[firstName:] {
			if string(s.names[prev:end]) == string(folded) {
				return true
			}
			prev = end
		}
		return false
	}
	if *set == nil {
		*set = make(map[string]struct{}, 2*n)
		prev := firstByte
		for _, end := range s.nameEnds[firstName:] {
			(*set)[string(s.names[prev:end])] = struct{}{}
			prev = end
		}
	}
	if _, ok := (*set)[string(folded)]; ok {
		return true
	}
	(*set)[string(folded)] = struct{}{}
	return false
}

func (s *scanner) array() error {
	if err := s.enter(); err != nil {
		return err
	}
	s.pos++ // '['
	s.ws()
	if s.pos < len(s.data) && s.data[s.pos] == ']' {
		s.pos++
		s.depth--
		return nil
	}
	for {
		if err := s.value(); err != nil {
			return err
		}
		s.ws()
		if s.pos >= len(s.data) {
			return s.fail("unexpected end")
		}
		switch s.data[s.pos] {
		case ',':
			s.pos++
			s.ws()
		case ']':
			s.pos++
			s.depth--
			return nil
		default:
			return s.fail("want ',' or ']'")
		}
	}
}

func (s *scanner) literal(lit string) error {
	if len(s.data)-s.pos < len(lit) || string(s.data[s.pos:s.pos+len(lit)]) != lit {
		return s.fail("invalid literal")
	}
	s.pos += len(lit)
	return nil
}

// number checks the RFC 8259 §6 grammar:
// -? (0 | [1-9][0-9]*) (\.[0-9]+)? ([eE][+-]?[0-9]+)?
func (s *scanner) number() error {
	d := s.data
	if s.pos < len(d) && d[s.pos] == '-' {
		s.pos++
	}
	switch {
	case s.pos < len(d) && d[s.pos] == '0':
		s.pos++
	case s.pos < len(d) && '1' <= d[s.pos] && d[s.pos] <= '9':
		s.digits()
	default:
		return s.fail("invalid number")
	}
	if s.pos < len(d) && d[s.pos] == '.' {
		s.pos++
		if s.digits() == 0 {
			return s.fail("invalid number")
		}
	}
	if s.pos < len(d) && (d[s.pos] == 'e' || d[s.pos] == 'E') {
		s.pos++
		if s.pos < len(d) && (d[s.pos] == '+' || d[s.pos] == '-') {
			s.pos++
		}
		if s.digits() == 0 {
			return s.fail("invalid number")
		}
	}
	return nil
}

func (s *scanner) digits() int {
	n := 0
	for s.pos < len(s.data) && '0' <= s.data[s.pos] && s.data[s.pos] <= '9' {
		s.pos++
		n++
	}
	return n
}

// stringBytes reads the string at s.pos (which must be '"') and, if keep,
// appends its decoded UTF-8 to dst and returns it; otherwise it only
// validates and copies nothing.
func (s *scanner) stringBytes(dst []byte, keep bool) ([]byte, error) {
	s.pos++ // opening quote
	d := s.data
	for {
		// Copy a run of plain ASCII in one go.
		run := s.pos
		for s.pos < len(d) {
			c := d[s.pos]
			if c == '"' || c == '\\' || c < 0x20 || c >= utf8.RuneSelf {
				break
			}
			s.pos++
		}
		if keep {
			dst = append(dst, d[run:s.pos]...)
		}
		if s.pos >= len(d) {
			return nil, s.fail("unterminated string")
		}
		c := d[s.pos]
		switch {
		case c == '"':
			s.pos++
			return dst, nil
		case c < 0x20:
			return nil, s.fail("control character in string")
		case c >= utf8.RuneSelf:
			r, size := utf8.DecodeRune(d[s.pos:])
			if r == utf8.RuneError && size <= 1 {
				return nil, s.fail("invalid utf-8")
			}
			if keep {
				dst = append(dst, d[s.pos:s.pos+size]...)
			}
			s.pos += size
		default: // backslash
			r, err := s.escape()
			if err != nil {
				return nil, err
			}
			if keep {
				dst = utf8.AppendRune(dst, r)
			}
		}
	}
}

// escape decodes the escape sequence at s.pos. A \u escape of a surrogate
// must be a well-formed pair: a lone surrogate is not a character, and
// parsers disagree on what to make of it (RFC 7493 §2.1).
func (s *scanner) escape() (rune, error) {
	d := s.data
	if s.pos+1 >= len(d) {
		return 0, s.fail("unterminated escape")
	}
	c := d[s.pos+1]
	s.pos += 2
	switch c {
	case '"', '\\', '/':
		return rune(c), nil
	case 'b':
		return '\b', nil
	case 'f':
		return '\f', nil
	case 'n':
		return '\n', nil
	case 'r':
		return '\r', nil
	case 't':
		return '\t', nil
	case 'u':
		r, ok := s.hex4()
		if !ok {
			return 0, s.fail("invalid \\u escape")
		}
		if !utf16.IsSurrogate(r) {
			return r, nil
		}
		if r >= 0xdc00 || s.pos+1 >= len(d) || d[s.pos] != '\\' || d[s.pos+1] != 'u' {
			return 0, s.fail("lone surrogate escape")
		}
		s.pos += 2
		r2, ok := s.hex4()
		if !ok {
			return 0, s.fail("invalid \\u escape")
		}
		pair := utf16.DecodeRune(r, r2)
		if pair == unicode.ReplacementChar {
			return 0, s.fail("lone surrogate escape")
		}
		return pair, nil
	}
	return 0, s.fail("invalid escape")
}

func (s *scanner) hex4() (rune, bool) {
	if len(s.data)-s.pos < 4 {
		return 0, false
	}
	var r rune
	for _, c := range s.data[s.pos : s.pos+4] {
		var v byte
		switch {
		case '0' <= c && c <= '9':
			v = c - '0'
		case 'a' <= c && c <= 'f':
			v = c - 'a' + 10
		case 'A' <= c && c <= 'F':
			v = c - 'A' + 10
		default:
			return 0, false
		}
		r = r<<4 | rune(v)
	}
	s.pos += 4
	return r, true
}

// appendFold appends a case-folded form of the UTF-8 name to dst: two names
// fold to the same bytes exactly when bytes.EqualFold reports them equal,
// which is how encoding/json matches names to struct fields. Each rune is
// replaced by the smallest rune of its simple case-folding orbit.
func appendFold(dst, name []byte) []byte {
	for i := 0; i < len(name); {
		c := name[i]
		if c < utf8.RuneSelf {
			if 'a' <= c && c <= 'z' {
				c -= 'a' - 'A'
			}
			dst = append(dst, c)
			i++
			continue
		}
		r, size := utf8.DecodeRune(name[i:])
		i += size
		min := r
		for f := unicode.SimpleFold(r); f != r; f = unicode.SimpleFold(f) {
			if f < min {
				min = f
			}
		}
		dst = utf8.AppendRune(dst, min)
	}
	return dst
}

// member is one name/value pair of a JSON object, the value still encoded.
type member struct {
	name string
	raw  []byte
}

// objectMembers returns the members of the JSON object in data, in order.
// data must already have passed checkJSON (so names are unique); anything
// but an object is malformed.
func objectMembers(data []byte, what string) ([]member, error) {
	s := scanner{data: data}
	s.ws()
	if s.pos >= len(data) || data[s.pos] != '{' {
		return nil, errorf(ErrMalformed, "jose: %s is not a json object", what)
	}
	s.pos++
	s.ws()
	var ms []member
	if s.pos < len(data) && data[s.pos] == '}' {
		return ms, nil
	}
	for {
		name, err := s.stringBytes(nil, true)
		if err != nil {
			return nil, err
		}
		s.ws()
		s.pos++ // ':'
		s.ws()
		start := s.pos
		if err := s.value(); err != nil {
			return nil, err
		}
		ms = append(ms, member{name: string(name), raw: data[start:s.pos]})
		s.ws()
		if s.pos >= len(data) || data[s.pos] != ',' {
			return ms, nil
		}
		s.pos++
		s.ws()
	}
}

// arrayElems returns the encoded elements of the JSON array raw, which must
// already have passed checkJSON.
func arrayElems(raw []byte, what string) ([][]byte, error) {
	s := scanner{data: raw}
	if len(raw) == 0 || raw[0] != '[' {
		return nil, errorf(ErrMalformed, "jose: %s is not a json array", what)
	}
	s.pos++
	s.ws()
	var elems [][]byte
	if s.pos < len(raw) && raw[s.pos] == ']' {
		return elems, nil
	}
	for {
		start := s.pos
		if err := s.value(); err != nil {
			return nil, err
		}
		elems = append(elems, raw[start:s.pos])
		s.ws()
		if s.pos >= len(raw) || raw[s.pos] != ',' {
			return elems, nil
		}
		s.pos++
		s.ws()
	}
}

// jsonString decodes raw, which must be a JSON string, or says what it is not.
func jsonString(raw []byte, what string) (string, error) {
	if len(raw) == 0 || raw[0] != '"' {
		return "", errorf(ErrMalformed, "jose: %s must be a json string", what)
	}
	s := scanner{data: raw}
	b, err := s.stringBytes(nil, true)
	if err != nil {
		return "", err
	}
	return string(b), nil
}
