package transport

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sipfed/terraform-provider-sip/proxy/sip/message"
	"github.com/sipfed/terraform-provider-sip/proxy/telemetry"
)

// Errors of sends.
var (
	ErrClosed       = errors.New("connection closed")
	ErrWriteQueue   = errors.New("connection write queue full")
	errBudget       = errors.New("partial message budget exhausted")
	errMessageSlow  = errors.New("message not received in time")
	errIdle         = errors.New("idle")
	errTooLargeConn = errors.New("message too large")
)

type connState uint8

const (
	connDialing connState = iota
	connOpen
	connClosed
)

// Conn is a TCP or TLS connection, accepted or dialled. One goroutine reads it and hands each
// message to the handler; another writes what Send queued, many messages per write.
type Conn struct {
	t        *Transport
	side     Side
	proto    Protocol
	nc       net.Conn
	remote   netip.AddrPort
	local    netip.AddrPort
	outbound bool
	key      poolKey
	// cert is the TLS peer's certificate, set once the handshake is done.
	cert *x509.Certificate

	countedAddr bool

	mu      sync.Mutex
	state   connState
	out     []byte
	free    []byte
	err     error
	waiters Link // sentinel of the list of Links waiting on this connection
	writing bool // a writer goroutine runs; it ends when the queue is empty
	// held: a reading goroutine's batch holds the writer back until its Flush (see Send).
	held    bool
	closed  chan struct{}
	partial int64
	// queued and written count the bytes ever queued by Send and written to the socket: a
	// Link's sent (queued when its message was) tells whether the message was written.
	// writeEnd is where the write in progress ends: a peer that read it may close before the
	// writer is back to count it.
	queued, written, writeEnd uint64

	// bl and queue belong to the read loop: how long what it reads waited in the kernel, and
	// whether that wait is a standing queue.
	bl    backlog
	queue Window

	// inflight counts the core's transactions from this connection that await a final
	// response (see Core's admission).
	inflight atomic.Int64
}

// Queue is the connection's standing-queue window (see Window): admission control's view of
// how far behind the proxy is on this connection.
func (c *Conn) Queue() *Window { return &c.queue }

// InFlight is the count the core keeps of its transactions from this connection awaiting a
// final response; AddInFlight moves it.
func (c *Conn) InFlight() int64 { return c.inflight.Load() }

// AddInFlight adds d to InFlight.
func (c *Conn) AddInFlight(d int64) { c.inflight.Add(d) }

// Waiter is told what becomes of a connection it waits on.
type Waiter interface {
	// ConnOpened runs once when a connection that was being dialled when the link was
	// attached is up.
	ConnOpened()
	// ConnFailed runs once when the connection fails or closes while the link is attached.
	// written: what was last sent with the link (SendOn) was all written to the socket before
	// the end, so the peer may have it and may answer some other way.
	ConnFailed(err error, written bool)
}

// Link attaches a Waiter to a connection: a sender keeps one while it waits for a connection to
// open or for an answer over it, so that it can fail over at once instead of at its timer.
// Callbacks run outside any lock of the connection.
type Link struct {
	W       Waiter
	prev    *Link
	next    *Link
	conn    atomic.Pointer[Conn]
	pending bool
	sent    uint64 // the connection's queued count just past what was sent with the link
}

func newConn(t *Transport, side Side, proto Protocol, remote netip.AddrPort) *Conn {
	c := &Conn{t: t, side: side, proto: proto, remote: unmapAP(remote), closed: make(chan struct{})}
	c.waiters.next, c.waiters.prev = &c.waiters, &c.waiters
	c.queue.InitMean(time.Now())
	return c
}

// Side is the side the connection faces.
func (c *Conn) Side() Side { return c.side }

// Protocol is TCP or TLS.
func (c *Conn) Protocol() Protocol { return c.proto }

// Remote is the peer's address.
func (c *Conn) Remote() netip.AddrPort { return c.remote }

