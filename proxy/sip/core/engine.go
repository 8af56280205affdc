package core

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/sipfed/terraform-provider-sip/proxy/sip/message"
	"github.com/sipfed/terraform-provider-sip/proxy/sip/transport"
	"github.com/sipfed/terraform-provider-sip/proxy/telemetry"
)

// Core is the SIP core. Create it with New; it implements transport.Handler.
type Core struct {
	cfg Config
	tp  *transport.Transport
	pol Policy
	log *slog.Logger
	m   *metrics
	k   keys

	servers *table[*serverTx]
	clients *table[*clientTx]
	retrans *retransCache
	wheel   *wheel
	over    *overload
	health  *health

	branchPrefix string
	// localTag is the To tag of responses the core writes itself: an ACK whose To tag has it
	// acknowledges one of them and goes no further.
	localTag []byte

	inflight atomic.Int64
	draining atomic.Bool
	ctx      context.Context
	cancel   context.CancelFunc
	wg       sync.WaitGroup
}

// New builds a core. Set it as the transport's handler (SetTransport) before the transport
// serves.
func New(cfg Config) (*Core, error) {
	cfg.setDefaults()
	if cfg.Policy == nil {
		return nil, errors.New("core: no policy")
	}
	m, err := newMetrics(cfg.Registerer)
	if err != nil {
		return nil, fmt.Errorf("core: metrics: %w", err)
	}
	c := &Core{
		cfg: cfg, tp: cfg.Transport, pol: cfg.Policy, log: cfg.Log, m: m, k: newKeys(),
		servers: newTable[*serverTx](), clients: newTable[*clientTx](),
		retrans:      newRetransCache(),
		wheel:        newWheel(monoNow(), (*serverTx).fire),
		branchPrefix: newBranchPrefix(),
	}
	c.localTag = []byte("sf" + c.branchPrefix[len(message.BranchCookie)+2:len(c.branchPrefix)-1] + "t")
	c.ctx, c.cancel = context.WithCancel(context.Background())
	c.over = newOverload(cfg.Overload, m, c.log)
	c.health = newHealth(c, cfg.HealthBackoff)
	c.goRun(func() { c.retrans.run(c.ctx) })
	c.goRun(func() { c.wheel.run(c.ctx) })
	if !cfg.Overload.Disabled {
		c.goRun(func() { c.over.probe(c.ctx) })
	}
	return c, nil
}

// SetTransport gives the core its transport (which needs the core as its handler first).
func (c *Core) SetTransport(t *transport.Transport) { c.tp = t }

func (c *Core) goRun(fn func()) {
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		fn()
	}()
}

// Close stops the core's goroutines; transactions left are dropped.
func (c *Core) Close() {
	c.cancel()
	c.wg.Wait()
}

// InFlight counts the transactions that have no final response yet.
func (c *Core) InFlight() int64 { return c.inflight.Load() }

// admitInFlight applies the in-flight bound to a new request from src. Past MaxInFlight a
// request is refused, unless it comes on a connection that has fewer than quietInFlight
// transactions in flight: one sender flooding the proxy must not take the whole bound from a
// partner that sends a request now and then. Those go over the bound by an eighth of it at
// most. UDP has no connection to tell its senders apart by: past the bound, it is refused.
func (c *Core) admitInFlight(src *transport.Source) bool {
	connN := int64(-1)
	if src.Conn != nil {
		connN = src.Conn.InFlight()
	}
	return admitInFlight(c.inflight.Load(), connN, int64(c.cfg.MaxInFlight))
}

// admitInFlight decides with n transactions in flight in all, connN of them from the request's
// connection (-1: it came over UDP).
func admitInFlight(n, connN, bound int64) bool {
	switch {
	case n < bound:
		return true
	case n >= bound+bound/8 || connN < 0:
		return false
	default:
		return connN < quietInFlight
	}
}

// quietInFlight is how many transactions in flight a connection may have and still be
// admitted past the in-flight bound.
const quietInFlight = 8

// HandleMessage is the transport's entry point: every message that parsed comes here, inline.
func (c *Core) HandleMessage(m *message.Msg, src *transport.Source) {
	if !m.IsRequest {
		c.handleResponse(m, src)
		return
	}
	switch {
	case m.MethodIs(message.ACK):
		c.handleAck(m, src)
	case m.MethodIs(message.CANCEL):
		c.handleCancel(m, src)
	default:
		c.handleRequest(m, src)
	}
}

