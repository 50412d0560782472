package gatehouse

import "time"

// AuditEntry is one record of the audit log. Entries are chained: each
// carries the hash of the one before it (PrevHash) and its own Hash over a
// canonical encoding of every other field, so an edited or deleted entry
// breaks the chain. internal/audit computes and checks the hashes; stores
// keep the entries exactly as given.
type AuditEntry struct {
	Seq  int64 // 1, 2, 3... without gaps
	Time time.Time
	// Actor is who acted: a client id, a user id (subject), or "system"
	// for what Gatehouse did on its own (reuse detection).
	Actor      string
	Action     string // what happened, e.g. "POST /admin/v1/keys/rotate"
	TargetType string // the kind of resource acted on, or ""
	TargetID   string // the resource's id, or ""
	Outcome    string // AuditSuccess, AuditFailure or AuditDenied
	// Details is a small JSON object with string values (address, status,
	// client id...). Never a token or a secret.
	Details  []byte
	PrevHash []byte // SHA-256 of the previous entry; a fixed value for Seq 1
	Hash     []byte // SHA-256 of this entry's canonical encoding
}

// Audit outcomes.
const (
	AuditSuccess = "success"
	AuditFailure = "failure"
	AuditDenied  = "denied"
)

// AuditActorSystem is the actor of what Gatehouse does on its own.
const AuditActorSystem = "system"

// AuditHead is the newest entry's position in the chain; the zero value is
// an empty log.
type AuditHead struct {
	Seq  int64
	Hash []byte
}

// AuditFilter selects audit entries, in ascending Seq. Zero fields do not
// filter.
type AuditFilter struct {
	AfterSeq int64     // only entries with a greater Seq (a cursor)
	Since    time.Time // Time at or after
	Until    time.Time // Time before
	Action   string    // exact match
	Actor    string    // exact match
	Limit    int       // at most this many; zero or less does not limit
}

// AuditCheckpoint is a signed statement of the chain's head at a time: a
// compact JWS by one of Gatehouse's signing keys over {seq, hash, iat}. Seq
// and Hash repeat the signed payload for queries; only the JWS is trusted.
type AuditCheckpoint struct {
	Seq   int64
	Hash  []byte
	At    time.Time
	KeyID string
	JWS   string
}