// Local is this end's address.
func (c *Conn) Local() netip.AddrPort { return c.local }

// Outbound reports whether the proxy dialled the connection.
func (c *Conn) Outbound() bool { return c.outbound }

// Done is closed when the connection is.
func (c *Conn) Done() <-chan struct{} { return c.closed }

// Attach links w to the connection. open reports whether the connection is up (send now);
// when it is still being dialled, w.W.ConnOpened runs once it is up. Either way,
// w.W.ConnFailed runs if it fails while w is attached. err: the connection is closed.
func (c *Conn) Attach(w *Link) (open bool, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.state == connClosed {
		if c.err != nil {
			return false, c.err
		}
		return false, ErrClosed
	}
	if w.conn.Load() != c {
		if w.conn.Load() != nil {
			c.mu.Unlock()
			Unlink(w)
			c.mu.Lock()
			if c.state == connClosed {
				return false, ErrClosed
			}
		}
		w.conn.Store(c)
		w.sent = 0
		w.prev, w.next = c.waiters.prev, &c.waiters
		c.waiters.prev.next = w
		c.waiters.prev = w
	}
	w.pending = c.state == connDialing
	return !w.pending, nil
}

// Send queues b to be written; it never blocks on the network. Bytes sent while the connection
// is being dialled go out once it is up. With a batch (the reading goroutine's), the writer
// starts at the batch's Flush, once everything that one read brought is handled, so all that
// handling sent on this connection goes out in one write: a writer started at once would run
// on another core and write each message with a system call of its own.
func (c *Conn) Send(b []byte, batch *Batch) error { return c.send(b, batch, nil) }

// SendOn is Send for a sender attached with w: if the connection ends, w's ConnFailed says
// whether b was written first.
func (c *Conn) SendOn(w *Link, b []byte, batch *Batch) error { return c.send(b, batch, w) }

func (c *Conn) send(b []byte, batch *Batch, w *Link) error {
	c.mu.Lock()
	if c.state == connClosed {
		err := c.err
		c.mu.Unlock()
		if err == nil {
			err = ErrClosed
		}
		return err
	}
	if len(c.out)+len(b) > c.t.lim.WriteQueue {
		c.mu.Unlock()
		c.t.refused(c.side, telemetry.ReasonWriteQueue, c.remote, "write queue full")
		return ErrWriteQueue
	}
	c.out = append(c.out, b...)
	c.queued += uint64(len(b))
	if w != nil && w.conn.Load() == c {
		w.sent = c.queued
	}
	spawn := false
	switch {
	case c.state != connOpen || c.writing:
		// Dialling (start spawns the writer), or a writer runs and will take it.
	case batch != nil:
		if !c.held {
			c.held = true
			batch.conns = append(batch.conns, c)
		}
	default:
		c.writing, spawn = true, true
	}
	c.mu.Unlock()
	if spawn {
		c.t.goRun(c.writeLoop)
	}
	return nil
}

// release starts the writer for what a batch held back (see Send), at the batch's Flush.
func (c *Conn) release() {
	c.mu.Lock()
	c.held = false
	spawn := c.state == connOpen && !c.writing && len(c.out) > 0
	if spawn {
		c.writing = true
	}
	c.mu.Unlock()
	if spawn {
		c.t.goRun(c.writeLoop)
	}
}

// Unlink detaches w from the connection it is attached to, if any.
func Unlink(w *Link) {
	c := w.conn.Load()
	if c == nil {
		return
	}
	c.mu.Lock()
	if w.conn.Load() == c && w.next != nil {
		w.prev.next, w.next.prev = w.next, w.prev
		w.prev, w.next = nil, nil
		w.conn.Store(nil)
		w.pending = false
	}
	c.mu.Unlock()
}

// Close closes the connection; links waiting on it fail.
func (c *Conn) Close() { c.close(ErrClosed) }

