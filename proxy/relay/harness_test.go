package relay

import (
	"context"
	"crypto/tls"
	"io"
	"log/slog"
	"net"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"

	"github.com/sipfed/terraform-provider-sip/internal/api"
	"github.com/sipfed/terraform-provider-sip/internal/testpki"
	"github.com/sipfed/terraform-provider-sip/proxy/discovery"
	"github.com/sipfed/terraform-provider-sip/proxy/identity"
	"github.com/sipfed/terraform-provider-sip/proxy/routing"
	"github.com/sipfed/terraform-provider-sip/proxy/sip/core"
)

// Names of the test federation.
const (
	localDomain   = "example.com"
	partnerDomain = "partner.example"
	partnerEdge   = "edge.partner.example"
	routingFQDN   = "fed.example.com"
	nodeFQDN      = "imp1.example.com"
)

func testLogger(t testing.TB) *slog.Logger {
	if os.Getenv("SIPFED_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// holder is the test's own snapshot pointer, standing in for package state.
type holder struct {
	p atomic.Pointer[routing.Snapshot]
}

func (h *holder) Load() *routing.Snapshot { return h.p.Load() }

// fed is the configuration a snapshot is built from.
type fed struct {
	domains  []api.FederatedDomain
	routes   []api.StaticRoute
	subjects []string
	off      bool
}

var revision atomic.Uint64

func (f fed) snapshot() *routing.Snapshot {
	c := &routing.Config{
		Revision:       revision.Add(1),
		Domains:        map[string]api.FederatedDomain{},
		Routes:         map[string]api.StaticRoute{},
		PeerSubjects:   map[string]api.TLSPeerSubject{},
		RoutingFQDN:    routingFQDN,
		ServiceEnabled: !f.off,
	}
	for _, d := range f.domains {
		if d.Type == "" {
			d.Type = api.DomainTypeLync
		}
		c.Domains[d.Domain] = d
	}
	for i, r := range f.routes {
		if r.ID == "" {
			r.ID = "r" + strconv.Itoa(i+1)
		}
		c.Routes[r.ID] = r
	}
	for _, s := range f.subjects {
		c.PeerSubjects[s] = api.TLSPeerSubject{Subject: s}
	}
	return routing.Build(c, routing.Options{LocalDomains: []string{localDomain}, NodeFQDN: nodeFQDN})
}

// route is a static route for domain toward addr ("ip:port").
func route(domain, addr, protocol string, priority int) api.StaticRoute {
	r := api.NewStaticRoute()
	host, port, _ := net.SplitHostPort(addr)
	p, _ := strconv.Atoi(port)
	r.DestinationPattern = api.DestinationPattern(domain)
	r.NextHop, r.NextHopPort, r.Protocol, r.Priority = host, p, protocol, priority
	return r
}

// pki holds the certificates of a test: one CA for everyone, and a rogue one.
type pki struct {
	ca, rogue             *testpki.CA
	proxy, partner, other *testpki.Leaf
	internal, rogueLeaf   *testpki.Leaf
	proxyMat              *identity.Material
}

func newPKI(t testing.TB) *pki {
	t.Helper()
	p := &pki{ca: testpki.MustCA("sipfed test CA"), rogue: testpki.MustCA("rogue CA")}
	loop := []net.IP{net.IPv4(127, 0, 0, 1)}
	p.proxy = p.ca.MustIssue(testpki.LeafOptions{CN: routingFQDN, DNS: []string{routingFQDN}, IPs: loop})
	p.partner = p.ca.MustIssue(testpki.LeafOptions{CN: partnerEdge, DNS: []string{partnerEdge}, IPs: loop})
	p.other = p.ca.MustIssue(testpki.LeafOptions{CN: "edge.stranger.example", DNS: []string{"edge.stranger.example"}, IPs: loop})
	p.internal = p.ca.MustIssue(testpki.LeafOptions{CN: "pres.example.com", DNS: []string{"pres.example.com"}, IPs: loop})
	p.rogueLeaf = p.rogue.MustIssue(testpki.LeafOptions{CN: partnerEdge, DNS: []string{partnerEdge}, IPs: loop})
	m, err := identity.New(p.proxy.TLSCertificate(), p.ca.Pool(), "", "")
	if err != nil {
		t.Fatal(err)
	}
	p.proxyMat = m
	return p
}

// serverTLS is a partner edge's (or internal server's) listener: it requires our client
// certificate, as Lync edges do.
func (p *pki) serverTLS(leaf *testpki.Leaf) *tls.Config {
	return &tls.Config{
		Certificates: []tls.Certificate{leaf.TLSCertificate()},
		ClientAuth:   tls.RequireAndVerifyClientCert,
		ClientCAs:    p.ca.Pool(),
	}
}

// clientTLS is a partner's client presenting leaf and trusting ca.
func clientTLS(leaf *testpki.Leaf, ca *testpki.CA) *tls.Config {
	cert := leaf.TLSCertificate()
	return &tls.Config{
		RootCAs:              ca.Pool(),
		GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &cert, nil },
	}
}

// startRelay runs a relay until the test ends.
func startRelay(t *testing.T, cfg Config, snaps Snapshots) *Relay {
	t.Helper()
	if cfg.Logger == nil {
		cfg.Logger = testLogger(t)
	}
	if cfg.NodeFQDN == "" {
		cfg.NodeFQDN = nodeFQDN
	}
	if cfg.HopTimeout == 0 {
		cfg.HopTimeout = time.Second
	}
	if cfg.Overload == (core.OverloadConfig{}) {
		// The test machine is shared: its scheduling delays say nothing about the relay.
		cfg.Overload.Disabled = true
	}
	if cfg.ShutdownTimeout == 0 {
		cfg.ShutdownTimeout = 3 * time.Second
	}
	if cfg.HealthBackoff == 0 {
		// Tests stop and start next hops on purpose; a hop down for long would hide the next.
		cfg.HealthBackoff = 100 * time.Millisecond
	}
	r, err := New(cfg, snaps, testDNS(t))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Error("Run did not return after cancel")
		}
	})
	return r
}

