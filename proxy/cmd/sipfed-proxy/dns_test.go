package main

import (
	"net"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// startDNS serves DNS on a loopback UDP port with miekg/dns: each name in rcodes answers with its
// rcode and no records; any other name is NXDOMAIN. The proxies of these tests ask it alone, so
// they never reach the network's resolver.
func startDNS(t *testing.T, rcodes map[string]int) string {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &dns.Server{PacketConn: pc, Handler: dns.HandlerFunc(func(w dns.ResponseWriter, r *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(r)
		m.Rcode = dns.RcodeNameError
		for name, rcode := range rcodes {
			if strings.EqualFold(r.Question[0].Name, dns.Fqdn(name)) {
				m.Rcode = rcode
			}
		}
		_ = w.WriteMsg(m)
	})}
	started := make(chan struct{})
	srv.NotifyStartedFunc = func() { close(started) }
	go func() { _ = srv.ActivateAndServe() }()
	select {
	case <-started:
	case <-time.After(5 * time.Second):
		t.Fatal("test DNS server did not start")
	}
	t.Cleanup(func() { _ = srv.Shutdown() })
	return pc.LocalAddr().String()
}
