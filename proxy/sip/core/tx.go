package core

import (
	"errors"
	"net"
	"net/netip"
	"slices"
	"sync"
	"time"

	"github.com/sipfed/terraform-provider-sip/proxy/sip/message"
	"github.com/sipfed/terraform-provider-sip/proxy/sip/transport"
	"github.com/sipfed/terraform-provider-sip/proxy/telemetry"
)

type stxState uint8

const (
	stxDeciding   stxState = iota // waiting for a decision that needed DNS
	stxProceeding                 // forwarding; no final response yet
	stxCompleted                  // a non-2xx final went upstream (INVITE: waiting for the ACK)
	stxAccepted                   // a 2xx went upstream for an INVITE (RFC 6026)
	stxDone                       // gone from the table
)

// serverTx is a request the core took on: it answers it exactly once with a final response,
// whatever happens to its branches.
type serverTx struct {
	c   *Core
	key uint64
	mu  sync.Mutex
	// req is the whole request while a later step may need it: a decision on another
	// goroutine, a branch to another target. Then only up is kept: thousands of transactions
	// wait for their final responses at once, and the request is most of their size.
	req *message.Msg
	up  message.Upstream
	src origin
	// Small fields together: thousands of transactions are live at once.
	lh        uint32
	state     stxState
	invite    bool
	cancelled bool
	counted   bool // counted in Core.inflight

	verdict *Verdict // while targets are left
	flow    Flow
	viaHost string // the sent-by host of the transaction's Via toward its targets ("": the core's)
	next    int    // the next target to try
	client  *clientTx
	// first is the first branch's memory: most transactions have only the one, and it costs
	// no allocation of its own. Later branches are allocated: a connection may still call
	// back a failed branch, which must stay what it was.
	first clientTx

	lastResp    []byte // the last response sent upstream, for retransmissions of the request
	finalStatus int
	started     int64 // monoNow

	// batch is the UDP send batch of the goroutine that holds mu while it handles a message;
	// nil otherwise (timers, connection callbacks).
	batch *transport.Batch

	tl        timerLink // its timer, on the core's wheel
	expireAt  int64     // monoNow; 0: unset, as for every time below
	retransAt int64     // Timer G: INVITE non-2xx final over UDP until the ACK
	retransIv time.Duration
}

// origin is where a transaction's request came from, where its responses go: its Source less
// what belongs to one read (its time, its reader's batch).
type origin struct {
	Conn   *transport.Conn
	Socket *transport.UDPSocket
	Remote netip.AddrPort
	Side   transport.Side
	Proto  transport.Protocol
}

func originOf(src *transport.Source) origin {
	return origin{Conn: src.Conn, Socket: src.Socket, Remote: src.Remote, Side: src.Side, Proto: src.Proto}
}

// source is the origin as a Source, for the policy.
func (o *origin) source() transport.Source {
	return transport.Source{Conn: o.Conn, Socket: o.Socket, Remote: o.Remote, Side: o.Side, Proto: o.Proto}
}

// cloneMsg copies m with its buffer: spans are offsets, so they stay valid.
func cloneMsg(m *message.Msg) *message.Msg {
	cp := new(message.Msg)
	copyMsg(cp, m)
	return cp
}

func copyMsg(dst, m *message.Msg) {
	hs := append(dst.Headers[:0], m.Headers...)
	*dst = *m
	dst.Headers = hs
	dst.Buf = append([]byte(nil), m.Buf...)
}

// newServerTx starts a transaction for m, which it borrows: the caller makes the transaction
// its own copy before m's buffer is reused, if it still needs one (see serverTx.req).
func (c *Core) newServerTx(m *message.Msg, src *transport.Source, key uint64, invite bool, lh uint32) *serverTx {
	stx := &serverTx{c: c, key: key, invite: invite, lh: lh, state: stxProceeding, started: monoNow()}
	stx.tl.slot = -1
	stx.req = m
	stx.up = message.NewUpstream(m, src.Remote)
	stx.src = originOf(src)
	if _, fresh := c.servers.putNew(key, stx); !fresh {
		return nil // a copy of the request raced this one in; it owns the transaction
	}
	c.inflight.Add(1)
	c.m.inflight.Inc()
	if src.Conn != nil {
		src.Conn.AddInFlight(1)
	}
	stx.counted = true
	return stx
}

