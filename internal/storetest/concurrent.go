package storetest

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse"
)

// racers is how many goroutines each concurrency test runs.
const racers = 20

// race runs f(i) for i in [0, racers) at once, and returns their errors.
func race(f func(i int) error) []error {
	errs := make([]error, racers)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range racers {
		wg.Go(func() {
			<-start
			errs[i] = f(i)
		})
	}
	close(start)
	wg.Wait()
	return errs
}

// wantOneWinner fails t unless exactly one error is nil and all the others
// carry CodeConflict. It returns the winner's index.
func wantOneWinner(t *testing.T, errs []error) int {
	t.Helper()
	winner := -1
	for i, err := range errs {
		switch code := gatehouse.ErrorCode(err); code {
		case "":
			if winner >= 0 {
				t.Fatalf("goroutines %d and %d both succeeded", winner, i)
			}
			winner = i
		case gatehouse.CodeConflict:
		default:
			t.Fatalf("goroutine %d: %v (code %q), want nil or a conflict", i, err, code)
		}
	}
	if winner < 0 {
		t.Fatal("no goroutine succeeded")
	}
	return winner
}

var concurrentTests = []test{
	{"UseAssertionID", func(t *testing.T, s Store) {
		errs := race(func(int) error {
			return s.UseAssertionID(t.Context(), "c1", "j1", t0.Add(time.Minute), t0)
		})
		wantOneWinner(t, errs)
	}},
	{"CreateTokenSameID", func(t *testing.T, s Store) {
		errs := race(func(i int) error {
			tok := newToken("t1", "g1", t0.Add(time.Hour))
			tok.Hash = gatehouse.HashSecret(fmt.Sprint("token-", i))
			return s.CreateToken(t.Context(), tok)
		})
		i := wantOneWinner(t, errs)
		got, err := s.FindTokenByID(t.Context(), "t1")
		must(t, err)
		if want := gatehouse.HashSecret(fmt.Sprint("token-", i)); string(got.Hash) != string(want) {
			t.Fatalf("stored hash %x, want the winner's %x", got.Hash, want)
		}
	}},
	{"RevokeToken", func(t *testing.T, s Store) {
		createToken(t, s, newToken("t1", "g1", t0.Add(time.Hour)))
		var mu sync.Mutex
		var wins []int
		errs := race(func(i int) error {
			ok, err := s.RevokeToken(t.Context(), "t1", t0.Add(time.Duration(i)))
			if ok {
				mu.Lock()
				wins = append(wins, i)
				mu.Unlock()
			}
			return err
		})
		for _, err := range errs {
			must(t, err)
		}
		if len(wins) != 1 {
			t.Fatalf("RevokeToken reported true %d times, want once", len(wins))
		}
		// The winner's time is the one stored.
		wantToken(t, s, "t1", revoked(newToken("t1", "g1", t0.Add(time.Hour)), t0.Add(time.Duration(wins[0]))))
	}},
	{"RevokeGrant", func(t *testing.T, s Store) {
		const tokens = 30
		for i := range tokens {
			createToken(t, s, newToken(fmt.Sprint("t", i), "g1", t0.Add(time.Hour)))
		}
		var mu sync.Mutex
		total := 0
		errs := race(func(int) error {
			n, err := s.RevokeGrant(t.Context(), "g1", t0)
			mu.Lock()
			total += n
			mu.Unlock()
			return err
		})
		for _, err := range errs {
			must(t, err)
		}
		if total != tokens {
			t.Fatalf("RevokeGrant counts add up to %d, want %d: a token was revoked twice or not at all", total, tokens)
		}
	}},
	{"RotateKeys", func(t *testing.T, s Store) {
		k1, k2 := newKey("k1", gatehouse.KeyCurrent, t0), newKey("k2", gatehouse.KeyNext, t0.Add(1))
		createKey(t, s, k1)
		createKey(t, s, k2)
		now, removeAfter := t0.Add(time.Hour), t0.Add(30*time.Hour)
		next := func(i int) *gatehouse.SigningKey { return newKey(fmt.Sprint("k3-", i), gatehouse.KeyNext, now) }
		errs := race(func(i int) error {
			return s.RotateKeys(t.Context(), "k1", next(i), now, removeAfter)
		})
		i := wantOneWinner(t, errs)
		wantKeys(t, s, []*gatehouse.SigningKey{retired(k1, now, removeAfter), current(k2, now), next(i)})
	}},
}
