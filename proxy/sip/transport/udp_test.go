package transport

import (
	"errors"
	"net"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"
)

// udpPeer is a loopback UDP socket outside the transport.
type udpPeer struct {
	pc   *net.UDPConn
	addr netip.AddrPort
}

func newUDPPeer(t *testing.T) *udpPeer {
	t.Helper()
	pc, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = pc.Close() })
	return &udpPeer{pc: pc, addr: pc.LocalAddr().(*net.UDPAddr).AddrPort()}
}

// recv returns the next datagram and its sender; ok false when none came within d.
func (p *udpPeer) recv(t *testing.T, d time.Duration) (string, netip.AddrPort, bool) {
	t.Helper()
	buf := make([]byte, 65536)
	_ = p.pc.SetReadDeadline(time.Now().Add(d))
	n, from, err := p.pc.ReadFromUDPAddrPort(buf)
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return "", netip.AddrPort{}, false
	}
	if err != nil {
		t.Fatal(err)
	}
	return string(buf[:n]), from, true
}

// udpSockets binds n loopback UDP sockets of a side, not served.
func udpSockets(t *testing.T, tp *Transport, side Side, n int) []*UDPSocket {
	t.Helper()
	for i := 0; i < n; i++ {
		if _, err := tp.Listen(side, UDP, "127.0.0.1:0"); err != nil {
			t.Fatal(err)
		}
	}
	return tp.UDPSockets(side)
}

// A batch sends what it queued, from the socket each datagram was queued on, to its own
// destination, in order, and is empty after.
func TestBatchFlush(t *testing.T) {
	tp := newTransport(t, newRecorder(), Limits{})
	socks := udpSockets(t, tp, External, 2)
	r1, r2 := newUDPPeer(t), newUDPPeer(t)

	type dgram struct {
		sock *UDPSocket
		to   *udpPeer
		data string
	}
	queue := []dgram{
		{socks[0], r1, "a"}, {socks[1], r1, "b"}, {socks[0], r2, "c"}, {socks[0], r1, "d"},
		{socks[1], r2, strings.Repeat("e", 1400)},
	}
	bt := NewBatch()
	for round := 0; round < 3; round++ { // the arena is reused across flushes
		for _, d := range queue {
			b := []byte(d.data)
			bt.Send(d.sock, b, d.to.addr)
			b[0] = 'X' // Send copies: the caller's buffer is its own again
		}
		if bt.Len() != len(queue) {
			t.Fatalf("Len = %d, want %d", bt.Len(), len(queue))
		}
		bt.Flush()
		if bt.Len() != 0 {
			t.Fatalf("Len = %d after Flush", bt.Len())
		}
		for _, r := range []*udpPeer{r1, r2} {
			var want []string
			for _, d := range queue {
				if d.to == r {
					want = append(want, d.sock.Local().String()+" "+d.data)
				}
			}
			var got []string
			for range want {
				data, from, ok := r.recv(t, 3*time.Second)
				if !ok {
					t.Fatalf("round %d: %s got %d of %d datagrams", round, r.addr, len(got), len(want))
				}
				got = append(got, from.String()+" "+data)
			}
			// Datagrams of one socket keep their order; sockets are flushed one after the
			// other, so compare per sender.
			for _, s := range socks {
				if g, w := fromSock(got, s), fromSock(want, s); strings.Join(g, "|") != strings.Join(w, "|") {
					t.Errorf("round %d: %s got from %s %q, want %q", round, r.addr, s.Local(), g, w)
				}
			}
		}
	}
	r1.quiet(t)
	r2.quiet(t)
}

// A destination the kernel refuses (port 0 here) costs its own datagram, not the rest of the
// batch.
func TestBatchBadDestination(t *testing.T) {
	tp := newTransport(t, newRecorder(), Limits{})
	s := udpSockets(t, tp, External, 1)[0]
	r := newUDPPeer(t)
	bt := NewBatch()
	bt.Send(s, []byte("1"), r.addr)
	bt.Send(s, []byte("bad"), netip.MustParseAddrPort("127.0.0.1:0"))
	bt.Send(s, []byte("2"), r.addr)
	bt.Flush()
	for _, want := range []string{"1", "2"} {
		if data, _, ok := r.recv(t, 3*time.Second); !ok || data != want {
			t.Fatalf("got %q, %v; want %q", data, ok, want)
		}
	}
}

func fromSock(list []string, s *UDPSocket) []string {
	var out []string
	for _, l := range list {
		if strings.HasPrefix(l, s.Local().String()+" ") {
			out = append(out, l)
		}
	}
	return out
}

func (p *udpPeer) quiet(t *testing.T) {
	t.Helper()
	if data, _, ok := p.recv(t, 20*time.Millisecond); ok {
		t.Fatalf("%s got an unexpected datagram %q", p.addr, data)
	}
}

