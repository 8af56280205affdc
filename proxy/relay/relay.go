// Package relay assembles sipfed's SIP runtime: the transport (package transport) carries bytes,
// the core (package core) runs RFC 3261 proxy transactions, and the federation policy (package
// federation) decides where each request may go and how it must look. Every request reads the
// routing snapshot once, through an atomic pointer, so configuration changes apply to the next
// request without locks or restarts.
package relay

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"sync"
	"time"

	"github.com/sipfed/terraform-provider-sip/internal/api"
	"github.com/sipfed/terraform-provider-sip/proxy/federation"
	"github.com/sipfed/terraform-provider-sip/proxy/ratelog"
	"github.com/sipfed/terraform-provider-sip/proxy/routing"
	"github.com/sipfed/terraform-provider-sip/proxy/sip/core"
	"github.com/sipfed/terraform-provider-sip/proxy/sip/message"
	"github.com/sipfed/terraform-provider-sip/proxy/sip/topology"
	"github.com/sipfed/terraform-provider-sip/proxy/sip/transport"
	"github.com/sipfed/terraform-provider-sip/proxy/telemetry"
)

// Snapshots gives the current routing snapshot; package state's holder implements it.
type Snapshots = federation.Snapshots

// Relay is the SIP proxy. Create it with New, serve with Run.
type Relay struct {
	cfg   Config
	snaps Snapshots
	log   *slog.Logger
	rlog  *ratelog.Limiter
	tp    *transport.Transport
	core  *core.Core
	pol   *federation.Policy
	bound []boundListener

	closeOnce sync.Once
	closed    chan struct{}
}

type boundListener struct {
	Listener
	side transport.Side
}

// handler lets the transport exist before the core it hands messages to.
type handler struct{ c *core.Core }

func (h *handler) HandleMessage(m *message.Msg, src *transport.Source) { h.c.HandleMessage(m, src) }

// New builds the relay and binds its listeners, so that their addresses are known (ports 0 pick
// free ones) before Run serves them.
func New(cfg Config, snaps Snapshots, dns routing.DNS) (*Relay, error) {
	cfg.setDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if snaps == nil {
		return nil, errors.New("relay: no snapshot source")
	}
	if dns == nil {
		// One resolver for routing, explain and the relay, configured by --dns-server: a second
		// path to DNS would answer differently from what `sipfed-proxy route` explains.
		return nil, errors.New("relay: no DNS resolver")
	}
	key := cfg.DeploymentKey
	if key == nil {
		// A proxy without a store (tests, tools) still needs a key; its markers then last as
		// long as the process.
		var err error
		if key, err = topology.NewKey(); err != nil {
			return nil, err
		}
	}
	codec, err := topology.New(key)
	if err != nil {
		return nil, fmt.Errorf("relay: %w", err)
	}
	r := &Relay{cfg: cfg, snaps: snaps, log: cfg.Logger, closed: make(chan struct{})}
	r.rlog = ratelog.New(r.log, 5, 10*time.Second)
	h := &handler{}
	tcfg := transport.Config{Handler: h, Limits: cfg.Limits, Log: r.log, Registerer: cfg.Registerer}
	if cfg.TLS != nil {
		tcfg.ServerTLS[transport.Internal] = cfg.TLS.ServerConfig()
		tcfg.ServerTLS[transport.External] = cfg.TLS.MutualServerConfig(r.checkPartnerClient)
		tcfg.ClientTLS[transport.Internal] = cfg.TLS.ClientConfig(nil)
		tcfg.ClientTLS[transport.External] = cfg.TLS.ClientConfig(r.checkPartnerServer)
	}
	if r.tp, err = transport.New(tcfg); err != nil {
		return nil, err
	}
	for _, l := range cfg.Internal {
		if err := r.bind(transport.Internal, l); err != nil {
			r.tp.Close()
			return nil, err
		}
	}
	extPort := 0
	for _, l := range cfg.External {
		if err := r.bind(transport.External, l); err != nil {
			r.tp.Close()
			return nil, err
		}
		if extPort == 0 {
			extPort = int(r.bound[len(r.bound)-1].AddrPort().Port())
		}
	}
	fc := federation.Config{
		Snapshots: snaps, DNS: dns, Codec: codec, HideTopology: !cfg.ShowTopology,
		ExternalPort: extPort, NodeFQDN: cfg.NodeFQDN, OwnAddrs: cfg.OwnAddrs, Log: r.log,
		InternalNextHop: federation.NextHop{Host: cfg.InternalNextHop.Host, Port: cfg.InternalNextHop.Port,
			Proto: protoOf(cfg.InternalNextHop.Transport)},
	}
	for _, b := range r.bound {
		fc.Listeners = append(fc.Listeners, federation.Listener{Side: b.side, Proto: protoOf(b.Transport), Addr: b.AddrPort()})
		fc.OwnAddrs = append(fc.OwnAddrs, b.AddrPort())
	}
	if r.pol, err = federation.New(fc); err != nil {
		r.tp.Close()
		return nil, err
	}
	r.core, err = core.New(core.Config{
		Transport: r.tp, Policy: r.pol, HopTimeout: cfg.HopTimeout, InviteTimeout: cfg.InviteTimeout,
		MaxInFlight: cfg.MaxInFlight, Overload: cfg.Overload, HealthBackoff: cfg.HealthBackoff,
		ViaHost: cfg.NodeFQDN, Registerer: cfg.Registerer, Log: r.log,
	})
	if err != nil {
		r.tp.Close()
		return nil, err
	}
	h.c = r.core
	return r, nil
}

