package core

import (
	"context"
	"slices"
	"testing"
	"time"
)

// wheelRig is a wheel turned by hand from t0, recording what it fires.
type wheelRig struct {
	w     *wheel
	t0    int64
	fired []uint64 // keys, in firing order
}

func newWheelRig() *wheelRig {
	r := &wheelRig{t0: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano()}
	r.w = newWheel(r.t0, func(stx *serverTx) { r.fired = append(r.fired, stx.key) })
	return r
}

func (r *wheelRig) tx(key uint64) *serverTx {
	stx := &serverTx{key: key}
	stx.tl.slot = -1
	return stx
}

func (r *wheelRig) at(d time.Duration) int64 { return r.t0 + int64(d) }

// turnTo turns the wheel every tick from where it is up to d after t0, as its goroutine would.
func (r *wheelRig) turnTo(from, to time.Duration) {
	for d := from; d <= to; d += wheelTick {
		r.w.turn(r.at(d))
	}
}

func (r *wheelRig) takeFired() []uint64 {
	f := r.fired
	r.fired = nil
	return f
}

// A timer fires once, at the first turn at or after its time, never before; a moved timer
// fires at its new time only; a stopped one never; and a timer beyond one revolution of the
// wheel waits its turn instead of firing on the first pass over its slot.
func TestWheel(t *testing.T) {
	const tick = wheelTick
	revolution := time.Duration(wheelSlots) * tick
	tests := []struct {
		name string
		// set is the timers: key -> offset from t0 (negative: stop it after setting).
		set  func(r *wheelRig)
		turn time.Duration // turns every tick from 0 up to this
		want []uint64
	}{
		{"due within the turns", func(r *wheelRig) { r.w.set(r.tx(1), r.at(12*time.Millisecond)) }, 20 * time.Millisecond, []uint64{1}},
		{"not yet due", func(r *wheelRig) { r.w.set(r.tx(1), r.at(12*time.Millisecond)) }, 10 * time.Millisecond, nil},
		// The wheel's first turn is a tick after it starts.
		{"already past", func(r *wheelRig) { r.w.set(r.tx(1), r.at(-time.Second)) }, tick, []uint64{1}},
		{"beyond a revolution", func(r *wheelRig) { r.w.set(r.tx(1), r.at(revolution+7*tick)) }, revolution + 6*tick, nil},
		{"beyond a revolution, due", func(r *wheelRig) { r.w.set(r.tx(1), r.at(revolution+7*tick)) }, revolution + 7*tick, []uint64{1}},
		{"moved earlier", func(r *wheelRig) {
			stx := r.tx(1)
			r.w.set(stx, r.at(time.Second))
			r.w.set(stx, r.at(50*time.Millisecond))
		}, 60 * time.Millisecond, []uint64{1}},
		{"moved later", func(r *wheelRig) {
			stx := r.tx(1)
			r.w.set(stx, r.at(50*time.Millisecond))
			r.w.set(stx, r.at(time.Second))
		}, 500 * time.Millisecond, nil},
		{"stopped", func(r *wheelRig) {
			stx := r.tx(1)
			r.w.set(stx, r.at(10*time.Millisecond))
			r.w.stop(stx)
		}, time.Second, nil},
		{"one slot, the middle one stopped", func(r *wheelRig) {
			a, b, c := r.tx(16), r.tx(32), r.tx(48) // one shard, one slot
			for _, stx := range []*serverTx{a, b, c} {
				r.w.set(stx, r.at(30*time.Millisecond))
			}
			r.w.stop(b)
		}, 40 * time.Millisecond, []uint64{48, 16}},
		{"in order of time across shards", func(r *wheelRig) {
			r.w.set(r.tx(3), r.at(30*time.Millisecond))
			r.w.set(r.tx(2), r.at(20*time.Millisecond))
			r.w.set(r.tx(1), r.at(10*time.Millisecond))
		}, 40 * time.Millisecond, []uint64{1, 2, 3}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := newWheelRig()
			tc.set(r)
			r.turnTo(0, tc.turn)
			if got := r.takeFired(); !slices.Equal(got, tc.want) {
				t.Fatalf("fired %v, want %v", got, tc.want)
			}
			if len(tc.want) > 0 {
				// Fired timers are off the wheel: nothing fires twice.
				r.turnTo(tc.turn+tick, tc.turn+2*revolution)
				if got := r.takeFired(); got != nil {
					t.Fatalf("fired again: %v", got)
				}
			}
			if want := int64(0); len(tc.want) > 0 || tc.name == "stopped" {
				if got := r.w.live.Load(); got != want {
					t.Fatalf("%d timers left on the wheel, want %d", got, want)
				}
			}
		})
	}
}

// After the wheel sat idle for longer than a revolution, one turn fires everything that came
// due meanwhile, and a timer set during the idle spell for later still waits.
func TestWheelAfterIdle(t *testing.T) {
	r := newWheelRig()
	r.w.set(r.tx(1), r.at(20*time.Millisecond))
	r.w.set(r.tx(2), r.at(9*time.Second))
	r.w.set(r.tx(3), r.at(30*time.Second))
	r.w.turn(r.at(10 * time.Second))
	if got := r.takeFired(); !slices.Equal(got, []uint64{1, 2}) {
		t.Fatalf("fired %v after the idle spell, want [1 2]", got)
	}
	r.turnTo(10*time.Second+wheelTick, 30*time.Second-wheelTick)
	if got := r.takeFired(); got != nil {
		t.Fatalf("fired %v before its time", got)
	}
	r.turnTo(30*time.Second, 30*time.Second+wheelTick)
	if got := r.takeFired(); !slices.Equal(got, []uint64{3}) {
		t.Fatalf("fired %v, want [3]", got)
	}
}

// On its own goroutine the wheel fires a timer about on time, rests while no timer is set, and
// wakes for the next one.
func TestWheelRuns(t *testing.T) {
	fired := make(chan int64, 2)
	w := newWheel(monoNow(), func(*serverTx) { fired <- monoNow() })
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { w.run(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	for i := range 2 {
		stx := &serverTx{key: uint64(i)}
		stx.tl.slot = -1
		at := monoNow() + int64(30*time.Millisecond)
		w.set(stx, at)
		select {
		case got := <-fired:
			if got < at {
				t.Fatalf("timer %d fired %v early", i, time.Duration(at-got))
			}
			if late := time.Duration(got - at); late > time.Second {
				t.Fatalf("timer %d fired %v late", i, late)
			}
		case <-time.After(3 * time.Second):
			t.Fatalf("timer %d never fired", i)
		}
		time.Sleep(20 * time.Millisecond) // the wheel rests: nothing is set
	}
}
