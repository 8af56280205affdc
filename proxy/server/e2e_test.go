package server_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"

	"github.com/sipfed/terraform-provider-sip/internal/api"
	"github.com/sipfed/terraform-provider-sip/proxy/relay"
	"github.com/sipfed/terraform-provider-sip/proxy/server/servertest"
)

// End to end through a whole proxy: its admin API configures it, its relay carries SIP over
// loopback, and the partner edges are sipgo and sipp user agents.

func init() {
	sip.SetDefaultLogger(slog.New(slog.NewTextHandler(io.Discard, nil)))
}

// edge is a partner edge stand-in: a sipgo UAS that answers MESSAGE with 200 and counts.
type edge struct {
	name string
	addr string // host:port
	got  atomic.Int64
}

func startEdge(t *testing.T, name, transport string) *edge {
	t.Helper()
	ua, err := sipgo.NewUA(sipgo.WithUserAgent(name))
	if err != nil {
		t.Fatal(err)
	}
	srv, err := sipgo.NewServer(ua)
	if err != nil {
		t.Fatal(err)
	}
	e := &edge{name: name}
	srv.OnMessage(func(req *sip.Request, tx sip.ServerTransaction) {
		e.got.Add(1)
		_ = tx.Respond(sip.NewResponseFromRequest(req, sip.StatusOK, "OK", nil))
	})
	var closer io.Closer
	switch transport {
	case "udp":
		c, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		e.addr, closer = c.LocalAddr().String(), c
		go func() { _ = srv.ServeUDP(c) }()
	case "tcp":
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		e.addr, closer = l.Addr().String(), l
		go func() { _ = srv.ServeTCP(l) }()
	}
	t.Cleanup(func() { _ = closer.Close(); _ = ua.Close() })
	return e
}

func (e *edge) port() int {
	_, p, _ := net.SplitHostPort(e.addr)
	n, _ := strconv.Atoi(p)
	return n
}

func startSIPProxy(t *testing.T, transport string) (*servertest.Proxy, string) {
	t.Helper()
	p := servertest.Start(t, servertest.WithSIP(relay.Config{
		Internal:   []relay.Listener{{Transport: transport, Addr: "127.0.0.1:0"}},
		HopTimeout: 2 * time.Second,
	}))
	for _, l := range p.Relay().InternalAddrs() {
		if l.Transport == transport {
			return p, l.Addr
		}
	}
	t.Fatalf("no %s listener", transport)
	return nil, ""
}

func staticRoute(pattern string, port int, protocol string) api.StaticRoute {
	r := api.NewStaticRoute()
	r.DestinationPattern, r.NextHop, r.NextHopPort, r.Protocol = pattern, "127.0.0.1", port, protocol
	return r
}

// sender is an enterprise user agent sending MESSAGEs to the proxy's internal listener.
type sender struct {
	client    *sipgo.Client
	transport string
	proxy     string
}

func newSender(t *testing.T, transport, proxy string) *sender {
	t.Helper()
	ua, err := sipgo.NewUA(sipgo.WithUserAgent("enterprise-user"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ua.Close() })
	c, err := sipgo.NewClient(ua)
	if err != nil {
		t.Fatal(err)
	}
	return &sender{client: c, transport: transport, proxy: proxy}
}

func (s *sender) message(ctx context.Context, to string) (*sip.Response, error) {
	var uri sip.Uri
	if err := sip.ParseUri(to, &uri); err != nil {
		return nil, err
	}
	req := sip.NewRequest(sip.MESSAGE, uri)
	req.SetTransport(map[string]string{"udp": "UDP", "tcp": "TCP"}[s.transport])
	req.SetDestination(s.proxy)
	from := &sip.FromHeader{Address: sip.Uri{Scheme: "sip", User: "bob", Host: "example.com"}, Params: sip.NewParams()}
	from.Params.Add("tag", sip.GenerateTagN(8))
	req.AppendHeader(from)
	req.AppendHeader(&sip.ToHeader{Address: uri, Params: sip.NewParams()})
	req.SetBody([]byte("hi"))
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	return s.client.Do(ctx, req)
}

