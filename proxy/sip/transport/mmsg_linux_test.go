package transport

import (
	"net/netip"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"
)

// The sockaddrs handed to sendmmsg and read back from recvmmsg: network byte order ports, an
// IPv4 peer of an IPv6 socket as a mapped address (and back as IPv4), nothing for an IPv6
// peer of an IPv4 socket.
func TestRawSockaddrs(t *testing.T) {
	for _, tc := range []struct {
		to     string
		v6     bool
		length uint32
		back   string
	}{
		{"127.0.0.1:5060", false, unix.SizeofSockaddrInet4, "127.0.0.1:5060"},
		{"127.0.0.1:5060", true, unix.SizeofSockaddrInet6, "127.0.0.1:5060"},
		{"[2001:db8::1]:5061", true, unix.SizeofSockaddrInet6, "[2001:db8::1]:5061"},
		{"[::ffff:192.0.2.7]:65535", false, unix.SizeofSockaddrInet4, "192.0.2.7:65535"},
		{"[2001:db8::1]:5061", false, 0, ""},
	} {
		var sa unix.RawSockaddrInet6
		n := putRawAddr(&sa, netip.MustParseAddrPort(tc.to), tc.v6)
		if n != tc.length {
			t.Errorf("%s (v6 socket %v): length %d, want %d", tc.to, tc.v6, n, tc.length)
			continue
		}
		if n == 0 {
			continue
		}
		if got := rawAddrPort(&sa).String(); got != tc.back {
			t.Errorf("%s (v6 socket %v): read back %s, want %s", tc.to, tc.v6, got, tc.back)
		}
		port := netip.MustParseAddrPort(tc.to).Port()
		if b := (*[2]byte)(unsafe.Pointer(portBytes(&sa))); b[0] != byte(port>>8) || b[1] != byte(port) {
			t.Errorf("%s: port bytes %v, want network order of %d", tc.to, b, port)
		}
	}
}

// portBytes is where the port sits in either family's sockaddr (the same offset).
func portBytes(sa *unix.RawSockaddrInet6) *uint16 { return &sa.Port }
