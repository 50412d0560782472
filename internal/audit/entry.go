// Package audit keeps Gatehouse's tamper-evident audit log: entries chained
// by SHA-256, periodically signed checkpoints of the chain's head, and the
// verification that finds an edited, deleted or cut-off entry. It holds the
// rules only; stores keep the rows (see docs/AUDIT.md).
package audit

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/internal/jose"
)

// Limits on an entry's fields, so that the log stays small and a caller
// cannot turn it into a data dump.
const (
	MaxFieldLen   = 512  // actor, action, target type and id
	MaxOutcomeLen = 32   // outcome
	MaxDetailsLen = 4096 // the details JSON object, encoded
)

// hashDomain starts every encoded entry, so that a hash of an entry can
// never be mistaken for the hash of anything else Gatehouse hashes.
const hashDomain = "gatehouse-audit-v1\n"

// Genesis is the PrevHash of the first entry: SHA-256 of the ASCII string
// "gatehouse audit genesis v1".
var Genesis = func() []byte { h := sha256.Sum256([]byte("gatehouse audit genesis v1")); return h[:] }()

// Record is what a caller asks to log; Append adds the position, time and
// hashes.
type Record struct {
	Actor      string
	Action     string
	TargetType string
	TargetID   string
	Outcome    string
	// Details are encoded as one JSON object with sorted keys. Never put a
	// token or a secret here.
	Details map[string]string
}

// Encode returns the canonical encoding of e that its Hash covers:
//
//	"gatehouse-audit-v1\n"
//	seq          8 bytes, big-endian unsigned
//	time         8 bytes, big-endian signed unix nanoseconds (UTC)
//	actor, action, target_type, target_id, outcome, details:
//	             each a 4-byte big-endian length, then that many bytes
//	prev_hash    32 bytes
//
// Every variable field is length-prefixed, so no two different entries have
// the same encoding.
func Encode(e *gatehouse.AuditEntry) []byte {
	n := len(hashDomain) + 16 + 6*4 + len(e.Actor) + len(e.Action) + len(e.TargetType) +
		len(e.TargetID) + len(e.Outcome) + len(e.Details) + len(e.PrevHash)
	b := make([]byte, 0, n)
	b = append(b, hashDomain...)
	b = binary.BigEndian.AppendUint64(b, uint64(e.Seq))
	b = binary.BigEndian.AppendUint64(b, uint64(e.Time.UnixNano()))
	for _, f := range [][]byte{[]byte(e.Actor), []byte(e.Action), []byte(e.TargetType), []byte(e.TargetID), []byte(e.Outcome), e.Details} {
		b = binary.BigEndian.AppendUint32(b, uint32(len(f)))
		b = append(b, f...)
	}
	return append(b, e.PrevHash...)
}

// Hash returns SHA-256 of Encode(e).
func Hash(e *gatehouse.AuditEntry) []byte {
	h := sha256.Sum256(Encode(e))
	return h[:]
}

// Seal makes the entry that follows head: r's fields, Seq head.Seq+1, time
// at (UTC, nanoseconds kept), PrevHash head.Hash (Genesis for an empty log)
// and its Hash. CodeInvalid when r breaks the limits.
func Seal(head gatehouse.AuditHead, r Record, at time.Time) (*gatehouse.AuditEntry, error) {
	if err := r.check(); err != nil {
		return nil, err
	}
	details, err := json.Marshal(r.Details)
	if err != nil {
		return nil, fmt.Errorf("audit: encode details: %w", err)
	}
	if r.Details == nil {
		details = []byte("{}")
	}
	if len(details) > MaxDetailsLen {
		return nil, gatehouse.Errorf(gatehouse.CodeInvalid, "audit details are %d bytes encoded, more than %d", len(details), MaxDetailsLen)
	}
	prev := head.Hash
	if head.Seq == 0 {
		prev = Genesis
	} else if len(prev) != sha256.Size {
		return nil, fmt.Errorf("audit: head %d has a %d-byte hash", head.Seq, len(prev))
	}
	if at.IsZero() {
		return nil, gatehouse.Errorf(gatehouse.CodeInvalid, "audit entry time required")
	}
	e := &gatehouse.AuditEntry{
		Seq: head.Seq + 1, Time: at.UTC(), Actor: r.Actor, Action: r.Action,
		TargetType: r.TargetType, TargetID: r.TargetID, Outcome: r.Outcome,
		Details: details, PrevHash: bytes.Clone(prev),
	}
	e.Hash = Hash(e)
	return e, nil
}

