package message

import (
	"bytes"
	"net/netip"
	"testing"
)

// An Upstream answers as AppendResponse does from the whole request, byte for byte: the server
// transaction switches from one to the other mid-life, and a caller must not see the seam.
func TestUpstreamAnswersAsTheRequestWould(t *testing.T) {
	reqs := map[string][]byte{"invite": crlf(invite)}
	for _, tc := range loadTorture(t) {
		reqs[tc.tag] = tc.raw
	}
	reqs["to with a tag"] = crlf("MESSAGE sip:b@x.test SIP/2.0\nVia: SIP/2.0/UDP h;branch=z9hG4bK1;rport\nTo: <sip:b@x.test>;tag=9\nFrom: <sip:a@y.test>;tag=1\nCall-ID: c1\nCSeq: 2 MESSAGE\nMax-Forwards: 70\nContent-Length: 0\n\n")
	reqs["to with trailing space"] = crlf("OPTIONS sip:b@x.test SIP/2.0\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\nTo: <sip:b@x.test>   \nFrom: <sip:a@y.test>;tag=1\nCall-ID: c2\nCSeq: 2 OPTIONS\nMax-Forwards: 70\nContent-Length: 0\n\n")
	responses := []Response{
		{Status: 100, Reason: "Trying", ToTag: []byte("sf1")},
		{Status: 487, Reason: "Request Terminated", ToTag: []byte("sf1")},
		{Status: 503, Reason: "Service Unavailable", ToTag: []byte("sf1"), Extra: []byte("Retry-After: 5\r\n")},
		{Status: 408, Reason: "Request Timeout"},
	}
	srcs := []netip.AddrPort{netip.MustParseAddrPort("192.0.2.1:40000"), {}}
	tried := 0
	for name, raw := range reqs {
		var m Msg
		if err := Parse(&m, raw, true, DefaultLimits); err != nil || !m.IsRequest || !m.CanRespond() {
			continue
		}
		tried++
		for _, src := range srcs {
			u := NewUpstream(&m, src)
			if got, want := u.Vias(), AppendResponseVias(nil, &m, src); !bytes.Equal(got, want) {
				t.Errorf("%s: Vias\n got %q\nwant %q", name, got, want)
			}
			if got, want := string(u.CallID()), m.Str(m.CallID); got != want {
				t.Errorf("%s: Call-ID %q, want %q", name, got, want)
			}
			if got, want := string(u.Method()), m.Str(m.Method); got != want {
				t.Errorf("%s: method %q, want %q", name, got, want)
			}
			for _, r := range responses {
				got, want := u.AppendResponse(nil, r), AppendResponse(nil, &m, src, r)
				if !bytes.Equal(got, want) {
					t.Errorf("%s, %d from %v:\n got %q\nwant %q", name, r.Status, src, got, want)
				}
			}
		}
	}
	if tried < 25 {
		t.Fatalf("only %d requests compared", tried)
	}
}
