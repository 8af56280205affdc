package transport

import (
	"math"
	"net"
	"sync/atomic"
	"syscall"
	"time"
)

// backlog estimates how long the bytes a stream reads waited in the kernel's receive queue,
// which is where a stream's requests wait when the proxy falls behind: unlike a datagram, a
// stream's bytes carry no receive time. Now and then (every backlogPoll, and as soon as the
// reader got past every mark while a queue was seen) the reader asks the kernel how many bytes
// are queued (FIONREAD) and notes "the stream up to offset X had arrived by time T". Bytes read
// later from below X waited at least since T. The estimate is a lower bound (what waits in the
// sender's buffer is out of sight), and costs one system call per poll, not per message.
//
// What the socket shows can be a small part of the queue: a receive buffer that autotuning
// left small (it grows only for a reader that keeps up) holds a few hundred kilobytes while the
// sender's buffer holds megabytes, a second of requests, and every byte read looks fresh. So the
// backlog also says how long the socket's queue has gone without draining: a sender that stays
// ahead of the proxy keeps it from ever draining, however little of its queue the socket holds.
type backlog struct {
	raw   syscall.RawConn // nil: the platform or the connection gives no queue length
	read  int64           // bytes read from the socket so far (under TLS: ciphertext)
	marks [8]backlogMark
	head  int
	n     int
	poll  time.Time
	queue int // the length the last poll found
	ask   func(fd uintptr)
	// standingSince is when a poll first found bytes queued after the last one that found
	// none (zero: the last poll found the queue empty).
	standingSince time.Time
}

type backlogMark struct {
	end int64
	at  time.Time
}

const backlogPoll = 2 * time.Millisecond

// countingConn counts the bytes read from the socket into its backlog.
type countingConn struct {
	net.Conn
	b *backlog
}

func (c countingConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.b.read += int64(n)
	return n, err
}

// watch returns nc reading through the backlog's count. The count belongs to whoever reads
// nc: the handshake, then the read loop, one after the other.
func (b *backlog) watch(nc net.Conn) net.Conn {
	sc, ok := nc.(syscall.Conn)
	if !ok {
		return nc
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return nc
	}
	b.raw = raw
	b.ask = func(fd uintptr) { b.queue = queuedBytes(fd) }
	return countingConn{Conn: nc, b: b}
}

// waited is how long the bytes just read had waited at least, at now.
func (b *backlog) waited(now time.Time) time.Duration {
	if b.raw == nil {
		return 0
	}
	var w time.Duration
	popped := false
	for b.n > 0 && b.marks[b.head].end <= b.read {
		// The read reached this mark: the byte just below it had arrived by the mark's time.
		// The oldest mark reached says the most.
		if !popped {
			w = now.Sub(b.marks[b.head].at)
		}
		popped = true
		b.head = (b.head + 1) % len(b.marks)
		b.n--
	}
	if !popped && b.n > 0 {
		// All that was read lies below the oldest mark: it had arrived by the mark's time.
		w = now.Sub(b.marks[b.head].at)
	}
	// Poll every backlogPoll, and at once when the reader got past every mark of a queue:
	// without a mark ahead, the next reads would say nothing of their wait.
	if now.Sub(b.poll) >= backlogPoll || (b.n == 0 && b.queue > 0) {
		b.poll = now
		b.queue = 0
		_ = b.raw.Control(b.ask)
		if b.queue > 0 && b.n < len(b.marks) {
			b.marks[(b.head+b.n)%len(b.marks)] = backlogMark{end: b.read + int64(b.queue), at: now}
			b.n++
		}
		switch {
		case b.queue == 0:
			b.standingSince = time.Time{}
		case b.standingSince.IsZero():
			b.standingSince = now
		}
	}
	return w
}

// standing is how long, at now, the socket's receive queue has not been seen empty: zero when
// the last poll found it empty.
func (b *backlog) standing(now time.Time) time.Duration {
	if b.raw == nil || b.standingSince.IsZero() {
		return 0
	}
	return now.Sub(b.standingSince)
}

