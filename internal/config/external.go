package config

import (
	"slices"
	"strings"
	"time"

	"github.com/gatehouse/gatehouse"
	"go.yaml.in/yaml/v3"
)

var (
	externalKeys = []string{"name", "issuer", "jwks_uri", "algorithms", "audience", "scope_claim", "scope_map", "refresh_interval"}
	// Asymmetric JWS algorithms only (RFC 7518, RFC 8037): with a shared
	// secret (HS256...), whoever can verify a token can also forge one.
	externalAlgorithms = []string{"EdDSA", "ES256", "ES384", "ES512", "RS256", "RS384", "RS512", "PS256", "PS384", "PS512"}
)

// External issuer defaults and limits.
const (
	DefaultScopeClaim      = "scope"
	DefaultRefreshInterval = 5 * time.Minute
	minRefreshInterval     = time.Minute
	maxRefreshInterval     = 24 * time.Hour
)

// externals is the decoded external_issuers section.
type externals struct {
	list []gatehouse.ExternalIssuer
	// byName indexes list by name; the first entry wins a duplicate.
	byName map[string]int
	// mapped holds, per entry, the scope_map values and where each was
	// written, to check them against the APIs that accept the issuer.
	mapped [][]item
}

func (d *decoder) externalIssuers(n *yaml.Node, ownIssuer string) externals {
	ext := externals{byName: map[string]int{}}
	nodes, _ := d.list(n, "external_issuers", "external issuers (mappings with name, issuer, jwks_uri, ...)")
	issuers := map[string]string{}
	for i, it := range nodes {
		path := index("external_issuers", i)
		e, o, mapped := d.externalIssuer(it, path, ownIssuer)
		if first, dup := ext.byName[e.Name]; dup && e.Name != "" {
			d.report(o.lineOf("name"), join(path, "name"), "%q is already the name of %s; external issuer names must be unique", e.Name, index("external_issuers", first))
		} else if e.Name != "" {
			ext.byName[e.Name] = i
		}
		// A token names only its issuer: two entries for one issuer would
		// leave the gateway unable to tell which one verifies it.
		if first, dup := issuers[e.Issuer]; dup && e.Issuer != "" {
			d.report(o.lineOf("issuer"), join(path, "issuer"), "%q is already the issuer of %s; each entry needs its own issuer, since a token names only its issuer", e.Issuer, first)
		} else {
			issuers[e.Issuer] = path
		}
		ext.list = append(ext.list, e)
		ext.mapped = append(ext.mapped, mapped)
	}
	return ext
}

// externalIssuer decodes one entry and applies its defaults. Its name is
// kept as written even when invalid (and reported), so that references to
// it do not cascade into more problems.
func (d *decoder) externalIssuer(n *yaml.Node, path, ownIssuer string) (gatehouse.ExternalIssuer, object, []item) {
	e := gatehouse.ExternalIssuer{ScopeClaim: DefaultScopeClaim, RefreshInterval: DefaultRefreshInterval}
	o, ok := d.object(n, path, nodeLine(n), externalKeys)
	if !ok {
		return e, o, nil
	}
	key := func(k string) string { return join(path, k) }

	var nameOK, issOK, jwksOK, audOK bool
	e.Name, nameOK = d.str(o.get("name"), key("name"))
	switch {
	case !nameOK:
	case e.Name == "":
		d.report(o.line, key("name"), "is required: a short name such as \"corp-idp\" for APIs to refer to (lower-case letters, digits and -)")
	case !apiNameRE.MatchString(e.Name):
		d.report(o.lineOf("name"), key("name"), "%q is not a valid name; expected 1 to 63 lower-case letters, digits and -, starting with a letter or digit", e.Name)
	}

	e.Issuer, issOK = d.str(o.get("issuer"), key("issuer"))
	switch {
	case !issOK:
	case e.Issuer == "":
		d.report(o.line, key("issuer"), "is required: the identity provider's issuer, exactly as its tokens carry it in iss, such as https://idp.example.com/realms/main")
	case e.Issuer == ownIssuer:
		d.report(o.lineOf("issuer"), key("issuer"), "%q is Gatehouse's own issuer, whose tokens every API accepts already; expected another identity provider's issuer", e.Issuer)
	default:
		if msg := checkHTTPSURL(e.Issuer, false); msg != "" {
			d.report(o.lineOf("issuer"), key("issuer"), "%q %s", e.Issuer, msg)
		}
	}

	e.JWKSURI, jwksOK = d.str(o.get("jwks_uri"), key("jwks_uri"))
	switch {
	case !jwksOK:
	case e.JWKSURI == "":
		d.report(o.line, key("jwks_uri"), "is required: the URL of the identity provider's JWK Set (jwks_uri in its discovery document)")
	default:
		if msg := checkHTTPSURL(e.JWKSURI, true); msg != "" {
			d.report(o.lineOf("jwks_uri"), key("jwks_uri"), "%q %s", e.JWKSURI, msg)
		}
	}

	algs, algsOK := d.strList(o.get("algorithms"), key("algorithms"), "JWS algorithms such as RS256")
	for _, a := range algs {
		if slices.Contains(externalAlgorithms, a.val) {
			continue
		}
		algsOK = false
		if up := strings.ToUpper(a.val); strings.HasPrefix(up, "HS") || up == "NONE" {
			d.report(a.line, a.key, "%q is refused: with it, whoever can check a token could also forge one; expected an asymmetric algorithm, one of %s", a.val, strings.Join(externalAlgorithms, ", "))
		} else {
			d.report(a.line, a.key, "%q is not a supported algorithm%s; expected one of %s (case matters)", a.val, didYouMean(a.val, externalAlgorithms), strings.Join(externalAlgorithms, ", "))
		}
	}
	d.unique(algs)
	e.Algorithms = values(algs)
	switch {
	case !o.has("algorithms"):
		d.report(o.line, key("algorithms"), "is required: the algorithms the identity provider signs with, such as [RS256] (from %s)", strings.Join(externalAlgorithms, ", "))
	case len(algs) == 0 && algsOK:
		d.report(o.lineOf("algorithms"), key("algorithms"), "is empty; expected at least one of %s", strings.Join(externalAlgorithms, ", "))
	}

	e.Audience, audOK = d.str(o.get("audience"), key("audience"))
	switch {
	case !audOK:
	case e.Audience == "":
		d.report(o.line, key("audience"), "is required: the aud value the identity provider puts in tokens meant for these APIs, such as https://orders.example.com or api://orders")
	case hasSpaceOrControl(e.Audience):
		d.report(o.lineOf("audience"), key("audience"), "%q must not contain spaces or control characters; expected the aud value of the tokens, such as https://orders.example.com", e.Audience)
	}

	if c, _ := d.str(o.get("scope_claim"), key("scope_claim")); c != "" {
		if !scopeRE.MatchString(c) {
			d.report(o.lineOf("scope_claim"), key("scope_claim"), "%q is not a claim name; expected printable ASCII without spaces, \" or \\, such as scope, scp or roles", c)
		}
		e.ScopeClaim = c
	}

	var mapped []item
	e.ScopeMap, mapped = d.scopeMap(o.get("scope_map"), key("scope_map"))

	if v, ok := d.duration(o.get("refresh_interval"), key("refresh_interval"), minRefreshInterval, maxRefreshInterval); ok {
		e.RefreshInterval = v
	}
	return e, o, mapped
}

