package config

import (
	"fmt"
	"net/netip"
	"strings"

	"go.yaml.in/yaml/v3"
)

// prefixes decodes a list of CIDR prefixes or single addresses, the way the
// gateway compares them: a single address is its own /32 or /128, and
// IPv4-mapped IPv6 (::ffff:10.0.0.1) becomes IPv4, since client addresses are
// unmapped before they are compared. Entries with problems are left out.
// Without anyAllowed, a prefix covering every address is refused.
func (d *decoder) prefixes(n *yaml.Node, path string, anyAllowed bool) []netip.Prefix {
	items, _ := d.strList(n, path, "CIDR prefixes or IP addresses, such as 10.0.0.0/8 or 203.0.113.7")
	var out []netip.Prefix
	first := map[netip.Prefix]item{}
	for _, it := range items {
		p, msg := parsePrefix(it.val)
		switch prev, dup := first[p]; {
		case msg != "":
			d.report(it.line, it.key, "%q %s", it.val, msg)
		case dup && prev.val == it.val:
			d.report(it.line, it.key, "%q is listed twice (also as %s); list each once", it.val, prev.key)
		case dup:
			d.report(it.line, it.key, "%q is the same network as %q (%s); list each once", it.val, prev.val, prev.key)
		case p.Bits() == 0 && !anyAllowed:
			d.report(it.line, it.key, "%q covers every %s address, so any client could choose its own address with X-Forwarded-For; list only the networks of your proxies", it.val, family(p.Addr()))
		default:
			first[p] = it
			out = append(out, p)
		}
	}
	return out
}

// parsePrefix parses a CIDR prefix or a single address into a canonical
// prefix, or says what is wrong.
func parsePrefix(s string) (netip.Prefix, string) {
	const expected = "; expected a CIDR prefix such as 10.0.0.0/8 or 2001:db8::/32, or a single address such as 203.0.113.7"
	addr, bits, isPrefix := strings.Cut(s, "/")
	a, err := netip.ParseAddr(addr)
	switch {
	case err != nil:
		return netip.Prefix{}, "is not an IP address or CIDR prefix" + expected
	case a.Zone() != "":
		return netip.Prefix{}, "has an IPv6 zone (%" + a.Zone() + "); expected an address or prefix without a zone"
	case !isPrefix:
		a = a.Unmap()
		return netip.PrefixFrom(a, a.BitLen()), ""
	}
	p, err := netip.ParsePrefix(s)
	if err != nil {
		return netip.Prefix{}, fmt.Sprintf("has the prefix length /%s; expected /0 to /%d for an %s address", bits, a.BitLen(), family(a))
	}
	if p.Addr().Is4In6() && p.Bits() >= 96 {
		p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
	}
	if m := p.Masked(); m != p {
		return netip.Prefix{}, fmt.Sprintf("has bits set after its prefix length; did you mean %s? (a single address is written without /)", m)
	}
	return p, ""
}

func family(a netip.Addr) string {
	if a.Is4() {
		return "IPv4"
	}
	return "IPv6"
}
