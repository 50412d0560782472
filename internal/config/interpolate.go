package config

import (
	"fmt"
	"strings"

	"go.yaml.in/yaml/v3"
)

// interpolate expands a string scalar's ${VAR} references. It runs on
// values after YAML parsing, never on the raw text, so a variable's value is
// always one string: it cannot add keys or change the file's structure.
func (d *decoder) interpolate(n *yaml.Node, path string) (string, bool) {
	// A secret's literal text must not end up in a message.
	redact := strings.HasSuffix(path, ".secret") || strings.HasSuffix(path, ".secret_sha256") || strings.HasSuffix(path, ".static_value")
	s, errs := expand(n.Value, d.env, redact)
	for _, e := range errs {
		d.reportAt(n, path, "%s", e)
	}
	return s, len(errs) == 0
}

// expand replaces ${NAME} with the variable's value and ${NAME:-default}
// with its value, or default when it is unset or empty; $$ is a literal $.
// Values and defaults are used as they are, not expanded again. A $ before
// anything else stays, except before a name ($NAME), which is reported so
// that a shell habit does not silently become literal text. With redact, a
// message quotes nothing of s but variable names from well-formed references.
func expand(s string, lookup func(string) (string, bool), redact bool) (string, []string) {
	if !strings.Contains(s, "$") {
		return s, nil
	}
	var b strings.Builder
	var errs []string
	for i := 0; i < len(s); {
		c := s[i]
		if c != '$' || i+1 == len(s) {
			b.WriteByte(c)
			i++
			continue
		}
		switch next := s[i+1]; {
		case next == '$':
			b.WriteByte('$')
			i += 2
		case next == '{':
			end := strings.IndexByte(s[i+2:], '}')
			if end < 0 {
				errs = append(errs, fmt.Sprintf("%s has an unclosed ${; write ${NAME} for a variable or $$ for a literal $", quoteOr(s[i:], redact)))
				return "", errs
			}
			ref := s[i+2 : i+2+end]
			i += 2 + end + 1
			name, def, hasDef := strings.Cut(ref, ":-")
			if !validVarName(name) {
				errs = append(errs, fmt.Sprintf("%s is not a variable reference; expected ${NAME} or ${NAME:-default}, NAME made of letters, digits and _ and not starting with a digit", quoteOr("${"+ref+"}", redact)))
				continue
			}
			v, set := lookup(name)
			switch {
			case hasDef && v == "":
				b.WriteString(def)
			case set:
				b.WriteString(v)
			default:
				errs = append(errs, fmt.Sprintf("environment variable %s is not set; set it, or give a default with ${%s:-default}", name, name))
			}
		case isVarStart(next):
			j := i + 1
			for j < len(s) && (isVarStart(s[j]) || s[j] >= '0' && s[j] <= '9') {
				j++
			}
			if redact {
				errs = append(errs, "has a $ followed by a name, which is not interpolated; write ${NAME} for a variable or $$ for a literal $")
			} else {
				errs = append(errs, fmt.Sprintf("%s is not interpolated; write ${%s} for the variable or $$ for a literal $", s[i:j], s[i+1:j]))
			}
			i = j
		default:
			b.WriteByte(c)
			i++
		}
	}
	if len(errs) > 0 {
		return "", errs
	}
	return b.String(), nil
}

// quoteOr quotes s, or says "the value" when s must not be shown.
func quoteOr(s string, redact bool) string {
	if redact {
		return "the value"
	}
	return fmt.Sprintf("%q", s)
}

func isVarStart(c byte) bool {
	return c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}

func validVarName(s string) bool {
	if s == "" || !isVarStart(s[0]) {
		return false
	}
	for i := 1; i < len(s); i++ {
		if c := s[i]; !isVarStart(c) && (c < '0' || c > '9') {
			return false
		}
	}
	return true
}
