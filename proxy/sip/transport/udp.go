package transport

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

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
	raw       syscall.RawConn
	localHost string

	// queue judges the waits of the socket's new requests (see Window): admission control's
	// view of this socket's receive queue.
	queue Window
	// counted: the kernel reports the socket's drops; drops is its count as last reported.
	counted bool
	drops   atomic.Uint32
}

// datagram is one slot of a batched read: buf and oob are the caller's; n, nn and from are
// what arrived.
type datagram struct {
	buf, oob []byte
	n, nn    int
	from     netip.AddrPort
}

func (t *Transport) listenUDP(side Side, addr string) (*UDPSocket, error) {
	pc, err := net.ListenPacket("udp", addr)
	if err != nil {
		return nil, fmt.Errorf("transport: listen udp://%s: %w", addr, err)
	}
	uc := pc.(*net.UDPConn)
	_ = uc.SetWriteBuffer(udpBuffer)
	local := unmapAP(addrPortOf(uc.LocalAddr()))
	s := &UDPSocket{t: t, side: side, pc: uc, local: local, v6: local.Addr().Is6(), localHost: local.Addr().String()}
	if s.raw, err = uc.SyscallConn(); err != nil {
		_ = uc.Close()
		return nil, fmt.Errorf("transport: listen udp://%s: %w", addr, err)
	}
	s.tstamps = enableTimestamps(s.raw)
	s.counted = enableDropCount(s.raw)
	s.queue.Init(time.Now())
	_ = uc.SetReadBuffer(udpBuffer)
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

// Queue is the socket's standing-queue window (see Window): admission control's view of its
// receive queue.
func (s *UDPSocket) Queue() *Window { return &s.queue }

// countDrops takes the kernel's running count of the socket's drops, as a datagram reported
// it, into the drop counter: several readers see the same count, each delta is counted once.
func (s *UDPSocket) countDrops(oob []byte) {
	n, ok := rxDrops(oob)
	if !ok {
		return
	}
	for {
		seen := s.drops.Load()
		if int32(n-seen) <= 0 {
			return
		}
		if s.drops.CompareAndSwap(seen, n) {
			s.t.m.udpDrops[s.side].Add(float64(n - seen))
			return
		}
	}
}

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

func (s *UDPSocket) readLoop() {
	ds := make([]datagram, udpBatch)
	for i := range ds {
		ds[i].buf = make([]byte, 65536)
		if s.tstamps || s.counted {
			ds[i].oob = make([]byte, oobSize)
		}
	}
	io := newMmsg(udpBatch)
	var m message.Msg
	batch := NewBatch()
	src := Source{Side: s.side, Proto: UDP, Socket: s, Batch: batch}
	for {
		n, err := io.read(s, ds)
		if err != nil {
			if errors.Is(err, net.ErrClosed) || closedRaw(err) {
				return
			}
			// ICMP errors surface here on Linux (ECONNREFUSED from an earlier send): they
			// concern one destination, not this socket.
			continue
		}
		now := time.Now()
		for i := 0; i < n; i++ {
			d := &ds[i]
			if d.n == 0 || !d.from.IsValid() {
				continue
			}
			src.Remote = d.from
			src.Arrived = now
			if s.tstamps && d.nn > 0 {
				if at, ok := rxTimestamp(d.oob[:d.nn]); ok {
					src.Arrived = at
				}
			}
			s.t.handle(d.buf[:d.n], true, &m, &src)
		}
		if s.counted && n > 0 && ds[n-1].nn > 0 {
			// The last datagram read carries the newest count.
			s.countDrops(ds[n-1].oob[:ds[n-1].nn])
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
