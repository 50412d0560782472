package config

import (
	"encoding/hex"
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"unicode"

	"github.com/gatehouse/gatehouse"
	"go.yaml.in/yaml/v3"
)

var (
	clientKeys = []string{"id", "name", "auth_method", "secret", "secret_sha256", "jwks", "jwks_file",
		"grant_types", "redirect_uris", "token_format", "apis", "networks", "dpop", "token_exchange",
		"tls_client_auth_subject_dn", "tls_client_auth_san_dns", "tls_client_auth_san_uri", "tls_client_auth_san_ip",
		"tls_client_auth_san_email", "tls_client_certificate_bound_access_tokens", "team"}
	networkKeys = []string{"allow", "deny"}
	accessKeys  = []string{"api", "scopes", "default_scopes", "introspect"}
	authMethods = []string{string(gatehouse.AuthSecretBasic), string(gatehouse.AuthSecretPost),
		string(gatehouse.AuthPrivateKeyJWT), string(gatehouse.AuthNone), string(gatehouse.AuthTLSClient),
		string(gatehouse.AuthSelfSignedTLS)}
	grantTypes = []string{gatehouse.GrantClientCredentials, gatehouse.GrantAuthorizationCode, gatehouse.GrantRefreshToken,
		gatehouse.GrantTokenExchange}

	// RFC 6749 appendix A.1 allows more, but ids end up in URLs and logs.
	clientIDRE = regexp.MustCompile(`^[A-Za-z0-9._~-]{1,128}$`)
)

const maxClientName = 200

func (d *decoder) clients(n *yaml.Node, apis []gatehouse.API) []Client {
	byName := map[string]*gatehouse.API{}
	for i := range apis {
		if _, dup := byName[apis[i].Name]; !dup && apis[i].Name != "" {
			byName[apis[i].Name] = &apis[i]
		}
	}
	nodes, _ := d.list(n, "clients", "clients (mappings with id, auth_method, ...)")
	var out []Client
	ids := map[string]string{}
	for i, it := range nodes {
		path := index("clients", i)
		c, o := d.client(it, path, byName)
		if first, dup := ids[c.ID]; dup && c.ID != "" {
			d.report(o.lineOf("id"), join(path, "id"), "%q is already the id of %s; client ids must be unique", c.ID, first)
		} else {
			ids[c.ID] = path
		}
		out = append(out, c)
	}
	return out
}

