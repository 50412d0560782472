package app

import (
	"context"
	"net/http"
	"strings"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
)

// requestSpan is the server span of one request on the public listener.
type requestSpan struct{ span trace.Span }

// startSpan begins r's span. Its name is the OAuth endpoint, or "gateway"
// until the router names the API (spanRoute): never the raw path, which
// may carry ids.
func (w *alerting) startSpan(ctx context.Context, r *http.Request) (context.Context, *requestSpan) {
	name := "gateway"
	if strings.HasPrefix(r.URL.Path, "/oauth/") || strings.HasPrefix(r.URL.Path, "/.well-known/") {
		name = r.Method + " " + oauthEndpoint(r.URL.Path)
	}
	ctx, sp := w.tracer.Start(r.WithContext(ctx), name)
	return ctx, &requestSpan{span: sp}
}

// oauthEndpoint names an OAuth path for a span: a known endpoint, or
// "/oauth/*" for anything else (a client may put junk in the path).
func oauthEndpoint(p string) string {
	switch p {
	case "/oauth/token", "/oauth/revoke", "/oauth/introspect", "/oauth/register", "/oauth/authorize", "/oauth/account",
		"/.well-known/oauth-authorization-server", "/.well-known/jwks.json":
		return p
	}
	return "/oauth/*"
}

// spanRoute names the span of a routed gateway request after its API and
// route pattern.
func spanRoute(ctx context.Context, method, api, route string) {
	sp := trace.SpanFromContext(ctx)
	sp.SetName(method + " " + api)
	sp.SetAttributes(attribute.String("gatehouse.api", api), attribute.String("gatehouse.route", route))
}

func (s *requestSpan) end(status int) {
	s.span.SetAttributes(attribute.Int("http.response.status_code", status))
	if status >= 500 {
		s.span.SetStatus(codes.Error, http.StatusText(status))
	}
	s.span.End()
}
