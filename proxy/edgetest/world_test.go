package edgetest

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"crypto/tls"
	"crypto/x509"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/sipfed/terraform-provider-sip/internal/api"
	"github.com/sipfed/terraform-provider-sip/internal/testpki"
	"github.com/sipfed/terraform-provider-sip/proxy/identity"
	"github.com/sipfed/terraform-provider-sip/proxy/relay"
	"github.com/sipfed/terraform-provider-sip/proxy/routing"
	"github.com/sipfed/terraform-provider-sip/proxy/server/servertest"
)

// Addresses of the world: the enterprise's own servers, the proxy's internal and external
// listeners, and two partners' edges, each on an address of its own so that a leak of one into
// a message is visible.
const (
	ipInternalServer = "127.0.0.50"
	ipProxyInternal  = "127.0.0.51"
	ipProxyExternal  = "127.0.0.52"
	ipEdgeA          = "127.0.0.60"
	ipEdgeB          = "127.0.0.61"
	ipVictim         = "127.0.0.70"
)

// world is one sipfed site (example.com) federating with a.test (edge.a.test) and b.test
// (edge.b.test, bound by peer_subjects), with an internal server answering everything 200.
type world struct {
	proxy        *servertest.Proxy
	ours         *testpki.Leaf
	ourCA        *testpki.CA
	partnersCA   *testpki.CA
	edgeA, edgeB *peer
	inner        *peer
	leafA, leafB *testpki.Leaf
}

type worldOption func(*relay.Config)

func newWorld(t *testing.T, opts ...worldOption) *world {
	t.Helper()
	return newWorldWith(t, nil, opts...)
}

// newWorldWith is newWorld logging to log (nil: the test default).
func newWorldWith(t *testing.T, log *slog.Logger, opts ...worldOption) *world {
	t.Helper()
	return newWorldFull(t, log, "", opts...)
}

// newWorldIn is newWorld on the store in dataDir.
func newWorldIn(t *testing.T, dataDir string, opts ...worldOption) *world {
	t.Helper()
	return newWorldFull(t, nil, dataDir, opts...)
}

func newWorldFull(t *testing.T, log *slog.Logger, dataDir string, opts ...worldOption) *world {
	t.Helper()
	w := &world{ourCA: testpki.MustCA("our CA"), partnersCA: testpki.MustCA("partners CA")}
	w.ours = w.ourCA.MustIssue(testpki.LeafOptions{CN: "fed.example.com", DNS: []string{"fed.example.com"}, IPs: []net.IP{net.ParseIP(ipProxyExternal)}})
	w.leafA = w.partnersCA.MustIssue(testpki.LeafOptions{CN: "edge.a.test", DNS: []string{"edge.a.test"}})
	w.leafB = w.partnersCA.MustIssue(testpki.LeafOptions{CN: "edge.b.test", DNS: []string{"edge.b.test"}})
	edgeTLS := func(leaf *testpki.Leaf) *tls.Config {
		return &tls.Config{Certificates: []tls.Certificate{leaf.TLSCertificate()}, ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: w.ourCA.Pool()}
	}
	ok := func(r wireMsg) []string {
		if r.method() == "ACK" {
			return nil
		}
		return []string{respond(r, 200, "OK")}
	}
	w.edgeA = startPeer(t, "tls", ipEdgeA, edgeTLS(w.leafA))
	w.edgeA.answer = ok
	w.edgeB = startPeer(t, "tls", ipEdgeB, edgeTLS(w.leafB))
	w.edgeB.answer = ok
	w.inner = startPeer(t, "tcp", ipInternalServer, nil)
	w.inner.answer = ok

	mat := w.tlsMaterial(t)
	nh, err := relay.ParseNextHop("sip:" + w.inner.addr + ";transport=tcp")
	if err != nil {
		t.Fatal(err)
	}
	cfg := relay.Config{
		Internal:        []relay.Listener{{Transport: "udp", Addr: ipProxyInternal + ":0"}, {Transport: "tcp", Addr: ipProxyInternal + ":0"}},
		External:        []relay.Listener{{Transport: "tls", Addr: ipProxyExternal + ":0"}},
		InternalNextHop: nh,
		TLS:             mat,
		HopTimeout:      2 * time.Second,
	}
	for _, o := range opts {
		o(&cfg)
	}
	sopts := []servertest.Option{
		servertest.WithRouting(routing.Options{NodeFQDN: "imp1.example.com", LocalDomains: []string{"example.com"}}),
		servertest.WithSIP(cfg)}
	if log != nil {
		sopts = append(sopts, servertest.WithLog(log))
	}
	if dataDir != "" {
		sopts = append(sopts, servertest.WithDataDir(dataDir))
	}
	w.proxy = servertest.Start(t, sopts...)
	ctx := context.Background()
	c := w.proxy.Client
	if _, _, err := c.SetFederationRoutingFQDN(ctx, "fed.example.com", ""); err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"edge.a.test", "edge.b.test"} {
		if _, _, err := c.CreateTLSPeerSubject(ctx, api.TLSPeerSubject{Subject: s}); err != nil {
			t.Fatal(err)
		}
	}
	if _, _, err := c.CreateFederatedDomain(ctx, api.FederatedDomain{Domain: "a.test"}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := c.CreateFederatedDomain(ctx, api.FederatedDomain{Domain: "b.test", PeerSubjects: []string{"edge.b.test"}}); err != nil {
		t.Fatal(err)
	}
	w.route(t, "a.test", w.edgeA.addr, "tls")
	w.route(t, "b.test", w.edgeB.addr, "tls")
	return w
}

