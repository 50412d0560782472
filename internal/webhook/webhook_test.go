package webhook

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

var testSecret = []byte("0123456789abcdef0123456789abcdef")

// receiver is a real HTTP server that verifies every delivery and answers
// with the statuses it is told, then 204.
type receiver struct {
	mu       sync.Mutex
	statuses []int
	got      []Payload
	attempts int
	bad      []string
	srv      *httptest.Server
}

func newReceiver(t *testing.T, statuses ...int) *receiver {
	t.Helper()
	rc := &receiver{statuses: statuses}
	rc.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		rc.mu.Lock()
		defer rc.mu.Unlock()
		rc.attempts++
		if err := Verify(testSecret, r.Header.Get(SignatureHeader), body, time.Now(), 0); err != nil {
			rc.bad = append(rc.bad, err.Error())
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		if ct := r.Header.Get("Content-Type"); ct != "application/json" {
			rc.bad = append(rc.bad, "content type "+ct)
		}
		if len(rc.statuses) > 0 {
			st := rc.statuses[0]
			rc.statuses = rc.statuses[1:]
			w.WriteHeader(st)
			return
		}
		var p Payload
		if err := json.Unmarshal(body, &p); err != nil {
			rc.bad = append(rc.bad, err.Error())
		}
		if r.Header.Get("Gatehouse-Delivery") != p.ID {
			rc.bad = append(rc.bad, "delivery header differs from the payload id")
		}
		rc.got = append(rc.got, p)
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(rc.srv.Close)
	return rc
}

func (rc *receiver) snapshot() (got []Payload, attempts int, bad []string) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]Payload(nil), rc.got...), rc.attempts, append([]string(nil), rc.bad...)
}

func run(t *testing.T, s *Sender) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { s.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestDeliverSigned(t *testing.T) {
	rc := newReceiver(t)
	s := New([]Endpoint{{Name: "soc", URL: rc.srv.URL, Secret: testSecret}}, Options{})
	run(t, s)
	want := Payload{ID: "a1", Type: "anomaly.token_replay", At: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC),
		Rule: "replay", Action: "revoke", TokenID: "jti1", ClientID: "app", Address: "192.0.2.1", Count: 2, Threshold: 1, Window: "1h0m0s"}
	s.Send(&want)
	waitFor(t, "delivery", func() bool { got, _, _ := rc.snapshot(); return len(got) == 1 })
	got, attempts, bad := rc.snapshot()
	if len(bad) > 0 || attempts != 1 {
		t.Fatalf("attempts %d, problems %v", attempts, bad)
	}
	if got[0] != want {
		t.Errorf("got %+v\nwant %+v", got[0], want)
	}
	// The receiver records the payload before it answers; the sender
	// counts the delivery once it has read the answer.
	waitFor(t, "the delivery counted", func() bool { return s.Stats().Delivered.Load() == 1 })
}

func TestRetryAfterServerError(t *testing.T) {
	rc := newReceiver(t, 500, 503, 429)
	s := New([]Endpoint{{Name: "soc", URL: rc.srv.URL, Secret: testSecret}}, Options{BaseDelay: time.Millisecond, MaxDelay: 10 * time.Millisecond})
	run(t, s)
	s.Send(&Payload{ID: "a2", Type: "anomaly.auth_failures"})
	waitFor(t, "delivery", func() bool { got, _, _ := rc.snapshot(); return len(got) == 1 })
	_, attempts, bad := rc.snapshot()
	if attempts != 4 || len(bad) > 0 {
		t.Errorf("attempts %d (want 4), problems %v", attempts, bad)
	}
	if r := s.Stats().Retried.Load(); r != 3 {
		t.Errorf("retried = %d, want 3", r)
	}
}

func TestGiveUp(t *testing.T) {
	rc := newReceiver(t, 500, 500, 500, 500, 500)
	s := New([]Endpoint{{Name: "soc", URL: rc.srv.URL, Secret: testSecret, MaxAttempts: 3}}, Options{BaseDelay: time.Millisecond, MaxDelay: time.Millisecond})
	run(t, s)
	s.Send(&Payload{ID: "a3", Type: "anomaly.rate_spike"})
	waitFor(t, "giving up", func() bool { return s.Stats().GaveUp.Load() == 1 })
	if _, attempts, _ := rc.snapshot(); attempts != 3 {
		t.Errorf("attempts = %d, want 3", attempts)
	}
}

