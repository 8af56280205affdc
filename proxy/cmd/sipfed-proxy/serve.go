package main

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/sipfed/terraform-provider-sip/internal/api"
	"github.com/sipfed/terraform-provider-sip/proxy/admin"
	"github.com/sipfed/terraform-provider-sip/proxy/discovery"
	"github.com/sipfed/terraform-provider-sip/proxy/identity"
	"github.com/sipfed/terraform-provider-sip/proxy/relay"
	"github.com/sipfed/terraform-provider-sip/proxy/routing"
	"github.com/sipfed/terraform-provider-sip/proxy/server"
	"github.com/sipfed/terraform-provider-sip/proxy/telemetry"
)

// stringsFlag is a repeatable flag.
type stringsFlag []string

func (s *stringsFlag) String() string     { return strings.Join(*s, ",") }
func (s *stringsFlag) Set(v string) error { *s = append(*s, v); return nil }

// serveFlags are the flags of `serve`; DESIGN.md fixes their names.
type serveFlags struct {
	dataDir        string
	adminAddr      string
	adminTokenFile string
	adminTLSCert   string
	adminTLSKey    string
	localDomains   stringsFlag
	nodeFQDN       string
	defaultFedDom  string
	dnsServers     stringsFlag
	sipInternal    stringsFlag
	sipExternal    stringsFlag
	internalHop    string
	tls            identity.Options
	logLevel       string
	logFormat      string
	// Operations: how long a stop may take, and the limits of the admin HTTP server and of DNS.
	shutdownTimeout  time.Duration
	adminHTTP        server.AdminHTTP
	adminLiveTimeout time.Duration
	dns              discovery.Config
	sip              sipFlags
	// store chooses the embedded store or etcd.
	store storeFlags
}

func parseServeFlags(args []string) (*serveFlags, error) {
	return parseServeFlagsInto(flag.NewFlagSet("serve", flag.ContinueOnError), args)
}

