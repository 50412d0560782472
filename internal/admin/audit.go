package admin

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/internal/audit"
)

// AuditLog appends to and reads the audit log (audit.Log).
type AuditLog interface {
	Append(ctx context.Context, r audit.Record) (*gatehouse.AuditEntry, error)
	FindAuditEntries(ctx context.Context, f gatehouse.AuditFilter) ([]*gatehouse.AuditEntry, error)
}

// auditRoutePatterns are the audit endpoints (see routes()); the OpenAPI
// document must list exactly these (audit_test.go).
var auditRoutePatterns = []string{"GET /admin/v1/audit", "GET /admin/v1/audit/export"}

// badParam is the problem of a query parameter the audit endpoints refuse.
func badParam(field, reason string) error { return invalidParam(field, reason) }

// withAudit adapts an audit endpoint to the route table; without an audit
// log the endpoints answer 404.
func (h *Handler) withAudit(fn func(w http.ResponseWriter, r *http.Request) error) func(http.ResponseWriter, *http.Request, *Principal) error {
	return func(w http.ResponseWriter, r *http.Request, _ *Principal) error {
		if h.Audit == nil {
			return notFound("admin resource")
		}
		return fn(w, r)
	}
}

// Audit list limits, those of every list of the admin API.
const (
	defaultAuditPage = 50
	maxAuditPage     = 500
	exportPage       = 500
)

// auditQuery reads the filters shared by the list and the export. Every
// parameter may appear once; unknown ones are refused, so a typo does not
// silently return everything.
func auditQuery(r *http.Request, allowed ...string) (gatehouse.AuditFilter, url.Values, error) {
	var f gatehouse.AuditFilter
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return f, nil, badParam("query", "the query string is malformed")
	}
	for k, vs := range q {
		switch {
		case !slices.Contains(allowed, k):
			return f, nil, badParam(k, "unknown query parameter; expected "+strings.Join(allowed, ", "))
		case len(vs) != 1:
			return f, nil, badParam(k, "given more than once")
		}
	}
	for _, p := range []struct {
		name string
		dst  *time.Time
	}{{"since", &f.Since}, {"until", &f.Until}} {
		if v := q.Get(p.name); v != "" {
			t, err := time.Parse(time.RFC3339Nano, v)
			if err != nil {
				return f, nil, badParam(p.name, strconv.Quote(v)+" is not an RFC 3339 time such as 2026-01-02T15:04:05Z")
			}
			*p.dst = t
		}
	}
	if !f.Since.IsZero() && !f.Until.IsZero() && !f.Until.After(f.Since) {
		return f, nil, badParam("until", "must be after since")
	}
	f.Action, f.Actor = q.Get("action"), q.Get("actor")
	return f, q, nil
}

// listAudit serves GET /admin/v1/audit: entries in ascending seq, filtered
// by since (inclusive), until (exclusive), action and actor (exact), a page
// of `limit` (default 50, at most 500) after `cursor`, the next_cursor of
// the previous page (opaque).
func (h *Handler) listAudit(w http.ResponseWriter, r *http.Request) error {
	f, q, err := auditQuery(r, "since", "until", "action", "actor", "cursor", "limit")
	if err != nil {
		return err
	}
	f.Limit = defaultAuditPage
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxAuditPage {
			return badParam("limit", "must be a whole number from 1 to 500")
		}
		f.Limit = n
	}
	if v := q.Get("cursor"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 1 {
			return badParam("cursor", "not a cursor this API returned")
		}
		f.AfterSeq = n
	}
	limit := f.Limit
	f.Limit++ // one more tells whether there is a next page
	es, err := h.Audit.FindAuditEntries(r.Context(), f)
	if err != nil {
		return fmt.Errorf("find audit entries: %w", err)
	}
	page := struct {
		Items      []audit.Wire `json:"items"`
		NextCursor string       `json:"next_cursor,omitempty"`
	}{Items: []audit.Wire{}}
	for i, e := range es {
		if i == limit {
			page.NextCursor = strconv.FormatInt(es[i-1].Seq, 10)
			break
		}
		page.Items = append(page.Items, audit.ToWire(e))
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, page)
	return nil
}

