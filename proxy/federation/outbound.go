package federation

import (
	"net/netip"

	"github.com/sipfed/terraform-provider-sip/proxy/routing"
	"github.com/sipfed/terraform-provider-sip/proxy/sip/core"
	"github.com/sipfed/terraform-provider-sip/proxy/sip/message"
	"github.com/sipfed/terraform-provider-sip/proxy/sip/transport"
	"github.com/sipfed/terraform-provider-sip/proxy/telemetry"
)

// outbound decides a request from the enterprise's own servers toward a partner.
func (p *Policy) outbound(snap *routing.Snapshot, r *core.Request, v *core.Verdict) {
	m := r.Msg
	v.Flow.Direction, v.Flow.ToExternal = telemetry.DirOutbound, true
	if !isSIP(m, m.RURI) {
		reject(v, 416, "the Request-URI is not a SIP URI", snap)
		return
	}
	if !isSIP(m, m.From.URI) || !snap.IsLocal(domainOf(m, m.From.URI.Host)) {
		// Only local users federate: anything else would let an internal server speak for
		// domains it does not host.
		reject(v, 403, "From is not in a local domain", snap)
		return
	}
	var domain string
	if r.InDialog {
		domain = domainOf(m, m.To.URI.Host)
		v.Flow.Domain = domain
		if !p.outboundInDialog(snap, r, v, domain) {
			return
		}
	} else {
		domain = domainOf(m, m.RURI.Host)
		v.Flow.Domain = domain
		if !p.outboundInitial(snap, r, v, domain) {
			return
		}
	}
	v.ViaHost, v.ViaPort = snap.RecordRouteHost(domain), p.cfg.ExternalPort
	if p.cfg.HideTopology {
		v.Hide, v.Flow.Hide = true, true
		v.Edit.DropVias = true
		v.Edit.CallID = p.codec.CrossCallID(nil, m.Bytes(m.CallID))
		v.Flow.CallIDRewritten = true
		v.Edit.Drop = p.scrub
		mode := rwHideContact | rwDropRR
		p.use(&v.Edit, mode)
	}
	v.Action = core.Forward
}

// outboundInitial routes a request out of a dialog: the routing chain decides, for a federated
// domain only.
func (p *Policy) outboundInitial(snap *routing.Snapshot, r *core.Request, v *core.Verdict, domain string) bool {
	m := r.Msg
	d := p.decisions.Get().(*routing.Decision)
	defer p.decisions.Put(d)
	dns, ctx, nb := p.resolver(r)
	defer p.release(nb)
	snap.Decide(ctx, dns, routing.Request{User: m.Str(m.RURI.User), Domain: domain}, d)
	if nb != nil && nb.missed {
		v.Action = core.Defer
		return false
	}
	if d.Status != 0 {
		rejectRetry(v, d.Status, d.Reason, snap, d.RetryAfter)
		return false
	}
	for _, h := range d.NextHops {
		v.Targets = append(v.Targets, core.Target{Side: transport.External, Proto: protoOf(h.Transport),
			Addr: h.Addr, Name: h.Host, Step: h.Step, RouteID: h.RouteID, Domain: domain})
	}
	// A route set the internal side preloaded names internal hosts, and routing alone decides
	// where a request goes: it goes no further.
	v.Edit.PopRoutes = p.routes(m).total
	ext := snap.RecordRouteHost(domain)
	intRR := p.rrInternal[r.Src.Proto]
	if !p.cfg.HideTopology {
		v.Edit.RecordRoute = append(p.appendRR(nil, ext, p.cfg.ExternalPort, transport.TLS, nil), intRR...)
		return true
	}
	// Our internal entry and the internal side's own entries travel in ours (sealed when the
	// internal side had entries of its own), for the response to give back to the internal side.
	_, internalRR := m.First(message.RecordRoute)
	if !internalRR {
		v.Edit.RecordRoute = p.extRR(ext, r.Src.Proto)
		return true
	}
	plain := append([]byte(nil), intRR[len("Record-Route: "):len(intRR)-2]...)
	for _, h := range m.Headers {
		if h.ID != message.RecordRoute {
			continue
		}
		m.Addresses(h, func(na message.NameAddr) bool {
			plain = append(plain, ',')
			plain = append(plain, m.Bytes(na.Whole)...)
			return true
		})
	}
	v.Edit.RecordRoute = p.appendRR(nil, ext, p.cfg.ExternalPort, transport.TLS, p.appendRouteSet(nil, r.Src.Proto, false, plain))
	return true
}

