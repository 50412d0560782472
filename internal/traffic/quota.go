package traffic

import (
	"strings"
	"time"

	"github.com/gatehouse/gatehouse"
)

// Window names a quota window.
type Window uint8

// Quota windows. They are calendar windows in UTC: a day starts at
// 00:00:00 UTC, a month at 00:00:00 UTC on its first day.
const (
	WindowNone Window = iota
	WindowDay
	WindowMonth
)

// String returns the window's policy name in the RateLimit fields:
// "daily", "monthly", or "" for WindowNone.
func (w Window) String() string {
	switch w {
	case WindowDay:
		return "daily"
	case WindowMonth:
		return "monthly"
	}
	return ""
}

// Quotas counts requests per key against gatehouse.Quota caps per calendar
// day and month (UTC). Only admitted requests count.
//
// Counts live in memory only: a restart loses the current day's and
// month's counts, so every client gets its quotas afresh, until persistence
// lands. Counts and Restore are its hooks: snapshot periodically and on
// shutdown, restore at start.
//
// An entry is dead once its month is over; inserting a new key deletes the
// dead entries among a few it inspects, and Sweep deletes them all. When a
// shard is full of live entries, a new key is admitted but not counted
// (Untracked counts such requests), which is the opposite choice from
// Limiter's: evicting a live quota entry would silently hand its key a
// whole new month, and refusing new keys would be an outage for clients
// that did nothing wrong. Keys are client and API pairs in practice, so a
// full table means a cap sized below the registered clients.
//
// A Quotas is safe for concurrent use. The zero value is not usable; call
// NewQuotas.
type Quotas struct {
	t *table[quotaEntry]
}

type quotaEntry struct {
	day     int64 // days since 1970-01-01 (UTC) of the Daily count
	month   int64 // year*12 + month-1 of the Monthly count
	daily   int64
	monthly int64
}

// QuotaDecision is a Quotas answer for one request.
type QuotaDecision struct {
	Allowed bool
	// Exhausted is the window that refused the request, WindowNone when it
	// was admitted. With both spent it is WindowMonth, whose reset is later.
	Exhausted Window
	// Window is the window Limit, Remaining and Reset describe: the
	// exhausted one, else the capped window with fewer requests left (the
	// month on a tie). It is WindowNone when the quota caps nothing.
	Window    Window
	Limit     int64
	Remaining int64
	Reset     time.Time
}

// QuotaUsage is one key's counts as Counts reports them and Restore takes
// them back. Day and Month are the starts (UTC) of the windows counted.
type QuotaUsage struct {
	Day     time.Time
	Daily   int64
	Month   time.Time
	Monthly int64
}

// NewQuotas returns a Quotas that tracks at most maxKeys keys
// (DefaultMaxKeys if maxKeys <= 0; rounded down to a multiple of its shard
// count).
func NewQuotas(maxKeys int) *Quotas {
	return &Quotas{t: newTable[quotaEntry](maxKeys)}
}

// calendar is the position of an instant in UTC days and months.
type calendar struct {
	day   int64
	month int64
	year  int
	mon   time.Month
}

func calendarAt(now time.Time) calendar {
	sec := now.Unix()
	day := sec / 86400
	if sec%86400 < 0 {
		day--
	}
	y, m, _ := now.UTC().Date()
	return calendar{day: day, month: int64(y)*12 + int64(m) - 1, year: y, mon: m}
}

func (c calendar) dayReset() time.Time {
	return time.Unix((c.day+1)*86400, 0).UTC()
}

func (c calendar) monthReset() time.Time {
	// time.Date normalises month 13 to January of the next year.
	return time.Date(c.year, c.mon+1, 1, 0, 0, 0, 0, time.UTC)
}

