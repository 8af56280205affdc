package message

import (
	"net/netip"
	"slices"
	"strconv"
	"sync"
)

// Edit says how a message is rewritten on its way through the proxy. The zero Edit copies the
// message as it came. Headers it does not name travel byte for byte, in their order.
type Edit struct {
	// RequestURI, when set, replaces the Request-URI of a request.
	RequestURI []byte
	// Via is put first: this proxy's Via line(s), with CRLF (requests).
	Via []byte
	// PopVia removes the top Via value (responses: ours).
	PopVia bool
	// DropVias leaves out every Via of the message (after PopVia): the upstream Vias toward a
	// partner, kept by the transaction instead (topology hiding).
	DropVias bool
	// ReceivedFrom, when valid, marks the message's top Via with where it came from
	// (received, rport: RFC 3261 18.2.1, RFC 3581) as it is forwarded.
	ReceivedFrom netip.AddrPort
	// InsertVias are Via lines put where the message's own Vias were (responses: the upstream
	// Vias the request's transaction kept).
	InsertVias []byte
	// RecordRoute lines go in front of the message's own Record-Route headers.
	RecordRoute []byte
	// PopRoutes leading Route values are removed (this proxy's own entries).
	PopRoutes int
	// InsertRoutes are Route lines put before the message's remaining Route headers (a route
	// set restored from this proxy's own entry).
	InsertRoutes []byte
	// MaxForwards, when >= 0, is written as the Max-Forwards value, adding the header when
	// the message has none.
	MaxForwards int
	// CallID, when set, replaces the Call-ID value.
	CallID []byte
	// Lists, when set, rewrites the address lists whose IDs are in ListMask: it is called once
	// per ID with every address of that ID in order (the message's headers of that ID are left
	// out) and appends the header lines that replace them, at the place of the first one. Route
	// entries reach it after PopRoutes.
	Lists    ListRewriter
	ListMask uint32
	// Drop, when set, leaves out any other header it returns true for.
	Drop func(m *Msg, h Header) bool
	// Extra header lines go at the end of the header block.
	Extra []byte
}

// ListRewriter rewrites an address list (Route, Record-Route, Contact); see Edit.Lists.
type ListRewriter interface {
	RewriteList(dst []byte, id HeaderID, m *Msg, addrs []NameAddr) []byte
}

// Mask is the ListMask bit of a header ID.
func Mask(id HeaderID) uint32 { return 1 << id }

// NoMaxForwards leaves Max-Forwards as it is.
const NoMaxForwards = -1

