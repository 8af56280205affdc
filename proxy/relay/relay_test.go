package relay

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/sipfed/terraform-provider-sip/internal/api"
	"github.com/sipfed/terraform-provider-sip/internal/testpki"
	"github.com/sipfed/terraform-provider-sip/proxy/routing"
	"github.com/sipfed/terraform-provider-sip/proxy/telemetry"
)

// world is a proxy between an internal next hop (a TCP UAS) and a partner edge (a mutual-TLS
// UAS with the partner's certificate), with partner.example federated and routed statically.
type world struct {
	reg   *prometheus.Registry
	p     *pki
	snaps *holder
	relay *Relay
	edge  *uas
	inner *uas
	fed   fed
}

func newWorld(t *testing.T, tweak ...func(*world, *Config)) *world {
	t.Helper()
	w := &world{p: newPKI(t), snaps: &holder{}, reg: prometheus.NewRegistry()}
	w.edge = startUAS(t, "tls", w.p.serverTLS(w.p.partner))
	w.inner = startUAS(t, "tcp", nil)
	w.fed = fed{
		domains:  []api.FederatedDomain{{Domain: partnerDomain}},
		routes:   []api.StaticRoute{route(partnerDomain, w.edge.addr, api.ProtocolTLS, 1)},
		subjects: []string{partnerEdge},
	}
	nh, err := ParseNextHop("sip:" + w.inner.addr + ";transport=tcp")
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config{
		Internal:        []Listener{{Transport: "tcp", Addr: "127.0.0.1:0"}, {Transport: "udp", Addr: "127.0.0.1:0"}, {Transport: "tls", Addr: "127.0.0.1:0"}},
		External:        []Listener{{Transport: "tls", Addr: "127.0.0.1:0"}},
		InternalNextHop: nh,
		TLS:             w.p.proxyMat,
		Registerer:      w.reg,
	}
	for _, f := range tweak {
		f(w, &cfg)
	}
	w.snaps.p.Store(w.fed.snapshot())
	w.relay = startRelay(t, cfg, w.snaps)
	return w
}

func (w *world) set(f fed) {
	w.fed = f
	w.snaps.p.Store(f.snapshot())
}

func (w *world) internalAddr(transport string) string {
	return listenerAddr(w.relay.InternalAddrs(), transport)
}

func (w *world) externalAddr() string {
	return listenerAddr(w.relay.ExternalAddrs(), "tls")
}

// outbound sends a MESSAGE from alice@example.com to bob@partner.example on the internal side.
func (w *world) outbound(t *testing.T, transport string) *sip.Request {
	return request(sip.MESSAGE, "alice@"+localDomain, "bob@"+partnerDomain, strings.ToUpper(transport), w.internalAddr(transport))
}

// inbound sends a MESSAGE from bob@partner.example to alice@example.com on the external side.
func (w *world) inbound() *sip.Request {
	return request(sip.MESSAGE, "bob@"+partnerDomain, "alice@"+localDomain, "TLS", w.externalAddr())
}

func (w *world) partnerUAC(t *testing.T) *uac {
	return newUAC(t, clientTLS(w.p.partner, w.p.ca))
}

func viaBranches(req *sip.Request) []string {
	var out []string
	for _, h := range req.GetHeaders("Via") {
		b, _ := h.(*sip.ViaHeader).Params.Get("branch")
		out = append(out, b)
	}
	return out
}

