package proxy

import (
	"errors"
	"fmt"
	"strings"
)

// maxParams bounds the parameters of one pattern so that matching can keep
// their values in a fixed array on the stack.
const maxParams = 16

// kind orders patterns by specificity: an exact pattern beats one with
// parameters, which beats a prefix.
type kind uint8

const (
	kindExact  kind = iota // only literal segments: "/v1/orders"
	kindParams             // at least one {param}, no wildcard: "/v1/orders/{id}"
	kindPrefix             // ends in "/*": "/v1/*"
)

func (k kind) String() string {
	switch k {
	case kindExact:
		return "exact"
	case kindParams:
		return "parameters"
	default:
		return "prefix"
	}
}

// segment is one path segment of a pattern: a literal or a parameter.
type segment struct {
	param bool
	text  string // the literal, or the parameter's name without braces
}

// pattern is a parsed route path. Patterns are matched against the decoded
// request path, segment by segment, so a pattern never needs escaping.
type pattern struct {
	segs     []segment
	wildcard bool // ends in "/*": matches its base and everything below
	names    []string
}

func (p *pattern) kind() kind {
	switch {
	case p.wildcard:
		return kindPrefix
	case len(p.names) > 0:
		return kindParams
	default:
		return kindExact
	}
}

// String returns the pattern in the syntax parsePattern accepts. Because
// parsePattern refuses every non-canonical spelling, it returns exactly the
// string that was parsed.
func (p *pattern) String() string {
	var b strings.Builder
	for _, s := range p.segs {
		b.WriteByte('/')
		if s.param {
			b.WriteByte('{')
			b.WriteString(s.text)
			b.WriteByte('}')
		} else {
			b.WriteString(s.text)
		}
	}
	if p.wildcard {
		b.WriteString("/*")
	}
	if b.Len() == 0 {
		return "/"
	}
	return b.String()
}

// parsePattern parses a route path: exact ("/x"), prefix ("/x/*", which
// matches "/x" and everything below it) or with parameters ("/x/{id}/y", each
// a whole segment). The rules are those of the config file; they are checked
// again here because a Table may be compiled from APIs that came from the
// admin API rather than the file.
//
// Segments that a request could never have are refused rather than accepted
// as dead routes: empty segments other than a trailing slash, "." and ".."
// (also before a ";" parameter, which some servers ignore), backslashes and
// control characters. See checkPath for the request side.
func parsePattern(s string) (*pattern, error) {
	if !strings.HasPrefix(s, "/") {
		return nil, errors.New("must start with /")
	}
	if strings.ContainsAny(s, "?#") {
		return nil, errors.New("must not contain ? or # (routes match the path only)")
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c <= ' ' || c == 0x7f || c == '\\' {
			return nil, errors.New("must not contain spaces, control characters or backslashes")
		}
	}
	p := &pattern{}
	rest := s[1:]
	for {
		seg, tail, more := strings.Cut(rest, "/")
		last := !more
		switch {
		case seg == "*":
			if !last {
				return nil, errors.New("may use * only as its whole last segment, as in /v1/*")
			}
			p.wildcard = true
		case strings.Contains(seg, "*"):
			return nil, errors.New("may use * only as its whole last segment, as in /v1/*")
		case seg == "" && !last:
			return nil, errors.New("has an empty segment (//)")
		case isDotSegment(seg):
			return nil, errors.New("must not contain . or .. segments")
		case strings.ContainsAny(seg, "{}"):
			name, ok := paramName(seg)
			if !ok {
				return nil, fmt.Errorf("has the segment %q; a parameter is a whole segment {name}, name made of letters, digits and _", seg)
			}
			for _, n := range p.names {
				if n == name {
					return nil, fmt.Errorf("uses the parameter {%s} twice", name)
				}
			}
			if len(p.names) == maxParams {
				return nil, fmt.Errorf("has more than %d parameters", maxParams)
			}
			p.names = append(p.names, name)
			p.segs = append(p.segs, segment{param: true, text: name})
		default:
			p.segs = append(p.segs, segment{text: seg})
		}
		if last {
			return p, nil
		}
		rest = tail
	}
}

// paramName returns name for a segment "{name}", name matching
// [A-Za-z_][A-Za-z0-9_]*.
func paramName(seg string) (string, bool) {
	if len(seg) < 3 || seg[0] != '{' || seg[len(seg)-1] != '}' {
		return "", false
	}
	name := seg[1 : len(seg)-1]
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case c == '_', 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z':
		case '0' <= c && c <= '9' && i > 0:
		default:
			return "", false
		}
	}
	return name, true
}

// isDotSegment reports whether seg is "." or "..", also when followed by a
// ";" path parameter: Tomcat and others read "..;x" as "..", which is the
// classic way to slip a traversal past a proxy that does not.
func isDotSegment(seg string) bool {
	if i := strings.IndexByte(seg, ';'); i >= 0 {
		seg = seg[:i]
	}
	return seg == "." || seg == ".."
}
