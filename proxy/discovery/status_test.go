package discovery

import (
	"net"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/sipfed/terraform-provider-sip/internal/api"
	"github.com/sipfed/terraform-provider-sip/proxy/routing"
)

// Seen in issue 12: a DNS outage looked like a missing partner (404). What DNS answered decides
// the status: a partner that has no records is not found (404); a DNS server that fails, refuses
// or does not answer says nothing about the partner, so the proxy answers 503 with a Retry-After.
// A real miekg/dns server on loopback answers, and each case runs the decision the relay makes and
// the explanation GET /v1/route gives.
func TestDNSFailureKindDecidesStatus(t *testing.T) {
	const soa = "example. 300 IN SOA ns.example. admin.example. 1 7200 3600 1209600 30"
	srv := startServer(t, map[string]answer{
		"SRV _sipfederationtls._tcp.servfail.example": {rcode: dns.RcodeServerFailure},
		"SRV _sipfederationtls._tcp.refused.example":  {rcode: dns.RcodeRefused},
		"SRV _sipfederationtls._tcp.notimp.example":   {rcode: dns.RcodeNotImplemented},
		"SRV _sipfederationtls._tcp.slow.example":     {delay: 400 * time.Millisecond},
		"SRV _sipfederationtls._tcp.empty.example":    {ns: []string{soa}},
		// A static route's next hop name that the server fails to resolve.
		"A edge.hopfail.example":    {rcode: dns.RcodeServerFailure},
		"AAAA edge.hopfail.example": {rcode: dns.RcodeServerFailure},
		"SRV _sipfederationtls._tcp.ok.example": {answer: []string{"_sipfederationtls._tcp.ok.example. 300 IN SRV 10 1 5061 edge.ok.example."},
			extra: []string{"edge.ok.example. 300 IN A 192.0.2.7"}},
	})
	tests := []struct {
		domain   string
		status   int
		retry    bool   // a Retry-After is given
		dnsError string // what the SRV step's explanation names
	}{
		{domain: "ok.example", status: 0},
		{domain: "nxdomain.example", status: 404, dnsError: "NXDOMAIN"},
		{domain: "empty.example", status: 404, dnsError: "no records"},
		{domain: "servfail.example", status: 503, retry: true, dnsError: "SERVFAIL"},
		{domain: "refused.example", status: 503, retry: true, dnsError: "REFUSED"},
		{domain: "slow.example", status: 503, retry: true, dnsError: "timeout"},
		{domain: "notimp.example", status: 503, retry: true, dnsError: "server error"},
		{domain: "hopfail.example", status: 503, retry: true, dnsError: "SERVFAIL"},
	}
	cfg := &routing.Config{Domains: map[string]api.FederatedDomain{}, Routes: map[string]api.StaticRoute{}}
	for _, tc := range tests {
		cfg.Domains[tc.domain] = api.FederatedDomain{Domain: tc.domain, Type: api.DomainTypeLync}
	}
	hop := api.NewStaticRoute()
	hop.ID, hop.DestinationPattern, hop.NextHop = "r1", ".example.hopfail", "edge.hopfail.example"
	cfg.Routes[hop.ID] = hop
	snap := routing.Build(cfg, routing.Options{})

	for _, tc := range tests {
		t.Run(tc.domain, func(t *testing.T) {
			r := newResolver(t, Config{Servers: []string{srv.Addr}, Timeout: 100 * time.Millisecond, NegativeTTL: 7 * time.Second})
			for _, pass := range []string{"fresh", "cached"} {
				var d routing.Decision
				snap.Decide(t.Context(), r, routing.Request{User: "bob", Domain: tc.domain}, &d)
				if d.Status != tc.status {
					t.Fatalf("%s: status %d (%s), want %d", pass, d.Status, d.Reason, tc.status)
				}
				if got := d.RetryAfter > 0; got != tc.retry {
					t.Fatalf("%s: RetryAfter %v, want one: %v", pass, d.RetryAfter, tc.retry)
				}
				if tc.retry && (d.RetryAfter < time.Second || d.RetryAfter > 7*time.Second) {
					t.Fatalf("%s: RetryAfter %v: want the time until DNS is asked again (at most the 7s negative TTL)", pass, d.RetryAfter)
				}
				ex := snap.Explain(t.Context(), r, routing.Request{User: "bob", Domain: tc.domain})
				if ex.Status != tc.status || ex.RetryAfter != int((d.RetryAfter+time.Second-1)/time.Second) {
					t.Fatalf("%s: explanation status %d retry_after %d; decision %d %v", pass, ex.Status, ex.RetryAfter, d.Status, d.RetryAfter)
				}
				if tc.status == 0 {
					continue
				}
				if !strings.Contains(ex.Reason, tc.domain) {
					t.Fatalf("%s: reason %q does not name the domain", pass, ex.Reason)
				}
				var codes []string
				for _, st := range ex.Steps {
					if st.DNSError != "" {
						codes = append(codes, st.DNSError)
					}
				}
				if len(codes) == 0 || !containsCode(codes, tc.dnsError) {
					t.Fatalf("%s: steps name DNS errors %q, want %q among them", pass, codes, tc.dnsError)
				}
			}
		})
	}
}

func containsCode(codes []string, want string) bool {
	for _, c := range codes {
		if c == want {
			return true
		}
	}
	return false
}

// A DNS server that cannot be reached says nothing about the partner either: 503.
func TestUnreachableDNSServerIs503(t *testing.T) {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := pc.LocalAddr().String()
	pc.Close() // nothing listens: the kernel answers "connection refused"
	r := newResolver(t, Config{Servers: []string{closed}, Timeout: 500 * time.Millisecond})
	cfg := &routing.Config{Domains: map[string]api.FederatedDomain{"domaina.com": {Domain: "domaina.com"}}}
	var d routing.Decision
	routing.Build(cfg, routing.Options{}).Decide(t.Context(), r, routing.Request{Domain: "domaina.com"}, &d)
	if d.Status != 503 || d.RetryAfter <= 0 || !strings.Contains(d.Reason, "server error") && !strings.Contains(d.Reason, "timeout") {
		t.Fatalf("unreachable DNS server: %d %q retry after %v; want 503 naming a server error", d.Status, d.Reason, d.RetryAfter)
	}
}
