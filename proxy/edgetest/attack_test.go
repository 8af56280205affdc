package edgetest

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/sipfed/terraform-provider-sip/internal/api"
)

// A partner with a valid certificate tries every header trick on the incoming ACL. Each must be
// refused, and nothing may reach the internal server.
func TestPartnerHeaderTricksAreRefused(t *testing.T) {
	w := newWorld(t)
	const ruri = "sip:alice@example.com"
	via := "tls " + ipEdgeA + ":5061"
	from := "<sip:carl@a.test>;tag=1"
	cases := []struct {
		name     string
		override map[string]string
		extra    []string
		status   int
	}{
		{name: "a second From after a forged one", override: map[string]string{"From": "<sip:x@evil.org>;tag=9"}, extra: []string{"From: " + from}, status: 400},
		{name: "a second From after the real one", override: map[string]string{"From": from}, extra: []string{"From: <sip:x@evil.org>;tag=9"}, status: 400},
		{name: "two From values in one header", override: map[string]string{"From": "<sip:x@evil.org>;tag=9, " + from}, status: 400},
		{name: "compact and long From", override: map[string]string{"From": from}, extra: []string{"f: <sip:x@evil.org>;tag=9"}, status: 400},
		{name: "a second To", override: map[string]string{"From": from}, extra: []string{"To: <sip:bob@a.test>"}, status: 400},
		{name: "a second Call-ID", override: map[string]string{"From": from}, extra: []string{"Call-ID: other@x"}, status: 400},
		{name: "a second CSeq", override: map[string]string{"From": from}, extra: []string{"CSeq: 2 MESSAGE"}, status: 400},
		{name: "a second Max-Forwards", override: map[string]string{"From": from}, extra: []string{"Max-Forwards: 5"}, status: 400},
		{name: "From of another partner bound to its edge", override: map[string]string{"From": "<sip:ceo@b.test>;tag=1"}, status: 403},
		{name: "From of a local domain", override: map[string]string{"From": "<sip:ceo@example.com>;tag=1"}, status: 403},
		{name: "From of a local domain in capitals", override: map[string]string{"From": "<sip:ceo@EXAMPLE.COM>;tag=1"}, status: 403},
		{name: "From not federated", override: map[string]string{"From": "<sip:x@evil.org>;tag=1"}, status: 403},
		{name: "From not a SIP URI", override: map[string]string{"From": "<tel:+15551234>;tag=1"}, status: 403},
		{name: "For a partner, not a local user", override: map[string]string{"From": from, "To": "<sip:bob@b.test>"}, status: 403},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			target := ruri
			if c.override["To"] == "<sip:bob@b.test>" {
				target = "sip:bob@b.test"
			}
			p := w.partner(t, w.leafA)
			before := w.inner.count()
			p.send(t, req("MESSAGE", target, via, c.override, c.extra...))
			res, _ := p.final(t, 5*time.Second)
			if res.status() != c.status {
				t.Fatalf("got %s, want %d", res.start, c.status)
			}
			quiet(t, w.inner, before, 100*time.Millisecond, "internal server")
		})
	}
	// The same partner, speaking for itself, gets through; so does b.test's own edge.
	p := w.partner(t, w.leafA)
	p.send(t, req("MESSAGE", ruri, via, map[string]string{"From": from}))
	if res, _ := p.final(t, 5*time.Second); res.status() != 200 {
		t.Fatalf("a partner speaking for its own domain: %s", res.start)
	}
	pb := w.partner(t, w.leafB)
	pb.send(t, req("MESSAGE", ruri, "tls "+ipEdgeB+":5061", map[string]string{"From": "<sip:ceo@b.test>;tag=1"}))
	if res, _ := pb.final(t, 5*time.Second); res.status() != 200 {
		t.Fatalf("b.test's own edge: %s", res.start)
	}
}