func (d *decoder) client(n *yaml.Node, path string, apis map[string]*gatehouse.API) (Client, object) {
	c := Client{Client: gatehouse.Client{Source: gatehouse.SourceConfig}}
	o, ok := d.object(n, path, nodeLine(n), clientKeys)
	if !ok {
		return c, o
	}
	key := func(k string) string { return join(path, k) }

	var idOK bool
	c.ID, idOK = d.str(o.get("id"), key("id"))
	switch {
	case !idOK:
	case c.ID == "":
		d.report(o.line, key("id"), "is required: the client_id, such as \"billing-service\" (letters, digits and . _ ~ -)")
	case c.ID == gatehouse.AdminClientID:
		d.report(o.lineOf("id"), key("id"), "%q is reserved for Gatehouse's own admin client; choose another id", c.ID)
	case !clientIDRE.MatchString(c.ID):
		d.report(o.lineOf("id"), key("id"), "%q is not a valid client id; expected 1 to 128 letters, digits and . _ ~ -", c.ID)
	}

	c.Name, _ = d.str(o.get("name"), key("name"))
	if strings.ContainsFunc(c.Name, unicode.IsControl) || len([]rune(c.Name)) > maxClientName {
		d.report(o.lineOf("name"), key("name"), "must be one line of at most %d characters, a display name such as \"Billing service\"", maxClientName)
	}

	method, methodOK := d.enum(o.get("auth_method"), key("auth_method"), authMethods)
	if method == "" && methodOK {
		method = string(gatehouse.AuthSecretBasic) // RFC 7591 section 2
	}
	c.AuthMethod = gatehouse.AuthMethod(method)

	secret, _ := d.str(o.get("secret"), key("secret"))
	if secret != "" {
		if len(secret) < gatehouse.MinSecretBytes {
			d.report(o.lineOf("secret"), key("secret"), "is too short; client secrets must be at least %d bytes of random data, such as the output of `openssl rand -base64 32` (or leave it out and Gatehouse generates one)", gatehouse.MinSecretBytes)
		} else {
			c.SecretHash = gatehouse.HashSecret(secret)
		}
	}
	if h, _ := d.str(o.get("secret_sha256"), key("secret_sha256")); h != "" {
		if b, err := hex.DecodeString(h); err != nil || len(b) != 32 {
			d.report(o.lineOf("secret_sha256"), key("secret_sha256"), "must be 64 hexadecimal characters: the SHA-256 of the secret, such as the output of `printf %%s \"$SECRET\" | sha256sum`")
		} else if secret != "" {
			d.report(o.lineOf("secret_sha256"), key("secret_sha256"), "cannot be used together with secret; keep one of them")
		} else {
			c.SecretHash = b
		}
	}

	if o.has("jwks") {
		c.JWKS = d.inlineJWKS(o.get("jwks"), key("jwks"))
	}
	if file, _ := d.str(o.get("jwks_file"), key("jwks_file")); file != "" {
		if o.has("jwks") {
			d.report(o.lineOf("jwks_file"), key("jwks_file"), "cannot be used together with jwks; give the keys inline or in a file, not both")
		} else {
			c.JWKS = d.fileJWKS(o.lineOf("jwks_file"), key("jwks_file"), file)
		}
	}

	grants, grantsOK := d.strList(o.get("grant_types"), key("grant_types"), "grant types")
	for _, g := range grants {
		if !slices.Contains(grantTypes, g.val) {
			d.report(g.line, g.key, "%q is not a grant type Gatehouse supports; expected one of %s%s", g.val, strings.Join(grantTypes, ", "), didYouMean(g.val, grantTypes))
			grantsOK = false
		}
	}
	d.unique(grants)
	c.GrantTypes = values(grants)
	if !o.has("grant_types") {
		c.GrantTypes = []string{gatehouse.GrantClientCredentials}
	} else if len(grants) == 0 && grantsOK {
		d.report(o.lineOf("grant_types"), key("grant_types"), "is empty; expected at least one of %s (or leave it out for client_credentials)", strings.Join(grantTypes, ", "))
	}

	redirects, _ := d.strList(o.get("redirect_uris"), key("redirect_uris"), "absolute redirect URIs")
	for _, r := range redirects {
		if msg := checkRedirectURI(r.val); msg != "" {
			d.report(r.line, r.key, "%q %s", r.val, msg)
		}
	}
	d.unique(redirects)
	c.RedirectURIs = values(redirects)

	f, _ := d.enum(o.get("token_format"), key("token_format"), formats)
	c.TokenFormat = gatehouse.TokenFormat(f)

	c.Access = d.access(o.get("apis"), key("apis"), apis)
	c.Team = d.clientTeam(o, path, d.teamNames)

	// dpop: required is RFC 9449 §5.2 dpop_bound_access_tokens: every token
	// request must carry a DPoP proof.
	dpopMode, _ := d.enum(o.get("dpop"), key("dpop"), dpopModes)
	c.DPoPBound = gatehouse.DPoPMode(dpopMode) == gatehouse.DPoPRequired

	nets, _ := d.object(o.get("networks"), key("networks"), o.lineOf("networks"), networkKeys)
	c.Networks.Allow = d.prefixes(nets.get("allow"), key("networks.allow"), true)
	c.Networks.Deny = d.prefixes(nets.get("deny"), key("networks.deny"), true)

	if methodOK && grantsOK {
		d.clientRules(&c, o, path)
		d.clientMTLS(&c, o, path)
		d.tokenExchange(&c, o, path, apis)
	}
	return c, o
}

// clientRules checks how the client's authentication, secrets, keys, grant
// types and redirect URIs fit together.
func (d *decoder) clientRules(c *Client, o object, path string) {
	key := func(k string) string { return join(path, k) }
	secretKey := "secret"
	if !o.has("secret") {
		secretKey = "secret_sha256"
	}
	hasSecret := o.has("secret") || o.has("secret_sha256")
	jwksKey := "jwks"
	if !o.has("jwks") {
		jwksKey = "jwks_file"
	}
	hasJWKS := o.has("jwks") || o.has("jwks_file")

	switch c.AuthMethod {
	case gatehouse.AuthSecretBasic, gatehouse.AuthSecretPost:
		if hasJWKS {
			d.report(o.lineOf(jwksKey), key(jwksKey), "is only used by private_key_jwt clients, and this one uses %s; remove it or set auth_method: private_key_jwt", c.AuthMethod)
		}
		c.GenerateSecret = !hasSecret
	case gatehouse.AuthPrivateKeyJWT:
		if hasSecret {
			d.report(o.lineOf(secretKey), key(secretKey), "is only used by client_secret_basic and client_secret_post clients; a private_key_jwt client authenticates with its keys (jwks or jwks_file)")
		}
		if !hasJWKS {
			d.report(o.line, key("jwks"), "is required for private_key_jwt: give the client's public keys inline (jwks) or in a file (jwks_file)")
		}
	case gatehouse.AuthNone:
		if hasSecret {
			d.report(o.lineOf(secretKey), key(secretKey), "cannot be set: a public client (auth_method none) has no secret; remove it, or use client_secret_basic")
		}
		if hasJWKS {
			d.report(o.lineOf(jwksKey), key(jwksKey), "cannot be set: a public client (auth_method none) has no keys; remove it, or use private_key_jwt")
		}
		if c.AllowsGrant(gatehouse.GrantClientCredentials) {
			d.report(o.lineOf("grant_types"), key("grant_types"), "a public client (auth_method none) cannot use client_credentials, which needs a client that can authenticate; expected [authorization_code] (with PKCE), optionally with refresh_token")
		}
	}

	code := c.AllowsGrant(gatehouse.GrantAuthorizationCode)
	switch {
	case code && len(c.RedirectURIs) == 0 && !o.has("redirect_uris"):
		d.report(o.line, key("redirect_uris"), "is required for the authorization_code grant; expected absolute https URLs (http only on loopback), such as https://app.example.com/callback")
	case !code && o.has("redirect_uris"):
		d.report(o.lineOf("redirect_uris"), key("redirect_uris"), "is only used by the authorization_code grant; add it to grant_types or remove redirect_uris")
	}
	if c.AllowsGrant(gatehouse.GrantRefreshToken) && !code {
		d.report(o.lineOf("grant_types"), key("grant_types"), "refresh_token needs authorization_code: client_credentials does not issue refresh tokens (RFC 6749 section 4.4.3); add authorization_code or remove refresh_token")
	}
}

