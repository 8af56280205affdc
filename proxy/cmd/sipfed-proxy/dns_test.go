package main

import (
	"strings"
	"testing"

	"github.com/miekg/dns"

	"github.com/sipfed/terraform-provider-sip/internal/dnstest"
)

// startDNS serves DNS on a loopback UDP port with miekg/dns: each name in rcodes answers with its
// rcode and no records; any other name is NXDOMAIN. The proxies of these tests ask it alone, so
// they never reach the network's resolver.
func startDNS(t *testing.T, rcodes map[string]int) string {
	t.Helper()
	return dnstest.ServeUDP(t, dns.HandlerFunc(func(w dns.ResponseWriter, r *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(r)
		m.Rcode = dns.RcodeNameError
		for name, rcode := range rcodes {
			if strings.EqualFold(r.Question[0].Name, dns.Fqdn(name)) {
				m.Rcode = rcode
			}
		}
		_ = w.WriteMsg(m)
	}))
}
