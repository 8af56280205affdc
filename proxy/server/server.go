// Package server assembles a sipfed-proxy: the store, the syncer that keeps the routing snapshot
// live, the admin API, DNS discovery and the SIP relay. The command and the tests start proxies
// through it, so both run the same wiring.
package server

import (
	"cmp"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/sipfed/terraform-provider-sip/proxy/admin"
	"github.com/sipfed/terraform-provider-sip/proxy/cluster"
	"github.com/sipfed/terraform-provider-sip/proxy/discovery"
	"github.com/sipfed/terraform-provider-sip/proxy/identity"
	"github.com/sipfed/terraform-provider-sip/proxy/relay"
	"github.com/sipfed/terraform-provider-sip/proxy/routing"
	"github.com/sipfed/terraform-provider-sip/proxy/state"
	"github.com/sipfed/terraform-provider-sip/proxy/store"
	"github.com/sipfed/terraform-provider-sip/proxy/store/etcd"
	"github.com/sipfed/terraform-provider-sip/proxy/telemetry"
)

// GeneratedTokenFile is where a proxy started without a token writes the one it generated.
const GeneratedTokenFile = "admin.token"

// DefaultShutdownTimeout bounds a graceful stop: 32 s is RFC 3261's 64*T1, the life of a
// non-INVITE transaction, so one that just began when the stop came can still end.
const DefaultShutdownTimeout = 32 * time.Second

// shutdownMargin is what the bound keeps back from the relay's drain for the rest of the stop:
// the admin API's last answers, the store's close, the log line.
const shutdownMargin = time.Second

// Config is everything a proxy needs to start.
type Config struct {
	DataDir   string
	AdminAddr string
	// AdminTLS, when set, serves the admin API over HTTPS: a bearer token must not cross a
	// network in clear text.
	AdminTLS *tls.Config
	// Tokens guard the admin API. When nil, the proxy generates one and writes it to
	// DataDir/admin.token (mode 0600): the API is never open. Tokens read from a file are
	// read again by Reload.
	Tokens  *admin.Tokens
	Routing routing.Options
	// DNS configures SRV discovery; the relay and the explain endpoint share the resolver.
	DNS discovery.Config
	// SIP configures the relay; nil runs the admin API alone (tests of the API, tooling). Its
	// TLS material is reloaded by Reload; its ShutdownTimeout, when zero, is ShutdownTimeout
	// less a margin.
	SIP *relay.Config
	// AdminHTTP bounds the admin API's HTTP server: a slow or stuck client cannot hold it.
	// Zero fields take DefaultAdminHTTP's.
	AdminHTTP AdminHTTP
	// AdminLiveTimeout bounds how long an admin write waits for its revision to go live.
	// Zero: the admin API's default.
	AdminLiveTimeout time.Duration
	// ShutdownTimeout bounds Shutdown. Zero: DefaultShutdownTimeout.
	ShutdownTimeout time.Duration
	Log             *slog.Logger

	// Etcd, when set, keeps the configuration in etcd, shared by the nodes of a cluster (see
	// cluster.go); nil keeps it in the embedded bbolt store in DataDir.
	Etcd *etcd.Config
	// PublicAddresses are the node's public IP addresses: A/AAAA records of the routing FQDN.
	// Default: the external listeners' addresses unless they are wildcards.
	PublicAddresses []string
	// Version is the proxy's version, as the cluster lists it.
	Version string
	// ClusterLeaseTTL is how long a node stays listed after it stopped; default 10 s.
	ClusterLeaseTTL time.Duration
}

// AdminHTTP are the admin HTTP server's timeouts and header size limit.
type AdminHTTP struct {
	// ReadHeaderTimeout bounds the request line and headers, ReadTimeout the whole request,
	// body included: a client that trickles is cut, whatever its token.
	ReadHeaderTimeout time.Duration
	ReadTimeout       time.Duration
	// WriteTimeout bounds a response; it must exceed the longest profile asked for on
	// /debug/pprof (30 s by default).
	WriteTimeout   time.Duration
	IdleTimeout    time.Duration
	MaxHeaderBytes int
}

// DefaultAdminHTTP are the admin HTTP server's limits when not set.
var DefaultAdminHTTP = AdminHTTP{
	ReadHeaderTimeout: 5 * time.Second,
	ReadTimeout:       30 * time.Second,
	WriteTimeout:      90 * time.Second,
	IdleTimeout:       2 * time.Minute,
	MaxHeaderBytes:    64 << 10,
}