// parseServeFlagsInto defines serve's flags on fs and parses args.
func parseServeFlagsInto(fs *flag.FlagSet, args []string) (*serveFlags, error) {
	f := &serveFlags{}
	fs.StringVar(&f.dataDir, "data-dir", "./data", "directory of the embedded bbolt store")
	fs.StringVar(&f.adminAddr, "admin-addr", "127.0.0.1:7080", "listen address of the admin API")
	fs.StringVar(&f.adminTokenFile, "admin-token-file", "", "file of admin tokens, one per line as name:token (default: env SIPFED_TOKEN, else a generated token in DATA-DIR/admin.token)")
	fs.StringVar(&f.adminTLSCert, "admin-tls-cert", "", "PEM certificate: serve the admin API over HTTPS (needed off loopback)")
	fs.StringVar(&f.adminTLSKey, "admin-tls-key", "", "PEM private key of --admin-tls-cert")
	fs.Var(&f.localDomains, "local-domain", "a domain the enterprise hosts (repeatable)")
	fs.StringVar(&f.nodeFQDN, "node-fqdn", "", "this node's FQDN (default: the host name)")
	fs.StringVar(&f.defaultFedDom, "default-federation-routing-domain", api.DefaultFederationRoutingDomain, "clearing-house domain tried last for domains of type aol")
	fs.Var(&f.dnsServers, "dns-server", "DNS server host:port for SRV discovery (repeatable; default: /etc/resolv.conf)")
	fs.Var(&f.sipInternal, "sip-internal", "SIP listener toward the enterprise's own servers: udp://, tcp:// or tls://host:port (repeatable)")
	fs.Var(&f.sipExternal, "sip-external", "SIP listener toward partners, mutual TLS: tls://host:port (repeatable)")
	fs.StringVar(&f.internalHop, "internal-next-hop", "", "where requests from partners go, e.g. 'sip:10.0.0.5:5060;transport=tcp'")
	fs.StringVar(&f.tls.CertFile, "tls-cert", "", "PEM certificate served on TLS listeners and presented to partners")
	fs.StringVar(&f.tls.KeyFile, "tls-key", "", "PEM private key of --tls-cert")
	fs.StringVar(&f.tls.CAFile, "tls-ca", "", "PEM CA bundle partner certificates must chain to")
	fs.StringVar(&f.tls.Ciphers, "tls-ciphers", "", "TLS 1.2 cipher suites, comma-separated (EC-only selections are refused: Lync/S4B peers do not support them)")
	fs.StringVar(&f.tls.MinVersion, "tls-min-version", "1.2", "minimum TLS version: 1.2 or 1.3")
	fs.StringVar(&f.logLevel, "log-level", "info", "debug, info, warn or error")
	fs.StringVar(&f.logFormat, "log-format", "text", "text or json")
	fs.DurationVar(&f.shutdownTimeout, "shutdown-timeout", server.DefaultShutdownTimeout, "bound of a graceful stop (SIGTERM): SIP transactions and admin requests in flight get this long to finish")
	d := server.DefaultAdminHTTP
	fs.DurationVar(&f.adminHTTP.ReadHeaderTimeout, "admin-read-header-timeout", d.ReadHeaderTimeout, "admin API: time to receive a request's headers")
	fs.DurationVar(&f.adminHTTP.ReadTimeout, "admin-read-timeout", d.ReadTimeout, "admin API: time to receive a whole request, body included")
	fs.DurationVar(&f.adminHTTP.WriteTimeout, "admin-write-timeout", d.WriteTimeout, "admin API: time to send a response (keep it above the longest /debug/pprof profile)")
	fs.DurationVar(&f.adminHTTP.IdleTimeout, "admin-idle-timeout", d.IdleTimeout, "admin API: how long an idle keep-alive connection stays open")
	fs.IntVar(&f.adminHTTP.MaxHeaderBytes, "admin-max-header-bytes", d.MaxHeaderBytes, "admin API: largest request header block, in bytes (431 past it)")
	fs.DurationVar(&f.adminLiveTimeout, "admin-live-timeout", admin.DefaultLiveTimeout, "admin API: how long a write waits for its change to be live in routing (then 503, committed)")
	fs.DurationVar(&f.dns.Timeout, "dns-timeout", discovery.DefaultTimeout, "DNS: bound of one query to one server")
	fs.DurationVar(&f.dns.NegativeTTL, "dns-negative-ttl", discovery.DefaultNegativeTTL, "DNS: how long a failure (SERVFAIL, timeout, refusal; NXDOMAIN without SOA) is cached; a 503's Retry-After")
	fs.DurationVar(&f.dns.MaxNegativeTTL, "dns-max-negative-ttl", discovery.DefaultMaxNegativeTTL, "DNS: cap of the negative TTL a SOA gives NXDOMAIN and no-records answers")
	fs.DurationVar(&f.dns.MaxTTL, "dns-max-ttl", discovery.DefaultMaxTTL, "DNS: cap of how long an answer is cached, whatever its TTL")
	fs.IntVar(&f.dns.CacheSize, "dns-cache-size", discovery.DefaultCacheSize, "DNS: most answers cached (SRV, A and AAAA apart); the least recently used go first")
	f.sip.register(fs)
	f.store.register(fs)
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("serve takes no arguments, got %q", fs.Args())
	}
	for name, d := range map[string]time.Duration{"--shutdown-timeout": f.shutdownTimeout,
		"--admin-read-header-timeout": f.adminHTTP.ReadHeaderTimeout, "--admin-read-timeout": f.adminHTTP.ReadTimeout,
		"--admin-write-timeout": f.adminHTTP.WriteTimeout, "--admin-idle-timeout": f.adminHTTP.IdleTimeout,
		"--admin-live-timeout": f.adminLiveTimeout, "--dns-timeout": f.dns.Timeout, "--dns-negative-ttl": f.dns.NegativeTTL,
		"--dns-max-negative-ttl": f.dns.MaxNegativeTTL, "--dns-max-ttl": f.dns.MaxTTL} {
		if d <= 0 {
			return nil, fmt.Errorf("%s %v: must be positive", name, d)
		}
	}
	for name, n := range map[string]int{"--admin-max-header-bytes": f.adminHTTP.MaxHeaderBytes, "--dns-cache-size": f.dns.CacheSize} {
		if n <= 0 {
			return nil, fmt.Errorf("%s %d: must be positive", name, n)
		}
	}
	return f, nil
}