func (r Record) check() error {
	for _, f := range []struct {
		name, v string
		max     int
	}{
		{"actor", r.Actor, MaxFieldLen}, {"action", r.Action, MaxFieldLen},
		{"target type", r.TargetType, MaxFieldLen}, {"target id", r.TargetID, MaxFieldLen},
		{"outcome", r.Outcome, MaxOutcomeLen},
	} {
		if len(f.v) > f.max {
			return gatehouse.Errorf(gatehouse.CodeInvalid, "audit %s is %d bytes, more than %d", f.name, len(f.v), f.max)
		}
		if !utf8.ValidString(f.v) {
			return gatehouse.Errorf(gatehouse.CodeInvalid, "audit %s is not valid UTF-8", f.name)
		}
	}
	switch {
	case r.Actor == "":
		return gatehouse.Errorf(gatehouse.CodeInvalid, "audit actor required")
	case r.Action == "":
		return gatehouse.Errorf(gatehouse.CodeInvalid, "audit action required")
	case r.Outcome == "":
		return gatehouse.Errorf(gatehouse.CodeInvalid, "audit outcome required")
	}
	return nil
}

// Clean makes s fit a field of a Record: valid UTF-8 (invalid bytes become
// U+FFFD), at most MaxFieldLen bytes, cut at a character boundary. Use it
// on anything a caller controls (paths, names) so that the record is not
// refused.
func Clean(s string) string { return CleanN(s, MaxFieldLen) }

// CleanN is Clean with a limit of n bytes, for detail values (whose whole
// object must stay under MaxDetailsLen once JSON-escaped).
func CleanN(s string, n int) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// Wire is an entry as the admin API and the NDJSON export write it: hashes
// in lower-case hex, the time in RFC 3339 with nanoseconds (UTC), details
// as the JSON object that was hashed, byte for byte.
type Wire struct {
	Seq        int64           `json:"seq"`
	Time       string          `json:"time"`
	Actor      string          `json:"actor"`
	Action     string          `json:"action"`
	TargetType string          `json:"target_type"`
	TargetID   string          `json:"target_id"`
	Outcome    string          `json:"outcome"`
	Details    json.RawMessage `json:"details"`
	PrevHash   string          `json:"prev_hash"`
	Hash       string          `json:"hash"`
}

// ToWire converts e for the wire.
func ToWire(e *gatehouse.AuditEntry) Wire {
	d := json.RawMessage(e.Details)
	if len(d) == 0 {
		d = json.RawMessage("{}")
	}
	return Wire{
		Seq: e.Seq, Time: e.Time.UTC().Format(time.RFC3339Nano), Actor: e.Actor, Action: e.Action,
		TargetType: e.TargetType, TargetID: e.TargetID, Outcome: e.Outcome, Details: d,
		PrevHash: hex.EncodeToString(e.PrevHash), Hash: hex.EncodeToString(e.Hash),
	}
}

// MarshalLine returns e as one NDJSON line, newline included. Details are
// written exactly as stored (not re-escaped), so the line parses back to an
// entry with the same hash.
func MarshalLine(e *gatehouse.AuditEntry) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(ToWire(e)); err != nil {
		return nil, fmt.Errorf("audit: encode entry %d: %w", e.Seq, err)
	}
	return buf.Bytes(), nil
}

// MaxLineLen bounds one NDJSON line: the fields' limits, escaped, and room.
const MaxLineLen = 64 << 10

