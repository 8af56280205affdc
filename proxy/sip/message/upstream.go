package message

import (
	"net/netip"
	"slices"
	"strconv"
	"sync"
)

// Upstream is what a server transaction keeps of its request to answer it: the Via lines of its
// responses and its From, To, Call-ID and CSeq lines, in one small buffer. A transaction waits
// for its final response far longer than it needs the whole request (thousands are live at
// once), so it holds this instead of a copy of the request once no other branch can start.
type Upstream struct {
	buf    []byte
	vias   int32 // buf[:vias] are the Via lines
	toEnd  int32 // where ";tag=" goes in a To without a tag; 0: none goes
	toLine int32 // the end of that To line (past its CRLF)
	callID Span
	method Span // the CSeq method: the request's, as the parser checked
}

// NewUpstream takes from req, which came from src, what its responses need (see
// AppendResponseVias for the Vias).
func NewUpstream(req *Msg, src netip.AddrPort) Upstream {
	var u Upstream
	size := 0
	for _, h := range req.Headers {
		switch h.ID {
		case Via, From, To, CallID, CSeq:
			size += int(h.Line.Len)
		}
	}
	// Built in a scratch buffer, then kept at its exact size: thousands of transactions hold
	// one while they wait for their final responses. The top Via may grow by received and
	// rport.
	sp := upstreamScratch.Get().(*[]byte)
	defer func() {
		if cap(*sp) <= 64<<10 {
			upstreamScratch.Put(sp)
		}
	}()
	u.buf = AppendResponseVias(slices.Grow((*sp)[:0], size+64), req, src)
	u.vias = int32(len(u.buf))
	b := req.Buf
	for _, id := range [...]HeaderID{From, To, CallID, CSeq} {
		h, ok := req.First(id)
		if !ok {
			continue
		}
		at := int32(len(u.buf))
		switch id {
		case To:
			if !req.To.HasTag && !req.To.Whole.IsZero() {
				u.toEnd = at + h.Value.End() - h.Line.Off
				u.toLine = at + h.Line.Len
			}
		case CallID:
			u.callID = Span{at + h.Value.Off - h.Line.Off, h.Value.Len}
		case CSeq:
			u.method = Span{at + req.CSeqMethod.Off - h.Line.Off, req.CSeqMethod.Len}
		}
		u.buf = append(u.buf, b[h.Line.Off:h.Line.End()]...)
	}
	*sp = u.buf
	u.buf = slices.Clone(u.buf)
	return u
}

var upstreamScratch = sync.Pool{New: func() any { b := make([]byte, 0, 1024); return &b }}

// Vias are the Via lines of a response (with CRLF).
func (u *Upstream) Vias() []byte { return u.buf[:u.vias] }

// CallID is the request's Call-ID value.
func (u *Upstream) CallID() []byte { return u.buf[u.callID.Off:u.callID.End()] }

// Method is the request's method.
func (u *Upstream) Method() []byte { return u.buf[u.method.Off:u.method.End()] }

// AppendResponse appends the response r: what AppendResponse writes for the request.
func (u *Upstream) AppendResponse(dst []byte, r Response) []byte {
	dst = slices.Grow(dst, responseSlack+len(u.buf)+len(r.Reason)+len(r.ToTag)+len(r.Extra))
	dst = append(dst, "SIP/2.0 "...)
	dst = strconv.AppendInt(dst, int64(r.Status), 10)
	dst = append(dst, ' ')
	dst = append(dst, r.Reason...)
	dst = append(dst, "\r\n"...)
	if u.toEnd > 0 && r.Status > 100 && len(r.ToTag) > 0 {
		dst = append(dst, u.buf[:u.toEnd]...)
		dst = append(dst, ";tag="...)
		dst = append(dst, r.ToTag...)
		dst = append(dst, "\r\n"...)
		dst = append(dst, u.buf[u.toLine:]...)
	} else {
		dst = append(dst, u.buf...)
	}
	dst = append(dst, r.Extra...)
	return append(dst, "Content-Length: 0\r\n\r\n"...)
}
