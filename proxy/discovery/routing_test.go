package discovery

import (
	"slices"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/sipfed/terraform-provider-sip/internal/api"
	"github.com/sipfed/terraform-provider-sip/proxy/routing"
)

// The AOL chain with real DNS: the hosted domain's SRV lookup fails in each of the ways DNS can
// fail, the chain moves on to the default federation routing domain, and the explanation names
// what happened.
func TestRoutingExplainsDNSFailures(t *testing.T) {
	srv := startServer(t, map[string]answer{
		"SRV _sipfederationtls._tcp.servfail.example": {rcode: dns.RcodeServerFailure},
		"SRV _sipfederationtls._tcp.slow.example":     {delay: 500 * time.Millisecond},
		"SRV _sipfederationtls._tcp.aol.com": {answer: []string{"_sipfederationtls._tcp.aol.com. 300 IN SRV 10 1 5061 sip.oscar.aol.com."},
			extra: []string{"sip.oscar.aol.com. 300 IN A 192.0.2.50"}},
	})
	r := newResolver(t, Config{Servers: []string{srv.Addr}, Timeout: 100 * time.Millisecond})
	cfg := &routing.Config{Domains: map[string]api.FederatedDomain{}}
	for _, d := range []string{"nxdomain.example", "servfail.example", "slow.example"} {
		cfg.Domains[d] = api.FederatedDomain{Domain: d, Type: api.DomainTypeAOL}
	}
	snap := routing.Build(cfg, routing.Options{})
	aolCached := false // aol.com's answer is cached from the first explanation on
	for _, tc := range []struct{ domain, code string }{
		{"nxdomain.example", "NXDOMAIN"}, {"servfail.example", "SERVFAIL"}, {"slow.example", "timeout"},
	} {
		for _, cached := range []bool{false, true} {
			ex := snap.Explain(t.Context(), r, routing.Request{User: "bob", Domain: tc.domain})
			if ex.Status != 0 || len(ex.NextHops) != 1 || ex.NextHops[0].Address != "192.0.2.50" || ex.NextHops[0].Host != "sip.oscar.aol.com" {
				t.Fatalf("%s: %+v", tc.domain, ex)
			}
			var got []string
			for _, st := range ex.Steps {
				got = append(got, st.Step+" "+st.Domain+" "+st.Outcome+" "+st.DNSError)
			}
			want := []string{
				"federated " + tc.domain + " matched ", "static " + tc.domain + " none ", "srv " + tc.domain + " error " + tc.code,
				"static aol.com none ", "srv aol.com matched ",
			}
			if !slices.Equal(got, want) {
				t.Fatalf("steps\n got %q\nwant %q", got, want)
			}
			if ex.Steps[2].Cached != cached || ex.Steps[4].Cached != aolCached {
				t.Fatalf("%s: cached flags %v %v, want %v %v", tc.domain, ex.Steps[2].Cached, ex.Steps[4].Cached, cached, aolCached)
			}
			aolCached = true
			if srs := ex.Steps[4].SRVRecords; len(srs) != 1 || !slices.Equal(srs[0].Addresses, []string{"192.0.2.50"}) {
				t.Fatalf("SRV records %+v", srs)
			}
		}
	}
}
