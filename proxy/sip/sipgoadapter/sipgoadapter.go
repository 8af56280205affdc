// Package sipgoadapter is the one place where the proxy's runtime uses sipgo, the SIP library:
// for the requests the proxy originates itself, off the hot path (the OPTIONS that probe a next
// hop). Relaying is the core's own work on raw bytes (packages message, transport and core):
// sipgo's general-purpose transaction and transport layers parse every header into objects,
// start a goroutine per message and write each message with its own system call, which cost
// the proxy more than half of its CPU per message; and sipgo upper-cases request methods, which
// RFC 3261 makes case-sensitive. Tests, the demo and the load generators use sipgo as peers.
package sipgoadapter

import (
	"net/netip"
	"strings"

	"github.com/emiago/sipgo/sip"
)

// Options builds an OPTIONS request to a next hop: sent by viaHost:viaPort (port 0: none) over
// protocol, with the given branch and From tag.
func Options(to netip.AddrPort, protocol, viaHost string, viaPort int, branch, tag string) []byte {
	params := sip.NewParams()
	params.Add("transport", strings.ToLower(protocol))
	host := to.Addr().String()
	recipient := sip.Uri{Scheme: "sip", Host: host, Port: int(to.Port()), UriParams: params}
	req := sip.NewRequest(sip.OPTIONS, recipient)
	via := &sip.ViaHeader{ProtocolName: "SIP", ProtocolVersion: "2.0", Transport: strings.ToUpper(protocol),
		Host: viaHost, Port: viaPort, Params: sip.NewParams()}
	via.Params.Add("branch", branch)
	req.AppendHeader(via)
	mf := sip.MaxForwardsHeader(70)
	req.AppendHeader(&mf)
	from := &sip.FromHeader{Address: sip.Uri{Scheme: "sip", User: "ping", Host: viaHost}, Params: sip.NewParams()}
	from.Params.Add("tag", tag)
	req.AppendHeader(from)
	req.AppendHeader(&sip.ToHeader{Address: sip.Uri{Scheme: "sip", Host: host, Port: int(to.Port())}, Params: sip.NewParams()})
	callID := sip.CallIDHeader(branch)
	req.AppendHeader(&callID)
	req.AppendHeader(&sip.CSeqHeader{SeqNo: 1, MethodName: sip.OPTIONS})
	cl := sip.ContentLengthHeader(0)
	req.AppendHeader(&cl)
	return []byte(req.String())
}
