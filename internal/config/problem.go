package config

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
)

// Problem is one thing wrong with a configuration file.
type Problem struct {
	File string // the name given to Parse
	Line int    // 1-based; 0 when unknown
	// Key is the path of the offending key, such as "apis[1].audience"
	// (indices are 0-based). Empty for problems with the file as a whole.
	Key string
	// Message says what is wrong and what is expected. It never contains a
	// secret.
	Message string
}

func (p Problem) String() string {
	var b strings.Builder
	b.WriteString(p.File)
	if p.Line > 0 {
		fmt.Fprintf(&b, ":%d", p.Line)
	}
	b.WriteString(": ")
	if p.Key != "" {
		b.WriteString(p.Key)
		b.WriteString(": ")
	}
	b.WriteString(p.Message)
	return b.String()
}

// Problems is every problem found in a file. Parse returns it as its error.
type Problems []Problem

// Error lists every problem, one per line, as "<file>:<line>: <key>: <message>".
func (ps Problems) Error() string {
	if len(ps) == 0 {
		return "no problems"
	}
	lines := make([]string, len(ps))
	for i, p := range ps {
		lines[i] = p.String()
	}
	return strings.Join(lines, "\n")
}

// sorted orders problems by line, keeping the order they were found in
// within a line.
func (ps Problems) sorted() Problems {
	slices.SortStableFunc(ps, func(a, b Problem) int { return cmp.Compare(a.Line, b.Line) })
	return ps
}