func listenerAddr(ls []Listener, transport string) string {
	for _, l := range ls {
		if l.Transport == transport {
			return l.Addr
		}
	}
	return ""
}

// uas is a SIP server standing in for a partner edge or the internal next hop: it records what
// it gets and answers with code (200 unless set).
type uas struct {
	t         *testing.T
	addr      string
	transport string
	code      atomic.Int32
	mu        sync.Mutex
	reqs      []*sip.Request
	got       chan *sip.Request
	onInvite  func(req *sip.Request, tx sip.ServerTransaction)
}

func startUAS(t *testing.T, transport string, tlsConf *tls.Config) *uas {
	t.Helper()
	u := &uas{t: t, transport: transport, got: make(chan *sip.Request, 1000)}
	u.code.Store(200)
	ua, err := sipgo.NewUA(sipgo.WithUserAgent("uas"), sipgo.WithUserAgentTransportLayerOptions(sip.WithTransportLayerLogger(testLogger(t))),
		sipgo.WithUserAgentTransactionLayerOptions(sip.WithTransactionLayerLogger(testLogger(t))))
	if err != nil {
		t.Fatal(err)
	}
	srv, err := sipgo.NewServer(ua, sipgo.WithServerLogger(testLogger(t)))
	if err != nil {
		t.Fatal(err)
	}
	srv.OnNoRoute(u.handle)
	var serve func() error
	var closer io.Closer
	switch transport {
	case "udp":
		pc, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		u.addr, closer, serve = pc.LocalAddr().String(), pc, func() error { return srv.ServeUDP(pc) }
	case "tcp":
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		u.addr, closer, serve = ln.Addr().String(), ln, func() error { return srv.ServeTCP(ln) }
	case "tls":
		ln, err := tls.Listen("tcp", "127.0.0.1:0", tlsConf)
		if err != nil {
			t.Fatal(err)
		}
		u.addr, closer, serve = ln.Addr().String(), ln, func() error { return srv.ServeTLS(ln) }
	}
	go func() { _ = serve() }()
	t.Cleanup(func() { _ = closer.Close(); _ = ua.Close() })
	return u
}

