package config

import (
	"strings"
	"testing"

	"github.com/gatehouse/gatehouse"
)

// TestExportRedactsTargetCredentials: an upstream target with user info
// or a query (stored before they were refused) is never written out.
func TestExportRedactsTargetCredentials(t *testing.T) {
	e := &Export{APIs: []gatehouse.API{{Name: "a", Audience: "https://a.test", Upstream: gatehouse.Upstream{Targets: []string{
		"http://svc:S3cretPass@10.0.0.1:9000", "http://10.0.0.2:9000/x?key=S3cretPass", "http://10.0.0.3:9000/base"}}}}}
	out, err := e.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	s := string(out)
	if strings.Contains(s, "S3cretPass") {
		t.Fatalf("the export writes an upstream credential:\n%s", s)
	}
	for _, want := range []string{"http://REDACTED@10.0.0.1:9000", "http://10.0.0.2:9000/x?REDACTED", "http://10.0.0.3:9000/base"} {
		if !strings.Contains(s, want) {
			t.Errorf("the export lacks %s:\n%s", want, s)
		}
	}
}
