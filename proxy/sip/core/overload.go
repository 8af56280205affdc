package core

import (
	"context"
	"errors"
	"log/slog"
	"math"
	mrand "math/rand/v2"
	"sync/atomic"
	"time"

	"github.com/sipfed/terraform-provider-sip/proxy/sip/transport"
	"github.com/sipfed/terraform-provider-sip/proxy/telemetry"
)

// OverloadConfig tunes admission. The proxy is overloaded when requests keep waiting: the
// least wait seen over a whole interval stays above the target (a standing queue, as CoDel
// defines it; a single slow moment does not count). UDP requests carry the kernel's receive
// time, so their wait includes the socket buffer; on streams the signal is how late the Go
// scheduler runs a probe.
//
// While overloaded, a new UDP request that itself waited longer than the target gets 503 at
// once (answering it costs a fraction of forwarding it, and its sender is about to retransmit
// anyway); on streams a growing share of new requests gets 503 while the overload lasts, and a
// shrinking share after. Requests within a dialog always pass: they finish what was accepted.
type OverloadConfig struct {
	Disabled bool
	// QueueDelay is the target wait for a UDP request, from the kernel's receive to its
	// handling.
	QueueDelay time.Duration
	// SchedulingDelay is the target lateness of the scheduler probe (streams).
	SchedulingDelay time.Duration
	// Interval is the window the least wait is taken over.
	Interval time.Duration
}

// Defaults of OverloadConfig.
const (
	DefaultQueueDelay      = 100 * time.Millisecond
	DefaultSchedulingDelay = 50 * time.Millisecond
	DefaultInterval        = 200 * time.Millisecond
	probePeriod            = 10 * time.Millisecond
)

func (o *OverloadConfig) setDefaults() {
	if o.QueueDelay <= 0 {
		o.QueueDelay = DefaultQueueDelay
	}
	if o.SchedulingDelay <= 0 {
		o.SchedulingDelay = DefaultSchedulingDelay
	}
	if o.Interval <= 0 {
		o.Interval = DefaultInterval
	}
}

// window tracks the least delay seen in the current interval.
type window struct {
	start      atomic.Int64 // unix ns
	least      atomic.Int64 // ns
	overloaded atomic.Bool
}

func (w *window) observe(delay time.Duration, now int64, interval time.Duration, target time.Duration) (ended bool, least time.Duration) {
	d := int64(delay)
	if start := w.start.Load(); now-start >= int64(interval) && w.start.CompareAndSwap(start, now) {
		// The sample that ends an interval opens the next one: the verdict is on what the
		// interval saw before it. Otherwise, after an idle interval, that one sample would
		// decide alone.
		l := w.least.Swap(d)
		if l == math.MaxInt64 {
			return false, 0
		}
		w.overloaded.Store(time.Duration(l) > target)
		return true, time.Duration(l)
	}
	for {
		cur := w.least.Load()
		if d >= cur || w.least.CompareAndSwap(cur, d) {
			break
		}
	}
	return false, 0
}

type overload struct {
	cfg   OverloadConfig
	m     *metrics
	log   *slog.Logger
	udp   window
	sched window
	// share is the fraction (in millionths) of new stream requests refused while the scheduler
	// is behind.
	share atomic.Int64
	state atomic.Bool // for the log line and the gauge
}

func newOverload(cfg OverloadConfig, m *metrics, log *slog.Logger) *overload {
	o := &overload{cfg: cfg, m: m, log: log}
	o.udp.least.Store(math.MaxInt64)
	o.sched.least.Store(math.MaxInt64)
	now := time.Now().UnixNano()
	o.udp.start.Store(now)
	o.sched.start.Store(now)
	return o
}

var errShed = errors.New("overloaded")

// admit decides a new request at admission: nil lets it in.
func (o *overload) admit(src *transport.Source) error {
	if o.cfg.Disabled {
		return nil
	}
	now := time.Now()
	if src.Proto == transport.UDP {
		wait := now.Sub(src.Arrived)
		if ended, least := o.udp.observe(wait, now.UnixNano(), o.cfg.Interval, o.cfg.QueueDelay); ended {
			o.m.queueDelay.Set(least.Seconds())
			o.changed()
		}
		if o.udp.overloaded.Load() && wait > o.cfg.QueueDelay {
			o.m.shed.WithLabelValues(telemetry.ReasonQueueDelay).Inc()
			return errShed
		}
		return nil
	}
	if s := o.share.Load(); s > 0 && mrand.Int64N(1_000_000) < s {
		o.m.shed.WithLabelValues(telemetry.ReasonSchedulingDelay).Inc()
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
			ended, _ := o.sched.observe(now.Sub(due), now.UnixNano(), o.cfg.Interval, o.cfg.SchedulingDelay)
			if !ended {
				continue
			}
			s := o.share.Load()
			if o.sched.overloaded.Load() {
				s = min(s+100_000, 900_000)
			} else {
				s = max(s-200_000, 0)
			}
			o.share.Store(s)
			o.changed()
		}
	}
}

// changed logs and reports a change of state.
func (o *overload) changed() {
	on := o.udp.overloaded.Load() || o.share.Load() > 0
	if o.state.Swap(on) == on {
		return
	}
	if on {
		o.m.overloaded.Set(1)
		o.log.Warn("overloaded: answering new requests that waited too long with 503")
	} else {
		o.m.overloaded.Set(0)
		o.log.Info("overload over: admitting every request again")
	}
}
