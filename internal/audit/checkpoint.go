package audit

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/internal/jose"
)

// CheckpointType is the JWS "typ" of a checkpoint, so that no other token
// Gatehouse signs can pass for one, nor a checkpoint for a token.
const CheckpointType = "audit-checkpoint+jwt"

// CheckpointFile is where checkpoints are appended outside the database,
// relative to the data directory.
const CheckpointFile = "audit/checkpoints.jsonl"

// DefaultCheckpointInterval is how often the head is signed when it moved.
const DefaultCheckpointInterval = 30 * time.Second

// Signer signs with Gatehouse's current signing key and publishes its
// public key, which the checkpoint file records (token.Keyring).
type Signer interface {
	Sign(typ string, payload []byte) (string, error)
	SigningKeyID() string
	Keys
}

// Keys finds a published verification key by kid (token.Keyring).
type Keys interface {
	PublicKey(kid string) (jose.PublicKey, bool)
}

// CheckpointStore keeps checkpoints next to the entries.
//
// AuditHead returns the newest entry's Seq and Hash (zero for an empty log).
// CreateAuditCheckpoint stores c. LatestAuditCheckpoint returns the most
// recently stored checkpoint, CodeNotFound when there is none.
// FindAuditCheckpoints returns every checkpoint, oldest first.
type CheckpointStore interface {
	AuditHead(ctx context.Context) (gatehouse.AuditHead, error)
	CreateAuditCheckpoint(ctx context.Context, c *gatehouse.AuditCheckpoint) error
	LatestAuditCheckpoint(ctx context.Context) (*gatehouse.AuditCheckpoint, error)
	FindAuditCheckpoints(ctx context.Context) ([]*gatehouse.AuditCheckpoint, error)
}

// checkpointClaims is the signed payload.
type checkpointClaims struct {
	Seq  int64  `json:"seq"`
	Hash string `json:"hash"` // hex SHA-256 of the entry at Seq
	Iat  int64  `json:"iat"`  // unix seconds
}

// Checkpointer signs the chain's head.
type Checkpointer struct {
	Store  CheckpointStore
	Signer Signer
	// File is the append-only file outside the database (DATA/audit/
	// checkpoints.jsonl); every checkpoint is written there before the
	// store, so deleting the newest entries together with their checkpoint
	// rows still leaves a signed head that names them.
	File string
	Now  func() time.Time
	Log  *slog.Logger
}

func (c *Checkpointer) now() time.Time {
	if c.Now != nil {
		return c.Now()
	}
	return time.Now()
}

// Checkpoint signs the head if it moved since the latest checkpoint, or if
// the latest checkpoint was signed by a key that no longer signs (so that
// the newest checkpoint stays verifiable after the old key is removed). It
// returns the new checkpoint, or nil when there was nothing to do (an
// empty log, or an unchanged head signed by the current key).
func (c *Checkpointer) Checkpoint(ctx context.Context) (*gatehouse.AuditCheckpoint, error) {
	head, err := c.Store.AuditHead(ctx)
	if err != nil {
		return nil, fmt.Errorf("audit: read head: %w", err)
	}
	if head.Seq == 0 {
		return nil, nil
	}
	latest, err := c.Store.LatestAuditCheckpoint(ctx)
	if err != nil && gatehouse.ErrorCode(err) != gatehouse.CodeNotFound {
		return nil, fmt.Errorf("audit: read latest checkpoint: %w", err)
	}
	if latest != nil && latest.Seq == head.Seq && bytes.Equal(latest.Hash, head.Hash) && latest.KeyID == c.Signer.SigningKeyID() {
		return nil, nil
	}
	now := c.now()
	payload, err := json.Marshal(checkpointClaims{Seq: head.Seq, Hash: hex.EncodeToString(head.Hash), Iat: now.Unix()})
	if err != nil {
		return nil, fmt.Errorf("audit: encode checkpoint: %w", err)
	}
	jws, err := c.Signer.Sign(CheckpointType, payload)
	if err != nil {
		return nil, fmt.Errorf("audit: sign checkpoint: %w", err)
	}
	parsed, err := jose.Parse(jws)
	if err != nil {
		return nil, fmt.Errorf("audit: parse own checkpoint: %w", err)
	}
	cp := &gatehouse.AuditCheckpoint{Seq: head.Seq, Hash: head.Hash, At: now, KeyID: parsed.Header.Kid, JWS: jws}
	pub, ok := c.Signer.PublicKey(cp.KeyID)
	if !ok {
		return nil, fmt.Errorf("audit: checkpoint signed by key %q, which is not published", cp.KeyID)
	}
	jwk, err := jose.MarshalJWK(pub)
	if err != nil {
		return nil, fmt.Errorf("audit: checkpoint key: %w", err)
	}
	if err := c.appendFile(cp, jwk); err != nil {
		return nil, err
	}
	if err := c.Store.CreateAuditCheckpoint(ctx, cp); err != nil {
		return nil, fmt.Errorf("audit: store checkpoint: %w", err)
	}
	if c.Log != nil {
		// A third witness of the head, for logs shipped off the host. Not
		// the JWS: logs never carry anything shaped like a token.
		c.Log.Info("audit checkpoint", "seq", cp.Seq, "hash", hex.EncodeToString(cp.Hash), "kid", cp.KeyID)
	}
	return cp, nil
}

