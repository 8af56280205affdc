package relay

import (
	"context"
	"log/slog"
	"sync/atomic"
	"time"
)

// overload tells when the proxy is behind. Counting transactions in flight misses it: on one
// core the backlog builds in socket buffers and the run queue, before any handler starts. So a
// probe goroutine measures how late the scheduler runs it, every 10 ms. Above the threshold, new
// requests get 503 at once (about a third of what forwarding costs) until the delay falls under a
// fifth of it: the backlog drains instead of growing until UDP clients retransmit into it.
//
// A CPU-saturation controller (refusing a growing fraction while the process used all of its
// cores) was tried and dropped: a GC cycle saturates the core for a moment at 80% load, and the
// controller then refused work the proxy could do.
type overload struct {
	on       atomic.Bool
	period   time.Duration
	high     atomic.Int64 // ns; negative: never shed
	log      *slog.Logger
	onChange func(bool)
}

func newOverload(high time.Duration, log *slog.Logger, onChange func(bool)) *overload {
	o := &overload{period: 10 * time.Millisecond, log: log, onChange: onChange}
	o.high.Store(int64(high))
	return o
}

func (o *overload) setThreshold(high time.Duration) { o.high.Store(int64(high)) }

func (o *overload) run(ctx context.Context) {
	t := time.NewTicker(o.period)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case due := <-t.C:
			o.observe(time.Since(due))
		}
	}
}

func (o *overload) observe(delay time.Duration) {
	high := time.Duration(o.high.Load())
	if high < 0 {
		return
	}
	switch on := o.on.Load(); {
	case !on && delay > high:
		o.on.Store(true)
		o.log.Warn("overloaded: answering new requests 503 until the backlog is gone", "scheduling_delay", delay)
		if o.onChange != nil {
			o.onChange(true)
		}
	case on && delay < high/5:
		o.on.Store(false)
		o.log.Info("overload over: forwarding again", "scheduling_delay", delay)
		if o.onChange != nil {
			o.onChange(false)
		}
	}
}

// shedding reports whether a new request should be refused now.
func (o *overload) shedding() bool { return o.on.Load() }
