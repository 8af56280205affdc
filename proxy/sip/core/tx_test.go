package core

import (
	"context"
	"fmt"
	"net/netip"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/sipfed/terraform-provider-sip/proxy/sip/message"
	"github.com/sipfed/terraform-provider-sip/proxy/sip/message/messagetest"
	"github.com/sipfed/terraform-provider-sip/proxy/sip/transport"
)

// A non-INVITE over UDP ends with its final response; a retransmission of its request within
// Timer J gets that response again from the cache, and is neither decided nor forwarded again.
func TestNonInviteRetransmissionAnsweredFromCache(t *testing.T) {
	r := newRig(t, Config{})
	caller, hop := newPeer(t), newPeer(t)
	r.pol.forwardTo(hop.target())

	r.request(t, caller, message1("m1"))
	fwd := hop.method(t, "MESSAGE")
	r.answer(t, hop, fwd, 202, "Accepted")
	first := caller.status(t, 202)

	if n := r.c.servers.len(); n != 0 {
		t.Errorf("%d server transactions kept after the final response", n)
	}
	if n := r.c.retrans.len(); n != 1 {
		t.Fatalf("%d responses cached, want 1", n)
	}
	r.request(t, caller, message1("m1"))
	again := caller.status(t, 202)
	if string(again.Buf) != string(first.Buf) {
		t.Errorf("the retransmission got another response:\n%s\nfirst:\n%s", again.Buf, first.Buf)
	}
	hop.quiet(t, 50*time.Millisecond)
	if n := r.pol.decisions(); n != 1 {
		t.Errorf("policy asked %d times, want 1", n)
	}
	if r.c.InFlight() != 0 {
		t.Errorf("in flight %d", r.c.InFlight())
	}

	// Another request (another branch) is a transaction of its own.
	r.request(t, caller, message1("m2"))
	hop.method(t, "MESSAGE")
}

// An INVITE keeps its transaction: a retransmission gets the last response sent upstream.
func TestInviteRetransmissionGetsLastResponse(t *testing.T) {
	r := newRig(t, Config{})
	caller, hop := newPeer(t), newPeer(t)
	r.pol.forwardTo(hop.target())

	r.request(t, caller, invite("i1"))
	caller.status(t, 100)
	fwd := hop.method(t, "INVITE")

	r.request(t, caller, invite("i1"))
	caller.status(t, 100)
	hop.quiet(t, 50*time.Millisecond) // not forwarded again

	r.answer(t, hop, fwd, 180, "Ringing")
	caller.status(t, 180)
	r.request(t, caller, invite("i1"))
	caller.status(t, 180)

	if n := r.pol.decisions(); n != 1 {
		t.Errorf("policy asked %d times, want 1", n)
	}
}

