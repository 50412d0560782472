package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// decoder walks a YAML node tree, collecting every problem it meets and
// carrying on with a best-effort value so that later checks still run.
type decoder struct {
	file     string
	dir      string // of the file, for relative paths
	env      func(string) (string, bool)
	readFile func(string) ([]byte, error)
	problems Problems
	// tls is the decoded listen.tls, which client settings depend on; nil
	// until it is decoded.
	tls *TLSConfig
	// teamNames are the teams the file defines, for clients' team keys.
	teamNames map[string]bool
}

func (d *decoder) report(line int, key, format string, args ...any) {
	d.problems = append(d.problems, Problem{File: d.file, Line: line, Key: key, Message: fmt.Sprintf(format, args...)})
}

func (d *decoder) reportAt(n *yaml.Node, key, format string, args ...any) {
	line := 0
	if n != nil {
		line = n.Line
	}
	d.report(line, key, format, args...)
}

var yamlErrorLine = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// document parses data into its single document's root node. A nil root with
// ok true is an empty file.
func (d *decoder) document(data []byte) (root *yaml.Node, ok bool) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); errors.Is(err, io.EOF) {
		return nil, true
	} else if err != nil {
		line, msg := splitYAMLError(err)
		if l := errorLine(data, line, msg); l > 0 {
			line = l
		}
		d.report(line, "", "invalid YAML: %s", msg)
		return nil, false
	}
	var next yaml.Node
	if err := dec.Decode(&next); err == nil {
		d.report(next.Line, "", "the file has more than one YAML document; expected exactly one (remove the extra ---)")
		return nil, false
	} else if !errors.Is(err, io.EOF) {
		line, msg := splitYAMLError(err)
		if l := errorLine(data, line, msg); l > 0 {
			line = l
		}
		d.report(line, "", "invalid YAML after the first document: %s", msg)
		return nil, false
	}
	if len(doc.Content) == 0 {
		return nil, true
	}
	return doc.Content[0], true
}

func splitYAMLError(err error) (line int, msg string) {
	if m := yamlErrorLine.FindStringSubmatch(err.Error()); m != nil {
		line, _ = strconv.Atoi(m[1])
		return line, m[2]
	}
	return 0, strings.TrimPrefix(err.Error(), "yaml: ")
}

// errorLine finds the line of a syntax error. The YAML parser reports where
// the enclosing block began (sometimes counting from 0), not where parsing
// failed. Once the faulty line is in, every longer prefix of the file fails
// with the same message, while shorter ones parse or fail differently (at
// an unclosed bracket or quote): a binary search over prefixes, in whole
// lines, finds the first that fails like the file. The block's start bounds
// the search from below. 0 when the search finds nothing.
func errorLine(data []byte, reported int, msg string) int {
	var ends []int // ends[i] is the length of the prefix holding lines 1..i+1
	for i, b := range data {
		if b == '\n' {
			ends = append(ends, i+1)
		}
	}
	if len(ends) == 0 || ends[len(ends)-1] != len(data) {
		ends = append(ends, len(data))
	}
	failsAlike := func(i int) bool {
		var n yaml.Node
		err := yaml.Unmarshal(data[:ends[i]], &n)
		if err == nil {
			return false
		}
		_, m := splitYAMLError(err)
		return m == msg
	}
	lo := max(reported-2, 0)
	if lo >= len(ends) {
		return 0
	}
	i := lo + sort.Search(len(ends)-lo, func(j int) bool { return failsAlike(lo + j) })
	if i == len(ends) {
		return 0
	}
	return i + 1
}

// resolve follows aliases (*name) to the node they stand for. The bound
// stops a malformed alias chain; a node still unresolved is reported as the
// wrong kind by the caller.
func resolve(n *yaml.Node) *yaml.Node {
	for i := 0; n != nil && n.Kind == yaml.AliasNode && i < 32; i++ {
		n = n.Alias
	}
	return n
}

