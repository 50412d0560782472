package traffic_test

import (
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/internal/traffic"
)

func utc(y int, m time.Month, d, h, min, s, ns int) time.Time {
	return time.Date(y, m, d, h, min, s, ns, time.UTC)
}

func TestQuotaTake(t *testing.T) {
	q := traffic.NewQuotas(0)
	quota := gatehouse.Quota{Daily: 3, Monthly: 100}
	now := utc(2026, 3, 14, 15, 0, 0, 0)
	midnight := utc(2026, 3, 15, 0, 0, 0, 0)
	want := []traffic.QuotaDecision{
		{Allowed: true, Window: traffic.WindowDay, Limit: 3, Remaining: 2, Reset: midnight},
		{Allowed: true, Window: traffic.WindowDay, Limit: 3, Remaining: 1, Reset: midnight},
		{Allowed: true, Window: traffic.WindowDay, Limit: 3, Remaining: 0, Reset: midnight},
		{Exhausted: traffic.WindowDay, Window: traffic.WindowDay, Limit: 3, Remaining: 0, Reset: midnight},
	}
	for i, w := range want {
		got := q.Take("client:api", quota, now)
		if diff := cmp.Diff(w, got); diff != "" {
			t.Errorf("take %d (-want +got):\n%s", i, diff)
		}
	}
}

func TestQuotaWindowChoice(t *testing.T) {
	now := utc(2026, 3, 14, 15, 0, 0, 0)
	midnight, april := utc(2026, 3, 15, 0, 0, 0, 0), utc(2026, 4, 1, 0, 0, 0, 0)
	tests := []struct {
		name  string
		quota gatehouse.Quota
		want  traffic.QuotaDecision
	}{
		{"DailyOnly", gatehouse.Quota{Daily: 10},
			traffic.QuotaDecision{Allowed: true, Window: traffic.WindowDay, Limit: 10, Remaining: 9, Reset: midnight}},
		{"MonthlyOnly", gatehouse.Quota{Monthly: 10},
			traffic.QuotaDecision{Allowed: true, Window: traffic.WindowMonth, Limit: 10, Remaining: 9, Reset: april}},
		{"DailyTighter", gatehouse.Quota{Daily: 10, Monthly: 100},
			traffic.QuotaDecision{Allowed: true, Window: traffic.WindowDay, Limit: 10, Remaining: 9, Reset: midnight}},
		{"MonthlyTighter", gatehouse.Quota{Daily: 100, Monthly: 10},
			traffic.QuotaDecision{Allowed: true, Window: traffic.WindowMonth, Limit: 10, Remaining: 9, Reset: april}},
		{"TieIsMonth", gatehouse.Quota{Daily: 10, Monthly: 10},
			traffic.QuotaDecision{Allowed: true, Window: traffic.WindowMonth, Limit: 10, Remaining: 9, Reset: april}},
		{"Uncapped", gatehouse.Quota{}, traffic.QuotaDecision{Allowed: true}},
		{"NegativeIsUncapped", gatehouse.Quota{Daily: -1, Monthly: -5}, traffic.QuotaDecision{Allowed: true}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			q := traffic.NewQuotas(0)
			got := q.Take("k", tc.quota, now)
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
			if tc.want.Window == traffic.WindowNone && q.Len() != 0 {
				t.Errorf("an uncapped quota recorded %d keys", q.Len())
			}
		})
	}
}