func TestOutboundToPartnerOverMutualTLS(t *testing.T) {
	for _, show := range []bool{false, true} {
		w := newWorld(t, func(_ *world, c *Config) { c.ShowTopology = show })
		for _, transport := range []string{"tcp", "udp", "tls"} {
			name := transport
			if show {
				name += "/topology shown"
			}
			t.Run(name, func(t *testing.T) {
				c := newUAC(t, clientTLS(w.p.internal, w.p.ca))
				w.edge.code.Store(200)
				req := w.outbound(t, transport)
				res := c.mustDo(t, req, 200)
				got := w.edge.wait(t)
				if got.Method != sip.MESSAGE || got.Recipient.User != "bob" || got.Recipient.Host != partnerDomain {
					t.Fatalf("edge got %s", got.StartLine())
				}
				if v := got.Via(); v.Host != routingFQDN || v.Transport != "TLS" {
					t.Errorf("top Via %q: want sent-by the federation routing FQDN over TLS", v.Value())
				}
				rrs := got.GetHeaders("Record-Route")
				if len(rrs) == 0 || !strings.Contains(rrs[0].Value(), "sip:"+routingFQDN) || !strings.Contains(rrs[0].Value(), "transport=tls") {
					t.Errorf("Record-Route %v: want the routing FQDN on top", rrs)
				}
				if show {
					if len(viaBranches(got)) != 2 {
						t.Errorf("edge saw Vias %v, want ours and the UAC's", viaBranches(got))
					}
					if len(rrs) != 2 || !strings.Contains(rrs[1].Value(), w.internalAddr(transport)) {
						t.Errorf("Record-Route %v: want our internal entry naming the listener %s second", rrs, w.internalAddr(transport))
					}
					if got.CallID().Value() != req.CallID().Value() {
						t.Errorf("Call-ID changed with topology shown")
					}
				} else {
					if len(viaBranches(got)) != 1 {
						t.Errorf("edge saw Vias %v: topology hiding leaves only ours", viaBranches(got))
					}
					if len(rrs) != 1 {
						t.Errorf("Record-Route %v: topology hiding leaves only our external entry", rrs)
					}
					if whole := got.String(); strings.Contains(whole, w.internalAddr(transport)) || strings.Contains(whole, req.CallID().Value()) {
						t.Errorf("the partner sees the internal listener or Call-ID:\n%s", whole)
					}
				}
				if mf := got.MaxForwards(); mf == nil || mf.Val() != 69 {
					t.Errorf("Max-Forwards %v, want 69", mf)
				}
				if string(got.Body()) != "hello" {
					t.Errorf("body %q", got.Body())
				}
				if len(res.GetHeaders("Via")) != 1 {
					t.Errorf("response upstream carries Vias %v: ours must be gone", res.GetHeaders("Via"))
				}
				if res.CallID().Value() != req.CallID().Value() {
					t.Errorf("response Call-ID %q, want the request's %q", res.CallID().Value(), req.CallID().Value())
				}
			})
		}
	}
}

func TestDirectFederationRecordRoutesNodeFQDN(t *testing.T) {
	w := newWorld(t)
	f := w.fed
	f.domains = []api.FederatedDomain{{Domain: partnerDomain, DirectFederation: true}}
	w.set(f)
	newUAC(t, nil).mustDo(t, w.outbound(t, "tcp"), 200)
	got := w.edge.wait(t)
	if rr := got.RecordRoute(); rr == nil || rr.Address.Host != nodeFQDN {
		t.Fatalf("Record-Route %v, want the node FQDN for a direct_federation domain", rr)
	}
}

func TestInboundFromPartnerOverMutualTLS(t *testing.T) {
	w := newWorld(t)
	res := w.partnerUAC(t).mustDo(t, w.inbound(), 200)
	got := w.inner.wait(t)
	if got.Recipient.User != "alice" || got.Recipient.Host != localDomain {
		t.Fatalf("internal next hop got %s", got.StartLine())
	}
	rrs := got.GetHeaders("Record-Route")
	if len(rrs) != 2 || !strings.Contains(rrs[0].Value(), w.internalAddr("tcp")) || !strings.Contains(rrs[1].Value(), routingFQDN) {
		t.Errorf("Record-Route %v: want our internal entry on top, then the routing FQDN", rrs)
	}
	if got.Via().Transport != "TCP" {
		t.Errorf("Via %q: want the internal next hop's transport", got.Via().Value())
	}
	if len(res.GetHeaders("Via")) != 1 {
		t.Errorf("response carries %d Vias", len(res.GetHeaders("Via")))
	}
}

