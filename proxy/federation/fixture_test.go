package federation

import (
	"context"
	"io"
	"log/slog"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/sipfed/terraform-provider-sip/internal/api"
	"github.com/sipfed/terraform-provider-sip/proxy/discovery"
	"github.com/sipfed/terraform-provider-sip/proxy/routing"
	"github.com/sipfed/terraform-provider-sip/proxy/sip/core"
	"github.com/sipfed/terraform-provider-sip/proxy/sip/message"
	"github.com/sipfed/terraform-provider-sip/proxy/sip/topology"
	"github.com/sipfed/terraform-provider-sip/proxy/sip/transport"
)

// The test federation: example.com is ours; partners federate over mutual TLS, except
// plain.example, which an administrator routes in plaintext.
const (
	localDomain  = "example.com"
	partnerDom   = "partner.example" // any TLS peer subject may speak for it
	boundDomain  = "bound.example"   // only edge.bound.example may
	plainDomain  = "plain.example"   // a static route over TCP, no TLS
	directDomain = "direct.example"  // direct federation: the node FQDN faces it
	nosrvDomain  = "nosrv.example"   // federated, no route, no SRV
	slowDomain   = "slow.example"    // its SRV answer is not cached yet
	routingFQDN  = "fed.example.com"
	nodeFQDN     = "imp1.example.com"
	extPort      = 5061

	partnerEdge = "edge.partner.example"
	boundEdge   = "edge.bound.example"
)

var (
	partnerHop  = netip.MustParseAddrPort("192.0.2.50:5061")
	plainHop    = netip.MustParseAddrPort("192.0.2.60:5060")
	slowHop     = netip.MustParseAddrPort("192.0.2.70:5061")
	internalHop = netip.MustParseAddrPort("10.0.0.10:5060") // the internal next hop
	internalUA  = netip.MustParseAddrPort("10.0.0.20:5060") // an internal server sending out
	extListener = netip.MustParseAddrPort("203.0.113.5:5061")
	intListener = netip.MustParseAddrPort("10.0.0.2:5060")
)

type holder struct {
	p atomic.Pointer[routing.Snapshot]
}

func (h *holder) Load() *routing.Snapshot { return h.p.Load() }

func snapshot(enabled bool) *routing.Snapshot {
	route := func(domain string, hop netip.AddrPort, proto string) api.StaticRoute {
		r := api.NewStaticRoute()
		r.ID = domain
		r.DestinationPattern = api.DestinationPattern(domain)
		r.NextHop, r.NextHopPort, r.Protocol = hop.Addr().String(), int(hop.Port()), proto
		return r
	}
	c := &routing.Config{
		Revision: 1,
		Domains: map[string]api.FederatedDomain{
			partnerDom:   {Domain: partnerDom, Type: api.DomainTypeLync},
			boundDomain:  {Domain: boundDomain, Type: api.DomainTypeLync, PeerSubjects: []string{boundEdge}},
			plainDomain:  {Domain: plainDomain, Type: api.DomainTypeLync},
			directDomain: {Domain: directDomain, Type: api.DomainTypeLync, DirectFederation: true},
			nosrvDomain:  {Domain: nosrvDomain, Type: api.DomainTypeLync},
			slowDomain:   {Domain: slowDomain, Type: api.DomainTypeLync},
		},
		Routes: map[string]api.StaticRoute{
			partnerDom:   route(partnerDom, partnerHop, api.ProtocolTLS),
			boundDomain:  route(boundDomain, partnerHop, api.ProtocolTLS),
			plainDomain:  route(plainDomain, plainHop, api.ProtocolTCP),
			directDomain: route(directDomain, partnerHop, api.ProtocolTLS),
		},
		PeerSubjects: map[string]api.TLSPeerSubject{
			partnerEdge: {Subject: partnerEdge},
			boundEdge:   {Subject: boundEdge},
		},
		RoutingFQDN:    routingFQDN,
		ServiceEnabled: enabled,
	}
	return routing.Build(c, routing.Options{LocalDomains: []string{localDomain}, NodeFQDN: nodeFQDN})
}

// fakeDNS answers from a table. A name in cold is not cached yet: its first lookup gets
// ErrWouldBlock, as discovery's cache answers the inline path, and the name is warm from then
// on (the policy asks again where it may block).
type fakeDNS struct {
	mu    sync.Mutex
	srv   map[string][]routing.SRVRecord
	addrs map[string][]netip.Addr
	cold  map[string]bool
}

func newDNS() *fakeDNS {
	return &fakeDNS{
		srv: map[string][]routing.SRVRecord{
			slowDomain: {{Priority: 1, Weight: 1, Port: slowHop.Port(), Target: "sip.slow.example", Addrs: []netip.Addr{slowHop.Addr()}}},
		},
		addrs: map[string][]netip.Addr{
			"edge.partner.example": {partnerHop.Addr()},
			"internal.example.com": {internalHop.Addr()},
		},
		cold: map[string]bool{slowDomain: true},
	}
}

