package core

import (
	"slices"
	"testing"

	"github.com/sipfed/terraform-provider-sip/proxy/sip/message/messagetest"
)

// The INVITE of a branch as the core sent it: its own Via on top, the caller's below.
var branchInvite = req{
	method: "INVITE",
	ruri:   "sip:bob@192.0.2.20:5060;transport=udp",
	vias: []string{
		"SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bKsfabcx1;rport",
		"SIP/2.0/UDP 192.0.2.1:5070;branch=z9hG4bKcaller",
	},
	cseq: 42,
	mf:   "69",
	extra: "Route: <sip:192.0.2.30;lr>, <sip:192.0.2.31;lr>\n" +
		"Record-Route: <sip:fed.example.com;lr>\n" +
		"Contact: <sip:alice@192.0.2.1:5070>\n" +
		"Content-Type: application/sdp\n",
	body: "v=0\r\n",
}

func TestHopByHopRequests(t *testing.T) {
	inv := parseReq(t, branchInvite)
	res := messagetest.Parse(t, "SIP/2.0 486 Busy Here\r\n"+
		"Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bKsfabcx1;rport\r\n"+
		"Via: SIP/2.0/UDP 192.0.2.1:5070;branch=z9hG4bKcaller\r\n"+
		"From: <sip:alice@example.com>;tag=f1\r\n"+
		"To: <sip:bob@partner.example>;tag=callee\r\n"+
		"Call-ID: call-1@example.com\r\n"+
		"CSeq: 42 INVITE\r\n"+
		"Content-Length: 0\r\n\r\n")
	tests := []struct {
		name   string
		out    []byte
		method string
		to     string
	}{
		// RFC 3261 9.1: the CANCEL's To is the INVITE's, without the tag of any response.
		{"CANCEL", appendCancel(nil, inv), "CANCEL", "<sip:bob@partner.example>"},
		// RFC 3261 17.1.1.3: the ACK of a non-2xx carries the response's To, with its tag.
		{"ACK", appendAck(nil, inv, res), "ACK", "<sip:bob@partner.example>;tag=callee"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := messagetest.Parse(t, string(tc.out))
			checks := []struct {
				what      string
				got, want []string
			}{
				{"method", []string{m.Str(m.Method)}, []string{tc.method}},
				{"Request-URI", []string{m.Str(m.RURI.Whole)}, []string{inv.Str(inv.RURI.Whole)}},
				// Only the branch's own Via: the same branch, so the next hop matches it.
				{"Via", messagetest.Values(m, "Via"), []string{"SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bKsfabcx1;rport"}},
				{"Route", messagetest.Values(m, "Route"), []string{"<sip:192.0.2.30;lr>, <sip:192.0.2.31;lr>"}},
				{"From", messagetest.Values(m, "From"), []string{"<sip:alice@example.com>;tag=f1"}},
				{"To", messagetest.Values(m, "To"), []string{tc.to}},
				{"Call-ID", messagetest.Values(m, "Call-ID"), []string{"call-1@example.com"}},
				{"CSeq", messagetest.Values(m, "CSeq"), []string{"42 " + tc.method}},
				{"Max-Forwards", messagetest.Values(m, "Max-Forwards"), []string{"70"}},
				{"Record-Route", messagetest.Values(m, "Record-Route"), nil},
				{"Contact", messagetest.Values(m, "Contact"), nil},
				{"Content-Type", messagetest.Values(m, "Content-Type"), nil},
				{"body", []string{m.Str(m.Body)}, []string{""}},
			}
			for _, c := range checks {
				if !slices.Equal(c.got, c.want) {
					t.Errorf("%s = %q, want %q", c.what, c.got, c.want)
				}
			}
		})
	}
}

// Without a response, an ACK keeps the INVITE's To (nothing better to say).
func TestAckWithoutResponseTo(t *testing.T) {
	inv := parseReq(t, branchInvite)
	m := messagetest.Parse(t, string(appendAck(nil, inv, nil)))
	if got := messagetest.Values(m, "To"); !slices.Equal(got, []string{"<sip:bob@partner.example>"}) {
		t.Errorf("To = %q", got)
	}
}
