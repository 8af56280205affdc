package federation

import (
	"bytes"
	"strconv"

	"github.com/sipfed/terraform-provider-sip/proxy/sip/message"
	"github.com/sipfed/terraform-provider-sip/proxy/sip/transport"
)

// URI parameters of the proxy's own entries and encodings.
const (
	// paramMarker marks a Route entry this deployment wrote (see topology.Codec.Marker).
	paramMarker = "sfm"
	// paramRouteSet carries the internal route set behind our external entry: "i" and a
	// protocol letter when it is our internal entry alone (nothing to hide: no need to pay for
	// sealing on every request), else "s" and the set sealed.
	paramRouteSet = "sfr"
	// paramContact carries, sealed, an internal Contact a partner sees as ours.
	paramContact = "sfc"
)

// appendRR appends one of our Record-Route lines: sip:host:port;transport;lr, our marker and,
// when given, a sealed route set.
func (p *Policy) appendRR(dst []byte, host string, port int, proto transport.Protocol, sealed []byte) []byte {
	dst = append(dst, "Record-Route: "...)
	dst = p.appendOwnURI(dst, host, port, proto, sealed)
	return append(dst, "\r\n"...)
}

func (p *Policy) appendOwnURI(dst []byte, host string, port int, proto transport.Protocol, sealed []byte) []byte {
	dst = append(dst, "<sip:"...)
	dst = appendHost(dst, host)
	if port > 0 {
		dst = append(dst, ':')
		dst = strconv.AppendInt(dst, int64(port), 10)
	}
	dst = append(dst, ";transport="...)
	dst = append(dst, proto.String()...)
	dst = append(dst, ";lr;"+paramMarker+"="...)
	dst = append(dst, p.codec.Marker(host)...)
	if sealed != nil {
		dst = append(dst, ";"+paramRouteSet+"="...)
		dst = append(dst, sealed...)
	}
	return append(dst, '>')
}

func appendHost(dst []byte, host string) []byte {
	if bytes.IndexByte([]byte(host), ':') >= 0 {
		dst = append(dst, '[')
		dst = append(dst, host...)
		return append(dst, ']')
	}
	return append(dst, host...)
}

// isOwn reports whether an address is one of our own Route entries: it carries our marker for
// its host. A shared parameter alone never makes an entry ours.
func (p *Policy) isOwn(buf []byte, na message.NameAddr) bool {
	mk, ok := message.FindParam(buf, na.URI.Params, paramMarker)
	if !ok || na.URI.Host.IsZero() {
		return false
	}
	return p.codec.IsOwn(buf[na.URI.Host.Off:na.URI.Host.End()], buf[mk.Off:mk.End()])
}

// routeSet is what a request's Route headers say once our own leading entries are popped.
type routeSet struct {
	own   int // our leading entries
	total int
	next  message.NameAddr // the first entry that is not ours, if any
	found bool
	// sealed is the route set our external entry carries (its sfr parameter), if any.
	sealed message.Span
}

func (p *Policy) routes(m *message.Msg) routeSet {
	var rs routeSet
	popping := true
	for _, h := range m.Headers {
		if h.ID != message.Route {
			continue
		}
		m.Addresses(h, func(na message.NameAddr) bool {
			rs.total++
			if popping && p.isOwn(m.Buf, na) {
				rs.own++
				if s, ok := m.Param(na.URI.Params, paramRouteSet); ok && !s.IsZero() {
					rs.sealed = s
				}
				return true
			}
			if popping {
				popping = false
				rs.next, rs.found = na, true
			}
			return true
		})
	}
	return rs
}

// Route set encodings of paramRouteSet.
const (
	routeSetInternal = 'i'
	routeSetSealed   = 's'
)

var protoLetters = [3]byte{transport.UDP: 'u', transport.TCP: 't', transport.TLS: 's'}

func protoOfLetter(b byte) (transport.Protocol, bool) {
	for p, l := range protoLetters {
		if l == b {
			return transport.Protocol(p), true
		}
	}
	return 0, false
}

// appendRouteSet encodes the route set behind our external entry: plain when it is our internal
// entry for proto alone, else sealed.
func (p *Policy) appendRouteSet(dst []byte, proto transport.Protocol, internalOnly bool, plain []byte) []byte {
	if internalOnly {
		return append(dst, routeSetInternal, protoLetters[proto])
	}
	dst = append(dst, routeSetSealed)
	return p.codec.Seal(dst, plain)
}

// decodeRouteSet gives the plaintext list of an encoded route set; for our internal entry
// alone, that entry.
func (p *Policy) decodeRouteSet(enc []byte) ([]byte, bool) {
	if len(enc) == 2 && enc[0] == routeSetInternal {
		proto, ok := protoOfLetter(enc[1])
		if !ok {
			return nil, false
		}
		line := p.rrInternal[proto]
		return line[len("Record-Route: ") : len(line)-2], true
	}
	if len(enc) < 2 || enc[0] != routeSetSealed {
		return nil, false
	}
	return p.codec.Open(nil, enc[1:])
}

// openRouteSet decodes a route set into Route lines, leaving out our own entries (the request
// is here already).
func (p *Policy) openRouteSet(m *message.Msg, s message.Span) ([]byte, bool) {
	enc := m.Bytes(s)
	if len(enc) == 2 && enc[0] == routeSetInternal {
		_, ok := protoOfLetter(enc[1])
		return nil, ok // our internal entry alone: nothing to restore
	}
	plain, ok := p.decodeRouteSet(enc)
	if !ok {
		return nil, false
	}
	var out []byte
	err := eachEntry(plain, func(entry []byte, na message.NameAddr, buf []byte) {
		if p.isOwn(buf, na) {
			return
		}
		out = append(out, "Route: "...)
		out = append(out, entry...)
		out = append(out, "\r\n"...)
	})
	return out, err == nil
}

// eachEntry walks a comma-separated list of name-addrs (a sealed route set's plaintext).
func eachEntry(list []byte, fn func(entry []byte, na message.NameAddr, buf []byte)) error {
	if len(list) == 0 {
		return nil
	}
	// Parse the list as the value of a Route header.
	buf := append([]byte("Route: "), list...)
	h := message.Header{ID: message.Route, Value: message.Span{Off: 7, Len: int32(len(list))}}
	ok := message.Addresses(buf, h, func(na message.NameAddr) bool {
		fn(buf[na.Whole.Off:na.Whole.End()], na, buf)
		return true
	})
	if !ok {
		return errBadRouteSet
	}
	return nil
}

type policyError string

func (e policyError) Error() string { return string(e) }

const errBadRouteSet = policyError("sealed route set does not parse")
