package core

import (
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/sipfed/terraform-provider-sip/proxy/sip/message"
	"github.com/sipfed/terraform-provider-sip/proxy/sip/transport"
	"github.com/sipfed/terraform-provider-sip/proxy/telemetry"
)

const (
	testTarget   = 100 * time.Millisecond
	testInterval = 200 * time.Millisecond
)

func testOverload(t *testing.T, cfg OverloadConfig) (*overload, *metrics) {
	t.Helper()
	cfg.setDefaults()
	m, err := newMetrics(nil)
	if err != nil {
		t.Fatal(err)
	}
	return newOverload(cfg, m, slog.New(slog.NewTextHandler(io.Discard, nil))), m
}

// udpSocket is a loopback UDP listener, not served: admission reads its queue's window.
func udpSocket(t *testing.T) *transport.UDPSocket {
	t.Helper()
	tp, err := transport.New(transport.Config{Handler: nopHandler{}, Log: discard()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(tp.Close)
	if _, err := tp.Listen(transport.External, transport.UDP, "127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	return tp.UDPSockets(transport.External)[0]
}

type nopHandler struct{}

func (nopHandler) HandleMessage(*message.Msg, *transport.Source) {}

// forceUDPVerdict ends an interval of a UDP socket's window in which every request waited
// wait, and puts the next interval's start in the future: admit's own samples end no interval
// during the test, so its verdict stands.
func forceUDPVerdict(o *overload, q *transport.Window, wait time.Duration) {
	start := time.Now().Add(time.Hour).UnixNano()
	q.Init(time.Unix(0, start-int64(o.cfg.Interval)))
	for i := 0; i < 10; i++ {
		q.Observe(wait, start-int64(o.cfg.Interval)+int64(i), o.cfg.Interval, o.cfg.UDPQueueDelay)
	}
	q.Observe(wait, start, o.cfg.Interval, o.cfg.UDPQueueDelay)
}

func TestAdmit(t *testing.T) {
	tests := []struct {
		name       string
		disabled   bool
		overloaded bool
		proto      transport.Protocol
		waited     time.Duration
		share      int64
		shed       bool
	}{
		{"udp, no overload, long wait", false, false, transport.UDP, time.Second, 0, false},
		{"udp, overload, long wait", false, true, transport.UDP, 150 * time.Millisecond, 0, true},
		// The request itself did not wait: answering it costs as much as refusing it.
		{"udp, overload, short wait", false, true, transport.UDP, time.Millisecond, 0, false},
		{"udp, overload, disabled", true, true, transport.UDP, time.Second, 0, false},
		{"tcp, no share", false, false, transport.TCP, time.Second, 0, false},
		{"tcp, full share", false, false, transport.TCP, 0, 1_000_000, true},
		{"tls, full share", false, false, transport.TLS, 0, 1_000_000, true},
		// Stream admission follows the scheduler share alone, not the UDP window.
		{"tcp, udp overloaded, no share", false, true, transport.TCP, time.Second, 0, false},
	}
	sock := udpSocket(t)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			// UDP has a target of its own: the streams' is far off, so that a UDP request
			// judged by it would pass.
			o, m := testOverload(t, OverloadConfig{Disabled: tc.disabled, QueueDelay: time.Hour, UDPQueueDelay: testTarget, Interval: testInterval})
			forceUDPVerdict(o, sock.Queue(), 0)
			if tc.overloaded {
				forceUDPVerdict(o, sock.Queue(), 2*testTarget)
				if !sock.Queue().Overloaded() {
					t.Fatal("setup: the UDP window is not overloaded")
				}
			}
			o.share.Store(tc.share)
			src := &transport.Source{Proto: tc.proto, Arrived: time.Now().Add(-tc.waited)}
			if tc.proto == transport.UDP {
				src.Socket = sock
			}
			err := o.admit(src)
			if (err != nil) != tc.shed {
				t.Fatalf("admit = %v, want shed %v", err, tc.shed)
			}
			reason := telemetry.ReasonQueueDelay
			if tc.proto != transport.UDP {
				reason = telemetry.ReasonSchedulingDelay
			}
			var d dto.Metric
			_ = m.shed.WithLabelValues(reason).Write(&d)
			if got, want := d.GetCounter().GetValue(), map[bool]float64{true: 1}[tc.shed]; got != want {
				t.Errorf("shed{%s} = %v, want %v", reason, got, want)
			}
		})
	}
}

