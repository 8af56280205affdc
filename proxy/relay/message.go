package relay

import (
	"hash/fnv"
	"math/rand/v2"
	"strconv"
	"strings"

	"github.com/emiago/sipgo/sip"
)

// rrParam marks the Record-Route entries this proxy writes, so that it recognises its own Route
// entries whatever name they carry (the federation routing FQDN may change during a dialog).
const rrParam = "sipfed"

// maxForwardsDefault is what RFC 3261 16.6 has a proxy add when a request has no Max-Forwards.
const maxForwardsDefault = 70

// The branch of a Via this proxy adds is z9hG4bK + "sf" + node marker + "x" + loop hash + "x" +
// random. The loop hash covers the request's fields that a loop leaves unchanged (RFC 3261 16.3
// step 4, 16.6 step 8): a request coming back with one of our branches and the same hash is a
// loop (482); one whose Request-URI changed in between is a spiral and goes on.
const hexDigits = "0123456789abcdef"

func hex32(v uint32) string {
	var b [8]byte
	for i := 7; i >= 0; i-- {
		b[i] = hexDigits[v&0xf]
		v >>= 4
	}
	return string(b[:])
}

func appendHex(b []byte, v uint64, n int) []byte {
	for i := n - 1; i >= 0; i-- {
		b = append(b, hexDigits[(v>>(uint(i)*4))&0xf])
	}
	return b
}

// loopHash hashes the fields of req that a loop does not change.
func loopHash(req *sip.Request) uint32 {
	h := fnv.New32a()
	w := func(s string) { _, _ = h.Write([]byte(s)); _, _ = h.Write([]byte{0}) }
	w(req.Recipient.Scheme)
	w(req.Recipient.User)
	w(strings.ToLower(req.Recipient.Host))
	w(strconv.Itoa(req.Recipient.Port))
	if f := req.From(); f != nil {
		t, _ := f.Params.Get("tag")
		w(t)
	}
	if t := req.To(); t != nil {
		tag, _ := t.Params.Get("tag")
		w(tag)
	}
	if c := req.CallID(); c != nil {
		w(string(*c))
	}
	if c := req.CSeq(); c != nil {
		w(strconv.FormatUint(uint64(c.SeqNo), 10))
		w(string(c.MethodName))
	}
	return h.Sum32()
}

// branch makes a new branch for a request with loop hash lh.
func (r *Relay) branch(lh uint32) string {
	b := make([]byte, 0, len(r.branchPrefix)+8+1+16)
	b = append(b, r.branchPrefix...)
	b = appendHex(b, uint64(lh), 8)
	b = append(b, 'x')
	b = appendHex(b, rand.Uint64(), 16)
	return string(b)
}

// isLoop reports whether req already passed this proxy unchanged.
func (r *Relay) isLoop(req *sip.Request, lh uint32) bool {
	want := ""
	for _, h := range req.Headers() {
		v, ok := h.(*sip.ViaHeader)
		if !ok {
			continue
		}
		b, _ := v.Params.Get("branch")
		if !strings.HasPrefix(b, r.branchPrefix) || len(b) < len(r.branchPrefix)+8 {
			continue
		}
		if want == "" {
			want = hex32(lh)
		}
		if b[len(r.branchPrefix):len(r.branchPrefix)+8] == want {
			return true
		}
	}
	return false
}

// ownRoute reports whether a Route URI names this proxy.
func (r *Relay) ownRoute(u *sip.Uri, routingFQDN, nodeFQDN string) bool {
	if u.UriParams.Has(rrParam) {
		return true
	}
	if u.User != "" {
		return false
	}
	if strings.EqualFold(u.Host, routingFQDN) || strings.EqualFold(u.Host, nodeFQDN) {
		return true
	}
	for _, l := range r.bound {
		ap := l.AddrPort()
		if ap.Port() == uint16(u.Port) && !ap.Addr().IsUnspecified() && strings.EqualFold(strings.Trim(u.Host, "[]"), ap.Addr().String()) {
			return true
		}
	}
	return false
}

// forwardable is a request ready to be copied for each branch: our own Route entries popped,
// Max-Forwards decremented, our Record-Route entries in front.
type forwardable struct {
	req     *sip.Request
	headers []sip.Header // req's headers as they go out, without our Via
	// target is the first Route left after ours were popped: where an in-dialog request goes.
	target *sip.Uri
	lh     uint32
}

