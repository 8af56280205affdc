// Package relay is sipfed's SIP runtime: a transaction-stateful RFC 3261 proxy on sipgo between
// the enterprise's own servers (the internal side) and federated partners (the external side,
// mutual TLS). Every request reads the routing snapshot once, through an atomic pointer, so
// configuration changes apply to the next request without locks or restarts.
package relay

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"

	"github.com/sipfed/terraform-provider-sip/internal/api"
	"github.com/sipfed/terraform-provider-sip/proxy/routing"
)

// Snapshots gives the current routing snapshot; package state's holder implements it.
type Snapshots interface {
	Load() *routing.Snapshot
}

// side is one sipgo stack: its own transport and transaction layers. Requests arriving on the
// external side come from partners; everything else comes from the internal side. Each side also
// sends the requests bound its way, so that responses come back to the stack that owns the
// client transaction.
type side struct {
	name string
	ua   *sipgo.UserAgent
	tpl  *sip.TransportLayer
	txl  *sip.TransactionLayer
}

type boundListener struct {
	Listener
	side   *side
	closer io.Closer
	serve  func() error
}

// Relay is the SIP proxy. Create it with New, serve with Run.
type Relay struct {
	cfg   Config
	snaps Snapshots
	dns   routing.DNS
	log   *slog.Logger
	m     *metrics

	in, ex    *side
	listeners []*boundListener
	bound     []Listener

	branchPrefix string
	extPort      int

	ctx       context.Context
	cancel    context.CancelFunc
	inflight  atomic.Int64
	closing   atomic.Bool
	closeOnce sync.Once

	decisions sync.Pool
	retrans   *retransCache
	workers   *workers
	overload  *overload
	srcIPs    sync.Map // netip.Addr -> net.IP: local address used toward a UDP destination
	rrCache   sync.Map // host|port|transport -> sip.Header
	tuned     sync.Map // *sip.UDPConnection -> struct{}: client sockets whose buffers are set
}

// New builds the relay and binds its listeners, so that their addresses are known (ports 0 pick
// free ones) before Run serves them. dns may be nil: names then resolve through the system
// resolver.
func New(cfg Config, snaps Snapshots, dns routing.DNS) (*Relay, error) {
	cfg.setDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if snaps == nil {
		return nil, errors.New("relay: no snapshot source")
	}
	m, err := newMetrics(cfg.Registerer)
	if err != nil {
		return nil, fmt.Errorf("relay: metrics: %w", err)
	}
	if dns == nil {
		// One resolver for routing, explain and the relay, configured by --dns-server: a second
		// path to DNS would answer differently from what `sipfed-proxy route` explains.
		return nil, errors.New("relay: no DNS resolver")
	}
	var marker [3]byte
	_, _ = rand.Read(marker[:])
	r := &Relay{
		cfg: cfg, snaps: snaps, dns: dns, log: cfg.Logger, m: m,
		branchPrefix: sip.RFC3261BranchMagicCookie + "sf" + hex.EncodeToString(marker[:]) + "x",
	}
	r.ctx, r.cancel = context.WithCancel(context.Background())
	r.decisions.New = func() any { return new(routing.Decision) }
	r.retrans = newRetransCache()
	go r.retrans.run(r.ctx)
	r.overload = newOverload(cfg.OverloadDelay, r.log, func(on bool) {
		if on {
			r.m.overloaded.Set(1)
		} else {
			r.m.overloaded.Set(0)
		}
	})
	if cfg.OverloadDelay >= 0 {
		go r.overload.run(r.ctx)
	}
	r.workers = newWorkers(r.handle, 512)
	r.workers.onPanic = func(req *sip.Request, v any) {
		r.log.Error("request handler panicked; transaction dropped", "method", string(req.Method), "panic", fmt.Sprint(v), "stack", string(debug.Stack()))
	}

	var inTLS, exTLS *tls.Config
	if cfg.TLS != nil {
		inTLS = cfg.TLS.ClientConfig(nil)
		exTLS = cfg.TLS.ClientConfig(r.checkPartnerServer)
	}
	if r.in, err = r.newSide("internal", inTLS); err != nil {
		r.Close()
		return nil, err
	}
	if r.ex, err = r.newSide("external", exTLS); err != nil {
		r.Close()
		return nil, err
	}
	for _, l := range cfg.Internal {
		if err := r.bind(r.in, l); err != nil {
			r.Close()
			return nil, err
		}
	}
	for _, l := range cfg.External {
		if err := r.bind(r.ex, l); err != nil {
			r.Close()
			return nil, err
		}
		if r.extPort == 0 {
			r.extPort = int(r.bound[len(r.bound)-1].AddrPort().Port())
		}
	}
	return r, nil
}