// extRR is our external Record-Route line for a request from the internal side over proto with
// no Record-Route of its own: the same for every such request, so made once.
func (p *Policy) extRR(host string, proto transport.Protocol) []byte {
	key := extRRKey{host, proto}
	if v, ok := p.extRRs.Load(key); ok {
		return v.([]byte)
	}
	line := p.appendRR(nil, host, p.cfg.ExternalPort, transport.TLS, p.appendRouteSet(nil, proto, true, nil))
	if len(host) <= 255 {
		p.extRRs.Store(key, line)
	}
	return line
}

type extRRKey struct {
	host  string
	proto transport.Protocol
}

// outboundInDialog routes a request within a dialog by its route set: the entry after our own,
// else the Request-URI (RFC 3261 16.6 step 6-7), resolved per RFC 3263 with TLS as the
// default. It goes only over mutual TLS to a peer the To domain trusts (Permit, per request),
// or in plaintext where an administrator's static route for the domain names that very hop.
func (p *Policy) outboundInDialog(snap *routing.Snapshot, r *core.Request, v *core.Verdict, domain string) bool {
	m := r.Msg
	if _, ok := snap.Domain(domain); !ok {
		reject(v, 403, domain+" is not a federated domain", snap)
		return false
	}
	rs := p.routes(m)
	v.Edit.PopRoutes = rs.own
	target := m.RURI
	if rs.found {
		target = rs.next.URI
		if !isSIP(m, target) {
			reject(v, 416, "the next Route entry is not a SIP URI", snap)
			return false
		}
	}
	if _, ok := m.Param(target.Params, "maddr"); ok {
		reject(v, 403, "maddr is not honoured: routing decides where requests go", snap)
		return false
	}
	proto := transport.TLS
	if t, ok := m.Param(target.Params, "transport"); ok {
		pr, known := transport.ParseProtocol(m.Str(t))
		if !known {
			reject(v, 403, "transport "+m.Str(t)+" is not supported", snap)
			return false
		}
		proto = pr
	}
	port := target.Port
	if port == 0 {
		port = 5060
		if proto == transport.TLS {
			port = 5061
		}
	}
	host := m.Str(target.Host)
	addrs, deferred, err := p.resolve(r, host)
	if deferred {
		v.Action = core.Defer
		return false
	}
	if err != nil {
		reject(v, 404, "cannot resolve "+host, snap)
		return false
	}
	for _, a := range addrs {
		ap := netip.AddrPortFrom(a, uint16(port))
		if p.isOwnAddr(ap) {
			reject(v, 482, "the route points back at this proxy", snap)
			return false
		}
		if proto != transport.TLS {
			ok, deferred := p.staticRouteNames(snap, r, domain, a, uint16(port), proto)
			if deferred {
				v.Action = core.Defer
				return false
			}
			if !ok {
				reject(v, 403, "plaintext to "+ap.String()+" over "+proto.String()+" is allowed by no static route of "+domain, snap)
				return false
			}
		}
		v.Targets = append(v.Targets, core.Target{Side: transport.External, Proto: proto, Addr: ap, Name: host, Domain: domain})
	}
	return true
}

// isOwnAddr reports whether ap is one of the proxy's own addresses (a listener, the admin API).
func (p *Policy) isOwnAddr(ap netip.AddrPort) bool {
	for _, o := range p.cfg.OwnAddrs {
		if o.Port() == ap.Port() && (o.Addr() == ap.Addr() || (o.Addr().IsUnspecified() && (ap.Addr().IsLoopback() || ap.Addr().IsUnspecified()))) {
			return true
		}
	}
	return false
}
