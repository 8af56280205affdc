package relay

import (
	"sync/atomic"

	"github.com/emiago/sipgo/sip"
)

// workers run request handlers on goroutines that outlive a request. sipgo starts a goroutine
// per message; its stack starts small and is copied each time it doubles on the way through
// routing and forwarding, which took a tenth of the CPU in profiles. A worker's stack has grown
// once and stays grown.
type workers struct {
	handle  func(*side, *sip.Request, *sip.ServerTx)
	onPanic func(*sip.Request, any)
	jobs    chan job
	done    chan struct{}
	idle    atomic.Int32
	maxIdle int32
}

type job struct {
	s   *side
	req *sip.Request
	tx  *sip.ServerTx
}

func newWorkers(handle func(*side, *sip.Request, *sip.ServerTx), maxIdle int) *workers {
	return &workers{handle: handle, jobs: make(chan job), done: make(chan struct{}), maxIdle: int32(maxIdle)}
}

// submit hands j to an idle worker, or to a new one when all are busy: a handler blocks until
// its next hop answers, so the pool must not cap concurrency (MaxInFlight does).
func (w *workers) submit(j job) {
	select {
	case w.jobs <- j:
	default:
		go w.loop(j)
	}
}

func (w *workers) loop(j job) {
	for {
		w.run(j)
		// After a burst, keep a bounded number of workers waiting; the others end.
		if w.idle.Add(1) > w.maxIdle {
			w.idle.Add(-1)
			return
		}
		select {
		case j = <-w.jobs:
			w.idle.Add(-1)
		case <-w.done:
			return
		}
	}
}

// run handles one request. A panic on some message nobody foresaw ends that transaction, not
// the proxy.
func (w *workers) run(j job) {
	defer func() {
		if v := recover(); v != nil {
			j.tx.Terminate()
			if w.onPanic != nil {
				w.onPanic(j.req, v)
			}
		}
	}()
	w.handle(j.s, j.req, j.tx)
}

func (w *workers) stop() { close(w.done) }
