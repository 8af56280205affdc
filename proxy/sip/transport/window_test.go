package transport

import (
	"math"
	"testing"
	"time"
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

func freshWindow(start int64) *Window {
	w := &Window{}
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
				w.Observe(s.delay, base+int64(s.at), testInterval, testTarget)
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
			w.Observe(s.delay, base+int64(s.at), testInterval, testTarget)
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
		e, l := w.Observe(d*time.Millisecond, base+int64(i+1)*int64(testInterval/5), testInterval, testTarget)
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

// A stream's window judges the mean: its socket drains to nothing between the sender's writes,
// so some reads wait for nothing even while most wait long. The least would never see that
// queue; the mean does. A mean under the target is no overload.
func TestWindowMean(t *testing.T) {
	const base = int64(1_000_000_000)
	for _, tc := range []struct {
		name   string
		waits  []time.Duration
		want   bool
		wantLS bool // what a least window says of the same samples
	}{
		{"most wait long, some not at all", []time.Duration{0, 3 * testTarget, 3 * testTarget, 0, 3 * testTarget}, true, false},
		{"short waits, one long", []time.Duration{0, testTarget / 10, 2 * testTarget, 0, testTarget / 10}, false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var mean, least Window
			mean.InitMean(time.Unix(0, base))
			least.Init(time.Unix(0, base))
			for i, d := range tc.waits {
				at := base + int64(i+1)*int64(testInterval)/int64(len(tc.waits)+1)
				mean.Observe(d, at, testInterval, testTarget)
				least.Observe(d, at, testInterval, testTarget)
			}
			end := base + int64(testInterval)
			_, m := mean.Observe(0, end, testInterval, testTarget)
			least.Observe(0, end, testInterval, testTarget)
			if mean.Overloaded() != tc.want {
				t.Errorf("mean window (mean %v) overloaded = %v, want %v", m, mean.Overloaded(), tc.want)
			}
			if least.Overloaded() != tc.wantLS {
				t.Errorf("least window overloaded = %v, want %v", least.Overloaded(), tc.wantLS)
			}
		})
	}
}

// The share of a stream's requests refused while its queue stands: a tenth more per interval
// once it has stood for standingIntervals intervals, a fifth less per interval it has not,
// changed at most once per interval, and never all of them.
func TestWindowStandingShare(t *testing.T) {
	const iv = 200 * time.Millisecond
	const stood = standingIntervals * iv
	at := func(ms int) int64 { return time.Unix(1000, 0).Add(time.Duration(ms) * time.Millisecond).UnixNano() }
	steps := []struct {
		ms       int
		standing time.Duration
		want     int64
	}{
		{0, 0, 0},                 // first sample: starts the clock
		{100, time.Hour, 0},       // within the first interval: no change yet
		{200, stood - 1, 0},       // standing, but not for long enough
		{400, stood, 100_000},     // long enough
		{500, time.Hour, 100_000}, // once per interval
		{600, stood + iv, 200_000},
		{800, iv, 0}, // drained within the last few intervals: down by a fifth
		{1000, time.Hour, 100_000},
		{1200, time.Hour, 200_000},
		{1400, time.Hour, 300_000},
		{2000, 0, 0}, // three quiet intervals: down three fifths, not below zero
	}
	var w Window
	w.InitMean(time.Unix(1000, 0))
	for _, s := range steps {
		if got := w.Standing(s.standing, at(s.ms), iv); got != s.want {
			t.Fatalf("at %dms, standing %v: share %d, want %d", s.ms, s.standing, got, s.want)
		}
	}
	for ms := 2200; ms < 6000; ms += 200 {
		w.Standing(time.Hour, at(ms), iv)
	}
	if got := w.Standing(time.Hour, at(6000), iv); got != shareMax {
		t.Fatalf("a queue that never drains: share %d, want the cap %d", got, shareMax)
	}
}
