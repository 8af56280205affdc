package transport

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"runtime"
	"sync"
	"time"

	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"

	"github.com/sipfed/terraform-provider-sip/proxy/sip/message"
)

// udpBatch is how many datagrams one read takes (recvmmsg): under load the syscall's cost is
// shared by many messages; idle, a read returns with one.
const udpBatch = 32

// udpBuffer is the socket buffer size: at 20,000 requests/s the default 208 KiB holds 20 ms of
// traffic, which one GC pause on one core can exceed. A bigger one only queues requests past
// their retransmission timer (500 ms), which makes overload worse: 2 MiB is about 100 ms.
const udpBuffer = 2 << 20

// UDPSocket is a UDP socket of one side: a listener, or an ephemeral socket for sends where no
// listener fits. Its reader hands datagrams over inline, in batches.
type UDPSocket struct {
	t       *Transport
	side    Side
	pc      *net.UDPConn
	local   netip.AddrPort
	v6      bool
	tstamps bool
	// ephemeral sockets were opened for sends, not bound by a listener flag.
	ephemeral bool
	once      sync.Once
	p4        *ipv4.PacketConn
	p6        *ipv6.PacketConn
	localHost string
}

func (t *Transport) listenUDP(side Side, addr string) (*UDPSocket, error) {
	pc, err := net.ListenPacket("udp", addr)
	if err != nil {
		return nil, fmt.Errorf("transport: listen udp://%s: %w", addr, err)
	}
	uc := pc.(*net.UDPConn)
	_ = uc.SetReadBuffer(udpBuffer)
	_ = uc.SetWriteBuffer(udpBuffer)
	local := unmapAP(addrPortOf(uc.LocalAddr()))
	s := &UDPSocket{t: t, side: side, pc: uc, local: local, v6: local.Addr().Is6(), localHost: local.Addr().String()}
	if s.v6 {
		s.p6 = ipv6.NewPacketConn(uc)
	} else {
		s.p4 = ipv4.NewPacketConn(uc)
	}
	s.tstamps = enableTimestamps(uc)
	t.mu.Lock()
	t.sockets = append(t.sockets, s)
	t.mu.Unlock()
	return s, nil
}

// Local is the socket's address.
func (s *UDPSocket) Local() netip.AddrPort { return s.local }

// LocalHost is the socket's address without its port, as text.
func (s *UDPSocket) LocalHost() string { return s.localHost }

// Side is the side the socket faces.
func (s *UDPSocket) Side() Side { return s.side }

// start runs the socket's readers: one per core the process may use, up to four. Their reads
// take turns on the socket (the runtime serialises reads on one descriptor), but each handles
// what it read while the next reads, so one busy listener uses every core; more than four
// would mostly wait for the read lock.
func (s *UDPSocket) start() {
	s.once.Do(func() {
		for range min(runtime.GOMAXPROCS(0), maxUDPReaders) {
			s.t.goRun(s.readLoop)
		}
	})
}

const maxUDPReaders = 4

// WriteTo sends one datagram.
func (s *UDPSocket) WriteTo(b []byte, to netip.AddrPort) error {
	if s.v6 && to.Addr().Is4() {
		to = netip.AddrPortFrom(netip.AddrFrom16(to.Addr().As16()), to.Port())
	}
	_, err := s.pc.WriteToUDPAddrPort(b, to)
	return err
}

type batchReader interface {
	ReadBatch(ms []ipv4.Message, flags int) (int, error)
}

type v6Reader struct{ p *ipv6.PacketConn }

func (r v6Reader) ReadBatch(ms []ipv4.Message, flags int) (int, error) {
	return r.p.ReadBatch(ms, flags)
}

func (s *UDPSocket) readLoop() {
	var rd batchReader
	if s.v6 {
		rd = v6Reader{s.p6}
	} else {
		rd = s.p4
	}
	msgs := make([]ipv4.Message, udpBatch)
	for i := range msgs {
		msgs[i].Buffers = [][]byte{make([]byte, 65536)}
		if s.tstamps {
			msgs[i].OOB = make([]byte, oobSize)
		}
	}
	var m message.Msg
	batch := NewBatch()
	src := Source{Side: s.side, Proto: UDP, Socket: s, Batch: batch}
	for {
		n, err := rd.ReadBatch(msgs, 0)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			// ICMP errors surface here on Linux (ECONNREFUSED from an earlier send): they
			// concern one destination, not this socket.
			continue
		}
		now := time.Now()
		for i := 0; i < n; i++ {
			ms := &msgs[i]
			ua, ok := ms.Addr.(*net.UDPAddr)
			if !ok || ms.N == 0 {
				continue
			}
			src.Remote = unmapAP(ua.AddrPort())
			src.Arrived = now
			if s.tstamps && ms.NN > 0 {
				if at, ok := rxTimestamp(ms.OOB[:ms.NN]); ok {
					src.Arrived = at
				}
			}
			s.t.handle(ms.Buffers[0][:ms.N], true, &m, &src)
		}
		batch.Flush()
	}
}

// Send sends b to to: queued in batch when there is one (the reading goroutine's), else at
// once.
func (s *UDPSocket) Send(b []byte, to netip.AddrPort, batch *Batch) error {
	if batch != nil {
		batch.Send(s, b, to)
		return nil
	}
	return s.WriteTo(b, to)
}

// SocketFor returns a UDP socket of that side to send to dst from: a listener of dst's address
// family, else an ephemeral socket opened (and served) for the purpose.
func (t *Transport) SocketFor(side Side, dst netip.AddrPort) (*UDPSocket, error) {
	v6 := dst.Addr().Is6() && !dst.Addr().Is4In6()
	t.mu.Lock()
	for _, s := range t.sockets {
		if s.side == side && !s.ephemeral && s.v6 == v6 {
			t.mu.Unlock()
			return s, nil
		}
	}
	fam := 0
	if v6 {
		fam = 1
	}
	if s := t.ephemeral[side][fam]; s != nil {
		t.mu.Unlock()
		return s, nil
	}
	t.mu.Unlock()
	addr := "0.0.0.0:0"
	if v6 {
		addr = "[::]:0"
	}
	s, err := t.listenUDP(side, addr)
	if err != nil {
		return nil, err
	}
	t.mu.Lock()
	if e := t.ephemeral[side][fam]; e != nil {
		t.mu.Unlock()
		_ = s.pc.Close()
		return e, nil
	}
	s.ephemeral = true
	t.ephemeral[side][fam] = s
	t.mu.Unlock()
	s.start()
	return s, nil
}