// RFC 3261 16.10: a CANCEL that matches a pending INVITE gets 200 and cancels its branch; one
// that matches nothing gets 481 and touches nothing.
func TestCancel(t *testing.T) {
	const via = "SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bKc1;rport"
	tests := []struct {
		name    string
		cancel  req
		ringing bool // the branch sent 180 before the CANCEL came
		matches bool
	}{
		{"before a provisional response", req{method: "CANCEL", vias: []string{via}}, false, true},
		{"after a provisional response", req{method: "CANCEL", vias: []string{via}}, true, true},
		{"other branch", req{method: "CANCEL", vias: []string{"SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bKc2;rport"}}, true, false},
		{"other sent-by", req{method: "CANCEL", vias: []string{"SIP/2.0/UDP 127.0.0.1:5071;branch=z9hG4bKc1;rport"}}, true, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := newRig(t, Config{})
			caller, hop := newPeer(t), newPeer(t)
			r.pol.forwardTo(hop.target())

			r.request(t, caller, req{method: "INVITE", vias: []string{via}})
			caller.status(t, 100)
			fwd := hop.method(t, "INVITE")
			if tc.ringing {
				r.answer(t, hop, fwd, 180, "Ringing")
				caller.status(t, 180)
			}

			r.request(t, caller, tc.cancel)
			if !tc.matches {
				caller.status(t, 481)
				hop.quiet(t, 50*time.Millisecond)
				// The INVITE goes on undisturbed.
				r.answer(t, hop, fwd, 200, "OK")
				caller.status(t, 200)
				return
			}
			if res := caller.status(t, 200); !res.CSeqMethodIs("CANCEL") {
				t.Fatalf("200 for %s, want for the CANCEL", res.Str(res.CSeqMethod))
			}
			if !tc.ringing {
				// RFC 3261 9.1: no CANCEL before a provisional response; the first one
				// triggers it.
				hop.quiet(t, 50*time.Millisecond)
				r.answer(t, hop, fwd, 180, "Ringing")
			}
			cancel := hop.method(t, "CANCEL")
			if got, want := cancel.Str(cancel.TopVia.Branch), fwd.Str(fwd.TopVia.Branch); got != want {
				t.Errorf("CANCEL branch %q, INVITE's %q", got, want)
			}
			if got := cancel.Str(cancel.CSeqMethod); got != "CANCEL" || cancel.CSeqNum != fwd.CSeqNum {
				t.Errorf("CANCEL CSeq %d %s", cancel.CSeqNum, got)
			}
			r.answer(t, hop, cancel, 200, "OK")
			r.answer(t, hop, fwd, 487, "Request Terminated")
			caller.status(t, 487)
			// The branch's non-2xx final is acknowledged hop by hop.
			if ack := hop.method(t, "ACK"); ack.Str(ack.TopVia.Branch) != fwd.Str(fwd.TopVia.Branch) {
				t.Error("ACK on another branch than the INVITE's")
			}
		})
	}
}

// A CANCEL for an INVITE whose transaction is over matches nothing pending: the final response
// stands and nothing more goes downstream.
func TestCancelAfterFinal(t *testing.T) {
	r := newRig(t, Config{})
	caller, hop := newPeer(t), newPeer(t)
	r.pol.forwardTo(hop.target())
	r.request(t, caller, invite("cf"))
	fwd := hop.method(t, "INVITE")
	r.answer(t, hop, fwd, 200, "OK")
	caller.status(t, 200)
	r.request(t, caller, req{method: "CANCEL", vias: invite("cf").vias})
	caller.status(t, 200) // the CANCEL's own
	hop.quiet(t, 50*time.Millisecond)
}

// Past MaxInFlight transactions, a new request gets 503 with Retry-After before any decision.
func TestInFlightLimit(t *testing.T) {
	r := newRig(t, Config{MaxInFlight: 1})
	caller, hop := newPeer(t), newPeer(t)
	r.pol.forwardTo(hop.target())

	r.request(t, caller, invite("a"))
	caller.status(t, 100)
	fwd := hop.method(t, "INVITE")
	if r.c.InFlight() != 1 {
		t.Fatalf("in flight %d, want 1", r.c.InFlight())
	}

	r.request(t, caller, invite("b"))
	res := caller.status(t, 503)
	if ra := messagetest.Values(res, "Retry-After"); len(ra) != 1 {
		t.Errorf("503 without Retry-After: %q", ra)
	}
	if n := r.pol.decisions(); n != 1 {
		t.Errorf("policy asked %d times, want 1: a shed request costs no decision", n)
	}

	// The first ends; the limit frees up.
	r.answer(t, hop, fwd, 486, "Busy Here")
	caller.status(t, 486)
	if r.c.InFlight() != 0 {
		t.Fatalf("in flight %d after the final response", r.c.InFlight())
	}
	r.request(t, caller, invite("c"))
	caller.status(t, 100)
	hop.method(t, "ACK") // of the 486
	hop.method(t, "INVITE")
}

