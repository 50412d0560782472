package calllog

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
)

// TestHandles: each key's handle is made once, whoever asks first and
// however many ask at the same time, and keys never share one.
func TestHandles(t *testing.T) {
	var h handles[requestLabels, *int]
	var made atomic.Int32
	var wg sync.WaitGroup
	got := make([][]*int, 8)
	for g := range got {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 50 {
				k := requestLabels{api: "a", route: fmt.Sprint("/r", i), status: 200 + i%3}
				got[g] = append(got[g], h.get(k, func() *int { made.Add(1); v := i; return &v }))
			}
		}()
	}
	wg.Wait()
	if made.Load() != 50 {
		t.Errorf("made %d handles for 50 keys", made.Load())
	}
	for g := 1; g < len(got); g++ {
		for i := range got[g] {
			if got[g][i] != got[0][i] {
				t.Fatalf("key %d: goroutines got different handles", i)
			}
		}
	}
	for i := range got[0] {
		if *got[0][i] != i {
			t.Fatalf("key %d got the handle of key %d", i, *got[0][i])
		}
	}
}
