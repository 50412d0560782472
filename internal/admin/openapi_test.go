package admin

import (
	"bytes"
	"encoding/json"
	"net/url"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

func loadDoc(t *testing.T) map[string]any {
	t.Helper()
	var doc map[string]any
	if err := json.Unmarshal(openAPIDoc, &doc); err != nil {
		t.Fatalf("openapi.json is not JSON: %v", err)
	}
	if doc["openapi"] != "3.1.0" {
		t.Fatalf("openapi = %v, want 3.1.0", doc["openapi"])
	}
	return doc
}

// TestOpenAPICoversRoutes proves the document describes exactly the
// routes the router registers: none missing, none invented.
func TestOpenAPICoversRoutes(t *testing.T) {
	doc := loadDoc(t)
	var inDoc []string
	for path, item := range doc["paths"].(map[string]any) {
		for method := range item.(map[string]any) {
			switch method {
			case "get", "put", "post", "delete", "patch", "head", "options", "trace":
				inDoc = append(inDoc, strings.ToUpper(method)+" "+path)
			}
		}
	}
	inRouter := (&Handler{}).APIRoutes()
	sort.Strings(inDoc)
	sort.Strings(inRouter)
	for _, r := range inRouter {
		if !slices.Contains(inDoc, r) {
			t.Errorf("route %s is not in openapi.json", r)
		}
	}
	for _, r := range inDoc {
		if !slices.Contains(inRouter, r) {
			t.Errorf("openapi.json describes %s, which the router does not serve", r)
		}
	}
	// The developer marks agree too.
	paths := doc["paths"].(map[string]any)
	for _, rt := range (&Handler{}).routes() {
		item, _ := paths[rt.path].(map[string]any)
		op, _ := item[strings.ToLower(rt.method)].(map[string]any)
		if dev, ok := op["x-developer"].(bool); !ok || dev != rt.dev {
			t.Errorf("%s %s: x-developer %v in the document, developers allowed: %v", rt.method, rt.path, op["x-developer"], rt.dev)
		}
	}
	if len(inRouter) < 40 {
		t.Errorf("only %d routes: the table this test reads is not the router's", len(inRouter))
	}
}

// TestOpenAPIExamples validates every example of the document against
// the schema beside it with an independent JSON Schema (2020-12)
// validator, and checks that every $ref resolves.
func TestOpenAPIExamples(t *testing.T) {
	raw, err := jsonschema.UnmarshalJSON(bytes.NewReader(openAPIDoc))
	if err != nil {
		t.Fatal(err)
	}
	const base = "file:///openapi.json"
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	c.AssertFormat()
	if err := c.AddResource(base, raw); err != nil {
		t.Fatal(err)
	}
	doc := loadDoc(t)
	n := 0
	var walk func(v any, ptr []string)
	walk = func(v any, ptr []string) {
		switch v := v.(type) {
		case map[string]any:
			if ref, ok := v["$ref"].(string); ok {
				if resolve(doc, ref) == nil {
					t.Errorf("%s: $ref %s does not resolve", strings.Join(ptr, "/"), ref)
				}
			}
			if _, ok := v["schema"]; ok {
				if ex, ok := v["example"]; ok {
					n++
					loc := base + "#" + fragment(append(ptr, "schema"))
					sch, err := c.Compile(loc)
					if err != nil {
						t.Errorf("compile %s: %v", loc, err)
						return
					}
					// Round-trip the example through the validator's own
					// number representation.
					b, _ := json.Marshal(ex)
					inst, _ := jsonschema.UnmarshalJSON(bytes.NewReader(b))
					if err := sch.Validate(inst); err != nil {
						t.Errorf("example at %s does not validate: %v", strings.Join(ptr, "/"), err)
					}
				}
			}
			for k, x := range v {
				walk(x, append(slices.Clone(ptr), k))
			}
		case []any:
			for i, x := range v {
				walk(x, append(slices.Clone(ptr), strings.Repeat("", 0)+itoa(i)))
			}
		}
	}
	walk(doc, nil)
	if n < 80 {
		t.Errorf("only %d examples checked", n)
	}
	// A wrong example must fail, or this test proves nothing.
	sch, err := c.Compile(base + "#/components/schemas/Subscription")
	if err != nil {
		t.Fatal(err)
	}
	bad, _ := jsonschema.UnmarshalJSON(strings.NewReader(`{"id":"s","app_id":"a","api":"x","scopes":[],"approved_scopes":[],"state":"maybe","source":"admin","revision":1}`))
	if sch.Validate(bad) == nil {
		t.Error("a subscription in state maybe validated")
	}
}

func itoa(i int) string { b, _ := json.Marshal(i); return string(b) }

// fragment is a JSON pointer as a URI fragment.
func fragment(ptr []string) string {
	var b strings.Builder
	for _, p := range ptr {
		p = strings.ReplaceAll(strings.ReplaceAll(p, "~", "~0"), "/", "~1")
		b.WriteString("/" + url.PathEscape(p))
	}
	return b.String()
}

// resolve follows a local $ref.
func resolve(doc map[string]any, ref string) any {
	p, ok := strings.CutPrefix(ref, "#/")
	if !ok {
		return nil
	}
	var cur any = doc
	for _, part := range strings.Split(p, "/") {
		part = strings.ReplaceAll(strings.ReplaceAll(part, "~1", "/"), "~0", "~")
		m, ok := cur.(map[string]any)
		if !ok {
			return nil
		}
		cur = m[part]
	}
	return cur
}
