package transport

import (
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
)

func counterValue(t *testing.T, c interface{ Write(*dto.Metric) error }) float64 {
	t.Helper()
	var d dto.Metric
	if err := c.Write(&d); err != nil {
		t.Fatal(err)
	}
	return d.GetCounter().GetValue()
}

// The datagrams a full buffer drops are counted: an operator sees how much the kernel shed.
// The socket is not read while a burst bigger than its buffer arrives; afterwards every
// datagram sent was either read or counted, and some were dropped.
func TestUDPDropsCounted(t *testing.T) {
	rec := newRecorder()
	tp := newTransport(t, rec, Limits{})
	s := udpSockets(t, tp, Internal, 1)[0]
	if !s.counted {
		t.Skip("the kernel does not count drops here")
	}
	if err := s.pc.SetReadBuffer(64 << 10); err != nil {
		t.Fatal(err)
	}
	p := newUDPPeer(t)
	msg := []byte(sipMsg("MESSAGE", "drop", ""))
	const burst = 2000 // far more than 64 KiB holds, whatever the kernel's per-datagram overhead
	sent := 0
	for range burst {
		sent++
		if _, err := p.pc.WriteToUDPAddrPort(msg, s.Local()); err != nil {
			t.Fatal(err)
		}
	}
	tp.Serve()
	// A datagram after the burst carries the drop count, read or not.
	deadline := time.Now().Add(5 * time.Second)
	for {
		read, dropped := rec.count(), int(counterValue(t, tp.m.udpDrops[Internal]))
		if read+dropped == sent && dropped > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("read %d, dropped %d, of %d sent", read, dropped, sent)
		}
		sent++
		if _, err := p.pc.WriteToUDPAddrPort(msg, s.Local()); err != nil {
			t.Fatal(err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
