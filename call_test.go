package gatehouse

import (
	"testing"
	"time"
)

func TestStorableTime(t *testing.T) {
	for _, tc := range []struct {
		t    time.Time
		want bool
	}{
		{time.Time{}, false},
		{time.Date(2026, 11, 29, 3, 4, 5, 6, time.UTC), true},
		{time.Date(2026, 11, 29, 3, 4, 5, 6, time.FixedZone("X", 3600)), true},
		{time.Unix(0, 0), true},
		{time.Date(1678, 1, 1, 0, 0, 0, 0, time.UTC), true},
		{time.Date(1677, 9, 1, 0, 0, 0, 0, time.UTC), false},
		{time.Date(2262, 4, 11, 0, 0, 0, 0, time.UTC), true},
		{time.Date(2262, 4, 12, 0, 0, 0, 0, time.UTC), false},
		{time.Date(3000, 1, 1, 0, 0, 0, 0, time.UTC), false},
	} {
		if got := StorableTime(tc.t); got != tc.want {
			t.Errorf("StorableTime(%v) = %v, want %v", tc.t, got, tc.want)
		}
	}
}
