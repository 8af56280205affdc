package transport

import (
	"net"
	"net/netip"

	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"
)

// Batch collects the UDP datagrams a reading goroutine sends while it handles what one read
// returned, and sends them with one sendmmsg per socket when it is done: under load the cost of
// a send system call is shared by many messages, as recvmmsg shares the cost of a read. Idle, a
// batch holds one datagram and costs what a plain send does. A Batch belongs to one goroutine.
type Batch struct {
	arena   []byte
	entries []batchEntry
	msgs    []ipv4.Message
	addrs   []net.UDPAddr
}

type batchEntry struct {
	sock     *UDPSocket
	to       netip.AddrPort
	off, len int
}

// NewBatch returns an empty batch.
func NewBatch() *Batch { return &Batch{arena: make([]byte, 0, 64<<10)} }

// Send queues b (copied) for to, from sock.
func (bt *Batch) Send(sock *UDPSocket, b []byte, to netip.AddrPort) {
	off := len(bt.arena)
	bt.arena = append(bt.arena, b...)
	bt.entries = append(bt.entries, batchEntry{sock: sock, to: to, off: off, len: len(b)})
}

// Len is the number of datagrams queued.
func (bt *Batch) Len() int { return len(bt.entries) }

// Flush sends what is queued, one sendmmsg per socket, and empties the batch.
func (bt *Batch) Flush() {
	for len(bt.entries) > 0 {
		sock := bt.entries[0].sock
		bt.msgs, bt.addrs = bt.msgs[:0], bt.addrs[:0]
		rest := bt.entries[:0]
		for _, e := range bt.entries {
			if e.sock != sock {
				rest = append(rest, e)
				continue
			}
			to := e.to
			if sock.v6 && to.Addr().Is4() {
				to = netip.AddrPortFrom(netip.AddrFrom16(to.Addr().As16()), to.Port())
			}
			bt.addrs = append(bt.addrs, net.UDPAddr{})
			a := &bt.addrs[len(bt.addrs)-1]
			ip := to.Addr().As16()
			if to.Addr().Is4() {
				a.IP = append(a.IP[:0], ip[12:]...)
			} else {
				a.IP = append(a.IP[:0], ip[:]...)
			}
			a.Port = int(to.Port())
			bt.msgs = append(bt.msgs, ipv4.Message{Buffers: [][]byte{bt.arena[e.off : e.off+e.len]}})
		}
		// The addresses are set only now: appending to addrs may have moved them.
		for i := range bt.msgs {
			bt.msgs[i].Addr = &bt.addrs[i]
		}
		sock.writeBatch(bt.msgs)
		bt.entries = rest
	}
	bt.entries = bt.entries[:0]
	if cap(bt.arena) > 1<<20 {
		bt.arena = make([]byte, 0, 64<<10)
	} else {
		bt.arena = bt.arena[:0]
	}
}

// writeBatch sends msgs with sendmmsg, datagram by datagram where the kernel takes fewer.
func (s *UDPSocket) writeBatch(msgs []ipv4.Message) {
	for len(msgs) > 0 {
		var n int
		var err error
		if s.v6 {
			n, err = s.p6.WriteBatch(msgs, 0)
		} else {
			n, err = s.p4.WriteBatch(msgs, 0)
		}
		if err != nil || n <= 0 {
			// One bad destination (an ICMP error reported here) must not cost the others.
			_, _ = s.pc.WriteTo(msgs[0].Buffers[0], msgs[0].Addr)
			n = 1
		}
		msgs = msgs[n:]
	}
}

var _ = ipv6.NewPacketConn