// retransmission answers a request that matched a live transaction: over UDP it gets the last
// response again; otherwise there is nothing to do (RFC 3261 17.2).
func (stx *serverTx) retransmission(m *message.Msg, src *transport.Source) {
	stx.mu.Lock()
	defer stx.mu.Unlock()
	if src.Proto != transport.UDP || stx.lastResp == nil || stx.state == stxDone {
		return
	}
	_ = src.Socket.Send(stx.lastResp, src.Remote, src.Batch)
}

// forward starts the branches of a verdict.
func (stx *serverTx) forward(v *Verdict) {
	stx.verdict = v
	stx.flow, stx.viaHost = v.Flow, v.ViaHost
	if v.Action != Forward || len(v.Targets) == 0 {
		stx.respondFinalLocal(v.Status, v.Reason, v.Extra)
		return
	}
	stx.startNext()
}

// startNext tries the targets left, skipping next hops known to be down while others are up,
// until one accepts the request; with none left, the caller gets the answer the failures
// deserve. When every target left is down they are tried all the same: there is nothing better
// to do, and one of them may be back.
func (stx *serverTx) startNext() {
	for stx.targetsLeft() && !stx.cancelled {
		t := &stx.verdict.Targets[stx.next]
		stx.next++
		if stx.c.health.isDown(t) && stx.upLeft() {
			continue
		}
		if stx.newClient(t) {
			if !stx.targetsLeft() {
				stx.release()
			}
			return
		}
	}
	switch {
	case stx.cancelled:
		stx.respondFinalLocal(487, "Request Terminated", nil)
	default:
		stx.respondFinalLocal(503, "Service Unavailable", append(warningLine(stx, "no next hop answered"), retryAfter...))
	}
}

// targetsLeft reports whether a target is left to try.
func (stx *serverTx) targetsLeft() bool {
	return stx.verdict != nil && stx.next < len(stx.verdict.Targets)
}

// release lets go of what only a new branch would need: the request and the decision.
// The verdict goes back to its pool: only the transaction held it (forward took it over), and
// its branches keep copies of their targets.
func (stx *serverTx) release() {
	if stx.verdict != nil {
		putVerdict(stx.verdict)
	}
	stx.req, stx.verdict = nil, nil
}

// upLeft reports whether a target after the current one is not known to be down.
func (stx *serverTx) upLeft() bool {
	v := stx.verdict
	for i := stx.next; i < len(v.Targets); i++ {
		if !stx.c.health.known(&v.Targets[i]) {
			return true
		}
	}
	return false
}

func warningLine(stx *serverTx, text string) []byte {
	host := stx.viaHost
	if host == "" {
		host = "sipfed"
	}
	return []byte("Warning: 399 " + host + " \"" + text + "\"\r\n")
}

// respondLocal sends upstream a response the core writes itself (100 Trying, 487, 503...).
func (stx *serverTx) respondLocal(status int, reason string, extra []byte) {
	sc := getScratch()
	out := stx.up.AppendResponse(sc.buf, message.Response{Status: status, Reason: reason, ToTag: stx.c.localTag, Extra: extra})
	stx.sendUpstream(out, status)
	sc.put(out)
}

// respondFinalLocal ends the transaction with a response the core writes.
func (stx *serverTx) respondFinalLocal(status int, reason string, extra []byte) {
	if status < 200 {
		status, reason = 500, "Server Internal Error"
	}
	if reason == "" {
		reason = reasonPhrase(status)
	}
	stx.respondLocal(status, reason, extra)
}

