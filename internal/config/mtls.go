package config

import (
	"strings"

	"github.com/gatehouse/gatehouse"
	"github.com/gatehouse/gatehouse/internal/mtls"
)

// tlsSubjectKeys are the RFC 8705 section 2.1.2 client metadata names of
// the certificate field a tls_client_auth client is recognised by.
var tlsSubjectKeys = []string{"tls_client_auth_subject_dn", "tls_client_auth_san_dns", "tls_client_auth_san_uri",
	"tls_client_auth_san_ip", "tls_client_auth_san_email"}

var exchangeKeys = []string{"from", "to"}

// clientMTLS decodes a client's mutual-TLS settings (RFC 8705) and checks
// them against its auth_method and the HTTPS listener.
func (d *decoder) clientMTLS(c *Client, o object, path string) {
	key := func(k string) string { return join(path, k) }
	var set []string
	for _, k := range tlsSubjectKeys {
		v, _ := d.str(o.get(k), key(k))
		if v == "" {
			continue
		}
		set = append(set, k)
		one := gatehouse.TLSSubject{}
		field := map[string]*string{
			"tls_client_auth_subject_dn": &one.DN, "tls_client_auth_san_dns": &one.DNS, "tls_client_auth_san_uri": &one.URI,
			"tls_client_auth_san_ip": &one.IP, "tls_client_auth_san_email": &one.Email,
		}
		*field[k] = v
		if len(set) == 1 {
			c.TLSSubject = one
		}
		if err := mtls.CheckSubject(one); err != nil {
			d.report(o.lineOf(k), key(k), "%q: %v", v, err)
		}
	}
	if o.has("tls_client_certificate_bound_access_tokens") {
		c.CertificateBoundTokens, _ = d.boolean(o.get("tls_client_certificate_bound_access_tokens"), key("tls_client_certificate_bound_access_tokens"))
	}

	switch c.AuthMethod {
	case gatehouse.AuthTLSClient:
		switch {
		case len(set) == 0:
			d.report(o.line, key("tls_client_auth_subject_dn"), "is required for tls_client_auth: name the client's certificate by exactly one of %s (RFC 8705 section 2.1.2)", strings.Join(tlsSubjectKeys, ", "))
		case len(set) > 1:
			d.report(o.lineOf(set[1]), key(set[1]), "cannot be used together with %s; a tls_client_auth client is recognised by exactly one certificate field", set[0])
		}
		if d.tls != nil && d.tls.ClientCAFile == "" {
			d.report(o.lineOf("auth_method"), key("auth_method"), "tls_client_auth needs listen.tls.client_ca_file: the CA bundle (PEM) that client certificates must chain to")
		}
		d.noSecretOrKeys(o, path, "tls_client_auth", true)
	case gatehouse.AuthSelfSignedTLS:
		d.noSecretOrKeys(o, path, "self_signed_tls_client_auth", false)
		if !o.has("jwks") && !o.has("jwks_file") {
			d.report(o.line, key("jwks"), "is required for self_signed_tls_client_auth: the client's JWK Set, with its certificate in x5c (RFC 8705 section 2.2)")
		} else if c.JWKS != nil {
			jk := "jwks"
			if !o.has("jwks") {
				jk = "jwks_file"
			}
			if certs, err := mtls.JWKSCertificates(c.JWKS); err != nil {
				d.report(o.lineOf(jk), key(jk), "has a bad certificate: %v; expected x5c: [base64 DER certificate] on the client's key", err)
			} else if len(certs) == 0 {
				d.report(o.lineOf(jk), key(jk), "has no key with a certificate (x5c); self_signed_tls_client_auth matches the client's certificate against those")
			}
		}
	}
	if len(set) > 0 && c.AuthMethod != gatehouse.AuthTLSClient {
		d.report(o.lineOf(set[0]), key(set[0]), "is only used by tls_client_auth clients, and this one uses %s; remove it or set auth_method: tls_client_auth", c.AuthMethod)
	}
	if (c.AuthMethod.MutualTLS() || c.CertificateBoundTokens) && d.tls != nil && d.tls.Addr == "" {
		k := "auth_method"
		if !c.AuthMethod.MutualTLS() {
			k = "tls_client_certificate_bound_access_tokens"
		}
		d.report(o.lineOf(k), key(k), "client certificates are only seen on the HTTPS listener; configure listen.tls")
	}
	if c.CertificateBoundTokens && c.AuthMethod == gatehouse.AuthNone {
		d.report(o.lineOf("tls_client_certificate_bound_access_tokens"), key("tls_client_certificate_bound_access_tokens"), "is for confidential clients; a public client (auth_method none) cannot have certificate-bound tokens here")
	}
}