// UDPSocket.Send queues in the reading goroutine's batch when there is one, else sends at once.
func TestUDPSend(t *testing.T) {
	tp := newTransport(t, newRecorder(), Limits{})
	s := udpSockets(t, tp, Internal, 1)[0]
	r := newUDPPeer(t)
	if err := s.Send([]byte("now"), r.addr, nil); err != nil {
		t.Fatal(err)
	}
	if data, _, ok := r.recv(t, 3*time.Second); !ok || data != "now" {
		t.Fatalf("got %q, %v", data, ok)
	}
	bt := NewBatch()
	if err := s.Send([]byte("later"), r.addr, bt); err != nil {
		t.Fatal(err)
	}
	r.quiet(t)
	bt.Flush()
	if data, _, ok := r.recv(t, 3*time.Second); !ok || data != "later" {
		t.Fatalf("got %q, %v", data, ok)
	}
}

// SocketFor picks a listener of the side and family; UDPSockets lists listeners only.
func TestSocketFor(t *testing.T) {
	tp := newTransport(t, newRecorder(), Limits{})
	ext := udpSockets(t, tp, External, 1)[0]
	in := udpSockets(t, tp, Internal, 1)[0]
	for _, tc := range []struct {
		side Side
		dst  string
		want *UDPSocket
	}{
		{External, "192.0.2.9:5060", ext},
		{Internal, "192.0.2.9:5060", in},
		{External, "[::ffff:192.0.2.9]:5060", ext}, // a mapped address is IPv4
	} {
		got, err := tp.SocketFor(tc.side, netip.MustParseAddrPort(tc.dst))
		if err != nil || got != tc.want {
			t.Errorf("SocketFor(%v, %s) = %v, %v", tc.side, tc.dst, got.Local(), err)
		}
	}
	if n := len(tp.UDPSockets(External)); n != 1 {
		t.Errorf("%d external listeners listed", n)
	}
}

// Inject parses as a read would: a message that parses reaches the handler; one that does not
// gets the refusal Parse decided on (never an ACK or a response) and reaches nothing.
func TestInject(t *testing.T) {
	base := sipMsg("MESSAGE", "inj", "")
	add := func(line string) string { return strings.Replace(base, "Content-Length", line+"\r\nContent-Length", 1) }
	tests := []struct {
		name     string
		raw      string
		lim      Limits
		handled  bool
		response string // start of the refusal; "" for none
	}{
		{"valid", base, Limits{}, true, ""},
		{"second From", add("From: <sip:mallory@example.com>;tag=2"), Limits{}, false, "SIP/2.0 400 "},
		{"second To", add("To: <sip:carol@example.com>"), Limits{}, false, "SIP/2.0 400 "},
		{"second Call-ID", add("Call-ID: other"), Limits{}, false, "SIP/2.0 400 "},
		{"version", strings.Replace(base, " SIP/2.0\r\n", " SIP/3.0\r\n", 1), Limits{}, false, "SIP/2.0 505 "},
		{"too large", sipMsg("MESSAGE", "big", strings.Repeat("x", 600)), Limits{MaxMessageSize: 500}, false, "SIP/2.0 513 "},
		{"malformed ACK", strings.ReplaceAll(add("From: <sip:mallory@example.com>;tag=2"), "MESSAGE", "ACK"), Limits{}, false, ""},
		{"malformed response", "SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bKr\r\nFrom: <sip:a@example.com>;tag=1\r\nFrom: <sip:b@example.com>;tag=2\r\nTo: <sip:b@example.com>\r\nCall-ID: r\r\nCSeq: 1 MESSAGE\r\nContent-Length: 0\r\n\r\n", Limits{}, false, ""},
		{"no Via", strings.Replace(base, "Via: SIP/2.0/TCP 192.0.2.1:40000;branch=z9hG4bKinj\r\n", "", 1), Limits{}, false, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rec := newRecorder()
			tp := newTransport(t, rec, tc.lim)
			s := udpSockets(t, tp, External, 1)[0]
			sender := newUDPPeer(t)
			src := &Source{Side: External, Proto: UDP, Socket: s, Remote: sender.addr}
			tp.Inject([]byte(tc.raw), true, src)
			if got := rec.count() == 1; got != tc.handled {
				t.Fatalf("handled = %v, want %v", got, tc.handled)
			}
			if tc.handled && rec.srcs[0].Arrived.IsZero() {
				t.Error("an injected message has no arrival time: overload control would misread it")
			}
			if tc.response == "" {
				sender.quiet(t)
				return
			}
			data, from, ok := sender.recv(t, 3*time.Second)
			if !ok || !strings.HasPrefix(data, tc.response) {
				t.Fatalf("refusal %q, want %q...", data, tc.response)
			}
			if from != s.Local() {
				t.Errorf("refusal from %s, want the socket the message came on (%s)", from, s.Local())
			}
		})
	}
}
