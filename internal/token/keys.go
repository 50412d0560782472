package token

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/gatehouse/gatehouse"
)

// KeyStore is what key management needs from storage.
type KeyStore interface {
	CreateKey(ctx context.Context, k *gatehouse.SigningKey) error
	FindKeys(ctx context.Context) ([]*gatehouse.SigningKey, error)
	RotateKeys(ctx context.Context, expectCurrent string, newNext *gatehouse.SigningKey, now, removeAfter time.Time) error
	DeleteRemovedKeys(ctx context.Context, now time.Time) (int, error)
}

// Sealer encrypts private keys before they reach the store.
type Sealer interface {
	Seal(plaintext, ad []byte) []byte
	Open(sealed, ad []byte) ([]byte, error)
}

// KeyManager owns the life of signing keys: it creates the first ones,
// rotates on schedule or on demand, drops retired keys once no token they
// signed can still be valid, and loads the result into a Keyring.
//
// Rotation publishes before it signs: there is always a next key in the
// JWKS, and rotation promotes that one, so verifiers that refreshed the
// JWKS since the last rotation already know the new signing key.
type KeyManager struct {
	Store  KeyStore
	Keys   *Keyring
	Sealer Sealer
	Policy gatehouse.TokenPolicy
	// MaxTokenLifetime is the longest lifetime of any token a key signs; a
	// retired key stays published that long (plus leeway) after retiring.
	MaxTokenLifetime time.Duration
	Log              *slog.Logger
	Now              func() time.Time
}

func (m *KeyManager) now() time.Time {
	if m.Now != nil {
		return m.Now()
	}
	return time.Now()
}

func (m *KeyManager) newKey(state gatehouse.KeyState, now time.Time) (*gatehouse.SigningKey, error) {
	der, err := GenerateKey(m.Policy.SigningAlgorithm)
	if err != nil {
		return nil, err
	}
	k := &gatehouse.SigningKey{
		ID:        NewID(),
		Algorithm: m.Policy.SigningAlgorithm,
		State:     state,
		CreatedAt: now,
	}
	if state == gatehouse.KeyCurrent {
		k.ActivatedAt = now
	}
	k.PrivateKey = m.Sealer.Seal(der, []byte(k.ID))
	return k, nil
}

// Ensure makes sure a current and a next key exist, then loads the keyring.
func (m *KeyManager) Ensure(ctx context.Context) error {
	keys, err := m.Store.FindKeys(ctx)
	if err != nil {
		return fmt.Errorf("token: find keys: %w", err)
	}
	var hasCurrent, hasNext bool
	for _, k := range keys {
		hasCurrent = hasCurrent || k.State == gatehouse.KeyCurrent
		hasNext = hasNext || k.State == gatehouse.KeyNext
	}
	now := m.now()
	if !hasCurrent && !hasNext {
		k, err := m.newKey(gatehouse.KeyCurrent, now)
		if err != nil {
			return err
		}
		if err := m.Store.CreateKey(ctx, k); err != nil && gatehouse.ErrorCode(err) != gatehouse.CodeConflict {
			return fmt.Errorf("token: create first key: %w", err)
		}
		hasCurrent = true
	}
	if !hasNext {
		k, err := m.newKey(gatehouse.KeyNext, now)
		if err != nil {
			return err
		}
		if err := m.Store.CreateKey(ctx, k); err != nil {
			return fmt.Errorf("token: create next key: %w", err)
		}
	}
	if !hasCurrent {
		// A next key but no current one: promote it.
		if err := m.rotate(ctx, "", now); err != nil {
			return err
		}
	}
	return m.Reload(ctx)
}

// Reload loads the stored keys into the keyring.
func (m *KeyManager) Reload(ctx context.Context) error {
	keys, err := m.Store.FindKeys(ctx)
	if err != nil {
		return fmt.Errorf("token: find keys: %w", err)
	}
	priv := make([]PrivateKey, 0, len(keys))
	for _, k := range keys {
		der, err := m.Sealer.Open(k.PrivateKey, []byte(k.ID))
		if err != nil {
			return fmt.Errorf("token: key %s: %w", k.ID, err)
		}
		priv = append(priv, PrivateKey{Meta: k, DER: der})
	}
	return m.Keys.Load(priv)
}

// Rotate promotes the next key to signing now, retires the current one and
// publishes a fresh next key.
func (m *KeyManager) Rotate(ctx context.Context) error {
	if err := m.rotate(ctx, m.Keys.SigningKeyID(), m.now()); err != nil {
		return err
	}
	return m.Reload(ctx)
}

func (m *KeyManager) rotate(ctx context.Context, expectCurrent string, now time.Time) error {
	next, err := m.newKey(gatehouse.KeyNext, now)
	if err != nil {
		return err
	}
	removeAfter := now.Add(m.MaxTokenLifetime + m.Policy.Leeway)
	if err := m.Store.RotateKeys(ctx, expectCurrent, next, now, removeAfter); err != nil {
		return fmt.Errorf("token: rotate keys: %w", err)
	}
	if m.Log != nil {
		m.Log.Info("signing keys rotated", "retired", expectCurrent, "next", next.ID)
	}
	return nil
}

// Tick does the scheduled work: rotate when the current key has signed for
// the rotation period and the next key has been published long enough, drop
// retired keys past their removal time, and reload (picking up rotations
// made by another node or by `gatehouse keys rotate`).
func (m *KeyManager) Tick(ctx context.Context) error {
	keys, err := m.Store.FindKeys(ctx)
	if err != nil {
		return fmt.Errorf("token: find keys: %w", err)
	}
	now := m.now()
	var cur, next *gatehouse.SigningKey
	for _, k := range keys {
		switch k.State {
		case gatehouse.KeyCurrent:
			cur = k
		case gatehouse.KeyNext:
			next = k
		}
	}
	if cur != nil && next != nil &&
		!now.Before(cur.ActivatedAt.Add(m.Policy.KeyRotationPeriod)) &&
		!now.Before(next.CreatedAt.Add(m.Policy.KeyPrepublish)) {
		err := m.rotate(ctx, cur.ID, now)
		if err != nil && gatehouse.ErrorCode(err) != gatehouse.CodeConflict {
			return err // a conflict means another node rotated first: fine
		}
	}
	if _, err := m.Store.DeleteRemovedKeys(ctx, now); err != nil {
		return fmt.Errorf("token: delete removed keys: %w", err)
	}
	return m.Reload(ctx)
}

// Run calls Tick every interval until ctx ends, logging failures.
func (m *KeyManager) Run(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := m.Tick(ctx); err != nil && ctx.Err() == nil && m.Log != nil {
				m.Log.Error("key maintenance failed", "err", err)
			}
		}
	}
}