func TestNoRetryOnClientError(t *testing.T) {
	rc := newReceiver(t, 400)
	s := New([]Endpoint{{Name: "soc", URL: rc.srv.URL, Secret: testSecret}}, Options{BaseDelay: time.Millisecond})
	run(t, s)
	s.Send(&Payload{ID: "a4", Type: "anomaly.rate_spike"})
	waitFor(t, "giving up", func() bool { return s.Stats().GaveUp.Load() == 1 })
	if _, attempts, _ := rc.snapshot(); attempts != 1 {
		t.Errorf("attempts = %d, want 1", attempts)
	}
}

func TestNoRedirects(t *testing.T) {
	rc := newReceiver(t)
	redirect := httptest.NewServer(http.RedirectHandler(rc.srv.URL, http.StatusTemporaryRedirect))
	defer redirect.Close()
	s := New([]Endpoint{{Name: "soc", URL: redirect.URL, Secret: testSecret}}, Options{BaseDelay: time.Millisecond})
	run(t, s)
	s.Send(&Payload{ID: "a5", Type: "anomaly.rate_spike"})
	waitFor(t, "giving up", func() bool { return s.Stats().GaveUp.Load() == 1 })
	if _, attempts, _ := rc.snapshot(); attempts != 0 {
		t.Errorf("the redirect target got %d requests", attempts)
	}
}

func TestTimeout(t *testing.T) {
	block := make(chan struct{})
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-block:
		case <-r.Context().Done():
		}
	}))
	defer slow.Close()
	defer close(block)
	s := New([]Endpoint{{Name: "slow", URL: slow.URL, Secret: testSecret, Timeout: 50 * time.Millisecond, MaxAttempts: 2}},
		Options{BaseDelay: time.Millisecond})
	run(t, s)
	s.Send(&Payload{ID: "a6", Type: "anomaly.rate_spike"})
	waitFor(t, "giving up", func() bool { return s.Stats().GaveUp.Load() == 1 })
}

func TestQueueBounded(t *testing.T) {
	s := New([]Endpoint{{Name: "soc", URL: "http://127.0.0.1:1/", Secret: testSecret}}, Options{Queue: 2})
	for i := range 5 {
		s.Send(&Payload{ID: strings.Repeat("x", i+1), Type: "anomaly.rate_spike"})
	}
	if d := s.Stats().Dropped.Load(); d != 3 {
		t.Errorf("dropped = %d, want 3", d)
	}
}

func TestEventFilter(t *testing.T) {
	for _, tc := range []struct {
		events []string
		typ    string
		want   bool
	}{
		{nil, "anomaly.token_replay", true},
		{nil, "refresh_token_reuse", false},
		{[]string{"refresh_token_reuse"}, "refresh_token_reuse", true},
		{[]string{"refresh_token_reuse"}, "anomaly.token_replay", false},
		{[]string{"idle.*"}, "idle.grant", true},
		{[]string{"idle.*"}, "idlegrant", false},
		{[]string{"*"}, "login_failed", true},
	} {
		e := Endpoint{Events: tc.events}
		if got := e.Wants(tc.typ); got != tc.want {
			t.Errorf("Events %v Wants(%q) = %v, want %v", tc.events, tc.typ, got, tc.want)
		}
	}
}

func TestBackoff(t *testing.T) {
	s := New(nil, Options{BaseDelay: time.Second, MaxDelay: time.Minute})
	for n, want := range map[int]time.Duration{1: time.Second, 2: 2 * time.Second, 4: 8 * time.Second, 10: time.Minute, 100: time.Minute} {
		for range 20 {
			if d := s.backoff(n); d < want/2 || d > want {
				t.Errorf("backoff(%d) = %s, want within [%s, %s]", n, d, want/2, want)
			}
		}
	}
}
