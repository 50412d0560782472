package audit

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/gatehouse/gatehouse"
)

// Problem is one break in the log, at the first Seq it affects.
type Problem struct {
	Seq    int64
	Reason string
}

func (p Problem) String() string { return fmt.Sprintf("seq %d: %s", p.Seq, p.Reason) }

// Report is the result of a verification.
type Report struct {
	Entries int64               // entries read
	Head    gatehouse.AuditHead // the last entry read
	// Checkpoints counts the checkpoints whose signature verified; Latest
	// is the highest Seq among them (0 if none).
	Checkpoints int
	Latest      int64
	LatestAt    time.Time
	// Unverifiable counts checkpoints signed by keys no longer published:
	// they neither prove nor disprove anything.
	Unverifiable int
	// Problems, ordered by Seq; empty when the log is intact. At most
	// maxProblems are kept.
	Problems []Problem
}

// OK reports whether no problem was found.
func (r *Report) OK() bool { return len(r.Problems) == 0 }

// FirstBad returns the lowest Seq with a problem, or 0 when no problem
// names an entry (none, or only forged or damaged checkpoints).
func (r *Report) FirstBad() int64 {
	for _, p := range r.Problems {
		if p.Seq > 0 {
			return p.Seq
		}
	}
	return 0
}

const maxProblems = 100

func (r *Report) add(seq int64, format string, args ...any) {
	if len(r.Problems) < maxProblems {
		r.Problems = append(r.Problems, Problem{seq, fmt.Sprintf(format, args...)})
	}
}

// Chain checks entries fed in ascending Seq order, one at a time, against
// each other and against the signed checkpoints given to NewChain.
type Chain struct {
	report *Report
	next   int64  // the Seq expected next
	prev   []byte // the previous entry's stored hash
	marks  map[int64][]byte
}

// NewChain verifies the checkpoints (JWS strings; duplicates are fine) with
// keys and returns a chain ready for the entries. A checkpoint with a bad
// signature or payload is a problem in itself; one signed by an unknown key
// is counted as unverifiable.
func NewChain(checkpoints []string, keys Keys) *Chain {
	c := &Chain{report: &Report{}, next: 1, prev: Genesis, marks: map[int64][]byte{}}
	seen := map[string]bool{}
	for _, jws := range checkpoints {
		if seen[jws] {
			continue
		}
		seen[jws] = true
		seq, hash, at, err := VerifyCheckpoint(jws, keys)
		switch {
		case errors.Is(err, ErrUnknownKey):
			c.report.Unverifiable++
		case err != nil:
			// Not signed by us: forged or damaged. Seq 0, since what it
			// names cannot be trusted.
			c.report.add(0, "a checkpoint does not verify: %v", err)
		default:
			c.report.Checkpoints++
			if old, ok := c.marks[seq]; ok && !bytes.Equal(old, hash) {
				c.report.add(seq, "two signed checkpoints name different hashes for this entry")
			}
			c.marks[seq] = hash
			if seq > c.report.Latest || (seq == c.report.Latest && at.After(c.report.LatestAt)) {
				c.report.Latest, c.report.LatestAt = seq, at
			}
		}
	}
	return c
}

// Add checks the next entry.
func (c *Chain) Add(e *gatehouse.AuditEntry) {
	r := c.report
	r.Entries++
	switch {
	case e.Seq < c.next:
		r.add(e.Seq, "entry out of order or repeated (expected seq %d)", c.next)
		return
	case e.Seq > c.next:
		if e.Seq == c.next+1 {
			r.add(c.next, "entry missing (deleted)")
		} else {
			r.add(c.next, "entries %d to %d missing (deleted)", c.next, e.Seq-1)
		}
		for s := c.next; s < e.Seq; s++ {
			if _, ok := c.marks[s]; ok {
				r.add(s, "a signed checkpoint names this entry, which is missing")
			}
		}
	case !bytes.Equal(e.PrevHash, c.prev):
		r.add(e.Seq, "prev_hash does not match the hash of entry %d: this entry or the one before was altered", e.Seq-1)
	}
	if !bytes.Equal(Hash(e), e.Hash) {
		r.add(e.Seq, "hash does not match the entry's content: the entry was altered")
	}
	if want, ok := c.marks[e.Seq]; ok && !bytes.Equal(want, e.Hash) {
		r.add(e.Seq, "the signed checkpoint names a different hash for this entry: it was altered")
	}
	c.next, c.prev = e.Seq+1, e.Hash
	r.Head = gatehouse.AuditHead{Seq: e.Seq, Hash: e.Hash}
}

// Finish checks that no signed checkpoint names an entry after the last one
// (the newest entries cut off) and returns the report, problems by Seq.
func (c *Chain) Finish() *Report {
	r := c.report
	if r.Latest >= c.next {
		r.add(c.next, "entries %d to at least %d are gone: a checkpoint signed at %s names entry %d (the newest entries were cut off)",
			c.next, r.Latest, r.LatestAt.Format(time.RFC3339), r.Latest)
	}
	slices.SortStableFunc(r.Problems, func(a, b Problem) int {
		switch {
		case a.Seq < b.Seq:
			return -1
		case a.Seq > b.Seq:
			return 1
		}
		return 0
	})
	return r
}

// Source reads entries (the store).
type Source interface {
	FindAuditEntries(ctx context.Context, f gatehouse.AuditFilter) ([]*gatehouse.AuditEntry, error)
}

// pageSize is how many entries Verify reads at a time.
const pageSize = 1000

// Verify recomputes the whole chain from src, page by page, and checks it
// against the checkpoints. The error is for failures to read; what is wrong
// with the log is in the report.
func Verify(ctx context.Context, src Source, checkpoints []string, keys Keys) (*Report, error) {
	c := NewChain(checkpoints, keys)
	var after int64
	for {
		page, err := src.FindAuditEntries(ctx, gatehouse.AuditFilter{AfterSeq: after, Limit: pageSize})
		if err != nil {
			return nil, fmt.Errorf("audit: read entries after %d: %w", after, err)
		}
		for _, e := range page {
			c.Add(e)
			after = e.Seq
		}
		if len(page) < pageSize {
			return c.Finish(), nil
		}
	}
}

// VerifyNDJSON checks an export read from r as Verify checks the store: a
// line that does not parse is a problem at the Seq expected there.
func VerifyNDJSON(r io.Reader, checkpoints []string, keys Keys) (*Report, error) {
	c := NewChain(checkpoints, keys)
	br := bufio.NewReaderSize(r, MaxLineLen+1)
	for {
		line, err := br.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			c.report.add(c.next, "line longer than %d bytes", br.Size())
			return c.Finish(), nil
		}
		if len(bytes.TrimSpace(line)) > 0 {
			e, perr := ParseLine(bytes.TrimSuffix(line, []byte("\n")))
			if perr != nil {
				c.report.add(c.next, "line does not parse: %v", perr)
				return c.Finish(), nil
			}
			c.Add(e)
		}
		if err == io.EOF {
			return c.Finish(), nil
		} else if err != nil {
			return nil, fmt.Errorf("audit: read export: %w", err)
		}
	}
}