// sendUpstream sends a response toward the request's sender and moves the transaction on. out
// may be scratch: the transport copies what it sends, and what the transaction keeps it copies.
func (stx *serverTx) sendUpstream(out []byte, status int) {
	if stx.state == stxDone || (stx.finalStatus >= 200 && (!stx.invite || status < 200 || status >= 300)) {
		return // one final answer only; 2xx of an INVITE keep coming (RFC 3261 16.7 step 10)
	}
	c := stx.c
	var err error
	if stx.src.Conn != nil {
		err = stx.src.Conn.Send(out, stx.batch)
	} else {
		err = stx.src.Socket.Send(out, stx.src.Remote, stx.batch)
	}
	if err != nil {
		c.log.Debug("response not sent upstream", telemetry.KeyStatus, status, telemetry.KeyRemote, stx.src.Remote.String(), telemetry.KeyError, err)
	}
	if stx.src.Proto == transport.UDP && (status < 200 || stx.invite) {
		// Over UDP the request may come again: it gets the last response again (and an
		// INVITE's non-2xx final is retransmitted until the ACK). Over a stream nothing is
		// retransmitted; a non-INVITE's final over UDP goes to the retransmission cache.
		stx.lastResp = slices.Clone(out)
	}
	if status < 200 {
		return
	}
	first := stx.finalStatus == 0
	stx.finalStatus = status
	if first {
		stx.final(status, out)
	}
}

// final moves the transaction to its end state after its first final response.
func (stx *serverTx) final(status int, out []byte) {
	c := stx.c
	c.m.response(stx.src.Side, status)
	stx.release()
	if stx.counted {
		stx.uncount()
		c.m.observe(stx)
	}
	now := monoNow()
	switch {
	case !stx.invite && stx.src.Proto == transport.UDP:
		// Keep only the response's bytes for Timer J, not the transaction (see retrans.go).
		c.retrans.put(stx.key, out)
		stx.finish()
	case !stx.invite:
		stx.finish()
	case status < 300:
		stx.state = stxAccepted
		stx.expireAt = now + int64(linger)
		stx.arm()
	default:
		stx.state = stxCompleted
		stx.expireAt = now + int64(linger)
		if stx.src.Proto == transport.UDP {
			stx.retransIv = T1
			stx.retransAt = now + int64(T1)
		}
		stx.arm()
	}
}

// uncount takes the transaction out of the in-flight counts.
func (stx *serverTx) uncount() {
	stx.counted = false
	stx.c.inflight.Add(-1)
	stx.c.m.inflight.Dec()
	if stx.src.Conn != nil {
		stx.src.Conn.AddInFlight(-1)
	}
}

// finish removes the transaction; its client transaction goes too unless it lingers.
func (stx *serverTx) finish() {
	if stx.state == stxDone {
		return
	}
	stx.state = stxDone
	stx.c.servers.del(stx.key, stx)
	if stx.counted {
		stx.uncount()
	}
	if ctx := stx.client; ctx != nil {
		ctx.remove()
	}
	stx.c.wheel.stop(stx)
}

// acked takes the ACK of a non-2xx final response: Timer G stops. It reports whether the ACK
// belonged here.
func (stx *serverTx) acked() bool {
	if stx.state == stxCompleted && stx.invite {
		stx.retransAt = 0
		// RFC 3261 Timer I: keep absorbing ACK retransmissions a little over UDP.
		stx.expireAt = monoNow() + int64(5*time.Second)
		stx.arm()
		return true
	}
	return stx.state == stxDeciding || stx.state == stxProceeding
}

// cancelRequested cancels a pending INVITE: branches in progress get a CANCEL, no new branch
// starts, and the caller gets 487 once the branch answers.
func (stx *serverTx) cancelRequested() {
	if !stx.invite || stx.finalStatus >= 200 || stx.cancelled {
		return
	}
	stx.cancelled = true
	if stx.state == stxDeciding {
		stx.state = stxProceeding
		stx.respondFinalLocal(487, "Request Terminated", nil)
		return
	}
	if ctx := stx.client; ctx != nil {
		ctx.cancelBranch()
		return
	}
	stx.respondFinalLocal(487, "Request Terminated", nil)
}

