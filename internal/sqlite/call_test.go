package sqlite_test

import (
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/gatehouse/gatehouse"
)

// TestInsertCallsValues checks that every column of every call is stored
// as given when consecutive calls repeat or change any one value
// (InsertCalls reuses the previous call's boxed values), over several
// statements of a batch and a shorter last one.
func TestInsertCallsValues(t *testing.T) {
	base := gatehouse.Call{RequestID: "r", API: "orders", Route: "/orders/{id} GET", Method: "GET",
		Path: "/orders/1", Status: 200, ClientID: "c1", Subject: "s1", TokenID: "t1", GrantID: "g1",
		ClientAddr: "192.0.2.1", UserAgent: "ua/1", BytesIn: 300, BytesOut: 4000,
		Upstream: time.Millisecond, Total: 2 * time.Millisecond, Reason: ""}
	t0 := time.Date(2031, 1, 2, 3, 4, 5, 0, time.UTC)
	change := []struct {
		name string
		set  func(c *gatehouse.Call, v int)
	}{
		{"RequestID", func(c *gatehouse.Call, v int) { c.RequestID = "r" + strconv.Itoa(v) }},
		{"API", func(c *gatehouse.Call, v int) { c.API = "api" + strconv.Itoa(v) }},
		{"Route", func(c *gatehouse.Call, v int) { c.Route = "/r" + strconv.Itoa(v) }},
		{"Method", func(c *gatehouse.Call, v int) { c.Method = "M" + strconv.Itoa(v) }},
		{"Path", func(c *gatehouse.Call, v int) { c.Path = "/p" + strconv.Itoa(v) }},
		{"Status", func(c *gatehouse.Call, v int) { c.Status = 300 + v }},
		{"ClientID", func(c *gatehouse.Call, v int) { c.ClientID = "" }},
		{"Subject", func(c *gatehouse.Call, v int) { c.Subject = "s" + strconv.Itoa(v) }},
		{"TokenID", func(c *gatehouse.Call, v int) { c.TokenID = "" }},
		{"GrantID", func(c *gatehouse.Call, v int) { c.GrantID = "g" + strconv.Itoa(v) }},
		{"ClientAddr", func(c *gatehouse.Call, v int) { c.ClientAddr = "2001:db8::" + strconv.Itoa(v) }},
		{"UserAgent", func(c *gatehouse.Call, v int) { c.UserAgent = "ua/" + strconv.Itoa(v) }},
		{"BytesIn", func(c *gatehouse.Call, v int) { c.BytesIn = int64(v) << 20 }},
		{"BytesOut", func(c *gatehouse.Call, v int) { c.BytesOut = 0 }},
		{"Upstream", func(c *gatehouse.Call, v int) { c.Upstream = time.Duration(v) * time.Second }},
		{"Total", func(c *gatehouse.Call, v int) { c.Total = time.Duration(v) * time.Minute }},
		{"Reason", func(c *gatehouse.Call, v int) { c.Reason = "invalid_token:" + strconv.Itoa(v) }},
	}
	// Each column in turn changes for a few calls, then goes back; 100
	// calls are three full statements and a short one.
	var want []gatehouse.Call
	for i := range 100 {
		c := base
		c.Time = t0.Add(time.Duration(i%7) * time.Second) // some calls share a time
		if k := i / 3 % (len(change) + 1); k < len(change) && i%3 != 2 {
			change[k].set(&c, i)
		}
		want = append(want, c)
	}
	db := open(t, filepath.Join(t.TempDir(), "calls.db"))
	cs := append([]gatehouse.Call(nil), want...)
	if err := db.InsertCalls(t.Context(), cs); err != nil {
		t.Fatal(err)
	}
	for i := range want {
		want[i].ID = cs[i].ID
	}
	got, err := db.FindCalls(t.Context(), gatehouse.CallFilter{})
	if err != nil {
		t.Fatal(err)
	}
	// FindCalls orders by time; put both in id order.
	byID := make(map[int64]gatehouse.Call, len(got))
	for _, c := range got {
		byID[c.ID] = c
	}
	sorted := make([]gatehouse.Call, 0, len(got))
	for _, c := range want {
		sorted = append(sorted, byID[c.ID])
	}
	if len(got) != len(want) {
		t.Fatalf("%d calls stored, want %d", len(got), len(want))
	}
	if d := cmp.Diff(sorted, want); d != "" {
		t.Fatalf("(-got +want):\n%s", d)
	}
}
