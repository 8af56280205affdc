// Package servertest starts a real sipfed-proxy in-process for tests: bbolt in a temporary
// directory, the admin API on a loopback port, the SIP listeners on loopback ports.
package servertest

import (
	"context"
	"io"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/sipfed/terraform-provider-sip/internal/api"
	"github.com/sipfed/terraform-provider-sip/internal/dnstest"
	"github.com/sipfed/terraform-provider-sip/proxy/admin"
	"github.com/sipfed/terraform-provider-sip/proxy/relay"
	"github.com/sipfed/terraform-provider-sip/proxy/routing"
	"github.com/sipfed/terraform-provider-sip/proxy/server"
)

// Token is the admin token every test proxy accepts, named "test" in the audit trail.
const Token = "test-token-0123456789abcdef"

// Proxy is a running test proxy.
type Proxy struct {
	*server.Server
	Endpoint string
	Token    string
	Client   *api.Client
	DataDir  string
}

// Option adjusts the configuration before start.
type Option func(*server.Config)

// WithRouting sets the node's routing options.
func WithRouting(o routing.Options) Option { return func(c *server.Config) { c.Routing = o } }

// WithSIP runs the relay with these listeners and settings (use port 0 for listeners).
func WithSIP(c relay.Config) Option { return func(cfg *server.Config) { cfg.SIP = &c } }

// WithDNS points discovery at these servers (e.g. a miekg/dns server on loopback).
func WithDNS(servers ...string) Option {
	return func(c *server.Config) { c.DNS.Servers = servers }
}

// WithLog sends the proxy's log to l (e.g. to count the lines an attack makes it write).
func WithLog(l *slog.Logger) Option { return func(c *server.Config) { c.Log = l } }

// WithDataDir reuses a data directory, e.g. to restart on the same store.
func WithDataDir(dir string) Option { return func(c *server.Config) { c.DataDir = dir } }

// nxdomainDNS serves DNS on a loopback UDP port that answers NXDOMAIN to every question: the
// tests' proxies are hermetic (no lookup leaves the machine) and a partner without a route is
// "not found" (404), as with a real resolver, not a DNS outage (503).
func nxdomainDNS(t testing.TB) string {
	t.Helper()
	return dnstest.ServeUDP(t, dns.HandlerFunc(func(w dns.ResponseWriter, r *dns.Msg) {
		m := new(dns.Msg)
		m.SetRcode(r, dns.RcodeNameError)
		_ = w.WriteMsg(m)
	}))
}

// Start starts a proxy and stops it when the test ends.
func Start(t testing.TB, opts ...Option) *Proxy {
	t.Helper()
	p := StartUnmanaged(t, Config(t, opts...))
	t.Cleanup(func() {
		if err := p.Close(); err != nil {
			t.Errorf("stopping proxy: %v", err)
		}
	})
	return p
}

// Config is the configuration Start would run, options applied.
func Config(t testing.TB, opts ...Option) server.Config {
	t.Helper()
	tokens, err := admin.NewTokens(map[string]string{"test": Token})
	if err != nil {
		t.Fatal(err)
	}
	logOut := io.Discard
	if os.Getenv("SIPFED_TEST_LOG") != "" {
		logOut = os.Stderr
	}
	cfg := server.Config{
		DataDir:   t.TempDir(),
		AdminAddr: "127.0.0.1:0",
		Tokens:    tokens,
		Routing: routing.Options{
			NodeFQDN:     "imp1.example.com",
			LocalDomains: []string{"example.com"},
		},
		Log: slog.New(slog.NewTextHandler(logOut, &slog.HandlerOptions{Level: slog.LevelDebug})),
		// A test's proxy stops at its end: transactions a test left hanging hold it 5 s at most,
		// not the 32 s a production stop allows.
		ShutdownTimeout: 6 * time.Second,
	}
	// Tests are hermetic: DNS goes to a loopback server that knows no name, so a lookup ends at
	// once in NXDOMAIN instead of reaching out. Tests that need DNS serve it and say so with
	// WithDNS.
	cfg.DNS.Servers = []string{nxdomainDNS(t)}
	for _, o := range opts {
		o(&cfg)
	}
	return cfg
}

// StartUnmanaged starts a proxy from cfg; the caller stops it (Close), e.g. to restart it.
func StartUnmanaged(t testing.TB, cfg server.Config) *Proxy {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	srv, err := server.Start(ctx, cfg)
	if err != nil {
		t.Fatalf("starting proxy: %v", err)
	}
	client, err := api.NewClient(srv.AdminURL(), Token, api.WithRetry(api.Retry{Attempts: 1}))
	if err != nil {
		t.Fatal(err)
	}
	return &Proxy{Server: srv, Endpoint: srv.AdminURL(), Token: Token, Client: client, DataDir: cfg.DataDir}
}
