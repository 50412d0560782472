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
	return raceN(racers, f)
}

// raceN runs f(i) for i in [0, n) at once, and returns their errors.
func raceN(n int, f func(i int) error) []error {
	errs := make([]error, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
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
	{"RedeemAuthCode", func(t *testing.T, s Store) {
		r := newRedemption("unused")
		createAuthCode(t, s, r.code)
		redemptions := make([]redemption, racers)
		for i := range redemptions {
			redemptions[i] = newRedemption(fmt.Sprint("r", i))
		}
		errs := race(func(i int) error {
			return redemptions[i].redeem(t, s, t0.Add(time.Duration(i)))
		})
		w := wantOneWinner(t, errs)
		winner := redemptions[w]
		got, err := s.FindAuthCode(t.Context(), r.code.Hash)
		must(t, err)
		if want := t0.Add(time.Duration(w)); !got.UsedAt.Equal(want) {
			t.Fatalf("code used at %v, want the winner's time %v", got.UsedAt, want)
		}
		// Every loser was a reuse, so the winner's family is revoked.
		for _, tok := range []*gatehouse.Token{winner.access, winner.refresh} {
			got, err := s.FindTokenByID(t.Context(), tok.ID)
			must(t, err)
			if got.RevokedAt.IsZero() {
				t.Fatalf("token %q of the first redemption is not revoked after %d reuses", tok.ID, racers-1)
			}
		}
		for i, l := range redemptions {
			if i != w {
				wantNoToken(t, s, l.access.ID, l.refresh.ID)
			}
		}
	}},
	{"RotateRefreshToken", func(t *testing.T, s Store) {
		const n = 100
		f := issue(t, s, newGrant("g1", "u1", t0))
		now := t0.Add(time.Minute)
		next := make([][2]*gatehouse.Token, n)
		for i := range next {
			next[i][0], next[i][1] = successors(f, fmt.Sprint("next", i), now)
		}
		errs := raceN(n, func(i int) error {
			return s.RotateRefreshToken(t.Context(), f.refresh.ID, now, next[i][0], next[i][1])
		})
		w := wantOneWinner(t, errs)
		wantToken(t, s, f.refresh.ID, rotated(f.refresh, now, next[w][0].ID))
		wantToken(t, s, next[w][0].ID, next[w][0])
		wantToken(t, s, next[w][1].ID, next[w][1])
		for i, l := range next {
			if i != w {
				wantNoToken(t, s, l[0].ID, l[1].ID)
			}
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
