package core

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
)

// monoEpoch starts the clock of the times transactions keep: nanoseconds since it, from the
// monotonic clock (wall-clock steps move no timer), in 8 bytes where a time.Time takes 24, for
// thousands of transactions holding several each. It is a second in the past, so that no
// reading is 0, which means "unset".
var monoEpoch = time.Now().Add(-time.Second)

func monoNow() int64 { return int64(time.Since(monoEpoch)) }

// wheel runs the transactions' timers. A runtime timer per transaction (time.AfterFunc) costs
// about 200 bytes of heap and a goroutine each time it fires, and thousands of transactions
// wait for their final responses at once; on the wheel a transaction's timer is a link of its
// own (timerLink, 28 bytes), and the wheel's one goroutine runs what is due. A timer fires in
// the first turn after it is due, up to wheelTick late: SIP's timers (T1 = 500 ms and up, hop
// timeouts in seconds) need no finer grain. Idle, the wheel does not turn.
type wheel struct {
	shards [wheelShards]wheelShard
	live   atomic.Int64 // timers linked, all shards
	wake   chan struct{}
	fire   func(*serverTx) // (*serverTx).fire; a recorder in tests
	due    []*serverTx     // turn's scratch (the wheel's goroutine only)
}

const (
	wheelTick   = 5 * time.Millisecond
	wheelSlots  = 1024 // one revolution: about 5 s; later timers wait in their slot for their turn
	wheelShards = 16   // arms from several cores rarely meet on a lock
)

type wheelShard struct {
	mu    sync.Mutex
	slots [wheelSlots]*serverTx // each the head of a list linked through timerLink
	// turned is the last tick whose slot holds nothing due: the next turn starts after it.
	turned int64
}

// timerLink is a transaction's place on the wheel, guarded by its shard's lock.
type timerLink struct {
	prev, next *serverTx
	at         int64 // monoNow
	slot       int32 // -1: not on the wheel
}

// newWheel returns a wheel whose first turn is after now (monoNow).
func newWheel(now int64, fire func(*serverTx)) *wheel {
	w := &wheel{wake: make(chan struct{}, 1), fire: fire}
	for i := range w.shards {
		w.shards[i].turned = now / int64(wheelTick)
	}
	return w
}

func (w *wheel) shard(stx *serverTx) *wheelShard { return &w.shards[stx.key%wheelShards] }

// set puts stx's timer at at (monoNow), moving it if it was set.
func (w *wheel) set(stx *serverTx, at int64) {
	s := w.shard(stx)
	s.mu.Lock()
	if stx.tl.slot >= 0 {
		s.unlink(stx)
	} else if w.live.Add(1) == 1 {
		select {
		case w.wake <- struct{}{}:
		default:
		}
	}
	// A time in a tick already turned goes in the next turn's slot, not a revolution later.
	tick := max(at/int64(wheelTick), s.turned+1)
	slot := int32(tick % wheelSlots)
	stx.tl.at, stx.tl.slot = at, slot
	stx.tl.prev, stx.tl.next = nil, s.slots[slot]
	if head := s.slots[slot]; head != nil {
		head.tl.prev = stx
	}
	s.slots[slot] = stx
	s.mu.Unlock()
}

// stop takes stx's timer off the wheel, if it is on.
func (w *wheel) stop(stx *serverTx) {
	s := w.shard(stx)
	s.mu.Lock()
	if stx.tl.slot >= 0 {
		s.unlink(stx)
		w.live.Add(-1)
	}
	s.mu.Unlock()
}

func (s *wheelShard) unlink(stx *serverTx) {
	l := &stx.tl
	if l.prev != nil {
		l.prev.tl.next = l.next
	} else {
		s.slots[l.slot] = l.next
	}
	if l.next != nil {
		l.next.tl.prev = l.prev
	}
	l.prev, l.next, l.slot = nil, nil, -1
}

// run turns the wheel every wheelTick while timers are set, until ctx ends.
func (w *wheel) run(ctx context.Context) {
	t := time.NewTicker(wheelTick)
	defer t.Stop()
	for {
		if w.live.Load() == 0 {
			t.Stop()
			select {
			case <-ctx.Done():
				return
			case <-w.wake:
			}
			t.Reset(wheelTick)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			w.turn(monoNow())
		}
	}
}

// turn fires every timer due at now (monoNow). The transactions' fire runs after the shards'
// locks are let go: it takes the transaction's lock, and sets its timer again.
func (w *wheel) turn(now int64) {
	due := w.due[:0]
	tick := now / int64(wheelTick)
	for i := range w.shards {
		s := &w.shards[i]
		s.mu.Lock()
		from := s.turned + 1
		if tick-from >= wheelSlots {
			from = tick - wheelSlots + 1 // idle for a revolution or more: every slot once
		}
		for tk := from; tk <= tick; tk++ {
			for stx := s.slots[tk%wheelSlots]; stx != nil; {
				next := stx.tl.next
				if stx.tl.at <= now {
					s.unlink(stx)
					w.live.Add(-1)
					due = append(due, stx)
				}
				stx = next
			}
		}
		// This tick's slot may still hold a timer due later within the tick: it is looked at
		// again next turn.
		s.turned = tick - 1
		s.mu.Unlock()
	}
	for _, stx := range due {
		w.fire(stx)
	}
	clear(due)
	w.due = due[:0]
}