func (d *fakeDNS) warm(name string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.cold[name] {
		d.cold[name] = false
		return &routing.DNSError{Name: name, Type: "SRV", Err: discovery.ErrWouldBlock}
	}
	return nil
}

func (d *fakeDNS) LookupSRV(ctx context.Context, domain string) (routing.SRVAnswer, error) {
	if err := d.warm(domain); err != nil {
		return routing.SRVAnswer{}, err
	}
	if recs, ok := d.srv[domain]; ok {
		return routing.SRVAnswer{Records: recs}, nil
	}
	return routing.SRVAnswer{}, &routing.DNSError{Name: api.FederationSRVName(domain), Type: "SRV", Err: routing.ErrNXDOMAIN}
}

func (d *fakeDNS) LookupAddrs(ctx context.Context, host string) (routing.AddrAnswer, error) {
	if err := d.warm(host); err != nil {
		return routing.AddrAnswer{}, err
	}
	if a, ok := d.addrs[host]; ok {
		return routing.AddrAnswer{Addrs: a}, nil
	}
	return routing.AddrAnswer{}, &routing.DNSError{Name: host, Type: "A/AAAA", Err: routing.ErrNXDOMAIN}
}

type fixture struct {
	p     *Policy
	snaps *holder
	codec *topology.Codec
	dns   *fakeDNS
}

func newCodec(t *testing.T) *topology.Codec {
	t.Helper()
	k, err := topology.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	c, err := topology.New(k)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	f := &fixture{snaps: &holder{}, codec: newCodec(t), dns: newDNS()}
	f.snaps.p.Store(snapshot(true))
	p, err := New(Config{
		Snapshots: f.snaps, DNS: f.dns, Codec: f.codec, HideTopology: true,
		Listeners: []Listener{
			{Side: transport.Internal, Proto: transport.TCP, Addr: intListener},
			{Side: transport.Internal, Proto: transport.UDP, Addr: intListener},
			{Side: transport.External, Proto: transport.TLS, Addr: extListener},
		},
		ExternalPort:    extPort,
		InternalNextHop: NextHop{Host: internalHop.Addr().String(), Port: int(internalHop.Port()), Proto: transport.TCP},
		NodeFQDN:        nodeFQDN,
		OwnAddrs:        []netip.AddrPort{intListener, extListener},
		Log:             slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	f.p = p
	return f
}

// sipReq is a request as a test writes it; empty fields take defaults.
type sipReq struct {
	method string
	ruri   string
	from   string // name-addr with parameters
	to     string
	via    string
	callID string
	extra  string // header lines, each ending in \n
}

func (r sipReq) text() string {
	method := or(r.method, "INVITE")
	s := method + " " + or(r.ruri, "sip:bob@"+partnerDom) + " SIP/2.0\n" +
		"Via: " + or(r.via, "SIP/2.0/TCP "+internalUA.String()+";branch=z9hG4bKua1") + "\n" +
		"Max-Forwards: 70\n" +
		"From: " + or(r.from, "<sip:alice@"+localDomain+">;tag=a1") + "\n" +
		"To: " + or(r.to, "<sip:bob@"+partnerDom+">") + "\n" +
		"Call-ID: " + or(r.callID, "call-1@"+internalUA.Addr().String()) + "\n" +
		"CSeq: 1 " + method + "\n" +
		r.extra +
		"Content-Length: 0\n\n"
	return strings.ReplaceAll(s, "\n", "\r\n")
}

func or(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// fromInternal is a request of an internal server over TCP.
func fromInternal() *transport.Source {
	return &transport.Source{Side: transport.Internal, Proto: transport.TCP, Remote: internalUA}
}

// decide asks the policy as the core would, inline first and again where it may block when
// the inline decision deferred.
func (f *fixture) decide(t *testing.T, m *message.Msg, src *transport.Source) *core.Verdict {
	t.Helper()
	v := &core.Verdict{}
	r := &core.Request{Msg: m, Src: src, InDialog: m.To.HasTag}
	f.p.Decide(r, v)
	if v.Action == core.Defer {
		v = &core.Verdict{}
		r.MayBlock = true
		f.p.Decide(r, v)
	}
	return v
}

// warning is the text of a refusal's Warning header.
func warning(v *core.Verdict) string {
	for _, l := range strings.Split(string(v.Extra), "\r\n") {
		if w, ok := strings.CutPrefix(l, "Warning: "); ok {
			return w
		}
	}
	return ""
}

// addresses lists the URIs of every address of the headers named name, in order.
func addresses(m *message.Msg, id message.HeaderID) []message.NameAddr {
	var out []message.NameAddr
	for _, h := range m.Headers {
		if h.ID == id {
			m.Addresses(h, func(na message.NameAddr) bool { out = append(out, na); return true })
		}
	}
	return out
}

// ownRoute is one of our Route entries for host as a partner echoes it, with a route set.
func ownRoute(c *topology.Codec, host string, sfr string) string {
	s := "<sip:" + host + ":" + strconv.Itoa(extPort) + ";transport=tls;lr;sfm=" + c.Marker(host)
	if sfr != "" {
		s += ";sfr=" + sfr
	}
	return s + ">"
}
