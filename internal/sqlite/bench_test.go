package sqlite_test

import (
	"context"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/internal/sqlite"
)

func benchToken(id string, now time.Time) *gatehouse.Token {
	return &gatehouse.Token{
		ID:        id,
		Hash:      gatehouse.HashSecret(id),
		Kind:      gatehouse.KindAccess,
		Format:    gatehouse.FormatOpaque,
		ClientID:  "client-1",
		Subject:   "user-1",
		Audience:  "https://orders.example",
		Scopes:    []string{"orders:read", "orders:write"},
		GrantID:   "grant-" + id,
		IssuedAt:  now,
		ExpiresAt: now.Add(15 * time.Minute),
	}
}

func benchDB(b *testing.B) *sqlite.DB {
	return open(b, filepath.Join(b.TempDir(), "gatehouse.db"))
}

func BenchmarkCreateToken(b *testing.B) {
	now := time.Now()
	b.Run("Serial", func(b *testing.B) {
		db, ctx := benchDB(b), context.Background()
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			if err := db.CreateToken(ctx, benchToken(strconv.Itoa(i), now)); err != nil {
				b.Fatal(err)
			}
			i++
		}
	})
	b.Run("Parallel", func(b *testing.B) {
		db, ctx := benchDB(b), context.Background()
		var n atomic.Int64
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if err := db.CreateToken(ctx, benchToken(strconv.FormatInt(n.Add(1), 10), now)); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
}

func BenchmarkFindTokenByHash(b *testing.B) {
	const tokens = 10_000
	db, ctx, now := benchDB(b), context.Background(), time.Now()
	hashes := make([][]byte, tokens)
	for i := range tokens {
		tok := benchToken(strconv.Itoa(i), now)
		if err := db.CreateToken(ctx, tok); err != nil {
			b.Fatal(err)
		}
		hashes[i] = tok.Hash
	}
	b.Run("Serial", func(b *testing.B) {
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			if _, err := db.FindTokenByHash(ctx, hashes[i%tokens]); err != nil {
				b.Fatal(err)
			}
			i++
		}
	})
	b.Run("Parallel", func(b *testing.B) {
		var n atomic.Int64
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := db.FindTokenByHash(ctx, hashes[n.Add(1)%tokens]); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
}

func BenchmarkFindClientByID(b *testing.B) {
	const clients = 100
	db, ctx := benchDB(b), context.Background()
	for i := range clients {
		c := &gatehouse.Client{
			ID:         "client-" + strconv.Itoa(i),
			Name:       "Client",
			AuthMethod: gatehouse.AuthSecretBasic,
			SecretHash: gatehouse.HashSecret("secret"),
			GrantTypes: []string{gatehouse.GrantClientCredentials},
			Access:     []gatehouse.Access{{API: "orders", Scopes: []string{"orders:read", "orders:write"}}},
			Source:     gatehouse.SourceConfig,
			CreatedAt:  time.Now(),
		}
		if err := db.CreateClient(ctx, c); err != nil {
			b.Fatal(err)
		}
	}
	b.Run("Serial", func(b *testing.B) {
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			if _, err := db.FindClientByID(ctx, "client-"+strconv.Itoa(i%clients)); err != nil {
				b.Fatal(err)
			}
			i++
		}
	})
	b.Run("Parallel", func(b *testing.B) {
		var n atomic.Int64
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := db.FindClientByID(ctx, "client-"+strconv.FormatInt(n.Add(1)%clients, 10)); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
}
