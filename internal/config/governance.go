package config

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/gatehouse/gatehouse"
)

var (
	teamKeys         = []string{"name", "description"}
	subscriptionKeys = []string{"app", "api", "scopes", "approved_scopes", "state", "reason", "expires_at"}
	approvals        = []string{string(gatehouse.ApprovalAuto), string(gatehouse.ApprovalManual)}
	roles            = []string{string(gatehouse.RoleOwner), string(gatehouse.RoleAdmin), string(gatehouse.RoleAuditor), string(gatehouse.RoleDeveloper)}
	// States a file may declare. Expired is reached by time, not declared.
	fileSubStates = []string{string(gatehouse.SubPending), string(gatehouse.SubApproved), string(gatehouse.SubSuspended),
		string(gatehouse.SubRejected), string(gatehouse.SubRevoked)}

	teamNameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,62}$`)
	versionRE  = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,31}$`)

	openAPIVersionRE = regexp.MustCompile(`^3\.\d+\.\d+`)
)

const (
	maxDescription = 1000
	// MaxOpenAPIBytes caps an imported OpenAPI document.
	MaxOpenAPIBytes = 4 << 20
)

// Subscription is a subscription the file declares beyond the approved ones
// its clients' apis entries imply.
type Subscription struct {
	App            string
	API            string
	Scopes         []string
	ApprovedScopes []string
	State          gatehouse.SubscriptionState
	Reason         string
	ExpiresAt      time.Time
}

func (d *decoder) teams(n *yaml.Node) []gatehouse.Team {
	nodes, _ := d.list(n, "teams", "teams (mappings with name and description)")
	var out []gatehouse.Team
	seen := map[string]string{}
	for i, it := range nodes {
		path := index("teams", i)
		o, ok := d.object(it, path, nodeLine(it), teamKeys)
		if !ok {
			continue
		}
		var t gatehouse.Team
		var nameOK bool
		t.Name, nameOK = d.str(o.get("name"), join(path, "name"))
		switch {
		case !nameOK:
		case t.Name == "":
			d.report(o.line, join(path, "name"), "is required: a short name such as \"payments\" (lower-case letters, digits and -)")
		case !teamNameRE.MatchString(t.Name):
			d.report(o.lineOf("name"), join(path, "name"), "%q is not a valid team name; expected 1 to 63 lower-case letters, digits and -, starting with a letter or digit", t.Name)
		case seen[t.Name] != "":
			d.report(o.lineOf("name"), join(path, "name"), "%q is already the name of %s; team names must be unique", t.Name, seen[t.Name])
		default:
			seen[t.Name] = path
		}
		t.Description = d.description(o, join(path, "description"))
		out = append(out, t)
	}
	return out
}

// description decodes an optional one-paragraph description.
func (d *decoder) description(o object, key string) string {
	s, _ := d.str(o.get("description"), key)
	if len([]rune(s)) > maxDescription || strings.ContainsFunc(s, func(r rune) bool { return r < 0x20 && r != '\n' || r == 0x7f }) {
		d.report(o.lineOf("description"), key, "must be text of at most %d characters without control characters", maxDescription)
		return ""
	}
	return s
}

// apiGovernance decodes the catalog keys of an API: family, version,
// approval, description and the OpenAPI document.
func (d *decoder) apiGovernance(o object, path string, api *gatehouse.API) {
	key := func(k string) string { return join(path, k) }
	if fam, _ := d.str(o.get("family"), key("family")); fam != "" {
		if !apiNameRE.MatchString(fam) {
			d.report(o.lineOf("family"), key("family"), "%q is not a valid family; expected 1 to 63 lower-case letters, digits and -, like API names", fam)
		}
		api.Family = fam
	}
	if v, _ := d.str(o.get("version"), key("version")); v != "" {
		if !versionRE.MatchString(v) {
			d.report(o.lineOf("version"), key("version"), "%q is not a valid version label; expected up to 32 letters, digits and . _ -, such as v2 or 2024-06", v)
		}
		api.Version = v
	}
	a, _ := d.enum(o.get("approval"), key("approval"), approvals)
	api.Approval = gatehouse.Approval(a)
	if api.Approval == "" {
		api.Approval = gatehouse.ApprovalAuto
	}
	api.Description = d.description(o, key("description"))
	if file, _ := d.str(o.get("openapi"), key("openapi")); file != "" {
		api.OpenAPI = d.openAPIFile(o.lineOf("openapi"), key("openapi"), file)
	}
}