// Take admits the request for key at now if neither of quota's caps is
// spent, and counts it in both windows; a refused request is not counted.
// A cap of zero or less is no cap; a quota with neither admits everything
// and records nothing.
//
// For a key seen before this month, Take does not allocate.
func (q *Quotas) Take(key string, quota gatehouse.Quota, now time.Time) QuotaDecision {
	daily, monthly := max(quota.Daily, 0), max(quota.Monthly, 0)
	if daily == 0 && monthly == 0 {
		return QuotaDecision{Allowed: true}
	}
	c := calendarAt(now)
	s := q.t.shard(key)
	s.mu.Lock()
	e, found := s.m[key]
	// A window in the past starts afresh. One in the future (the wall
	// clock stepped back) keeps its counts: they are the better estimate.
	switch {
	case !found || e.month < c.month:
		e = quotaEntry{day: c.day, month: c.month}
	case e.day < c.day:
		e.day, e.daily = c.day, 0
	}
	var exhausted Window
	switch {
	case monthly > 0 && e.monthly >= monthly:
		exhausted = WindowMonth
	case daily > 0 && e.daily >= daily:
		exhausted = WindowDay
	}
	if exhausted == WindowNone {
		e.daily++
		e.monthly++
		if found {
			s.m[key] = e
		} else {
			q.insert(s, key, e, c.month)
		}
	}
	s.mu.Unlock()

	d := QuotaDecision{Allowed: exhausted == WindowNone, Exhausted: exhausted, Window: exhausted}
	if d.Window == WindowNone {
		switch {
		case daily == 0:
			d.Window = WindowMonth
		case monthly == 0:
			d.Window = WindowDay
		case daily-e.daily < monthly-e.monthly:
			d.Window = WindowDay
		default:
			d.Window = WindowMonth
		}
	}
	if d.Window == WindowDay {
		d.Limit, d.Remaining, d.Reset = daily, max(daily-e.daily, 0), c.dayReset()
	} else {
		d.Limit, d.Remaining, d.Reset = monthly, max(monthly-e.monthly, 0), c.monthReset()
	}
	return d
}

// insert adds a key not in s, whose lock the caller holds, after deleting
// the dead entries among a few it inspects. A full shard leaves the key
// out, counted in dropped.
func (q *Quotas) insert(s *shard[quotaEntry], key string, e quotaEntry, month int64) bool {
	n := 0
	for k, v := range s.m {
		if v.month < month {
			delete(s.m, k)
		}
		if n++; n == probes {
			break
		}
	}
	if len(s.m) >= q.t.per {
		s.dropped++
		return false
	}
	s.m[strings.Clone(key)] = e
	return true
}

// Counts returns a snapshot of every key's counts in the month of now,
// for persistence. It locks one shard at a time, so concurrent Takes may
// land in it or not.
func (q *Quotas) Counts(now time.Time) map[string]QuotaUsage {
	c := calendarAt(now)
	out := make(map[string]QuotaUsage)
	for i := range q.t.shards {
		s := &q.t.shards[i]
		s.mu.Lock()
		for k, e := range s.m {
			if e.month < c.month {
				continue
			}
			u := QuotaUsage{
				Day:     time.Unix(e.day*86400, 0).UTC(),
				Month:   time.Date(int(e.month/12), time.Month(e.month%12+1), 1, 0, 0, 0, 0, time.UTC),
				Monthly: e.monthly,
			}
			if e.day >= c.day {
				u.Daily = e.daily
			}
			out[k] = u
		}
		s.mu.Unlock()
	}
	return out
}

// Restore adds counts from a snapshot (Counts, possibly from another
// process) to the live ones: call it once per snapshot, at start before
// serving or later, as requests counted meanwhile add up correctly. Counts
// for a day or month other than now's are ignored, as are negative ones.
// It returns how many keys it could not hold because the table was full.
func (q *Quotas) Restore(usage map[string]QuotaUsage, now time.Time) (dropped int) {
	c := calendarAt(now)
	for key, u := range usage {
		uc := calendarAt(u.Month)
		if uc.month != c.month {
			continue
		}
		s := q.t.shard(key)
		s.mu.Lock()
		e, found := s.m[key]
		switch {
		case !found || e.month < c.month:
			e = quotaEntry{day: c.day, month: c.month}
		case e.day < c.day:
			e.day, e.daily = c.day, 0
		}
		e.monthly += max(u.Monthly, 0)
		if calendarAt(u.Day).day == c.day {
			e.daily += max(u.Daily, 0)
		}
		if found {
			s.m[key] = e
		} else if !q.insert(s, key, e, c.month) {
			dropped++
		}
		s.mu.Unlock()
	}
	return dropped
}

// Sweep forgets every key whose month is over at now, returning how many.
// Take reclaims them as it inserts new keys, so Sweep is optional.
func (q *Quotas) Sweep(now time.Time) int {
	month := calendarAt(now).month
	return q.t.sweep(func(e quotaEntry) bool { return e.month < month })
}

// Len is the number of keys held, live or not yet reclaimed.
func (q *Quotas) Len() int { return q.t.len() }

// Cap is the most keys the Quotas holds.
func (q *Quotas) Cap() int { return q.t.capacity() }

// Untracked is how many requests of new keys were admitted without being
// counted because their shard was full (each such key tries again on its
// next request), plus the keys Restore could not hold.
func (q *Quotas) Untracked() uint64 { return q.t.dropped() }