func TestInboundHandshakeRejected(t *testing.T) {
	w := newWorld(t)
	cases := map[string]*uac{
		"untrusted CA":         newUAC(t, clientTLS(w.p.rogueLeaf, w.p.ca)),
		"unknown peer subject": newUAC(t, clientTLS(w.p.other, w.p.ca)),
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			if res, err := c.client.Do(ctx, w.inbound()); err == nil {
				t.Fatalf("got %d; want the handshake to fail", res.StatusCode)
			}
		})
	}
	// At the TLS level: the proxy's alert ends the handshake, before any SIP.
	for _, leaf := range []*testpki.Leaf{w.p.rogueLeaf, w.p.other} {
		conn, err := tls.Dial("tcp", w.externalAddr(), clientTLS(leaf, w.p.ca))
		if err == nil {
			_ = conn.SetReadDeadline(time.Now().Add(2 * time.Second))
			_, err = conn.Read(make([]byte, 1))
			conn.Close()
		}
		if err == nil || !strings.Contains(err.Error(), "bad certificate") {
			t.Errorf("%s: handshake ended with %v; want a bad certificate alert", leaf.Cert.Subject.CommonName, err)
		}
	}
	if n := w.inner.count(); n != 0 {
		t.Fatalf("internal next hop got %d requests from rejected peers", n)
	}
	if n := w.metric(t, telemetry.MetricTLSHandshakeFailures, "side="+telemetry.SideExternal, "reason="+telemetry.ReasonChain); n < 1 {
		t.Errorf("chain failures counted %v", n)
	}
	if n := w.metric(t, telemetry.MetricTLSHandshakeFailures, "side="+telemetry.SideExternal, "reason="+telemetry.ReasonPeerSubject); n < 1 {
		t.Errorf("subject failures counted %v", n)
	}
	// A peer subject added later is accepted on the next connection, without restart.
	f := w.fed
	f.subjects = append(f.subjects, "edge.stranger.example")
	f.domains = append(f.domains, api.FederatedDomain{Domain: "stranger.example"})
	w.set(f)
	req := request(sip.MESSAGE, "eve@stranger.example", "alice@"+localDomain, "TLS", w.externalAddr())
	newUAC(t, clientTLS(w.p.other, w.p.ca)).mustDo(t, req, 200)
}

func TestPeerSubjectRemovedOnOpenConnection(t *testing.T) {
	w := newWorld(t)
	c := w.partnerUAC(t)
	c.mustDo(t, w.inbound(), 200)
	f := w.fed
	f.subjects = nil
	w.set(f)
	res := c.mustDo(t, w.inbound(), 403)
	if !strings.Contains(res.String(), "not a TLS peer subject") {
		t.Errorf("403 without the reason: %s", res)
	}
}

func TestOutboundHandshakeRejected(t *testing.T) {
	w := newWorld(t)
	for name, leaf := range map[string]func() *uas{
		"unknown peer subject": func() *uas { return startUAS(t, "tls", w.p.serverTLS(w.p.other)) },
		"untrusted CA":         func() *uas { return startUAS(t, "tls", w.p.serverTLS(w.p.rogueLeaf)) },
	} {
		t.Run(name, func(t *testing.T) {
			bad := leaf()
			f := w.fed
			f.routes = []api.StaticRoute{route(partnerDomain, bad.addr, api.ProtocolTLS, 1)}
			w.set(f)
			newUAC(t, nil).mustDo(t, w.outbound(t, "tcp"), 503)
			if bad.count() != 0 {
				t.Fatal("SIP reached a partner whose certificate was rejected")
			}
		})
	}
	if n := w.metric(t, telemetry.MetricTLSHandshakeFailures, "side="+telemetry.SideExternal, "reason="+telemetry.ReasonPeerSubject); n < 1 {
		t.Errorf("outbound subject failures counted %v", n)
	}
}