// While draining or overloaded, new dialogs get 503; requests within dialogs finish what was
// accepted.
func TestAdmissionSparesDialogs(t *testing.T) {
	tests := []struct {
		name     string
		setup    func(r *rig)
		inDialog bool
		shed     bool
	}{
		{"draining, new dialog", drain, false, true},
		{"draining, within a dialog", drain, true, false},
		{"overloaded, new dialog", overloadUDP, false, true},
		{"overloaded, within a dialog", overloadUDP, true, false},
		{"the other side's socket overloaded, new dialog", overloadOtherSide, false, false},
		{"neither", func(*rig) {}, false, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := newRig(t, Config{Overload: OverloadConfig{QueueDelay: testTarget, UDPQueueDelay: testTarget, Interval: testInterval}})
			caller, hop := newPeer(t), newPeer(t)
			r.pol.forwardTo(hop.target())
			tc.setup(r)
			q := message1("d1")
			if tc.inDialog {
				q.method, q.toTag = "BYE", "callee"
			}
			// The request waited long enough to be shed if anything is.
			r.requestAt(t, caller, q, time.Now().Add(-time.Second))
			if tc.shed {
				caller.status(t, 503)
				hop.quiet(t, 50*time.Millisecond)
				return
			}
			hop.method(t, q.method)
		})
	}
}

func drain(r *rig) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	r.c.Drain(ctx)
}

func overloadUDP(r *rig) { forceUDPVerdict(r.c.over, r.ext.Queue(), 2*testTarget) }

// overloadOtherSide overloads the internal side's socket only: the request comes on the
// external one.
func overloadOtherSide(r *rig) { forceUDPVerdict(r.c.over, r.int.Queue(), 2*testTarget) }

// Drain waits for the transactions in flight; those still pending when its time is up are
// cancelled downstream and answered 503 upstream.
func TestDrainAbandons(t *testing.T) {
	r := newRig(t, Config{})
	caller, hop := newPeer(t), newPeer(t)
	r.pol.forwardTo(hop.target())
	r.request(t, caller, invite("p"))
	caller.status(t, 100)
	fwd := hop.method(t, "INVITE")
	r.answer(t, hop, fwd, 180, "Ringing")
	caller.status(t, 180)

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
	defer cancel()
	if n := r.c.Drain(ctx); n != 1 {
		t.Fatalf("Drain abandoned %d, want 1", n)
	}
	res := caller.status(t, 503)
	if len(messagetest.Values(res, "Retry-After")) != 1 {
		t.Error("503 without Retry-After")
	}
	hop.method(t, "CANCEL")
	if r.c.InFlight() != 0 {
		t.Errorf("in flight %d after Drain", r.c.InFlight())
	}
}

func TestRefusedBeforeDecision(t *testing.T) {
	tests := []struct {
		name   string
		q      req
		status int
		header string // a header the refusal must carry
	}{
		{"Max-Forwards 0", req{method: "MESSAGE", mf: "0"}, 483, ""},
		{"Proxy-Require", req{method: "MESSAGE", extra: "Proxy-Require: foo\n"}, 420, "Unsupported: foo"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := newRig(t, Config{})
			caller, hop := newPeer(t), newPeer(t)
			r.pol.forwardTo(hop.target())
			r.request(t, caller, tc.q)
			res := caller.status(t, tc.status)
			if tc.header != "" {
				name, value, _ := strings.Cut(tc.header, ": ")
				if got := messagetest.Values(res, name); len(got) != 1 || got[0] != value {
					t.Errorf("%s = %q, want %q", name, got, value)
				}
			}
			if r.pol.decisions() != 0 {
				t.Error("the policy was asked")
			}
			hop.quiet(t, 30*time.Millisecond)
		})
	}
}