// arm sets the transaction's one timer to its earliest deadline.
func (stx *serverTx) arm() {
	next := stx.expireAt
	earlier := func(t int64) {
		if t != 0 && (next == 0 || t < next) {
			next = t
		}
	}
	earlier(stx.retransAt)
	if ctx := stx.client; ctx != nil {
		earlier(ctx.deadline)
		earlier(ctx.retransAt)
		if ctx.cancel != nil {
			earlier(ctx.cancel.at)
		}
	}
	if next == 0 {
		stx.c.wheel.stop(stx)
		return
	}
	stx.c.wheel.set(stx, next)
}

// fire runs what is due.
func (stx *serverTx) fire() {
	stx.mu.Lock()
	defer stx.mu.Unlock()
	if stx.state == stxDone {
		return
	}
	now := monoNow()
	due := func(t int64) bool { return t != 0 && now >= t }
	if ctx := stx.client; ctx != nil {
		ctx.tick(now, due)
	}
	if stx.state == stxDone {
		return
	}
	if due(stx.retransAt) && stx.lastResp != nil {
		_ = stx.src.Socket.WriteTo(stx.lastResp, stx.src.Remote)
		stx.retransIv = min(2*stx.retransIv, T2)
		stx.retransAt = now + int64(stx.retransIv)
	}
	if due(stx.expireAt) {
		stx.finish()
		return
	}
	stx.arm()
}

type ctxState uint8

const (
	ctxCalling    ctxState = iota // sent (or waiting for its connection); nothing back yet
	ctxProceeding                 // a provisional response came
	ctxCompleted                  // a final response came
	ctxDead                       // failed over, or removed
)

// clientTx is one branch: the request sent to one target.
type clientTx struct {
	stx    *serverTx
	key    uint64
	target Target
	out    []byte
	conn   *transport.Conn
	sock   *transport.UDPSocket
	link   *transport.Link // while it waits on a stream
	state  ctxState
	// wantCancel: a CANCEL was asked for before any provisional response; it goes on the first.
	wantCancel bool
	// connLost: the connection closed after the request was written to it; the answer may
	// still come another way until the deadline, now connLostGrace away (see ConnFailed).
	connLost bool

	deadline  int64 // monoNow
	retransAt int64
	retransIv time.Duration

	// cancel is the branch's CANCEL once sent: few branches ever have one.
	cancel      *branchCancel
	lingerUntil int64 // monoNow
}

type branchCancel struct {
	out  []byte
	key  uint64
	at   int64 // monoNow: its next retransmission over UDP
	iv   time.Duration
	done bool // answered
}

// scratch is the working memory for building one message, pooled: what is sent is copied by
// the transport, and what a transaction keeps is copied at its exact size. Buffers on the
// builder's stack would escape (through Edit's interfaces): a few hundred bytes of heap for
// every message.
type scratch struct {
	buf  []byte
	via  [160]byte    // the core's Via line of a forwarded request
	edit message.Edit // a relayed response's edit, which the policy fills in
}

var scratches = sync.Pool{New: func() any { return &scratch{buf: make([]byte, 0, 4096)} }}

func getScratch() *scratch { return scratches.Get().(*scratch) }

// put returns s to the pool with buf, which may have grown, unless it grew large.
func (s *scratch) put(buf []byte) {
	if cap(buf) <= 64<<10 {
		s.buf = buf[:0]
		scratches.Put(s)
	}
}