// serverKey identifies the server transaction of a request (RFC 3261 17.2.3): its branch and
// sent-by with the method's class. A request without an RFC 3261 branch (RFC 2543) is keyed by
// what identifies it instead (17.2.3's fallback).
func (c *Core) serverKey(m *message.Msg, class byte) uint64 {
	var h = c.k.hasher()
	if m.HasRFC3261Branch() {
		h.Write(m.Bytes(m.TopVia.Branch))
	} else {
		h.Write(m.Bytes(m.RURI.Whole))
		h.Write(m.Bytes(m.From.Tag))
		h.Write(m.Bytes(m.CallID))
		var n [4]byte
		n[0], n[1], n[2], n[3] = byte(m.CSeqNum>>24), byte(m.CSeqNum>>16), byte(m.CSeqNum>>8), byte(m.CSeqNum)
		h.Write(n[:])
		h.Write(m.Bytes(m.TopVia.Whole))
	}
	h.Write(m.Bytes(m.TopVia.Host))
	h.Byte(byte(m.TopVia.Port >> 8))
	h.Byte(byte(m.TopVia.Port))
	h.Byte(class)
	if class == classOther {
		h.Write(m.Bytes(m.Method))
	}
	return h.Sum()
}

func requestClass(m *message.Msg) byte {
	switch {
	case m.MethodIs(message.INVITE), m.MethodIs(message.ACK):
		return classInvite
	case m.MethodIs(message.CANCEL):
		return classCancel
	}
	return classOther
}

// clientKey identifies a client transaction by the branch the core gave it; its CANCEL shares
// the branch, so the method's class is part of the key.
func (c *Core) clientKey(branch []byte, cancel bool) uint64 {
	h := c.k.hasher()
	h.Write(branch)
	if cancel {
		h.Byte(classCancel)
	}
	return h.Sum()
}

// handleRequest takes a request that is not ACK or CANCEL.
func (c *Core) handleRequest(m *message.Msg, src *transport.Source) {
	class := requestClass(m)
	key := c.serverKey(m, class)
	if stx, ok := c.servers.get(key); ok {
		stx.retransmission(m, src)
		return
	}
	if src.Proto == transport.UDP && class == classOther {
		if b, ok := c.retrans.get(key); ok {
			_ = src.Socket.Send(b, src.Remote, src.Batch)
			return
		}
	}
	c.m.requests[dir(src.Side)].Inc()
	inDialog := m.To.HasTag
	if m.MaxForwards == 0 {
		c.reject(m, src, 483, "Too Many Hops", nil)
		return
	}
	// Admission before any further work: under overload a refusal must be the cheapest answer.
	if !inDialog {
		if c.draining.Load() {
			c.m.shedOne(telemetry.ReasonDraining)
			c.reject(m, src, 503, "Service Unavailable", retryAfter)
			return
		}
		if c.over.admit(src) != nil {
			c.reject(m, src, 503, "Service Unavailable", retryAfter)
			return
		}
	}
	if h, ok := m.First(message.ProxyRequire); ok {
		// RFC 3261 16.3 step 5: this proxy supports no extension.
		extra := append([]byte("Unsupported: "), m.Bytes(h.Value)...)
		c.reject(m, src, 420, "Bad Extension", append(extra, "\r\n"...))
		return
	}
	lh := loopHash(m)
	if c.isLoop(m, lh) {
		c.reject(m, src, 482, "Loop Detected", nil)
		return
	}
	if !c.admitInFlight(src) {
		c.m.shedOne(telemetry.ReasonInFlight)
		c.reject(m, src, 503, "Service Unavailable", retryAfter)
		return
	}
	v := getVerdict()
	c.pol.Decide(&Request{Msg: m, Src: src, InDialog: inDialog}, v)
	switch v.Action {
	case Reject, Answer:
		c.reject(m, src, v.Status, v.Reason, v.Extra)
		putVerdict(v)
		return
	case Forward, Defer:
	default:
		c.reject(m, src, 500, "Server Internal Error", nil)
		putVerdict(v)
		return
	}
	stx := c.newServerTx(m, src, key, class == classInvite, lh)
	if stx == nil {
		putVerdict(v)
		return
	}
	stx.mu.Lock()
	stx.batch = src.Batch
	defer func() { stx.batch = nil; stx.mu.Unlock() }()
	if stx.invite {
		// RFC 3261 16.2: the proxy answers 100 Trying at once; the caller stops retransmitting.
		stx.respondLocal(100, "Trying", nil)
	}
	if v.Action == Defer {
		putVerdict(v)
		stx.state = stxDeciding
		req := cloneMsg(m)
		stx.req = req
		c.goRun(func() { c.decideBlocking(stx, req) })
		return
	}
	stx.forward(v) // the transaction's now (see serverTx.release)
	if stx.req != nil {
		stx.req = cloneMsg(m) // targets are left: m's buffer goes back to its reader
	}
}