// fileLine is one line of the checkpoint file. Seq, hash and time are for
// people reading the file; verification trusts only the JWS, checked with
// JWK: the signing key's public JWK, pinned outside the database so that the
// checkpoint can still be checked once the key has left the store (or was
// removed from it by someone rewriting the log). Lines written before keys
// were recorded have no JWK.
type fileLine struct {
	Seq  int64           `json:"seq"`
	Hash string          `json:"hash"`
	Time string          `json:"time"`
	JWS  string          `json:"jws"`
	JWK  json.RawMessage `json:"jwk,omitempty"`
}

// FileCheckpoint is one checkpoint read from the checkpoint file.
type FileCheckpoint struct {
	JWS string
	// Key is the signing key recorded with it; nil on lines written before
	// keys were recorded.
	Key *jose.PublicKey
}

// appendFile appends cp with its signing key's public JWK to the checkpoint
// file (mode 0600, directory 0700) and syncs it.
func (c *Checkpointer) appendFile(cp *gatehouse.AuditCheckpoint, jwk []byte) error {
	if c.File == "" {
		return nil
	}
	if err := os.MkdirAll(filepath.Dir(c.File), 0o700); err != nil {
		return fmt.Errorf("audit: checkpoint file: %w", err)
	}
	line, err := json.Marshal(fileLine{Seq: cp.Seq, Hash: hex.EncodeToString(cp.Hash), Time: cp.At.UTC().Format(time.RFC3339), JWS: cp.JWS, JWK: jwk})
	if err != nil {
		return fmt.Errorf("audit: checkpoint file: %w", err)
	}
	f, err := os.OpenFile(c.File, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("audit: checkpoint file: %w", err)
	}
	_, werr := f.Write(append(line, '\n'))
	serr := f.Sync()
	cerr := f.Close()
	if err := errors.Join(werr, serr, cerr); err != nil {
		return fmt.Errorf("audit: checkpoint file: %w", err)
	}
	return nil
}

// Run signs a checkpoint every interval until ctx ends. The owner signs a
// last one at shutdown by calling Checkpoint.
func (c *Checkpointer) Run(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if _, err := c.Checkpoint(ctx); err != nil && ctx.Err() == nil && c.Log != nil {
				c.Log.Error("audit checkpoint failed", "err", err)
			}
		}
	}
}

// ReadCheckpointFile returns the checkpoints of the checkpoint file at path,
// with the keys recorded for them; none if the file does not exist. A last
// line without its newline (a write cut short by a crash) is ignored; any
// other malformed line, or a recorded key that is not a valid public JWK, is
// an error.
func ReadCheckpointFile(path string) ([]FileCheckpoint, error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	} else if err != nil {
		return nil, fmt.Errorf("audit: checkpoint file: %w", err)
	}
	defer f.Close()
	return readCheckpointLines(f)
}

