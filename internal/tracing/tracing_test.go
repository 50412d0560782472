package tracing

import (
	"context"
	"net/http"
	"net/http/httptest"
	"regexp"
	"testing"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
)

var traceparent = regexp.MustCompile(`^00-([0-9a-f]{32})-([0-9a-f]{16})-0[01]$`)

func TestContinuesTheCallersTrace(t *testing.T) {
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	tr := NewWithProvider(tp)
	const parent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
	r := httptest.NewRequest("GET", "/orders/1?access_token=x", nil)
	r.Header.Set("Traceparent", parent)
	r.Header.Set("Authorization", "Bearer secret-token")
	ctx, sp := tr.Start(r, "GET orders")
	out := http.Header{"Traceparent": {"00-ffffffffffffffffffffffffffffffff-ffffffffffffffff-01"}}
	tr.Inject(ctx, out)
	sp.End()

	m := traceparent.FindStringSubmatch(out.Get("Traceparent"))
	if m == nil {
		t.Fatalf("traceparent sent upstream %q", out.Get("Traceparent"))
	}
	if m[1] != "0af7651916cd43dd8448eb211c80319c" || m[2] == "b7ad6b7169203331" {
		t.Errorf("upstream traceparent %q: want the caller's trace with our span as parent", out.Get("Traceparent"))
	}
	spans := exp.GetSpans()
	if len(spans) != 1 {
		t.Fatalf("%d spans", len(spans))
	}
	s := spans[0]
	if s.Name != "GET orders" || s.SpanContext.TraceID().String() != m[1] || s.SpanContext.SpanID().String() != m[2] ||
		s.Parent.SpanID().String() != "b7ad6b7169203331" {
		t.Errorf("span %s trace %s id %s parent %s", s.Name, s.SpanContext.TraceID(), s.SpanContext.SpanID(), s.Parent.SpanID())
	}
	for _, a := range s.Attributes {
		if v := a.Value.String(); v == "secret-token" || v == "x" || v == "/orders/1?access_token=x" {
			t.Errorf("attribute %s = %q leaks the request", a.Key, v)
		}
	}
	if err := tr.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func TestNewTraceWithoutParent(t *testing.T) {
	exp := tracetest.NewInMemoryExporter()
	tr := NewWithProvider(sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp)))
	for _, bad := range []string{"", "garbage", "00-00000000000000000000000000000000-b7ad6b7169203331-01"} {
		r := httptest.NewRequest("GET", "/", nil)
		if bad != "" {
			r.Header.Set("Traceparent", bad)
		}
		ctx, sp := tr.Start(r, "gateway")
		out := http.Header{}
		tr.Inject(ctx, out)
		sp.End()
		if m := traceparent.FindStringSubmatch(out.Get("Traceparent")); m == nil || m[1] == "00000000000000000000000000000000" {
			t.Errorf("incoming %q: upstream traceparent %q", bad, out.Get("Traceparent"))
		}
	}
}