var retryAfter = []byte("Retry-After: 5\r\n")

// decideBlocking asks the policy again on a goroutine of its own, where it may wait for DNS.
// req is the transaction's copy of its request, passed in: a CANCEL may end the transaction
// (and let go of stx.req) while the policy still reads it.
func (c *Core) decideBlocking(stx *serverTx, req *message.Msg) {
	v := getVerdict()
	src := stx.src.source()
	c.pol.Decide(&Request{Msg: req, Src: &src, InDialog: req.To.HasTag, MayBlock: true}, v)
	stx.mu.Lock()
	defer stx.mu.Unlock()
	if stx.state != stxDeciding {
		putVerdict(v)
		return // cancelled or drained meanwhile
	}
	stx.state = stxProceeding
	switch v.Action {
	case Forward:
		stx.forward(v)
	case Defer:
		putVerdict(v)
		stx.respondFinalLocal(500, "Server Internal Error", nil)
	default:
		stx.respondFinalLocal(v.Status, v.Reason, v.Extra)
		putVerdict(v)
	}
}

// verdicts are reused: a decision is made for every request, and a Verdict (with its Edit) is
// over 400 bytes, with a new array of targets each time.
var verdicts = sync.Pool{New: func() any { return new(Verdict) }}

func getVerdict() *Verdict { return verdicts.Get().(*Verdict) }

// putVerdict returns v, which nothing refers to any more, emptied but for its targets' array.
func putVerdict(v *Verdict) {
	ts := v.Targets
	clear(ts) // what the targets name (strings of a routing snapshot) is not kept alive
	*v = Verdict{Targets: ts[:0]}
	verdicts.Put(v)
}

// reject answers a request without keeping a transaction.
func (c *Core) reject(m *message.Msg, src *transport.Source, status int, reason string, extra []byte) {
	if reason == "" {
		reason = reasonPhrase(status)
	}
	c.m.response(src.Side, status)
	c.m.refusedOne(src.Side, status)
	sc := getScratch()
	out := message.AppendResponse(sc.buf, m, src.Remote, message.Response{Status: status, Reason: reason, ToTag: c.localTag, Extra: extra})
	if err := c.tp.Reply(src, out); err != nil { // it copies
		c.log.Debug("response not sent", telemetry.KeyStatus, status, telemetry.KeyError, err)
	}
	sc.put(out)
}

// handleResponse takes a response: it belongs to one of the core's client transactions, by its
// top Via, or it is dropped.
func (c *Core) handleResponse(m *message.Msg, src *transport.Source) {
	branch := m.Bytes(m.TopVia.Branch)
	if !c.ownBranch(branch) {
		c.m.stray.Inc()
		return
	}
	cancel := m.CSeqMethodIs(message.CANCEL)
	ctx, ok := c.clients.get(c.clientKey(branch, cancel))
	if !ok {
		if p, ok := c.health.probeFor(branch); ok {
			p.answered()
			return
		}
		c.m.stray.Inc()
		return
	}
	if !ctx.from(src) {
		// A response for this branch from another peer than the one it went to: a partner
		// cannot answer for another.
		c.m.stray.Inc()
		return
	}
	stx := ctx.stx
	stx.mu.Lock()
	stx.batch = src.Batch
	defer func() { stx.batch = nil; stx.mu.Unlock() }()
	if cancel {
		ctx.cancelAnswered()
		return
	}
	ctx.onResponse(m)
}

// handleAck takes an ACK: of a non-2xx final response the core sent (it ends there), or of a
// 2xx (a request of its own, routed by its dialog's route set, with no transaction).
func (c *Core) handleAck(m *message.Msg, src *transport.Source) {
	if stx, ok := c.servers.get(c.serverKey(m, classInvite)); ok {
		stx.mu.Lock()
		acked := stx.acked()
		stx.mu.Unlock()
		if acked {
			return
		}
	}
	if hasPrefix(m.Bytes(m.To.Tag), c.localTag) {
		return // acknowledges a response the core wrote itself
	}
	if m.MaxForwards == 0 {
		return
	}
	lh := loopHash(m)
	if c.isLoop(m, lh) {
		return
	}
	v := &Verdict{}
	c.pol.Decide(&Request{Msg: m, Src: src, InDialog: true}, v)
	if v.Action == Defer {
		cp := cloneMsg(m)
		srcCopy := *src
		c.goRun(func() {
			v := &Verdict{}
			c.pol.Decide(&Request{Msg: cp, Src: &srcCopy, InDialog: true, MayBlock: true}, v)
			if v.Action == Forward {
				c.forwardStateless(cp, &srcCopy, v, lh)
			}
		})
		return
	}
	if v.Action == Forward {
		c.forwardStateless(m, src, v, lh)
	}
}

