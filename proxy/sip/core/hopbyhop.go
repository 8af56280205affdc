package core

import (
	"github.com/sipfed/terraform-provider-sip/proxy/sip/message"
)

// appendCancel writes the CANCEL of a branch's INVITE (RFC 3261 9.1): the same Request-URI,
// top Via, Route, From, To, Call-ID and CSeq number.
func appendCancel(dst []byte, inv *message.Msg) []byte {
	return appendHopByHop(dst, inv, "CANCEL", nil)
}

// appendAck writes the ACK of a non-2xx final response to a branch's INVITE (RFC 3261
// 17.1.1.3): as the CANCEL, but with the response's To, which carries the callee's tag.
func appendAck(dst []byte, inv, res *message.Msg) []byte {
	return appendHopByHop(dst, inv, "ACK", res)
}

func appendHopByHop(dst []byte, inv *message.Msg, method string, res *message.Msg) []byte {
	b := inv.Buf
	dst = append(dst, method...)
	dst = append(dst, ' ')
	dst = append(dst, inv.Bytes(inv.RURI.Whole)...)
	dst = append(dst, " SIP/2.0\r\nVia: "...)
	dst = append(dst, inv.Bytes(inv.TopVia.Whole)...)
	dst = append(dst, "\r\n"...)
	for _, h := range inv.Headers {
		switch h.ID {
		case message.Route, message.From, message.CallID:
			dst = append(dst, b[h.Line.Off:h.Line.End()]...)
		case message.To:
			if res != nil {
				if th, ok := res.First(message.To); ok {
					dst = append(dst, res.Buf[th.Line.Off:th.Line.End()]...)
					continue
				}
			}
			dst = append(dst, b[h.Line.Off:h.Line.End()]...)
		}
	}
	dst = append(dst, "Max-Forwards: 70\r\nCSeq: "...)
	dst = message.AppendUint(dst, uint64(inv.CSeqNum))
	dst = append(dst, ' ')
	dst = append(dst, method...)
	return append(dst, "\r\nContent-Length: 0\r\n\r\n"...)
}

func reasonPhrase(status int) string {
	switch status {
	case 400:
		return "Bad Request"
	case 403:
		return "Forbidden"
	case 404:
		return "Not Found"
	case 408:
		return "Request Timeout"
	case 416:
		return "Unsupported URI Scheme"
	case 420:
		return "Bad Extension"
	case 480:
		return "Temporarily Unavailable"
	case 481:
		return "Call/Transaction Does Not Exist"
	case 482:
		return "Loop Detected"
	case 483:
		return "Too Many Hops"
	case 487:
		return "Request Terminated"
	case 500:
		return "Server Internal Error"
	case 503:
		return "Service Unavailable"
	case 504:
		return "Server Time-out"
	case 505:
		return "Version Not Supported"
	case 513:
		return "Message Too Large"
	}
	switch {
	case status < 200:
		return "Trying"
	case status < 300:
		return "OK"
	}
	return "Error"
}