func (c *Conn) close(err error) {
	c.mu.Lock()
	if c.state == connClosed {
		c.mu.Unlock()
		return
	}
	c.state = connClosed
	c.err = err
	type failure struct {
		w       Waiter
		written bool
	}
	var failed []failure
	for w := c.waiters.next; w != &c.waiters; {
		next := w.next
		w.prev, w.next = nil, nil
		w.conn.Store(nil)
		w.pending = false
		done := c.written
		if c.writing {
			done = c.writeEnd
		}
		failed = append(failed, failure{w.W, w.sent > 0 && w.sent <= done})
		w = next
	}
	c.waiters.next, c.waiters.prev = &c.waiters, &c.waiters
	c.out, c.free = nil, nil
	close(c.closed)
	nc := c.nc
	c.mu.Unlock()
	if nc != nil {
		_ = nc.Close()
	}
	if c.outbound {
		c.t.pool.CompareAndDelete(c.key, c)
	}
	c.t.untrack(c)
	if len(failed) > 0 {
		// On a goroutine of their own: whoever closes may hold a lock a waiter takes.
		go func() {
			for _, f := range failed {
				f.w.ConnFailed(err, f.written)
			}
		}()
	}
}

// start runs the reader and the writer of an established connection.
func (c *Conn) start() {
	if tc, ok := c.nc.(*tls.Conn); ok {
		if cs := tc.ConnectionState(); len(cs.PeerCertificates) > 0 {
			c.cert = cs.PeerCertificates[0]
		}
	}
	c.mu.Lock()
	if c.state == connClosed {
		c.mu.Unlock()
		return
	}
	c.state = connOpen
	spawn := len(c.out) > 0 && !c.writing
	c.writing = spawn
	var opened []Waiter
	for w := c.waiters.next; w != &c.waiters; w = w.next {
		if w.pending {
			w.pending = false
			opened = append(opened, w.W)
		}
	}
	c.mu.Unlock()
	c.t.goRun(c.readLoop)
	if spawn {
		c.t.goRun(c.writeLoop)
	}
	for _, w := range opened {
		w.ConnOpened()
	}
}

// writeTimeout bounds one write: a peer that stops reading loses its connection, not the
// proxy's memory.
const writeTimeout = 10 * time.Second

// writeLoop writes until the queue is empty, then ends: an idle connection holds no writer.
func (c *Conn) writeLoop() {
	for {
		c.mu.Lock()
		if c.state == connClosed || len(c.out) == 0 {
			c.writing = false
			c.mu.Unlock()
			return
		}
		data := c.out
		c.out = c.free[:0]
		c.free = nil
		c.writeEnd = c.written + uint64(len(data))
		c.mu.Unlock()
		_ = c.nc.SetWriteDeadline(time.Now().Add(writeTimeout))
		n, err := c.nc.Write(data)
		c.mu.Lock()
		c.written += uint64(n)
		if err != nil {
			c.writing = false
			c.mu.Unlock()
			c.close(err)
			return
		}
		if c.free == nil && cap(data) <= 256<<10 {
			c.free = data[:0]
		}
		c.mu.Unlock()
	}
}

// Read buffers start small: most connections carry small messages, and a proxy with thousands
// of connections must not hold a large buffer for each.
const (
	readBufStart = 4 << 10
	readBufSlack = 4 << 10
)