// forwardStateless sends an ACK of a 2xx to the first target, once.
func (c *Core) forwardStateless(m *message.Msg, src *transport.Source, v *Verdict, lh uint32) {
	for i := range v.Targets {
		t := &v.Targets[i]
		var branch [64]byte
		var via [160]byte
		out := c.appendRequest(nil, m, src.Remote, v, t, c.appendStatelessBranch(branch[:0], m, lh), nil, &via)
		switch t.Proto {
		case transport.UDP:
			sock, err := c.tp.SocketFor(t.Side, t.Addr)
			if err == nil && sock.Send(out, t.Addr, src.Batch) == nil {
				return
			}
		default:
			conn, err := c.tp.Dial(t.Side, t.Proto, t.Addr, t.Name, laneOf(m))
			if err != nil {
				continue
			}
			if cert := conn.PeerCert(); cert != nil || t.Proto == transport.TLS {
				if cert != nil {
					if err, closeConn := c.pol.Permit(t, cert); err != nil {
						if closeConn {
							conn.Close()
						}
						continue
					}
				}
			}
			if conn.Send(out, src.Batch) == nil {
				return
			}
		}
	}
}

// handleCancel takes a CANCEL: it answers it, and cancels the pending branches of the INVITE
// it names (RFC 3261 16.10).
func (c *Core) handleCancel(m *message.Msg, src *transport.Source) {
	stx, ok := c.servers.get(c.serverKey(m, classInvite))
	if !ok {
		c.reject(m, src, 481, "Call/Transaction Does Not Exist", nil)
		return
	}
	out := message.AppendResponse(nil, m, src.Remote, message.Response{Status: 200, Reason: "OK", ToTag: c.localTag})
	_ = c.tp.Reply(src, out)
	stx.mu.Lock()
	stx.batch = src.Batch
	stx.cancelRequested()
	stx.batch = nil
	stx.mu.Unlock()
}

func hasPrefix(b, p []byte) bool { return len(b) >= len(p) && string(b[:len(p)]) == string(p) }

// appendRequest writes the request of one branch toward t: the core's Via, then the request as
// the verdict edits it.
func (c *Core) appendRequest(dst []byte, m *message.Msg, from netip.AddrPort, v *Verdict, t *Target, branch []byte, sock *transport.UDPSocket, via *[160]byte) []byte {
	e := v.Edit
	vb := append(via[:0], "Via: SIP/2.0/"...)
	vb = append(vb, t.Proto.Via()...)
	vb = append(vb, ' ')
	host, port := v.ViaHost, v.ViaPort
	if t.Proto == transport.UDP && sock != nil {
		// A UDP answer goes to sent-by: it must be the socket's own address and port.
		host, port = c.udpViaHost(sock, t.Addr), int(sock.Local().Port())
	}
	if host == "" {
		host = c.cfg.ViaHost
	}
	if strings.IndexByte(host, ':') >= 0 && host[0] != '[' {
		// Only an IPv6 address has a colon; a name or an IPv4 address goes as it is.
		// (netip.ParseAddr would tell too, but allocates an error for every name.)
		vb = append(vb, '[')
		vb = append(vb, host...)
		vb = append(vb, ']')
	} else {
		vb = append(vb, host...)
	}
	if port > 0 {
		vb = append(vb, ':')
		vb = message.AppendUint(vb, uint64(port))
	}
	vb = append(vb, ";branch="...)
	vb = append(vb, branch...)
	if t.Proto == transport.UDP {
		vb = append(vb, ";rport"...)
	}
	vb = append(vb, "\r\n"...)
	e.Via = vb
	mf := m.MaxForwards - 1
	if m.MaxForwards < 0 {
		mf = 70 // RFC 3261 16.6 step 3
	}
	e.MaxForwards = mf
	if !v.Hide {
		e.ReceivedFrom = from
	}
	return message.AppendEdited(dst, m, &e)
}

// udpViaHost is the address a UDP answer can reach: the socket's, or when it is bound to a
// wildcard address, the one the kernel sends from toward dst.
func (c *Core) udpViaHost(sock *transport.UDPSocket, dst netip.AddrPort) string {
	a := sock.Local().Addr()
	if !a.IsUnspecified() {
		return sock.LocalHost()
	}
	return sourceIP(dst.Addr())
}

var srcIPs sync.Map // netip.Addr -> string

// sourceIP is the local address the kernel picks toward dst.
func sourceIP(dst netip.Addr) string {
	if v, ok := srcIPs.Load(dst); ok {
		return v.(string)
	}
	a := localAddrToward(dst).String()
	srcIPs.Store(dst, a)
	return a
}
