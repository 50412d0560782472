// Package tracing makes OpenTelemetry spans for requests through Gatehouse
// and exports them over OTLP/HTTP. It propagates W3C Trace Context
// (traceparent, tracestate): a request's incoming context becomes the
// parent of its span, and the span's context is sent to the upstream.
//
// Without a configured endpoint nothing of this package runs: the node
// does not wrap its handlers, so requests pay nothing.
package tracing

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
)

// Config says where spans go.
type Config struct {
	// Endpoint is the OTLP/HTTP receiver's base URL; spans are POSTed to
	// Endpoint + "/v1/traces" as protobuf.
	Endpoint    string
	ServiceName string
	// SampleRatio of new traces to record; a request whose caller sampled
	// its trace is always recorded (parent-based sampling).
	SampleRatio float64
	// BatchTimeout is how long spans wait to be exported together; zero
	// means the SDK's default (5 s).
	BatchTimeout time.Duration
}

// Tracer starts request spans and exports them.
type Tracer struct {
	tp   *sdktrace.TracerProvider
	tr   trace.Tracer
	prop propagation.TextMapPropagator
}

// New returns a Tracer exporting to cfg.Endpoint. It does not contact the
// receiver: exports happen in the background and failures are retried by
// the exporter, then dropped.
func New(ctx context.Context, cfg Config) (*Tracer, error) {
	exp, err := otlptracehttp.New(ctx,
		otlptracehttp.WithEndpointURL(cfg.Endpoint+"/v1/traces"),
		otlptracehttp.WithTimeout(10*time.Second))
	if err != nil {
		return nil, fmt.Errorf("tracing: otlp exporter: %w", err)
	}
	res := resource.NewSchemaless(attribute.String("service.name", cfg.ServiceName))
	var batch []sdktrace.BatchSpanProcessorOption
	if cfg.BatchTimeout > 0 {
		batch = append(batch, sdktrace.WithBatchTimeout(cfg.BatchTimeout))
	}
	tp := sdktrace.NewTracerProvider(
		sdktrace.WithBatcher(exp, batch...),
		sdktrace.WithResource(res),
		sdktrace.WithSampler(sdktrace.ParentBased(sdktrace.TraceIDRatioBased(cfg.SampleRatio))),
	)
	return newTracer(tp), nil
}

// NewWithProvider returns a Tracer using tp (tests: an in-memory exporter).
func NewWithProvider(tp *sdktrace.TracerProvider) *Tracer { return newTracer(tp) }

func newTracer(tp *sdktrace.TracerProvider) *Tracer {
	return &Tracer{tp: tp, tr: tp.Tracer("github.com/gatehouse/gatehouse"), prop: propagation.TraceContext{}}
}

// Start begins the server span of r, continuing the caller's trace when r
// carries a valid traceparent. The span's name is name; it carries the
// method only: the path may hold ids and the query secrets, and headers
// (Authorization, cookies) never go into spans.
func (t *Tracer) Start(r *http.Request, name string) (context.Context, trace.Span) {
	ctx := t.prop.Extract(r.Context(), propagation.HeaderCarrier(r.Header))
	return t.tr.Start(ctx, name, trace.WithSpanKind(trace.SpanKindServer),
		trace.WithAttributes(attribute.String("http.request.method", r.Method)))
}

// Inject writes the trace context of ctx's span into h (traceparent and
// tracestate), replacing what the client sent.
func (t *Tracer) Inject(ctx context.Context, h http.Header) {
	h.Del("Traceparent")
	h.Del("Tracestate")
	t.prop.Inject(ctx, propagation.HeaderCarrier(h))
}

// Flush exports the spans that ended so far.
func (t *Tracer) Flush(ctx context.Context) error { return t.tp.ForceFlush(ctx) }

// Shutdown exports what is buffered and stops the exporter.
func (t *Tracer) Shutdown(ctx context.Context) error { return t.tp.Shutdown(ctx) }
