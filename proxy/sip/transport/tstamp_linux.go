//go:build linux

package transport

import (
	"encoding/binary"
	"syscall"
	"time"
	"unsafe"
)

// oobSize holds one SCM_TIMESTAMPNS control message and one SO_RXQ_OVFL.
var oobSize = syscall.CmsgSpace(int(unsafe.Sizeof(syscall.Timespec{}))) + syscall.CmsgSpace(4)

// soRxqOvfl is SO_RXQ_OVFL, which package syscall does not name.
const soRxqOvfl = 0x28

// enableTimestamps asks the kernel to stamp each datagram with its receive time, so the
// overload control sees how long a request waited in the socket buffer, not only in the
// process.
func enableTimestamps(raw syscall.RawConn) bool { return enableOption(raw, syscall.SO_TIMESTAMPNS) }

// enableDropCount asks the kernel to attach, to each datagram, the count of datagrams the socket
// dropped so far because its receive buffer was full: requests and responses lost before the
// proxy saw them, which no other counter shows.
func enableDropCount(raw syscall.RawConn) bool { return enableOption(raw, soRxqOvfl) }

// enableOption turns a SOL_SOCKET option on.
func enableOption(raw syscall.RawConn, opt int) bool {
	ok := false
	_ = raw.Control(func(fd uintptr) {
		ok = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, opt, 1) == nil
	})
	return ok
}

// rxDrops reads the SO_RXQ_OVFL count from a control message buffer without allocating. The
// kernel attaches it only once the socket dropped something.
func rxDrops(oob []byte) (uint32, bool) {
	d, ok := cmsgData(oob, soRxqOvfl, 4)
	if !ok {
		return 0, false
	}
	return binary.NativeEndian.Uint32(d), true
}

// rxTimestamp reads SCM_TIMESTAMPNS from a control message buffer without allocating.
func rxTimestamp(oob []byte) (time.Time, bool) {
	d, ok := cmsgData(oob, syscall.SCM_TIMESTAMPNS, 16)
	if !ok {
		return time.Time{}, false
	}
	sec := int64(binary.NativeEndian.Uint64(d[0:8]))
	nsec := int64(binary.NativeEndian.Uint64(d[8:16]))
	return time.Unix(sec, nsec), true
}

// cmsgData returns the data of the first SOL_SOCKET control message of type typ holding at
// least size bytes; a malformed buffer yields nothing.
func cmsgData(oob []byte, typ int32, size int) ([]byte, bool) {
	const hdr = syscall.SizeofCmsghdr
	for len(oob) >= hdr {
		h := (*syscall.Cmsghdr)(unsafe.Pointer(&oob[0]))
		l := int(h.Len)
		if l < hdr || l > len(oob) {
			return nil, false
		}
		if h.Level == syscall.SOL_SOCKET && h.Type == typ && l-hdr >= size {
			return oob[syscall.CmsgLen(0) : syscall.CmsgLen(0)+size], true
		}
		next := syscall.CmsgSpace(l - hdr)
		if next > len(oob) {
			return nil, false
		}
		oob = oob[next:]
	}
	return nil, false
}
