package storetest

import (
	"slices"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse"
)

func tokenIDs(toks []*gatehouse.Token) []string {
	var ids []string
	for _, t := range toks {
		ids = append(ids, t.ID)
	}
	return ids
}

var findTokensTests = []test{
	{"FiltersAndPages", func(t *testing.T, s Store) {
		a := newToken("a", "", t0.Add(time.Hour))
		b := newToken("b", "", t0.Add(time.Hour))
		b.ClientID, b.Kind = "client-2", gatehouse.KindAccess
		c := newToken("c", "", t0.Add(-time.Minute)) // expired at t0
		d := newToken("d", "", t0.Add(time.Hour))
		d.Subject, d.Audience = "user-2", "https://billing.example"
		e := newToken("e", "", t0.Add(time.Hour))
		for _, tok := range []*gatehouse.Token{e, c, a, d, b} {
			createToken(t, s, tok)
		}
		if _, err := s.RevokeToken(t.Context(), "e", t0); err != nil {
			t.Fatal(err)
		}
		for _, tc := range []struct {
			name string
			f    gatehouse.TokenFilter
			want []string
		}{
			{"All", gatehouse.TokenFilter{}, []string{"a", "b", "c", "d", "e"}},
			{"Client", gatehouse.TokenFilter{ClientID: "client-1"}, []string{"a", "c", "d", "e"}},
			{"Subject", gatehouse.TokenFilter{Subject: "user-2"}, []string{"d"}},
			{"Audience", gatehouse.TokenFilter{Audience: "https://billing.example"}, []string{"d"}},
			{"Kind", gatehouse.TokenFilter{Kind: gatehouse.KindAccess}, []string{"b"}},
			{"Active", gatehouse.TokenFilter{ActiveAt: t0}, []string{"a", "b", "d"}},
			{"FirstPage", gatehouse.TokenFilter{Limit: 2}, []string{"a", "b"}},
			{"NextPage", gatehouse.TokenFilter{After: "b", Limit: 2}, []string{"c", "d"}},
			{"LastPage", gatehouse.TokenFilter{After: "d", Limit: 2}, []string{"e"}},
			{"Combined", gatehouse.TokenFilter{ClientID: "client-1", ActiveAt: t0, After: "a"}, []string{"d"}},
			{"None", gatehouse.TokenFilter{ClientID: "nobody"}, nil},
		} {
			got, err := s.FindTokens(t.Context(), tc.f)
			if err != nil {
				t.Fatalf("%s: %v", tc.name, err)
			}
			if ids := tokenIDs(got); !slices.Equal(ids, tc.want) {
				t.Errorf("%s: got %v, want %v", tc.name, ids, tc.want)
			}
		}
		got, err := s.FindTokens(t.Context(), gatehouse.TokenFilter{Subject: "user-2"})
		if err != nil || len(got) != 1 {
			t.Fatalf("FindTokens: %v %v", got, err)
		}
		if d := diff(got[0], d); d != "" {
			t.Errorf("FindTokens record (-got +want):\n%s", d)
		}
	}},
}