func TestInboundACL(t *testing.T) {
	w := newWorld(t)
	c := w.partnerUAC(t)
	t.Run("From domain not federated", func(t *testing.T) {
		req := request(sip.MESSAGE, "bob@stranger.example", "alice@"+localDomain, "TLS", w.externalAddr())
		res := c.mustDo(t, req, 403)
		if !strings.Contains(res.String(), "stranger.example is not a federated domain") {
			t.Errorf("no Warning: %s", res)
		}
	})
	t.Run("Request-URI not local", func(t *testing.T) {
		// Partner to partner, even toward a federated domain: never relayed.
		req := request(sip.MESSAGE, "bob@"+partnerDomain, "carol@"+partnerDomain, "TLS", w.externalAddr())
		c.mustDo(t, req, 403)
	})
	if w.inner.count() != 0 || w.edge.count() != 0 {
		t.Fatal("a refused request was forwarded")
	}
}

func TestOutboundNotFederated(t *testing.T) {
	w := newWorld(t)
	req := request(sip.MESSAGE, "alice@"+localDomain, "x@stranger.example", "TCP", w.internalAddr("tcp"))
	newUAC(t, nil).mustDo(t, req, 403)
}

type noDNS struct{}

func (noDNS) LookupSRV(context.Context, string) (routing.SRVAnswer, error) {
	return routing.SRVAnswer{}, errors.New("NXDOMAIN")
}
func (noDNS) LookupAddrs(context.Context, string) (routing.AddrAnswer, error) {
	return routing.AddrAnswer{}, errors.New("NXDOMAIN")
}

