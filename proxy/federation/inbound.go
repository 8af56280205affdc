package federation

import (
	"crypto/x509"
	"net/netip"

	"github.com/sipfed/terraform-provider-sip/internal/api"
	"github.com/sipfed/terraform-provider-sip/proxy/identity"
	"github.com/sipfed/terraform-provider-sip/proxy/routing"
	"github.com/sipfed/terraform-provider-sip/proxy/sip/core"
	"github.com/sipfed/terraform-provider-sip/proxy/sip/message"
	"github.com/sipfed/terraform-provider-sip/proxy/sip/transport"
	"github.com/sipfed/terraform-provider-sip/proxy/telemetry"
)

// inbound decides a request from a partner: it goes to the internal next hop, and only when the
// partner may speak for its From domain to a local one.
func (p *Policy) inbound(snap *routing.Snapshot, r *core.Request, v *core.Verdict) {
	m := r.Msg
	v.Flow.Direction = telemetry.DirInbound
	if !isSIP(m, m.From.URI) {
		reject(v, 403, "From is not a SIP URI", snap)
		return
	}
	from := domainOf(m, m.From.URI.Host)
	v.Flow.Domain = from
	var cert *x509.Certificate
	if r.Src.Conn != nil {
		cert = r.Src.Conn.PeerCert()
	}
	if cert == nil {
		if ok, deferred := p.plaintextPeer(snap, r, from); deferred {
			v.Action = core.Defer
			return
		} else if !ok {
			reject(v, 403, "partners are accepted over mutual TLS only", snap)
			return
		}
	} else if _, ok := identity.Match(cert, snap.IsPeerSubject); !ok {
		// Checked in the handshake already; checking again per request makes a deleted peer
		// subject take effect on connections that are open.
		reject(v, 403, "peer identity is not a TLS peer subject", snap)
		return
	}
	if snap.IsLocal(from) {
		reject(v, 403, "a partner cannot send as a local domain", snap)
		return
	}
	if _, ok := snap.Domain(from); !ok {
		reject(v, 403, "From domain "+from+" is not a federated domain", snap)
		return
	}
	if ps, _ := snap.DomainPeerSubjects(from); len(ps) > 0 {
		if cert == nil {
			reject(v, 403, "peer is not one of "+from+"'s peer subjects", snap)
			return
		}
		if _, ok := identity.Match(cert, func(id string) bool { return contains(ps, id) }); !ok {
			reject(v, 403, "peer is not one of "+from+"'s peer subjects", snap)
			return
		}
	}
	target := m.RURI.Host
	if r.InDialog {
		target = m.To.URI.Host // mid-dialog the Request-URI is a contact; the local party is in To
	}
	if !isSIP(m, m.RURI) || target.IsZero() || !snap.IsLocal(domainOf(m, target)) {
		reject(v, 403, domainOf(m, target)+" is not a local domain", snap)
		return
	}
	if !r.InDialog && !isSIP(m, m.To.URI) {
		reject(v, 403, "To is not a SIP URI", snap)
		return
	}
	rs := p.routes(m)
	// Only our own entries count: a partner's Route entries could steer the internal side.
	v.Edit.PopRoutes = rs.total
	if !rs.sealed.IsZero() {
		restored, ok := p.openRouteSet(m, rs.sealed)
		if !ok {
			reject(v, 403, "Route entry does not decode", snap)
			return
		}
		v.Edit.InsertRoutes = restored
	}
	if s, ok := m.Param(m.RURI.Params, paramContact); ok {
		orig, ok := p.codec.Open(nil, m.Bytes(s))
		if !ok {
			reject(v, 404, "unknown contact", snap)
			return
		}
		v.Edit.RequestURI = orig
	}
	if p.cfg.HideTopology {
		v.Edit.CallID = p.codec.CrossCallID(nil, m.Bytes(m.CallID))
		v.Flow.CallIDRewritten = true
		v.Flow.Hide = true
	}
	nh := p.cfg.InternalNextHop
	if !r.InDialog {
		// Two entries (RFC 5658): the top one is what the internal side routes to, the other
		// what the partner routes to.
		rr := append([]byte(nil), p.rrInternal[nh.Proto]...)
		v.Edit.RecordRoute = p.appendRR(rr, snap.RecordRouteHost(from), p.cfg.ExternalPort, transport.TLS, nil)
	}
	addrs, deferred, err := p.resolve(r, nh.Host)
	if deferred {
		v.Action = core.Defer
		return
	}
	if err != nil {
		p.log.Warn("internal next hop does not resolve", telemetry.KeyNextHopName, nh.Host, telemetry.KeyError, err)
		reject(v, 503, "internal next hop does not resolve", snap)
		return
	}
	v.Action = core.Forward
	for _, a := range addrs {
		v.Targets = append(v.Targets, core.Target{Side: transport.Internal, Proto: nh.Proto,
			Addr: netip.AddrPortFrom(a, uint16(nh.Port)), Name: nh.Host})
	}
	v.ViaHost, v.ViaPort = p.intHost[nh.Proto], p.intPort[nh.Proto]
}

// plaintextPeer reports whether a request that came in plaintext on the external side came
// from a hop an administrator's static route for the From domain names with that protocol.
func (p *Policy) plaintextPeer(snap *routing.Snapshot, r *core.Request, from string) (ok, deferred bool) {
	return p.staticRouteNames(snap, r, from, r.Src.Remote.Addr(), 0, r.Src.Proto)
}

// staticRouteNames reports whether a static route of domain sends to addr (and port, unless 0)
// over proto.
func (p *Policy) staticRouteNames(snap *routing.Snapshot, r *core.Request, domain string, addr netip.Addr, port uint16, proto transport.Protocol) (ok, deferred bool) {
	d := p.decisions.Get().(*routing.Decision)
	defer p.decisions.Put(d)
	dns, ctx, nb := p.resolver(r)
	defer p.release(nb)
	snap.Decide(ctx, dns, routing.Request{Domain: domain}, d)
	if nb != nil && nb.missed {
		return false, true
	}
	for _, h := range d.NextHops {
		if h.Step == api.StepStatic && protoOf(h.Transport) == proto && h.Addr.Addr() == addr.Unmap() && (port == 0 || h.Addr.Port() == port) {
			return true, false
		}
	}
	return false, false
}

// resolve gives a host's addresses.
func (p *Policy) resolve(r *core.Request, host string) (addrs []netip.Addr, deferred bool, err error) {
	if a, err := netip.ParseAddr(host); err == nil {
		return []netip.Addr{a.Unmap()}, false, nil
	}
	dns, ctx, nb := p.resolver(r)
	defer p.release(nb)
	ans, err := dns.LookupAddrs(ctx, host)
	if nb != nil && nb.missed {
		return nil, true, nil
	}
	if err != nil {
		return nil, false, err
	}
	if len(ans.Addrs) == 0 {
		return nil, false, errNoAddress
	}
	return ans.Addrs, false, nil
}

const errNoAddress = policyError("no address")

// isSIP reports whether u is a sip: or sips: URI.
func isSIP(m *message.Msg, u message.URI) bool {
	s := m.Bytes(u.Scheme)
	return message.EqualFoldASCII(s, "sip") || message.EqualFoldASCII(s, "sips")
}