func (a AdminHTTP) withDefaults() AdminHTTP {
	d := DefaultAdminHTTP
	return AdminHTTP{
		ReadHeaderTimeout: cmp.Or(a.ReadHeaderTimeout, d.ReadHeaderTimeout),
		ReadTimeout:       cmp.Or(a.ReadTimeout, d.ReadTimeout),
		WriteTimeout:      cmp.Or(a.WriteTimeout, d.WriteTimeout),
		IdleTimeout:       cmp.Or(a.IdleTimeout, d.IdleTimeout),
		MaxHeaderBytes:    cmp.Or(a.MaxHeaderBytes, d.MaxHeaderBytes),
	}
}

// Server is a running proxy.
type Server struct {
	cfg       Config
	store     store.Store
	etcd      *etcd.Store // the same store, when it is etcd
	cluster   *cluster.Cluster
	syncer    *state.Syncer
	dns       *discovery.Resolver
	relay     *relay.Relay
	api       *admin.Server
	admin     *http.Server
	adminLn   net.Listener
	tokenFile string
	registry  *prometheus.Registry
	// routeMarkerKey is the deployment's secret behind the own-Route marker.
	routeMarkerKey []byte

	// notReady is why /readyz answers 503; nil while the proxy routes.
	notReady atomic.Pointer[string]

	cancel      context.CancelFunc // stops the syncer
	relayCancel context.CancelFunc // starts the relay's drain
	relayDone   chan struct{}      // closed when the relay's Run returned
	relayBound  time.Duration      // the relay's part of the shutdown bound
	wg          sync.WaitGroup
	errc        chan error

	stopOnce sync.Once
	stopErr  error
}