// newClient starts a branch toward t; false when it failed at once (the caller tries the next).
func (stx *serverTx) newClient(t *Target) bool {
	c := stx.c
	ctx := &stx.first
	if ctx.stx != nil {
		ctx = new(clientTx)
	}
	*ctx = clientTx{stx: stx, target: *t}
	// The branch lives on in the request's Via (out): a CANCEL takes it from there.
	var bb [64]byte
	branch := c.appendBranch(bb[:0], stx.lh)
	ctx.key = c.clientKey(branch, false)
	if t.Proto == transport.UDP {
		sock, err := c.tp.SocketFor(t.Side, t.Addr)
		if err != nil {
			stx.branchFailedNow(ctx, "transport", err)
			return false
		}
		ctx.sock = sock
	}
	// Built in a scratch buffer and kept at its exact size: a transaction holds it until its
	// final response, and thousands are live at once.
	sc := getScratch()
	b := c.appendRequest(sc.buf, stx.req, stx.src.Remote, stx.verdict, t, branch, ctx.sock, &sc.via)
	ctx.out = slices.Clone(b)
	sc.put(b)
	c.clients.putNew(ctx.key, ctx)
	stx.client = ctx
	now := monoNow()
	ctx.deadline = now + int64(c.cfg.HopTimeout)
	switch t.Proto {
	case transport.UDP:
		if err := ctx.sock.Send(ctx.out, t.Addr, stx.batch); err != nil {
			ctx.remove()
			stx.client = nil
			stx.branchFailedNow(ctx, "transport", err)
			return false
		}
		ctx.retransIv = T1
		ctx.retransAt = now + int64(T1)
	default:
		conn, err := c.tp.Dial(t.Side, t.Proto, t.Addr, t.Name, laneOf(stx.req))
		if err != nil {
			ctx.remove()
			stx.client = nil
			stx.branchFailedNow(ctx, "transport", err)
			return false
		}
		ctx.conn = conn
		ctx.link = &transport.Link{W: ctx}
		open, err := conn.Attach(ctx.link)
		if err != nil {
			ctx.remove()
			stx.client = nil
			stx.branchFailedNow(ctx, "transport", err)
			return false
		}
		if open {
			if err := ctx.sendNow(); err != nil {
				ctx.remove()
				stx.client = nil
				stx.branchFailedNow(ctx, "transport", err)
				return false
			}
		}
	}
	stx.arm()
	return true
}

// sendNow sends the branch's request over its open connection, if policy still permits that
// peer.
func (ctx *clientTx) sendNow() error {
	if cert := ctx.conn.PeerCert(); cert != nil {
		if err, closeConn := ctx.stx.c.pol.Permit(&ctx.target, cert); err != nil {
			if closeConn {
				ctx.conn.Close()
			}
			return err
		}
	} else if ctx.target.Proto == transport.TLS {
		return errors.New("TLS connection without a peer certificate")
	}
	return ctx.conn.SendOn(ctx.link, ctx.out, ctx.stx.batch)
}

// ConnOpened runs when the connection the branch waited for is up.
func (ctx *clientTx) ConnOpened() {
	stx := ctx.stx
	stx.mu.Lock()
	defer stx.mu.Unlock()
	if ctx.state != ctxCalling || stx.client != ctx {
		return
	}
	if err := ctx.sendNow(); err != nil {
		ctx.failed("transport", err)
	}
}

// ConnFailed runs when the branch's connection fails.
func (ctx *clientTx) ConnFailed(err error, written bool) {
	stx := ctx.stx
	stx.mu.Lock()
	defer stx.mu.Unlock()
	if stx.client != ctx || (ctx.state != ctxCalling && ctx.state != ctxProceeding) {
		return
	}
	if written {
		// The next hop may have the request and answer on a connection of its own, as sipp
		// and others do, closing this one: that close can be read before the answer, which
		// the other connection's reader has yet to hand over. Failing over now would give
		// the caller a 503 for a request that was answered, and mark a working hop down.
		// The answer gets connLostGrace; a hop that closed without one fails then.
		ctx.connLost = true
		if d := monoNow() + int64(connLostGrace); ctx.deadline == 0 || d < ctx.deadline {
			ctx.deadline = d
		}
		stx.arm()
		return
	}
	ctx.connGone(err)
}

