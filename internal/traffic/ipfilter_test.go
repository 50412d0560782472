package traffic_test

import (
	"math/rand/v2"
	"net/netip"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/gatehouse/gatehouse/internal/traffic"
)

func mustPrefixes(t testing.TB, ss ...string) []netip.Prefix {
	t.Helper()
	ps, err := traffic.ParsePrefixes(ss)
	if err != nil {
		t.Fatal(err)
	}
	return ps
}

func TestIPFilter(t *testing.T) {
	tests := []struct {
		name        string
		allow, deny []string
		pass, block []string
	}{
		{name: "EmptyAllowsAll",
			pass: []string{"10.0.0.1", "2001:db8::1", "::ffff:1.2.3.4", "0.0.0.0", "::"}},
		{name: "AllowIPv4",
			allow: []string{"10.0.0.0/8"},
			pass:  []string{"10.0.0.0", "10.255.255.255", "10.1.2.3", "::ffff:10.0.0.1"},
			block: []string{"9.255.255.255", "11.0.0.0", "2001:db8::1", "::a00:1"}},
		{name: "AllowIPv6",
			allow: []string{"2001:db8::/32"},
			pass:  []string{"2001:db8::", "2001:db8:ffff:ffff:ffff:ffff:ffff:ffff", "2001:db8::1%eth0"},
			block: []string{"2001:db9::", "2001:db7:ffff::1", "10.0.0.1"}},
		{name: "DenyWinsOverAllow",
			allow: []string{"10.0.0.0/8", "2001:db8::/32"},
			deny:  []string{"10.0.0.0/8", "2001:db8:bad::/48"},
			pass:  []string{"2001:db8:900d::1"},
			block: []string{"10.1.2.3", "2001:db8:bad::1", "192.0.2.1"}},
		{name: "DenyHoleInAllow",
			allow: []string{"10.0.0.0/8"},
			deny:  []string{"10.1.0.0/16", "10.2.3.4"},
			pass:  []string{"10.0.255.255", "10.2.0.0", "10.2.3.5", "10.2.3.3"},
			block: []string{"10.1.0.0", "10.1.255.255", "10.2.3.4", "::ffff:10.2.3.4"}},
		{name: "DenyOnly",
			deny:  []string{"192.0.2.0/24", "2001:db8::/32"},
			pass:  []string{"192.0.3.0", "198.51.100.7", "2001:db9::1"},
			block: []string{"192.0.2.200", "::ffff:192.0.2.1", "2001:db8::42"}},
		{name: "MappedPrefix",
			deny:  []string{"::ffff:10.0.0.0/104", "::ffff:192.0.2.1"},
			pass:  []string{"11.0.0.1", "192.0.2.2"},
			block: []string{"10.9.8.7", "::ffff:10.9.8.7", "192.0.2.1"}},
		{name: "MappedWholeIPv4",
			deny:  []string{"::ffff:0.0.0.0/96"},
			pass:  []string{"2001:db8::1"},
			block: []string{"1.2.3.4", "255.255.255.255"}},
		{name: "IPv6AnyIsNotIPv4",
			deny:  []string{"::/0"},
			pass:  []string{"1.2.3.4", "::ffff:1.2.3.4"},
			block: []string{"::1", "2001:db8::1", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"}},
		{name: "EverythingDenied",
			deny:  []string{"0.0.0.0/0", "::/0"},
			block: []string{"0.0.0.0", "255.255.255.255", "::", "::ffff:1.2.3.4", "fe80::1%lo"}},
		{name: "AdjacentMerged",
			allow: []string{"10.128.0.0/9", "10.0.0.0/9", "10.0.0.0/16", "12.0.0.0/8"},
			pass:  []string{"10.0.0.0", "10.127.255.255", "10.128.0.0", "10.255.255.255", "12.1.1.1"},
			block: []string{"11.0.0.0", "9.255.255.255", "13.0.0.0"}},
		{name: "TopOfSpace",
			allow: []string{"255.255.255.255", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "255.255.255.0/24"},
			pass:  []string{"255.255.255.255", "255.255.255.0", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"},
			block: []string{"255.255.254.255", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe"}},
		{name: "SixtyFourBoundary",
			allow: []string{"2001:db8:0:1::/64", "2001:db8::/127"},
			pass:  []string{"2001:db8:0:1::", "2001:db8:0:1:ffff:ffff:ffff:ffff", "2001:db8::1"},
			block: []string{"2001:db8:0:2::", "2001:db8:0:0:ffff:ffff:ffff:ffff", "2001:db8::2"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f, err := traffic.NewIPFilter(mustPrefixes(t, tc.allow...), mustPrefixes(t, tc.deny...))
			if err != nil {
				t.Fatal(err)
			}
			for _, s := range tc.pass {
				if !f.Allowed(netip.MustParseAddr(s)) {
					t.Errorf("%s blocked, want allowed", s)
				}
			}
			for _, s := range tc.block {
				if f.Allowed(netip.MustParseAddr(s)) {
					t.Errorf("%s allowed, want blocked", s)
				}
			}
		})
	}
}

func TestIPFilterEdges(t *testing.T) {
	var nilFilter *traffic.IPFilter
	if !nilFilter.Allowed(netip.MustParseAddr("10.0.0.1")) || !nilFilter.Allowed(netip.Addr{}) {
		t.Error("a nil filter must allow everything")
	}
	empty, _ := traffic.NewIPFilter(nil, nil)
	if !empty.Allowed(netip.Addr{}) {
		t.Error("an empty filter must allow an unknown peer")
	}
	deny, _ := traffic.NewIPFilter(nil, mustPrefixes(t, "192.0.2.0/24"))
	if deny.Allowed(netip.Addr{}) {
		t.Error("a filter with a deny list allowed an invalid address")
	}
	if _, err := traffic.NewIPFilter([]netip.Prefix{{}}, nil); err == nil {
		t.Error("NewIPFilter accepted a zero prefix in the allow list")
	}
	if _, err := traffic.NewIPFilter(nil, []netip.Prefix{{}}); err == nil {
		t.Error("NewIPFilter accepted a zero prefix in the deny list")
	}
	// Unmasked prefixes (as a caller may build them) are masked.
	f, err := traffic.NewIPFilter([]netip.Prefix{netip.MustParsePrefix("10.1.2.3/8")}, nil)
	if err != nil || !f.Allowed(netip.MustParseAddr("10.200.0.1")) {
		t.Errorf("unmasked prefix: err %v; 10.200.0.1 should pass 10.1.2.3/8", err)
	}
}

// TestIPFilterMatchesNaive compares the merged ranges with netip's own
// Prefix.Contains over random prefixes and addresses.
func TestIPFilterMatchesNaive(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for round := range 50 {
		allow, deny := randomPrefixes(rng, 100), randomPrefixes(rng, 30)
		if round%5 == 0 {
			allow = nil
		}
		f, err := traffic.NewIPFilter(allow, deny)
		if err != nil {
			t.Fatal(err)
		}
		for range 2000 {
			a := randomAddr(rng, append(allow, deny...))
			if got, want := f.Allowed(a), naiveAllowed(allow, deny, a); got != want {
				t.Fatalf("round %d: Allowed(%v) = %v, naive says %v\nallow %v\ndeny %v", round, a, got, want, allow, deny)
			}
		}
	}
}

// naiveAllowed is the specification: addresses and IPv4-mapped prefixes
// unmapped, deny first, then allow.
func naiveAllowed(allow, deny []netip.Prefix, a netip.Addr) bool {
	a = a.Unmap().WithZone("")
	in := func(ps []netip.Prefix) bool {
		for _, p := range ps {
			p = p.Masked()
			if p.Addr().Is4In6() && p.Bits() >= 96 {
				p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
			}
			if p.Contains(a) {
				return true
			}
		}
		return false
	}
	return !in(deny) && (len(allow) == 0 || in(allow))
}

func randomPrefixes(rng *rand.Rand, n int) []netip.Prefix {
	ps := make([]netip.Prefix, n)
	for i := range ps {
		switch rng.IntN(3) {
		case 0:
			var b [4]byte
			for j := range b {
				b[j] = byte(rng.IntN(4)) // a small space, so prefixes overlap
			}
			ps[i] = netip.PrefixFrom(netip.AddrFrom4(b), rng.IntN(33)).Masked()
		case 1:
			var b [16]byte
			b[0], b[1], b[15] = 0x20, 0x01, byte(rng.IntN(4))
			b[7] = byte(rng.IntN(4))
			ps[i] = netip.PrefixFrom(netip.AddrFrom16(b), 16+rng.IntN(113)).Masked()
		default:
			var b [4]byte
			for j := range b {
				b[j] = byte(rng.IntN(4))
			}
			ps[i] = netip.PrefixFrom(netip.AddrFrom16(netip.AddrFrom4(b).As16()), 96+rng.IntN(33)).Masked()
		}
	}
	return ps
}

// randomAddr picks an address near a prefix boundary or at random.
func randomAddr(rng *rand.Rand, ps []netip.Prefix) netip.Addr {
	if len(ps) == 0 || rng.IntN(4) == 0 {
		var b [4]byte
		for j := range b {
			b[j] = byte(rng.IntN(4))
		}
		return netip.AddrFrom4(b)
	}
	a := ps[rng.IntN(len(ps))].Addr()
	switch rng.IntN(3) {
	case 0:
		return a
	case 1:
		if p := a.Prev(); p.IsValid() {
			return p
		}
	}
	if n := a.Next(); n.IsValid() {
		return n
	}
	return a
}

func TestParsePrefixes(t *testing.T) {
	got, err := traffic.ParsePrefixes([]string{"10.0.0.0/8", " 192.0.2.1 ", "2001:db8::/32", "::1", "::ffff:10.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	want := []netip.Prefix{
		netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("192.0.2.1/32"),
		netip.MustParsePrefix("2001:db8::/32"), netip.MustParsePrefix("::1/128"),
		netip.MustParsePrefix("::ffff:10.0.0.1/128"),
	}
	if diff := cmp.Diff(want, got, cmp.Comparer(func(a, b netip.Prefix) bool { return a == b })); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	if got, err := traffic.ParsePrefixes(nil); err != nil || len(got) != 0 {
		t.Errorf("ParsePrefixes(nil) = %v, %v; want empty, nil", got, err)
	}

	bad := []struct {
		in, want string
	}{
		{"", "entry 0: empty"},
		{"10.0.0.300", `entry 0: "10.0.0.300" is not an IP address or prefix`},
		{"10.0.0.0/33", `entry 0: "10.0.0.0/33" is not an IP prefix`},
		{"10.0.0.1/8", `entry 0: "10.0.0.1/8" has address bits set beyond /8; did you mean 10.0.0.0/8?`},
		{"2001:db8::1/32", "did you mean 2001:db8::/32?"},
		{"fe80::1%eth0", `has a zone; write the address without %eth0`},
		{"fe80::/10%eth0", "is not an IP prefix"},
		{"example.com", "is not an IP address"},
		{"10.0.0.0/8/8", "is not an IP prefix"},
	}
	for _, tc := range bad {
		_, err := traffic.ParsePrefixes([]string{tc.in})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("ParsePrefixes(%q) error %v, want one containing %q", tc.in, err, tc.want)
		}
	}
	_, err = traffic.ParsePrefixes([]string{"10.0.0.0/8", "nope"})
	if err == nil || !strings.HasPrefix(err.Error(), "entry 1: ") {
		t.Errorf("error %v does not name entry 1", err)
	}
}

// FuzzParsePrefixes parses a comma-separated list. Whatever it accepts is
// masked, round-trips through String, and builds a filter that agrees with
// the naive specification on addr.
func FuzzParsePrefixes(f *testing.F) {
	for _, s := range []string{"10.0.0.0/8", "192.0.2.1", "::ffff:10.0.0.0/104,10.0.0.0/8", "2001:db8::/32,::/0", "0.0.0.0/0", "fe80::1%eth0", "1.2.3.4/33"} {
		f.Add(s, "10.1.2.3")
	}
	f.Fuzz(func(t *testing.T, list, addr string) {
		ps, err := traffic.ParsePrefixes(strings.Split(list, ","))
		if err != nil {
			return
		}
		for _, p := range ps {
			if !p.IsValid() || p != p.Masked() {
				t.Fatalf("accepted %v, not a valid masked prefix", p)
			}
			if back, err := netip.ParsePrefix(p.String()); err != nil || back != p {
				t.Fatalf("%v does not round-trip: %v, %v", p, back, err)
			}
		}
		allow, err := traffic.NewIPFilter(ps, nil)
		if err != nil {
			t.Fatalf("NewIPFilter rejected parsed prefixes: %v", err)
		}
		deny, _ := traffic.NewIPFilter(nil, ps)
		for _, p := range ps {
			if !allow.Allowed(p.Addr()) || deny.Allowed(p.Addr()) {
				t.Fatalf("the first address of %v is not in a filter of %v", p, ps)
			}
		}
		if a, err := netip.ParseAddr(addr); err == nil {
			if got, want := allow.Allowed(a), naiveAllowed(ps, nil, a); got != want {
				t.Fatalf("allow %v: Allowed(%v) = %v, want %v", ps, a, got, want)
			}
			if got, want := deny.Allowed(a), naiveAllowed(nil, ps, a); got != want {
				t.Fatalf("deny %v: Allowed(%v) = %v, want %v", ps, a, got, want)
			}
		}
	})
}
