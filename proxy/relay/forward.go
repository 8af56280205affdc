package relay

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/sipfed/terraform-provider-sip/internal/api"
	"github.com/sipfed/terraform-provider-sip/proxy/routing"
)

// outcome of one branch.
type outcome int

const (
	answered         outcome = iota // a final response went upstream
	failed                          // transport error, timeout or 503: try the next hop
	cancelledOutcome                // the caller cancelled: stop
)

// forward sends f to hops in order, one client transaction (branch) per hop, until one answers
// with anything but 503. The final response goes back on stx; with every hop failed, 503.
func (r *Relay) forward(to *side, dir string, f *forwardable, stx *sip.ServerTx, hops []routing.NextHop, viaHost string, lc logCtx) {
	var cancel chan struct{}
	if f.req.IsInvite() {
		cancel = make(chan struct{})
		var once sync.Once
		if !stx.OnCancel(func(*sip.Request) { once.Do(func() { close(cancel) }) }) {
			return // cancelled before we got here; the transaction answered 487
		}
	}
	for i, hop := range hops {
		lc.hop = &hops[i]
		res, reason := r.branchTry(to, dir, f, stx, hop, viaHost, cancel, i == len(hops)-1, &lc)
		switch res {
		case answered, cancelledOutcome:
			return
		}
		r.m.failovers.WithLabelValues(reason).Inc()
	}
	snap := r.snaps.Load()
	r.respond(dir, stx, f.req, sip.StatusServiceUnavailable, "Service Unavailable", warning(snap, "no next hop answered"))
}

// branchFor builds the request of one branch toward hop.
func (r *Relay) branchFor(f *forwardable, hop routing.NextHop, viaHost string) *sip.Request {
	transport := strings.ToUpper(hop.Transport)
	via := &sip.ViaHeader{ProtocolName: "SIP", ProtocolVersion: "2.0", Transport: transport, Params: sip.NewParams()}
	via.Params.Add("branch", r.branch(f.lh))
	if viaHost != "" && hop.Transport != api.ProtocolUDP {
		// Toward partners the proxy is its federation routing FQDN; replies come back on the
		// connection anyway. Elsewhere sipgo fills in the connection's local address.
		via.Host, via.Port = viaHost, r.extPort
		if via.Port == 0 {
			via.Port = defaultPort(hop.Transport)
		}
	}
	out := f.branchRequest(via)
	out.SetTransport(transport)
	out.SetDestination(hop.Addr.String())
	if hop.Transport == api.ProtocolUDP {
		out.Laddr = sip.Addr{IP: r.sourceIP(hop.Addr.Addr())}
	}
	return out
}

