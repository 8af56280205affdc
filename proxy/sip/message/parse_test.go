package message

import "testing"

// benchRequest and benchResponse are what the relay benchmarks carry: a MESSAGE from an
// internal user to a partner, and the partner's 200 OK on its way back through the proxy.
var (
	benchRequest = crlf("MESSAGE sip:bob@partner.example SIP/2.0\n" +
		"Via: SIP/2.0/TCP 127.0.0.1:7000;branch=z9hG4bK-17-1-0;rport\n" +
		"Max-Forwards: 70\n" +
		"From: \"Alice A.\" <sip:alice@example.com>;tag=17SIPpTag001\n" +
		"To: <sip:bob@partner.example>\n" +
		"Call-ID: 1-17@127.0.0.1\n" +
		"CSeq: 1 MESSAGE\n" +
		"Contact: <sip:alice@127.0.0.1:7000;transport=tcp>\n" +
		"Content-Type: text/plain\n" +
		"Content-Length: 5\n\nhello")
	benchResponse = crlf("SIP/2.0 200 OK\n" +
		"Via: SIP/2.0/TLS 127.0.0.1:5061;branch=z9hG4bKsfcf73bax379affa2xfb4604678d786c42\n" +
		"Via: SIP/2.0/TCP 127.0.0.1:7000;branch=z9hG4bK-17-1-0;rport=7000;received=127.0.0.1\n" +
		"Record-Route: <sip:fed.example.com;transport=tls;lr;sfm=TMXIye1YqXhp;sfr=iu>\n" +
		"From: \"Alice A.\" <sip:alice@example.com>;tag=17SIPpTag001\n" +
		"To: <sip:bob@partner.example>;tag=8321234356\n" +
		"Call-ID: sf1.yCc8FZ4KuaSyTjMp6NxJhnt9pHsSEgwKl_-i8GHgk41NEw\n" +
		"CSeq: 1 MESSAGE\n" +
		"Contact: <sip:bob@192.0.2.9:5061;transport=tls>\n" +
		"Content-Length: 0\n\n")
)

// BenchmarkParse is the parse of every message the proxy reads.
func BenchmarkParse(b *testing.B) {
	for name, raw := range map[string][]byte{"request": benchRequest, "response": benchResponse} {
		b.Run(name, func(b *testing.B) {
			var m Msg
			b.SetBytes(int64(len(raw)))
			b.ReportAllocs()
			for b.Loop() {
				if err := Parse(&m, raw, false, DefaultLimits); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// A Via's branch, received and rport are read in one pass over its parameters; each must be
// what FindParam finds for it: the first of that name, whatever the case, the order, the
// spacing or a quoted value holding a ';'.
func TestViaParamsOnePass(t *testing.T) {
	for _, via := range []string{
		"SIP/2.0/UDP h;branch=z9hG4bK1",
		"SIP/2.0/UDP h:5060;rport;branch=z9hG4bK1;received=192.0.2.1",
		"SIP/2.0/UDP h;received=192.0.2.1;rport=5070;branch=z9hG4bK1",
		"SIP/2.0/UDP h;BRANCH=z9hG4bKup;Received=192.0.2.2;RPORT=1",
		"SIP/2.0/UDP h;branch=z9hG4bKfirst;branch=z9hG4bKsecond;rport=1;rport=2",
		"SIP/2.0/UDP h;x=\"a;branch=z9hG4bKfake\";branch=z9hG4bKreal",
		"SIP/2.0/UDP h ; branch = z9hG4bKspaced ; rport",
		"SIP/2.0/UDP h;branchx=z9hG4bKnot;xbranch=no;branch=z9hG4bKyes",
		"SIP/2.0/UDP h;maddr=10.0.0.1;ttl=16",
		"SIP/2.0/UDP h;received=192.0.2.1;RECEIVED=192.0.2.9;branch=z9hG4bK7",
		"SIP/2.0/UDP [2001:db8::1]:5070;rport;branch=z9hG4bK6",
	} {
		b := []byte(via)
		v, ok := parseViaHop(b, 0, len(b))
		if !ok {
			t.Errorf("%q did not parse", via)
			continue
		}
		branch, _ := FindParam(b, v.Params, "branch")
		received, _ := FindParam(b, v.Params, "received")
		rport, hasRPort := FindParam(b, v.Params, "rport")
		if v.Branch != branch || v.Received != received || v.RPort != rport || v.HasRPort != hasRPort {
			t.Errorf("%q: branch %q received %q rport %q (%v); FindParam: %q %q %q (%v)", via,
				b[v.Branch.Off:v.Branch.End()], b[v.Received.Off:v.Received.End()], b[v.RPort.Off:v.RPort.End()], v.HasRPort,
				b[branch.Off:branch.End()], b[received.Off:received.End()], b[rport.Off:rport.End()], hasRPort)
		}
	}
}