// A request that comes back through the proxy unchanged is a loop: 482, not forwarded again.
func TestLoopAnswered482(t *testing.T) {
	r := newRig(t, Config{})
	caller, hop := newPeer(t), newPeer(t)
	r.pol.forwardTo(hop.target())
	r.request(t, caller, message1("l1"))
	fwd := hop.method(t, "MESSAGE")
	// The hop sends it back to us as it got it, with a Via of its own on top.
	vias := append([]string{"SIP/2.0/UDP 127.0.0.1:5090;branch=z9hG4bKhop"}, messagetest.Values(fwd, "Via")...)
	back := message1("l1")
	back.vias = vias
	r.c.HandleMessage(parseReq(t, back), &transport.Source{Side: transport.Internal, Proto: transport.UDP,
		Socket: r.int, Remote: hop.addr, Arrived: time.Now()})
	hop.status(t, 482)
	if n := r.pol.decisions(); n != 1 {
		t.Errorf("policy asked %d times, want 1", n)
	}
}

// Timer C: a callee that rings longer than the INVITE timeout is cancelled and the caller gets
// 408; an INVITE branch silent past the hop timeout fails over before any ringing.
func TestInviteTimers(t *testing.T) {
	t.Run("Timer C", func(t *testing.T) {
		r := newRig(t, Config{InviteTimeout: 60 * time.Millisecond})
		caller, hop := newPeer(t), newPeer(t)
		r.pol.forwardTo(hop.target())
		r.request(t, caller, invite("tc"))
		fwd := hop.method(t, "INVITE")
		r.answer(t, hop, fwd, 180, "Ringing")
		caller.status(t, 408)
		if c := hop.method(t, "CANCEL"); c.Str(c.TopVia.Branch) != fwd.Str(fwd.TopVia.Branch) {
			t.Error("CANCEL on another branch")
		}
		// Ringing is proof of life: the hop is not marked down.
		ht := hop.target()
		if r.c.health.known(&ht) {
			t.Error("a hop that rang too long is marked down")
		}
	})
	t.Run("no provisional within the hop timeout", func(t *testing.T) {
		r := newRig(t, Config{HopTimeout: 200 * time.Millisecond})
		caller, silent, good := newPeer(t), newPeer(t), newPeer(t)
		r.pol.forwardTo(silent.target(), good.target())
		r.request(t, caller, invite("ht"))
		silent.method(t, "INVITE")
		fwd := good.method(t, "INVITE")
		r.answer(t, good, fwd, 200, "OK")
		caller.status(t, 200)
	})
	t.Run("every hop silent", func(t *testing.T) {
		r := newRig(t, Config{HopTimeout: 40 * time.Millisecond})
		caller, a, b := newPeer(t), newPeer(t), newPeer(t)
		r.pol.forwardTo(a.target(), b.target())
		r.request(t, caller, invite("all"))
		res := caller.status(t, 503)
		if len(messagetest.Values(res, "Retry-After")) != 1 || len(messagetest.Values(res, "Warning")) != 1 {
			t.Errorf("503 without Retry-After or Warning:\n%s", res.Buf)
		}
		// The timer's goroutine sends the 503 before it counts the transaction out.
		waitFor(t, time.Second, "the transaction to end", func() bool { return r.c.InFlight() == 0 })
	})
}

// A response whose top Via is not one of the core's branches, or one the core forgot, is
// dropped: it steers nothing upstream.
func TestStrayResponsesDropped(t *testing.T) {
	r := newRig(t, Config{})
	caller, hop := newPeer(t), newPeer(t)
	r.pol.forwardTo(hop.target())
	r.request(t, caller, message1("st"))
	fwd := hop.method(t, "MESSAGE")

	foreign := message1("st")
	foreign.vias = []string{"SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bKnotours"}
	r.answer(t, hop, parseReq(t, foreign), 200, "OK")
	forgotten := message1("st")
	forgotten.vias = []string{"SIP/2.0/UDP 127.0.0.1:5060;branch=" + string(r.c.appendBranch(nil, 1))}
	r.answer(t, hop, parseReq(t, forgotten), 200, "OK")
	caller.quiet(t, 30*time.Millisecond)

	r.answer(t, hop, fwd, 200, "OK")
	caller.status(t, 200)
}

