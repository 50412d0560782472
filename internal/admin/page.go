package admin

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"slices"
	"strconv"
	"strings"
)

// Pagination: lists are ordered by id and cut into pages of `limit` items
// (default 50, at most 500). A response whose list may go on carries
// next_cursor; passing it back as ?cursor= returns the page after. The
// cursor is opaque to clients (base64url of the last id seen, versioned).
const (
	defaultLimit = 50
	maxLimit     = 500
)

type page struct {
	Limit int
	After string // the id the previous page ended with; "" for the first page
}

// list is the shape of every list response.
type list[T any] struct {
	Items      []T    `json:"items"`
	NextCursor string `json:"next_cursor,omitempty"`
}

// newList cuts items (fetched with limit+1) to the page and sets the
// cursor when there is more.
func newList[T any](items []T, p page, id func(T) string) list[T] {
	l := list[T]{Items: items}
	if l.Items == nil {
		l.Items = []T{}
	}
	if len(items) > p.Limit {
		l.Items = items[:p.Limit]
		l.NextCursor = encodeCursor(id(l.Items[p.Limit-1]))
	}
	return l
}

func encodeCursor(after string) string {
	return base64.RawURLEncoding.EncodeToString([]byte("v1:" + after))
}

// parseQuery checks that every query parameter is one the route knows
// (filters plus limit and cursor) and appears once, and reads the page.
func parseQuery(r *http.Request, filters ...string) (page, error) {
	q := r.URL.Query()
	for k, v := range q {
		if k != "limit" && k != "cursor" && !slices.Contains(filters, k) {
			return page{}, invalidParam(k, "unknown query parameter; known: "+strings.Join(append([]string{"limit", "cursor"}, filters...), ", "))
		}
		if len(v) > 1 {
			return page{}, invalidParam(k, "given more than once")
		}
	}
	p := page{Limit: defaultLimit}
	if s := q.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > maxLimit {
			return page{}, invalidParam("limit", "must be an integer from 1 to "+strconv.Itoa(maxLimit))
		}
		p.Limit = n
	}
	if c := q.Get("cursor"); c != "" {
		b, err := base64.RawURLEncoding.Strict().DecodeString(c)
		after, ok := strings.CutPrefix(string(b), "v1:")
		if err != nil || !ok || after == "" {
			return page{}, invalidParam("cursor", "not a cursor this server returned")
		}
		p.After = after
	}
	return p, nil
}

// etagOf is a strong validator of a resource: a hash of its JSON
// representation, so any visible change changes it.
func etagOf(v any) string {
	b, _ := json.Marshal(v)
	sum := sha256.Sum256(b)
	return `"` + base64.RawURLEncoding.EncodeToString(sum[:18]) + `"`
}

// writeResource answers with one resource and its ETag.
func writeResource(w http.ResponseWriter, status int, v any) {
	w.Header().Set("ETag", etagOf(v))
	writeJSON(w, status, v)
}
