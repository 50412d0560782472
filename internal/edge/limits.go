package edge

import (
	"net/http"
	"sync/atomic"
	"time"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/internal/traffic"
)

// Limits applies an API's traffic policy: IP allow and deny lists before
// any credential is looked at, then, for the authenticated client, the
// spike arrest of the whole API, the per-client and per-route rate limits
// and the daily and monthly quotas. Limiters answer from memory.
type Limits struct {
	Info    func(r *http.Request) (RequestInfo, bool)
	Clients *traffic.Limiter // per client per API, and per route
	Spikes  *traffic.Limiter // per API
	Quotas  *traffic.Quotas
	Now     func() time.Time

	filters  atomic.Pointer[map[string]*traffic.IPFilter]
	policies atomic.Pointer[map[string]string] // RateLimit-Policy per API, built once
}

// SetAPIs prepares the IP filters of apis; call it with every routing
// table before it serves.
func (l *Limits) SetAPIs(apis []gatehouse.API) error {
	m := make(map[string]*traffic.IPFilter, len(apis))
	for i := range apis {
		tr := apis[i].Traffic
		if len(tr.IPAllow) == 0 && len(tr.IPDeny) == 0 {
			continue
		}
		f, err := traffic.NewIPFilter(tr.IPAllow, tr.IPDeny)
		if err != nil {
			return err
		}
		m[apis[i].Name] = f
	}
	l.filters.Store(&m)
	p := make(map[string]string, len(apis))
	for i := range apis {
		if pc := apis[i].Traffic.PerClient; pc != nil {
			p[apis[i].Name] = traffic.PolicyField(traffic.RatePolicy("client", *pc))
		}
	}
	l.policies.Store(&p)
	return nil
}

func (l *Limits) now() time.Time {
	if l.Now != nil {
		return l.Now()
	}
	return time.Now()
}

// IPRules refuses requests from networks the API does not allow.
func (l *Limits) IPRules(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		info, ok := l.Info(r)
		if ok {
			if fs := l.filters.Load(); fs != nil {
				if f := (*fs)[info.API.Name]; f != nil && !f.Allowed(info.ClientAddr) {
					writeProblem(w, http.StatusForbidden, "forbidden", "requests from this network are not allowed", info.RequestID)
					return
				}
			}
		}
		next.ServeHTTP(w, r)
	})
}

// RateLimit enforces the limits and quotas; it runs after Authenticate, so
// the client is known. A limiter that refuses does not charge the request;
// limiters checked before it (the client's own) have charged it.
func (l *Limits) RateLimit(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		info, ok := l.Info(r)
		if !ok {
			next.ServeHTTP(w, r)
			return
		}
		claims := claimsOf(r, info)
		now := l.now()
		tr := &info.API.Traffic
		// The client's own limits come first and the API-wide spike arrest
		// last, so that a client refused by its own limit does not use up
		// the capacity every other client shares.
		if claims != nil {
			// The issuer is part of the key: an external provider's client
			// "c1" is not Gatehouse's client "c1".
			who := claims.ClientID
			if who == "" {
				// Some providers' tokens name no client: count per user
				// rather than put everyone in one bucket.
				who = "sub:" + claims.Subject
			}
			key := claims.Issuer + "\x00" + who + "\x00" + info.API.Name
			if rl := info.Route.RateLimit; rl != nil {
				if d := l.Clients.Allow(key+"\x00"+info.RouteKey, *rl, now); !d.Allowed {
					traffic.WriteHeaders(w.Header(), "route", "", d)
					writeProblem(w, http.StatusTooManyRequests, "rate_limited", "too many requests on this route; retry later", info.RequestID)
					return
				}
			}
			if pc := tr.PerClient; pc != nil {
				d := l.Clients.Allow(key, *pc, now)
				policy := ""
				if ps := l.policies.Load(); ps != nil {
					policy = (*ps)[info.API.Name]
				}
				traffic.WriteHeaders(w.Header(), "client", policy, d)
				if !d.Allowed {
					writeProblem(w, http.StatusTooManyRequests, "rate_limited", "too many requests; retry later", info.RequestID)
					return
				}
			}
			if tr.Quota.Daily > 0 || tr.Quota.Monthly > 0 {
				if d := l.Quotas.Take(key, tr.Quota, now); !d.Allowed {
					traffic.WriteQuotaHeaders(w.Header(), "", d, now)
					writeProblem(w, http.StatusTooManyRequests, "quota_exceeded", "the "+d.Exhausted.String()+" quota of this API is used up", info.RequestID)
					return
				}
			}
		}
		if tr.SpikeArrest != nil {
			if d := l.Spikes.Allow(info.API.Name, *tr.SpikeArrest, now); !d.Allowed {
				traffic.WriteHeaders(w.Header(), "spike", "", d)
				writeProblem(w, http.StatusTooManyRequests, "rate_limited", "the API is receiving too many requests; retry later", info.RequestID)
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}
