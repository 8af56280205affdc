package core

import (
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/sipfed/terraform-provider-sip/proxy/sip/message/messagetest"
	"github.com/sipfed/terraform-provider-sip/proxy/sip/transport"
)

func hopFailures(c *Core, reason string) float64 {
	var d dto.Metric
	_ = c.m.hopFailures.WithLabelValues(reason).Write(&d)
	return d.GetCounter().GetValue()
}

func hopsDown(c *Core) float64 {
	var d dto.Metric
	_ = c.m.hopsDown.Write(&d)
	return d.GetGauge().GetValue()
}

// stateOf is the health record of t, nil when the hop is up.
func stateOf(c *Core, t Target) *hopState {
	v, ok := c.health.hops.Load(keyOf(&t))
	if !ok {
		return nil
	}
	return v.(*hopState)
}

// closedPort is a loopback TCP address nothing listens on: a dial there fails at once.
func closedPort(t *testing.T) netip.AddrPort {
	t.Helper()
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ap := ln.Addr().(*net.TCPAddr).AddrPort()
	_ = ln.Close()
	return ap
}

// A hop that failed a request (no answer in time, or a transport error) is skipped by the next
// requests while another hop is up: a dead first-priority hop costs one hop timeout, not one
// per request.
func TestFailedHopSkipped(t *testing.T) {
	tests := []struct {
		name   string
		reason string
		bad    func(t *testing.T) (Target, *peer)
	}{
		{"timeout", "timeout", func(t *testing.T) (Target, *peer) {
			p := newPeer(t)
			return p.target(), p
		}},
		{"transport error", "transport", func(t *testing.T) (Target, *peer) {
			return Target{Side: transport.Internal, Proto: transport.TCP, Addr: closedPort(t)}, nil
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := newRig(t, Config{HopTimeout: 200 * time.Millisecond, HealthBackoff: time.Minute})
			caller, good := newPeer(t), newPeer(t)
			badTarget, bad := tc.bad(t)
			r.pol.forwardTo(badTarget, good.target())

			r.request(t, caller, message1("h1"))
			if bad != nil {
				bad.method(t, "MESSAGE") // tried first, never answers
			}
			fwd := good.method(t, "MESSAGE")
			r.answer(t, good, fwd, 200, "OK")
			caller.status(t, 200)
			if !r.c.health.known(&badTarget) {
				t.Fatal("the failed hop is not marked down")
			}
			if got := hopFailures(r.c, tc.reason); got != 1 {
				t.Fatalf("hop failures{%s} = %v, want 1", tc.reason, got)
			}
			if hopsDown(r.c) != 1 {
				t.Errorf("hops down gauge = %v, want 1", hopsDown(r.c))
			}

			r.request(t, caller, message1("h2"))
			fwd = good.method(t, "MESSAGE")
			if bad != nil {
				bad.quiet(t, 30*time.Millisecond)
			}
			r.answer(t, good, fwd, 200, "OK")
			caller.status(t, 200)
			if got := hopFailures(r.c, tc.reason); got != 1 {
				t.Errorf("hop failures{%s} = %v after the second request: the down hop was tried again", tc.reason, got)
			}
		})
	}
}

// A 503 fails a request over to the next hop but says the hop is up: it marks nothing.
func TestHop503MarksNothing(t *testing.T) {
	r := newRig(t, Config{HealthBackoff: time.Minute})
	caller, busy, good := newPeer(t), newPeer(t), newPeer(t)
	r.pol.forwardTo(busy.target(), good.target())

	r.request(t, caller, message1("b1"))
	r.answer(t, busy, busy.method(t, "MESSAGE"), 503, "Service Unavailable")
	r.answer(t, good, good.method(t, "MESSAGE"), 200, "OK")
	caller.status(t, 200)
	bt := busy.target()
	if r.c.health.known(&bt) || stateOf(r.c, bt) != nil {
		t.Fatal("a 503 marked the hop down")
	}
	// The next request tries the busy hop first again.
	r.request(t, caller, message1("b2"))
	busy.method(t, "MESSAGE")
	good.quiet(t, 30*time.Millisecond)
}