func serve(args []string) error {
	f, err := parseServeFlags(args)
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	if err != nil {
		return err
	}
	log, err := newLogger(f.logLevel, f.logFormat)
	if err != nil {
		return err
	}
	// sipgo logs through a package-wide logger, at Warn for routine connection bookkeeping; only
	// its errors reach an operator's log.
	sip.SetDefaultLogger(slog.New(minLevel{log.Handler(), slog.LevelError}).With(telemetry.KeyComponent, "sipgo"))
	cfg, err := f.config(log)
	if err != nil {
		return err
	}
	// From here on SIGHUP reloads and SIGTERM stops gracefully; signals that come while the
	// proxy starts wait in the channel.
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	defer signal.Stop(sigs)
	srv, err := server.Start(context.Background(), cfg)
	if err != nil {
		return err
	}
	return run(srv, sigs, log)
}

// run serves until a stop signal or a failed component, reloading on SIGHUP.
func run(srv *server.Server, sigs chan os.Signal, log *slog.Logger) error {
	for {
		select {
		case sig := <-sigs:
			if sig == syscall.SIGHUP {
				log.Info("reloading the TLS material and the admin tokens", telemetry.KeySignal, sig.String())
				_ = srv.Reload() // logged; what failed to load is kept
				continue
			}
			// A second SIGINT or SIGTERM kills at once: the way out of a stop that takes too
			// long, for a person at a terminal.
			signal.Reset(os.Interrupt, syscall.SIGTERM)
			return srv.Shutdown(sig.String())
		case err := <-srv.Failed():
			return errors.Join(err, srv.Shutdown("component failed"))
		}
	}
}

func (f *serveFlags) config(log *slog.Logger) (server.Config, error) {
	cfg := server.Config{DataDir: f.dataDir, AdminAddr: f.adminAddr, Log: log,
		ShutdownTimeout: f.shutdownTimeout, AdminHTTP: f.adminHTTP, AdminLiveTimeout: f.adminLiveTimeout}
	tokens, err := loadTokens(f.adminTokenFile)
	if err != nil {
		return cfg, err
	}
	cfg.Tokens = tokens
	node := f.nodeFQDN
	if node == "" {
		if node, err = os.Hostname(); err != nil {
			return cfg, fmt.Errorf("--node-fqdn not given and the host name is unknown: %w", err)
		}
	}
	node = api.NormalizeName(node)
	if err := api.ValidateDomain("--node-fqdn", node); err != nil {
		return cfg, err
	}
	var local []string
	for _, d := range f.localDomains {
		d = api.NormalizeName(d)
		if err := api.ValidateDomain("--local-domain", d); err != nil {
			return cfg, err
		}
		local = append(local, d)
	}
	def := api.NormalizeName(f.defaultFedDom)
	if err := api.ValidateDomain("--default-federation-routing-domain", def); err != nil {
		return cfg, err
	}
	for _, s := range f.dnsServers {
		if _, _, err := net.SplitHostPort(s); err != nil {
			return cfg, fmt.Errorf("--dns-server %q: want host:port: %w", s, err)
		}
	}
	if (f.adminTLSCert == "") != (f.adminTLSKey == "") {
		return cfg, errors.New("--admin-tls-cert and --admin-tls-key go together")
	}
	if f.adminTLSCert != "" {
		cert, err := tls.LoadX509KeyPair(f.adminTLSCert, f.adminTLSKey)
		if err != nil {
			return cfg, fmt.Errorf("--admin-tls-cert/--admin-tls-key: %w", err)
		}
		cfg.AdminTLS = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	}
	if !isLoopback(f.adminAddr) {
		if cfg.AdminTLS == nil {
			return cfg, fmt.Errorf("--admin-addr %s is not a loopback address: serve the admin API over HTTPS with --admin-tls-cert and --admin-tls-key, so that tokens do not cross the network in clear text", f.adminAddr)
		}
		if tokens == nil {
			log.Warn("admin API off loopback with a generated token; give --admin-token-file for production", telemetry.KeyAdminAddr, f.adminAddr)
		}
	}
	cfg.Routing = routing.Options{LocalDomains: local, NodeFQDN: node, DefaultFederationRoutingDomain: def}
	if cfg.Etcd, err = f.store.etcdConfig(); err != nil {
		return cfg, err
	}
	if cfg.PublicAddresses, err = f.store.publicAddresses(); err != nil {
		return cfg, err
	}
	cfg.Version = version
	cfg.DNS = f.dns
	cfg.DNS.Servers = f.dnsServers
	if cfg.SIP, err = f.sipConfig(); err != nil {
		return cfg, err
	}
	return cfg, nil
}

