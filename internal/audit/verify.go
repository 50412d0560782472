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
	"github.com/gatehouse/gatehouse/internal/jose"
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
	// is the highest Seq among them (0 if none). Every checkpoint, verified
	// or not, is also checked against the entries.
	Checkpoints int
	Latest      int64
	LatestAt    time.Time
	// Unverifiable counts checkpoints whose key is neither in the store nor
	// recorded in the checkpoint file (lines written before keys were
	// recorded); the entries they name are still checked.
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
// each other and against the checkpoints given to NewChain.
type Chain struct {
	report *Report
	next   int64  // the Seq expected next
	prev   []byte // the previous entry's stored hash
	marks  map[int64][]byte
	// newest is the highest Seq a checkpoint names (verified or not), at
	// the time it was signed; newestOK is whether a checkpoint naming it
	// verified.
	newest   int64
	newestAt time.Time
	newestOK bool
}

// Checkpoints are the signed checkpoints a chain is checked against: those
// of the database and those of the checkpoint file (duplicates are fine).
type Checkpoints struct {
	Stored []string
	File   []FileCheckpoint
}

// NewChain checks the checkpoints' signatures and returns a chain ready for
// the entries. A file checkpoint is checked with the key recorded next to it
// (which must match the store's key of that kid, if any), else with the
// store's key; a stored one with the store's key, else with the key the file
// records for its kid. A checkpoint with a bad signature or payload is a
// problem in itself, and so is a stored checkpoint whose key is known
// neither to the store nor to a non-empty checkpoint file (a stored row
// always has its line in the file). One that cannot be checked for want of a
// key (a file line written before keys were recorded) is counted as
// unverifiable. Every checkpoint that is not forged, checked or not, names
// an entry the chain must have with that hash.
func NewChain(cps Checkpoints, keys Keys) *Chain {
	c := &Chain{report: &Report{}, next: 1, prev: Genesis, marks: map[int64][]byte{}}
	type item struct {
		jws    string
		pinned *jose.PublicKey
		inFile bool
	}
	var items []item
	seen := map[string]bool{}
	pinned := map[string]jose.PublicKey{}
	for _, f := range cps.File {
		if f.Key != nil {
			if old, ok := pinned[f.Key.ID]; ok && !sameKey(old, *f.Key) {
				c.report.add(0, "the checkpoint file records two different keys for kid %q", f.Key.ID)
			}
			pinned[f.Key.ID] = *f.Key
		}
		if !seen[f.JWS] {
			seen[f.JWS] = true
			items = append(items, item{f.JWS, f.Key, true})
		}
	}
	for _, jws := range cps.Stored {
		if !seen[jws] {
			seen[jws] = true
			items = append(items, item{jws, nil, false})
		}
	}
	for _, it := range items {
		j, seq, hash, at, err := parseCheckpoint(it.jws)
		if err != nil {
			// Damaged or not ours: seq 0, since what it names cannot be
			// trusted.
			c.report.add(0, "a checkpoint does not verify: %v", err)
			continue
		}
		kid := j.Header.Kid
		key, inStore := keys.PublicKey(kid)
		have := inStore
		switch {
		case it.pinned != nil && it.pinned.ID != kid:
			c.report.add(0, "a checkpoint file line records key %q for a checkpoint signed by %q", it.pinned.ID, kid)
			continue
		case it.pinned != nil && inStore && !sameKey(key, *it.pinned):
			c.report.add(0, "the checkpoint file records a key %q that differs from the store's key of that id", kid)
			continue
		case it.pinned != nil:
			key, have = *it.pinned, true
		case !inStore:
			key, have = pinned[kid]
		}
		verified := false
		switch {
		case have:
			if err := j.Verify(key); err != nil {
				c.report.add(0, "a checkpoint naming seq %d does not verify: %v", seq, err)
				continue
			}
			verified = true
			c.report.Checkpoints++
			if seq > c.report.Latest || (seq == c.report.Latest && at.After(c.report.LatestAt)) {
				c.report.Latest, c.report.LatestAt = seq, at
			}
		case !it.inFile && len(cps.File) > 0:
			c.report.add(0, "a checkpoint in the database naming seq %d is signed by key %q, which is neither in the store nor recorded in the checkpoint file", seq, kid)
			continue
		default:
			c.report.Unverifiable++
		}
		if old, ok := c.marks[seq]; ok && !bytes.Equal(old, hash) {
			c.report.add(seq, "two checkpoints name different hashes for this entry")
		}
		c.marks[seq] = hash
		switch {
		case seq > c.newest:
			c.newest, c.newestAt, c.newestOK = seq, at, verified
		case seq == c.newest:
			c.newestOK = c.newestOK || verified
		}
	}
	return c
}

// sameKey reports whether a and b are the same public key.
func sameKey(a, b jose.PublicKey) bool {
	ta, err1 := jose.Thumbprint(a)
	tb, err2 := jose.Thumbprint(b)
	return err1 == nil && err2 == nil && ta == tb && a.Alg == b.Alg
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
				r.add(s, "a checkpoint names this entry, which is missing")
			}
		}
	case !bytes.Equal(e.PrevHash, c.prev):
		r.add(e.Seq, "prev_hash does not match the hash of entry %d: this entry or the one before was altered", e.Seq-1)
	}
	if !bytes.Equal(Hash(e), e.Hash) {
		r.add(e.Seq, "hash does not match the entry's content: the entry was altered")
	}
	if want, ok := c.marks[e.Seq]; ok && !bytes.Equal(want, e.Hash) {
		r.add(e.Seq, "a checkpoint names a different hash for this entry: it was altered")
	}
	c.next, c.prev = e.Seq+1, e.Hash
	r.Head = gatehouse.AuditHead{Seq: e.Seq, Hash: e.Hash}
}

// Finish checks that no checkpoint names an entry after the last one (the
// newest entries cut off) and that the newest checkpoint verified, and
// returns the report, problems by Seq.
func (c *Chain) Finish() *Report {
	r := c.report
	if c.newest >= c.next {
		r.add(c.next, "entries %d to at least %d are gone: a checkpoint signed at %s names entry %d (the newest entries were cut off)",
			c.next, c.newest, c.newestAt.Format(time.RFC3339), c.newest)
	}
	if c.newest > 0 && !c.newestOK {
		r.add(0, "the newest checkpoint (naming seq %d) cannot be verified: its signing key is neither in the store nor recorded in the checkpoint file", c.newest)
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
func Verify(ctx context.Context, src Source, checkpoints Checkpoints, keys Keys) (*Report, error) {
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
func VerifyNDJSON(r io.Reader, checkpoints Checkpoints, keys Keys) (*Report, error) {
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
