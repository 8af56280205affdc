package sipgoadapter

import (
	"io"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"

	"github.com/sipfed/terraform-provider-sip/proxy/sip/message"
	"github.com/sipfed/terraform-provider-sip/proxy/sip/message/messagetest"
)

const branch = "z9hG4bKsf0a1b2cx00000000x0123456789abcdef"

// The probe goes through the proxy's own strict parser on the far side's behalf: what it
// refuses, a next hop may refuse too, and the hop would never come back up.
func TestOptions(t *testing.T) {
	tests := []struct {
		name     string
		to       string
		protocol string
		viaHost  string
		viaPort  int
		ruri     string
		via      string
	}{
		{"udp", "192.0.2.7:5060", "udp", "192.0.2.1", 5070,
			"sip:192.0.2.7:5060;transport=udp", "SIP/2.0/UDP 192.0.2.1:5070;branch=" + branch},
		{"tcp without a Via port", "192.0.2.7:5060", "tcp", "imp1.example.com", 0,
			"sip:192.0.2.7:5060;transport=tcp", "SIP/2.0/TCP imp1.example.com;branch=" + branch},
		{"tls, upper-case protocol", "192.0.2.7:5061", "TLS", "fed.example.com", 0,
			"sip:192.0.2.7:5061;transport=tls", "SIP/2.0/TLS fed.example.com;branch=" + branch},
		{"IPv6", "[2001:db8::7]:5061", "tls", "2001:db8::1", 5061,
			"sip:[2001:db8::7]:5061;transport=tls", "SIP/2.0/TLS [2001:db8::1]:5061;branch=" + branch},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out := Options(netip.MustParseAddrPort(tc.to), tc.protocol, tc.viaHost, tc.viaPort, branch, "tag1")
			var m message.Msg
			if err := message.Parse(&m, out, true, message.DefaultLimits); err != nil {
				t.Fatalf("the probe does not parse: %v\n%s", err, out)
			}
			checks := []struct {
				what      string
				got, want []string
			}{
				{"method", []string{m.Str(m.Method)}, []string{"OPTIONS"}},
				{"Request-URI", []string{m.Str(m.RURI.Whole)}, []string{tc.ruri}},
				{"Via", messagetest.Values(&m, "Via"), []string{tc.via}},
				{"Max-Forwards", messagetest.Values(&m, "Max-Forwards"), []string{"70"}},
				{"From tag", []string{m.Str(m.From.Tag)}, []string{"tag1"}},
				{"To tag", []string{strconv.FormatBool(m.To.HasTag)}, []string{"false"}},
				{"CSeq", messagetest.Values(&m, "CSeq"), []string{"1 OPTIONS"}},
				{"Content-Length", messagetest.Values(&m, "Content-Length"), []string{"0"}},
				{"body", []string{m.Str(m.Body)}, []string{""}},
			}
			for _, c := range checks {
				if !slices.Equal(c.got, c.want) {
					t.Errorf("%s = %q, want %q", c.what, c.got, c.want)
				}
			}
			// Each probe is a dialog-less request of its own: two probes must not share a
			// Call-ID.
			var other message.Msg
			if err := message.Parse(&other, Options(netip.MustParseAddrPort(tc.to), tc.protocol, tc.viaHost, tc.viaPort, branch+"2", "tag1"), true, message.DefaultLimits); err != nil {
				t.Fatal(err)
			}
			if m.Str(m.CallID) == "" || m.Str(m.CallID) == other.Str(other.CallID) {
				t.Errorf("Call-IDs %q and %q", m.Str(m.CallID), other.Str(other.CallID))
			}
		})
	}
}

// A SIP element built on another stack answers the probe so that the core can match the
// answer: the branch comes back in the top Via, and the answer parses.
func TestOptionsAnsweredBySipgo(t *testing.T) {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	ua, err := sipgo.NewUA(sipgo.WithUserAgent("hop"),
		sipgo.WithUserAgentTransportLayerOptions(sip.WithTransportLayerLogger(log)),
		sipgo.WithUserAgentTransactionLayerOptions(sip.WithTransactionLayerLogger(log)))
	if err != nil {
		t.Fatal(err)
	}
	srv, err := sipgo.NewServer(ua, sipgo.WithServerLogger(log))
	if err != nil {
		t.Fatal(err)
	}
	srv.OnOptions(func(req *sip.Request, tx sip.ServerTransaction) {
		_ = tx.Respond(sip.NewResponseFromRequest(req, 200, "OK", nil))
	})
	hopConn, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.ServeUDP(hopConn) }()
	t.Cleanup(func() { _ = hopConn.Close(); _ = ua.Close() })

	me, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer me.Close()
	local := me.LocalAddr().(*net.UDPAddr).AddrPort()
	hop := hopConn.LocalAddr().(*net.UDPAddr).AddrPort()

	probe := Options(hop, "udp", local.Addr().String(), int(local.Port()), branch, "tag1")
	if _, err := me.WriteToUDPAddrPort(probe, hop); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 65536)
	_ = me.SetReadDeadline(time.Now().Add(3 * time.Second))
	n, _, err := me.ReadFromUDPAddrPort(buf)
	if err != nil {
		t.Fatalf("no answer to the probe: %v", err)
	}
	var res message.Msg
	if err := message.Parse(&res, buf[:n], true, message.DefaultLimits); err != nil {
		t.Fatalf("the answer does not parse: %v\n%s", err, buf[:n])
	}
	if res.IsRequest || res.Status != 200 {
		t.Fatalf("answer %q", buf[:n])
	}
	if got := res.Str(res.TopVia.Branch); got != branch {
		t.Errorf("answer's branch %q, probe's %q: the core could not match it", got, branch)
	}
	if !res.CSeqMethodIs("OPTIONS") {
		t.Errorf("answer's CSeq method %q", res.Str(res.CSeqMethod))
	}
}
