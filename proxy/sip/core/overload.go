package core

import (
	"context"
	"errors"
	"log/slog"
	mrand "math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sipfed/terraform-provider-sip/proxy/sip/transport"
	"github.com/sipfed/terraform-provider-sip/proxy/telemetry"
)

// OverloadConfig tunes admission. The proxy is overloaded when requests keep waiting: the
// least wait seen over a whole interval stays above the target (a standing queue, as CoDel
// defines it; a single slow moment does not count). UDP requests carry the kernel's receive
// time, so their wait includes the socket buffer, and each socket is judged on its own; on a
// stream the wait is estimated from the socket's receive queue (see transport's backlog), and
// judged per connection. Besides, the
// Go scheduler's lateness is probed: goroutines starved of CPU queue nowhere else.
//
// While overloaded, a new request that itself waited longer than the target gets 503 at once
// (answering it costs a fraction of forwarding it, and its sender is about to retransmit or
// time out anyway); while the scheduler is late, a growing share of new stream requests gets
// 503, and a shrinking share after. Requests within a dialog always pass: they finish what was
// accepted.
type OverloadConfig struct {
	Disabled bool
	// QueueDelay is the target wait for a request on a stream, from its arrival in the
	// kernel to its handling.
	QueueDelay time.Duration
	// UDPQueueDelay is the same over UDP, per socket. A UDP socket's buffer holds only so
	// much (transport's udpBuffer: at 20,000 to 30,000 datagrams a second, 50 to 100 ms), and
	// past that the kernel drops what comes, silently, answers to admitted requests included.
	// A lower target refuses the queue down before it gets there: what is not served gets a
	// 503 at once rather than a retransmission into a full socket. It serves fewer, though:
	// in alternating runs at 2x capacity under the bench's CPU cap, 40 ms gave 11,700 and
	// 12,400 timely answers a second where 100 ms gave 13,300 and 13,500 (and 15 points of
	// late or lost ones against 5). Hence the default, and a flag of its own.
	UDPQueueDelay time.Duration
	// SchedulingDelay is the target lateness of the scheduler probe (streams).
	SchedulingDelay time.Duration
	// Interval is the window the least wait is taken over.
	Interval time.Duration
}

// Defaults of OverloadConfig.
const (
	DefaultQueueDelay      = 100 * time.Millisecond
	DefaultUDPQueueDelay   = 100 * time.Millisecond
	DefaultSchedulingDelay = 50 * time.Millisecond
	DefaultInterval        = 200 * time.Millisecond
	probePeriod            = 10 * time.Millisecond
)

func (o *OverloadConfig) setDefaults() {
	if o.QueueDelay <= 0 {
		o.QueueDelay = DefaultQueueDelay
	}
	if o.UDPQueueDelay <= 0 {
		o.UDPQueueDelay = DefaultUDPQueueDelay
	}
	if o.SchedulingDelay <= 0 {
		o.SchedulingDelay = DefaultSchedulingDelay
	}
	if o.Interval <= 0 {
		o.Interval = DefaultInterval
	}
}

type overload struct {
	cfg OverloadConfig
	m   *metrics
	log *slog.Logger
	// udp counts the UDP sockets whose queue is overloaded, for the log line and the gauge.
	udp   atomic.Int64
	sched transport.Window
	// warned is when a connection's backlog was last logged (unix ns): one line per
	// backlogWarnEvery at most, whatever the number of connections.
	warned atomic.Int64
	// share is the fraction (in millionths) of new stream requests refused while the scheduler
	// is behind.
	share atomic.Int64
	state atomic.Bool // for the gauge, and the log lines below

	// The log says when overload begins and when it has been over for overloadQuiet: near its
	// capacity the proxy goes in and out of overload every interval or two, and a line per
	// change would bury everything else. The gauge follows every change.
	logMu     sync.Mutex
	announced bool      // "overloaded" written, "over" not yet
	offSince  time.Time // when the state last went off (zero: on)
	relapses  int       // times it went on again while announced
}

// overloadQuiet is how long the state must stay off before the log says overload is over.
const overloadQuiet = 5 * time.Second

func newOverload(cfg OverloadConfig, m *metrics, log *slog.Logger) *overload {
	o := &overload{cfg: cfg, m: m, log: log}
	now := time.Now()
	o.sched.Init(now)
	return o
}

var errShed = errors.New("overloaded")