// The core's Via names its sent-by as the verdict says: a name or an IPv4 address as it is, an
// IPv6 address in brackets (RFC 3261 25.1), once.
func TestViaSentBy(t *testing.T) {
	c := &Core{}
	m := parseReq(t, message1("v1"))
	for _, tc := range []struct{ host, want string }{
		{"imp1.example.com", "Via: SIP/2.0/TCP imp1.example.com:5061;branch=z9hG4bKx\r\n"},
		{"192.0.2.7", "Via: SIP/2.0/TCP 192.0.2.7:5061;branch=z9hG4bKx\r\n"},
		{"2001:db8::7", "Via: SIP/2.0/TCP [2001:db8::7]:5061;branch=z9hG4bKx\r\n"},
		{"[2001:db8::7]", "Via: SIP/2.0/TCP [2001:db8::7]:5061;branch=z9hG4bKx\r\n"},
	} {
		v := &Verdict{Action: Forward, ViaHost: tc.host, ViaPort: 5061, Edit: message.Edit{MaxForwards: message.NoMaxForwards}}
		tg := &Target{Side: transport.Internal, Proto: transport.TCP}
		var via [160]byte
		out := string(c.appendRequest(nil, m, netip.AddrPort{}, v, tg, []byte("z9hG4bKx"), nil, &via))
		if _, rest, _ := strings.Cut(out, "\r\n"); !strings.HasPrefix(rest, tc.want) {
			t.Errorf("sent-by %q: the request goes with\n%s\nwant its first Via %q", tc.host, out, tc.want)
		}
	}
}

// Verdicts are reused: whatever one decision wrote (targets, edits, a reject's lines), the next
// decision starts from an empty verdict, and a transaction that still has targets left keeps
// its own.
func TestVerdictReusedEmpty(t *testing.T) {
	r := newRig(t, Config{})
	caller, hop, spare := newPeer(t), newPeer(t), newPeer(t)
	var dirty []string
	reject := false
	r.pol.decide = func(_ *Request, v *Verdict) {
		if len(v.Targets) != 0 || !reflect.DeepEqual(*v, Verdict{Targets: v.Targets}) {
			dirty = append(dirty, fmt.Sprintf("%+v", *v))
		}
		if reject {
			v.Action, v.Status, v.Reason, v.Extra = Reject, 403, "Forbidden", []byte("Warning: 399 x \"no\"\r\n")
			return
		}
		v.Action, v.ViaHost, v.Hide = Forward, "imp1.example.com", true
		v.Edit.RecordRoute = []byte("Record-Route: <sip:imp1.example.com;lr>\r\n")
		v.Flow = Flow{Direction: "outbound", Domain: "partner.com"}
		v.Targets = append(v.Targets, hop.target(), spare.target())
	}
	for i := range 3 {
		a, c := fmt.Sprintf("a%d", i), fmt.Sprintf("c%d", i)
		reject = false
		r.request(t, caller, message1(a))
		fwdA := hop.method(t, "MESSAGE")
		reject = true
		r.request(t, caller, message1(fmt.Sprintf("b%d", i)))
		caller.status(t, 403)
		reject = false
		r.request(t, caller, message1(c))
		fwdC := hop.method(t, "MESSAGE")
		// Each first hop answers 503: each transaction fails over to the second target its
		// own verdict names, whatever decisions ran meanwhile.
		for _, fwd := range []*message.Msg{fwdA, fwdC} {
			r.answer(t, hop, fwd, 503, "Service Unavailable")
			got := spare.method(t, "MESSAGE")
			if g, w := string(got.Bytes(got.CallID)), string(fwd.Bytes(fwd.CallID)); g != w {
				t.Fatalf("the second hop got Call-ID %s, want %s", g, w)
			}
			if !strings.Contains(string(got.Buf), "Record-Route: <sip:imp1.example.com;lr>") {
				t.Fatalf("the failover lost its verdict's edit:\n%s", got.Buf)
			}
		}
	}
	if len(dirty) > 0 {
		t.Errorf("verdicts reused with what an earlier decision wrote:\n%s", strings.Join(dirty, "\n"))
	}
}
