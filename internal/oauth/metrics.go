package oauth

import "github.com/prometheus/client_golang/prometheus"

// Metrics are the authorization server's Prometheus metrics.
type Metrics struct {
	TokenRequests      *prometheus.CounterVec
	ClientAuthFailures prometheus.Counter
	LoginFailures      prometheus.Counter
}

// NewMetrics creates the metrics and registers them with reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		TokenRequests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gatehouse_token_requests_total",
			Help: "Token endpoint requests by grant type and outcome (issued or the OAuth error code).",
		}, []string{"grant_type", "outcome"}),
		ClientAuthFailures: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "gatehouse_client_auth_failures_total",
			Help: "Failed client authentications at the OAuth endpoints.",
		}),
		LoginFailures: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "gatehouse_login_failures_total",
			Help: "Failed user logins on the login page.",
		}),
	}
	reg.MustRegister(m.TokenRequests, m.ClientAuthFailures, m.LoginFailures)
	return m
}
