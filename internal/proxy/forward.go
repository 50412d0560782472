package proxy

import (
	"cmp"
	"net/http"
	"net/netip"
	"strings"
)

// Client address. The TCP peer is the only address nobody can forge. When
// the peer is one of our own trusted proxies, the address it received the
// request from is the last entry of the forwarding header it appended to,
// and so on leftwards: the client is the rightmost entry that is not a
// trusted proxy. Entries left of it were written by the client and prove
// nothing. An entry that does not parse stops the walk at the last hop that
// did, because nothing left of garbage can be trusted either.

// peerAddr parses http.Request.RemoteAddr ("ip:port"). IPv4-mapped IPv6
// addresses are unmapped so that IPv4 prefixes match them.
func peerAddr(remote string) netip.Addr {
	if a, ok := parseIPv4Port(remote); ok {
		return a
	}
	ap, err := netip.ParseAddrPort(remote)
	if err != nil {
		return netip.Addr{}
	}
	return ap.Addr().Unmap().WithZone("")
}

// parseIPv4Port reads the RemoteAddr of nearly every request, an IPv4
// address and a port, in a fifth of netip.ParseAddrPort's instructions
// (which this runs on every request). It takes only what ParseAddrPort
// takes the same way: a dotted quad without leading zeros, a colon and one
// to five digits up to 65535. ok is false for anything else, valid or not.
func parseIPv4Port(s string) (a netip.Addr, ok bool) {
	var ip [4]byte
	k, v, digits := 0, 0, 0 // octet, its value, its digits so far
	i := 0
	for ; i < len(s); i++ {
		c := s[i]
		switch {
		case '0' <= c && c <= '9':
			if digits == 1 && v == 0 {
				return netip.Addr{}, false // a leading zero
			}
			v, digits = v*10+int(c-'0'), digits+1
			if v > 255 {
				return netip.Addr{}, false
			}
		case c == '.' && k < 3 && digits > 0:
			ip[k], k, v, digits = byte(v), k+1, 0, 0
		case c == ':' && k == 3 && digits > 0:
			if !validPort(s[i+1:]) {
				return netip.Addr{}, false
			}
			ip[3] = byte(v)
			return netip.AddrFrom4(ip), true
		default:
			return netip.Addr{}, false
		}
	}
	return netip.Addr{}, false
}

// validPort reports whether p is one to five digits up to 65535.
func validPort(p string) bool {
	if len(p) == 0 || len(p) > 5 {
		return false
	}
	v := 0
	for i := 0; i < len(p); i++ {
		if p[i] < '0' || p[i] > '9' {
			return false
		}
		v = v*10 + int(p[i]-'0')
	}
	return v <= 65535
}