// exportAudit serves GET /admin/v1/audit/export: every matching entry as
// NDJSON (one audit.Wire per line), streamed page by page. A failure after
// the first byte aborts the response, so a client never mistakes a cut
// stream for a whole one.
func (h *Handler) exportAudit(w http.ResponseWriter, r *http.Request) error {
	f, _, err := auditQuery(r, "since", "until", "action", "actor")
	if err != nil {
		return err
	}
	ctx := r.Context()
	rc := http.NewResponseController(w)
	f.Limit = exportPage
	started := false
	for {
		es, err := h.Audit.FindAuditEntries(ctx, f)
		if err != nil {
			if !started {
				return fmt.Errorf("export audit entries: %w", err)
			}
			h.Log.Error("export audit entries", "err", err)
			panic(http.ErrAbortHandler)
		}
		if !started {
			w.Header().Set("Content-Type", "application/x-ndjson")
			w.Header().Set("Cache-Control", "no-store")
			w.WriteHeader(http.StatusOK)
			started = true
		}
		// The listener's write timeout bounds one page, not the export.
		_ = rc.SetWriteDeadline(time.Now().Add(time.Minute))
		var buf bytes.Buffer
		for _, e := range es {
			line, err := audit.MarshalLine(e)
			if err != nil {
				h.Log.Error("export audit entry", "seq", e.Seq, "err", err)
				panic(http.ErrAbortHandler)
			}
			buf.Write(line)
			f.AfterSeq = e.Seq
		}
		if _, err := w.Write(buf.Bytes()); err != nil {
			return nil // the client went away
		}
		if len(es) < exportPage {
			return nil
		}
		_ = rc.Flush()
	}
}

// auditNote carries what authentication learned about the caller to
// auditRequests.
type auditNote struct {
	actor, clientID, reason string
}

type auditNoteKey struct{}

// noteActor tells the audit middleware whose verified token this request
// bears. Authentication calls it as soon as the token verifies, before the
// scope and role checks, so that a refused token is attributed too.
func noteActor(r *http.Request, subject, clientID string) {
	if n, ok := r.Context().Value(auditNoteKey{}).(*auditNote); ok {
		n.actor, n.clientID = subject, clientID
	}
}

// noteAuthFailure tells the audit middleware why authentication refused
// the request (the reason that is logged; never the token).
func noteAuthFailure(r *http.Request, reason string) {
	if n, ok := r.Context().Value(auditNoteKey{}).(*auditNote); ok {
		n.reason = reason
	}
}

// Failed authentications and refusals are capped so that a flood of bad
// tokens cannot flood the log: at most failureBurst entries per minute; the
// next recorded one says how many were left out.
const failureBurst = 60

type failureCap struct {
	mu         sync.Mutex
	window     time.Time
	n          int
	suppressed int
}

// take reports whether a failure may be recorded now, and how many were
// suppressed before it.
func (c *failureCap) take(now time.Time) (bool, int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if now.Sub(c.window) >= time.Minute || now.Before(c.window) {
		c.window, c.n = now, 0
	}
	if c.n >= failureBurst {
		c.suppressed++
		return false, 0
	}
	c.n++
	s := c.suppressed
	c.suppressed = 0
	return true, s
}

// auditRequests records in the audit log every mutating admin request
// (POST, PUT, PATCH, DELETE) made with a verified token, whatever its
// outcome; every failed authentication (401) and every refusal (403),
// whatever the method. Reads that succeed are not recorded. The entry is
// appended after the handler returns and before the response is complete,
// so a client that sees the response can read its entry; a failure to
// append is logged (the action itself has happened). Detail values are
// bounded (160 bytes each) so the details always fit MaxDetailsLen.
func (h *Handler) auditRequests(next http.Handler) http.Handler {
	if h.Audit == nil {
		return next
	}
	failures := &failureCap{}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		note := &auditNote{}
		r = r.WithContext(context.WithValue(r.Context(), auditNoteKey{}, note))
		rec := &auditRecorder{ResponseWriter: w, capture: r.Method == http.MethodPost || r.Method == http.MethodPut}
		next.ServeHTTP(rec, r)
		if rec.status == 0 {
			rec.status = http.StatusOK
		}
		mutating := r.Method == http.MethodPost || r.Method == http.MethodPut || r.Method == http.MethodPatch || r.Method == http.MethodDelete
		var rcd audit.Record
		switch {
		case rec.status == http.StatusUnauthorized:
			rcd = h.failureRecord(r, note, rec, "admin.authentication_failed")
		case rec.status == http.StatusForbidden:
			rcd = h.failureRecord(r, note, rec, "admin.access_denied")
		case mutating && note.actor != "":
			rcd = actionRecord(r, note, rec)
		default:
			return
		}
		if rcd.Outcome == gatehouse.AuditDenied {
			ok, suppressed := failures.take(h.now())
			if !ok {
				return
			}
			if suppressed > 0 {
				rcd.Details["suppressed_before"] = strconv.Itoa(suppressed)
			}
		}
		// The request may be cancelled once the handler has answered; the
		// entry must still be written.
		ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), 5*time.Second)
		defer cancel()
		if _, err := h.Audit.Append(ctx, rcd); err != nil {
			h.Log.Error("audit append failed", "action", rcd.Action, "err", err)
		}
	})
}

