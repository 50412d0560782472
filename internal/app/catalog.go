package app

import (
	"sync/atomic"

	"github.com/gatehouse/gatehouse"
)

// catalog is the set of APIs a node serves: the config's APIs and the
// built-in admin API. A reload swaps the whole set at once, so a request
// sees either the old or the new catalog, never a mix.
type catalog struct {
	cur atomic.Pointer[catalogSet]
}

type catalogSet struct {
	list       []*gatehouse.API
	byName     map[string]*gatehouse.API
	byAudience map[string]*gatehouse.API
}

// adminAPI protects Gatehouse's own admin surface and client registration.
func adminAPI() gatehouse.API {
	return gatehouse.API{
		Name:      gatehouse.AdminAPIName,
		Audience:  gatehouse.AdminAudience,
		Scopes:    []string{gatehouse.AdminScope, gatehouse.AdminReadScope, gatehouse.DeveloperScope},
		Lifecycle: gatehouse.LifecyclePublished,
	}
}

func newCatalog(apis []gatehouse.API) *catalog {
	c := &catalog{}
	c.set(apis)
	return c
}

func (c *catalog) set(apis []gatehouse.API) {
	s := &catalogSet{byName: map[string]*gatehouse.API{}, byAudience: map[string]*gatehouse.API{}}
	all := append([]gatehouse.API{adminAPI()}, apis...)
	for i := range all {
		api := &all[i]
		s.list = append(s.list, api)
		s.byName[api.Name] = api
		s.byAudience[api.Audience] = api
	}
	c.cur.Store(s)
}

func (c *catalog) API(name string) *gatehouse.API          { return c.cur.Load().byName[name] }
func (c *catalog) APIByAudience(aud string) *gatehouse.API { return c.cur.Load().byAudience[aud] }
func (c *catalog) APIs() []*gatehouse.API                  { return c.cur.Load().list }
