package gatehouse

// Security event types of watching how credentials are used (issue 6).
const (
	// EventAnomalyPrefix starts the type of an anomaly rule's hit:
	// "anomaly." followed by the rule kind, such as anomaly.token_replay.
	EventAnomalyPrefix = "anomaly."
	// EventIdleRevoked: a grant, API key or client secret unused for its
	// idle limit was revoked by the background job.
	EventIdleRevoked = "idle_revoked"
)