// failureRecord describes a refused request: the actor is the token's
// subject when it verified, else "anonymous"; the address is always kept.
func (h *Handler) failureRecord(r *http.Request, note *auditNote, rec *auditRecorder, action string) audit.Record {
	actor := note.actor
	if actor == "" {
		actor = "anonymous"
	}
	d := requestDetails(r, note, rec)
	d["path"] = audit.CleanN(r.URL.Path, 160)
	if e := bearerError(rec.Header().Get("WWW-Authenticate")); e != "" {
		d["error"] = e
	}
	if note.reason != "" {
		d["reason"] = audit.CleanN(note.reason, 160)
	}
	return audit.Record{Actor: clean(actor), Action: action, TargetType: "admin_api", TargetID: clean(routeOf(r)),
		Outcome: gatehouse.AuditDenied, Details: d}
}

// actionRecord describes an authenticated mutating request.
func actionRecord(r *http.Request, note *auditNote, rec *auditRecorder) audit.Record {
	typ, id := target(r)
	if id == "" && rec.status == http.StatusCreated {
		id = createdID(rec)
	}
	outcome := gatehouse.AuditSuccess
	if rec.status >= 400 {
		outcome = gatehouse.AuditFailure
	}
	return audit.Record{Actor: clean(note.actor), Action: clean(r.Method + " " + routeOf(r)), TargetType: clean(typ),
		TargetID: clean(id), Outcome: outcome, Details: requestDetails(r, note, rec)}
}

func requestDetails(r *http.Request, note *auditNote, rec *auditRecorder) map[string]string {
	d := map[string]string{"method": r.Method, "status": strconv.Itoa(rec.status)}
	if host, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		d["address"] = host
	}
	if note.clientID != "" && note.clientID != note.actor {
		d["client_id"] = audit.CleanN(note.clientID, 160)
	}
	return d
}

// routeOf is the pattern that matched, without its method ("" when none).
func routeOf(r *http.Request) string {
	p := r.Pattern
	if i := strings.IndexByte(p, ' '); i >= 0 {
		p = p[i+1:]
	}
	if p == "" {
		return "(no route)"
	}
	return p
}

// target names what a request acted on, from its route: the last wildcard
// and the segment before it (/admin/v1/users/{id}/revoke-grants: users,
// the id), or else the first segment after /admin/v1/ with no id.
func target(r *http.Request) (typ, id string) {
	segs := strings.Split(strings.Trim(routeOf(r), "/"), "/")
	for i := len(segs) - 1; i > 0; i-- {
		s := segs[i]
		if strings.HasPrefix(s, "{") && strings.HasSuffix(s, "}") {
			name := strings.TrimSuffix(strings.TrimSuffix(s[1:len(s)-1], "..."), "$")
			return segs[i-1], r.PathValue(name)
		}
	}
	if len(segs) >= 3 && segs[0] == "admin" && segs[1] == "v1" {
		return segs[2], ""
	}
	return "", ""
}

// createdID finds the id of what a 201 response created: the last segment
// of its Location, or an "id" member of its JSON body. Nothing else of the
// body is read (it may hold a new secret).
func createdID(rec *auditRecorder) string {
	if loc := rec.Header().Get("Location"); loc != "" {
		if u, err := url.Parse(loc); err == nil {
			if i := strings.LastIndexByte(strings.TrimSuffix(u.Path, "/"), '/'); i >= 0 {
				return strings.TrimSuffix(u.Path, "/")[i+1:]
			}
		}
	}
	var body struct {
		ID json.RawMessage `json:"id"`
	}
	if json.Unmarshal(rec.body.Bytes(), &body) != nil || len(body.ID) == 0 {
		return ""
	}
	var s string
	if json.Unmarshal(body.ID, &s) == nil {
		return s
	}
	return string(body.ID) // a number
}

// bearerError extracts error="..." from a Bearer challenge.
func bearerError(challenge string) string {
	_, rest, ok := strings.Cut(challenge, `error="`)
	if !ok {
		return ""
	}
	e, _, _ := strings.Cut(rest, `"`)
	return audit.CleanN(e, 64)
}

// clean makes s fit an audit field.
func clean(s string) string { return audit.Clean(s) }

// maxCapture bounds how much of a response body is kept to find an id.
const maxCapture = 4096

// auditRecorder keeps the status and, when asked, the start of the body.
type auditRecorder struct {
	http.ResponseWriter
	status  int
	capture bool
	body    bytes.Buffer
}

func (a *auditRecorder) WriteHeader(code int) {
	if a.status == 0 {
		a.status = code
	}
	a.ResponseWriter.WriteHeader(code)
}

func (a *auditRecorder) Write(p []byte) (int, error) {
	if a.status == 0 {
		a.status = http.StatusOK
	}
	if a.capture && a.body.Len() < maxCapture {
		a.body.Write(p[:min(len(p), maxCapture-a.body.Len())])
	}
	return a.ResponseWriter.Write(p)
}

// Unwrap lets http.ResponseController reach the connection (flush, write
// deadlines).
func (a *auditRecorder) Unwrap() http.ResponseWriter { return a.ResponseWriter }

// Flush passes flushes through for handlers that assert http.Flusher.
func (a *auditRecorder) Flush() { _ = http.NewResponseController(a.ResponseWriter).Flush() }