func protoOf(s string) transport.Protocol {
	p, _ := transport.ParseProtocol(s)
	return p
}

func (r *Relay) bind(side transport.Side, l Listener) error {
	ap, err := r.tp.Listen(side, protoOf(l.Transport), l.Addr)
	if err != nil {
		return fmt.Errorf("relay: %w", err)
	}
	b := boundListener{Listener: Listener{Transport: l.Transport, Addr: ap.String()}, side: side}
	r.bound = append(r.bound, b)
	r.log.Info("SIP listener bound", telemetry.KeySide, side.String(), telemetry.KeyListener, b.String())
	return nil
}

// InternalAddrs are the bound internal listeners, actual ports filled in.
func (r *Relay) InternalAddrs() []Listener { return r.addrs(transport.Internal) }

// ExternalAddrs are the bound external listeners, actual ports filled in.
func (r *Relay) ExternalAddrs() []Listener { return r.addrs(transport.External) }

func (r *Relay) addrs(side transport.Side) []Listener {
	var out []Listener
	for _, b := range r.bound {
		if b.side == side {
			out = append(out, b.Listener)
		}
	}
	return out
}

// Transport is the relay's transport (tests read its limits and counts).
func (r *Relay) Transport() *transport.Transport { return r.tp }

// Core is the relay's SIP core.
func (r *Relay) Core() *core.Core { return r.core }

// Run serves the listeners until ctx is done, then drains: listeners stop accepting, new
// dialogs get 503 while requests within dialogs are still served, and every transaction in
// flight gets its final response (UDP sockets stay open for it), bounded by ShutdownTimeout.
// It returns nil after a shutdown asked for by ctx.
func (r *Relay) Run(ctx context.Context) error {
	r.tp.Serve()
	select {
	case <-ctx.Done():
	case <-r.closed:
		return nil
	}
	r.tp.StopAccepting()
	dctx, cancel := context.WithTimeout(context.Background(), r.cfg.ShutdownTimeout)
	defer cancel()
	start := time.Now()
	left := r.core.InFlight()
	abandoned := r.core.Drain(dctx)
	// The final responses are queued on their connections; they leave before the close.
	fctx, fcancel := context.WithTimeout(context.Background(), flushGrace)
	r.tp.Flush(fctx)
	fcancel()
	r.log.Info("SIP drained", telemetry.KeySIPTransactions, left, telemetry.KeyAbandoned, abandoned, telemetry.KeyDuration, time.Since(start).Round(time.Millisecond))
	r.Close()
	return nil
}

// flushGrace bounds the wait for the last responses of a drain to be written: the 503s of
// what the drain abandoned are queued only at its bound.
const flushGrace = time.Second

// Close releases everything at once, without draining; Run does it on return.
func (r *Relay) Close() {
	r.closeOnce.Do(func() {
		close(r.closed)
		r.tp.Close()
		r.core.Close()
	})
}

var _ = api.ProtocolTLS
var _ = netip.AddrPort{}
var _ = tls.VersionTLS12