// Start opens the store, loads the configuration, and starts serving. It returns once the proxy
// routes by the stored configuration and every listener is bound.
func Start(ctx context.Context, cfg Config) (_ *Server, err error) {
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	if cfg.AdminAddr == "" {
		cfg.AdminAddr = "127.0.0.1:7080"
	}
	cfg.ShutdownTimeout = cmp.Or(cfg.ShutdownTimeout, DefaultShutdownTimeout)
	cfg.AdminHTTP = cfg.AdminHTTP.withDefaults()
	s := &Server{cfg: cfg, errc: make(chan error, 4), relayDone: make(chan struct{})}
	if cfg.Tokens == nil {
		if s.cfg.Tokens, s.tokenFile, err = generateToken(cfg.DataDir); err != nil {
			return nil, err
		}
		cfg.Log.Warn("no admin token configured; generated one", telemetry.KeyFile, s.tokenFile)
	}

	reg := prometheus.NewRegistry()
	s.registry = reg
	st, etcdStore, err := openStore(ctx, cfg, reg)
	if err != nil {
		return nil, err
	}
	s.store, s.etcd = st, etcdStore
	defer func() {
		if err != nil {
			_ = st.Close()
		}
	}()

	buildSeconds := telemetry.NewHistogram(telemetry.MetricSnapshotBuildDuration, "Time to build a routing snapshot after a change.",
		prometheus.ExponentialBuckets(0.0001, 2, 16))
	revision := telemetry.NewGauge(telemetry.MetricSnapshotRevision, "Store revision the live routing snapshot is at.")
	ignored := telemetry.NewGauge(telemetry.MetricSnapshotIgnoredDomains,
		"Stored federated domains the routing snapshot leaves out: a local domain or localhost, which no partner may send as.")
	collectors := []prometheus.Collector{collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		buildSeconds, revision, ignored}
	if m := s.tlsMaterial(); m != nil {
		collectors = append(collectors, m.Collector())
	}
	if err := telemetry.Register(reg, collectors...); err != nil {
		return nil, fmt.Errorf("metrics: %w", err)
	}

	s.syncer = state.NewSyncer(st, cfg.Routing, cfg.Log)
	var lastIgnored map[string]string
	s.syncer.OnSwap = func(snap *routing.Snapshot, took time.Duration) {
		buildSeconds.Observe(took.Seconds())
		revision.Set(float64(snap.Revision()))
		ignored.Set(float64(len(snap.Ignored())))
		for d, why := range snap.Ignored() {
			if _, seen := lastIgnored[d]; !seen {
				// The API refuses such domains now; a store from before may hold them.
				cfg.Log.Warn("stored federated domain ignored: "+why, telemetry.KeyDomain, d)
			}
		}
		lastIgnored = snap.Ignored()
	}
	dnsCfg := cfg.DNS
	dnsCfg.Registerer = reg
	if s.dns, err = discovery.New(dnsCfg); err != nil {
		return nil, fmt.Errorf("DNS: %w", err)
	}

	runCtx, cancel := context.WithCancel(context.Background())
	s.cancel = cancel
	s.goRun("syncer", func() error { return s.syncer.Run(runCtx) })
	select {
	case <-s.syncer.Ready():
	case err := <-s.errc:
		cancel()
		return nil, fmt.Errorf("loading configuration: %w", err)
	case <-ctx.Done():
		cancel()
		return nil, ctx.Err()
	}

	var ln net.Listener
	if cfg.AdminTLS != nil {
		ln, err = tls.Listen("tcp", cfg.AdminAddr, cfg.AdminTLS)
	} else {
		ln, err = net.Listen("tcp", cfg.AdminAddr)
	}
	if err != nil {
		cancel()
		return nil, fmt.Errorf("admin API listener %s: %w", cfg.AdminAddr, err)
	}

	externalPort := 0
	if cfg.SIP != nil {
		sipCfg := *cfg.SIP
		sipCfg.Registerer, sipCfg.Logger = reg, cfg.Log
		if sipCfg.NodeFQDN == "" {
			sipCfg.NodeFQDN = cfg.Routing.NodeFQDN
		}
		if sipCfg.DeploymentKey, err = deploymentKey(ctx, st); err != nil {
			cancel()
			_ = ln.Close()
			return nil, err
		}
		s.routeMarkerKey = sipCfg.DeploymentKey
		// The admin API is never a SIP next hop, whatever a Route says.
		if ap, perr := netip.ParseAddrPort(ln.Addr().String()); perr == nil {
			sipCfg.OwnAddrs = append(sipCfg.OwnAddrs, ap)
		}
		if sipCfg.ShutdownTimeout == 0 {
			sipCfg.ShutdownTimeout = max(cfg.ShutdownTimeout-shutdownMargin, cfg.ShutdownTimeout/2)
		}
		s.relayBound = sipCfg.ShutdownTimeout
		if s.relay, err = relay.New(sipCfg, s.syncer.Live(), s.dns); err != nil {
			cancel()
			_ = ln.Close()
			return nil, err
		}
		if ex := s.relay.ExternalAddrs(); len(ex) > 0 {
			externalPort = int(ex[0].AddrPort().Port())
		}
		relayCtx, relayCancel := context.WithCancel(context.Background())
		s.relayCancel = relayCancel
		go func() {
			defer close(s.relayDone)
			if err := s.relay.Run(relayCtx); err != nil {
				s.errc <- fmt.Errorf("SIP relay: %w", err)
			}
		}()
	} else {
		close(s.relayDone)
	}

	s.adminLn = ln
	if err := s.startCluster(ctx, runCtx, reg, externalPort); err != nil {
		cancel()
		s.closeRelay()
		_ = ln.Close()
		return nil, err
	}
	s.api, err = admin.New(admin.Config{
		Store: st, Live: s.syncer.Live(), Tokens: s.cfg.Tokens, Routing: cfg.Routing,
		DNS: s.dns, ExternalPort: externalPort, Ready: s.ready, LiveTimeout: cfg.AdminLiveTimeout,
		Cluster:  s.cluster,
		Gatherer: reg, Registerer: reg, Log: cfg.Log,
	})
	if err != nil {
		cancel()
		s.closeRelay()
		_ = ln.Close()
		return nil, err
	}
	h := cfg.AdminHTTP
	s.admin = &http.Server{Handler: s.api, ReadHeaderTimeout: h.ReadHeaderTimeout, ReadTimeout: h.ReadTimeout,
		WriteTimeout: h.WriteTimeout, IdleTimeout: h.IdleTimeout, MaxHeaderBytes: h.MaxHeaderBytes,
		ErrorLog: slog.NewLogLogger(cfg.Log.Handler(), slog.LevelDebug)}
	s.goRun("admin API", func() error {
		if err := s.admin.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			return err
		}
		return nil
	})
	cfg.Log.Info("sipfed-proxy started", telemetry.KeyAdminAddr, ln.Addr().String(), telemetry.KeyDataDir, cfg.DataDir,
		telemetry.KeyRevision, s.syncer.Live().Load().Revision(), telemetry.KeyNodeFQDN, cfg.Routing.NodeFQDN)
	return s, nil
}