// ParseLine decodes one line written by MarshalLine (without its newline).
// It is strict: one JSON object, no duplicate or unknown members, every
// member present with its type, a positive seq, an RFC 3339 time, details a
// JSON object, both hashes 32 bytes of lower-case hex. It does not check
// the hash; Verify does.
func ParseLine(line []byte) (*gatehouse.AuditEntry, error) {
	if len(line) > MaxLineLen {
		return nil, fmt.Errorf("audit: line is %d bytes, more than %d", len(line), MaxLineLen)
	}
	var w struct {
		Seq        *int64          `json:"seq"`
		Time       *string         `json:"time"`
		Actor      *string         `json:"actor"`
		Action     *string         `json:"action"`
		TargetType *string         `json:"target_type"`
		TargetID   *string         `json:"target_id"`
		Outcome    *string         `json:"outcome"`
		Details    json.RawMessage `json:"details"`
		PrevHash   *string         `json:"prev_hash"`
		Hash       *string         `json:"hash"`
	}
	// jose.DecodeJSON refuses duplicate names (also case-folded) and
	// invalid UTF-8; the decoder then refuses unknown names.
	if err := jose.DecodeJSON(line, &w); err != nil {
		return nil, fmt.Errorf("audit: entry: %w", err)
	}
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&w); err != nil {
		return nil, fmt.Errorf("audit: entry: %w", err)
	}
	switch {
	case w.Seq == nil, w.Time == nil, w.Actor == nil, w.Action == nil, w.TargetType == nil,
		w.TargetID == nil, w.Outcome == nil, w.Details == nil, w.PrevHash == nil, w.Hash == nil:
		return nil, fmt.Errorf("audit: entry: a member is missing; want seq, time, actor, action, target_type, target_id, outcome, details, prev_hash, hash")
	case *w.Seq < 1:
		return nil, fmt.Errorf("audit: entry: seq %d is not positive", *w.Seq)
	case len(w.Details) == 0 || w.Details[0] != '{':
		return nil, fmt.Errorf("audit: entry %d: details must be a JSON object", *w.Seq)
	case len(w.Details) > MaxDetailsLen:
		return nil, fmt.Errorf("audit: entry %d: details are more than %d bytes", *w.Seq, MaxDetailsLen)
	}
	// Details are hashed as written; MarshalLine writes them compacted, so
	// only the compact form survives a round trip.
	var compact bytes.Buffer
	if err := json.Compact(&compact, w.Details); err != nil || !bytes.Equal(compact.Bytes(), w.Details) {
		return nil, fmt.Errorf("audit: entry %d: details must be compact JSON (no whitespace)", *w.Seq)
	}
	t, err := time.Parse(time.RFC3339Nano, *w.Time)
	if err != nil {
		return nil, fmt.Errorf("audit: entry %d: time: %w", *w.Seq, err)
	}
	prev, err := hashOf(*w.PrevHash)
	if err != nil {
		return nil, fmt.Errorf("audit: entry %d: prev_hash: %w", *w.Seq, err)
	}
	h, err := hashOf(*w.Hash)
	if err != nil {
		return nil, fmt.Errorf("audit: entry %d: hash: %w", *w.Seq, err)
	}
	return &gatehouse.AuditEntry{
		Seq: *w.Seq, Time: t.UTC(), Actor: *w.Actor, Action: *w.Action, TargetType: *w.TargetType,
		TargetID: *w.TargetID, Outcome: *w.Outcome, Details: bytes.Clone(w.Details), PrevHash: prev, Hash: h,
	}, nil
}

// hashOf decodes a SHA-256 hash in lower-case hex.
func hashOf(s string) ([]byte, error) {
	if len(s) != 2*sha256.Size {
		return nil, fmt.Errorf("want %d hex digits, got %d characters", 2*sha256.Size, len(s))
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return nil, fmt.Errorf("not lower-case hex")
		}
	}
	return hex.DecodeString(s)
}
