//go:build !linux

package transport

import (
	"net"

	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"
)

// Elsewhere the batches go through x/net, which falls back to one datagram per call where the
// platform has no recvmmsg.
type mmsg struct {
	msgs  []ipv4.Message
	addrs []net.UDPAddr
}

func newMmsg(n int) *mmsg { return &mmsg{msgs: make([]ipv4.Message, n), addrs: make([]net.UDPAddr, n)} }

func (m *mmsg) read(s *UDPSocket, ds []datagram) (int, error) {
	for i := range ds {
		m.msgs[i] = ipv4.Message{Buffers: [][]byte{ds[i].buf}, OOB: ds[i].oob}
	}
	var n int
	var err error
	if s.v6 {
		n, err = ipv6.NewPacketConn(s.pc).ReadBatch(m.msgs[:len(ds)], 0)
	} else {
		n, err = ipv4.NewPacketConn(s.pc).ReadBatch(m.msgs[:len(ds)], 0)
	}
	for i := 0; i < n; i++ {
		ds[i].n, ds[i].nn = m.msgs[i].N, m.msgs[i].NN
		if ua, ok := m.msgs[i].Addr.(*net.UDPAddr); ok {
			ds[i].from = unmapAP(ua.AddrPort())
		}
	}
	return n, err
}

func (m *mmsg) write(s *UDPSocket, entries []batchEntry, arena []byte) (int, error) {
	n := min(len(entries), len(m.msgs))
	for i := 0; i < n; i++ {
		e := &entries[i]
		to := e.to
		m.addrs[i] = net.UDPAddr{IP: to.Addr().AsSlice(), Port: int(to.Port())}
		m.msgs[i] = ipv4.Message{Buffers: [][]byte{arena[e.off : e.off+e.len]}, Addr: &m.addrs[i]}
	}
	if s.v6 {
		return ipv6.NewPacketConn(s.pc).WriteBatch(m.msgs[:n], 0)
	}
	return ipv4.NewPacketConn(s.pc).WriteBatch(m.msgs[:n], 0)
}

func closedRaw(error) bool { return false }