// The internal side cannot use the proxy as a relay: a request in a dialog goes only where its
// route set leads, over mutual TLS to a peer the To domain trusts, or in plaintext only where
// an administrator's static route for that domain names the hop.
func TestInternalSideIsNoOpenRelay(t *testing.T) {
	w := newWorld(t)
	victimTCP := startPeer(t, "tcp", ipVictim, nil)
	victimUDP := startPeer(t, "udp", ipVictim, nil)
	inDialog := map[string]string{"To": "<sip:bob@a.test>;tag=remote"}
	cases := []struct {
		name   string
		ruri   string
		extra  []string
		status int
	}{
		{name: "Request-URI to a plaintext TCP host", ruri: "sip:x@" + victimTCP.addr + ";transport=tcp", status: 403},
		{name: "Request-URI to a plaintext UDP host", ruri: "sip:x@" + victimUDP.addr + ";transport=udp", status: 403},
		{name: "Route to a plaintext TCP host", ruri: "sip:bob@a.test", extra: []string{"Route: <sip:" + victimTCP.addr + ";transport=tcp;lr>"}, status: 403},
		{name: "Route to a plaintext UDP host", ruri: "sip:bob@a.test", extra: []string{"Route: <sip:" + victimUDP.addr + ";transport=udp;lr>"}, status: 403},
		{name: "maddr to a plaintext host", ruri: "sip:x@a.test;maddr=" + ipVictim + ";transport=tcp", status: 403},
		{name: "a route with our own marker copied onto a victim", ruri: "sip:x@" + victimTCP.addr + ";transport=tcp", extra: []string{"Route: <sip:" + victimTCP.addr + ";transport=tcp;lr;sfm=AAAAAAAAAAAA>"}, status: 403},
		{name: "the admin API", ruri: "sip:x@" + strings.TrimPrefix(w.proxy.Endpoint, "http://") + ";transport=tcp", status: 482},
		{name: "the admin API over TLS", ruri: "sip:x@" + strings.TrimPrefix(w.proxy.Endpoint, "http://") + ";transport=tls", status: 482},
	}
	for _, transport := range []string{"udp", "tcp"} {
		for _, c := range cases {
			t.Run(transport+"/"+c.name, func(t *testing.T) {
				cl := w.internalClient(t, transport)
				tcpBefore, udpBefore, acceptedBefore := victimTCP.count(), victimUDP.count(), victimTCP.accepted
				cl.send(t, req("MESSAGE", c.ruri, transport+" "+cl.local(), inDialog, c.extra...))
				res, _ := cl.final(t, 5*time.Second)
				if res.status() != c.status {
					t.Fatalf("got %s, want %d", res.start, c.status)
				}
				quiet(t, victimTCP, tcpBefore, 50*time.Millisecond, "plaintext TCP victim")
				quiet(t, victimUDP, udpBefore, 0, "plaintext UDP victim")
				if victimTCP.accepted != acceptedBefore {
					t.Fatal("the proxy connected to the victim")
				}
			})
		}
	}
	t.Run("a TLS target that is not a peer subject", func(t *testing.T) {
		stranger := w.partnersCA.MustIssue(testLeaf("edge.stranger.test"))
		victimTLS := startPeer(t, "tls", ipVictim, edgeServerTLS(stranger, w.ourCA))
		cl := w.internalClient(t, "tcp")
		cl.send(t, req("MESSAGE", "sip:x@"+victimTLS.addr+";transport=tls", "tcp "+cl.local(), inDialog))
		if res, _ := cl.final(t, 5*time.Second); res.status() != 503 {
			t.Fatalf("got %s, want 503 (no next hop answered)", res.start)
		}
		quiet(t, victimTLS, 0, 50*time.Millisecond, "TLS stranger")
	})
	t.Run("the domain's own edge in the dialog", func(t *testing.T) {
		cl := w.internalClient(t, "tcp")
		before := w.edgeA.count()
		cl.send(t, req("MESSAGE", "sip:bob@"+w.edgeA.addr+";transport=tls", "tcp "+cl.local(), inDialog))
		if res, _ := cl.final(t, 5*time.Second); res.status() != 200 {
			t.Fatalf("got %s", res.start)
		}
		if w.edgeA.count() != before+1 {
			t.Fatal("the partner's edge did not get the request")
		}
	})
	t.Run("the edge of another domain than To", func(t *testing.T) {
		// b.test's edge is a peer subject, but a.test's dialog may not be sent to it: b.test's
		// peer_subjects bind its edge, and a.test names none, so any peer subject would do;
		// bind a.test and try again.
		cl := w.internalClient(t, "tcp")
		if _, _, err := w.proxy.Client.UpdateFederatedDomain(context.Background(), api.FederatedDomain{Domain: "a.test", PeerSubjects: []string{"edge.a.test"}}, ""); err != nil {
			t.Fatal(err)
		}
		before := w.edgeB.count()
		cl.send(t, req("MESSAGE", "sip:bob@"+w.edgeB.addr+";transport=tls", "tcp "+cl.local(), inDialog))
		if res, _ := cl.final(t, 5*time.Second); res.status() != 503 {
			t.Fatalf("got %s, want 503", res.start)
		}
		quiet(t, w.edgeB, before, 50*time.Millisecond, "b.test's edge")
	})
	t.Run("plaintext where a static route names the hop", func(t *testing.T) {
		w.route(t, "a.test", victimTCP.addr, "tcp")
		victimTCP.answer = func(r wireMsg) []string { return []string{respond(r, 200, "OK")} }
		cl := w.internalClient(t, "tcp")
		before := victimTCP.count()
		cl.send(t, req("MESSAGE", "sip:x@"+victimTCP.addr+";transport=tcp", "tcp "+cl.local(), inDialog))
		if res, _ := cl.final(t, 5*time.Second); res.status() != 200 {
			t.Fatalf("got %s", res.start)
		}
		if victimTCP.count() != before+1 {
			t.Fatal("the statically routed plaintext hop did not get the request")
		}
	})
}

