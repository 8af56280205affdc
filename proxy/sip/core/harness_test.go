package core

import (
	"crypto/x509"
	"errors"
	"net"
	"net/netip"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/sipfed/terraform-provider-sip/proxy/sip/message"
	"github.com/sipfed/terraform-provider-sip/proxy/sip/message/messagetest"
	"github.com/sipfed/terraform-provider-sip/proxy/sip/transport"
)

// The core's sends go through the transport to UDP sockets, which only the transport package
// can make: the transaction tests use loopback sockets for them, and hand every incoming
// message to the core themselves (HandleMessage), as the transport's reading goroutine would.
// Nothing reads the proxy's own sockets, so what a test does not inject never arrives.

// testPolicy forwards as its decide function says and counts the decisions.
type testPolicy struct {
	mu      sync.Mutex
	decide  func(r *Request, v *Verdict)
	decided int
}

func (p *testPolicy) Decide(r *Request, v *Verdict) {
	p.mu.Lock()
	p.decided++
	f := p.decide
	p.mu.Unlock()
	f(r, v)
}

func (p *testPolicy) EditResponse(*Flow, *message.Msg, *message.Edit) {}

func (p *testPolicy) Permit(*Target, *x509.Certificate) (error, bool) { return nil, false }

func (p *testPolicy) decisions() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.decided
}

// forwardTo makes the policy forward every request to targets, in order.
func (p *testPolicy) forwardTo(targets ...Target) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.decide = func(_ *Request, v *Verdict) {
		v.Action = Forward
		v.Targets = append(v.Targets, targets...)
	}
}

// peer is a SIP element on a loopback UDP socket: a caller or a next hop.
type peer struct {
	pc   *net.UDPConn
	addr netip.AddrPort
}

func newPeer(t *testing.T) *peer {
	t.Helper()
	pc, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = pc.Close() })
	return &peer{pc: pc, addr: pc.LocalAddr().(*net.UDPAddr).AddrPort()}
}

// target is the peer as a next hop of the internal side.
func (p *peer) target() Target {
	return Target{Side: transport.Internal, Proto: transport.UDP, Addr: p.addr}
}

const readTimeout = 3 * time.Second

// next returns the next message the peer receives.
func (p *peer) next(t *testing.T) *message.Msg {
	t.Helper()
	m, err := p.recv(readTimeout)
	if err != nil {
		t.Fatalf("peer %s: %v", p.addr, err)
	}
	return m
}

func (p *peer) recv(d time.Duration) (*message.Msg, error) {
	buf := make([]byte, 65536)
	_ = p.pc.SetReadDeadline(time.Now().Add(d))
	n, err := p.pc.Read(buf)
	if err != nil {
		return nil, err
	}
	m := new(message.Msg)
	if err := message.Parse(m, buf[:n], true, message.DefaultLimits); err != nil {
		return nil, err
	}
	return m, nil
}

// status returns the first response with that status, skipping provisional ones.
func (p *peer) status(t *testing.T, status int) *message.Msg {
	t.Helper()
	deadline := time.Now().Add(readTimeout)
	for i := 0; i < 20 && time.Now().Before(deadline); i++ {
		m := p.next(t)
		if !m.IsRequest && m.Status == status {
			return m
		}
		if m.IsRequest || m.Status >= 200 {
			t.Fatalf("peer %s: got %s, want %d", p.addr, describe(m), status)
		}
	}
	t.Fatalf("peer %s: no %d", p.addr, status)
	return nil
}

// method returns the next request, which must be of that method.
func (p *peer) method(t *testing.T, method string) *message.Msg {
	t.Helper()
	m := p.next(t)
	if !m.MethodIs(method) {
		t.Fatalf("peer %s: got %s, want %s", p.addr, describe(m), method)
	}
	return m
}

// quiet asserts that nothing arrives for d. The core sends inline and loopback delivers at
// once, so a short d suffices for what a call that returned would have sent.
func (p *peer) quiet(t *testing.T, d time.Duration) {
	t.Helper()
	m, err := p.recv(d)
	if err == nil {
		t.Fatalf("peer %s: unexpected %s", p.addr, describe(m))
	}
	if !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("peer %s: %v", p.addr, err)
	}
}

func describe(m *message.Msg) string {
	if m.IsRequest {
		return m.Str(m.Method) + " request"
	}
	return m.Str(m.Reason) + " response (" + m.Str(m.CSeqMethod) + ")"
}

// rig is a core on a transport with one loopback UDP socket per side.
type rig struct {
	c   *Core
	tp  *transport.Transport
	ext *transport.UDPSocket
	int *transport.UDPSocket
	pol *testPolicy
}

func newRig(t *testing.T, cfg Config) *rig {
	t.Helper()
	r := &rig{pol: &testPolicy{decide: nopPolicy{}.Decide}}
	cfg.Policy, cfg.Log = r.pol, discard()
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	tp, err := transport.New(transport.Config{Handler: c, Log: discard()})
	if err != nil {
		t.Fatal(err)
	}
	c.SetTransport(tp)
	for _, side := range []transport.Side{transport.External, transport.Internal} {
		if _, err := tp.Listen(side, transport.UDP, "127.0.0.1:0"); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() {
		c.Close()
		tp.Close()
	})
	r.c, r.tp = c, tp
	r.ext, r.int = tp.UDPSockets(transport.External)[0], tp.UDPSockets(transport.Internal)[0]
	return r
}

// request hands the core a request from a caller on the external side.
func (r *rig) request(t *testing.T, from *peer, q req) {
	t.Helper()
	r.requestAt(t, from, q, time.Now())
}

func (r *rig) requestAt(t *testing.T, from *peer, q req, arrived time.Time) {
	t.Helper()
	r.c.HandleMessage(parseReq(t, q), &transport.Source{Side: transport.External, Proto: transport.UDP,
		Socket: r.ext, Remote: from.addr, Arrived: arrived})
}

// answer hands the core hop's response to a request it received from the core.
func (r *rig) answer(t *testing.T, hop *peer, fwd *message.Msg, status int, reason string) {
	t.Helper()
	r.c.HandleMessage(messagetest.Parse(t, string(appendResponse(fwd, status, reason))), &transport.Source{Side: transport.Internal, Proto: transport.UDP,
		Socket: r.int, Remote: hop.addr, Arrived: time.Now()})
}

// appendResponse is a next hop's response to a request it received: its Vias as they came.
func appendResponse(fwd *message.Msg, status int, reason string) []byte {
	return message.AppendResponse(nil, fwd, netip.AddrPort{}, message.Response{Status: status, Reason: reason, ToTag: []byte("callee")})
}

// invite is a new INVITE from a caller; branch tells transactions apart.
func invite(branch string) req {
	return req{method: "INVITE", vias: []string{"SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK" + branch + ";rport"}}
}

func message1(branch string) req {
	return req{method: "MESSAGE", vias: []string{"SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK" + branch + ";rport"}, body: "hi"}
}

// waitFor polls cond every few milliseconds until it holds, for at most d.
func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}