// admit decides a new request at admission: nil lets it in.
func (o *overload) admit(src *transport.Source) error {
	if o.cfg.Disabled {
		return nil
	}
	now := time.Now()
	if src.Proto == transport.UDP && src.Socket != nil {
		// Each socket's queue is its own: the internal side's load must not refuse the
		// partners' requests.
		wait := now.Sub(src.Arrived)
		q := src.Socket.Queue()
		was := q.Overloaded()
		if ended, least := q.Observe(wait, now.UnixNano(), o.cfg.Interval, o.cfg.UDPQueueDelay); ended {
			o.m.queueDelay.Set(least.Seconds())
			switch is := q.Overloaded(); {
			case is && !was:
				o.udp.Add(1)
			case was && !is:
				o.udp.Add(-1)
			}
			o.changed()
		}
		if q.Overloaded() && wait > o.cfg.UDPQueueDelay {
			o.m.shedOne(telemetry.ReasonQueueDelay)
			return errShed
		}
		return nil
	}
	if src.Conn != nil {
		// A stream's queue is its own: one sender outpacing the proxy must not have
		// another's requests refused, nor hide behind a quiet connection's short waits.
		wait := now.Sub(src.Arrived)
		q := src.Conn.Queue()
		was := q.Overloaded()
		if ended, _ := q.Observe(wait, now.UnixNano(), o.cfg.Interval, o.cfg.QueueDelay); ended && !was && q.Overloaded() {
			o.warnBacklog(src, now)
		}
		if q.Overloaded() && wait > o.cfg.QueueDelay {
			o.m.shedOne(telemetry.ReasonQueueDelay)
			return errShed
		}
		// Most of a stream's queue may sit in the sender's buffer, out of sight: then the
		// wait above looks short while the socket never drains.
		s := q.Standing(src.Standing, now.UnixNano(), o.cfg.Interval)
		if s > 0 && mrand.Int64N(1_000_000) < s {
			o.warnBacklog(src, now)
			o.m.shedOne(telemetry.ReasonStandingQueue)
			return errShed
		}
	}
	if s := o.share.Load(); s > 0 && mrand.Int64N(1_000_000) < s {
		o.m.shedOne(telemetry.ReasonSchedulingDelay)
		return errShed
	}
	return nil
}

// probe measures how late the scheduler runs a goroutine that asked to run every probePeriod.
func (o *overload) probe(ctx context.Context) {
	t := time.NewTicker(probePeriod)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case due := <-t.C:
			now := time.Now()
			o.settle(now)
			ended, _ := o.sched.Observe(now.Sub(due), now.UnixNano(), o.cfg.Interval, o.cfg.SchedulingDelay)
			if !ended {
				continue
			}
			s := o.share.Load()
			if o.sched.Overloaded() {
				s = min(s+100_000, 900_000)
			} else {
				s = max(s-200_000, 0)
			}
			o.share.Store(s)
			o.changed()
		}
	}
}

// active reports whether the proxy is overloaded by its own measure (see changed).
func (o *overload) active() bool { return o.udp.Load() > 0 || o.share.Load() > 0 }

// changed reports a change of state to the gauge and, once per spell of overload, to the log.
func (o *overload) changed() {
	o.logMu.Lock()
	defer o.logMu.Unlock()
	on := o.active()
	if o.state.Swap(on) == on {
		return
	}
	if !on {
		o.m.overloaded.Set(0)
		o.offSince = time.Now()
		return
	}
	o.m.overloaded.Set(1)
	o.offSince = time.Time{}
	if o.announced {
		o.relapses++
		return
	}
	o.announced = true
	o.log.Warn("overloaded: answering new requests that waited too long with 503")
}

// settle writes that overload is over once the state has stayed off for overloadQuiet.
func (o *overload) settle(now time.Time) {
	o.logMu.Lock()
	defer o.logMu.Unlock()
	if !o.announced || o.offSince.IsZero() || now.Sub(o.offSince) < overloadQuiet {
		return
	}
	o.announced = false
	o.log.Info("overload over: admitting every request again", slog.Int(telemetry.KeyCount, o.relapses))
	o.relapses = 0
}

const backlogWarnEvery = 10 * time.Second

// warnBacklog logs that a connection's requests keep waiting, at most once per
// backlogWarnEvery for all connections together.
func (o *overload) warnBacklog(src *transport.Source, now time.Time) {
	last := o.warned.Load()
	if now.UnixNano()-last < int64(backlogWarnEvery) || !o.warned.CompareAndSwap(last, now.UnixNano()) {
		return
	}
	o.log.Warn("connection backlogged: refusing new requests on it with 503 until it catches up",
		slog.String(telemetry.KeySide, src.Side.String()), slog.String(telemetry.KeyRemote, src.Remote.String()),
		slog.String(telemetry.KeyProtocol, src.Proto.String()))
}
