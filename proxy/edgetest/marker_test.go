package edgetest

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/sipfed/terraform-provider-sip/proxy/relay"
	"github.com/sipfed/terraform-provider-sip/proxy/routing"
	"github.com/sipfed/terraform-provider-sip/proxy/server/servertest"
)

// The proxy's own Route entries carry a marker made from a key in the store: a dialog set up
// before a change of the federation routing FQDN, or before a restart, still finds its way.
func TestDialogsSurviveARoutingFQDNChangeAndARestart(t *testing.T) {
	w := newWorld(t)
	w.edgeA.answer = func(r wireMsg) []string {
		if r.method() == "ACK" {
			return nil
		}
		return []string{respond(r, 200, "OK", "Contact: <sip:bob@"+w.edgeA.addr+";transport=tls>")}
	}
	cl := w.internalClient(t, "tcp")
	cl.send(t, req("INVITE", "sip:bob@a.test", "tcp "+cl.local(), nil, "Contact: <sip:alice@"+ipInternalServer+":5060;transport=tcp>"))
	ok, _ := cl.final(t, 5*time.Second)
	if ok.status() != 200 {
		t.Fatalf("INVITE: %s", ok.start)
	}
	// The caller's route set: the Record-Route of the 200, reversed (RFC 3261 12.1.2).
	rr := ok.all("Record-Route", "")
	var routeSet []string
	for i := len(rr) - 1; i >= 0; i-- {
		routeSet = append(routeSet, strings.Split(rr[i], ",")...)
	}
	bye := func(t *testing.T, cseq string) wireMsg {
		t.Helper()
		c := w.internalClient(t, "tcp")
		before := w.edgeA.count()
		c.send(t, req("BYE", strings.Trim(ok.get("Contact", "m"), "<>"), "tcp "+c.local(),
			map[string]string{"From": "<sip:alice@example.com>;tag=f", "To": ok.get("To", "t"), "CSeq": cseq + " BYE"},
			"Route: "+strings.Join(routeSet, ", ")))
		res, _ := c.final(t, 5*time.Second)
		if res.status() == 200 && w.edgeA.count() != before+1 {
			t.Fatal("answered 200 but the partner got nothing")
		}
		return res
	}
	if _, _, err := w.proxy.Client.SetFederationRoutingFQDN(context.Background(), "edge-new.example.com", ""); err != nil {
		t.Fatal(err)
	}
	if res := bye(t, "2"); res.status() != 200 {
		t.Fatalf("after the routing FQDN changed: %s", res.start)
	}

	// Restart on the same store: the marker key comes back from it.
	dataDir := w.proxy.DataDir
	cfg := w.proxy.Relay()
	internal := cfg.InternalAddrs()
	external := cfg.ExternalAddrs()
	if err := w.proxy.Close(); err != nil {
		t.Fatal(err)
	}
	nh, _ := relay.ParseNextHop("sip:" + w.inner.addr + ";transport=tcp")
	w.proxy = servertest.Start(t, servertest.WithDataDir(dataDir),
		servertest.WithRouting(routing.Options{NodeFQDN: "imp1.example.com", LocalDomains: []string{"example.com"}}),
		servertest.WithSIP(relay.Config{
			Internal: []relay.Listener{{Transport: "udp", Addr: internal[0].Addr}, {Transport: "tcp", Addr: internal[1].Addr}},
			External: []relay.Listener{{Transport: "tls", Addr: external[0].Addr}},
			InternalNextHop: nh, TLS: w.tlsMaterial(t), HopTimeout: 2 * time.Second,
		}))
	if res := bye(t, "3"); res.status() != 200 {
		t.Fatalf("after a restart: %s", res.start)
	}
}