func (d *decoder) openAPIFile(line int, path, file string) []byte {
	p := d.resolvePath(file)
	data, err := d.readFile(p)
	if errors.Is(err, fs.ErrNotExist) {
		d.report(line, path, "%q does not exist (looked for %s); expected an OpenAPI document (JSON or YAML), its path relative to the config file's directory", file, filepath.ToSlash(p))
		return nil
	} else if err != nil {
		d.report(line, path, "cannot read %q: %v", file, err)
		return nil
	}
	if _, err := CheckOpenAPI(data); err != nil {
		d.report(line, path, "%q %v", file, err)
		return nil
	}
	return data
}

// CheckOpenAPI checks that data is an OpenAPI document: a JSON or YAML
// mapping whose "openapi" member is a version string such as "3.1.0". It
// returns that version. The document is kept as given; nothing else of it
// is interpreted.
func CheckOpenAPI(data []byte) (string, error) {
	if len(data) == 0 {
		return "", errors.New("is empty; expected an OpenAPI document")
	}
	if len(data) > MaxOpenAPIBytes {
		return "", fmt.Errorf("is larger than %d bytes", MaxOpenAPIBytes)
	}
	var root yaml.Node
	// YAML 1.2 is a superset of JSON: one decoder reads both.
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&root); err != nil {
		return "", fmt.Errorf("is neither valid JSON nor valid YAML: %v", strings.TrimPrefix(err.Error(), "yaml: "))
	}
	doc := &root
	if doc.Kind == yaml.DocumentNode && len(doc.Content) == 1 {
		doc = doc.Content[0]
	}
	doc = resolve(doc)
	if doc == nil || doc.Kind != yaml.MappingNode {
		return "", errors.New("is not an OpenAPI document: the top level must be a mapping (object) with an \"openapi\" member")
	}
	for i := 0; i+1 < len(doc.Content); i += 2 {
		k, v := doc.Content[i], resolve(doc.Content[i+1])
		if k.Value != "openapi" {
			continue
		}
		if v == nil || v.Kind != yaml.ScalarNode || v.Tag != "!!str" || !openAPIVersionRE.MatchString(v.Value) {
			return "", errors.New("has an \"openapi\" member that is not a version string such as \"3.1.0\"")
		}
		return v.Value, nil
	}
	return "", errors.New("is not an OpenAPI document: it has no \"openapi\" member (such as openapi: 3.1.0)")
}

// clientTeam decodes a client's owning team, which the file must define.
func (d *decoder) clientTeam(o object, path string, teams map[string]bool) string {
	t, ok := d.str(o.get("team"), join(path, "team"))
	if !ok || t == "" {
		return ""
	}
	if !teams[t] {
		d.report(o.lineOf("team"), join(path, "team"), "there is no team named %q%s; expected the name of a team defined under teams (%s)", t, didYouMean(t, mapKeys(teams)), listOrNone(mapKeys(teams)))
	}
	return t
}