// TestQuotaRollover spends a one-request quota just before a boundary and
// tries again just after: the daily one must reset at every UTC midnight,
// the monthly one only at the first of a month.
func TestQuotaRollover(t *testing.T) {
	tests := []struct {
		name                 string
		before, after        time.Time
		dayReset, monthReset time.Time
		monthRolls           bool
	}{
		{"Midnight",
			utc(2026, 3, 14, 23, 59, 59, 999_999_999), utc(2026, 3, 15, 0, 0, 0, 0),
			utc(2026, 3, 15, 0, 0, 0, 0), utc(2026, 4, 1, 0, 0, 0, 0), false},
		{"LeapDayArrives",
			utc(2024, 2, 28, 23, 59, 59, 0), utc(2024, 2, 29, 0, 0, 0, 0),
			utc(2024, 2, 29, 0, 0, 0, 0), utc(2024, 3, 1, 0, 0, 0, 0), false},
		{"LeapFebruaryEnds",
			utc(2024, 2, 29, 23, 59, 59, 0), utc(2024, 3, 1, 0, 0, 0, 0),
			utc(2024, 3, 1, 0, 0, 0, 0), utc(2024, 3, 1, 0, 0, 0, 0), true},
		{"FebruaryEnds",
			utc(2026, 2, 28, 23, 59, 59, 0), utc(2026, 3, 1, 0, 0, 0, 0),
			utc(2026, 3, 1, 0, 0, 0, 0), utc(2026, 3, 1, 0, 0, 0, 0), true},
		{"CenturyNotLeap",
			utc(2100, 2, 28, 12, 0, 0, 0), utc(2100, 3, 1, 0, 0, 0, 1),
			utc(2100, 3, 1, 0, 0, 0, 0), utc(2100, 3, 1, 0, 0, 0, 0), true},
		{"DecemberToJanuary",
			utc(2025, 12, 31, 23, 59, 59, 999_999_999), utc(2026, 1, 1, 0, 0, 0, 0),
			utc(2026, 1, 1, 0, 0, 0, 0), utc(2026, 1, 1, 0, 0, 0, 0), true},
		{"ThirtyFirst",
			utc(2026, 1, 31, 8, 0, 0, 0), utc(2026, 2, 1, 0, 0, 0, 0),
			utc(2026, 2, 1, 0, 0, 0, 0), utc(2026, 2, 1, 0, 0, 0, 0), true},
		{"LocalZoneIsUTC",
			// 20:30 in New York on 14 March is 00:30 UTC on the 15th.
			time.Date(2026, 3, 14, 19, 30, 0, 0, time.FixedZone("EDT", -4*3600)),
			time.Date(2026, 3, 14, 20, 30, 0, 0, time.FixedZone("EDT", -4*3600)),
			utc(2026, 3, 15, 0, 0, 0, 0), utc(2026, 4, 1, 0, 0, 0, 0), false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			check := func(quota gatehouse.Quota, w traffic.Window, reset time.Time, rolls bool) {
				t.Helper()
				q := traffic.NewQuotas(0)
				if d := q.Take("k", quota, tc.before); !d.Allowed {
					t.Fatalf("%v: first take refused: %+v", w, d)
				}
				d := q.Take("k", quota, tc.before)
				if d.Allowed || d.Exhausted != w {
					t.Fatalf("%v: second take %+v, want refused by %v", w, d, w)
				}
				if !d.Reset.Equal(reset) {
					t.Errorf("%v: Reset = %v, want %v", w, d.Reset, reset)
				}
				if got := q.Take("k", quota, tc.after).Allowed; got != rolls {
					t.Errorf("%v: after the boundary Allowed = %v, want %v", w, got, rolls)
				}
			}
			check(gatehouse.Quota{Daily: 1}, traffic.WindowDay, tc.dayReset, true)
			check(gatehouse.Quota{Monthly: 1}, traffic.WindowMonth, tc.monthReset, tc.monthRolls)
		})
	}
}