func (s *Server) goRun(name string, fn func() error) {
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		if err := fn(); err != nil {
			s.errc <- fmt.Errorf("%s: %w", name, err)
		}
	}()
}

// ready is /readyz's answer: nil while the proxy routes, else why not.
func (s *Server) ready() error {
	if why := s.notReady.Load(); why != nil {
		return errors.New(*why)
	}
	return nil
}

// tlsMaterial is the relay's TLS material; nil without SIP or TLS.
func (s *Server) tlsMaterial() *identity.Material {
	if s.cfg.SIP == nil {
		return nil
	}
	return s.cfg.SIP.TLS
}

// Relay is the SIP relay; nil when the proxy runs without SIP listeners.
func (s *Server) Relay() *relay.Relay { return s.relay }

func (s *Server) closeRelay() {
	if s.relay != nil {
		s.relay.Close()
	}
}

// AdminURL is the admin API's base URL.
func (s *Server) AdminURL() string {
	if s.cfg.AdminTLS != nil {
		return "https://" + s.adminLn.Addr().String()
	}
	return "http://" + s.adminLn.Addr().String()
}

// TokenFile is the file the generated admin token was written to; empty when tokens were given.
func (s *Server) TokenFile() string { return s.tokenFile }

// Live is the live routing snapshot holder.
func (s *Server) Live() *state.Live { return s.syncer.Live() }

// Registry is the proxy's metrics registry, as /metrics serves it.
func (s *Server) Registry() *prometheus.Registry { return s.registry }

// Failed delivers the error of a component that stopped on its own (a listener, the store
// watch): the proxy can no longer do its job and should be shut down.
func (s *Server) Failed() <-chan error { return s.errc }

// Reload reads the TLS certificate, key and CA bundle and the admin token file again (SIGHUP).
// What loads is swapped in for new handshakes and requests; what does not load is kept, and the
// log and the error say why. Connections and requests in flight are left alone.
func (s *Server) Reload() error {
	log := s.cfg.Log
	var errs []error
	if m := s.tlsMaterial(); m != nil {
		if err := m.Reload(); err != nil {
			log.Error("TLS reload failed; the certificate in use stays", telemetry.KeyFile, m.Options().CertFile, telemetry.KeyError, err)
			errs = append(errs, err)
		} else {
			leaf := m.Leaf()
			log.Info("TLS certificate, key and CA bundle reloaded", telemetry.KeyFile, m.Options().CertFile,
				telemetry.KeyIdentities, strings.Join(identity.Of(leaf), ","),
				telemetry.KeyNotAfter, leaf.NotAfter.UTC().Format(time.RFC3339),
				telemetry.KeyCANotAfter, m.CANotAfter().UTC().Format(time.RFC3339))
		}
	}
	switch err := s.cfg.Tokens.Reload(); {
	case errors.Is(err, admin.ErrNotReloadable):
		log.Info("admin tokens do not come from a token file; nothing to reload")
	case err != nil:
		log.Error("admin token reload failed; the tokens in use stay", telemetry.KeyFile, s.cfg.Tokens.File(), telemetry.KeyError, err)
		errs = append(errs, err)
	default:
		log.Info("admin tokens reloaded", telemetry.KeyFile, s.cfg.Tokens.File(), telemetry.KeyTokens, s.cfg.Tokens.Len())
	}
	return errors.Join(errs...)
}

// Wait blocks until ctx ends or a component fails, then shuts the proxy down (Shutdown). It
// returns the component's error, or what the shutdown failed on.
func (s *Server) Wait(ctx context.Context) error {
	select {
	case <-ctx.Done():
		return s.Shutdown("context ended")
	case err := <-s.errc:
		return errors.Join(err, s.Shutdown("component failed: "+err.Error()))
	}
}

// Close shuts the proxy down (Shutdown), as tests do.
func (s *Server) Close() error { return s.Shutdown("closed") }

// Shutdown stops the proxy gracefully, within the shutdown bound: /readyz turns not-ready at
// once, naming why; the relay stops accepting and drains its transactions in flight, while the
// admin API still answers (/readyz says why it is not ready, /metrics shows the drain); then the
// admin API stops accepting and finishes its requests in flight; then the syncer stops and the
// store closes. One log line says what was drained. why is what asked for the stop (a signal's
// name, as String gives it). Only the first call does anything; later ones return its result.
func (s *Server) Shutdown(why string) error {
	s.stopOnce.Do(func() { s.stopErr = s.shutdown(why) })
	return s.stopErr
}