// A change made through the admin API applies to the very next request, without a restart.
func TestAdminChangesApplyToTheNextRequest(t *testing.T) {
	for _, transport := range []string{"udp", "tcp"} {
		t.Run(transport, func(t *testing.T) {
			ctx := context.Background()
			p, addr := startSIPProxy(t, transport)
			edgeA, edgeB := startEdge(t, "edge-a", transport), startEdge(t, "edge-b", transport)
			s := newSender(t, transport, addr)

			res, err := s.message(ctx, "sip:alice@domaina.com")
			if err != nil || res.StatusCode != sip.StatusForbidden {
				t.Fatalf("before configuration: %v %v, want 403 (not federated: no open relay)", res, err)
			}
			if _, _, err := p.Client.CreateFederatedDomain(ctx, api.FederatedDomain{Domain: "domaina.com"}); err != nil {
				t.Fatal(err)
			}
			res, err = s.message(ctx, "sip:alice@domaina.com")
			if err != nil || res.StatusCode != sip.StatusNotFound {
				t.Fatalf("federated without a route: %v %v, want 404", res, err)
			}
			route, etag, err := p.Client.CreateStaticRoute(ctx, staticRoute(".com.domaina.*", edgeA.port(), transport))
			if err != nil {
				t.Fatal(err)
			}
			res, err = s.message(ctx, "sip:alice@domaina.com")
			if err != nil || res.StatusCode != sip.StatusOK || edgeA.got.Load() != 1 || edgeB.got.Load() != 0 {
				t.Fatalf("routed to A: %v %v; A got %d, B got %d", res, err, edgeA.got.Load(), edgeB.got.Load())
			}
			route.NextHopPort = edgeB.port()
			if _, _, err := p.Client.UpdateStaticRoute(ctx, route, etag); err != nil {
				t.Fatal(err)
			}
			res, err = s.message(ctx, "sip:alice@domaina.com")
			if err != nil || res.StatusCode != sip.StatusOK || edgeA.got.Load() != 1 || edgeB.got.Load() != 1 {
				t.Fatalf("re-routed to B: %v %v; A got %d, B got %d", res, err, edgeA.got.Load(), edgeB.got.Load())
			}
			if err := p.Client.DeleteFederatedDomain(ctx, "domaina.com", ""); err != nil {
				t.Fatal(err)
			}
			res, err = s.message(ctx, "sip:alice@domaina.com")
			if err != nil || res.StatusCode != sip.StatusForbidden {
				t.Fatalf("after the domain is deleted: %v %v, want 403", res, err)
			}
			if edgeA.got.Load()+edgeB.got.Load() != 2 {
				t.Fatal("a refused request reached an edge")
			}
		})
	}
}

// Routes change through the admin API while MESSAGEs flow: no transaction fails.
func TestAdminChangesUnderTrafficDropNothing(t *testing.T) {
	ctx := context.Background()
	p, addr := startSIPProxy(t, "tcp")
	edgeA, edgeB := startEdge(t, "edge-a", "tcp"), startEdge(t, "edge-b", "tcp")
	if _, _, err := p.Client.CreateFederatedDomain(ctx, api.FederatedDomain{Domain: "domaina.com"}); err != nil {
		t.Fatal(err)
	}
	route, etag, err := p.Client.CreateStaticRoute(ctx, staticRoute(".com.domaina.*", edgeA.port(), "tcp"))
	if err != nil {
		t.Fatal(err)
	}

	const senders, duration = 6, 3 * time.Second
	stop := make(chan struct{})
	var (
		sent, ok atomic.Int64
		failMu   sync.Mutex
		failures []string
		wg       sync.WaitGroup
	)
	for range senders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s := newSender(t, "tcp", addr)
			for i := 0; i < 100000; i++ {
				select {
				case <-stop:
					return
				default:
				}
				// Paced, like users rather than a load generator: the test shares the CPU with the
				// proxy, and a saturated CPU makes the proxy shed load with 503 by design.
				time.Sleep(2 * time.Millisecond)
				sent.Add(1)
				res, err := s.message(ctx, "sip:alice@domaina.com")
				if err == nil && res.StatusCode == sip.StatusOK {
					ok.Add(1)
					continue
				}
				failMu.Lock()
				failures = append(failures, fmt.Sprintf("%v %v", res, err))
				failMu.Unlock()
			}
		}()
	}

	// Meanwhile: flip the route between the edges, add and remove other domains, routes and peer
	// subjects, and move the routing FQDN.
	writes := 0
	deadline := time.Now().Add(duration)
	for i := 0; time.Now().Before(deadline); i++ {
		if i%2 == 0 {
			route.NextHopPort = edgeB.port()
		} else {
			route.NextHopPort = edgeA.port()
		}
		if route, etag, err = p.Client.UpdateStaticRoute(ctx, route, etag); err != nil {
			t.Fatal(err)
		}
		other := fmt.Sprintf("other%d.example.net", i)
		if _, _, err := p.Client.CreateFederatedDomain(ctx, api.FederatedDomain{Domain: other}); err != nil {
			t.Fatal(err)
		}
		if _, _, err := p.Client.SetFederationRoutingFQDN(ctx, fmt.Sprintf("pub%d.example.com", i%3), ""); err != nil {
			t.Fatal(err)
		}
		if err := p.Client.DeleteFederatedDomain(ctx, other, ""); err != nil {
			t.Fatal(err)
		}
		writes += 4
		time.Sleep(10 * time.Millisecond)
	}
	close(stop)
	wg.Wait()
	if len(failures) > 0 {
		t.Fatalf("%d of %d transactions failed during %d admin writes; first: %s", len(failures), sent.Load(), writes, failures[0])
	}
	if ok.Load() < 100 || edgeA.got.Load() == 0 || edgeB.got.Load() == 0 {
		t.Fatalf("too little traffic to mean anything: %d ok, A %d, B %d", ok.Load(), edgeA.got.Load(), edgeB.got.Load())
	}
	t.Logf("%d MESSAGEs, all 200, during %d admin writes (edge A %d, edge B %d)", ok.Load(), writes, edgeA.got.Load(), edgeB.got.Load())
}