// Skipping needs another hop that is up: when every hop left is down, they are tried all the
// same (one may be back), and only hops that are up are preferred.
func TestDownHopsTriedWhenNoneIsUp(t *testing.T) {
	tests := []struct {
		name  string
		down  []int // indexes of hops marked down
		order []int // targets, by index
		first int   // the hop that gets the request
	}{
		{"the only hop, down", []int{0}, []int{0}, 0},
		{"every hop down", []int{0, 1}, []int{0, 1}, 0},
		{"first down, second up", []int{0}, []int{0, 1}, 1},
		{"first up, second down", []int{1}, []int{0, 1}, 0},
		{"first two down, third up", []int{0, 1}, []int{0, 1, 2}, 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := newRig(t, Config{HealthBackoff: time.Minute})
			caller := newPeer(t)
			hops := []*peer{newPeer(t), newPeer(t), newPeer(t)}
			var targets []Target
			for _, i := range tc.order {
				targets = append(targets, hops[i].target())
			}
			for _, i := range tc.down {
				ht := hops[i].target()
				r.c.health.failed(&ht, "", "timeout")
			}
			r.pol.forwardTo(targets...)
			r.request(t, caller, message1("d"))
			hops[tc.first].method(t, "MESSAGE")
			for i, h := range hops {
				if i != tc.first {
					h.quiet(t, 20*time.Millisecond)
				}
			}
		})
	}
}

// Any final response, even an error, proves a hop alive: a down hop that answers is up again.
func TestDownHopThatAnswersIsUp(t *testing.T) {
	r := newRig(t, Config{HealthBackoff: time.Minute})
	caller, hop := newPeer(t), newPeer(t)
	ht := hop.target()
	r.c.health.failed(&ht, "", "timeout")
	r.pol.forwardTo(ht)
	r.request(t, caller, message1("a1"))
	r.answer(t, hop, hop.method(t, "MESSAGE"), 404, "Not Found")
	caller.status(t, 404)
	if r.c.health.known(&ht) {
		t.Fatal("a hop that answered is still down")
	}
	if hopsDown(r.c) != 0 {
		t.Errorf("hops down gauge = %v", hopsDown(r.c))
	}
}

// After its back-off a down hop is probed with OPTIONS, and only a probe answered makes it
// usable again; requests meanwhile go to the hops that are up.
func TestDownHopReusedAfterProbe(t *testing.T) {
	// Long enough that the first request surely comes within it, on a loaded machine too.
	const backoff = 250 * time.Millisecond
	r := newRig(t, Config{HealthBackoff: backoff, HopTimeout: 2 * time.Second})
	caller, hop, good := newPeer(t), newPeer(t), newPeer(t)
	ht := hop.target()
	r.pol.forwardTo(ht, good.target())
	r.c.health.failed(&ht, "", "timeout")

	serve := func(branch string) {
		t.Helper()
		r.request(t, caller, message1(branch))
		r.answer(t, good, good.method(t, "MESSAGE"), 200, "OK")
		caller.status(t, 200)
	}
	serve("p1") // in back-off: skipped, no probe
	hop.quiet(t, 10*time.Millisecond)

	waitFor(t, time.Second, "the back-off to end", func() bool { return !r.c.health.known(&ht) })
	serve("p2") // back-off over: probed, still skipped
	probe := hop.method(t, "OPTIONS")
	if !r.c.ownBranch(probe.Bytes(probe.TopVia.Branch)) {
		t.Errorf("probe branch %q is not the core's", probe.Str(probe.TopVia.Branch))
	}
	if !r.c.health.known(&ht) {
		t.Fatal("a hop being probed counts as up")
	}
	serve("p3") // probe pending: still skipped
	hop.quiet(t, 10*time.Millisecond)

	r.answer(t, hop, probe, 200, "OK")
	if r.c.health.known(&ht) || stateOf(r.c, ht) != nil {
		t.Fatal("an answered probe left the hop down")
	}
	if hopsDown(r.c) != 0 {
		t.Errorf("hops down gauge = %v after the probe", hopsDown(r.c))
	}
	r.request(t, caller, message1("p4"))
	hop.method(t, "MESSAGE")
	good.quiet(t, 10*time.Millisecond)
}