func TestNoRoute404WithWarning(t *testing.T) {
	p := newPKI(t)
	h := &holder{}
	h.p.Store(fed{domains: []api.FederatedDomain{{Domain: partnerDomain}}}.snapshot())
	r, err := New(Config{Internal: []Listener{{Transport: "tcp", Addr: "127.0.0.1:0"}}, TLS: p.proxyMat, Logger: testLogger(t), NodeFQDN: nodeFQDN}, h, noDNS{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { _ = r.Run(ctx) }()
	req := request(sip.MESSAGE, "alice@"+localDomain, "bob@"+partnerDomain, "TCP", listenerAddr(r.InternalAddrs(), "tcp"))
	res := newUAC(t, nil).mustDo(t, req, 404)
	wh := res.GetHeader("Warning")
	if wh == nil || !strings.HasPrefix(wh.Value(), "399 "+routingFQDN+` "`) {
		t.Fatalf("Warning %v", wh)
	}
	t.Logf("Warning: %s", wh.Value())
}

func TestMaxForwardsZero(t *testing.T) {
	w := newWorld(t)
	req := w.outbound(t, "tcp")
	mf := sip.MaxForwardsHeader(0)
	req.AppendHeader(&mf)
	newUAC(t, nil).mustDo(t, req, 483)
	req = w.inbound()
	mf0 := sip.MaxForwardsHeader(0)
	req.AppendHeader(&mf0)
	w.partnerUAC(t).mustDo(t, req, 483)
	if w.edge.count()+w.inner.count() != 0 {
		t.Fatal("a request with Max-Forwards 0 was forwarded")
	}
}

func TestLoopDetected(t *testing.T) {
	w := newWorld(t)
	// A route for the partner that points back at the proxy's own internal listener.
	f := w.fed
	f.routes = []api.StaticRoute{route(partnerDomain, w.internalAddr("udp"), api.ProtocolUDP, 1)}
	w.set(f)
	newUAC(t, nil).mustDo(t, w.outbound(t, "tcp"), 482)
}

func TestServiceOff(t *testing.T) {
	w := newWorld(t)
	f := w.fed
	f.off = true
	w.set(f)
	newUAC(t, nil).mustDo(t, w.outbound(t, "tcp"), 503)
	w.partnerUAC(t).mustDo(t, w.inbound(), 503)
	if w.edge.count()+w.inner.count() != 0 {
		t.Fatal("requests were forwarded while the federation service is off")
	}
	f.off = false
	w.set(f)
	newUAC(t, nil).mustDo(t, w.outbound(t, "tcp"), 200)
}

func TestOptionsToProxy(t *testing.T) {
	w := newWorld(t)
	c := newUAC(t, nil)
	for _, target := range []string{routingFQDN, nodeFQDN, w.internalAddr("tcp")} {
		req := request(sip.OPTIONS, "alice@"+localDomain, target, "TCP", w.internalAddr("tcp"))
		req.Recipient.User = ""
		res := c.mustDo(t, req, 200)
		if res.GetHeader("Allow") == nil {
			t.Errorf("OPTIONS %s: no Allow", target)
		}
	}
	if w.edge.count() != 0 {
		t.Fatal("OPTIONS to the proxy was forwarded")
	}
}

func TestFailover(t *testing.T) {
	w := newWorld(t)
	t.Run("first hop answers 503", func(t *testing.T) {
		busy := startUAS(t, "tcp", nil)
		busy.code.Store(503)
		good := startUAS(t, "tcp", nil)
		f := w.fed
		f.routes = []api.StaticRoute{route(partnerDomain, busy.addr, api.ProtocolTCP, 1), route(partnerDomain, good.addr, api.ProtocolTCP, 2)}
		w.set(f)
		newUAC(t, nil).mustDo(t, w.outbound(t, "udp"), 200)
		a, b := busy.wait(t), good.wait(t)
		if viaBranches(a)[0] == viaBranches(b)[0] {
			t.Fatalf("both branches used branch %s: a failover must be a new transaction", viaBranches(a)[0])
		}
		if len(viaBranches(a)) != 1 || len(viaBranches(b)) != 1 {
			t.Fatalf("the edges saw Vias %v and %v: topology hiding leaves only ours", viaBranches(a), viaBranches(b))
		}
	})
	t.Run("first hop down", func(t *testing.T) {
		ln, _ := net.Listen("tcp", "127.0.0.1:0")
		down := ln.Addr().String()
		ln.Close()
		f := w.fed
		f.routes = []api.StaticRoute{route(partnerDomain, down, api.ProtocolTCP, 1), route(partnerDomain, w.edge.addr, api.ProtocolTLS, 3)}
		w.set(f)
		newUAC(t, nil).mustDo(t, w.outbound(t, "tcp"), 200)
		w.edge.wait(t)
	})
	t.Run("first hop silent", func(t *testing.T) {
		pc, _ := net.ListenPacket("udp", "127.0.0.1:0") // swallows everything
		defer pc.Close()
		good := startUAS(t, "udp", nil)
		f := w.fed
		f.routes = []api.StaticRoute{route(partnerDomain, pc.LocalAddr().String(), api.ProtocolUDP, 1), route(partnerDomain, good.addr, api.ProtocolUDP, 2)}
		w.set(f)
		start := time.Now()
		newUAC(t, nil).mustDo(t, w.outbound(t, "tcp"), 200)
		good.wait(t)
		if d := time.Since(start); d > 3*time.Second {
			t.Fatalf("failover took %v; the hop timeout is 1s", d)
		}
	})
	t.Run("all hops fail", func(t *testing.T) {
		busy := startUAS(t, "tcp", nil)
		busy.code.Store(503)
		f := w.fed
		f.routes = []api.StaticRoute{route(partnerDomain, busy.addr, api.ProtocolTCP, 1)}
		w.set(f)
		newUAC(t, nil).mustDo(t, w.outbound(t, "tcp"), 503)
	})
	if n := w.metric(t, telemetry.MetricSIPFailovers, "reason=503"); n < 1 {
		t.Errorf("failovers on 503 counted %v", n)
	}
}

func TestMalformedSIPKeepsServing(t *testing.T) {
	w := newWorld(t)
	garbage := []string{
		"\x00\x01\x02 not sip at all\r\n\r\n",
		"MESSAGE sip:bob@partner.example SIP/2.0\r\nContent-Length: 0\r\n\r\n", // no Via, CSeq
		"MESSAGE sip:bob@partner.example SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bKx\r\nCSeq: 1 MESSAGE\r\nContent-Length: 0\r\n\r\n", // no From/To
		"INVITE sip:bob@partner.example SIP/2.0\r\nVia: garbage\r\nMax-Forwards: x\r\n\r\n",
	}
	u, err := net.Dial("udp", w.internalAddr("udp"))
	if err != nil {
		t.Fatal(err)
	}
	defer u.Close()
	for _, g := range garbage {
		_, _ = u.Write([]byte(g))
	}
	for _, g := range garbage {
		c, err := net.Dial("tcp", w.internalAddr("tcp"))
		if err != nil {
			t.Fatal(err)
		}
		_, _ = c.Write([]byte(g))
		_ = c.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
		_, _ = c.Read(make([]byte, 1024))
		c.Close()
	}
	// A request the proxy cannot route (no From, To, Call-ID) gets 400.
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	msg := "MESSAGE sip:bob@partner.example SIP/2.0\r\nVia: SIP/2.0/UDP " + pc.LocalAddr().String() +
		";branch=z9hG4bKmalformed1\r\nCSeq: 1 MESSAGE\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
	dst, _ := net.ResolveUDPAddr("udp", w.internalAddr("udp"))
	if _, err := pc.WriteTo([]byte(msg), dst); err != nil {
		t.Fatal(err)
	}
	_ = pc.SetReadDeadline(time.Now().Add(3 * time.Second))
	buf := make([]byte, 2048)
	n, _, err := pc.ReadFrom(buf)
	if err != nil || !strings.HasPrefix(string(buf[:n]), "SIP/2.0 400") {
		t.Fatalf("request without From/To: got %q, %v; want 400", buf[:n], err)
	}
	c := newUAC(t, nil)
	for _, transport := range []string{"udp", "tcp"} {
		c.mustDo(t, w.outbound(t, transport), 200)
	}
}

func TestLiveReloadDropsNothing(t *testing.T) {
	w := newWorld(t)
	other := startUAS(t, "tcp", nil)
	a := w.fed
	b := w.fed
	b.routes = []api.StaticRoute{route(partnerDomain, other.addr, api.ProtocolTCP, 1)}
	const workers, perWorker = 4, 250
	stop := make(chan struct{})
	swapped := make(chan int)
	go func() {
		n := 0
		defer func() { swapped <- n }()
		for {
			select {
			case <-stop:
				return
			case <-time.After(time.Millisecond):
			}
			n++
			if n%2 == 0 {
				w.set(a)
			} else {
				w.set(b)
			}
		}
	}()
	var wg sync.WaitGroup
	errs := make(chan error, workers*perWorker)
	for i := 0; i < workers; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := newUAC(t, nil)
			for j := 0; j < perWorker; j++ {
				res, err := c.do(t, w.outbound(t, "tcp"))
				if err == nil && res.StatusCode != 200 {
					err = errors.New(res.StartLine())
				}
				if err != nil {
					errs <- err
				}
			}
		}()
	}
	wg.Wait()
	close(stop)
	n := <-swapped
	close(errs)
	for err := range errs {
		t.Errorf("transaction failed during reload: %v", err)
	}
	if w.edge.count() == 0 || other.count() == 0 || w.edge.count()+other.count() != workers*perWorker {
		t.Errorf("edge got %d, other %d, want %d in all across both", w.edge.count(), other.count(), workers*perWorker)
	}
	t.Logf("%d swaps during %d transactions", n, workers*perWorker)
}

