package edgetest

import (
	"net"
	"strconv"
	"strings"
	"testing"

	"github.com/sipfed/terraform-provider-sip/internal/sipptest"
)

// Two sipfed sites federate with each other, each with its own CA trusting the other's, and
// carry whole dialogs both ways. Every request reaches the far site's servers from that site's
// own proxy (each sipp server checks the top Via of every request it gets), so no proxy ever
// sends to the other site's internal servers, and the inter-site leg is mutual TLS only.
func TestTwoSitesCarryWholeDialogs(t *testing.T) {
	bin := sipptest.Binary(t)
	type vars struct {
		LocalDomain, RemoteDomain, ProxyVia string
	}
	// Each site's users and servers speak one protocol to their proxy: UDP, then TCP.
	for i, transport := range []string{"udp", "tcp"} {
		z := startZone(t)
		a := newSite(t, "site A", "a.test", "127.0.0."+strconv.Itoa(11+10*i), "127.0.0."+strconv.Itoa(13+10*i), transport)
		b := newSite(t, "site B", "b.test", "127.0.0."+strconv.Itoa(12+10*i), "127.0.0."+strconv.Itoa(14+10*i), transport)
		a.start(t, z, b)
		b.start(t, z, a)
		tflag := map[string]string{"udp": "u1", "tcp": "t1"}[transport]
		for _, dir := range []struct {
			name     string
			from, to *site
		}{{"A to B", a, b}, {"B to A", b, a}} {
			for _, sc := range []struct{ name, uac, uas string }{
				{"INVITE 180 200 ACK BYE", "uac_call.xml", "uas_call.xml"},
				{"CANCEL", "uac_cancel.xml", "uas_cancel.xml"},
				{"SUBSCRIBE NOTIFY refresh unsubscribe", "uac_subscribe.xml", "uas_subscribe.xml"},
				{"INVITE, hold by the callee, MESSAGE in the call, BYE by the callee", "uac_reinvite.xml", "uas_reinvite.xml"},
			} {
				t.Run(transport+"/"+dir.name+"/"+sc.name, func(t *testing.T) {
					tmp := t.TempDir()
					// Every server checks that each request it gets comes from its own
					// site's proxy: the top Via is that proxy's internal listener.
					uasVars := vars{LocalDomain: dir.to.domain, RemoteDomain: dir.from.domain, ProxyVia: viaOf(dir.to.internal(transport))}
					uacVars := vars{LocalDomain: dir.from.domain, RemoteDomain: dir.to.domain, ProxyVia: viaOf(dir.from.internal(transport))}
					uas := sipptest.Start(t, bin, tmp, "uas", scenario(t, tmp, sc.uas, uasVars),
						"-i", dir.to.hostIP, "-p", strconv.Itoa(dir.to.nextHop), "-t", tflag, "-m", "1")
					uac := sipptest.Start(t, bin, tmp, "uac", scenario(t, tmp, sc.uac, uacVars),
						"-i", dir.from.hostIP, "-p", strconv.Itoa(dir.from.nextHop), "-t", tflag, "-m", "1", "-s", "bob",
						dir.from.internal(transport))
					bothPass(t, uac, uas)
				})
			}
		}
	}
}

// viaOf is the sent-by a proxy's internal Via shows for a listener, as a sipp regexp.
func viaOf(addr string) string {
	host, port, _ := net.SplitHostPort(addr)
	return strings.ReplaceAll(host, ".", `\.`) + ":" + port
}