// The probe is a well-formed OPTIONS to the hop, over the hop's protocol, from the socket that
// faces it.
func TestProbeMessage(t *testing.T) {
	r := newRig(t, Config{HealthBackoff: time.Millisecond, HopTimeout: 2 * time.Second})
	hop := newPeer(t)
	ht := hop.target()
	r.c.health.failed(&ht, "", "timeout")
	waitFor(t, time.Second, "the back-off to end", func() bool { return !r.c.health.known(&ht) })
	if !r.c.health.isDown(&ht) {
		t.Fatal("isDown let a hop that was not probed yet through")
	}
	p := hop.method(t, "OPTIONS")
	checks := []struct{ what, got, want string }{
		{"Request-URI", p.Str(p.RURI.Whole), "sip:" + hop.addr.String() + ";transport=udp"},
		{"Via sent-by", p.Str(p.TopVia.Host), r.int.LocalHost()},
		{"Via transport", p.Str(p.TopVia.Transport), "UDP"},
		{"CSeq method", p.Str(p.CSeqMethod), "OPTIONS"},
		{"Max-Forwards", strings.Join(messagetest.Values(p, "Max-Forwards"), ","), "70"},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %q, want %q", c.what, c.got, c.want)
		}
	}
	if p.TopVia.Port != int(r.int.Local().Port()) {
		t.Errorf("Via port %d, socket %d: the answer would go elsewhere", p.TopVia.Port, r.int.Local().Port())
	}
}

// A hop that failed a request sent under another name (toward a partner: the routing FQDN) is
// probed under that name too: a probe shows a partner nothing its requests did not.
func TestProbeSaysTheFailedRequestsVia(t *testing.T) {
	r := newRig(t, Config{HealthBackoff: time.Millisecond, HopTimeout: 2 * time.Second})
	hop := newPeer(t)
	ht := hop.target()
	r.c.health.failed(&ht, "fed.example.com", "timeout")
	waitFor(t, time.Second, "the back-off to end", func() bool { return !r.c.health.known(&ht) })
	r.c.health.isDown(&ht)
	p := hop.method(t, "OPTIONS")
	for what, got := range map[string]string{"Via sent-by": p.Str(p.TopVia.Host), "From host": p.Str(p.From.URI.Host)} {
		if got != "fed.example.com" {
			t.Errorf("%s = %q, want the failed request's Via host fed.example.com", what, got)
		}
	}
}

// An unanswered probe doubles the back-off, up to 16 times the base; an answered one resets it.
func TestUnansweredProbeBacksOff(t *testing.T) {
	const base = 100 * time.Millisecond
	r := newRig(t, Config{HealthBackoff: base, HopTimeout: 40 * time.Millisecond})
	hop := newPeer(t)
	ht := hop.target()
	r.c.health.failed(&ht, "", "timeout")
	st := stateOf(r.c, ht)
	backoff := func() (time.Duration, bool) {
		st.mu.Lock()
		defer st.mu.Unlock()
		return st.backoff, st.probing
	}
	if b, _ := backoff(); b != base {
		t.Fatalf("first back-off %v, want %v", b, base)
	}

	// One real cycle: back-off over, probe sent, unanswered within the hop timeout.
	waitFor(t, time.Second, "the back-off to end", func() bool { return !r.c.health.known(&ht) })
	r.c.health.isDown(&ht)
	hop.method(t, "OPTIONS")
	waitFor(t, 2*time.Second, "the probe to time out", func() bool { _, probing := backoff(); return !probing })
	if b, _ := backoff(); b != 2*base {
		t.Fatalf("back-off after an unanswered probe %v, want %v", b, 2*base)
	}
	if !r.c.health.known(&ht) {
		t.Fatal("a hop whose probe went unanswered is up")
	}

	// A failure while down changes nothing: the back-off is the probes' business.
	r.c.health.failed(&ht, "", "timeout")
	if b, _ := backoff(); b != 2*base {
		t.Fatalf("a failure while down set the back-off to %v", b)
	}

	// Further unanswered probes, without waiting for them.
	for i := 0; i < 8; i++ {
		st.mu.Lock()
		st.probing = true
		st.mu.Unlock()
		(&probe{h: r.c.health, key: keyOf(&ht), st: st}).finish(false)
	}
	if b, _ := backoff(); b != 16*base {
		t.Fatalf("back-off after many unanswered probes %v, want the cap %v", b, 16*base)
	}

	// An answered probe clears the hop; its next failure starts from the base again.
	(&probe{h: r.c.health, key: keyOf(&ht), st: st}).answered()
	if stateOf(r.c, ht) != nil {
		t.Fatal("an answered probe left the hop's record")
	}
	r.c.health.failed(&ht, "", "timeout")
	if b := stateOf(r.c, ht).backoff; b != base {
		t.Fatalf("back-off after recovery %v, want %v", b, base)
	}
}

