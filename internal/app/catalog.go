package app

import "github.com/gatehouse/gatehouse"

// catalog is the immutable set of APIs a node serves: the config's APIs and
// the built-in admin API.
type catalog struct {
	list       []*gatehouse.API
	byName     map[string]*gatehouse.API
	byAudience map[string]*gatehouse.API
}

// adminAPI protects Gatehouse's own admin surface and client registration.
func adminAPI() gatehouse.API {
	return gatehouse.API{
		Name:      gatehouse.AdminAPIName,
		Audience:  gatehouse.AdminAudience,
		Scopes:    []string{gatehouse.AdminScope},
		Lifecycle: gatehouse.LifecyclePublished,
	}
}

func newCatalog(apis []gatehouse.API) *catalog {
	c := &catalog{byName: map[string]*gatehouse.API{}, byAudience: map[string]*gatehouse.API{}}
	all := append([]gatehouse.API{adminAPI()}, apis...)
	for i := range all {
		api := &all[i]
		c.list = append(c.list, api)
		c.byName[api.Name] = api
		c.byAudience[api.Audience] = api
	}
	return c
}

func (c *catalog) API(name string) *gatehouse.API          { return c.byName[name] }
func (c *catalog) APIByAudience(aud string) *gatehouse.API { return c.byAudience[aud] }
func (c *catalog) APIs() []*gatehouse.API                  { return c.list }