// scopeMap decodes a mapping from external scope names to API scope names.
// Besides the map it returns the values with where each was written. Keys
// are taken as written, never interpolated.
func (d *decoder) scopeMap(n *yaml.Node, path string) (map[string]string, []item) {
	n = resolve(n)
	if isNull(n) {
		return nil, nil
	}
	if n.Kind != yaml.MappingNode {
		d.reportAt(n, path, "must be a mapping from the identity provider's scope names to the API's, such as {\"orders.read\": \"orders:read\"}; got %s", kindName(n))
		return nil, nil
	}
	m := map[string]string{}
	var mapped []item
	keyLines := map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := resolve(n.Content[i]), n.Content[i+1]
		if k == nil || k.Kind != yaml.ScalarNode {
			d.reportAt(n.Content[i], path, "has a key that is %s; keys are the identity provider's scope names, such as orders.read", kindName(k))
			continue
		}
		kpath := join(path, k.Value)
		switch {
		case k.ShortTag() == "!!merge":
			d.reportAt(k, kpath, "merge keys are not supported; write the entries out")
			continue
		case keyLines[k.Value] != 0:
			d.reportAt(k, kpath, "is set twice (first on line %d); keep one", keyLines[k.Value])
			continue
		case !scopeRE.MatchString(k.Value):
			d.reportAt(k, kpath, "%q is not a valid scope name; expected printable ASCII without spaces, \" or \\ (RFC 6749 section 3.3)", k.Value)
			continue
		}
		keyLines[k.Value] = k.Line
		s, ok := d.str(v, kpath)
		switch {
		case !ok:
		case s == "":
			d.report(nodeLine(v), kpath, "is empty; expected the scope of the API that %q stands for, such as orders:read", k.Value)
		case !scopeRE.MatchString(s):
			d.report(nodeLine(v), kpath, "%q is not a valid scope; expected printable ASCII without spaces, \" or \\ (RFC 6749 section 3.3), such as orders:read", s)
		default:
			m[k.Value] = s
			mapped = append(mapped, item{val: s, line: nodeLine(v), key: kpath})
		}
	}
	if len(m) == 0 {
		return nil, mapped
	}
	return m, mapped
}

// scopeMapTargets checks that each scope a scope_map maps to belongs to an
// API that accepts the issuer: any other could never be granted, so it is a
// typo. Issuers no API names yet are not checked.
func (d *decoder) scopeMapTargets(ext externals, apis []gatehouse.API) {
	for i, e := range ext.list {
		var users, scopes []string
		for _, api := range apis {
			if e.Name != "" && slices.Contains(api.ExternalIssuers, e.Name) {
				users = append(users, api.Name)
				for _, s := range api.Scopes {
					if !slices.Contains(scopes, s) {
						scopes = append(scopes, s)
					}
				}
			}
		}
		if len(users) == 0 {
			continue
		}
		have := "they have none"
		if len(scopes) > 0 {
			have = strings.Join(scopes, ", ")
		}
		for _, v := range ext.mapped[i] {
			if !slices.Contains(scopes, v.val) {
				d.report(v.line, v.key, "%q is not a scope of any API that accepts %s (%s); expected one of their scopes (%s)", v.val, e.Name, strings.Join(users, ", "), have)
			}
		}
	}
}