// A response for a branch must come from the peer the branch went to: a partner cannot answer
// for another.
func TestResponseFromAnotherPeerDropped(t *testing.T) {
	r := newRig(t, Config{})
	caller, hop, other := newPeer(t), newPeer(t), newPeer(t)
	r.pol.forwardTo(Target{Side: transport.External, Proto: transport.UDP, Addr: hop.addr})
	r.request(t, caller, message1("s1"))
	fwd := hop.method(t, "MESSAGE")

	forged := func(from *peer, side transport.Side) {
		res := messagetest.Parse(t, string(appendResponse(fwd, 200, "OK")))
		r.c.HandleMessage(res, &transport.Source{Side: side, Proto: transport.UDP, Socket: r.ext, Remote: from.addr, Arrived: time.Now()})
	}
	forged(other, transport.External)
	forged(hop, transport.Internal) // the right address, on the wrong side
	caller.quiet(t, 30*time.Millisecond)
	forged(hop, transport.External)
	caller.status(t, 200)
}

// While the proxy is overloaded, a branch that timed out may have its answer waiting in the
// proxy's own queue: it fails over, and is counted, but the hop is not marked down. A
// transport error still marks it.
func TestTimeoutWhileOverloadedMarksNothing(t *testing.T) {
	r := newRig(t, Config{HopTimeout: 200 * time.Millisecond, HealthBackoff: time.Minute})
	r.c.over.udp.Store(1)
	caller, slow, good := newPeer(t), newPeer(t), newPeer(t)
	r.pol.forwardTo(slow.target(), good.target())

	r.request(t, caller, message1("o1"))
	slow.method(t, "MESSAGE") // tried first, answers too late
	r.answer(t, good, good.method(t, "MESSAGE"), 200, "OK")
	caller.status(t, 200)
	st := slow.target()
	if r.c.health.known(&st) {
		t.Fatal("a timeout while overloaded marked the hop down")
	}
	if got := hopFailures(r.c, "timeout"); got != 1 {
		t.Fatalf("hop failures{timeout} = %v, want 1", got)
	}

	dead := Target{Side: transport.Internal, Proto: transport.TCP, Addr: closedPort(t)}
	r.pol.forwardTo(dead, good.target())
	r.request(t, caller, message1("o2"))
	r.answer(t, good, good.method(t, "MESSAGE"), 200, "OK")
	caller.status(t, 200)
	if !r.c.health.known(&dead) {
		t.Fatal("a transport error while overloaded did not mark the hop down")
	}
}

// A hop no request names any more is forgotten once the longest back-off has passed since its
// own ended: a partner naming ever new dead hops (in its Contacts) cannot grow the proxy's
// memory without bound. A hop still being probed, or still in its back-off, is kept.
func TestIdleDownHopsForgotten(t *testing.T) {
	r := newRig(t, Config{HealthBackoff: time.Millisecond, HopTimeout: 2 * time.Second})
	h := r.c.health // base 1 ms, longest back-off 16 ms
	var idle []Target
	for i := range 50 {
		tg := Target{Side: transport.Internal, Proto: transport.UDP, Addr: netip.AddrPortFrom(netip.AddrFrom4([4]byte{192, 0, 2, byte(i)}), 5060)}
		h.failed(&tg, "", "transport")
		idle = append(idle, tg)
	}
	probed := Target{Side: transport.Internal, Proto: transport.UDP, Addr: netip.MustParseAddrPort("198.51.100.1:5060")}
	h.failed(&probed, "", "transport")
	stateOf(r.c, probed).mu.Lock()
	stateOf(r.c, probed).probing = true
	stateOf(r.c, probed).mu.Unlock()
	if got := hopsDown(r.c); got != 51 {
		t.Fatalf("%v hops down, want 51", got)
	}
	time.Sleep(50 * time.Millisecond) // past 1 ms + 16 ms, and past the last sweep's 16 ms
	fresh := Target{Side: transport.Internal, Proto: transport.UDP, Addr: netip.MustParseAddrPort("203.0.113.1:5060")}
	h.failed(&fresh, "", "transport")
	for _, tg := range idle {
		if stateOf(r.c, tg) != nil {
			t.Fatalf("idle hop %s still kept", tg.Addr)
		}
	}
	if stateOf(r.c, probed) == nil || stateOf(r.c, fresh) == nil {
		t.Error("a hop being probed, or just failed, was forgotten")
	}
	if got := hopsDown(r.c); got != 2 {
		t.Errorf("%v hops down, want 2 (the probed and the fresh)", got)
	}
}
