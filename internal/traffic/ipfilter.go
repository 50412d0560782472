package traffic

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
)

// IPFilter decides whether a client address may pass an allow list and a
// deny list (gatehouse.Traffic.IPAllow/IPDeny, gatehouse.ClientNetworks).
// Deny wins; an empty allow list allows every address not denied.
//
// IPv4-mapped IPv6 is one address space with IPv4: a client at
// ::ffff:10.0.0.1 is 10.0.0.1, and a prefix written ::ffff:10.0.0.0/104 is
// 10.0.0.0/8. Other IPv6 prefixes never match IPv4 clients, not even ::/0;
// list 0.0.0.0/0 as well to mean every address.
//
// Each list is kept per family as sorted, merged address ranges, so a
// lookup is one binary search: a few dozen nanoseconds for hundreds of
// prefixes, without allocating. A nil *IPFilter allows everything.
type IPFilter struct {
	allow, deny prefixSet
}

type prefixSet struct {
	v4 []range4
	v6 []range6
}

type range4 struct{ lo, hi uint32 }

type range6 struct{ lo, hi uint128 }

type uint128 struct{ hi, lo uint64 }

func (a uint128) less(b uint128) bool { return a.hi < b.hi || a.hi == b.hi && a.lo < b.lo }

func (a uint128) cmp(b uint128) int {
	switch {
	case a.less(b):
		return -1
	case b.less(a):
		return 1
	}
	return 0
}

func (a uint128) next() (uint128, bool) {
	if a.lo == ^uint64(0) {
		if a.hi == ^uint64(0) {
			return a, false
		}
		return uint128{a.hi + 1, 0}, true
	}
	return uint128{a.hi, a.lo + 1}, true
}

// NewIPFilter builds a filter from allow and deny prefixes. It fails on a
// zero (invalid) prefix rather than skip it: a skipped allow entry could
// leave the allow list empty, which allows everyone.
func NewIPFilter(allow, deny []netip.Prefix) (*IPFilter, error) {
	f := &IPFilter{}
	var err error
	if f.allow, err = newPrefixSet(allow); err != nil {
		return nil, fmt.Errorf("allow list: %w", err)
	}
	if f.deny, err = newPrefixSet(deny); err != nil {
		return nil, fmt.Errorf("deny list: %w", err)
	}
	return f, nil
}

// Allowed reports whether addr passes the filter. An invalid (zero) addr
// passes only a filter with both lists empty: the gateway failed to learn
// the peer, and a filter that names networks must not guess. Zones are
// ignored.
func (f *IPFilter) Allowed(addr netip.Addr) bool {
	if f == nil {
		return true
	}
	if !addr.IsValid() {
		return f.allow.empty() && f.deny.empty()
	}
	addr = addr.Unmap()
	if f.deny.contains(addr) {
		return false
	}
	return f.allow.empty() || f.allow.contains(addr)
}

func newPrefixSet(ps []netip.Prefix) (prefixSet, error) {
	var s prefixSet
	for i, p := range ps {
		if !p.IsValid() {
			return prefixSet{}, fmt.Errorf("entry %d is not a valid prefix", i)
		}
		p = p.Masked()
		if a := p.Addr(); a.Is4In6() && p.Bits() >= 96 {
			p = netip.PrefixFrom(a.Unmap(), p.Bits()-96)
		}
		if p.Addr().Is4() {
			a := p.Addr().As4()
			lo := binary.BigEndian.Uint32(a[:])
			// A shift by 32 or more yields 0 in Go, so /32 gives no host bits.
			s.v4 = append(s.v4, range4{lo, lo | ^uint32(0)>>p.Bits()})
			continue
		}
		a := p.Addr().As16()
		lo := uint128{binary.BigEndian.Uint64(a[:8]), binary.BigEndian.Uint64(a[8:])}
		host := uint128{^uint64(0) >> p.Bits(), ^uint64(0)}
		if p.Bits() >= 64 {
			host = uint128{0, ^uint64(0) >> (p.Bits() - 64)}
		}
		s.v6 = append(s.v6, range6{lo, uint128{lo.hi | host.hi, lo.lo | host.lo}})
	}
	s.v4 = merge4(s.v4)
	s.v6 = merge6(s.v6)
	return s, nil
}

