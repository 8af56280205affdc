package federation

import (
	"github.com/sipfed/terraform-provider-sip/proxy/sip/message"
	"github.com/sipfed/terraform-provider-sip/proxy/sip/transport"
)

// Rewriter modes: what a message's address lists need on their way.
const (
	rwDropRR      = 1 << iota // leave out Record-Route (an internal route set, sealed in ours)
	rwHideContact             // Contacts become ours, the internal one sealed inside
	rwExpandRR                // our external entry gives back the route set it sealed
	rwHideRespRR              // a response to a partner: the route set above our entry is sealed in it
)

// rewriter implements message.ListRewriter for one combination of modes; New makes them all.
type rewriter struct {
	p    *Policy
	mode int
}

func (rw *rewriter) mask() uint32 {
	var m uint32
	if rw.mode&(rwDropRR|rwExpandRR|rwHideRespRR) != 0 {
		m |= message.Mask(message.RecordRoute)
	}
	if rw.mode&rwHideContact != 0 {
		m |= message.Mask(message.Contact)
	}
	return m
}

// use sets e to rewrite with mode.
func (p *Policy) use(e *message.Edit, mode int) {
	if mode == 0 {
		return
	}
	rw := p.rewriters[mode]
	e.Lists, e.ListMask = rw, rw.mask()
}

// RewriteList implements message.ListRewriter.
func (rw *rewriter) RewriteList(dst []byte, id message.HeaderID, m *message.Msg, addrs []message.NameAddr) []byte {
	p := rw.p
	switch {
	case id == message.Contact && rw.mode&rwHideContact != 0:
		return p.hideContacts(dst, m, addrs)
	case id == message.RecordRoute && rw.mode&rwDropRR != 0:
		return dst
	case id == message.RecordRoute && rw.mode&rwExpandRR != 0:
		return p.expandRR(dst, m, addrs)
	case id == message.RecordRoute && rw.mode&rwHideRespRR != 0:
		return p.hideResponseRR(dst, m, addrs)
	}
	for _, na := range addrs {
		dst = appendAddrLine(dst, id, m.Bytes(na.Whole))
	}
	return dst
}

func appendAddrLine(dst []byte, id message.HeaderID, addr []byte) []byte {
	dst = append(dst, id.String()...)
	dst = append(dst, ": "...)
	dst = append(dst, addr...)
	return append(dst, "\r\n"...)
}

// partnerDomain is the partner's domain of a message on its way to a partner: To of a
// request, From of a response (the request came from the partner).
func partnerDomain(m *message.Msg) string {
	if m.IsRequest {
		return domainOf(m, m.To.URI.Host)
	}
	return domainOf(m, m.From.URI.Host)
}

// hideContacts makes each Contact one of ours: the partner's in-dialog requests come to us, and
// we give them the internal target sealed inside.
func (p *Policy) hideContacts(dst []byte, m *message.Msg, addrs []message.NameAddr) []byte {
	host := p.publicHost(partnerDomain(m))
	for _, na := range addrs {
		dst = append(dst, "Contact: <"...)
		dst = append(dst, m.Bytes(na.URI.Scheme)...)
		dst = append(dst, ':')
		if !na.URI.User.IsZero() {
			dst = append(dst, m.Bytes(na.URI.User)...)
			dst = append(dst, '@')
		}
		dst = appendHost(dst, host)
		if p.cfg.ExternalPort > 0 {
			dst = append(dst, ':')
			dst = message.AppendUint(dst, uint64(p.cfg.ExternalPort))
		}
		dst = append(dst, ";transport=tls;"+paramContact+"="...)
		dst = p.codec.Seal(dst, m.Bytes(na.URI.Whole))
		dst = append(dst, '>')
		dst = append(dst, m.Bytes(na.Params)...)
		dst = append(dst, "\r\n"...)
	}
	return dst
}

// publicHost is the name a partner knows us by for domain.
func (p *Policy) publicHost(domain string) string {
	if snap := p.snaps.Load(); snap != nil {
		return snap.RecordRouteHost(domain)
	}
	return p.cfg.NodeFQDN
}

// expandRR gives a response going to the internal side back the route set our external entry
// sealed when its request went out: the internal caller's route set includes our internal entry.
func (p *Policy) expandRR(dst []byte, m *message.Msg, addrs []message.NameAddr) []byte {
	for _, na := range addrs {
		s, sealed := m.Param(na.URI.Params, paramRouteSet)
		if !sealed || !p.isOwn(m.Buf, na) {
			dst = appendAddrLine(dst, message.RecordRoute, m.Bytes(na.Whole))
			continue
		}
		// Our entry without the sealed set, then the set.
		dst = append(dst, "Record-Route: "...)
		dst = append(dst, m.Buf[na.Whole.Off:s.Off-int32(len(paramRouteSet)+2)]...)
		dst = append(dst, m.Buf[s.End():na.Whole.End()]...)
		dst = append(dst, "\r\n"...)
		if enc := m.Bytes(s); len(enc) == 2 && enc[0] == routeSetInternal {
			// Our internal entry alone, as most requests from the internal side carry: its
			// line is made once, not parsed back out of the set for every response.
			if proto, ok := protoOfLetter(enc[1]); ok {
				dst = append(dst, p.rrInternal[proto]...)
			}
			continue
		}
		plain, ok := p.decodeRouteSet(m.Bytes(s))
		if !ok {
			continue
		}
		_ = eachEntry(plain, func(entry []byte, _ message.NameAddr, _ []byte) {
			dst = appendAddrLine(dst, message.RecordRoute, entry)
		})
	}
	return dst
}