// The symptom of a single sample deciding: after a quiet spell, the first request, which
// waited a little too long once (a GC pause), was refused although nothing queued.
func TestAdmitAfterIdle(t *testing.T) {
	o, _ := testOverload(t, OverloadConfig{QueueDelay: testTarget, UDPQueueDelay: testTarget, Interval: testInterval})
	sock := udpSocket(t)
	sock.Queue().Init(time.Now().Add(-10 * testInterval))
	src := &transport.Source{Proto: transport.UDP, Socket: sock, Arrived: time.Now().Add(-3 * testTarget / 2)}
	if err := o.admit(src); err != nil {
		t.Fatalf("the first request after an idle spell was refused: %v", err)
	}
	if sock.Queue().Overloaded() {
		t.Fatal("one request switched admission off")
	}
}

// A partial share refuses about that share of stream requests: the probe raises it in steps
// while the scheduler lags, and nothing else should make it all-or-nothing.
func TestAdmitStreamShare(t *testing.T) {
	o, _ := testOverload(t, OverloadConfig{})
	o.share.Store(300_000)
	const n = 4000
	shed := 0
	src := &transport.Source{Proto: transport.TCP, Arrived: time.Now()}
	for i := 0; i < n; i++ {
		if o.admit(src) != nil {
			shed++
		}
	}
	// 30% of 4000 is 1200, sd about 29: the bounds are 8 sd wide.
	if shed < 970 || shed > 1430 {
		t.Errorf("shed %d of %d at a 30%% share", shed, n)
	}
}

// The gauge and the log line follow the state, once per change.
func TestOverloadChangedGauge(t *testing.T) {
	o, m := testOverload(t, OverloadConfig{QueueDelay: testTarget, UDPQueueDelay: testTarget, Interval: testInterval})
	gauge := func() float64 {
		var d dto.Metric
		_ = m.overloaded.Write(&d)
		return d.GetGauge().GetValue()
	}
	o.udp.Store(1)
	o.changed()
	if gauge() != 1 {
		t.Fatalf("gauge %v after overload", gauge())
	}
	o.udp.Store(0)
	o.share.Store(100_000)
	o.changed()
	if gauge() != 1 {
		t.Fatalf("gauge %v with a stream share left", gauge())
	}
	o.share.Store(0)
	o.changed()
	if gauge() != 0 {
		t.Fatalf("gauge %v after recovery", gauge())
	}
}

// Two UDP sockets, one overloaded: the state is on while either is, and the quiet one's
// intervals ending do not switch it off (the log line would flap with every interval).
func TestOverloadStateAcrossSockets(t *testing.T) {
	o, m := testOverload(t, OverloadConfig{QueueDelay: testTarget, UDPQueueDelay: testTarget, Interval: testInterval})
	busy, quiet := udpSocket(t), udpSocket(t)
	gauge := func() float64 {
		var d dto.Metric
		_ = m.overloaded.Write(&d)
		return d.GetGauge().GetValue()
	}
	// run admits a request on each socket every few milliseconds for d: the busy socket's
	// waited busyWait, the quiet one's nothing; it reports whether the gauge ever read 0.
	run := func(d, busyWait time.Duration) (everOff bool) {
		end := time.Now().Add(d)
		for time.Now().Before(end) {
			_ = o.admit(&transport.Source{Proto: transport.UDP, Socket: busy, Arrived: time.Now().Add(-busyWait)})
			_ = o.admit(&transport.Source{Proto: transport.UDP, Socket: quiet, Arrived: time.Now()})
			if gauge() == 0 {
				everOff = true
			}
			time.Sleep(5 * time.Millisecond)
		}
		return everOff
	}
	run(2*testInterval+testInterval/2, 2*testTarget)
	if gauge() != 1 || !busy.Queue().Overloaded() || quiet.Queue().Overloaded() {
		t.Fatalf("after a standing queue on one socket: gauge %v, busy %v, quiet %v", gauge(), busy.Queue().Overloaded(), quiet.Queue().Overloaded())
	}
	if run(3*testInterval, 2*testTarget) {
		t.Fatal("the state went off while a socket stayed overloaded")
	}
	run(2*testInterval+testInterval/2, 0)
	if gauge() != 0 {
		t.Fatalf("gauge %v after both sockets drained", gauge())
	}
}