// AppendEdited appends m as e rewrites it. The body is copied as it came, and Content-Length
// is written from it whether or not the message had one (a stream needs it).
func AppendEdited(dst []byte, m *Msg, e *Edit) []byte {
	b := m.Buf
	// Start line.
	if m.IsRequest {
		dst = append(dst, b[m.Method.Off:m.Method.End()]...)
		dst = append(dst, ' ')
		if e.RequestURI != nil {
			dst = append(dst, e.RequestURI...)
		} else {
			dst = append(dst, b[m.RURI.Whole.Off:m.RURI.Whole.End()]...)
		}
		dst = append(dst, " SIP/2.0\r\n"...)
	} else {
		dst = append(dst, "SIP/2.0 "...)
		dst = strconv.AppendInt(dst, int64(m.Status), 10)
		dst = append(dst, ' ')
		dst = append(dst, b[m.Reason.Off:m.Reason.End()]...)
		dst = append(dst, "\r\n"...)
	}
	dst = append(dst, e.Via...)

	popVia := e.PopVia
	routesToPop := e.PopRoutes
	wroteVias, wroteRR, wroteMF, markedTop, wroteRoutes := false, false, false, false, false
	var listDone uint32
	var addrs *[]NameAddr // from addrScratch, taken by the first list rewritten
	for _, h := range m.Headers {
		switch h.ID {
		case Via:
			if !wroteVias {
				wroteVias = true
				dst = append(dst, e.InsertVias...)
			}
			if e.DropVias {
				continue
			}
			if popVia {
				popVia = false
				dst = appendRestOfList(dst, b, h, 1)
				continue
			}
			if e.ReceivedFrom.IsValid() && !markedTop {
				markedTop = true
				dst = append(dst, b[h.Name.Off:h.Name.End()]...)
				dst = append(dst, ": "...)
				dst = appendTopVia(dst, b, m.TopVia, e.ReceivedFrom)
				dst = append(dst, "\r\n"...)
				dst = appendRestOfList(dst, b, h, 1)
				continue
			}
		case RecordRoute:
			if !wroteRR {
				wroteRR = true
				dst = append(dst, e.RecordRoute...)
			}
		case MaxForwards:
			if e.MaxForwards >= 0 {
				wroteMF = true
				dst = append(dst, "Max-Forwards: "...)
				dst = strconv.AppendInt(dst, int64(e.MaxForwards), 10)
				dst = append(dst, "\r\n"...)
				continue
			}
		case CallID:
			if e.CallID != nil {
				dst = append(dst, "Call-ID: "...)
				dst = append(dst, e.CallID...)
				dst = append(dst, "\r\n"...)
				continue
			}
		case ContentLength:
			continue // written at the end, from the body
		case Route:
			if !wroteRoutes {
				wroteRoutes = true
				dst = append(dst, e.InsertRoutes...)
			}
			if routesToPop > 0 {
				n := countList(b, h)
				if n <= routesToPop {
					routesToPop -= n
					continue
				}
				if e.ListMask&Mask(Route) == 0 {
					dst = appendRestOfList(dst, b, h, routesToPop)
					routesToPop = 0
					continue
				}
			}
		case From, To, CSeq, Contact:
		default:
			if e.Drop != nil && e.Drop(m, h) {
				continue
			}
		}
		if h.ID != Other && e.Lists != nil && e.ListMask&Mask(h.ID) != 0 {
			if listDone&Mask(h.ID) == 0 {
				listDone |= Mask(h.ID)
				skip := 0
				if h.ID == Route {
					skip = e.PopRoutes
				}
				if addrs == nil {
					addrs = addrScratch.Get().(*[]NameAddr)
				}
				*addrs = m.collect((*addrs)[:0], h.ID, skip)
				dst = e.Lists.RewriteList(dst, h.ID, m, *addrs)
			}
			continue
		}
		dst = append(dst, b[h.Line.Off:h.Line.End()]...)
	}
	if !wroteVias {
		dst = append(dst, e.InsertVias...)
	}
	if !wroteRR {
		dst = append(dst, e.RecordRoute...)
	}
	if !wroteRoutes {
		dst = append(dst, e.InsertRoutes...)
	}
	if !wroteMF && e.MaxForwards >= 0 {
		dst = append(dst, "Max-Forwards: "...)
		dst = strconv.AppendInt(dst, int64(e.MaxForwards), 10)
		dst = append(dst, "\r\n"...)
	}
	if e.Lists != nil {
		// A list the message did not have may still get lines (e.g. a Route restored).
		for _, id := range [...]HeaderID{Route, RecordRoute, Contact} {
			if e.ListMask&Mask(id) != 0 && listDone&Mask(id) == 0 {
				dst = e.Lists.RewriteList(dst, id, m, nil)
			}
		}
	}
	if addrs != nil && cap(*addrs) <= 64 {
		addrScratch.Put(addrs)
	}
	dst = append(dst, e.Extra...)
	dst = append(dst, "Content-Length: "...)
	dst = strconv.AppendInt(dst, int64(m.Body.Len), 10)
	dst = append(dst, "\r\n\r\n"...)
	return append(dst, b[m.Body.Off:m.Body.End()]...)
}

// collect gathers the addresses of every header with that ID, skipping the first skip.
// addrScratch holds the addresses of a list being rewritten. The list goes to an interface
// (ListRewriter), so an array on AppendEdited's stack would escape: 1.5 KiB on the heap for every
// message edited, lists or not.
var addrScratch = sync.Pool{New: func() any { s := make([]NameAddr, 0, 16); return &s }}

func (m *Msg) collect(dst []NameAddr, id HeaderID, skip int) []NameAddr {
	for _, h := range m.Headers {
		if h.ID != id {
			continue
		}
		m.Addresses(h, func(na NameAddr) bool {
			if skip > 0 {
				skip--
				return true
			}
			dst = append(dst, na)
			return true
		})
	}
	return dst
}

// countList counts the comma-separated values of a header.
func countList(b []byte, h Header) int {
	n := 0
	start, end := int(h.Value.Off), int(h.Value.End())
	for start < end {
		e, _ := nextElement(b, start, end)
		n++
		start = e + 1
	}
	return n
}

// appendRestOfList writes h without its first skip values, or nothing when none remain.
func appendRestOfList(dst, b []byte, h Header, skip int) []byte {
	start, end := int(h.Value.Off), int(h.Value.End())
	for skip > 0 && start < end {
		e, _ := nextElement(b, start, end)
		start = e + 1
		skip--
	}
	start = skipLWS(b, start)
	if start >= end {
		return dst
	}
	dst = append(dst, b[h.Name.Off:h.Name.End()]...)
	dst = append(dst, ": "...)
	dst = append(dst, b[start:end]...)
	return append(dst, "\r\n"...)
}