// sipConfig builds the relay's configuration; nil when no SIP listener is asked for. TLS flags
// are checked even then: a mistake in them must not wait for the day a listener is added.
func (f *serveFlags) sipConfig() (*relay.Config, error) {
	var material *identity.Material
	if f.tls.CertFile != "" || f.tls.KeyFile != "" || f.tls.CAFile != "" {
		m, err := identity.Load(f.tls)
		if err != nil {
			return nil, err
		}
		material = m
	} else if f.tls.Ciphers != "" {
		return nil, errors.New("--tls-ciphers needs --tls-cert, --tls-key and --tls-ca")
	}
	if len(f.sipInternal) == 0 && len(f.sipExternal) == 0 {
		return nil, nil
	}
	c := &relay.Config{TLS: material}
	if err := f.sip.apply(c); err != nil {
		return nil, err
	}
	for _, s := range f.sipInternal {
		l, err := relay.ParseListener(s)
		if err != nil {
			return nil, fmt.Errorf("--sip-internal: %w", err)
		}
		c.Internal = append(c.Internal, l)
	}
	for _, s := range f.sipExternal {
		l, err := relay.ParseListener(s)
		if err != nil {
			return nil, fmt.Errorf("--sip-external: %w", err)
		}
		c.External = append(c.External, l)
	}
	if f.internalHop != "" {
		h, err := relay.ParseNextHop(f.internalHop)
		if err != nil {
			return nil, fmt.Errorf("--internal-next-hop: %w", err)
		}
		c.InternalNextHop = h
	}
	return c, nil
}

// loadTokens reads the admin tokens: the token file, else SIPFED_TOKEN (named "env"), else nil,
// and the server generates one.
func loadTokens(file string) (*admin.Tokens, error) {
	if file != "" {
		return admin.LoadTokenFile(file)
	}
	if tok := os.Getenv("SIPFED_TOKEN"); tok != "" {
		t, err := admin.NewTokens(map[string]string{"env": tok})
		if err != nil {
			return nil, fmt.Errorf("SIPFED_TOKEN: %w", err)
		}
		return t, nil
	}
	return nil, nil
}

func isLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// minLevel passes records at or above a level to the handler it wraps.
type minLevel struct {
	slog.Handler
	min slog.Level
}

func (h minLevel) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= h.min && h.Handler.Enabled(ctx, l)
}
func (h minLevel) WithAttrs(a []slog.Attr) slog.Handler {
	return minLevel{h.Handler.WithAttrs(a), h.min}
}
func (h minLevel) WithGroup(n string) slog.Handler { return minLevel{h.Handler.WithGroup(n), h.min} }

func newLogger(level, format string) (*slog.Logger, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log-level %q: %w", level, err)
	}
	opts := &slog.HandlerOptions{Level: l}
	switch format {
	case "text":
		return slog.New(slog.NewTextHandler(os.Stderr, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(os.Stderr, opts)), nil
	}
	return nil, fmt.Errorf("--log-format %q: want text or json", format)
}
