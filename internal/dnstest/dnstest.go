// Package dnstest runs miekg/dns servers on loopback for tests: the proxies under test ask them
// alone, so no lookup leaves the machine.
package dnstest

import (
	"net"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// Start runs srv (its PacketConn or Listener set) until the test ends, and returns once it is
// serving.
func Start(t testing.TB, srv *dns.Server) {
	t.Helper()
	started := make(chan struct{})
	srv.NotifyStartedFunc = func() { close(started) }
	go func() { _ = srv.ActivateAndServe() }()
	select {
	case <-started:
	case <-time.After(5 * time.Second):
		t.Fatal("test DNS server did not start")
	}
	t.Cleanup(func() { _ = srv.Shutdown() })
}

// ServeUDP answers DNS with h on a loopback UDP port until the test ends; it returns the port's
// address.
func ServeUDP(t testing.TB, h dns.Handler) string {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	Start(t, &dns.Server{PacketConn: pc, Handler: h})
	return pc.LocalAddr().String()
}