// AppendResponseVias appends the Via lines a response to req carries (RFC 3261 8.2.6.2), the
// top one marked with where the request really came from (RFC 3261 18.2.1 received, RFC 3581
// rport).
func AppendResponseVias(dst []byte, req *Msg, src netip.AddrPort) []byte {
	b := req.Buf
	first := true
	for _, h := range req.Headers {
		if h.ID != Via {
			continue
		}
		if !first {
			dst = append(dst, b[h.Line.Off:h.Line.End()]...)
			continue
		}
		first = false
		dst = append(dst, "Via: "...)
		dst = appendTopVia(dst, b, req.TopVia, src)
		dst = append(dst, "\r\n"...)
		dst = appendRestOfList(dst, b, h, 1)
	}
	return dst
}

// appendTopVia writes a Via value with received set to src's address when it differs from
// sent-by (a received the sender wrote itself is replaced, never trusted) and a bare rport
// filled in with src's port.
func appendTopVia(dst, b []byte, v ViaHop, src netip.AddrPort) []byte {
	if !src.IsValid() {
		return append(dst, b[v.Whole.Off:v.Whole.End()]...)
	}
	if v.Params.IsZero() {
		dst = append(dst, b[v.Whole.Off:v.Whole.End()]...)
	} else {
		dst = append(dst, b[v.Whole.Off:v.Params.Off]...)
		p := b[v.Params.Off:v.Params.End()]
		for len(p) > 0 {
			n := 1
			for n < len(p) && p[n] != ';' {
				n++
			}
			seg := p[:n]
			p = p[n:]
			key, hasValue := trimBytes(seg[1:]), false
			for k := 0; k < len(key); k++ {
				if key[k] == '=' {
					key, hasValue = trimBytes(key[:k]), true
					break
				}
			}
			switch {
			case EqualFoldASCII(key, "received"):
				continue
			case EqualFoldASCII(key, "rport") && !hasValue:
				dst = append(dst, ";rport="...)
				dst = strconv.AppendUint(dst, uint64(src.Port()), 10)
				continue
			}
			dst = append(dst, seg...)
		}
	}
	ip := src.Addr().Unmap()
	var text [64]byte // an address's text, without an allocation per response
	if host := b[v.Host.Off:v.Host.End()]; string(host) != string(ip.AppendTo(text[:0])) {
		dst = append(dst, ";received="...)
		dst = ip.AppendTo(dst)
	}
	return dst
}

// responseSlack covers what a response adds to the lines it copies from its request: status
// line, received and rport, ";tag=", Content-Length.
const responseSlack = 128

// Response describes a response the proxy writes itself.
type Response struct {
	Status int
	Reason string
	// ToTag is added to To when the request's To has none (not on 100 Trying).
	ToTag []byte
	// Extra header lines, with CRLF.
	Extra []byte
}

// AppendResponse appends a response to req: its Vias (see AppendResponseVias), From, To,
// Call-ID and CSeq as they came, r's extra headers and an empty body.
func AppendResponse(dst []byte, req *Msg, src netip.AddrPort, r Response) []byte {
	// Grown once: a refusal under overload should cost one allocation, not five.
	need := responseSlack + len(r.Reason) + len(r.ToTag) + len(r.Extra)
	for _, h := range req.Headers {
		switch h.ID {
		case Via, From, To, CallID, CSeq:
			need += int(h.Line.Len)
		}
	}
	dst = slices.Grow(dst, need)
	dst = append(dst, "SIP/2.0 "...)
	dst = strconv.AppendInt(dst, int64(r.Status), 10)
	dst = append(dst, ' ')
	dst = append(dst, r.Reason...)
	dst = append(dst, "\r\n"...)
	dst = AppendResponseVias(dst, req, src)
	b := req.Buf
	for _, id := range [...]HeaderID{From, To, CallID, CSeq} {
		h, ok := req.First(id)
		if !ok {
			continue
		}
		if id == To && r.Status > 100 && len(r.ToTag) > 0 && !req.To.HasTag && !req.To.Whole.IsZero() {
			dst = append(dst, b[h.Line.Off:h.Value.End()]...)
			dst = append(dst, ";tag="...)
			dst = append(dst, r.ToTag...)
			dst = append(dst, "\r\n"...)
			continue
		}
		dst = append(dst, b[h.Line.Off:h.Line.End()]...)
	}
	dst = append(dst, r.Extra...)
	return append(dst, "Content-Length: 0\r\n\r\n"...)
}