func inPrefixes(a netip.Addr, ps []netip.Prefix) bool {
	for _, p := range ps {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// xffClient returns the client's address for a request from peer, a
// trusted proxy, by its X-Forwarded-For (forwardedClient is the same for
// proxies that speak RFC 7239).
func xffClient(peer netip.Addr, h http.Header, trusted []netip.Prefix) netip.Addr {
	client := peer
	step := func(a netip.Addr) bool {
		if !a.IsValid() {
			// A hop a trusted proxy wrote that we cannot read: the client
			// is unknown, not the proxy (RFC 7239 5.2). IP rules and the
			// plain-HTTP check then fail closed.
			client = netip.Addr{}
			return false
		}
		client = a
		return inPrefixes(a, trusted)
	}
	lines := h.Values("X-Forwarded-For")
	for i := len(lines) - 1; i >= 0; i-- {
		line := lines[i]
		for line != "" {
			var entry string
			if j := strings.LastIndexByte(line, ','); j >= 0 {
				line, entry = line[:j], line[j+1:]
			} else {
				line, entry = "", line
			}
			entry = strings.Trim(entry, " \t")
			if entry == "" {
				continue // an empty list element (RFC 9110 section 5.6.1)
			}
			if !step(parseXFFEntry(entry)) {
				return client
			}
		}
	}
	return client
}

// forwardedClient walks a trusted peer's Forwarded elements from the right
// as xffClient walks X-Forwarded-For: each element was appended by the hop
// that received the request from its "for". It returns the client (the
// first "for" that is not a trusted proxy, the leftmost if all are; invalid
// when a trusted hop named one that cannot be read) and the element that
// named it, whose proto and host are what the client used (RFC 7239 5.3,
// 5.4). Elements left of it were written by the client and prove nothing.
// With no element, the client is the peer and elem is nil.
func forwardedClient(peer netip.Addr, h http.Header, trusted []netip.Prefix) (client netip.Addr, elem forwardedElement) {
	var elems []forwardedElement
	for _, l := range h["Forwarded"] {
		es, ok := parseForwarded(l)
		if !ok {
			// A malformed line: only the lines after it can be read.
			elems = elems[:0]
			continue
		}
		elems = append(elems, es...)
	}
	client = peer
	for i := len(elems) - 1; i >= 0; i-- {
		a, _ := parseNode(elems[i].get("for"))
		if !a.IsValid() {
			return netip.Addr{}, elems[i] // see xffClient
		}
		client, elem = a, elems[i]
		if !inPrefixes(a, trusted) {
			break
		}
	}
	return client, elem
}

// parseXFFEntry parses one X-Forwarded-For entry. There is no standard;
// proxies write "ip", some "ip:port" or "[ipv6]:port".
func parseXFFEntry(s string) netip.Addr {
	if a, err := netip.ParseAddr(s); err == nil {
		return cleanAddr(a)
	}
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return cleanAddr(ap.Addr())
	}
	if strings.HasPrefix(s, "[") && strings.HasSuffix(s, "]") {
		if a, err := netip.ParseAddr(s[1 : len(s)-1]); err == nil && a.Is6() {
			return cleanAddr(a)
		}
	}
	return netip.Addr{}
}

// cleanAddr refuses zones (meaningless off the host that wrote them) and
// unmaps IPv4-mapped IPv6.
func cleanAddr(a netip.Addr) netip.Addr {
	if a.Zone() != "" {
		return netip.Addr{}
	}
	return a.Unmap()
}

// parseNode parses an RFC 7239 section 6 node ("for" and "by" values): an
// IPv4 address or a bracketed IPv6 address, with an optional port. The
// "unknown" and obfuscated ("_…") forms carry no address and return false.
func parseNode(s string) (netip.Addr, bool) {
	host := s
	if strings.HasPrefix(s, "[") {
		end := strings.IndexByte(s, ']')
		if end < 0 {
			return netip.Addr{}, false
		}
		host = s[1:end]
		if rest := s[end+1:]; rest != "" && !validNodePort(rest) {
			return netip.Addr{}, false
		}
		a, err := netip.ParseAddr(host)
		if err != nil || !a.Is6() {
			return netip.Addr{}, false
		}
		a = cleanAddr(a)
		return a, a.IsValid()
	}
	if i := strings.IndexByte(s, ':'); i >= 0 {
		if !validNodePort(s[i:]) {
			return netip.Addr{}, false
		}
		host = s[:i]
	}
	a, err := netip.ParseAddr(host)
	if err != nil || !a.Is4() {
		return netip.Addr{}, false
	}
	return a, true
}

// validNodePort checks ":port" where port is 1*5DIGIT or an obfuscated
// "_…" identifier (RFC 7239 section 6).
func validNodePort(s string) bool {
	if len(s) < 2 || s[0] != ':' {
		return false
	}
	s = s[1:]
	if s[0] == '_' {
		for i := 1; i < len(s); i++ {
			if c := s[i]; !(isAlnum(c) || c == '.' || c == '_' || c == '-') {
				return false
			}
		}
		return true
	}
	if len(s) > 5 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

func isAlnum(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9'
}

// forwardedPair is one parameter of a Forwarded element, the key in lower
// case (parameter names are case-insensitive, RFC 7239 section 4) and the
// value unquoted.
type forwardedPair struct {
	Key, Value string
}

// forwardedElement is one hop of a Forwarded header.
type forwardedElement []forwardedPair

func (e forwardedElement) get(key string) string {
	for _, p := range e {
		if p.Key == key {
			return p.Value
		}
	}
	return ""
}

// parseForwarded parses a Forwarded field value (RFC 7239 section 4):
//
//	Forwarded         = 1#forwarded-element
//	forwarded-element = [ forwarded-pair ] *( ";" [ forwarded-pair ] )
//	forwarded-pair    = token "=" value
//	value             = token / quoted-string
//
// Whitespace is allowed around "," (RFC 9110 list syntax) and, leniently,
// around ";". Empty list elements are skipped. A parameter repeated within
// an element is an error (section 4: it MUST NOT occur more than once).
// Anything else outside the grammar makes the whole value invalid.
func parseForwarded(v string) ([]forwardedElement, bool) {
	var elems []forwardedElement
	var cur forwardedElement
	i := 0
	for {
		i = skipOWS(v, i)
		if i < len(v) && isTchar(v[i]) {
			start := i
			for i < len(v) && isTchar(v[i]) {
				i++
			}
			key := strings.ToLower(v[start:i])
			if i >= len(v) || v[i] != '=' {
				return nil, false
			}
			i++
			var val string
			if i < len(v) && v[i] == '"' {
				var ok bool
				if val, i, ok = parseQuoted(v, i); !ok {
					return nil, false
				}
			} else {
				start := i
				for i < len(v) && isTchar(v[i]) {
					i++
				}
				if i == start {
					return nil, false
				}
				val = v[start:i]
			}
			if hasKey(cur, key) {
				return nil, false
			}
			cur = append(cur, forwardedPair{Key: key, Value: val})
		}
		i = skipOWS(v, i)
		if i == len(v) || v[i] == ',' {
			if len(cur) > 0 {
				elems = append(elems, cur)
				cur = nil
			}
			if i == len(v) {
				return elems, true
			}
			i++
			continue
		}
		if v[i] != ';' {
			return nil, false
		}
		i++
	}
}

func hasKey(e forwardedElement, key string) bool {
	for _, p := range e {
		if p.Key == key {
			return true
		}
	}
	return false
}

func skipOWS(v string, i int) int {
	for i < len(v) && (v[i] == ' ' || v[i] == '\t') {
		i++
	}
	return i
}

// parseQuoted parses an RFC 9110 section 5.6.4 quoted-string starting at
// v[i] == '"' and returns its unescaped content and the index after it.
func parseQuoted(v string, i int) (string, int, bool) {
	i++
	start := i
	var b []byte // only when there is a quoted-pair
	for i < len(v) {
		c := v[i]
		switch {
		case c == '"':
			if b != nil {
				return string(b), i + 1, true
			}
			return v[start:i], i + 1, true
		case c == '\\':
			if i+1 >= len(v) || !isQuotedPairChar(v[i+1]) {
				return "", 0, false
			}
			if b == nil {
				b = append([]byte(nil), v[start:i]...)
			}
			b = append(b, v[i+1])
			i += 2
		case isQdtext(c):
			if b != nil {
				b = append(b, c)
			}
			i++
		default:
			return "", 0, false
		}
	}
	return "", 0, false
}

func isQdtext(c byte) bool {
	return c == '\t' || c == ' ' || c == 0x21 || 0x23 <= c && c <= 0x5b || 0x5d <= c && c <= 0x7e || c >= 0x80
}

func isQuotedPairChar(c byte) bool {
	return c == '\t' || c == ' ' || 0x21 <= c && c <= 0x7e || c >= 0x80
}

// formatForwarded writes elements back in the syntax parseForwarded reads,
// quoting values that are not tokens.
func formatForwarded(elems []forwardedElement) string {
	var b strings.Builder
	for i, e := range elems {
		if i > 0 {
			b.WriteString(", ")
		}
		for j, p := range e {
			if j > 0 {
				b.WriteByte(';')
			}
			b.WriteString(p.Key)
			b.WriteByte('=')
			writeForwardedValue(&b, p.Value)
		}
	}
	return b.String()
}

// writeForwardedValue writes v as a token when it is one, else quoted.
func writeForwardedValue(b *strings.Builder, v string) {
	if isToken(v) {
		b.WriteString(v)
		return
	}
	b.WriteByte('"')
	for i := 0; i < len(v); i++ {
		if c := v[i]; c == '"' || c == '\\' {
			b.WriteByte('\\')
		}
		b.WriteByte(v[i])
	}
	b.WriteByte('"')
}

// forwardingHeaders is how many headers setForwarding sets at most.
const forwardingHeaders = 5

// isClientAddrHeader reports the headers other proxies and CDNs use to name
// the client (or a hop), which upstreams often believe. A client cannot vouch
// for its own address: they are removed unless the peer is a trusted
// proxy, and always with upstream.forwarding none (which drops Via too).
func isClientAddrHeader(k string) bool {
	switch k {
	case "True-Client-Ip", "Cf-Connecting-Ip", "Cf-Connecting-Ipv6", "Fastly-Client-Ip", "X-Client-Ip",
		"X-Cluster-Client-Ip", "X-Original-Forwarded-For", "X-Originating-Ip", "X-Forwarded", "Forwarded-For",
		"Client-Ip", "X-Real-Ip":
		return true
	}
	return false
}

// setForwarding sets the forwarding headers of an upstream request, those
// of the sets x and rfc (the API's policy). What a client says about earlier
// hops is kept only when the peer is a trusted proxy, and only when it
// parses; otherwise the gateway is the first hop and says so.
// httputil.ReverseProxy has already removed Forwarded and
// X-Forwarded-{For,Host,Proto} from out before Rewrite; rewrite removes the
// other X-Forwarded-* unless x is set and the peer is trusted.
//
//   - X-Forwarded-For: the trusted chain, then the peer address;
//   - X-Forwarded-Host and -Proto: the first proxy's view when a trusted
//     proxy passed it on, else the Host and scheme the gateway received;
//   - X-Real-Ip: the client address the gateway resolved, replacing any a
//     client sent, since many upstreams read it without checking;
//   - Forwarded (RFC 7239): the trusted chain, then an element for this
//     hop: for=<peer>;host=<Host>;proto=<scheme>.
func setForwarding(out http.Header, in *http.Request, info *requestInfo, x, rfc bool) {
	if !x {
		delete(out, "X-Real-Ip")
		if !rfc {
			delete(out, "Via") // the hops' names and addresses
			return
		}
	}
	proto := "http"
	if in.TLS != nil {
		proto = "https"
	}
	trusted := info.trusted
	// The values live in the request's info: this runs on every request.
	vals := info.vals[1:]
	set := func(i int, key, v string) {
		vals[i] = v
		out[key] = vals[i : i+1 : i+1]
	}
	// The earlier hops come from the header the gateway reads the client
	// from: a trusted proxy that speaks X-Forwarded-For may pass on a
	// client's Forwarded untouched.
	var prior string
	if rfc && trusted {
		prior = priorForwarded(in.Header, info.useForwarded)
	}
	// One allocation for the peer's address and the Forwarded value: they
	// are written one after the other, then cut apart.
	var text [64]byte
	var peerText []byte
	if info.peer.IsValid() {
		peerText = info.peer.AppendTo(text[:0])
	}
	var b strings.Builder
	if rfc {
		b.Grow(2*len(peerText) + len(prior) + len(in.Host) + len(`for="[]";host="";proto=https`))
	} else {
		b.Grow(len(peerText))
	}
	b.Write(peerText)
	if rfc {
		b.WriteString(prior)
		switch {
		case !info.peer.IsValid():
		case info.peer.Is6():
			b.WriteString(`for="[`)
			b.Write(peerText)
			b.WriteString(`]";`)
		default:
			b.WriteString("for=")
			b.Write(peerText)
			b.WriteByte(';')
		}
		b.WriteString("host=")
		writeForwardedValue(&b, in.Host)
		b.WriteString(";proto=")
		b.WriteString(proto)
	}
	both := b.String()
	peer, forwarded := both[:len(peerText)], both[len(peerText):]
	if rfc {
		set(3, "Forwarded", forwarded)
	}
	if !x {
		return
	}

	if info.peer.IsValid() {
		xff := peer
		if trusted {
			xff = priorXFF(in.Header, info.useForwarded) + peer
		}
		set(0, "X-Forwarded-For", xff)
	}
	xproto, host := origin(in, info)
	set(1, "X-Forwarded-Host", host)
	set(2, "X-Forwarded-Proto", xproto)

	var client string
	switch {
	case !info.client.IsValid():
		delete(out, "X-Real-Ip")
		return
	case info.client == info.peer:
		client = peer
	default:
		client = info.client.String()
	}
	set(4, "X-Real-Ip", client)
}

// origin returns the scheme and host the client used for r: the
// listener's scheme and the Host header, or what a trusted peer says it
// received (info.trusted): the proto and host of the Forwarded element that
// named the client when trusted proxies speak RFC 7239 (info.fwd, from
// forwardedClient), else the first value of X-Forwarded-Proto and the first
// entry of X-Forwarded-Host, which those proxies must set rather than pass
// on. A value that is missing, or not http or https for the scheme, leaves
// the gateway's own view.
func origin(r *http.Request, info *requestInfo) (scheme, host string) {
	scheme, host = "http", r.Host
	if r.TLS != nil {
		scheme = "https"
	}
	if info == nil || !info.trusted {
		return scheme, host
	}
	var proto string
	if info.useForwarded {
		proto, host = info.fwd.get("proto"), cmp.Or(info.fwd.get("host"), host)
	} else {
		if v := r.Header["X-Forwarded-Proto"]; len(v) > 0 {
			proto, _, _ = strings.Cut(v[0], ",")
		}
		if v := r.Header["X-Forwarded-Host"]; len(v) > 0 {
			h, _, _ := strings.Cut(v[0], ",")
			host = cmp.Or(strings.TrimSpace(h), host)
		}
	}
	switch p := strings.TrimSpace(proto); {
	case strings.EqualFold(p, "https"):
		scheme = "https"
	case strings.EqualFold(p, "http"):
		scheme = "http"
	}
	return scheme, host
}

// priorXFF returns the X-Forwarded-For entries of the hops before a trusted
// peer, with a trailing ", ", or "": its X-Forwarded-For, or when trusted
// proxies speak RFC 7239 (useForwarded) the for= addresses of its Forwarded
// header. Either is used only when it all parses.
func priorXFF(h http.Header, useForwarded bool) string {
	if !useForwarded {
		if lines := h["X-Forwarded-For"]; len(lines) > 0 && validXFF(lines) {
			return strings.Join(lines, ", ") + ", "
		}
		return ""
	}
	elems, ok := parseAllForwarded(h["Forwarded"])
	if !ok {
		return ""
	}
	var b strings.Builder
	for _, e := range elems {
		a, ok := parseNode(e.get("for"))
		if !ok {
			return "" // unknown or obfuscated: no address to give
		}
		b.WriteString(a.String())
		b.WriteString(", ")
	}
	return b.String()
}

// priorForwarded returns the Forwarded elements of the hops before a
// trusted peer, with a trailing ", ", or "": from its Forwarded header when
// trusted proxies speak RFC 7239, else one for= element per entry of its
// X-Forwarded-For. Either is used only when it all parses.
func priorForwarded(h http.Header, useForwarded bool) string {
	if useForwarded {
		if elems, ok := parseAllForwarded(h["Forwarded"]); ok && len(elems) > 0 {
			return formatForwarded(elems) + ", "
		}
		return ""
	}
	lines := h["X-Forwarded-For"]
	if len(lines) == 0 || !validXFF(lines) {
		return ""
	}
	var b strings.Builder
	for _, l := range lines {
		for e := range strings.SplitSeq(l, ",") {
			if e = strings.Trim(e, " \t"); e == "" {
				continue
			}
			a := parseXFFEntry(e)
			if a.Is6() {
				b.WriteString(`for="[` + a.String() + `]", `)
			} else {
				b.WriteString("for=" + a.String() + ", ")
			}
		}
	}
	return b.String()
}

func parseAllForwarded(lines []string) ([]forwardedElement, bool) {
	var all []forwardedElement
	for _, l := range lines {
		es, ok := parseForwarded(l)
		if !ok {
			return nil, false
		}
		all = append(all, es...)
	}
	return all, true
}

func validXFF(lines []string) bool {
	for _, l := range lines {
		for e := range strings.SplitSeq(l, ",") {
			if e = strings.Trim(e, " \t"); e != "" && !parseXFFEntry(e).IsValid() {
				return false
			}
		}
	}
	return true
}
