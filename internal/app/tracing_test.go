package app

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"

	coltrace "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/proto"

	"github.com/gatehouse/gatehouse/internal/config"
)

// otlpReceiver is a real OTLP/HTTP endpoint: it decodes the protobuf export
// requests POSTed to /v1/traces and keeps the spans and the raw bodies.
type otlpReceiver struct {
	*httptest.Server
	mu    sync.Mutex
	spans []*tracepb.Span
	raw   [][]byte
	bad   []string
}

func newOTLPReceiver(t *testing.T) *otlpReceiver {
	o := &otlpReceiver{}
	o.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		o.mu.Lock()
		defer o.mu.Unlock()
		if r.URL.Path != "/v1/traces" || r.Method != "POST" || r.Header.Get("Content-Type") != "application/x-protobuf" {
			o.bad = append(o.bad, r.Method+" "+r.URL.Path+" "+r.Header.Get("Content-Type"))
			w.WriteHeader(http.StatusNotFound)
			return
		}
		var req coltrace.ExportTraceServiceRequest
		if err := proto.Unmarshal(body, &req); err != nil {
			o.bad = append(o.bad, err.Error())
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		o.raw = append(o.raw, body)
		for _, rs := range req.ResourceSpans {
			for _, ss := range rs.ScopeSpans {
				o.spans = append(o.spans, ss.Spans...)
			}
		}
		w.Header().Set("Content-Type", "application/x-protobuf")
		out, _ := proto.Marshal(&coltrace.ExportTraceServiceResponse{})
		w.Write(out)
	}))
	t.Cleanup(o.Close)
	return o
}

func attrs(s *tracepb.Span) map[string]string {
	m := map[string]string{}
	for _, kv := range s.Attributes {
		if v := kv.Value.GetStringValue(); v != "" {
			m[kv.Key] = v
		} else {
			m[kv.Key] = strconv.FormatInt(kv.Value.GetIntValue(), 10)
		}
	}
	return m
}

// TestTracingEndToEnd: a request carrying a traceparent goes through the
// gateway; the upstream receives a valid traceparent of the same trace whose
// parent is the gateway's span, and the span reaches a real OTLP/HTTP
// receiver with the API, route and status, and without the token.
func TestTracingEndToEnd(t *testing.T) {
	up := newUpstream(t)
	col := newOTLPReceiver(t)
	n := gatewayNode(t, up, func(c *config.Config) {
		c.Tracing = config.TracingConfig{OTLPEndpoint: col.URL, ServiceName: "gatehouse-test", SampleRatio: 1}
	})
	tok := n.ordersToken(t, "orders:read")
	const traceID = "4bf92f3577b34da6a3ce929d0e0e4736"
	resp, _ := n.call(t, "GET", "/orders/42", tok, map[string]string{"Traceparent": "00-" + traceID + "-00f067aa0ba902b7-01"})
	if resp.StatusCode != 200 {
		t.Fatalf("call: %d", resp.StatusCode)
	}
	got := up.last().Header.Get("Traceparent")
	m := regexp.MustCompile(`^00-([0-9a-f]{32})-([0-9a-f]{16})-01$`).FindStringSubmatch(got)
	if m == nil || m[1] != traceID || m[2] == "00f067aa0ba902b7" {
		t.Fatalf("upstream traceparent %q: want trace %s with the gateway's span as parent", got, traceID)
	}
	// A refused request gets its span too, with its status.
	if resp, _ := n.call(t, "GET", "/orders/42", "bogus", nil); resp.StatusCode != 401 {
		t.Fatalf("bogus token: %d", resp.StatusCode)
	}
	if err := n.alerting.tracer.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	col.mu.Lock()
	defer col.mu.Unlock()
	if len(col.bad) > 0 {
		t.Fatalf("bad exports: %v", col.bad)
	}
	var gw *tracepb.Span
	statuses := map[string]bool{}
	for _, s := range col.spans {
		a := attrs(s)
		if a["gatehouse.api"] == "orders" {
			statuses[s.Name+" "+a["http.response.status_code"]] = true
		}
		if strings.HasPrefix(s.Name, "GET orders") && hexID(s.TraceId) == traceID {
			gw = s
		}
	}
	if gw == nil {
		t.Fatalf("no gateway span of trace %s among %d spans", traceID, len(col.spans))
	}
	a := attrs(gw)
	if hexID(gw.SpanId) != m[2] || hexID(gw.ParentSpanId) != "00f067aa0ba902b7" || a["gatehouse.route"] != "/orders/*" || gw.Kind != tracepb.Span_SPAN_KIND_SERVER {
		t.Errorf("gateway span %s id %x parent %x attrs %v", gw.Name, gw.SpanId, gw.ParentSpanId, a)
	}
	if !statuses["GET orders 200"] || !statuses["GET orders 401"] {
		t.Errorf("span statuses %v", statuses)
	}
	for _, body := range col.raw {
		if bytes.Contains(body, []byte(tok)) || bytes.Contains(body, []byte(basicSecret)) || bytes.Contains(body, []byte("bogus")) {
			t.Error("a token or secret reached the trace export")
		}
	}
}

func hexID(b []byte) string {
	const digits = "0123456789abcdef"
	out := make([]byte, 2*len(b))
	for i, c := range b {
		out[2*i], out[2*i+1] = digits[c>>4], digits[c&15]
	}
	return string(out)
}
