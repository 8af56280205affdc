// Package transport carries SIP bytes for the proxy: UDP sockets read in batches, TCP and TLS
// connections each read by one goroutine that frames and hands every message over inline, and
// writes coalesced per connection. It enforces the limits an edge needs against slow or hostile
// peers: message size, time to receive a message once it started, idle time, connections per
// source address and per side, and one budget of bytes held for partial messages across all
// connections. It knows nothing of routing or policy.
package transport

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sipfed/terraform-provider-sip/proxy/ratelog"
	"github.com/sipfed/terraform-provider-sip/proxy/sip/message"
	"github.com/sipfed/terraform-provider-sip/proxy/telemetry"
)

// Side is which way a socket or connection faces.
type Side uint8

// Sides.
const (
	Internal Side = iota // toward the enterprise's own servers
	External             // toward partners
)

func (s Side) String() string {
	if s == External {
		return telemetry.SideExternal
	}
	return telemetry.SideInternal
}

// Protocol is a SIP transport protocol.
type Protocol uint8

// Protocols.
const (
	UDP Protocol = iota
	TCP
	TLS
)

func (p Protocol) String() string {
	switch p {
	case TCP:
		return "tcp"
	case TLS:
		return "tls"
	}
	return "udp"
}

// Via is the protocol's token in a Via header.
func (p Protocol) Via() string {
	switch p {
	case TCP:
		return "TCP"
	case TLS:
		return "TLS"
	}
	return "UDP"
}

// ParseProtocol reads "udp", "tcp" or "tls" (any case).
func ParseProtocol(s string) (Protocol, bool) {
	switch {
	case message.EqualFoldASCII([]byte(s), "udp"):
		return UDP, true
	case message.EqualFoldASCII([]byte(s), "tcp"):
		return TCP, true
	case message.EqualFoldASCII([]byte(s), "tls"):
		return TLS, true
	}
	return 0, false
}

// Source is where a message came from.
type Source struct {
	Side   Side
	Proto  Protocol
	Conn   *Conn      // TCP and TLS
	Socket *UDPSocket // UDP
	Remote netip.AddrPort
	// Arrived is when the message's bytes arrived: the kernel's receive time for UDP where
	// the platform gives it, else when the read returned.
	Arrived time.Time
	// Standing, on a stream, is how long its receive queue has gone without draining (see
	// backlog): zero when it drained at the last look.
	Standing time.Duration
	// Batch, when set, is the reading goroutine's: UDP sends made while handling the message
	// may go in it, sent when the goroutine is done with what it read. Never keep it past the
	// handling.
	Batch *Batch
}

// Handler gets every message that parsed. It runs on the reading goroutine: m and its buffer
// are valid only until it returns, so it copies what it keeps.
type Handler interface {
	HandleMessage(m *message.Msg, src *Source)
}

// Limits bound what peers can make the proxy hold. Zero values take the defaults.
type Limits struct {
	// MaxMessageSize is the largest message accepted (513 above it where a response can go).
	MaxMessageSize int
	// MessageTimeout bounds the time from a message's first byte to its last on a stream.
	MessageTimeout time.Duration
	// IdleTimeout closes a connection of that side that carried nothing for so long.
	IdleTimeout [2]time.Duration
	// HandshakeTimeout bounds a TLS handshake, both ways.
	HandshakeTimeout time.Duration
	// MaxConnsPerAddress bounds the accepted connections from one source address, per side;
	// 0 means no bound.
	MaxConnsPerAddress [2]int
	// MaxConns bounds the connections of a side, accepted and dialled.
	MaxConns [2]int
	// PartialBudget bounds the bytes held for messages not yet whole, all connections
	// together; a connection that would take it over is closed.
	PartialBudget int64
	// WriteQueue bounds the bytes waiting to be written on one connection.
	WriteQueue int
	// DialTimeout bounds a dial and its TLS handshake.
	DialTimeout time.Duration
	// ConnsPerHop is how many connections carry requests to one next hop (see Dial); 0 means
	// one per core the process may use, up to four.
	ConnsPerHop int
}

// Defaults of Limits.
const (
	DefaultMaxMessageSize   = 65535
	DefaultMessageTimeout   = 10 * time.Second
	DefaultIdleInternal     = 10 * time.Minute
	DefaultIdleExternal     = 2 * time.Minute
	DefaultHandshakeTimeout = 10 * time.Second
	DefaultMaxConnsPerAddr  = 64
	DefaultMaxConns         = 20000
	DefaultPartialBudget    = 32 << 20
	DefaultWriteQueue       = 4 << 20
	DefaultDialTimeout      = 5 * time.Second
)