func isNull(n *yaml.Node) bool {
	return n == nil || (n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null")
}

// kindName describes a node for "got ..." in messages.
func kindName(n *yaml.Node) string {
	switch {
	case n == nil:
		return "nothing"
	case n.Kind == yaml.MappingNode:
		return "a mapping"
	case n.Kind == yaml.SequenceNode:
		return "a list"
	case n.Kind == yaml.ScalarNode:
		switch n.ShortTag() {
		case "!!null":
			return "null"
		case "!!int", "!!float":
			return "a number"
		case "!!bool":
			return "a boolean"
		case "!!str":
			return "a string"
		}
		return "a value tagged " + n.Tag
	}
	return "an alias"
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func index(path string, i int) string {
	return fmt.Sprintf("%s[%d]", path, i)
}

// object is a checked YAML mapping.
type object struct {
	line   int // of the mapping, or of its parent when absent
	values map[string]*yaml.Node
}

// get returns the value node for key, or nil when absent.
func (o object) get(key string) *yaml.Node { return o.values[key] }

// has reports whether key is present with a non-null value.
func (o object) has(key string) bool { return !isNull(resolve(o.values[key])) }

// lineOf is the line of key's value, or of the mapping when absent.
func (o object) lineOf(key string) int {
	if n := resolve(o.values[key]); n != nil {
		return n.Line
	}
	return o.line
}

// object checks that n is a mapping with only known keys, each once. Absent
// or null is an empty mapping; parentLine places problems about it then.
// ok is false when n is not a mapping (already reported).
func (d *decoder) object(n *yaml.Node, path string, parentLine int, known []string) (o object, ok bool) {
	n = resolve(n)
	o = object{line: parentLine, values: map[string]*yaml.Node{}}
	if isNull(n) {
		return o, true
	}
	o.line = n.Line
	if n.Kind != yaml.MappingNode {
		d.reportAt(n, path, "must be a mapping with keys %s; got %s", strings.Join(known, ", "), kindName(n))
		return o, false
	}
	keyLines := map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := resolve(n.Content[i]), n.Content[i+1]
		if k == nil || k.Kind != yaml.ScalarNode {
			d.reportAt(n.Content[i], path, "has a key that is %s; keys must be plain names such as %s", kindName(k), known[0])
			continue
		}
		name := k.Value
		switch {
		case k.ShortTag() == "!!merge":
			d.reportAt(k, join(path, name), "merge keys are not supported; write the keys out (anchors and aliases of whole values do work)")
		case !slices.Contains(known, name):
			if s := suggest(name, known); s != "" {
				d.reportAt(k, join(path, name), "unknown key; did you mean %q?", s)
			} else {
				d.reportAt(k, join(path, name), "unknown key; expected one of %s", strings.Join(known, ", "))
			}
		case keyLines[name] != 0:
			d.reportAt(k, join(path, name), "is set twice (first on line %d); keep one", keyLines[name])
		default:
			keyLines[name] = k.Line
			o.values[name] = v
		}
	}
	return o, true
}

// list checks that n is a list. Absent or null is an empty list.
func (d *decoder) list(n *yaml.Node, path, what string) ([]*yaml.Node, bool) {
	n = resolve(n)
	if isNull(n) {
		return nil, true
	}
	if n.Kind != yaml.SequenceNode {
		d.reportAt(n, path, "must be a list of %s; got %s", what, kindName(n))
		return nil, false
	}
	return n.Content, true
}

// str returns the interpolated text of a scalar. Absent or null is "".
// Numbers and booleans are taken as written, so `id: 1234` works. ok is
// false when a problem was reported.
func (d *decoder) str(n *yaml.Node, path string) (string, bool) {
	n = resolve(n)
	if isNull(n) {
		return "", true
	}
	if n.Kind != yaml.ScalarNode {
		d.reportAt(n, path, "must be a string; got %s", kindName(n))
		return "", false
	}
	switch n.ShortTag() {
	case "!!str":
		return d.interpolate(n, path)
	case "!!int", "!!float", "!!bool", "!!timestamp":
		return n.Value, true
	}
	d.reportAt(n, path, "must be a plain string; the tag %s is not supported", n.Tag)
	return "", false
}

// item is one decoded entry of a string list, with where it came from.
type item struct {
	val  string
	line int
	key  string
}

// strList returns the entries of a list of non-empty strings; entries with
// problems are reported and left out.
func (d *decoder) strList(n *yaml.Node, path, what string) ([]item, bool) {
	nodes, ok := d.list(n, path, what)
	var out []item
	for i, it := range nodes {
		key := index(path, i)
		s, good := d.str(it, key)
		if !good {
			ok = false
			continue
		}
		if s == "" {
			d.reportAt(resolve(it), key, "is empty; expected %s", what)
			ok = false
			continue
		}
		out = append(out, item{val: s, line: resolve(it).Line, key: key})
	}
	return out, ok
}

// unique reports entries listed more than once.
func (d *decoder) unique(items []item) {
	first := map[string]string{}
	for _, it := range items {
		if k, dup := first[it.val]; dup {
			d.report(it.line, it.key, "%q is listed twice (also as %s); list each once", it.val, k)
			continue
		}
		first[it.val] = it.key
	}
}

// values returns the strings of items, nil when there are none.
func values(items []item) []string {
	if len(items) == 0 {
		return nil
	}
	out := make([]string, len(items))
	for i, it := range items {
		out[i] = it.val
	}
	return out
}

// enum returns a value that must be one of options. Absent is "".
func (d *decoder) enum(n *yaml.Node, path string, options []string) (string, bool) {
	s, ok := d.str(n, path)
	if !ok || s == "" || slices.Contains(options, s) {
		return s, ok
	}
	if sug := suggest(s, options); sug != "" {
		d.reportAt(resolve(n), path, "%q is not valid; did you mean %q? (one of %s)", s, sug, strings.Join(options, ", "))
	} else {
		d.reportAt(resolve(n), path, "%q is not valid; expected one of %s", s, strings.Join(options, ", "))
	}
	return "", false
}

// duration returns a Go duration string within [lo, hi] (hi 0: no upper
// bound). set is false when absent or invalid.
func (d *decoder) duration(n *yaml.Node, path string, lo, hi time.Duration) (v time.Duration, set bool) {
	n = resolve(n)
	if isNull(n) {
		return 0, false
	}
	if n.Kind == yaml.ScalarNode && (n.ShortTag() == "!!int" || n.ShortTag() == "!!float") {
		d.reportAt(n, path, "%s has no unit; write a duration string such as \"15m\", \"1h30m\" or \"0s\"", n.Value)
		return 0, false
	}
	s, ok := d.str(n, path)
	if !ok {
		return 0, false
	}
	if s == "" {
		return 0, false
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		d.reportAt(n, path, "%q is not a duration; expected Go syntax such as \"15m\", \"1h30m\" or \"0s\"", s)
		return 0, false
	}
	if v < lo || (hi > 0 && v > hi) {
		if hi > 0 {
			d.reportAt(n, path, "%s is out of range; expected between %s and %s", fmtDuration(v), fmtDuration(lo), fmtDuration(hi))
		} else {
			d.reportAt(n, path, "%s is too short; expected at least %s", fmtDuration(v), fmtDuration(lo))
		}
		return 0, false
	}
	return v, true
}

// boolean returns a YAML boolean, true or false. set is false when absent
// or invalid. Quoted values and YAML 1.1 words (yes, no, on, off) are
// strings in YAML 1.2 and are refused rather than guessed at.
func (d *decoder) boolean(n *yaml.Node, path string) (v, set bool) {
	n = resolve(n)
	if isNull(n) {
		return false, false
	}
	if n.Kind != yaml.ScalarNode {
		d.reportAt(n, path, "must be true or false; got %s", kindName(n))
		return false, false
	}
	switch lower := strings.ToLower(n.Value); {
	case n.ShortTag() == "!!bool" && (lower == "true" || lower == "false"):
		return lower == "true", true
	case n.ShortTag() == "!!str" && (lower == "true" || lower == "false"):
		d.reportAt(n, path, "%q is quoted, which makes it a string; write true or false without quotes", n.Value)
	case n.Style&yaml.TaggedStyle != 0 && n.ShortTag() != "!!bool" && n.ShortTag() != "!!str":
		d.reportAt(n, path, "must be true or false; the tag %s is not supported", n.Tag)
	default:
		if strings.Contains(n.Value, "${") {
			d.reportAt(n, path, "must be true or false; environment variables are expanded only in string values")
		} else {
			d.reportAt(n, path, "%q is not a boolean; expected true or false", n.Value)
		}
	}
	return false, false
}

// integer returns a whole number within [lo, hi]. set is false when absent
// or invalid. Numbers are YAML integers (1000, 1_000, 0x3e8), never quoted:
// a string where a number belongs is more likely a mistake than a choice.
func (d *decoder) integer(n *yaml.Node, path string, lo, hi int64) (v int64, set bool) {
	n = resolve(n)
	if isNull(n) {
		return 0, false
	}
	expected := fmt.Sprintf("a whole number between %d and %d", lo, hi)
	if hi == math.MaxInt64 {
		expected = fmt.Sprintf("a whole number of at least %d", lo)
	}
	if n.Kind != yaml.ScalarNode {
		d.reportAt(n, path, "must be %s; got %s", expected, kindName(n))
		return 0, false
	}
	switch n.ShortTag() {
	case "!!int":
		if err := n.Decode(&v); err != nil {
			d.reportAt(n, path, "%s is out of range; expected %s", n.Value, expected)
			return 0, false
		}
	case "!!float":
		if f, err := strconv.ParseFloat(strings.ReplaceAll(n.Value, "_", ""), 64); err == nil && f == math.Trunc(f) && (f > math.MaxInt64 || f < math.MinInt64) {
			d.reportAt(n, path, "%s is out of range; expected %s", n.Value, expected)
		} else {
			d.reportAt(n, path, "%s is not a whole number; expected %s, written in digits", n.Value, expected)
		}
		return 0, false
	case "!!str":
		if strings.Contains(n.Value, "${") {
			d.reportAt(n, path, "must be %s; environment variables are expanded only in string values", expected)
		} else {
			d.reportAt(n, path, "%q is a string; expected %s, without quotes", n.Value, expected)
		}
		return 0, false
	default:
		d.reportAt(n, path, "must be %s; got %s", expected, kindName(n))
		return 0, false
	}
	if v < lo || v > hi {
		d.reportAt(n, path, "%d is out of range; expected %s", v, expected)
		return 0, false
	}
	return v, true
}

// fmtDuration prints 24h rather than 24h0m0s.
func fmtDuration(v time.Duration) string {
	s := v.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// suggest returns the option closest to s if it is close enough to be a
// likely typo, or "".
func suggest(s string, options []string) string {
	best, bestDist := "", 3
	for _, o := range options {
		if strings.EqualFold(s, o) {
			return o
		}
		if dist := editDistance(s, o); dist < bestDist && dist*2 < len(o) {
			best, bestDist = o, dist
		}
	}
	return best
}

// editDistance is the optimal string alignment distance between a and b,
// in bytes: Levenshtein plus transposition of adjacent bytes, the commonest
// typo. Keys and option names are short ASCII, so the quadratic cost is
// nothing; long inputs are not worth comparing.
func editDistance(a, b string) int {
	if len(a) > 64 || len(b) > 64 {
		return 64
	}
	// d[i][j] is the distance between a[:i] and b[:j].
	d := make([][]int, len(a)+1)
	for i := range d {
		d[i] = make([]int, len(b)+1)
		d[i][0] = i
	}
	for j := range d[0] {
		d[0][j] = j
	}
	for i := 1; i <= len(a); i++ {
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			d[i][j] = min(d[i-1][j]+1, d[i][j-1]+1, d[i-1][j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				d[i][j] = min(d[i][j], d[i-2][j-2]+1)
			}
		}
	}
	return d[len(a)][len(b)]
}