func didYouMean(s string, options []string) string {
	if sug := suggest(s, options); sug != "" {
		return fmt.Sprintf(" (did you mean %q?)", sug)
	}
	return ""
}

// access decodes a client's list of APIs it may get tokens for.
func (d *decoder) access(n *yaml.Node, path string, apis map[string]*gatehouse.API) []gatehouse.Access {
	nodes, _ := d.list(n, path, "API access entries (mappings with api, scopes, default_scopes)")
	var out []gatehouse.Access
	seen := map[string]string{}
	for i, it := range nodes {
		apath := index(path, i)
		o, ok := d.object(it, apath, nodeLine(it), accessKeys)
		if !ok {
			continue
		}
		var a gatehouse.Access
		var apiOK bool
		a.API, apiOK = d.str(o.get("api"), join(apath, "api"))
		api := apis[a.API]
		switch {
		case !apiOK:
		case a.API == "":
			d.report(o.line, join(apath, "api"), "is required: the name of an API defined under apis")
		case a.API == gatehouse.AdminAPIName:
			d.report(o.lineOf("api"), join(apath, "api"), "%q is Gatehouse's built-in admin API, which the config file cannot grant; give admin access through the admin API", a.API)
		case api == nil:
			d.report(o.lineOf("api"), join(apath, "api"), "there is no API named %q%s; expected the name of an API defined under apis (%s)", a.API, didYouMean(a.API, mapKeys(apis)), listOrNone(mapKeys(apis)))
		case seen[a.API] != "":
			d.report(o.lineOf("api"), join(apath, "api"), "%q is already listed at %s; list each API once", a.API, seen[a.API])
		default:
			seen[a.API] = apath
		}

		scopes, _ := d.strList(o.get("scopes"), join(apath, "scopes"), "scopes of the API")
		if api != nil {
			for _, s := range scopes {
				if !api.HasScope(s.val) {
					d.report(s.line, s.key, "%q is not a scope of API %q; expected one of its scopes (%s)", s.val, a.API, listOrNone(api.Scopes))
				}
			}
		}
		d.unique(scopes)
		a.Scopes = values(scopes)

		defaults, _ := d.strList(o.get("default_scopes"), join(apath, "default_scopes"), "scopes from this entry's scopes")
		for _, s := range defaults {
			if !slices.Contains(a.Scopes, s.val) {
				d.report(s.line, s.key, "%q is not in this entry's scopes; default scopes must be a subset of scopes (%s)", s.val, listOrNone(a.Scopes))
			}
		}
		d.unique(defaults)
		a.DefaultScopes = values(defaults)
		if o.has("introspect") {
			a.Introspect, _ = d.boolean(o.get("introspect"), join(apath, "introspect"))
		}
		out = append(out, a)
	}
	return out
}

// mapKeys returns the names in m, sorted, for messages.
func mapKeys[V any](m map[string]V) []string {
	names := make([]string, 0, len(m))
	for n := range m {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// checkRedirectURI returns what is wrong with a redirect URI, or "".
// Following RFC 9700 section 2.1 and RFC 8252: https, http only on
// loopback, or a native app's private-use scheme in reverse-domain form.
func checkRedirectURI(s string) string {
	const expected = "; expected for example https://app.example.com/callback, http://127.0.0.1/callback or com.example.app:/callback"
	u, err := url.Parse(s)
	switch {
	case hasSpaceOrControl(s):
		return "must not contain spaces or control characters" + expected
	case err != nil || u.Scheme == "":
		return "is not an absolute URI" + expected
	case u.Fragment != "" || strings.Contains(s, "#"):
		return "must not have a fragment (#...) (RFC 6749 section 3.1.2)" + expected
	case strings.Contains(u.Host, "*"):
		return "must not contain a wildcard; list every redirect URI exactly" + expected
	}
	switch u.Scheme {
	case "https":
		if u.Hostname() == "" || !strings.HasPrefix(s, "https://") {
			return "has no host" + expected
		}
	case "http":
		if !isLoopback(u.Hostname()) || !strings.HasPrefix(s, "http://") {
			return "uses http on a host that is not loopback; use https (http is only for native apps on 127.0.0.1, [::1] or localhost, RFC 8252 section 7.3)"
		}
	default:
		if !strings.Contains(u.Scheme, ".") {
			return fmt.Sprintf("uses the scheme %q; expected https, http on loopback, or a private-use scheme in reverse-domain form such as com.example.app:/callback (RFC 8252 section 7.1)", u.Scheme)
		}
	}
	return ""
}