// SetDefaults fills in zero limits.
func (l *Limits) SetDefaults() {
	if l.MaxMessageSize <= 0 {
		l.MaxMessageSize = DefaultMaxMessageSize
	}
	if l.MessageTimeout <= 0 {
		l.MessageTimeout = DefaultMessageTimeout
	}
	if l.IdleTimeout[Internal] <= 0 {
		l.IdleTimeout[Internal] = DefaultIdleInternal
	}
	if l.IdleTimeout[External] <= 0 {
		l.IdleTimeout[External] = DefaultIdleExternal
	}
	if l.HandshakeTimeout <= 0 {
		l.HandshakeTimeout = DefaultHandshakeTimeout
	}
	for s := range l.MaxConns {
		if l.MaxConns[s] <= 0 {
			l.MaxConns[s] = DefaultMaxConns
		}
	}
	if l.PartialBudget <= 0 {
		l.PartialBudget = DefaultPartialBudget
	}
	if l.WriteQueue <= 0 {
		l.WriteQueue = DefaultWriteQueue
	}
	if l.ConnsPerHop <= 0 {
		l.ConnsPerHop = min(runtime.GOMAXPROCS(0), 4)
	}
	if l.DialTimeout <= 0 {
		l.DialTimeout = DefaultDialTimeout
	}
}

// Config is a transport's setup.
type Config struct {
	Handler Handler
	Limits  Limits
	// ServerTLS is the TLS server configuration of each side's listeners (external: mutual).
	ServerTLS [2]*tls.Config
	// ClientTLS is the TLS client configuration of each side's dialled connections.
	ClientTLS  [2]*tls.Config
	Log        *slog.Logger
	Registerer prometheus.Registerer
}

// Transport owns the sockets and connections.
type Transport struct {
	cfg  Config
	lim  Limits
	h    Handler
	log  *slog.Logger
	rlog *ratelog.Limiter
	m    *metrics

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu        sync.Mutex
	listeners []*listener
	sockets   []*UDPSocket
	ephemeral [2][2]*UDPSocket      // side, family (0 v4, 1 v6): sockets for sends where no listener fits
	perAddr   [2]map[netip.Addr]int // by side
	conns     [2]map[*Conn]struct{}
	closing   bool

	pool    sync.Map // poolKey -> *Conn: dialled connections
	partial atomic.Int64
}

// New builds a transport; bind listeners with Listen, then Serve.
func New(cfg Config) (*Transport, error) {
	if cfg.Handler == nil {
		return nil, errors.New("transport: no handler")
	}
	cfg.Limits.SetDefaults()
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	m, err := newMetrics(cfg.Registerer)
	if err != nil {
		return nil, fmt.Errorf("transport: metrics: %w", err)
	}
	t := &Transport{
		cfg: cfg, lim: cfg.Limits, h: cfg.Handler, log: cfg.Log, m: m,
		rlog:    ratelog.New(cfg.Log, 5, 10*time.Second),
		perAddr: [2]map[netip.Addr]int{{}, {}},
	}
	t.conns[Internal], t.conns[External] = map[*Conn]struct{}{}, map[*Conn]struct{}{}
	t.ctx, t.cancel = context.WithCancel(context.Background())
	m.partial.Set(0)
	return t, nil
}

// Limits are the limits in force.
func (t *Transport) Limits() Limits { return t.lim }

// Listen binds a listener of that side: udp, tcp or tls on addr (port 0 picks one). It returns
// the bound address.
func (t *Transport) Listen(side Side, proto Protocol, addr string) (netip.AddrPort, error) {
	switch proto {
	case UDP:
		s, err := t.listenUDP(side, addr)
		if err != nil {
			return netip.AddrPort{}, err
		}
		return s.local, nil
	default:
		if proto == TLS && t.cfg.ServerTLS[side] == nil {
			return netip.AddrPort{}, fmt.Errorf("transport: %s listener %s needs TLS settings", side, addr)
		}
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			return netip.AddrPort{}, fmt.Errorf("transport: listen %s://%s: %w", proto, addr, err)
		}
		l := &listener{t: t, side: side, proto: proto, ln: ln, local: addrPortOf(ln.Addr())}
		t.mu.Lock()
		t.listeners = append(t.listeners, l)
		t.mu.Unlock()
		return l.local, nil
	}
}

// Serve runs every bound listener and socket until Close. It returns at once.
func (t *Transport) Serve() {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, l := range t.listeners {
		if !l.serving {
			l.serving = true
			t.goRun(l.acceptLoop)
		}
	}
	for _, s := range t.sockets {
		s.start()
	}
}

func (t *Transport) goRun(fn func()) {
	t.wg.Add(1)
	go func() {
		defer t.wg.Done()
		fn()
	}()
}

// StopAccepting closes the stream listeners: connections open stay up. UDP sockets keep
// serving, since answers to transactions in flight still go out on them.
func (t *Transport) StopAccepting() {
	t.mu.Lock()
	ls := t.listeners
	t.mu.Unlock()
	for _, l := range ls {
		_ = l.ln.Close()
	}
}