// prepare builds what every branch of req shares. rr are our Record-Route entries, top first.
func (r *Relay) prepare(req *sip.Request, lh uint32, rr []sip.Header, routingFQDN, nodeFQDN string) *forwardable {
	src := req.Headers()
	f := &forwardable{req: req, lh: lh, headers: make([]sip.Header, 0, len(src)+len(rr)+2)}
	f.headers = append(f.headers, rr...)
	popping, sawMF := true, false
	for _, h := range src {
		switch v := h.(type) {
		case *sip.RouteHeader:
			if popping && r.ownRoute(&v.Address, routingFQDN, nodeFQDN) {
				continue
			}
			if popping {
				f.target = &v.Address
			}
			popping = false
		case *sip.MaxForwardsHeader:
			sawMF = true
			mf := sip.MaxForwardsHeader(v.Val() - 1)
			h = &mf
		}
		f.headers = append(f.headers, h)
	}
	if !sawMF {
		mf := sip.MaxForwardsHeader(maxForwardsDefault)
		f.headers = append(f.headers, &mf)
	}
	return f
}

// branchRequest is one branch of f: a new request sharing f's headers (they are only read from
// here on) behind a Via of its own.
func (f *forwardable) branchRequest(via *sip.ViaHeader) *sip.Request {
	out := sip.NewRequest(f.req.Method, f.req.Recipient)
	out.SipVersion = f.req.SipVersion
	out.AppendHeader(via)
	for _, h := range f.headers {
		out.AppendHeader(h)
	}
	out.SetBody(f.req.Body())
	return out
}

// upstreamResponse is res as it goes back to the sender of req: our Via removed, the rest
// shared.
func upstreamResponse(res *sip.Response, req *sip.Request) *sip.Response {
	up := sip.NewResponse(res.StatusCode, res.Reason)
	up.SipVersion = res.SipVersion
	first := true
	for _, h := range res.Headers() {
		if _, ok := h.(*sip.ViaHeader); ok && first {
			first = false
			continue
		}
		up.AppendHeader(h)
	}
	up.SetBody(res.Body())
	up.SetTransport(req.Transport())
	up.SetDestination(req.Source())
	return up
}

// cancelFor builds the CANCEL of a branch's INVITE (RFC 3261 9.1): same Request-URI, Via, Route,
// From, To, Call-ID and CSeq number.
func cancelFor(inv *sip.Request) *sip.Request {
	c := sip.NewRequest(sip.CANCEL, inv.Recipient)
	c.SipVersion = inv.SipVersion
	c.AppendHeader(inv.Via().Clone())
	for _, h := range inv.Headers() {
		switch v := h.(type) {
		case *sip.RouteHeader, *sip.FromHeader, *sip.ToHeader, *sip.CallIDHeader:
			c.AppendHeader(h)
		case *sip.CSeqHeader:
			c.AppendHeader(&sip.CSeqHeader{SeqNo: v.SeqNo, MethodName: sip.CANCEL})
		}
	}
	mf := sip.MaxForwardsHeader(maxForwardsDefault)
	c.AppendHeader(&mf)
	c.SetBody(nil)
	c.SetTransport(inv.Transport())
	c.SetDestination(inv.Destination())
	c.Laddr = inv.Laddr
	return c
}

// recordRoute is one of our Record-Route entries. They are few and never written to once made,
// so requests share them.
func (r *Relay) recordRoute(host string, port int, transport string) sip.Header {
	key := host + "|" + strconv.Itoa(port) + "|" + transport
	if h, ok := r.rrCache.Load(key); ok {
		return h.(sip.Header)
	}
	h, _ := r.rrCache.LoadOrStore(key, newRecordRoute(host, port, transport))
	return h.(sip.Header)
}

func newRecordRoute(host string, port int, transport string) *sip.RecordRouteHeader {
	params := sip.NewParams()
	params.Add("transport", transport)
	params.Add("lr", "")
	params.Add(rrParam, "")
	return &sip.RecordRouteHeader{Address: sip.Uri{Scheme: "sip", Host: host, Port: port, UriParams: params}}
}

// domainOf is the lower-cased host of a From or To address.
func domainOf(u *sip.Uri) string {
	return strings.ToLower(u.Host)
}

func hasTag(to *sip.ToHeader) bool {
	return to != nil && to.Params.Has("tag")
}
