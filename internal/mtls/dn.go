package mtls

import (
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// DN is a parsed distinguished name: its RDNs in certificate order (the
// most general first, as in the ASN.1 RDNSequence), each a set of
// attributes with normalised values, sorted, so that two DNs are equal
// exactly when they name the same subject.
type DN [][]Attr

// Attr is one attribute of an RDN: its type (an OID in dotted form) and its
// value, normalised for comparison (see normalise).
type Attr struct {
	Type  string
	Value string
}

// maxDNLen bounds a configured DN; real ones are a few hundred bytes.
const maxDNLen = 4096

// attrNames are the short names RFC 4514 section 3 lists, and a few more
// that certificates commonly carry and Go's pkix.Name.String writes.
var attrNames = map[string]string{
	"CN":           "2.5.4.3",
	"L":            "2.5.4.7",
	"ST":           "2.5.4.8",
	"O":            "2.5.4.10",
	"OU":           "2.5.4.11",
	"C":            "2.5.4.6",
	"STREET":       "2.5.4.9",
	"DC":           "0.9.2342.19200300.100.1.25",
	"UID":          "0.9.2342.19200300.100.1.1",
	"SERIALNUMBER": "2.5.4.5",
	"POSTALCODE":   "2.5.4.17",
	"EMAILADDRESS": "1.2.840.113549.1.9.1",
}

// ParseDN parses a distinguished name in the string form of RFC 4514
// ("CN=orders-svc,OU=Services,O=Example Corp,C=DE"): RDNs separated by ","
// (most specific first), multi-valued RDNs joined by "+", attribute types
// by short name (case-insensitive) or dotted OID, values with RFC 4514
// escapes ("\," "\+" "\\" "\"" "\<" "\>" "\;" "\=" "\#" "\ " and \hh
// pairs). Spaces around separators are allowed, as people write them.
// Values in hex form ("#04...") are refused: they name BER encodings that
// nobody configures by hand. An empty string is refused too: a client must
// name a subject.
func ParseDN(s string) (DN, error) {
	if len(s) > maxDNLen {
		return nil, fmt.Errorf("distinguished name longer than %d bytes", maxDNLen)
	}
	if !utf8.ValidString(s) {
		return nil, errors.New("distinguished name is not valid UTF-8")
	}
	p := dnParser{s: s}
	var rdns [][]Attr
	for {
		rdn, err := p.rdn()
		if err != nil {
			return nil, err
		}
		rdns = append(rdns, rdn)
		p.spaces()
		if p.eof() {
			break
		}
		if c := p.s[p.i]; c != ',' && c != ';' {
			return nil, fmt.Errorf("unexpected %q at byte %d; RDNs are separated by ','", c, p.i)
		}
		p.i++
	}
	slices.Reverse(rdns) // RFC 4514 section 2.1: the string lists the last RDN first
	return DN(rdns), nil
}

type dnParser struct {
	s string
	i int
}

func (p *dnParser) eof() bool { return p.i >= len(p.s) }

func (p *dnParser) spaces() {
	for !p.eof() && p.s[p.i] == ' ' {
		p.i++
	}
}

func (p *dnParser) rdn() ([]Attr, error) {
	var rdn []Attr
	for {
		a, err := p.attr()
		if err != nil {
			return nil, err
		}
		if slices.Contains(rdn, a) {
			return nil, fmt.Errorf("attribute %s repeated within one RDN", a.Type)
		}
		rdn = append(rdn, a)
		p.spaces()
		if p.eof() || p.s[p.i] != '+' {
			break
		}
		p.i++
	}
	sortRDN(rdn)
	return rdn, nil
}

func (p *dnParser) attr() (Attr, error) {
	p.spaces()
	start := p.i
	for !p.eof() && p.s[p.i] != '=' && p.s[p.i] != ',' && p.s[p.i] != '+' {
		p.i++
	}
	name := strings.TrimRight(p.s[start:p.i], " ")
	if p.eof() || p.s[p.i] != '=' {
		return Attr{}, fmt.Errorf("expected type=value at byte %d", start)
	}
	p.i++
	typ, err := attrType(name)
	if err != nil {
		return Attr{}, err
	}
	p.spaces()
	if !p.eof() && p.s[p.i] == '#' {
		return Attr{}, errors.New("hex-encoded attribute values (#...) are not supported; write the value as text")
	}
	var b strings.Builder
	trailing := 0 // unescaped spaces at the end of b, trimmed
	for !p.eof() {
		c := p.s[p.i]
		if c == ',' || c == '+' || c == ';' {
			break
		}
		switch {
		case c == '\\':
			r, n, err := unescape(p.s[p.i+1:])
			if err != nil {
				return Attr{}, fmt.Errorf("at byte %d: %w", p.i, err)
			}
			b.WriteString(r)
			p.i += 1 + n
			trailing = 0
			continue
		case c == '"' || c == '<' || c == '>' || c == '=' || c == 0:
			return Attr{}, fmt.Errorf("character %q at byte %d must be escaped with a backslash", c, p.i)
		case c == ' ':
			trailing++
		default:
			trailing = 0
		}
		b.WriteByte(c)
		p.i++
	}
	v := b.String()
	v = v[:len(v)-trailing]
	if !utf8.ValidString(v) {
		return Attr{}, fmt.Errorf("value of %s is not valid UTF-8", name)
	}
	if v = normalise(v); v == "" {
		return Attr{}, fmt.Errorf("empty value for %s", name)
	}
	return Attr{Type: typ, Value: v}, nil
}

// unescape reads an RFC 4514 pair after a backslash: a special character
// or two hex digits. It returns the bytes and how many input bytes it used.
func unescape(s string) (string, int, error) {
	if s == "" {
		return "", 0, errors.New("backslash at the end")
	}
	switch c := s[0]; c {
	case '\\', '"', '+', ',', ';', '<', '>', ' ', '#', '=':
		return string(c), 1, nil
	}
	if len(s) >= 2 {
		if v, err := strconv.ParseUint(s[:2], 16, 8); err == nil {
			return string([]byte{byte(v)}), 2, nil
		}
	}
	return "", 0, errors.New("backslash must be followed by a special character or two hex digits")
}

func attrType(name string) (string, error) {
	if name == "" {
		return "", errors.New("missing attribute type before '='")
	}
	if oid, ok := attrNames[strings.ToUpper(name)]; ok {
		return oid, nil
	}
	if strings.HasPrefix(strings.ToUpper(name), "OID.") {
		name = name[4:]
	}
	parts := strings.Split(name, ".")
	if len(parts) < 2 {
		return "", fmt.Errorf("unknown attribute type %q; use CN, O, OU, C, L, ST, STREET, DC, UID, SERIALNUMBER, POSTALCODE, EMAILADDRESS or a dotted OID", name)
	}
	for _, p := range parts {
		if p == "" || len(p) > 9 || (len(p) > 1 && p[0] == '0') || strings.Trim(p, "0123456789") != "" {
			return "", fmt.Errorf("attribute type %q is not a dotted OID", name)
		}
	}
	return name, nil
}

// normalise makes values compare the way RFC 4517 caseIgnoreMatch does for
// the usual string attributes: case folded, inner runs of spaces collapsed,
// and no leading or trailing spaces.
func normalise(v string) string {
	return strings.ToLower(strings.Join(strings.Fields(v), " "))
}

func sortRDN(rdn []Attr) {
	slices.SortFunc(rdn, func(a, b Attr) int {
		if c := strings.Compare(a.Type, b.Type); c != 0 {
			return c
		}
		return strings.Compare(a.Value, b.Value)
	})
}

// Equal reports whether two DNs name the same subject.
func (d DN) Equal(o DN) bool {
	return slices.EqualFunc(d, o, func(a, b []Attr) bool { return slices.Equal(a, b) })
}

// String writes d in RFC 4514 form (normalised values, OIDs for types),
// which ParseDN reads back to an equal DN.
func (d DN) String() string {
	var b strings.Builder
	for i := len(d) - 1; i >= 0; i-- {
		if i != len(d)-1 {
			b.WriteByte(',')
		}
		for j, a := range d[i] {
			if j > 0 {
				b.WriteByte('+')
			}
			b.WriteString(a.Type)
			b.WriteByte('=')
			for k := 0; k < len(a.Value); k++ {
				c := a.Value[k]
				switch {
				case strings.IndexByte("\\\"+,;<>=#", c) >= 0 || (c == ' ' && (k == 0 || k == len(a.Value)-1)):
					b.WriteByte('\\')
					b.WriteByte(c)
				case c < 0x20 || c == 0x7f:
					fmt.Fprintf(&b, "\\%02x", c)
				default:
					b.WriteByte(c)
				}
			}
		}
	}
	return b.String()
}

// SubjectDN returns the subject of a certificate (its raw DER subject) as
// a DN. Attribute values that are not strings make it unmatchable: ok is
// false.
func SubjectDN(rawSubject []byte) (DN, bool) {
	var seq pkix.RDNSequence
	rest, err := asn1.Unmarshal(rawSubject, &seq)
	if err != nil || len(rest) != 0 {
		return nil, false
	}
	d := make(DN, 0, len(seq))
	for _, set := range seq {
		rdn := make([]Attr, 0, len(set))
		for _, atv := range set {
			s, ok := atv.Value.(string)
			if !ok {
				return nil, false
			}
			rdn = append(rdn, Attr{Type: atv.Type.String(), Value: normalise(s)})
		}
		sortRDN(rdn)
		d = append(d, rdn)
	}
	return d, true
}
