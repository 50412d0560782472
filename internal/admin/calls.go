package admin

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"net/http"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/internal/calllog"
)

// CallStore reads the call log.
type CallStore interface {
	// FindCalls returns the calls matching f in its order, keyset
	// paginated by f.After.
	FindCalls(ctx context.Context, f gatehouse.CallFilter) ([]gatehouse.Call, error)
}

// listCalls serves GET /admin/v1/calls: one page of the call log, newest
// first unless order=asc, with next_cursor when there may be more.
func (h *Handler) listCalls(w http.ResponseWriter, r *http.Request) {
	if h.Calls == nil {
		writeProblem(w, http.StatusNotFound, "call log disabled", "call_log.enabled is false in the configuration")
		return
	}
	f, err := calllog.ParseFilter(r.URL.Query(), h.now(), calllog.MaxLimit)
	if err != nil {
		writeProblem(w, http.StatusBadRequest, "invalid query", err.Error())
		return
	}
	cs, err := h.Calls.FindCalls(r.Context(), f)
	if err != nil {
		h.Log.Error("find calls", "err", err)
		writeProblem(w, http.StatusInternalServerError, "internal error", "the call log could not be read")
		return
	}
	out := struct {
		Calls      []calllog.Record `json:"calls"`
		NextCursor string           `json:"next_cursor,omitempty"`
	}{Calls: make([]calllog.Record, len(cs))}
	for i := range cs {
		out.Calls[i] = calllog.RecordOf(&cs[i])
	}
	if len(cs) == f.Limit {
		last := cs[len(cs)-1]
		out.NextCursor = calllog.EncodeCursor(gatehouse.CallCursor{Time: last.Time, ID: last.ID})
	}
	writeJSON(w, http.StatusOK, out)
}

// exportCalls serves GET /admin/v1/calls/export?format=ndjson|csv: every
// call matching the filters (oldest first unless order=desc; limit caps the
// total), streamed page by page so that memory stays flat.
func (h *Handler) exportCalls(w http.ResponseWriter, r *http.Request) {
	if h.Calls == nil {
		writeProblem(w, http.StatusNotFound, "call log disabled", "call_log.enabled is false in the configuration")
		return
	}
	q := r.URL.Query()
	format := q.Get("format")
	if format == "" {
		format = "ndjson"
	}
	if format != "ndjson" && format != "csv" {
		writeProblem(w, http.StatusBadRequest, "invalid query", "format: expected ndjson or csv")
		return
	}
	if !q.Has("order") {
		q.Set("order", "asc")
	}
	f, err := calllog.ParseFilter(q, h.now(), 0)
	if err != nil {
		writeProblem(w, http.StatusBadRequest, "invalid query", err.Error())
		return
	}
	if format == "csv" {
		w.Header().Set("Content-Type", "text/csv; charset=utf-8")
		w.Header().Set("Content-Disposition", `attachment; filename="calls.csv"`)
	} else {
		w.Header().Set("Content-Type", "application/x-ndjson")
	}
	w.Header().Set("Cache-Control", "no-store")
	err = ExportCalls(r.Context(), h.Calls, f, format, w, func() { _ = http.NewResponseController(w).Flush() })
	if err != nil {
		// The status is sent; a broken stream is all the client can see.
		h.Log.Error("export calls", "err", err)
	}
}

// ExportCalls writes every call matching f (f.Limit caps the total; 0 is
// no cap) in format (ndjson or csv) to w, reading the store a page at a
// time and calling flush after each page. The CLI uses it too.
func ExportCalls(ctx context.Context, s CallStore, f gatehouse.CallFilter, format string, w interface{ Write([]byte) (int, error) }, flush func()) error {
	total := f.Limit
	var cw *csv.Writer
	enc := json.NewEncoder(w)
	if format == "csv" {
		cw = csv.NewWriter(w)
		if err := cw.Write(calllog.CSVHeader); err != nil {
			return err
		}
	}
	written := 0
	for {
		f.Limit = calllog.MaxLimit
		if total > 0 {
			f.Limit = min(f.Limit, total-written)
		}
		cs, err := s.FindCalls(ctx, f)
		if err != nil {
			return err
		}
		for i := range cs {
			if cw != nil {
				err = cw.Write(calllog.CSVRow(&cs[i]))
			} else {
				err = enc.Encode(calllog.RecordOf(&cs[i]))
			}
			if err != nil {
				return err
			}
		}
		written += len(cs)
		if cw != nil {
			cw.Flush()
			if err := cw.Error(); err != nil {
				return err
			}
		}
		if flush != nil {
			flush()
		}
		if len(cs) < f.Limit || (total > 0 && written >= total) {
			return nil
		}
		last := cs[len(cs)-1]
		f.After = &gatehouse.CallCursor{Time: last.Time, ID: last.ID}
	}
}