func (s *Server) shutdown(why string) error {
	log, bound := s.cfg.Log, s.cfg.ShutdownTimeout
	start := time.Now()
	reason := "shutting down (" + why + ")"
	s.notReady.Store(&reason)
	sipInFlight := s.gaugeValue(telemetry.MetricSIPInFlight)
	log.Info("sipfed-proxy stopping", telemetry.KeyCause, why, telemetry.KeyBound, bound,
		telemetry.KeySIPTransactions, sipInFlight, telemetry.KeyAdminRequests, s.api.InFlight())
	ctx, cancel := context.WithTimeout(context.Background(), bound)
	defer cancel()

	// The relay drains first (it keeps a margin of the bound for what follows).
	if s.relayCancel != nil {
		s.relayCancel()
	}
	select {
	case <-s.relayDone:
	case <-ctx.Done():
	}
	// The relay returns once drained, or at its part of the bound with transactions still in
	// flight (which it cancels and answers upstream): returning that late means it was cut.
	sipCut := s.relayBound > 0 && time.Since(start) >= s.relayBound
	s.closeRelay()

	adminInFlight := s.api.InFlight()
	adminErr := s.drainAdmin(ctx)
	var adminCut int64
	if errors.Is(adminErr, context.DeadlineExceeded) {
		adminCut, adminErr = max(s.api.InFlight(), 1), nil
	}

	s.cancel()
	s.wg.Wait()
	storeErr := s.store.Close()

	attrs := []slog.Attr{slog.String(telemetry.KeyCause, why),
		slog.Duration(telemetry.KeyDuration, time.Since(start).Round(time.Millisecond)),
		slog.Float64(telemetry.KeySIPTransactions, sipInFlight), slog.Int64(telemetry.KeyAdminRequests, adminInFlight)}
	if sipCut || adminCut > 0 {
		var cut []string
		if sipCut {
			cut = append(cut, "SIP transactions still in flight at the relay's bound ("+s.relayBound.String()+")")
		}
		if adminCut > 0 {
			cut = append(cut, strconv.FormatInt(adminCut, 10)+" admin requests still in flight")
		}
		log.LogAttrs(context.Background(), slog.LevelWarn, "sipfed-proxy stopped at the shutdown bound; what was still in flight was cut",
			append(attrs, slog.Duration(telemetry.KeyBound, bound), slog.String(telemetry.KeyReason, strings.Join(cut, "; ")))...)
	} else {
		log.LogAttrs(context.Background(), slog.LevelInfo, "sipfed-proxy stopped", attrs...)
	}
	return errors.Join(adminErr, storeErr)
}

// drainAdmin stops the admin API: no new connection, requests in flight finish. It returns
// context.DeadlineExceeded when ctx ended first and requests were cut.
func (s *Server) drainAdmin(ctx context.Context) error {
	done := make(chan error, 1)
	go func() { done <- s.admin.Shutdown(ctx) }()
	// Shutdown also waits up to 5 s for connections that never sent a request (it cannot tell
	// them from ones about to); they carry nothing, so once no request is in flight they go.
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case err := <-done:
			if errors.Is(err, context.DeadlineExceeded) {
				_ = s.admin.Close()
			}
			return err
		case <-tick.C:
			if s.api.InFlight() == 0 {
				_ = s.admin.Close()
				<-done //nolint:errcheck // Close ended Shutdown: its error (the listeners, closed twice) says nothing
				return nil
			}
		}
	}
}

// gaugeValue reads a gauge of the registry (summed over its labels); 0 when it is not there.
func (s *Server) gaugeValue(name string) float64 {
	mfs, err := s.registry.Gather()
	if err != nil {
		return 0
	}
	var v float64
	for _, mf := range mfs {
		if mf.GetName() == name {
			for _, m := range mf.GetMetric() {
				v += m.GetGauge().GetValue()
			}
		}
	}
	return v
}

func generateToken(dataDir string) (*admin.Tokens, string, error) {
	tok, err := admin.GenerateToken()
	if err != nil {
		return nil, "", err
	}
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return nil, "", err
	}
	path := filepath.Join(dataDir, GeneratedTokenFile)
	if err := os.WriteFile(path, []byte("generated:"+tok+"\n"), 0o600); err != nil {
		return nil, "", fmt.Errorf("writing generated admin token: %w", err)
	}
	t, err := admin.NewTokens(map[string]string{"generated": tok})
	return t, path, err
}