func (u *uas) handle(req *sip.Request, tx sip.ServerTransaction) {
	c := req.Clone()
	u.mu.Lock()
	u.reqs = append(u.reqs, c)
	u.mu.Unlock()
	select {
	case u.got <- c:
	default:
	}
	switch {
	case req.IsAck():
		return
	case req.IsInvite() && u.onInvite != nil:
		u.onInvite(req, tx)
		return
	}
	res := sip.NewResponseFromRequest(req, int(u.code.Load()), "Test", nil)
	if res.IsSuccess() && (req.IsInvite() || req.Method == sip.SUBSCRIBE) {
		res.AppendHeader(u.contact())
	}
	_ = tx.Respond(res)
}

// contact is the UAS's own address, as its dialogs' remote target.
func (u *uas) contact() *sip.ContactHeader {
	host, port, _ := sip.ParseAddr(u.addr)
	params := sip.NewParams()
	params.Add("transport", u.transport)
	return &sip.ContactHeader{Address: sip.Uri{Scheme: "sip", User: "bob", Host: host, Port: port, UriParams: params}}
}

func (u *uas) count() int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return len(u.reqs)
}

// wait returns the next request the UAS got.
func (u *uas) wait(t *testing.T) *sip.Request {
	t.Helper()
	select {
	case r := <-u.got:
		return r
	case <-time.After(5 * time.Second):
		t.Fatalf("UAS %s got no request", u.addr)
		return nil
	}
}

// uac is a SIP client: an internal user agent, or a partner's edge sending to us.
type uac struct {
	ua     *sipgo.UserAgent
	client *sipgo.Client
}

func newUAC(t *testing.T, tlsConf *tls.Config) *uac {
	t.Helper()
	ua, err := sipgo.NewUA(sipgo.WithUserAgent("uac"), sipgo.WithUserAgenTLSConfig(tlsConf),
		sipgo.WithUserAgentTransportLayerOptions(sip.WithTransportLayerLogger(testLogger(t))),
		sipgo.WithUserAgentTransactionLayerOptions(sip.WithTransactionLayerLogger(testLogger(t))))
	if err != nil {
		t.Fatal(err)
	}
	c, err := sipgo.NewClient(ua, sipgo.WithClientLogger(testLogger(t)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ua.Close() })
	return &uac{ua: ua, client: c}
}

// request builds a request from "from" to "to" (both user@domain), sent to dest over transport.
func request(method sip.RequestMethod, from, to, transport, dest string) *sip.Request {
	var toURI, fromURI sip.Uri
	_ = sip.ParseUri("sip:"+to, &toURI)
	_ = sip.ParseUri("sip:"+from, &fromURI)
	req := sip.NewRequest(method, toURI)
	fh := &sip.FromHeader{Address: fromURI, Params: sip.NewParams()}
	fh.Params.Add("tag", sip.GenerateTagN(8))
	req.AppendHeader(fh)
	req.AppendHeader(&sip.ToHeader{Address: toURI, Params: sip.NewParams()})
	req.SetTransport(transport)
	req.SetDestination(dest)
	if method == sip.MESSAGE {
		req.AppendHeader(sip.NewHeader("Content-Type", "text/plain"))
		req.SetBody([]byte("hello"))
	}
	return req
}

// do sends req and returns the final response, or an error (transport error, timeout).
func (u *uac) do(t *testing.T, req *sip.Request) (*sip.Response, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Second)
	defer cancel()
	return u.client.Do(ctx, req)
}

func (u *uac) mustDo(t *testing.T, req *sip.Request, want int) *sip.Response {
	t.Helper()
	res, err := u.do(t, req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.Recipient.String(), err)
	}
	if res.StatusCode != want {
		t.Fatalf("%s %s: got %d %s, want %d (%s)", req.Method, req.Recipient.String(), res.StatusCode, res.Reason, want, res.String())
	}
	return res
}

// testDNS is a real resolver pointed at a loopback port where nothing listens: the relay tests
// route by IP literals, and any lookup fails at once instead of leaving the machine.
func testDNS(t testing.TB) routing.DNS {
	t.Helper()
	c, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := c.LocalAddr().String()
	_ = c.Close()
	r, err := discovery.New(discovery.Config{Servers: []string{addr}})
	if err != nil {
		t.Fatal(err)
	}
	return r
}