// sipp, a SIP stack nobody here wrote, sends the MESSAGE; the route configured through the admin
// API decides which edge gets it.
func TestSippThroughTheWholeProxy(t *testing.T) {
	bin, err := exec.LookPath("sipp")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("sipp is required in CI (apt-get install sip-tester): %v", err)
		}
		t.Skip("sipp not installed (apt-get install sip-tester)")
	}
	for _, transport := range []string{"udp", "tcp"} {
		t.Run(transport, func(t *testing.T) {
			ctx := context.Background()
			p, addr := startSIPProxy(t, transport)
			edgeA, edgeB := startEdge(t, "edge-a", transport), startEdge(t, "edge-b", transport)
			if _, _, err := p.Client.CreateFederatedDomain(ctx, api.FederatedDomain{Domain: "partner.example", Type: api.DomainTypeAOL}); err != nil {
				t.Fatal(err)
			}
			// The more specific pattern wins over the catch-all.
			if _, _, err := p.Client.CreateStaticRoute(ctx, staticRoute(".example.partner", edgeB.port(), transport)); err != nil {
				t.Fatal(err)
			}
			if _, _, err := p.Client.CreateStaticRoute(ctx, staticRoute(".*", edgeA.port(), transport)); err != nil {
				t.Fatal(err)
			}
			scenario, err := filepath.Abs("../relay/testdata/sipp/uac_message.xml")
			if err != nil {
				t.Fatal(err)
			}
			dir := t.TempDir()
			mode := map[string]string{"udp": "u1", "tcp": "t1"}[transport]
			cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
			defer cancel()
			cmd := exec.CommandContext(cctx, bin, "-sf", scenario, "-nostdin", "-timeout", "20s", "-t", mode,
				"-i", "127.0.0.1", "-p", "0", "-m", "3", "-s", "carol", "-key", "domain", "partner.example",
				"-trace_msg", "-message_file", filepath.Join(dir, "messages.log"), addr)
			cmd.Dir = dir
			var out bytes.Buffer
			cmd.Stdout, cmd.Stderr = &out, &out
			if err := cmd.Run(); err != nil {
				msgs, _ := os.ReadFile(filepath.Join(dir, "messages.log"))
				t.Fatalf("sipp: %v (exit 0 means every MESSAGE got its 200)\n%s\n%s", err, out.String(), msgs)
			}
			if edgeB.got.Load() != 3 || edgeA.got.Load() != 0 {
				t.Fatalf("edge B (exact pattern) got %d, edge A (catch-all) got %d; want 3 and 0", edgeB.got.Load(), edgeA.got.Load())
			}
		})
	}
}