// route adds a static route for domain toward addr over protocol.
func (w *world) route(t *testing.T, domain, addr, protocol string) string {
	t.Helper()
	host, port, _ := net.SplitHostPort(addr)
	p, _ := strconv.Atoi(port)
	r := api.NewStaticRoute()
	r.DestinationPattern, r.NextHop, r.NextHopPort, r.Protocol = api.DestinationPattern(domain), host, p, protocol
	out, _, err := w.proxy.Client.CreateStaticRoute(context.Background(), r)
	if err != nil {
		t.Fatal(err)
	}
	return out.ID
}

func (w *world) internalAddr(transport string) string {
	for _, l := range w.proxy.Relay().InternalAddrs() {
		if l.Transport == transport {
			return l.Addr
		}
	}
	return ""
}

func (w *world) externalAddr() string { return w.proxy.Relay().ExternalAddrs()[0].Addr }

// partner dials the external listener as a partner's edge presenting leaf.
func (w *world) partner(t *testing.T, leaf *testpki.Leaf) *client {
	t.Helper()
	return dial(t, "tls", w.externalAddr(), mutualTLS(leaf, w.ourCA), "")
}

// internalClient dials the internal listener from the enterprise's own server address.
func (w *world) internalClient(t *testing.T, transport string) *client {
	t.Helper()
	return dial(t, transport, w.internalAddr(transport), nil, ipInternalServer)
}

// quiet asserts that p got no new message within d.
func quiet(t *testing.T, p *peer, before int, d time.Duration, what string) {
	t.Helper()
	time.Sleep(d)
	if n := p.count(); n != before {
		t.Fatalf("%s: got %d message(s): %s", what, n-before, p.messages()[before].start)
	}
}

func testLeaf(name string) testpki.LeafOptions {
	return testpki.LeafOptions{CN: name, DNS: []string{name}}
}

func edgeServerTLS(leaf *testpki.Leaf, clientCA *testpki.CA) *tls.Config {
	return &tls.Config{Certificates: []tls.Certificate{leaf.TLSCertificate()}, ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: clientCA.Pool()}
}

// httpGet reads a URL with the test token.
func httpGet(ctx context.Context, url string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return "", err
	}
	req.Header.Set("Authorization", "Bearer "+servertest.Token)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	return string(b), err
}

// tlsMaterial is the proxy's certificate, trusting the partners' CA.
func (w *world) tlsMaterial(t *testing.T) *identity.Material {
	t.Helper()
	pool := x509.NewCertPool()
	pool.AddCert(w.partnersCA.Cert)
	mat, err := identity.New(w.ours.TLSCertificate(), pool, "", "")
	if err != nil {
		t.Fatal(err)
	}
	return mat
}