// Flush waits until every open connection has written what was queued on it, or until ctx
// ends: a drain's last responses are queued, and Close would drop what no writer has written.
func (t *Transport) Flush(ctx context.Context) {
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for !t.flushed() {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

func (t *Transport) flushed() bool {
	t.mu.Lock()
	var cs []*Conn
	for side := range t.conns {
		for c := range t.conns[side] {
			cs = append(cs, c)
		}
	}
	t.mu.Unlock()
	for _, c := range cs {
		c.mu.Lock()
		// A connection still being dialled will not carry its queue before the close.
		busy := c.state == connOpen && (len(c.out) > 0 || c.writing)
		c.mu.Unlock()
		if busy {
			return false
		}
	}
	return true
}

// Close stops everything at once.
func (t *Transport) Close() {
	t.mu.Lock()
	if t.closing {
		t.mu.Unlock()
		return
	}
	t.closing = true
	ls, ss := t.listeners, t.sockets
	var cs []*Conn
	for side := range t.conns {
		for c := range t.conns[side] {
			cs = append(cs, c)
		}
	}
	t.mu.Unlock()
	t.cancel()
	for _, l := range ls {
		_ = l.ln.Close()
	}
	for _, s := range ss {
		_ = s.pc.Close()
	}
	for _, c := range cs {
		c.close(net.ErrClosed)
	}
	t.wg.Wait()
}

// Conns counts the open connections of a side.
func (t *Transport) Conns(side Side) int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.conns[side])
}

// PartialBytes is what the budget holds now.
func (t *Transport) PartialBytes() int64 { return t.partial.Load() }

// track registers a connection; false when the side is full or the transport closing.
func (t *Transport) track(c *Conn, perAddr bool) (bool, string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closing {
		return false, telemetry.ReasonConnectionLimit
	}
	if len(t.conns[c.side]) >= t.lim.MaxConns[c.side] {
		return false, telemetry.ReasonConnectionLimit
	}
	if perAddr {
		if max := t.lim.MaxConnsPerAddress[c.side]; max > 0 && t.perAddr[c.side][c.remote.Addr()] >= max {
			return false, telemetry.ReasonPerAddressLimit
		}
		t.perAddr[c.side][c.remote.Addr()]++
		c.countedAddr = true
	}
	t.conns[c.side][c] = struct{}{}
	t.m.conns[c.side][c.proto].Inc()
	return true, ""
}

func (t *Transport) untrack(c *Conn) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if _, ok := t.conns[c.side][c]; !ok {
		return
	}
	delete(t.conns[c.side], c)
	t.m.conns[c.side][c.proto].Dec()
	if c.countedAddr {
		a := c.remote.Addr()
		if t.perAddr[c.side][a]--; t.perAddr[c.side][a] <= 0 {
			delete(t.perAddr[c.side], a)
		}
	}
}

// refused counts and logs (rate-limited) a refusal.
func (t *Transport) refused(side Side, reason string, remote netip.AddrPort, detail string) {
	t.m.refused.WithLabelValues(side.String(), reason).Inc()
	t.rlog.Log(context.Background(), slog.LevelWarn, "refused:"+reason, "connection or message refused",
		slog.String(telemetry.KeySide, side.String()), slog.String(telemetry.KeyReason, reason),
		slog.String(telemetry.KeyRemote, remote.String()), slog.String(telemetry.KeyError, detail))
}

// PeerCert is the certificate a TLS peer presented (nil otherwise).
func (c *Conn) PeerCert() *x509.Certificate { return c.cert }

func addrPortOf(a net.Addr) netip.AddrPort {
	switch v := a.(type) {
	case *net.TCPAddr:
		return v.AddrPort()
	case *net.UDPAddr:
		return v.AddrPort()
	}
	ap, _ := netip.ParseAddrPort(a.String())
	return ap
}

func unmapAP(ap netip.AddrPort) netip.AddrPort {
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
}

// Inject hands b to the handler as if it had arrived from src, parsing and refusing it as a read
// would (datagram: as UDP framing, else as one framed stream message). Replaying captures and
// fuzzing go through here.
func (t *Transport) Inject(b []byte, datagram bool, src *Source) {
	var m message.Msg
	if src.Arrived.IsZero() {
		src.Arrived = time.Now()
	}
	t.handle(b, datagram, &m, src)
}

// UDPSockets returns the bound UDP listeners of a side.
func (t *Transport) UDPSockets(side Side) []*UDPSocket {
	t.mu.Lock()
	defer t.mu.Unlock()
	var out []*UDPSocket
	for _, s := range t.sockets {
		if s.side == side && !s.ephemeral {
			out = append(out, s)
		}
	}
	return out
}