// noSecretOrKeys reports a secret (and, with keys, a JWK Set) on a client
// that authenticates with a certificate.
func (d *decoder) noSecretOrKeys(o object, path, method string, keys bool) {
	for _, k := range []string{"secret", "secret_sha256"} {
		if o.has(k) {
			d.report(o.lineOf(k), join(path, k), "cannot be set: a %s client authenticates with its certificate, not a secret", method)
		}
	}
	if keys {
		for _, k := range []string{"jwks", "jwks_file"} {
			if o.has(k) {
				d.report(o.lineOf(k), join(path, k), "is not used by %s (the certificate chains to listen.tls.client_ca_file); for a registered self-signed certificate use self_signed_tls_client_auth", method)
			}
		}
	}
}

// tokenExchange decodes a client's token exchange rules (RFC 8693):
// token_exchange: [{from: orders, to: [inventory]}]. Each API must exist;
// each target must be one of the client's apis, whose scopes bound the
// exchanged tokens; the grant type must be listed, and only with rules.
func (d *decoder) tokenExchange(c *Client, o object, path string, apis map[string]*gatehouse.API) {
	key := join(path, "token_exchange")
	nodes, _ := d.list(o.get("token_exchange"), key, "exchange rules (mappings with from and to)")
	seen := map[string]string{}
	for i, it := range nodes {
		rpath := index(key, i)
		ro, ok := d.object(it, rpath, nodeLine(it), exchangeKeys)
		if !ok {
			continue
		}
		var r gatehouse.ExchangeRule
		var fromOK bool
		r.From, fromOK = d.str(ro.get("from"), join(rpath, "from"))
		switch {
		case !fromOK:
		case r.From == "":
			d.report(ro.line, join(rpath, "from"), "is required: the API whose access tokens the client may exchange")
		default:
			d.exchangeAPI(ro.lineOf("from"), join(rpath, "from"), r.From, apis)
			if first, dup := seen[r.From]; dup {
				d.report(ro.lineOf("from"), join(rpath, "from"), "%q already has a rule at %s; list its targets there", r.From, first)
			} else {
				seen[r.From] = rpath
			}
		}
		to, _ := d.strList(ro.get("to"), join(rpath, "to"), "API names")
		if !ro.has("to") {
			d.report(ro.line, join(rpath, "to"), "is required: the APIs the new tokens may be for, such as [inventory]")
		}
		for _, t := range to {
			if !d.exchangeAPI(t.line, t.key, t.val, apis) {
				continue
			}
			if c.AccessFor(t.val) == nil {
				d.report(t.line, t.key, "the client has no access to API %q; add it under apis with the scopes exchanged tokens may carry", t.val)
			}
		}
		d.unique(to)
		r.To = values(to)
		c.TokenExchange = append(c.TokenExchange, r)
	}
	hasRules := len(nodes) > 0
	grant := c.AllowsGrant(gatehouse.GrantTokenExchange)
	switch {
	case hasRules && !grant:
		d.report(o.lineOf("token_exchange"), key, "needs %s in grant_types", gatehouse.GrantTokenExchange)
	case grant && !hasRules:
		d.report(o.lineOf("grant_types"), join(path, "grant_types"), "%s needs token_exchange rules saying which tokens the client may exchange for which APIs", gatehouse.GrantTokenExchange)
	case grant && c.AuthMethod == gatehouse.AuthNone:
		d.report(o.lineOf("grant_types"), join(path, "grant_types"), "a public client (auth_method none) cannot use token exchange; it needs a client that can authenticate")
	}
}

// exchangeAPI reports a name that is not an API a rule may name.
func (d *decoder) exchangeAPI(line int, key, name string, apis map[string]*gatehouse.API) bool {
	switch {
	case name == gatehouse.AdminAPIName:
		d.report(line, key, "%q is Gatehouse's built-in admin API; tokens for it are never exchanged", name)
	case apis[name] == nil:
		d.report(line, key, "there is no API named %q%s; expected the name of an API defined under apis (%s)", name, didYouMean(name, mapKeys(apis)), listOrNone(mapKeys(apis)))
	default:
		return true
	}
	return false
}