// connLostGrace is how long a branch whose connection closed after its request was written
// waits for an answer by another way before it fails: T1, the RFC's round-trip estimate, ample
// for another connection's reader to hand over what it already has, even on a busy host. A
// peer that crashed costs this instead of the hop timeout.
const connLostGrace = T1

var errConnLost = errors.New("connection closed after the request was written, and no answer came")

// connGone fails the branch for the loss of its connection.
func (ctx *clientTx) connGone(err error) {
	stx := ctx.stx
	if ctx.state == ctxProceeding && stx.invite {
		// The callee's side is ringing: a broken connection now is an error, not a reason
		// to ring somewhere else.
		ctx.remove()
		stx.client = nil
		stx.respondFinalLocal(503, "Service Unavailable", warningLine(stx, "connection to the next hop closed"))
		return
	}
	ctx.failed("transport", err)
}

// from reports whether src may answer this branch: the side it went to and, on the external
// side, a peer policy would have sent it to. A response should come back on the connection its
// request went on (RFC 3261 18.2.2) but not every peer does so (sipp answers on its own); any
// other connection must be as trusted.
func (ctx *clientTx) from(src *transport.Source) bool {
	if src.Side != ctx.target.Side {
		return false
	}
	if ctx.conn != nil && src.Conn == ctx.conn {
		return true
	}
	if src.Side == transport.Internal {
		return true
	}
	if src.Conn == nil {
		return src.Proto == ctx.target.Proto && src.Remote == ctx.target.Addr
	}
	cert := src.Conn.PeerCert()
	if cert == nil {
		return false
	}
	err, _ := ctx.stx.c.pol.Permit(&ctx.target, cert)
	return err == nil
}

// failed gives up on this branch and tries the next target.
func (ctx *clientTx) failed(reason string, err error) {
	stx := ctx.stx
	ctx.remove()
	stx.client = nil
	c := stx.c
	if reason != "503" {
		c.health.failed(&ctx.target, stx.viaHost, reason)
	}
	c.m.failovers.WithLabelValues(reason).Inc()
	c.logTarget(stx, &ctx.target).Info("next hop failed", telemetry.KeyReason, reason, telemetry.KeyError, errString(err))
	if stx.cancelled {
		stx.respondFinalLocal(487, "Request Terminated", nil)
		return
	}
	stx.startNext()
}

