package relay

import (
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sipfed/terraform-provider-sip/internal/api"
	"github.com/sipfed/terraform-provider-sip/internal/sipptest"
)

// sippScenario is the absolute path of a scenario of testdata/sipp: sipp runs in a directory
// of its own.
func sippScenario(t *testing.T, name string) string {
	t.Helper()
	sf, err := filepath.Abs(filepath.Join("testdata", "sipp", name))
	if err != nil {
		t.Fatal(err)
	}
	return sf
}

// TestSippMessageThroughProxy: a sipp UAC sends a MESSAGE to the internal listener; two sipp UASs
// stand in for a partner's edges, and the static route names one of them.
func TestSippMessageThroughProxy(t *testing.T) {
	bin := sipptest.Binary(t)
	for _, transport := range []string{"udp", "tcp"} {
		t.Run(transport, func(t *testing.T) {
			dir := t.TempDir()
			mode := map[string]string{"udp": "u1", "tcp": "t1"}[transport]
			portA, portB := sipptest.FreePort(t, "127.0.0.1"), sipptest.FreePort(t, "127.0.0.1")
			edgeA := sipptest.Start(t, bin, dir, "edgeA", sippScenario(t, "uas_message.xml"), "-t", mode, "-i", "127.0.0.1", "-p", strconv.Itoa(portA), "-m", "1")
			edgeB := sipptest.Start(t, bin, dir, "edgeB", sippScenario(t, "uas_message.xml"), "-t", mode, "-i", "127.0.0.1", "-p", strconv.Itoa(portB), "-m", "1")

			h := &holder{}
			h.p.Store(fed{
				domains: []api.FederatedDomain{{Domain: partnerDomain}},
				routes:  []api.StaticRoute{route(partnerDomain, "127.0.0.1:"+strconv.Itoa(portA), transport, 1)},
			}.snapshot())
			r := startRelay(t, Config{Internal: []Listener{{Transport: transport, Addr: "127.0.0.1:0"}}}, h)
			proxy := listenerAddr(r.InternalAddrs(), transport)
			time.Sleep(200 * time.Millisecond) // let the UASs bind

			uacPort := sipptest.FreePort(t, "127.0.0.1")
			uac := sipptest.Start(t, bin, dir, "uac", sippScenario(t, "uac_message.xml"), "-t", mode, "-i", "127.0.0.1", "-p", strconv.Itoa(uacPort),
				"-m", "1", "-s", "bob", "-key", "domain", partnerDomain, proxy)
			if code := uac.Wait(t, 25*time.Second); code != 0 {
				t.Fatalf("sipp UAC exited %d (want 0: a 200 came back):\n%s\n%s", code, uac.Output(), uac.Messages())
			}
			if code := edgeA.Wait(t, 10*time.Second); code != 0 {
				t.Fatalf("edge A exited %d:\n%s", code, edgeA.Messages())
			}
			msgs := edgeA.Messages()
			for _, want := range []string{"MESSAGE sip:bob@partner.example SIP/2.0", "Record-Route: <sip:" + routingFQDN, "Max-Forwards: 69"} {
				if !strings.Contains(msgs, want) {
					t.Errorf("edge A did not see %q:\n%s", want, msgs)
				}
			}
			if strings.Contains(edgeB.Messages(), "MESSAGE sip:") {
				t.Errorf("edge B got the MESSAGE routed to edge A:\n%s", edgeB.Messages())
			}
		})
	}
}
