package seal

import (
	"bytes"
	"encoding/base64"
	"os"
	"path/filepath"
	"testing"
)

func TestSealOpen(t *testing.T) {
	key := bytes.Repeat([]byte{7}, KeySize)
	b, err := New(key)
	if err != nil {
		t.Fatal(err)
	}
	sealed := b.Seal([]byte("private key"), []byte("kid-1"))
	if bytes.Contains(sealed, []byte("private key")) {
		t.Fatal("sealed value contains the plaintext")
	}
	got, err := b.Open(sealed, []byte("kid-1"))
	if err != nil || string(got) != "private key" {
		t.Fatalf("Open = %q, %v", got, err)
	}
	t.Run("WrongAD", func(t *testing.T) {
		if _, err := b.Open(sealed, []byte("kid-2")); err == nil {
			t.Fatal("opened with the wrong associated data")
		}
	})
	t.Run("Tampered", func(t *testing.T) {
		bad := append([]byte(nil), sealed...)
		bad[len(bad)-1] ^= 1
		if _, err := b.Open(bad, []byte("kid-1")); err == nil {
			t.Fatal("opened a tampered value")
		}
	})
	t.Run("WrongKey", func(t *testing.T) {
		other, _ := New(bytes.Repeat([]byte{8}, KeySize))
		if _, err := other.Open(sealed, []byte("kid-1")); err == nil {
			t.Fatal("opened with the wrong key")
		}
	})
	t.Run("Truncated", func(t *testing.T) {
		if _, err := b.Open(sealed[:5], nil); err == nil {
			t.Fatal("opened a truncated value")
		}
	})
}

func TestLoadOrCreateKey(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", "master.key")
	k1, created, err := LoadOrCreateKey(path, "")
	if err != nil || !created || len(k1) != KeySize {
		t.Fatalf("first call: created=%v len=%d err=%v", created, len(k1), err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("mode = %v, want 0600", fi.Mode().Perm())
	}
	k2, created, err := LoadOrCreateKey(path, "")
	if err != nil || created || !bytes.Equal(k1, k2) {
		t.Fatalf("second call: created=%v same=%v err=%v", created, bytes.Equal(k1, k2), err)
	}
	env := base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{1}, KeySize))
	k3, _, err := LoadOrCreateKey(path, env)
	if err != nil || !bytes.Equal(k3, bytes.Repeat([]byte{1}, KeySize)) {
		t.Fatalf("env key: %v", err)
	}
	for _, bad := range []string{"not base64!!", base64.StdEncoding.EncodeToString([]byte("short"))} {
		if _, _, err := LoadOrCreateKey(path, bad); err == nil {
			t.Errorf("accepted bad env key %q", bad)
		}
	}
}