func (r *Relay) newSide(name string, dialTLS *tls.Config) (*side, error) {
	lg := r.log.With("component", "sipgo", "side", name)
	// Connections that carry nothing for IdleTimeout close: partners come and go, and a
	// connection per partner edge would otherwise stay forever.
	// A next hop that does not accept the connection fails over after HopTimeout, not after
	// sipgo's minute.
	dialer := func(laddr net.Addr) net.Dialer { return net.Dialer{Timeout: r.cfg.HopTimeout, LocalAddr: laddr} }
	tcp := &sip.TransportTCP{ReadTimeout: r.cfg.IdleTimeout, DialerCreate: dialer}
	tlsT := &sip.TransportTLS{TransportTCP: &sip.TransportTCP{ReadTimeout: r.cfg.IdleTimeout, DialerCreate: dialer}}
	ua, err := sipgo.NewUA(
		sipgo.WithUserAgent("sipfed"),
		sipgo.WithUserAgentHostname(r.cfg.NodeFQDN),
		sipgo.WithUserAgenTLSConfig(dialTLS),
		sipgo.WithUserAgentTransportLayerOptions(
			sip.WithTransportLayerLogger(lg),
			sip.WithTransportLayerTransports(sip.TransportsConfig{TCP: tcp, TLS: tlsT}),
		),
		sipgo.WithUserAgentTransactionLayerOptions(
			sip.WithTransactionLayerLogger(lg),
			// A response matching no transaction is a retransmission of one already
			// forwarded (or garbage): dropping it is what a stateful proxy may do.
			sip.WithTransactionLayerUnhandledResponseHandler(func(*sip.Response) {}),
			// A next hop that closes the connection fails its branch at once, not at Timer B.
			sip.WithTransactionLayerTerminateOnConnClose(),
		),
	)
	if err != nil {
		return nil, fmt.Errorf("relay: %s side: %w", name, err)
	}
	s := &side{name: name, ua: ua, tpl: ua.TransportLayer(), txl: ua.TransactionLayer()}
	s.txl.OnRequest(func(req *sip.Request, tx *sip.ServerTx) { r.workers.submit(job{s, req, tx}) })
	return s, nil
}

func (r *Relay) bind(s *side, l Listener) error {
	b := &boundListener{side: s}
	switch l.Transport {
	case api.ProtocolUDP:
		pc, err := net.ListenPacket("udp", l.Addr)
		if err != nil {
			return fmt.Errorf("relay: listen %s: %w", l, err)
		}
		tuneUDP(pc)
		b.closer, b.serve = pc, func() error { return s.tpl.ServeUDP(pc) }
		b.Listener = Listener{Transport: l.Transport, Addr: pc.LocalAddr().String()}
	case api.ProtocolTCP:
		ln, err := net.Listen("tcp", l.Addr)
		if err != nil {
			return fmt.Errorf("relay: listen %s: %w", l, err)
		}
		b.closer, b.serve = ln, func() error { return s.tpl.ServeTCP(ln) }
		b.Listener = Listener{Transport: l.Transport, Addr: ln.Addr().String()}
	case api.ProtocolTLS:
		raw, err := net.Listen("tcp", l.Addr)
		if err != nil {
			return fmt.Errorf("relay: listen %s: %w", l, err)
		}
		cfg := r.cfg.TLS.ServerConfig()
		dir := dirOutbound
		if s == r.ex {
			cfg = r.cfg.TLS.MutualServerConfig(r.checkPartnerClient)
			dir = dirInbound
		}
		onFail := r.m.handshakes.WithLabelValues(dir, "handshake").Inc
		hl := newHandshakingListener(raw, cfg, r.cfg.HandshakeTimeout, r.log, onFail)
		b.closer, b.serve = hl, func() error { return s.tpl.ServeTLS(hl) }
		b.Listener = Listener{Transport: l.Transport, Addr: raw.Addr().String()}
	default:
		return fmt.Errorf("relay: listener %s: unknown transport", l)
	}
	r.listeners = append(r.listeners, b)
	r.bound = append(r.bound, b.Listener)
	r.log.Info("SIP listener bound", "side", s.name, "listener", b.String())
	return nil
}

