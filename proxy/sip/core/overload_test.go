package core

import (
	"io"
	"log/slog"
	"math"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/sipfed/terraform-provider-sip/proxy/sip/transport"
	"github.com/sipfed/terraform-provider-sip/proxy/telemetry"
)

const (
	testTarget   = 100 * time.Millisecond
	testInterval = 200 * time.Millisecond
)

// sample is one observation: at (relative to the window's start) a request had waited delay.
type sample struct {
	at, delay time.Duration
}

// every returns samples every step from from to to (inclusive), all with the same delay.
func every(from, to, step, delay time.Duration) []sample {
	var out []sample
	for at := from; at <= to; at += step {
		out = append(out, sample{at, delay})
	}
	return out
}

func freshWindow(start int64) *window {
	w := &window{}
	w.least.Store(math.MaxInt64)
	w.start.Store(start)
	return w
}

// The window is CoDel's: only a wait that every request of a whole interval saw is a queue.
// Times are synthetic, so no test here waits for an interval to pass.
func TestWindowOverload(t *testing.T) {
	const base = int64(1_000_000_000)
	cat := func(ss ...[]sample) []sample {
		var out []sample
		for _, s := range ss {
			out = append(out, s...)
		}
		return out
	}
	tests := []struct {
		name    string
		samples []sample
		want    bool
	}{
		{"no verdict before an interval passed",
			every(0, testInterval-time.Millisecond, 10*time.Millisecond, time.Second), false},
		{"sustained wait above target for an interval",
			every(10*time.Millisecond, testInterval+10*time.Millisecond, 10*time.Millisecond, 150*time.Millisecond), true},
		{"one slow sample among fast ones",
			cat(every(10*time.Millisecond, 100*time.Millisecond, 10*time.Millisecond, 5*time.Millisecond),
				[]sample{{110 * time.Millisecond, 2 * time.Second}},
				every(120*time.Millisecond, testInterval+10*time.Millisecond, 10*time.Millisecond, 5*time.Millisecond)), false},
		{"one short wait among long ones: no standing queue",
			cat(every(10*time.Millisecond, 100*time.Millisecond, 10*time.Millisecond, 300*time.Millisecond),
				[]sample{{105 * time.Millisecond, time.Millisecond}},
				every(110*time.Millisecond, testInterval+10*time.Millisecond, 10*time.Millisecond, 300*time.Millisecond)), false},
		{"wait equal to the target is no overload",
			every(10*time.Millisecond, testInterval+10*time.Millisecond, 10*time.Millisecond, testTarget), false},
		// After an idle spell the first request ends the interval on its own: it alone must
		// not switch admission off (and be refused itself).
		{"one slow sample after an idle interval",
			[]sample{{testInterval + 50*time.Millisecond, 2 * time.Second}}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w := freshWindow(base)
			for _, s := range tc.samples {
				w.observe(s.delay, base+int64(s.at), testInterval, testTarget)
			}
			if got := w.overloaded.Load(); got != tc.want {
				t.Errorf("overloaded = %v, want %v", got, tc.want)
			}
		})
	}
}

// Overload lasts while the queue stands and ends with the first interval that saw a short wait.
func TestWindowRecovery(t *testing.T) {
	const base = int64(3_000_000_000)
	w := freshWindow(base)
	step := 10 * time.Millisecond
	feed := func(from, to, delay time.Duration) {
		for _, s := range every(from, to, step, delay) {
			w.observe(s.delay, base+int64(s.at), testInterval, testTarget)
		}
	}
	feed(step, testInterval+step, 150*time.Millisecond)
	if !w.overloaded.Load() {
		t.Fatal("a standing queue did not switch admission off")
	}
	feed(testInterval+2*step, 2*testInterval, 150*time.Millisecond)
	if !w.overloaded.Load() {
		t.Fatal("overload ended while the queue still stood")
	}
	feed(2*testInterval+step, 3*testInterval+2*step, 20*time.Millisecond)
	if w.overloaded.Load() {
		t.Fatal("overload did not end after an interval of short waits")
	}
}

// A verdict reports the least wait of the interval it ends, which the gauge shows.
func TestWindowReportsLeastWait(t *testing.T) {
	const base = int64(5_000_000_000)
	w := freshWindow(base)
	var ended int
	var least time.Duration
	delays := []time.Duration{300, 120, 180, 250, 400}
	for i, d := range delays {
		e, l := w.observe(d*time.Millisecond, base+int64(i+1)*int64(testInterval/5), testInterval, testTarget)
		if e {
			ended++
			least = l
		}
	}
	// Sample 5 lands exactly one interval after the start: the interval ends there.
	if ended != 1 {
		t.Fatalf("intervals ended = %d, want 1", ended)
	}
	if least != 120*time.Millisecond {
		t.Errorf("least = %v, want 120ms", least)
	}
	if !w.overloaded.Load() {
		t.Error("least 120ms over a 100ms target is not overload")
	}
}

func testOverload(t *testing.T, cfg OverloadConfig) (*overload, *metrics) {
	t.Helper()
	cfg.setDefaults()
	m, err := newMetrics(nil)
	if err != nil {
		t.Fatal(err)
	}
	return newOverload(cfg, m, slog.New(slog.NewTextHandler(io.Discard, nil))), m
}

// forceUDPVerdict ends an interval of the UDP window in which every request waited wait, and
// puts the next interval's start in the future: admit's own samples end no interval during the
// test, so its verdict stands.
func forceUDPVerdict(o *overload, wait time.Duration) {
	start := time.Now().Add(time.Hour).UnixNano()
	o.udp.start.Store(start - int64(o.cfg.Interval))
	for i := 0; i < 10; i++ {
		o.udp.observe(wait, start-int64(o.cfg.Interval)+int64(i), o.cfg.Interval, o.cfg.QueueDelay)
	}
	o.udp.observe(wait, start, o.cfg.Interval, o.cfg.QueueDelay)
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
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o, m := testOverload(t, OverloadConfig{Disabled: tc.disabled, QueueDelay: testTarget, Interval: testInterval})
			if tc.overloaded {
				forceUDPVerdict(o, 2*testTarget)
				if !o.udp.overloaded.Load() {
					t.Fatal("setup: the UDP window is not overloaded")
				}
			}
			o.share.Store(tc.share)
			src := &transport.Source{Proto: tc.proto, Arrived: time.Now().Add(-tc.waited)}
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
	o, _ := testOverload(t, OverloadConfig{QueueDelay: testTarget, Interval: testInterval})
	o.udp.start.Store(time.Now().Add(-10 * testInterval).UnixNano())
	src := &transport.Source{Proto: transport.UDP, Arrived: time.Now().Add(-3 * testTarget / 2)}
	if err := o.admit(src); err != nil {
		t.Fatalf("the first request after an idle spell was refused: %v", err)
	}
	if o.udp.overloaded.Load() {
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
	o, m := testOverload(t, OverloadConfig{QueueDelay: testTarget, Interval: testInterval})
	gauge := func() float64 {
		var d dto.Metric
		_ = m.overloaded.Write(&d)
		return d.GetGauge().GetValue()
	}
	o.udp.overloaded.Store(true)
	o.changed()
	if gauge() != 1 {
		t.Fatalf("gauge %v after overload", gauge())
	}
	o.udp.overloaded.Store(false)
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
