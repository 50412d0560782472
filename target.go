package gatehouse

import "net/url"

// RedactedTarget returns an upstream target URL as it may be shown in an
// error message or a log: user info and the query, which can carry
// credentials, are replaced by REDACTED and the fragment is dropped. A
// string that does not parse as a URL is not shown at all.
func RedactedTarget(s string) string {
	u, err := url.Parse(s)
	if err != nil || u.Opaque != "" {
		return "(not a URL)"
	}
	if u.User != nil {
		u.User = url.User("REDACTED")
	}
	if u.RawQuery != "" {
		u.RawQuery = "REDACTED"
	}
	u.Fragment, u.RawFragment = "", ""
	return u.String()
}