// TestQuotaRefusedDoNotCount hammers a spent daily quota; the next day the
// monthly count must hold only what was admitted.
func TestQuotaRefusedDoNotCount(t *testing.T) {
	q := traffic.NewQuotas(0)
	quota := gatehouse.Quota{Daily: 5, Monthly: 7}
	day1 := utc(2026, 3, 14, 9, 0, 0, 0)
	for i := range 5 {
		if !q.Take("k", quota, day1).Allowed {
			t.Fatalf("take %d refused", i)
		}
	}
	for range 1000 {
		if d := q.Take("k", quota, day1); d.Allowed || d.Exhausted != traffic.WindowDay {
			t.Fatalf("got %+v, want refused by the day", d)
		}
	}
	day2 := day1.Add(24 * time.Hour)
	for i := range 2 {
		if d := q.Take("k", quota, day2); !d.Allowed {
			t.Fatalf("day 2 take %d refused: %+v; refused requests were counted", i, d)
		}
	}
	d := q.Take("k", quota, day2)
	want := traffic.QuotaDecision{Exhausted: traffic.WindowMonth, Window: traffic.WindowMonth,
		Limit: 7, Remaining: 0, Reset: utc(2026, 4, 1, 0, 0, 0, 0)}
	if diff := cmp.Diff(want, d); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

func TestQuotaBothExhaustedReportsMonth(t *testing.T) {
	q := traffic.NewQuotas(0)
	quota := gatehouse.Quota{Daily: 2, Monthly: 2}
	now := utc(2026, 3, 14, 9, 0, 0, 0)
	q.Take("k", quota, now)
	q.Take("k", quota, now)
	if d := q.Take("k", quota, now); d.Exhausted != traffic.WindowMonth {
		t.Errorf("Exhausted = %v, want monthly (the later reset)", d.Exhausted)
	}
}

func TestQuotaLoweredBelowCount(t *testing.T) {
	q := traffic.NewQuotas(0)
	now := utc(2026, 3, 14, 9, 0, 0, 0)
	for range 5 {
		q.Take("k", gatehouse.Quota{Daily: 10}, now)
	}
	d := q.Take("k", gatehouse.Quota{Daily: 3}, now)
	if d.Allowed || d.Remaining != 0 {
		t.Errorf("after lowering the quota under the count: %+v, want refused with Remaining 0", d)
	}
}

func TestQuotaCountsRestore(t *testing.T) {
	day := utc(2026, 3, 14, 9, 0, 0, 0)
	quota := gatehouse.Quota{Daily: 10, Monthly: 100}
	q := traffic.NewQuotas(0)
	for range 3 {
		q.Take("a", quota, day.Add(-24*time.Hour))
	}
	for range 4 {
		q.Take("a", quota, day)
	}
	q.Take("b", quota, day)
	q.Take("old", quota, utc(2026, 2, 20, 0, 0, 0, 0))

	got := q.Counts(day)
	march, today := utc(2026, 3, 1, 0, 0, 0, 0), utc(2026, 3, 14, 0, 0, 0, 0)
	want := map[string]traffic.QuotaUsage{
		"a": {Day: today, Daily: 4, Month: march, Monthly: 7},
		"b": {Day: today, Daily: 1, Month: march, Monthly: 1},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("Counts (-want +got):\n%s", diff)
	}

	// A restarted process restores the snapshot after serving one request.
	r := traffic.NewQuotas(0)
	r.Take("a", quota, day)
	stale := map[string]traffic.QuotaUsage{
		"c": {Day: utc(2026, 2, 27, 0, 0, 0, 0), Daily: 9, Month: utc(2026, 2, 1, 0, 0, 0, 0), Monthly: 99},
		"d": {Day: utc(2026, 3, 13, 0, 0, 0, 0), Daily: 9, Month: march, Monthly: 50},
	}
	if n := r.Restore(got, day) + r.Restore(stale, day); n != 0 {
		t.Fatalf("Restore dropped %d keys", n)
	}
	wantTake := map[string]traffic.QuotaDecision{
		"a": {Allowed: true, Window: traffic.WindowDay, Limit: 10, Remaining: 4, Reset: day.Truncate(24 * time.Hour).Add(24 * time.Hour)},
		"c": {Allowed: true, Window: traffic.WindowDay, Limit: 10, Remaining: 9, Reset: day.Truncate(24 * time.Hour).Add(24 * time.Hour)},
		"d": {Allowed: true, Window: traffic.WindowDay, Limit: 10, Remaining: 9, Reset: day.Truncate(24 * time.Hour).Add(24 * time.Hour)},
	}
	for key, w := range wantTake {
		if diff := cmp.Diff(w, r.Take(key, quota, day)); diff != "" {
			t.Errorf("take %q after Restore (-want +got):\n%s", key, diff)
		}
	}
	if got := r.Counts(day)["d"].Monthly; got != 51 {
		t.Errorf("d's monthly count = %d, want 51 (50 restored + 1)", got)
	}
}

func TestQuotaCapAndReclaim(t *testing.T) {
	q := traffic.NewQuotas(1000)
	quota := gatehouse.Quota{Monthly: 5}
	march := utc(2026, 3, 14, 0, 0, 0, 0)
	for i := range 100_000 {
		if !q.Take("k"+strconv.Itoa(i), quota, march).Allowed {
			t.Fatal("a new key was refused; a full table must fail open")
		}
	}
	if q.Len() > q.Cap() || q.Cap() > 1000 {
		t.Fatalf("Len %d, Cap %d: want Len <= Cap <= 1000", q.Len(), q.Cap())
	}
	untracked := q.Untracked()
	if untracked == 0 {
		t.Fatal("Untracked = 0 after overfilling the table")
	}
	// In April every March entry is dead, and new keys take their places.
	april := utc(2026, 4, 2, 0, 0, 0, 0)
	for i := range 500 {
		q.Take("n"+strconv.Itoa(i), quota, april)
	}
	if got := q.Untracked(); got != untracked {
		t.Errorf("Untracked grew by %d in a table full of dead entries", got-untracked)
	}
	if got := q.Counts(april); len(got) != 500 {
		t.Errorf("Counts has %d keys in April, want 500", len(got))
	}
	q.Sweep(utc(2026, 5, 1, 0, 0, 0, 0))
	if got := q.Len(); got != 0 {
		t.Errorf("Len after Sweep in May = %d, want 0", got)
	}
}

func TestQuotaConcurrent(t *testing.T) {
	q := traffic.NewQuotas(0)
	quota := gatehouse.Quota{Daily: 500, Monthly: 1000}
	now := utc(2026, 3, 14, 9, 0, 0, 0)
	var allowed atomic.Int64
	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() {
			for range 100 {
				if q.Take("k", quota, now).Allowed {
					allowed.Add(1)
				}
			}
		})
	}
	wg.Wait()
	if got := allowed.Load(); got != 500 {
		t.Errorf("%d admitted, want exactly the daily 500", got)
	}
}

func TestQuotaTakeDoesNotAllocate(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	q := traffic.NewQuotas(0)
	quota := gatehouse.Quota{Daily: 1 << 40, Monthly: 1 << 50}
	now := utc(2026, 3, 14, 9, 0, 0, 0)
	q.Take("client:api", quota, now)
	if allocs := testing.AllocsPerRun(1000, func() { q.Take("client:api", quota, now) }); allocs != 0 {
		t.Errorf("Take on an existing key: %v allocations, want 0", allocs)
	}
}
