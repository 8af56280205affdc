//go:build linux

package transport

import (
	"encoding/binary"
	"syscall"
	"testing"
	"time"
	"unsafe"
)

// cmsg builds one control message as the kernel lays it out.
func cmsg(level, typ int32, data []byte) []byte {
	b := make([]byte, syscall.CmsgSpace(len(data)))
	h := (*syscall.Cmsghdr)(unsafe.Pointer(&b[0]))
	h.Level, h.Type = level, typ
	h.SetLen(syscall.CmsgLen(len(data)))
	copy(b[syscall.CmsgLen(0):], data)
	return b
}

func timespec(sec, nsec int64) []byte {
	b := make([]byte, 16)
	binary.NativeEndian.PutUint64(b[0:8], uint64(sec))
	binary.NativeEndian.PutUint64(b[8:16], uint64(nsec))
	return b
}

// The kernel's receive time is how long a request waited in the socket buffer: overload control
// reads it from the control messages of each datagram.
func TestRxTimestamp(t *testing.T) {
	at := time.Unix(1_700_000_000, 123_456_789)
	ts := cmsg(syscall.SOL_SOCKET, syscall.SCM_TIMESTAMPNS, timespec(at.Unix(), int64(at.Nanosecond())))
	other := cmsg(syscall.SOL_IP, syscall.IP_TTL, []byte{64, 0, 0, 0})
	tests := []struct {
		name string
		oob  []byte
		ok   bool
	}{
		{"alone", ts, true},
		{"after another control message", append(append([]byte(nil), other...), ts...), true},
		{"none", nil, false},
		{"only another", other, false},
		{"truncated", ts[:len(ts)-8], false},
		{"length beyond the buffer", func() []byte {
			b := append([]byte(nil), ts...)
			(*syscall.Cmsghdr)(unsafe.Pointer(&b[0])).SetLen(len(b) + 64)
			return b
		}(), false},
		{"length shorter than a header", func() []byte {
			b := append([]byte(nil), ts...)
			(*syscall.Cmsghdr)(unsafe.Pointer(&b[0])).SetLen(4)
			return b
		}(), false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := rxTimestamp(tc.oob)
			if ok != tc.ok {
				t.Fatalf("ok = %v, want %v", ok, tc.ok)
			}
			if ok && !got.Equal(at) {
				t.Fatalf("time %v, want %v", got, at)
			}
		})
	}
}

// On a real loopback socket, a datagram that waited in the socket buffer before the transport
// read it carries the time it arrived, not the time it was read.
func TestRxTimestampFromKernel(t *testing.T) {
	rec := newRecorder()
	tp := newTransport(t, rec, Limits{})
	s := udpSockets(t, tp, External, 1)[0]
	if !s.tstamps {
		t.Skip("the kernel does not stamp datagrams here")
	}
	p := newUDPPeer(t)
	const wait = 60 * time.Millisecond
	// Linux turns receive stamping on for the whole stack a little after the first socket asks
	// (a deferred static key); until then a datagram is stamped when it is read. The first
	// datagram covers that moment; the second is the one measured.
	var sent time.Time
	for _, branch := range []string{"warmup", "ts"} {
		time.Sleep(wait)
		sent = time.Now()
		if _, err := p.pc.WriteToUDPAddrPort([]byte(sipMsg("MESSAGE", branch, "")), s.Local()); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(wait)
	read := time.Now()
	tp.Serve()
	rec.next(t)
	rec.next(t)
	rec.mu.Lock()
	arrived := rec.srcs[1].Arrived
	rec.mu.Unlock()
	if arrived.Before(sent.Add(-time.Second)) || arrived.After(read.Add(-wait/2)) {
		t.Fatalf("arrival %v: sent at %v, read from %v", arrived, sent, read)
	}
}

// The drop count rides beside the receive time in the same control buffer; either is found
// whatever the order, and a missing count is not read as zero drops.
func TestRxDrops(t *testing.T) {
	ts := cmsg(syscall.SOL_SOCKET, syscall.SCM_TIMESTAMPNS, timespec(1, 2))
	count := make([]byte, 4)
	binary.NativeEndian.PutUint32(count, 1234)
	ovfl := cmsg(syscall.SOL_SOCKET, soRxqOvfl, count)
	tests := []struct {
		name string
		oob  []byte
		ok   bool
	}{
		{"after the time", append(append([]byte(nil), ts...), ovfl...), true},
		{"before the time", append(append([]byte(nil), ovfl...), ts...), true},
		{"only the time", ts, false},
		{"truncated", ovfl[:syscall.CmsgLen(2)], false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			n, ok := rxDrops(tc.oob)
			if ok != tc.ok || (ok && n != 1234) {
				t.Fatalf("rxDrops = %d, %v; want 1234, %v", n, ok, tc.ok)
			}
			if _, ok := rxTimestamp(tc.oob); ok != (len(tc.oob) > len(ovfl)) {
				t.Fatalf("the time beside the count: found %v", ok)
			}
		})
	}
}
