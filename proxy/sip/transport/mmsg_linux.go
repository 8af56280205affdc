package transport

import (
	"errors"
	"net/netip"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// On Linux the batches are recvmmsg and sendmmsg called directly, on headers, vectors and
// address buffers allocated once per goroutine: x/net's batch calls allocate them on every
// call, for every slot, which at one datagram per read cost more than the read itself.

// mmsghdr is struct mmsghdr: a msghdr and the length the kernel transferred. Go pads it as C
// does on every Linux architecture.
type mmsghdr struct {
	hdr unix.Msghdr
	len uint32
}

// mmsg holds one goroutine's headers for batched reads or writes on UDP sockets.
type mmsg struct {
	hdrs  []mmsghdr
	iovs  []unix.Iovec
	names []unix.RawSockaddrInet6 // large enough for either family
	// The call in progress, kept here so the closures handed to RawConn allocate nothing.
	fd      func(uintptr) bool
	count   int
	n       int
	errno   syscall.Errno
	sending bool
}

func newMmsg(n int) *mmsg {
	m := &mmsg{hdrs: make([]mmsghdr, n), iovs: make([]unix.Iovec, n), names: make([]unix.RawSockaddrInet6, n)}
	m.fd = m.call
	return m
}

func (m *mmsg) call(fd uintptr) bool {
	trap := uintptr(unix.SYS_RECVMMSG)
	if m.sending {
		trap = unix.SYS_SENDMMSG
	}
	r, _, e := unix.Syscall6(trap, fd, uintptr(unsafe.Pointer(&m.hdrs[0])), uintptr(m.count), unix.MSG_DONTWAIT, 0, 0)
	if e == unix.EAGAIN || e == unix.EWOULDBLOCK {
		return false // not ready: the runtime waits for the socket, then calls again
	}
	m.n, m.errno = int(r), e
	return true
}

// read fills ds (buf and oob set by the caller) with up to len(ds) datagrams.
func (m *mmsg) read(s *UDPSocket, ds []datagram) (int, error) {
	for i := range ds {
		m.iovs[i].Base = &ds[i].buf[0]
		m.iovs[i].SetLen(len(ds[i].buf))
		h := &m.hdrs[i].hdr
		*h = unix.Msghdr{Name: (*byte)(unsafe.Pointer(&m.names[i])), Namelen: uint32(unsafe.Sizeof(m.names[i])), Iov: &m.iovs[i]}
		h.SetIovlen(1)
		if len(ds[i].oob) > 0 {
			h.Control = &ds[i].oob[0]
			h.SetControllen(len(ds[i].oob))
		}
	}
	m.count, m.sending = len(ds), false
	if err := s.raw.Read(m.fd); err != nil {
		return 0, err
	}
	if m.errno != 0 {
		return 0, m.errno
	}
	for i := 0; i < m.n; i++ {
		ds[i].n = int(m.hdrs[i].len)
		ds[i].nn = int(m.hdrs[i].hdr.Controllen)
		ds[i].from = rawAddrPort(&m.names[i])
	}
	return m.n, nil
}

// write sends the datagrams of entries (all from s) out of arena; it returns how many the
// kernel took, at least one unless the first failed.
func (m *mmsg) write(s *UDPSocket, entries []batchEntry, arena []byte) (int, error) {
	n := min(len(entries), len(m.hdrs))
	for i := 0; i < n; i++ {
		e := &entries[i]
		m.iovs[i].Base = &arena[e.off]
		m.iovs[i].SetLen(e.len)
		h := &m.hdrs[i].hdr
		*h = unix.Msghdr{Name: (*byte)(unsafe.Pointer(&m.names[i])), Namelen: putRawAddr(&m.names[i], e.to, s.v6), Iov: &m.iovs[i]}
		h.SetIovlen(1)
	}
	m.count, m.sending = n, true
	if err := s.raw.Write(m.fd); err != nil {
		return 0, err
	}
	if m.errno != 0 {
		return 0, m.errno
	}
	return m.n, nil
}

// rawAddrPort reads a sockaddr the kernel filled in.
func rawAddrPort(sa *unix.RawSockaddrInet6) netip.AddrPort {
	switch sa.Family {
	case unix.AF_INET:
		sa4 := (*unix.RawSockaddrInet4)(unsafe.Pointer(sa))
		return netip.AddrPortFrom(netip.AddrFrom4(sa4.Addr), ntohs(sa4.Port))
	case unix.AF_INET6:
		return unmapAP(netip.AddrPortFrom(netip.AddrFrom16(sa.Addr), ntohs(sa.Port)))
	}
	return netip.AddrPort{}
}

// putRawAddr writes to into sa, for a socket of the family v6 says, and returns its length.
func putRawAddr(sa *unix.RawSockaddrInet6, to netip.AddrPort, v6 bool) uint32 {
	if !v6 {
		if !to.Addr().Unmap().Is4() {
			return 0 // no IPv6 from an IPv4 socket: the kernel refuses this one alone
		}
		sa4 := (*unix.RawSockaddrInet4)(unsafe.Pointer(sa))
		*sa4 = unix.RawSockaddrInet4{Family: unix.AF_INET, Port: htons(to.Port()), Addr: to.Addr().Unmap().As4()}
		return unix.SizeofSockaddrInet4
	}
	*sa = unix.RawSockaddrInet6{Family: unix.AF_INET6, Port: htons(to.Port()), Addr: to.Addr().As16()}
	return unix.SizeofSockaddrInet6
}

// The port of a sockaddr is in network byte order, read as a native uint16.
func ntohs(p uint16) uint16 {
	b := (*[2]byte)(unsafe.Pointer(&p))
	return uint16(b[0])<<8 | uint16(b[1])
}

func htons(p uint16) uint16 {
	var out uint16
	b := (*[2]byte)(unsafe.Pointer(&out))
	b[0], b[1] = byte(p>>8), byte(p)
	return out
}

// closedRaw reports whether a raw read failed because the socket was closed.
func closedRaw(err error) bool { return errors.Is(err, syscall.EINVAL) }