// A TLS peer subject deleted while the proxy has a connection open to that peer: the next
// request for it is not sent over that connection, and the connection closes.
func TestDeletedPeerSubjectStopsOutboundAtOnce(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	cl := w.internalClient(t, "tcp")
	cl.send(t, req("MESSAGE", "sip:bob@a.test", "tcp "+cl.local(), nil))
	if res, _ := cl.final(t, 5*time.Second); res.status() != 200 {
		t.Fatalf("first MESSAGE: %s", res.start)
	}
	if err := w.proxy.Client.DeleteTLSPeerSubject(ctx, "edge.a.test", ""); err != nil {
		t.Fatal(err)
	}
	before := w.edgeA.count()
	cl.send(t, req("MESSAGE", "sip:bob@a.test", "tcp "+cl.local(), nil))
	res, _ := cl.final(t, 8*time.Second)
	if res.status() < 400 {
		t.Fatalf("after the delete: %s", res.start)
	}
	quiet(t, w.edgeA, before, 100*time.Millisecond, "the de-trusted edge")
	select {
	case <-w.edgeA.closed:
	case <-time.After(3 * time.Second):
		t.Fatal("the connection to the de-trusted edge stayed open")
	}
}

// A partner sees only the federation routing FQDN: no internal address or name in any header
// of what reaches it, requests and responses, both ways; the dialog still works.
func TestTopologyHiddenFromPartners(t *testing.T) {
	w := newWorld(t)
	internal := []string{ipInternalServer, ipProxyInternal, "imp1.example.com"}
	leaks := func(t *testing.T, what string, m wireMsg) {
		t.Helper()
		for _, tok := range internal {
			if strings.Contains(m.raw, tok) {
				t.Errorf("%s shows %q:\n%s", what, tok, m.raw)
			}
		}
	}
	t.Run("outbound", func(t *testing.T) {
		cl := w.internalClient(t, "tcp")
		w.edgeA.answer = func(r wireMsg) []string {
			if r.method() == "ACK" {
				return nil
			}
			return []string{respond(r, 200, "OK", "Contact: <sip:bob@"+ipEdgeA+":5061;transport=tls>")}
		}
		before := w.edgeA.count()
		callID := "outbound-call@" + ipInternalServer
		cl.send(t, req("INVITE", "sip:bob@a.test", "tcp "+cl.local(), map[string]string{"Call-ID": callID},
			"Contact: <sip:alice@"+ipInternalServer+":5060;transport=tcp>",
			"Record-Route: <sip:"+ipInternalServer+":5060;lr>",
			"X-Internal-Server: "+ipInternalServer,
			"P-Asserted-Identity: <sip:alice@"+ipInternalServer+">",
			"Warning: 399 "+ipInternalServer+" \"internal\""))
		res, _ := cl.final(t, 5*time.Second)
		if res.status() != 200 {
			t.Fatalf("INVITE: %s", res.start)
		}
		got := w.edgeA.messages()[before]
		leaks(t, "the INVITE at the partner", got)
		if res.get("Call-ID", "i") != callID {
			t.Errorf("the caller got Call-ID %q, want its own %q", res.get("Call-ID", "i"), callID)
		}
		rr := strings.Join(res.all("Record-Route", ""), ",")
		if !strings.Contains(rr, ipProxyInternal) || !strings.Contains(rr, ipInternalServer+":5060") {
			t.Errorf("the caller's route set %q lacks our internal entry or its own: in-dialog requests could not reach us", rr)
		}
	})
	t.Run("inbound", func(t *testing.T) {
		w.inner.answer = func(r wireMsg) []string {
			if r.method() == "ACK" {
				return nil
			}
			return []string{respond(r, 200, "OK",
				"Contact: <sip:alice@"+ipInternalServer+":5060;transport=tcp>",
				"Server: presence on "+ipInternalServer)}
		}
		p := w.partner(t, w.leafA)
		p.send(t, req("INVITE", "sip:alice@example.com", "tls "+ipEdgeA+":5061", map[string]string{"From": "<sip:carl@a.test>;tag=77"},
			"Contact: <sip:carl@"+ipEdgeA+":5061;transport=tls>"))
		res, _ := p.final(t, 5*time.Second)
		if res.status() != 200 {
			t.Fatalf("INVITE from the partner: %s", res.start)
		}
		leaks(t, "the 200 at the partner", res)
		// The partner's BYE, to the Contact and along the route set it got, reaches the
		// internal server at the contact it really gave.
		contact := strings.Trim(res.get("Contact", "m"), "<>")
		routes := res.all("Record-Route", "")
		before := w.inner.count()
		p.send(t, req("BYE", contact, "tls "+ipEdgeA+":5061",
			map[string]string{"From": "<sip:carl@a.test>;tag=77", "To": res.get("To", "t"), "Call-ID": res.get("Call-ID", "i"), "CSeq": "2 BYE"},
			"Route: "+strings.Join(routes, ", ")))
		bye, _ := p.final(t, 5*time.Second)
		if bye.status() != 200 {
			t.Fatalf("BYE from the partner: %s", bye.start)
		}
		got := w.inner.messages()[before]
		if got.method() != "BYE" || !strings.Contains(got.start, "sip:alice@"+ipInternalServer+":5060") {
			t.Errorf("the internal server got %q, want the BYE to the contact it gave", got.start)
		}
	})
}

// A 180 sent right before the 200 by the callee's side reaches the caller, before the 200.
func TestProvisionalThenFinalInOrder(t *testing.T) {
	w := newWorld(t)
	w.edgeA.answer = func(r wireMsg) []string {
		if r.method() == "ACK" {
			return nil
		}
		return []string{respond(r, 180, "Ringing"), respond(r, 200, "OK", "Contact: <sip:bob@"+ipEdgeA+">")}
	}
	for range 20 {
		cl := w.internalClient(t, "tcp")
		cl.send(t, req("INVITE", "sip:bob@a.test", "tcp "+cl.local(), nil))
		final, prov := cl.final(t, 5*time.Second)
		if final.status() != 200 {
			t.Fatalf("final %s", final.start)
		}
		saw180 := false
		for _, p := range prov {
			saw180 = saw180 || p.status() == 180
		}
		if !saw180 {
			t.Fatal("the 180 sent right before the 200 did not reach the caller before it")
		}
	}
}
