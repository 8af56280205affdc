package core

import (
	"context"
	"time"
)

// Drain stops taking new dialogs (they get 503 with Retry-After; requests within dialogs are
// still served) and waits until every transaction in flight has its final response, or ctx
// ends. Then what is still pending is cancelled downstream (INVITE branches get a CANCEL) and
// answered upstream with 503. It returns how many it had to answer that way.
func (c *Core) Drain(ctx context.Context) int {
	c.draining.Store(true)
	t := time.NewTicker(10 * time.Millisecond)
	defer t.Stop()
	for c.inflight.Load() > 0 {
		select {
		case <-ctx.Done():
			return c.abandon()
		case <-t.C:
		}
	}
	return 0
}

func (c *Core) abandon() int {
	n := 0
	c.servers.each(func(stx *serverTx) {
		stx.mu.Lock()
		defer stx.mu.Unlock()
		if stx.finalStatus != 0 || stx.state == stxDone {
			return
		}
		n++
		if ctx := stx.client; ctx != nil && stx.invite {
			ctx.cancelBranch()
		}
		stx.cancelled = true
		stx.respondFinalLocal(503, "Service Unavailable", retryAfter)
	})
	return n
}