// subscriptions decodes the top-level subscriptions list.
func (d *decoder) subscriptions(n *yaml.Node, apis []gatehouse.API, clients []Client) []Subscription {
	nodes, _ := d.list(n, "subscriptions", "subscriptions (mappings with app, api, scopes, state)")
	byAPI := map[string]*gatehouse.API{}
	for i := range apis {
		byAPI[apis[i].Name] = &apis[i]
	}
	byClient := map[string]*Client{}
	for i := range clients {
		byClient[clients[i].ID] = &clients[i]
	}
	seen := map[string]string{}
	var out []Subscription
	for i, it := range nodes {
		path := index("subscriptions", i)
		key := func(k string) string { return join(path, k) }
		o, ok := d.object(it, path, nodeLine(it), subscriptionKeys)
		if !ok {
			continue
		}
		var s Subscription
		var appOK, apiOK bool
		s.App, appOK = d.str(o.get("app"), key("app"))
		c := byClient[s.App]
		switch {
		case !appOK:
		case s.App == "":
			d.report(o.line, key("app"), "is required: the id of a client defined under clients")
		case c == nil:
			d.report(o.lineOf("app"), key("app"), "there is no client with id %q%s; expected the id of a client defined under clients", s.App, didYouMean(s.App, mapKeys(byClient)))
		}
		s.API, apiOK = d.str(o.get("api"), key("api"))
		api := byAPI[s.API]
		switch {
		case !apiOK:
		case s.API == "":
			d.report(o.line, key("api"), "is required: the name of an API defined under apis")
		case api == nil:
			d.report(o.lineOf("api"), key("api"), "there is no API named %q%s; expected the name of an API defined under apis (%s)", s.API, didYouMean(s.API, mapKeys(byAPI)), listOrNone(mapKeys(byAPI)))
		case c != nil && c.AccessFor(s.API) != nil:
			d.report(o.lineOf("api"), key("api"), "client %q already has API %q in its apis list, which is an approved subscription; list it in one place", s.App, s.API)
		case seen[s.App+" "+s.API] != "":
			d.report(o.lineOf("api"), key("api"), "client %q already subscribes to API %q at %s; list each subscription once", s.App, s.API, seen[s.App+" "+s.API])
		default:
			seen[s.App+" "+s.API] = path
		}
		scopes, _ := d.strList(o.get("scopes"), key("scopes"), "scopes of the API")
		approved, _ := d.strList(o.get("approved_scopes"), key("approved_scopes"), "scopes from this entry's scopes")
		if api != nil {
			for _, sc := range scopes {
				if !api.HasScope(sc.val) {
					d.report(sc.line, sc.key, "%q is not a scope of API %q; expected one of its scopes (%s)", sc.val, s.API, listOrNone(api.Scopes))
				}
			}
		}
		d.unique(scopes)
		d.unique(approved)
		s.Scopes, s.ApprovedScopes = values(scopes), values(approved)
		if len(s.Scopes) == 0 && api != nil {
			s.Scopes = slices.Clone(api.Scopes)
		}
		for _, sc := range approved {
			if !slices.Contains(s.Scopes, sc.val) {
				d.report(sc.line, sc.key, "%q was not asked for; approved_scopes must be a subset of scopes (%s)", sc.val, listOrNone(s.Scopes))
			}
		}
		st, stOK := d.enum(o.get("state"), key("state"), fileSubStates)
		s.State = gatehouse.SubscriptionState(st)
		if s.State == "" {
			s.State = gatehouse.SubApproved
		}
		if stOK && o.has("approved_scopes") && s.State == gatehouse.SubPending {
			d.report(o.lineOf("approved_scopes"), key("approved_scopes"), "a pending subscription has no approved scopes yet; remove approved_scopes or set state: approved")
		}
		if s.State != gatehouse.SubPending && !o.has("approved_scopes") {
			s.ApprovedScopes = slices.Clone(s.Scopes)
		}
		s.Reason, _ = d.str(o.get("reason"), key("reason"))
		if s.State == gatehouse.SubRejected && s.Reason == "" && stOK {
			d.report(o.lineOf("state"), key("reason"), "is required for a rejected subscription: the app's developers read it")
		}
		if e, _ := d.str(o.get("expires_at"), key("expires_at")); e != "" {
			t, err := time.Parse(time.RFC3339, e)
			if err != nil {
				d.report(o.lineOf("expires_at"), key("expires_at"), "%q is not an RFC 3339 date and time; expected for example 2027-06-30T00:00:00Z", e)
			}
			s.ExpiresAt = t.UTC()
		}
		out = append(out, s)
	}
	return out
}
