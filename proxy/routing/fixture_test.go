package routing

import (
	"context"
	"net/netip"
	"strings"
	"sync"
	"testing"

	"github.com/sipfed/terraform-provider-sip/internal/api"
)

// zoneDNS is an in-memory DNS for routing's tests: routing is pure by design and asks for DNS
// through an interface, so its tests need no socket. Package discovery is tested against a real
// DNS server.
type zoneDNS struct {
	srv     map[string][]SRVRecord // by domain
	srvErr  map[string]error
	addrs   map[string][]netip.Addr // by host
	addrErr map[string]error
	cached  bool

	mu    sync.Mutex
	calls []string // "srv domain" and "addrs host", in order
}

func newZone() *zoneDNS {
	return &zoneDNS{srv: map[string][]SRVRecord{}, srvErr: map[string]error{}, addrs: map[string][]netip.Addr{}, addrErr: map[string]error{}}
}

func (z *zoneDNS) LookupSRV(_ context.Context, domain string) (SRVAnswer, error) {
	z.mu.Lock()
	z.calls = append(z.calls, "srv "+domain)
	z.mu.Unlock()
	if err := z.srvErr[domain]; err != nil {
		return SRVAnswer{}, err
	}
	recs, ok := z.srv[domain]
	if !ok {
		return SRVAnswer{}, &DNSError{Name: api.FederationSRVName(domain), Type: "SRV", Err: ErrNXDOMAIN}
	}
	return SRVAnswer{Records: recs, TTL: 300, Cached: z.cached}, nil
}

func (z *zoneDNS) LookupAddrs(_ context.Context, host string) (AddrAnswer, error) {
	z.mu.Lock()
	z.calls = append(z.calls, "addrs "+host)
	z.mu.Unlock()
	if err := z.addrErr[host]; err != nil {
		return AddrAnswer{}, err
	}
	a, ok := z.addrs[host]
	if !ok {
		return AddrAnswer{}, &DNSError{Name: host, Type: "A/AAAA", Err: ErrNXDOMAIN}
	}
	return AddrAnswer{Addrs: a, TTL: 300, Cached: z.cached}, nil
}

func (z *zoneDNS) Calls() []string {
	z.mu.Lock()
	defer z.mu.Unlock()
	return append([]string(nil), z.calls...)
}

// sequence returns a Random that yields vals in turn, then 0: tests choose each RFC 2782 draw.
func sequence(vals ...uint64) func() uint64 {
	var mu sync.Mutex
	return func() uint64 {
		mu.Lock()
		defer mu.Unlock()
		if len(vals) == 0 {
			return 0
		}
		v := vals[0]
		vals = vals[1:]
		return v
	}
}

func addrs(ss ...string) []netip.Addr {
	out := make([]netip.Addr, len(ss))
	for i, s := range ss {
		out[i] = netip.MustParseAddr(s)
	}
	return out
}

// cfgOf builds a Config from a compact description: domains as "name" (lync) or "name:aol", and
// routes as given (ids r1, r2, ... unless set).
func cfgOf(domains []string, routes ...api.StaticRoute) *Config {
	cfg := &Config{Revision: 7, Domains: map[string]api.FederatedDomain{}, Routes: map[string]api.StaticRoute{}, ServiceEnabled: true}
	for _, d := range domains {
		name, typ, _ := strings.Cut(d, ":")
		if typ == "" {
			typ = api.DomainTypeLync
		}
		cfg.Domains[name] = api.FederatedDomain{Domain: name, Type: typ}
	}
	for i, r := range routes {
		if r.ID == "" {
			r.ID = "r" + string(rune('1'+i))
		}
		cfg.Routes[r.ID] = r
	}
	return cfg
}

// rt is a static route with the API's defaults: pattern, next hop, then options.
func rt(id, pattern, hop string, opts ...func(*api.StaticRoute)) api.StaticRoute {
	r := api.NewStaticRoute()
	r.ID, r.DestinationPattern, r.NextHop = id, pattern, hop
	for _, o := range opts {
		o(&r)
	}
	return r
}

func prio(p int) func(*api.StaticRoute)   { return func(r *api.StaticRoute) { r.Priority = p } }
func weight(w int) func(*api.StaticRoute) { return func(r *api.StaticRoute) { r.Weight = w } }
func port(p int) func(*api.StaticRoute)   { return func(r *api.StaticRoute) { r.NextHopPort = p } }
func proto(p string) func(*api.StaticRoute) {
	return func(r *api.StaticRoute) { r.Protocol = p }
}
func outOfService(r *api.StaticRoute) { r.InService = false }
func block(r *api.StaticRoute)        { r.Block = true }
func noLessSpecific(r *api.StaticRoute) {
	r.AllowLessSpecific = false
}
func user(r *api.StaticRoute) { r.RouteType = api.RouteTypeUser }

// hops renders next hops as "routeid@addr:port/transport" (static) or "host@addr:port" (srv).
func hops(d *Decision) []string {
	out := []string{}
	for _, h := range d.NextHops {
		switch h.Step {
		case api.StepStatic:
			out = append(out, h.RouteID+"@"+h.Addr.String()+"/"+h.Transport)
		default:
			out = append(out, h.Host+"@"+h.Addr.String())
		}
	}
	return out
}

func decide(t *testing.T, s *Snapshot, dns DNS, user, domain string) *Decision {
	t.Helper()
	var d Decision
	s.Decide(context.Background(), dns, Request{User: user, Domain: domain}, &d)
	return &d
}