func (c *Conn) readLoop() {
	// The read buffer's share of the budget is this goroutine's alone: it gives it back when
	// it stops, whoever closed the connection.
	defer c.charge(0)
	lim := c.t.lim
	mlim := message.Limits{MaxSize: lim.MaxMessageSize, MaxHeaders: message.DefaultLimits.MaxHeaders}
	buf := make([]byte, 0, readBufStart)
	var m message.Msg
	batch := NewBatch()
	src := Source{Side: c.side, Proto: c.proto, Conn: c, Remote: c.remote, Batch: batch}
	var partialSince time.Time
	for {
		now := time.Now()
		deadline := now.Add(lim.IdleTimeout[c.side])
		if len(buf) > 0 {
			deadline = partialSince.Add(lim.MessageTimeout)
		}
		_ = c.nc.SetReadDeadline(deadline)
		if cap(buf)-len(buf) < 1024 {
			size := min(max(2*cap(buf), len(buf)+readBufStart), lim.MaxMessageSize+readBufSlack)
			if size <= len(buf) {
				// Frame has refused anything this large already; this is a guard.
				c.fail(telemetry.ReasonTooLarge, errTooLargeConn)
				return
			}
			// A buffer beyond the small one is paid for from the budget before it exists:
			// the budget bounds memory, not a count after the fact.
			if !c.charge(int64(size)) {
				return
			}
			nb := make([]byte, len(buf), size)
			copy(nb, buf)
			buf = nb
		}
		n, err := c.nc.Read(buf[len(buf):cap(buf)])
		if n > 0 && len(buf) == 0 {
			partialSince = time.Now()
		}
		buf = buf[:len(buf)+n]
		if err != nil {
			var ne net.Error
			switch {
			case errors.As(err, &ne) && ne.Timeout() && len(buf) > 0:
				c.fail(telemetry.ReasonMessageTimeout, errMessageSlow)
			case errors.As(err, &ne) && ne.Timeout():
				c.close(errIdle)
			default:
				c.close(err)
			}
			return
		}
		now = time.Now()
		src.Arrived = now.Add(-c.bl.waited(now))
		src.Standing = c.bl.standing(now)
		consumed, ok := c.frameAll(buf, &m, &src, mlim)
		batch.Flush()
		if !ok {
			return
		}
		rest := len(buf) - consumed
		if consumed > 0 {
			copy(buf, buf[consumed:])
			buf = buf[:rest]
			if rest > 0 {
				partialSince = time.Now()
			}
		}
		if rest == 0 && cap(buf) > readBufStart {
			buf = make([]byte, 0, readBufStart)
			c.charge(0)
		}
	}
}

// frameAll hands every whole message in buf to the handler and returns how much it used; false
// when the connection was closed for a framing error.
func (c *Conn) frameAll(buf []byte, m *message.Msg, src *Source, mlim message.Limits) (int, bool) {
	used := 0
	for used < len(buf) {
		skip, n, hdrEnd, ferr := message.Frame(buf[used:], mlim)
		if skip > 0 {
			if skip >= 4 {
				// RFC 5626 4.4.1: a double CRLF ping gets a single CRLF pong.
				_ = c.Send([]byte("\r\n"), src.Batch)
			}
			used += skip
			continue
		}
		if ferr != nil {
			c.refuseFrame(buf[used:], hdrEnd, ferr, m, src)
			return used, false
		}
		if n == 0 {
			return used, true
		}
		c.t.handle(buf[used:used+n], false, m, src)
		used += n
	}
	return used, true
}

// refuseFrame answers a message the stream cannot carry (513 or 400) when its headers allow a
// response, then closes the connection: what follows cannot be framed.
func (c *Conn) refuseFrame(b []byte, hdrEnd int, ferr error, m *message.Msg, src *Source) {
	status, reason, kind := 400, "Bad Request", telemetry.ReasonFraming
	if errors.Is(ferr, message.ErrTooLarge) {
		status, reason, kind = 513, "Message Too Large", telemetry.ReasonTooLarge
	}
	if hdrEnd > 0 {
		// Parse the header block alone, as a datagram, to copy what the response needs.
		hb := make([]byte, hdrEnd)
		copy(hb, b[:hdrEnd])
		_ = message.Parse(m, hb, true, message.Limits{MaxHeaders: message.DefaultLimits.MaxHeaders})
		if m.CanRespond() {
			out := message.AppendResponse(nil, m, src.Remote, message.Response{Status: status, Reason: reason})
			_ = c.Send(out, nil)
		}
	}
	c.t.m.parseErrors.WithLabelValues(c.side.String(), statusLabel(status)).Inc()
	c.fail(kind, ferr)
}