// InternalAddrs are the bound internal listeners, actual ports filled in.
func (r *Relay) InternalAddrs() []Listener { return r.addrs(r.in) }

// ExternalAddrs are the bound external listeners, actual ports filled in.
func (r *Relay) ExternalAddrs() []Listener { return r.addrs(r.ex) }

func (r *Relay) addrs(s *side) []Listener {
	var out []Listener
	for _, b := range r.listeners {
		if b.side == s {
			out = append(out, b.Listener)
		}
	}
	return out
}

// Run serves the listeners until ctx is done, then stops accepting, lets the transactions in
// flight finish (up to ShutdownTimeout) and closes everything. It returns nil after a shutdown
// asked for by ctx, or the error of a listener that failed.
func (r *Relay) Run(ctx context.Context) error {
	errc := make(chan error, len(r.listeners))
	for _, b := range r.listeners {
		go func() {
			err := b.serve()
			if err != nil && errors.Is(err, net.ErrClosed) {
				err = nil
			}
			if err != nil {
				err = fmt.Errorf("relay: %s: %w", b.Listener, err)
			}
			errc <- err
		}()
	}
	var runErr error
	select {
	case <-ctx.Done():
	case runErr = <-errc:
		if runErr == nil && !r.closing.Load() {
			runErr = errors.New("relay: a listener stopped")
		}
	}
	r.shutdown()
	return runErr
}

func (r *Relay) shutdown() {
	r.closing.Store(true)
	for _, b := range r.listeners {
		_ = b.closer.Close()
	}
	deadline := time.Now().Add(r.cfg.ShutdownTimeout)
	for r.inflight.Load() > 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	r.Close()
}

// Close releases everything at once, without waiting for transactions; Run does it on return.
func (r *Relay) Close() {
	r.closeOnce.Do(func() {
		r.closing.Store(true)
		r.cancel()
		r.workers.stop()
		for _, b := range r.listeners {
			_ = b.closer.Close()
		}
		for _, s := range []*side{r.in, r.ex} {
			if s != nil {
				_ = s.ua.Close()
			}
		}
	})
}

// udpBuffer is the socket buffer size of UDP sockets: at 14,000 requests/s the default 208 KiB
// holds 30 ms of traffic, which a GC cycle on one core can exceed.
// A bigger buffer only queues requests past their retransmission timer (500 ms), which makes
// overload worse: 1 MiB is about 140 ms at 14,000/s.
const udpBuffer = 1 << 20

func tuneUDP(pc net.PacketConn) {
	if c, ok := pc.(*net.UDPConn); ok {
		_ = c.SetReadBuffer(udpBuffer)
		_ = c.SetWriteBuffer(udpBuffer)
	}
}

// tuneClientUDP sets the buffers of a UDP socket sipgo opened for a branch, once.
func (r *Relay) tuneClientUDP(c sip.Connection) {
	uc, ok := c.(*sip.UDPConnection)
	if !ok || uc.Listener {
		return
	}
	if _, seen := r.tuned.LoadOrStore(uc, struct{}{}); !seen {
		tuneUDP(uc.PacketConn)
	}
}

// sourceIP is the local address the kernel picks toward dst. UDP branches bind to it, so that
// the Via sent-by they carry is an address the next hop can answer to, not 0.0.0.0.
func (r *Relay) sourceIP(dst netip.Addr) net.IP {
	if v, ok := r.srcIPs.Load(dst); ok {
		return v.(net.IP)
	}
	c, err := net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(netip.AddrPortFrom(dst, 9)))
	if err != nil {
		return nil
	}
	ip := c.LocalAddr().(*net.UDPAddr).IP
	_ = c.Close()
	r.srcIPs.Store(dst, ip)
	return ip
}