// branchFailedNow records a branch that failed before it was sent.
func (stx *serverTx) branchFailedNow(ctx *clientTx, reason string, err error) {
	c := stx.c
	c.health.failed(&ctx.target, stx.viaHost, reason)
	c.m.failovers.WithLabelValues(reason).Inc()
	c.logTarget(stx, &ctx.target).Info("next hop failed", telemetry.KeyReason, reason, telemetry.KeyError, errString(err))
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// remove takes the branch out of the table (and off its connection); it answers nothing more.
func (ctx *clientTx) remove() {
	if ctx.state == ctxDead {
		return
	}
	ctx.state = ctxDead
	ctx.stx.c.clients.del(ctx.key, ctx)
	if ctx.cancel != nil {
		ctx.stx.c.clients.del(ctx.cancel.key, ctx)
		ctx.cancel.at = 0
	}
	if ctx.link != nil {
		transport.Unlink(ctx.link)
	}
	ctx.deadline, ctx.retransAt = 0, 0
}

// tick runs the branch's due timers.
func (ctx *clientTx) tick(now int64, due func(int64) bool) {
	stx := ctx.stx
	if due(ctx.retransAt) && ctx.sock != nil && ctx.state != ctxDead {
		_ = ctx.sock.WriteTo(ctx.out, ctx.target.Addr)
		if stx.invite {
			ctx.retransIv *= 2 // Timer A doubles until Timer B (here: the hop timeout)
		} else {
			ctx.retransIv = min(2*ctx.retransIv, T2)
		}
		ctx.retransAt = now + int64(ctx.retransIv)
	}
	if cl := ctx.cancel; cl != nil && due(cl.at) && ctx.sock != nil && !cl.done {
		_ = ctx.sock.WriteTo(cl.out, ctx.target.Addr)
		cl.iv = min(2*cl.iv, T2)
		cl.at = now + int64(cl.iv)
	}
	if due(ctx.lingerUntil) && ctx.state == ctxCompleted {
		ctx.remove()
		return
	}
	if !due(ctx.deadline) {
		return
	}
	switch {
	case ctx.connLost:
		ctx.connLost = false
		ctx.connGone(errConnLost)
	case ctx.state == ctxCalling:
		ctx.failed(telemetry.ReasonTimeout, errTimeout)
	case ctx.state == ctxProceeding && stx.invite && stx.cancelled:
		// The branch never answered its CANCEL: the caller still gets its 487.
		ctx.deadline = 0
		stx.respondFinalLocal(487, "Request Terminated", nil)
	case ctx.state == ctxProceeding && stx.invite:
		// Timer C: the callee rang too long. Cancel the branch and tell the caller.
		ctx.deadline = 0
		ctx.cancelBranch()
		stx.respondFinalLocal(408, "Request Timeout", nil)
	case ctx.state == ctxProceeding:
		ctx.failed(telemetry.ReasonTimeout, errTimeout)
	default:
		ctx.deadline = 0
	}
}

var errTimeout = errors.New("no final response within the hop timeout")

// onResponse takes a response of this branch (the transaction's lock is held).
func (ctx *clientTx) onResponse(m *message.Msg) {
	stx := ctx.stx
	status := m.Status
	if ctx.state == ctxDead || stx.state == stxDone {
		if stx.invite && status >= 200 && status < 300 && stx.state != stxDone {
			stx.relay(m) // a late 2xx must still reach the caller (RFC 3261 16.7 step 10)
		}
		return
	}
	if ctx.connLost {
		// The next hop answers another way: the connection it closed no longer matters, and
		// the branch's deadline is a hop timeout again (an INVITE's Timer C is set below).
		ctx.connLost = false
		ctx.deadline = monoNow() + int64(stx.c.cfg.HopTimeout)
	}
	if status < 200 {
		ctx.retransAt = 0
		if ctx.state == ctxCalling {
			ctx.state = ctxProceeding
			if stx.invite {
				ctx.deadline = monoNow() + int64(ctx.stx.c.cfg.InviteTimeout)
			} else {
				// RFC 3261 17.1.2.2: a non-INVITE branch keeps retransmitting at T2.
				if ctx.sock != nil {
					ctx.retransIv = T2
					ctx.retransAt = monoNow() + int64(T2)
				}
			}
			if ctx.wantCancel {
				ctx.sendCancel()
			}
		} else if stx.invite && !stx.cancelled {
			ctx.deadline = monoNow() + int64(ctx.stx.c.cfg.InviteTimeout)
		}
		if status > 100 {
			stx.relay(m) // 100 Trying is hop by hop (RFC 3261 16.7 step 3)
		}
		stx.arm()
		return
	}
	// A final response.
	ctx.state = ctxCompleted
	ctx.deadline, ctx.retransAt = 0, 0
	ctx.stx.c.health.succeeded(&ctx.target)
	if stx.invite && status >= 300 {
		ctx.ackNon2xx(m)
	}
	if status == 503 && stx.targetsLeft() && !stx.cancelled && stx.finalStatus == 0 {
		// A 503 fails this request over to the next hop and marks nothing (the hop is up).
		ctx.failed("503", nil)
		return
	}
	stx.relay(m)
	switch {
	case stx.invite:
		// Keep the branch to pass 2xx retransmissions on, or to re-ACK retransmitted
		// non-2xx finals over UDP (Timer M / Timer D).
		ctx.lingerUntil = monoNow() + int64(linger)
		stx.arm()
	default:
		ctx.remove()
	}
}

// relay forwards a response of a branch upstream, edited for the side it goes to.
func (stx *serverTx) relay(m *message.Msg) {
	c := stx.c
	// The Vias upstream are the request's own, as it came: the response's are the same when the
	// next hop is right (RFC 3261 8.2.6.2), but a response must not be able to steer where its
	// copy goes, and topology hiding sent the request without them.
	sc := getScratch()
	e := &sc.edit
	*e = message.Edit{PopVia: true, DropVias: true, MaxForwards: message.NoMaxForwards,
		InsertVias: stx.up.Vias()}
	flow := &stx.flow
	if flow.CallIDRewritten {
		e.CallID = stx.up.CallID()
	}
	c.pol.EditResponse(flow, m, e)
	out := message.AppendEdited(sc.buf, m, e)
	*e = message.Edit{} // what the policy put in it is not kept alive by the pool
	stx.sendUpstream(out, m.Status)
	sc.put(out)
}

// ackNon2xx acknowledges a non-2xx final response of an INVITE branch hop by hop (RFC 3261
// 17.1.1.3): same Request-URI, Via, Route, From, Call-ID and CSeq number as the INVITE, the
// To of the response.
func (ctx *clientTx) ackNon2xx(res *message.Msg) {
	var inv message.Msg
	if err := message.Parse(&inv, ctx.out, false, message.Limits{}); err != nil {
		return
	}
	out := appendAck(nil, &inv, res)
	ctx.sendRaw(out)
}

// cancelBranch cancels the branch's INVITE: at once if a provisional response came (RFC 3261
// 9.1), else on the first one.
func (ctx *clientTx) cancelBranch() {
	if ctx.state == ctxProceeding {
		ctx.sendCancel()
		return
	}
	if ctx.state == ctxCalling {
		ctx.wantCancel = true
		// No provisional yet: waiting longer than a hop timeout for one is pointless.
		if d := monoNow() + int64(ctx.stx.c.cfg.HopTimeout); ctx.deadline == 0 || d < ctx.deadline {
			ctx.deadline = d
		}
		ctx.stx.arm()
	}
}

func (ctx *clientTx) sendCancel() {
	if ctx.cancel != nil {
		return
	}
	var inv message.Msg
	if err := message.Parse(&inv, ctx.out, false, message.Limits{}); err != nil {
		return
	}
	cl := &branchCancel{out: appendCancel(nil, &inv), key: ctx.stx.c.clientKey(inv.Bytes(inv.TopVia.Branch), true)}
	ctx.cancel = cl
	ctx.stx.c.clients.putNew(cl.key, ctx)
	ctx.sendRaw(cl.out)
	if ctx.sock != nil {
		cl.iv = T1
		cl.at = monoNow() + int64(T1)
	}
	// The 487 is due soon; if it never comes, the caller still gets one.
	ctx.deadline = monoNow() + int64(ctx.stx.c.cfg.HopTimeout)
	ctx.stx.arm()
}

// cancelAnswered takes the answer to the branch's CANCEL.
func (ctx *clientTx) cancelAnswered() {
	if ctx.cancel != nil {
		ctx.cancel.done = true
		ctx.cancel.at = 0
	}
}

// sendRaw sends bytes of the branch (an ACK, a CANCEL) the way its request went.
func (ctx *clientTx) sendRaw(b []byte) {
	if ctx.sock != nil {
		_ = ctx.sock.Send(b, ctx.target.Addr, ctx.stx.batch)
		return
	}
	if ctx.conn != nil {
		_ = ctx.conn.Send(b, ctx.stx.batch)
	}
}

func localAddrToward(dst netip.Addr) netip.Addr {
	c, err := net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(netip.AddrPortFrom(dst, 9)))
	if err != nil {
		return netip.IPv4Unspecified()
	}
	defer c.Close()
	return c.LocalAddr().(*net.UDPAddr).AddrPort().Addr().Unmap()
}