func readCheckpointLines(r io.Reader) ([]FileCheckpoint, error) {
	br := bufio.NewReader(r)
	var out []FileCheckpoint
	for n := 1; ; n++ {
		line, err := br.ReadBytes('\n')
		if err == io.EOF {
			return out, nil // a partial last line, or nothing
		} else if err != nil {
			return nil, fmt.Errorf("audit: checkpoint file: %w", err)
		}
		if len(line) > jose.MaxTokenSize+1024 {
			return nil, fmt.Errorf("audit: checkpoint file line %d: too long", n)
		}
		var l fileLine
		if err := jose.DecodeJSON(line, &l); err != nil || l.JWS == "" {
			return nil, fmt.Errorf("audit: checkpoint file line %d: not a checkpoint line", n)
		}
		fc := FileCheckpoint{JWS: l.JWS}
		if len(l.JWK) > 0 {
			k, err := jose.ParseJWK(l.JWK)
			if err != nil {
				return nil, fmt.Errorf("audit: checkpoint file line %d: jwk: %w", n, err)
			}
			fc.Key = &k
		}
		out = append(out, fc)
	}
}

// ErrUnknownKey marks a checkpoint signed by a key that is no longer
// published: its signature cannot be checked.
var ErrUnknownKey = errors.New("signed by an unknown key")

// VerifyCheckpoint checks jws's signature with keys and returns the seq and
// hash it names. The header must have typ audit-checkpoint+jwt and a kid
// that keys knows (errors.Is(err, ErrUnknownKey) otherwise); the payload
// must be strict JSON with exactly seq (positive), hash (64 lower-case hex
// digits) and iat.
func VerifyCheckpoint(jws string, keys Keys) (seq int64, hash []byte, at time.Time, err error) {
	j, seq, hash, at, err := parseCheckpoint(jws)
	if err != nil {
		return 0, nil, time.Time{}, err
	}
	k, ok := keys.PublicKey(j.Header.Kid)
	if !ok {
		return 0, nil, time.Time{}, fmt.Errorf("checkpoint: key %q: %w", j.Header.Kid, ErrUnknownKey)
	}
	if err := j.Verify(k); err != nil {
		return 0, nil, time.Time{}, fmt.Errorf("checkpoint: %w", err)
	}
	return seq, hash, at, nil
}

// parseCheckpoint decodes jws (typ and payload checked as VerifyCheckpoint
// does) without verifying its signature: nothing it returns may be trusted
// before j.Verify succeeds.
func parseCheckpoint(jws string) (j *jose.JWS, seq int64, hash []byte, at time.Time, err error) {
	j, err = jose.Parse(jws)
	if err != nil {
		return nil, 0, nil, time.Time{}, fmt.Errorf("checkpoint: %w", err)
	}
	if j.Header.Typ != CheckpointType {
		return nil, 0, nil, time.Time{}, fmt.Errorf("checkpoint: typ %q, want %q", j.Header.Typ, CheckpointType)
	}
	var c struct {
		Seq  *int64  `json:"seq"`
		Hash *string `json:"hash"`
		Iat  *int64  `json:"iat"`
	}
	if err := jose.DecodeJSON(j.Payload, &c); err != nil {
		return nil, 0, nil, time.Time{}, fmt.Errorf("checkpoint payload: %w", err)
	}
	dec := json.NewDecoder(bytes.NewReader(j.Payload))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil {
		return nil, 0, nil, time.Time{}, fmt.Errorf("checkpoint payload: %w", err)
	}
	if c.Seq == nil || c.Hash == nil || c.Iat == nil || *c.Seq < 1 {
		return nil, 0, nil, time.Time{}, fmt.Errorf("checkpoint payload: want seq (positive), hash and iat")
	}
	h, err := hashOf(*c.Hash)
	if err != nil || len(h) != sha256.Size {
		return nil, 0, nil, time.Time{}, fmt.Errorf("checkpoint payload: hash: %v", err)
	}
	return j, *c.Seq, h, time.Unix(*c.Iat, 0).UTC(), nil
}
