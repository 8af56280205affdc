// Package server assembles a sipfed-proxy: the store, the syncer that keeps the routing snapshot
// live, the admin API, DNS discovery and the SIP relay. The command and the tests start proxies
// through it, so both run the same wiring.
package server

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/sipfed/terraform-provider-sip/proxy/admin"
	"github.com/sipfed/terraform-provider-sip/proxy/cluster"
	"github.com/sipfed/terraform-provider-sip/proxy/discovery"
	"github.com/sipfed/terraform-provider-sip/proxy/relay"
	"github.com/sipfed/terraform-provider-sip/proxy/routing"
	"github.com/sipfed/terraform-provider-sip/proxy/state"
	"github.com/sipfed/terraform-provider-sip/proxy/store"
	"github.com/sipfed/terraform-provider-sip/proxy/store/etcd"
)

// GeneratedTokenFile is where a proxy started without a token writes the one it generated.
const GeneratedTokenFile = "admin.token"

// Config is everything a proxy needs to start.
type Config struct {
	DataDir   string
	AdminAddr string
	// AdminTLS, when set, serves the admin API over HTTPS: a bearer token must not cross a
	// network in clear text.
	AdminTLS *tls.Config
	// Tokens guard the admin API. When nil, the proxy generates one and writes it to
	// DataDir/admin.token (mode 0600): the API is never open.
	Tokens  *admin.Tokens
	Routing routing.Options
	// DNS configures SRV discovery; the relay and the explain endpoint share the resolver.
	DNS discovery.Config
	// SIP configures the relay; nil runs the admin API alone (tests of the API, tooling).
	SIP *relay.Config
	Log *slog.Logger

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

// Server is a running proxy.
type Server struct {
	cfg       Config
	store     store.Store
	etcd      *etcd.Store // the same store, when it is etcd
	cluster   *cluster.Cluster
	syncer    *state.Syncer
	dns       *discovery.Resolver
	relay     *relay.Relay
	admin     *http.Server
	adminLn   net.Listener
	tokenFile string
	// routeMarkerKey is the deployment's secret behind the own-Route marker.
	routeMarkerKey []byte

	cancel context.CancelFunc
	wg     sync.WaitGroup
	errc   chan error
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
	s := &Server{cfg: cfg, errc: make(chan error, 4)}
	if cfg.Tokens == nil {
		if s.cfg.Tokens, s.tokenFile, err = generateToken(cfg.DataDir); err != nil {
			return nil, err
		}
		cfg.Log.Warn("no admin token configured; generated one", "token_file", s.tokenFile)
	}

	reg := prometheus.NewRegistry()
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

	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	buildSeconds := prometheus.NewHistogram(prometheus.HistogramOpts{
		Name: "sipfed_snapshot_build_seconds", Help: "Time to build a routing snapshot after a change.",
		Buckets: prometheus.ExponentialBuckets(0.0001, 2, 16),
	})
	revision := prometheus.NewGauge(prometheus.GaugeOpts{Name: "sipfed_snapshot_revision", Help: "Store revision the live routing snapshot is at."})
	reg.MustRegister(buildSeconds, revision)

	s.syncer = state.NewSyncer(st, cfg.Routing, cfg.Log)
	s.syncer.OnSwap = func(snap *routing.Snapshot, took time.Duration) {
		buildSeconds.Observe(took.Seconds())
		revision.Set(float64(snap.Revision()))
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

	externalPort := 0
	if cfg.SIP != nil {
		sipCfg := *cfg.SIP
		sipCfg.Registerer, sipCfg.Logger = reg, cfg.Log
		if sipCfg.NodeFQDN == "" {
			sipCfg.NodeFQDN = cfg.Routing.NodeFQDN
		}
		if s.relay, err = relay.New(sipCfg, s.syncer.Live(), s.dns); err != nil {
			cancel()
			return nil, err
		}
		if ex := s.relay.ExternalAddrs(); len(ex) > 0 {
			externalPort = int(ex[0].AddrPort().Port())
		}
		s.goRun("SIP relay", func() error { return s.relay.Run(runCtx) })
	}

	var ln net.Listener
	if cfg.AdminTLS != nil {
		ln, err = tls.Listen("tcp", cfg.AdminAddr, cfg.AdminTLS)
	} else {
		ln, err = net.Listen("tcp", cfg.AdminAddr)
	}
	if err != nil {
		cancel()
		s.closeRelay()
		return nil, fmt.Errorf("admin API listener %s: %w", cfg.AdminAddr, err)
	}
	s.adminLn = ln
	if err := s.startCluster(ctx, runCtx, reg, externalPort); err != nil {
		cancel()
		s.closeRelay()
		_ = ln.Close()
		return nil, err
	}
	handler := admin.New(admin.Config{
		Store: st, Live: s.syncer.Live(), Tokens: s.cfg.Tokens, Routing: cfg.Routing,
		DNS: s.dns, ExternalPort: externalPort, Cluster: s.cluster,
		Gatherer: reg, Registerer: reg, Log: cfg.Log,
	})
	s.admin = &http.Server{Handler: handler, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute}
	s.goRun("admin API", func() error {
		if err := s.admin.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			return err
		}
		return nil
	})
	cfg.Log.Info("sipfed-proxy started", "admin_addr", ln.Addr().String(), "data_dir", cfg.DataDir,
		"revision", s.syncer.Live().Load().Revision(), "node_fqdn", cfg.Routing.NodeFQDN)
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

// Wait blocks until ctx ends or a component fails, then shuts the proxy down.
func (s *Server) Wait(ctx context.Context) error {
	var err error
	select {
	case <-ctx.Done():
	case err = <-s.errc:
	}
	return errors.Join(err, s.Close())
}

// Close stops serving: the admin API and the relay finish what is in flight, then the store
// closes.
func (s *Server) Close() error {
	var errs []error
	if s.admin != nil {
		// Admin requests take milliseconds. Shutdown also waits up to 5 s for connections a
		// client opened but never used; they carry nothing, so they are closed after a short grace.
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		if err := s.admin.Shutdown(ctx); errors.Is(err, context.DeadlineExceeded) {
			err = s.admin.Close()
			errs = append(errs, err)
		} else {
			errs = append(errs, err)
		}
		cancel()
	}
	s.cancel()
	s.wg.Wait()
	errs = append(errs, s.store.Close())
	return errors.Join(errs...)
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