// hideResponseRR seals the entries above our external entry (the internal side's, ours
// included) into it, in the order the partner's requests will need them, and keeps the rest.
func (p *Policy) hideResponseRR(dst []byte, m *message.Msg, addrs []message.NameAddr) []byte {
	ext := -1
	for i, na := range addrs {
		if p.isOwn(m.Buf, na) && p.isExternalEntry(m, na) {
			ext = i
			break
		}
	}
	if ext < 0 {
		// No entry of ours faces the partner: the whole set is internal.
		return dst
	}
	// The partner, the caller, will use this set reversed: after our external entry, the
	// entries above it, nearest first.
	var plain []byte
	internalOnly, intProto := false, transport.UDP
	if ext == 1 && p.isOwn(m.Buf, addrs[0]) {
		t, _ := m.Param(addrs[0].URI.Params, "transport")
		intProto, internalOnly = transport.ParseProtocol(m.Str(t))
	}
	for i := ext - 1; i >= 0 && !internalOnly; i-- {
		if len(plain) > 0 {
			plain = append(plain, ',')
		}
		plain = append(plain, m.Bytes(addrs[i].Whole)...)
	}
	na := addrs[ext]
	dst = append(dst, "Record-Route: "...)
	if ext == 0 {
		dst = append(dst, m.Bytes(na.Whole)...)
	} else {
		end := na.URI.Whole.End()
		if s, ok := m.Param(na.URI.Params, paramRouteSet); ok {
			// Ours already carries a set (the partner echoed it): replace it.
			end = s.Off - int32(len(paramRouteSet)+2)
		}
		dst = append(dst, m.Buf[na.Whole.Off:end]...)
		dst = append(dst, ";"+paramRouteSet+"="...)
		dst = p.appendRouteSet(dst, intProto, internalOnly, plain)
		dst = append(dst, m.Buf[na.URI.Whole.End():na.Whole.End()]...)
	}
	dst = append(dst, "\r\n"...)
	for _, na := range addrs[ext+1:] {
		dst = appendAddrLine(dst, message.RecordRoute, m.Bytes(na.Whole))
	}
	return dst
}

// isExternalEntry tells our external entry (transport=tls on the external port) from our
// internal one.
func (p *Policy) isExternalEntry(m *message.Msg, na message.NameAddr) bool {
	t, _ := m.Param(na.URI.Params, "transport")
	return message.EqualFoldASCII(m.Bytes(t), "tls") && na.URI.Port == p.cfg.ExternalPort
}

// scrub leaves out of a message to a partner the headers that would name what is internal:
// those that carry a trust domain's own data (RFC 3325 identities, registrar paths, history)
// and any other whose value names an internal host or address.
func (p *Policy) scrub(m *message.Msg, h message.Header) bool {
	name := m.Bytes(h.Name)
	for _, n := range droppedToPartners {
		if message.EqualFoldASCII(name, n) {
			return true
		}
	}
	v := m.Bytes(h.Value)
	for _, t := range p.tokens {
		if containsFold(v, t) {
			return true
		}
	}
	found := false
	visit := func(s message.Span) {
		if !found && !s.IsZero() && containsFold(v, m.Bytes(s)) {
			found = true
		}
	}
	for _, hh := range m.Headers {
		switch {
		case hh.ID == message.Via && m.IsRequest:
			m.EachVia(hh, func(vh message.ViaHop) bool { visit(vh.Host); return !found })
		case hh.ID == message.Contact, hh.ID == message.RecordRoute && m.IsRequest:
			m.Addresses(hh, func(na message.NameAddr) bool {
				if !p.isOwn(m.Buf, na) {
					visit(na.URI.Host)
				}
				return !found
			})
		}
	}
	return found
}

var droppedToPartners = []string{
	"P-Asserted-Identity", "P-Preferred-Identity", "P-Charging-Vector", "P-Visited-Network-ID",
	"Path", "Service-Route", "History-Info",
}

var _ = transport.TLS

// containsFold reports whether sub is in s, ASCII letters compared case-insensitively.
func containsFold(s, sub []byte) bool {
	n := len(sub)
	if n == 0 {
		return true
	}
	first := lower(sub[0])
	for i := 0; i+n <= len(s); i++ {
		if lower(s[i]) != first {
			continue
		}
		j := 1
		for j < n && lower(s[i+j]) == lower(sub[j]) {
			j++
		}
		if j == n {
			return true
		}
	}
	return false
}

func lower(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}