// Window tracks the waits seen over an interval. By default it judges their least, as CoDel
// does: a wait that stays above the target for a whole interval is a standing queue (overload);
// one slow moment is not. A stream's window (InitMean) judges their mean instead: a stream's
// queue shows in its socket only in part (the rest waits in the sender's), and the socket's
// part drains to nothing between the sender's writes, so its least says nothing.
type Window struct {
	start      atomic.Int64 // unix ns
	least      atomic.Int64 // ns
	sum, count atomic.Int64 // ns, samples: the mean of a stream's window
	mean       bool
	overloaded atomic.Bool
	// share is the fraction, in millionths, of a stream's new requests to refuse while its
	// receive queue does not drain; shareAt is when it last changed (unix ns).
	share, shareAt atomic.Int64
}

// Init starts the first interval at now.
func (w *Window) Init(now time.Time) {
	w.least.Store(math.MaxInt64)
	w.sum.Store(0)
	w.count.Store(0)
	w.start.Store(now.UnixNano())
}

// InitMean starts the first interval of a window that judges the mean wait.
func (w *Window) InitMean(now time.Time) {
	w.mean = true
	w.Init(now)
}

// Observe adds one wait. When it ends an interval, ended is true and least is the least (or
// mean) wait of that interval, which set Overloaded.
func (w *Window) Observe(wait time.Duration, now int64, interval, target time.Duration) (ended bool, least time.Duration) {
	d := int64(wait)
	if start := w.start.Load(); now-start >= int64(interval) && w.start.CompareAndSwap(start, now) {
		// The sample that ends an interval opens the next one: the verdict is on what the
		// interval saw before it. Otherwise, after an idle interval, that one sample would
		// decide alone.
		l := w.least.Swap(d)
		sum, n := w.sum.Swap(d), w.count.Swap(1)
		if l == math.MaxInt64 {
			return false, 0
		}
		if w.mean {
			l = sum / n
		}
		w.overloaded.Store(time.Duration(l) > target)
		return true, time.Duration(l)
	}
	if w.mean {
		w.sum.Add(d)
		w.count.Add(1)
	}
	for {
		cur := w.least.Load()
		if d >= cur || w.least.CompareAndSwap(cur, d) {
			break
		}
	}
	return false, 0
}

// Standing takes how long a stream's receive queue has gone without draining and returns the
// share of its new requests to refuse, in millionths. Once per interval the share rises by a
// tenth while the queue has stood for standingIntervals intervals, and falls by a fifth for
// each interval it has not: refusing is cheaper than forwarding, so the proxy catches up with a
// sender that is ahead, and the share settles where the queue just drains. Only the
// connection's reading goroutine calls it.
func (w *Window) Standing(standing time.Duration, now int64, interval time.Duration) int64 {
	at := w.shareAt.Load()
	if at == 0 {
		w.shareAt.Store(now)
		return 0
	}
	elapsed := now - at
	if elapsed < int64(interval) {
		return w.share.Load()
	}
	w.shareAt.Store(now)
	s := w.share.Load()
	if standing >= standingIntervals*interval {
		s = min(s+shareStep, shareMax)
	} else {
		s = max(s-2*shareStep*(elapsed/int64(interval)), 0)
	}
	w.share.Store(s)
	return s
}

// The share of a stream's requests refused while its queue stands moves by shareStep per
// interval and stops at shareMax: some requests always get through, so the sender sees the
// proxy still works. The queue counts as standing once it has not drained for
// standingIntervals intervals: under a CPU quota or beside a noisy neighbour, a proxy near its
// capacity leaves the queue standing through one interval now and then.
const (
	shareStep         = 100_000
	shareMax          = 900_000
	standingIntervals = 3
)

// Overloaded reports whether the last whole interval's wait was over the target.
func (w *Window) Overloaded() bool { return w.overloaded.Load() }