// merge4 sorts ranges and joins overlapping or adjacent ones, so that a
// lookup needs only the last range starting at or below the address.
func merge4(rs []range4) []range4 {
	slices.SortFunc(rs, func(a, b range4) int {
		switch {
		case a.lo < b.lo:
			return -1
		case a.lo > b.lo:
			return 1
		}
		return 0
	})
	out := rs[:0]
	for _, r := range rs {
		if n := len(out); n > 0 && (out[n-1].hi == ^uint32(0) || r.lo <= out[n-1].hi+1) {
			out[n-1].hi = max(out[n-1].hi, r.hi)
			continue
		}
		out = append(out, r)
	}
	return slices.Clip(out)
}

func merge6(rs []range6) []range6 {
	slices.SortFunc(rs, func(a, b range6) int { return a.lo.cmp(b.lo) })
	out := rs[:0]
	for _, r := range rs {
		if n := len(out); n > 0 {
			last := &out[n-1]
			if next, ok := last.hi.next(); !ok || !next.less(r.lo) {
				if last.hi.less(r.hi) {
					last.hi = r.hi
				}
				continue
			}
		}
		out = append(out, r)
	}
	return slices.Clip(out)
}

func (s *prefixSet) empty() bool { return len(s.v4) == 0 && len(s.v6) == 0 }

// contains expects an unmapped address.
func (s *prefixSet) contains(addr netip.Addr) bool {
	if addr.Is4() {
		a := addr.As4()
		x := binary.BigEndian.Uint32(a[:])
		rs := s.v4
		lo, hi := 0, len(rs)
		for lo < hi {
			m := int(uint(lo+hi) >> 1)
			if rs[m].lo <= x {
				lo = m + 1
			} else {
				hi = m
			}
		}
		return lo > 0 && x <= rs[lo-1].hi
	}
	a := addr.As16()
	x := uint128{binary.BigEndian.Uint64(a[:8]), binary.BigEndian.Uint64(a[8:])}
	rs := s.v6
	lo, hi := 0, len(rs)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if !x.less(rs[m].lo) {
			lo = m + 1
		} else {
			hi = m
		}
	}
	return lo > 0 && !rs[lo-1].hi.less(x)
}

// ParsePrefixes parses IP prefixes in CIDR notation (10.0.0.0/8,
// 2001:db8::/32); a plain address is a single-address prefix (/32 or /128).
// Surrounding spaces are ignored. It rejects a prefix with bits set past its
// length (10.0.0.1/8), which is more often a typo than a wish for 10.0.0.0/8,
// and addresses with a zone, which no client address carries. The error
// names the entry by index and value.
func ParsePrefixes(ss []string) ([]netip.Prefix, error) {
	out := make([]netip.Prefix, 0, len(ss))
	for i, s := range ss {
		p, err := parsePrefix(strings.TrimSpace(s))
		if err != nil {
			return nil, fmt.Errorf("entry %d: %w", i, err)
		}
		out = append(out, p)
	}
	return out, nil
}

func parsePrefix(s string) (netip.Prefix, error) {
	if s == "" {
		return netip.Prefix{}, errors.New("empty; want an IP address or prefix such as 10.0.0.0/8")
	}
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return netip.Prefix{}, fmt.Errorf("%q is not an IP prefix such as 10.0.0.0/8 or 2001:db8::/32: %s", s, reason(err))
		}
		if m := p.Masked(); m != p {
			return netip.Prefix{}, fmt.Errorf("%q has address bits set beyond /%d; did you mean %s?", s, p.Bits(), m)
		}
		return p, nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("%q is not an IP address or prefix: %s", s, reason(err))
	}
	if a.Zone() != "" {
		return netip.Prefix{}, fmt.Errorf("%q has a zone; write the address without %%%s", s, a.Zone())
	}
	return netip.PrefixFrom(a, a.BitLen()), nil
}

// reason drops the call and input that netip's parse errors start with
// (`ParseAddr("10.0.0.300"): IPv4 field has value >255`), since our
// message already quotes the entry.
func reason(err error) string {
	msg := err.Error()
	if i := strings.LastIndex(msg, "): "); i >= 0 {
		return msg[i+3:]
	}
	return msg
}