// branchTry runs one branch. last says no hop follows, so a 503 goes upstream as it is.
func (r *Relay) branchTry(to *side, dir string, f *forwardable, stx *sip.ServerTx, hop routing.NextHop,
	viaHost string, cancel chan struct{}, last bool, lc *logCtx) (outcome, string) {
	if hop.Transport == api.ProtocolTLS && r.cfg.TLS == nil {
		r.logger(lc).Warn("next hop skipped: TLS needs --tls-cert, --tls-key and --tls-ca")
		return failed, "transport"
	}
	invite := f.req.IsInvite()
	out := r.branchFor(f, hop, viaHost)

	// sipgo uses ctx only to connect. TCP dials are bounded by the dialer (see newSide); a TLS
	// handshake is bounded by nothing else.
	cctx, done := r.ctx, context.CancelFunc(nil)
	if hop.Transport == api.ProtocolTLS {
		cctx, done = context.WithTimeout(r.ctx, r.cfg.HopTimeout)
	}
	tx, err := to.txl.Request(cctx, out)
	if done != nil {
		done()
	}
	if err != nil {
		r.logger(lc).Info("next hop failed", "error", err)
		return failed, "transport"
	}
	if hop.Transport == api.ProtocolUDP {
		r.tuneClientUDP(tx.Connection())
	}
	keep := false
	defer func() {
		if !keep {
			tx.Terminate()
		}
	}()

	timer := time.NewTimer(r.cfg.HopTimeout)
	defer timer.Stop()
	provisional, cancelSent := false, false
	cancelled := isClosed(cancel)
	if cancelled {
		cancel = nil
	}
	for {
		select {
		case res := <-tx.Responses():
			if res.IsProvisional() {
				if res.StatusCode > 100 {
					// 100 Trying is hop-by-hop (RFC 3261 16.7); the server transaction
					// sends its own.
					_ = stx.Respond(upstreamResponse(res, f.req))
				}
				if invite && !provisional {
					provisional = true
					if !cancelled {
						timer.Reset(r.cfg.InviteTimeout)
					}
				}
				if cancelled && !cancelSent {
					cancelSent = true
					r.sendCancel(to, out, lc)
				}
				continue
			}
			if res.StatusCode == sip.StatusServiceUnavailable && !last && !cancelled {
				r.logger(lc).Info("next hop answered 503, failing over")
				return failed, "503"
			}
			if err := r.final(stx, f.req, upstreamResponse(res, f.req)); err != nil && !cancelled {
				r.logger(lc).Debug("response not sent upstream", "status", res.StatusCode, "error", err)
			}
			r.m.response(dir, res.StatusCode)
			switch {
			case invite && res.IsSuccess():
				// The client transaction stays for Timer M to pass 2xx retransmissions on
				// (RFC 6026); the server transaction is in Accepted and sends them.
				keep = true
				tx.OnRetransmission(func(res *sip.Response) { _ = stx.Respond(upstreamResponse(res, f.req)) })
			case invite:
				// Non-2xx: the client transaction ACKs retransmissions until Timer D.
				keep = true
			}
			return answered, ""
		case <-tx.Done():
			if cancelled {
				return cancelledOutcome, ""
			}
			err := tx.Err()
			reason := "transport"
			if errors.Is(err, sip.ErrTransactionTimeout) {
				reason = "timeout"
			}
			r.logger(lc).Info("next hop failed", "error", err)
			return failed, reason
		case <-timer.C:
			if cancelled {
				return cancelledOutcome, ""
			}
			r.logger(lc).Info("next hop timed out", "timeout", r.cfg.HopTimeout)
			return failed, "timeout"
		case <-cancel:
			cancelled, cancel = true, nil
			// The 487 (or a provisional to send the CANCEL on) is due soon, not in Timer C.
			timer.Reset(r.cfg.HopTimeout)
			// RFC 3261 9.1: before any provisional response the CANCEL waits for one.
			if provisional && !cancelSent {
				cancelSent = true
				r.sendCancel(to, out, lc)
			}
		}
	}
}

func isClosed(c chan struct{}) bool {
	if c == nil {
		return false
	}
	select {
	case <-c:
		return true
	default:
		return false
	}
}

// sendCancel cancels a branch's INVITE downstream, in a transaction of its own.
func (r *Relay) sendCancel(to *side, inv *sip.Request, lc *logCtx) {
	c := cancelFor(inv)
	ctx, done := context.WithTimeout(r.ctx, r.cfg.HopTimeout)
	defer done()
	tx, err := to.txl.Request(ctx, c)
	if err != nil {
		r.logger(lc).Info("CANCEL not sent", "error", err)
		return
	}
	go func() {
		defer tx.Terminate()
		t := time.NewTimer(r.cfg.HopTimeout)
		defer t.Stop()
		select {
		case <-tx.Responses():
		case <-tx.Done():
		case <-t.C:
		}
	}()
}

// logCtx is what a log line about a request names. The logger is built only when a line is
// written: slog's With formats its attributes at once, and the request path logs nothing unless
// something fails.
type logCtx struct {
	dir, domain, subject string
	hop                  *routing.NextHop
}

func (r *Relay) logger(c *logCtx) *slog.Logger {
	attrs := make([]any, 0, 12)
	attrs = append(attrs, "direction", c.dir)
	if c.domain != "" {
		attrs = append(attrs, "domain", c.domain)
	}
	if c.subject != "" {
		attrs = append(attrs, "subject", c.subject)
	}
	if h := c.hop; h != nil {
		attrs = append(attrs, "next_hop", h.Addr.String(), "transport", h.Transport)
		if h.Step != "" {
			attrs = append(attrs, "step", h.Step)
		}
		if h.RouteID != "" {
			attrs = append(attrs, "route_id", h.RouteID)
		}
	}
	return r.log.With(attrs...)
}