// Past the in-flight bound, a connection with few transactions in flight is still admitted
// (up to an eighth over the bound), so a flood on one connection cannot take the whole bound
// from a quiet partner; UDP senders cannot be told apart and are refused.
func TestAdmitInFlight(t *testing.T) {
	const bound = 800
	tests := []struct {
		name     string
		n, connN int64
		admit    bool
	}{
		{"under the bound, udp", bound - 1, -1, true},
		{"under the bound, busy connection", bound - 1, 5000, true},
		{"at the bound, udp", bound, -1, false},
		{"at the bound, busy connection", bound, quietInFlight, false},
		{"at the bound, quiet connection", bound, quietInFlight - 1, true},
		{"at the bound, idle connection", bound, 0, true},
		{"an eighth over, idle connection", bound + bound/8, 0, false},
		{"just under an eighth over, idle connection", bound + bound/8 - 1, 0, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := admitInFlight(tc.n, tc.connN, bound); got != tc.admit {
				t.Fatalf("admitInFlight(%d, %d, %d) = %v, want %v", tc.n, tc.connN, bound, got, tc.admit)
			}
		})
	}
}

// Near capacity the state goes on and off every interval or two: the log says "overloaded"
// once, and "over" only once it stayed off for overloadQuiet, with the relapses counted; the
// gauge follows every change.
func TestOverloadLogLines(t *testing.T) {
	var buf strings.Builder
	var mu sync.Mutex
	o, m := testOverload(t, OverloadConfig{QueueDelay: testTarget, UDPQueueDelay: testTarget, Interval: testInterval})
	o.log = slog.New(slog.NewTextHandler(lockedWriter{&mu, &buf}, nil))
	lines := func() (on, over int) {
		mu.Lock()
		defer mu.Unlock()
		return strings.Count(buf.String(), "overloaded: "), strings.Count(buf.String(), "overload over")
	}
	gauge := func() float64 {
		var d dto.Metric
		_ = m.overloaded.Write(&d)
		return d.GetGauge().GetValue()
	}
	for range 5 {
		o.udp.Store(1)
		o.changed()
		if gauge() != 1 {
			t.Fatal("the gauge missed a change to overloaded")
		}
		o.udp.Store(0)
		o.changed()
		if gauge() != 0 {
			t.Fatal("the gauge missed a change back")
		}
		o.settle(time.Now())
	}
	if on, over := lines(); on != 1 || over != 0 {
		t.Fatalf("after five short spells: %d overloaded lines, %d over lines; want 1 and 0", on, over)
	}
	o.settle(time.Now().Add(overloadQuiet))
	on, over := lines()
	if on != 1 || over != 1 || !strings.Contains(buf.String(), "count=4") {
		t.Fatalf("once quiet: %d overloaded lines, %d over lines, log:\n%s", on, over, buf.String())
	}
	o.settle(time.Now().Add(2 * overloadQuiet))
	o.udp.Store(1)
	o.changed()
	if on, over := lines(); on != 2 || over != 1 {
		t.Fatalf("a new spell: %d overloaded lines, %d over lines; want 2 and 1", on, over)
	}
}

type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