func TestOverloadSheds503(t *testing.T) {
	w := newWorld(t, func(_ *world, c *Config) { c.MaxInFlight = 1 })
	slow := make(chan struct{})
	w.edge.onInvite = func(req *sip.Request, tx sip.ServerTransaction) {
		<-slow
		_ = tx.Respond(sip.NewResponseFromRequest(req, 486, "Busy", nil))
	}
	c := newUAC(t, nil)
	inv := request(sip.INVITE, "alice@"+localDomain, "bob@"+partnerDomain, "TCP", w.internalAddr("tcp"))
	done := make(chan struct{})
	go func() {
		defer close(done)
		_, _ = c.do(t, inv)
	}()
	w.edge.wait(t)
	res := newUAC(t, nil).mustDo(t, w.outbound(t, "tcp"), 503)
	if res.GetHeader("Retry-After") == nil {
		t.Error("503 without Retry-After")
	}
	close(slow)
	<-done
	if n := w.metric(t, telemetry.MetricSIPShed, "reason=in_flight"); n != 1 {
		t.Errorf("shed counted %v", n)
	}
}

func TestUDPRetransmissionAnsweredAgain(t *testing.T) {
	w := newWorld(t)
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	msg := []byte("MESSAGE sip:bob@" + partnerDomain + " SIP/2.0\r\n" +
		"Via: SIP/2.0/UDP " + pc.LocalAddr().String() + ";branch=z9hG4bK-retrans-1\r\n" +
		"From: <sip:alice@example.com>;tag=1\r\nTo: <sip:bob@" + partnerDomain + ">\r\n" +
		"Call-ID: retrans-1\r\nCSeq: 1 MESSAGE\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n")
	dst, _ := net.ResolveUDPAddr("udp", w.internalAddr("udp"))
	var answers []string
	for i := 0; i < 3; i++ {
		if _, err := pc.WriteTo(msg, dst); err != nil {
			t.Fatal(err)
		}
		_ = pc.SetReadDeadline(time.Now().Add(3 * time.Second))
		buf := make([]byte, 4096)
		n, _, err := pc.ReadFrom(buf)
		if err != nil {
			t.Fatalf("send %d: %v (answers so far %q)", i, err, answers)
		}
		answers = append(answers, string(buf[:n]))
	}
	if !strings.HasPrefix(answers[0], "SIP/2.0 200") || answers[1] != answers[0] || answers[2] != answers[0] {
		t.Fatalf("retransmissions answered differently:\n%q", answers)
	}
	time.Sleep(100 * time.Millisecond)
	if n := w.edge.count(); n != 1 {
		t.Fatalf("the partner got the request %d times; retransmissions must be absorbed", n)
	}
}