// fail closes the connection for a limit, counting and logging it, after what was queued is
// written (a refusal just sent should get out).
func (c *Conn) fail(reason string, err error) {
	c.t.refused(c.side, reason, c.remote, err.Error())
	c.flushAndClose(err)
}

func (c *Conn) flushAndClose(err error) {
	deadline := time.Now().Add(time.Second)
	// What a batch holds back goes now: a closing read loop flushes its batch only after this.
	c.release()
	for time.Now().Before(deadline) {
		c.mu.Lock()
		// Written, not just taken: the writer empties the queue before its write, and a
		// close in between would lose what it holds (a 513 that never reached the peer).
		empty := (len(c.out) == 0 && !c.writing) || c.state == connClosed
		c.mu.Unlock()
		if empty {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	c.close(err)
}

// charge sets the connection's share of the partial-message budget to held bytes (the size of a
// read buffer grown past the small one); false when that would exceed the budget, and the
// connection was closed.
func (c *Conn) charge(held int64) bool {
	delta := held - c.partial
	if delta == 0 {
		return true
	}
	if delta > 0 && c.t.partial.Add(delta) > c.t.lim.PartialBudget {
		c.t.partial.Add(-delta)
		c.fail(telemetry.ReasonPartialBudget, errBudget)
		return false
	}
	if delta < 0 {
		c.t.partial.Add(delta)
	}
	c.partial = held
	c.t.m.partial.Add(float64(delta))
	return true
}

func statusLabel(status int) string {
	switch status {
	case 0:
		return "0"
	case 400:
		return "400"
	case 505:
		return "505"
	case 513:
		return "513"
	}
	return "other"
}

// handle parses one message and hands it over, or answers the refusal Parse decided on.
func (t *Transport) handle(b []byte, datagram bool, m *message.Msg, src *Source) {
	mlim := message.Limits{MaxSize: t.lim.MaxMessageSize, MaxHeaders: message.DefaultLimits.MaxHeaders}
	err := message.Parse(m, b, datagram, mlim)
	if err == nil {
		t.h.HandleMessage(m, src)
		return
	}
	var perr *message.Error
	if !errors.As(err, &perr) {
		return
	}
	t.m.parseErrors.WithLabelValues(src.Side.String(), statusLabel(perr.Status)).Inc()
	t.rlog.Log(context.Background(), slog.LevelInfo, "parse", "message refused",
		slog.String(telemetry.KeySide, src.Side.String()), slog.String(telemetry.KeyProtocol, src.Proto.String()),
		slog.String(telemetry.KeyRemote, src.Remote.String()), slog.Int(telemetry.KeyStatus, perr.Status),
		slog.String(telemetry.KeyReason, perr.Reason), slog.String(telemetry.KeyExcerpt, message.Sanitize(b, 64)))
	if perr.Status == 0 || !m.CanRespond() || m.MethodIs(message.ACK) {
		return
	}
	out := message.AppendResponse(nil, m, src.Remote, message.Response{Status: perr.Status, Reason: reasonPhrase(perr.Status)})
	_ = t.Reply(src, out)
}

func reasonPhrase(status int) string {
	switch status {
	case 505:
		return "Version Not Supported"
	case 513:
		return "Message Too Large"
	}
	return "Bad Request"
}

// Reply sends b back the way src came: on its connection, or from its socket to its address.
func (t *Transport) Reply(src *Source, b []byte) error {
	if src.Conn != nil {
		return src.Conn.Send(b, src.Batch)
	}
	if src.Socket != nil {
		return src.Socket.Send(b, src.Remote, src.Batch)
	}
	return os.ErrInvalid
}
