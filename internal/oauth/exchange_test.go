package oauth

import (
	"strings"
	"testing"

	"github.com/gatehouse/gatehouse"
)

func TestExchangeScopes(t *testing.T) {
	api := &gatehouse.API{Name: "inventory", Scopes: []string{"read", "write", "audit"}}
	acc := &gatehouse.Access{API: "inventory", Scopes: []string{"read", "audit", "gone"}}
	for _, tc := range []struct {
		name     string
		subject  []string
		body     string // the form, "" for none
		want     string
		wantCode string
	}{
		{"Intersection", []string{"read", "write", "audit"}, "", "read audit", ""},
		{"SubjectOrderKept", []string{"audit", "read"}, "", "audit read", ""},
		{"NotOnTheAPI", []string{"gone"}, "", "", "invalid_scope"},
		{"NothingInCommon", []string{"write"}, "", "", "invalid_scope"},
		{"Narrowed", []string{"read", "audit"}, "scope=audit", "audit", ""},
		{"WiderThanSubject", []string{"read"}, "scope=read+audit", "", "invalid_scope"},
		{"WiderThanClient", []string{"read", "write"}, "scope=write", "", "invalid_scope"},
		{"BadSyntax", []string{"read"}, "scope=read++audit", "", "invalid_scope"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, e := parseForm(tc.body)
			if e != nil {
				t.Fatal(e)
			}
			got, e := exchangeScopes(f, tc.subject, acc, api)
			if tc.wantCode != "" {
				if e == nil || e.Code != tc.wantCode {
					t.Fatalf("got %v, %v; want %s", got, e, tc.wantCode)
				}
				return
			}
			if e != nil || strings.Join(got, " ") != tc.want {
				t.Fatalf("got %q, %v; want %q", got, e, tc.want)
			}
		})
	}
}