func TestInboundToInternalNextHopOverTLS(t *testing.T) {
	var inner *uas
	w := newWorld(t, func(w *world, c *Config) {
		inner = startUAS(t, "tls", w.p.serverTLS(w.p.internal))
		nh, err := ParseNextHop("sip:" + inner.addr + ";transport=tls")
		if err != nil {
			t.Fatal(err)
		}
		c.InternalNextHop = nh
	})
	w.partnerUAC(t).mustDo(t, w.inbound(), 200)
	got := inner.wait(t)
	if got.Via().Transport != "TLS" {
		t.Fatalf("internal next hop got Via %q", got.Via().Value())
	}
	if rr := got.RecordRoute(); rr == nil || !strings.Contains(rr.Value(), "transport=tls") {
		t.Errorf("top Record-Route %v: want our internal TLS entry", rr)
	}
}

// metric reads a counter or gauge of the relay's registry: the series with exactly these labels,
// each "name=value" (0 when there is none yet).
func (w *world) metric(t *testing.T, name string, labels ...string) float64 {
	t.Helper()
	mfs, err := w.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	series:
		for _, m := range mf.GetMetric() {
			if len(m.GetLabel()) != len(labels) {
				continue
			}
			for _, l := range m.GetLabel() {
				if !slices.Contains(labels, l.GetName()+"="+l.GetValue()) {
					continue series
				}
			}
			if c := m.GetCounter(); c != nil {
				return c.GetValue()
			}
			return m.GetGauge().GetValue()
		}
	}
	return 0
}
