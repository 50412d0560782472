package traffic_test

import (
	"fmt"
	"net/http"
	"time"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/internal/traffic"
)

// A gateway keeps one Limiter for spike arrest, keyed by API, and another
// for per-client limits; it builds keys and RateLimit-Policy values once per
// routing snapshot, not per request.
func ExampleLimiter_spikeArrest() {
	spike := traffic.NewLimiter(0)
	lim := gatehouse.RateLimit{Rate: 2, Period: time.Second, Burst: 1} // the API's SpikeArrest
	policy := traffic.PolicyField(traffic.RatePolicy("spike", lim))
	now := time.Date(2026, 3, 14, 12, 0, 0, 0, time.UTC)

	for range 3 {
		h := http.Header{}
		d := spike.Allow("orders-api", lim, now)
		traffic.WriteHeaders(h, "spike", policy, d)
		fmt.Printf("%-5v RateLimit: %s Retry-After: %q\n", d.Allowed, h.Get("RateLimit"), h.Get("Retry-After"))
	}
	fmt.Println("RateLimit-Policy:", policy)
	// Output:
	// true  RateLimit: "spike";r=1;t=1 Retry-After: ""
	// true  RateLimit: "spike";r=0;t=1 Retry-After: ""
	// false RateLimit: "spike";r=0;t=1 Retry-After: "1"
	// RateLimit-Policy: "spike";q=2;w=1
}

func ExampleQuotas() {
	q := traffic.NewQuotas(0)
	quota := gatehouse.Quota{Daily: 1, Monthly: 20}
	now := time.Date(2026, 3, 14, 23, 0, 0, 0, time.UTC)

	fmt.Println(q.Take("client-1:orders-api", quota, now).Allowed)
	d := q.Take("client-1:orders-api", quota, now)
	fmt.Println(d.Allowed, d.Exhausted, d.Reset)
	fmt.Println(q.Take("client-1:orders-api", quota, now.Add(time.Hour)).Allowed)
	// Output:
	// true
	// false daily 2026-03-15 00:00:00 +0000 UTC
	// true
}
