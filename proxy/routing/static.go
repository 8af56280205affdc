package routing

import (
	"net/netip"
	"strings"

	"github.com/sipfed/terraform-provider-sip/internal/api"
)

// route is the part of an api.StaticRoute that routing reads, kept small: the snapshot holds one
// per configured route, and its strings share the bytes of the caller's configuration.
type route struct {
	id      string
	host    string // next_hop as configured: the Host of its next hops
	pattern string // destination_pattern as configured
	// addr is the next hop when next_hop is an IP literal, parsed once at build; invalid for a
	// name, which is resolved per decision through DNS.LookupAddrs (and its cache).
	addr     netip.AddrPort
	port     uint16
	priority uint16
	weight   uint16
	proto    uint8
	flags    uint8
}

const (
	flagInService uint8 = 1 << iota
	flagBlock
	flagAllowLessSpecific
	flagUser // route_type "user"
)

// protocols maps route.proto to the NextHop.Transport string without allocating.
var protocols = [...]string{api.ProtocolTLS, api.ProtocolTCP, api.ProtocolUDP}

func protocolIndex(p string) (uint8, bool) {
	for i, name := range protocols {
		if strings.EqualFold(p, name) {
			return uint8(i), true
		}
	}
	return 0, false
}

func (r *route) has(f uint8) bool { return r.flags&f != 0 }

// newRoute compacts a configured route; it returns nil for a route that cannot match anything (an
// invalid pattern, protocol or next hop), which the admin API's validation already refuses.
func newRoute(id string, in *api.StaticRoute) *route {
	r := &route{id: id, priority: clamp16(in.Priority), weight: clamp16(in.Weight)}
	if in.ID != "" {
		r.id = in.ID
	}
	var ok bool
	if r.proto, ok = protocolIndex(or(in.Protocol, api.DefaultProtocol)); !ok {
		return nil
	}
	port := in.NextHopPort
	if port == 0 {
		port = api.DefaultNextHopPort
	}
	if port < 1 || port > 65535 {
		return nil
	}
	r.port = uint16(port)
	if in.InService {
		r.flags |= flagInService
	}
	if in.Block {
		r.flags |= flagBlock
	}
	if in.AllowLessSpecific {
		r.flags |= flagAllowLessSpecific
	}
	if strings.EqualFold(in.RouteType, api.RouteTypeUser) {
		r.flags |= flagUser
		r.pattern = in.DestinationPattern
	} else {
		r.pattern = lower(in.DestinationPattern)
	}
	// The API's own rule, not only what the index can hold: a route stored by another version,
	// a restore or another cluster node with a pattern the API refuses must not route
	// (FuzzDestinationPattern found user patterns with bytes the API refuses routing).
	routeType := api.RouteTypeDomain
	if r.has(flagUser) {
		routeType = api.RouteTypeUser
	}
	if api.ValidateDestinationPattern("destination_pattern", routeType, in.DestinationPattern) != nil {
		return nil
	}
	if _, _, ok := r.parsePattern(); !ok {
		return nil
	}
	r.host = lower(strings.TrimSuffix(in.NextHop, "."))
	if r.host == "" && !r.has(flagBlock) {
		return nil
	}
	if a, err := netip.ParseAddr(strings.TrimSuffix(strings.TrimPrefix(r.host, "["), "]")); err == nil {
		r.addr = netip.AddrPortFrom(a.Unmap(), r.port)
		r.host = r.addr.Addr().String()
	}
	return r
}

// slotKind says which index a pattern lives in.
type slotKind uint8

const (
	slotDomainExact slotKind = iota // ".com.domaina": domaina.com only
	slotDomainWild                  // ".com.domaina.*": domaina.com and every subdomain; ".*": all
	slotUserExact                   // "alice"
	slotUserPrefix                  // "ali*": every user beginning with "ali"; "*": every user
)

// slot returns where the route's pattern is indexed: its kind and key. Domain patterns are keyed
// by the domain in its usual order (".com.domaina.*" -> "domaina.com", ".*" -> ""), so that a
// decision finds every candidate as a suffix of the Request-URI's domain, without building a
// string.
func (r *route) slot() (slotKind, string) {
	kind, body, _ := r.parsePattern()
	if kind == slotDomainExact || kind == slotDomainWild {
		return kind, reverseLabels(body)
	}
	return kind, body
}

// parsePattern splits the pattern into its kind and body: the user or user prefix, or the reversed
// domain without the leading dot and trailing ".*". ok is false for a pattern that matches nothing.
func (r *route) parsePattern() (kind slotKind, body string, ok bool) {
	p := r.pattern
	if r.has(flagUser) {
		if p == "" {
			return 0, "", false
		}
		if body, ok := strings.CutSuffix(p, "*"); ok {
			return slotUserPrefix, body, true
		}
		return slotUserExact, p, true
	}
	if p == ".*" {
		return slotDomainWild, "", true
	}
	if len(p) < 2 || p[0] != '.' {
		return 0, "", false
	}
	kind, body = slotDomainExact, p[1:]
	if b, ok := strings.CutSuffix(body, ".*"); ok {
		kind, body = slotDomainWild, b
	}
	if body == "" || strings.Contains(body, "*") || strings.Contains(body, "..") || body[len(body)-1] == '.' {
		return 0, "", false
	}
	return kind, body, true
}

// reverseLabels turns "com.domaina.x" into "x.domaina.com" (and back).
func reverseLabels(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	for end := len(s); end > 0; {
		start := strings.LastIndexByte(s[:end], '.') + 1
		if b.Len() > 0 {
			b.WriteByte('.')
		}
		b.WriteString(s[start:end])
		end = start - 1
	}
	return b.String()
}

// pattern holds the in-service routes of one destination pattern, in the order the ordering starts
// from: block routes first, then by priority, then weight ascending (RFC 2782 wants weight-0
// entries first), then id. A pattern without in-service routes is not indexed: it does not match.
type pattern struct {
	routes       []*route
	blocked      bool // an in-service block route: the pattern answers 403
	lessSpecific bool // every route allows less specific patterns to follow (allow_less_specific)
	// batch is the builder that made this pattern: that builder may still change it, nobody else.
	batch *builder
}

func (p *pattern) text() string { return p.routes[0].pattern }

// patternPair is what the domain index holds per key: the exact and the wildcard pattern.
type patternPair struct {
	exact, wild *pattern
}

func clamp16(v int) uint16 {
	switch {
	case v < 0:
		return 0
	case v > 65535:
		return 65535
	}
	return uint16(v)
}

func or(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// lower lower-cases ASCII names, allocating only when s has upper-case letters.
func lower(s string) string {
	for i := 0; i < len(s); i++ {
		if c := s[i]; 'A' <= c && c <= 'Z' {
			return strings.ToLower(s)
		}
	}
	return s
}

// normalizeName puts a domain from a request into the form the snapshot keys by: lower case, no
// trailing dot. It allocates only for upper-case input.
func normalizeName(s string) string {
	return lower(strings.TrimSuffix(s, "."))
}
