package routing

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/sipfed/terraform-provider-sip/internal/api"
)

// The chain of DESIGN.md "Routing" and the reference's "Route SIP Requests for SIP Federation with
// AOL" steps 1 to 6. Configuration: hosteddomain.com is an AOL-hosted domain, aol.com the default
// federation routing domain (also federated, for its own users), lyncpartner.com a lync domain.
// Each case sets which static routes and SRV records exist; the chain must stop at the first step
// that finds something and have asked DNS exactly what the reference says, in order.
func TestChain(t *testing.T) {
	srvHosted := []SRVRecord{{Priority: 10, Weight: 1, Port: 5061, Target: "sip.hosteddomain.com", Addrs: addrs("198.51.100.1")}}
	srvAOL := []SRVRecord{{Priority: 10, Weight: 1, Port: 5061, Target: "sip.oscar.aol.com.", Addrs: addrs("198.51.100.50")}}
	srvLync := []SRVRecord{{Priority: 10, Weight: 1, Port: 5061, Target: "sip.lyncpartner.com"}}
	routeHosted := rt("hosted", ".com.hosteddomain.*", "203.0.113.1")
	routeAOL := rt("aol", ".com.aol.*", "203.0.113.50")
	routeLync := rt("lync", ".com.lyncpartner.*", "203.0.113.7")

	tests := []struct {
		name    string
		user    string
		domain  string
		routes  []api.StaticRoute
		srv     map[string][]SRVRecord
		srvErr  map[string]error
		addrErr map[string]error
		retry   time.Duration // the decision's RetryAfter
		want    []string      // next hops
		calls   []string      // DNS lookups, in order
		status  int
		reason  string
		outcome []string // "step domain outcome" per explained step
	}{
		{
			name: "AOL step 1: static route for the hosted domain", domain: "hosteddomain.com",
			routes: []api.StaticRoute{routeHosted, routeAOL}, srv: map[string][]SRVRecord{"hosteddomain.com": srvHosted, "aol.com": srvAOL},
			want:    []string{"hosted@203.0.113.1:5061/tls"},
			calls:   []string{},
			outcome: []string{"federated hosteddomain.com matched", "static hosteddomain.com matched", "srv hosteddomain.com skipped", "static aol.com skipped", "srv aol.com skipped"},
		},
		{
			name: "AOL step 2: SRV for the hosted domain", domain: "hosteddomain.com",
			routes: []api.StaticRoute{routeAOL}, srv: map[string][]SRVRecord{"hosteddomain.com": srvHosted, "aol.com": srvAOL},
			want:    []string{"sip.hosteddomain.com@198.51.100.1:5061"},
			calls:   []string{"srv hosteddomain.com"},
			outcome: []string{"federated hosteddomain.com matched", "static hosteddomain.com none", "srv hosteddomain.com matched", "static aol.com skipped", "srv aol.com skipped"},
		},
		{
			name: "AOL step 3: static route for the default federation routing domain", domain: "hosteddomain.com",
			routes: []api.StaticRoute{routeAOL}, srv: map[string][]SRVRecord{"aol.com": srvAOL},
			want:    []string{"aol@203.0.113.50:5061/tls"},
			calls:   []string{"srv hosteddomain.com"},
			outcome: []string{"federated hosteddomain.com matched", "static hosteddomain.com none", "srv hosteddomain.com error", "static aol.com matched", "srv aol.com skipped"},
		},
		{
			name: "AOL step 4: SRV for the default federation routing domain", domain: "hosteddomain.com",
			srv:     map[string][]SRVRecord{"aol.com": srvAOL},
			want:    []string{"sip.oscar.aol.com@198.51.100.50:5061"},
			calls:   []string{"srv hosteddomain.com", "srv aol.com"},
			outcome: []string{"federated hosteddomain.com matched", "static hosteddomain.com none", "srv hosteddomain.com error", "static aol.com none", "srv aol.com matched"},
		},
		{
			name: "AOL step 5: static route for a user of the default domain", user: "bob", domain: "aol.com",
			routes: []api.StaticRoute{routeAOL, routeHosted}, srv: map[string][]SRVRecord{"aol.com": srvAOL},
			want:    []string{"aol@203.0.113.50:5061/tls"},
			calls:   []string{},
			outcome: []string{"federated aol.com matched", "static aol.com matched", "srv aol.com skipped"},
		},
		{
			name: "AOL step 6: SRV for a user of the default domain", user: "bob", domain: "aol.com",
			routes: []api.StaticRoute{routeHosted}, srv: map[string][]SRVRecord{"aol.com": srvAOL, "hosteddomain.com": srvHosted},
			want:    []string{"sip.oscar.aol.com@198.51.100.50:5061"},
			calls:   []string{"srv aol.com"},
			outcome: []string{"federated aol.com matched", "static aol.com none", "srv aol.com matched"},
		},
		{
			name: "AOL default domain: a DNS timeout is 503 after two steps", domain: "aol.com",
			srvErr:  map[string]error{"aol.com": &DNSError{Name: "_sipfederationtls._tcp.aol.com", Type: "SRV", Err: ErrTimeout}},
			calls:   []string{"srv aol.com"},
			status:  503,
			retry:   DefaultRetryAfter,
			reason:  "DNS failed for aol.com, try again later: static aol.com: no match; srv aol.com: timeout",
			outcome: []string{"federated aol.com matched", "static aol.com none", "srv aol.com error"},
		},
		{
			name: "AOL: SERVFAIL on the hosted domain moves the chain on", domain: "hosteddomain.com",
			srv:     map[string][]SRVRecord{"aol.com": srvAOL},
			srvErr:  map[string]error{"hosteddomain.com": &DNSError{Type: "SRV", Err: ErrSERVFAIL}},
			want:    []string{"sip.oscar.aol.com@198.51.100.50:5061"},
			calls:   []string{"srv hosteddomain.com", "srv aol.com"},
			outcome: []string{"federated hosteddomain.com matched", "static hosteddomain.com none", "srv hosteddomain.com error", "static aol.com none", "srv aol.com matched"},
		},
		{
			name: "AOL: nothing found is 404 naming the four steps", domain: "hosteddomain.com",
			srvErr: map[string]error{"aol.com": &DNSError{Type: "SRV", Err: ErrNoRecords}},
			calls:  []string{"srv hosteddomain.com", "srv aol.com"},
			status: 404,
			reason: "no route to hosteddomain.com: static hosteddomain.com: no match; srv hosteddomain.com: NXDOMAIN; static aol.com: no match; srv aol.com: no records",
		},
		{
			name: "AOL: a SERVFAIL anywhere in the chain makes nothing found a 503", domain: "hosteddomain.com",
			srvErr: map[string]error{"aol.com": &DNSError{Type: "SRV", Err: ErrSERVFAIL, RetryAfter: 4 * time.Second}},
			calls:  []string{"srv hosteddomain.com", "srv aol.com"},
			status: 503,
			retry:  4 * time.Second,
			reason: "DNS failed for hosteddomain.com, try again later: static hosteddomain.com: no match; srv hosteddomain.com: NXDOMAIN; static aol.com: no match; srv aol.com: SERVFAIL",
		},
		{
			name: "lync: a refused SRV lookup is 503, the soonest retry wins", domain: "lyncpartner.com",
			routes:  []api.StaticRoute{rt("n", ".com.lyncpartner", "edge.lyncpartner.com")},
			srvErr:  map[string]error{"lyncpartner.com": &DNSError{Type: "SRV", Err: ErrRefused, RetryAfter: 9 * time.Second}},
			addrErr: map[string]error{"edge.lyncpartner.com": &DNSError{Type: "A/AAAA", Err: ErrTimeout, RetryAfter: 300 * time.Millisecond}},
			calls:   []string{"addrs edge.lyncpartner.com", "srv lyncpartner.com"},
			status:  503,
			retry:   time.Second, // whole seconds, at least one
			reason:  "DNS failed for lyncpartner.com, try again later: static lyncpartner.com: next hop timeout; srv lyncpartner.com: REFUSED",
		},
		{
			name: "AOL: a block route for the default domain answers 403", domain: "hosteddomain.com",
			routes: []api.StaticRoute{rt("b", ".com.aol.*", "203.0.113.50", block)}, srv: map[string][]SRVRecord{"aol.com": srvAOL},
			calls:   []string{"srv hosteddomain.com"},
			status:  403,
			reason:  "blocked by static route b (.com.aol.*)",
			outcome: []string{"federated hosteddomain.com matched", "static hosteddomain.com none", "srv hosteddomain.com error", "static aol.com blocked", "srv aol.com skipped"},
		},
		{
			name: "lync: static route first", domain: "lyncpartner.com",
			routes: []api.StaticRoute{routeLync}, srv: map[string][]SRVRecord{"lyncpartner.com": srvLync},
			want:    []string{"lync@203.0.113.7:5061/tls"},
			calls:   []string{},
			outcome: []string{"federated lyncpartner.com matched", "static lyncpartner.com matched", "srv lyncpartner.com skipped"},
		},
		{
			name: "lync: then SRV, targets resolved", domain: "lyncpartner.com",
			routes: []api.StaticRoute{routeAOL}, srv: map[string][]SRVRecord{"lyncpartner.com": srvLync, "aol.com": srvAOL},
			want:    []string{"sip.lyncpartner.com@198.51.100.7:5061", "sip.lyncpartner.com@[2001:db8::7]:5061"},
			calls:   []string{"srv lyncpartner.com", "addrs sip.lyncpartner.com"},
			outcome: []string{"federated lyncpartner.com matched", "static lyncpartner.com none", "srv lyncpartner.com matched"},
		},
		{
			name: "lync: an error the DNS implementation does not classify is an answer: 404", domain: "lyncpartner.com",
			srvErr: map[string]error{"lyncpartner.com": errors.New("no such partner")},
			calls:  []string{"srv lyncpartner.com"},
			status: 404,
			reason: "no route to lyncpartner.com: static lyncpartner.com: no match; srv lyncpartner.com: no such partner",
		},
		{
			name: "lync: never falls back to the default federation routing domain", domain: "lyncpartner.com",
			routes: []api.StaticRoute{routeAOL}, srv: map[string][]SRVRecord{"aol.com": srvAOL},
			calls:  []string{"srv lyncpartner.com"},
			status: 404,
			reason: "no route to lyncpartner.com: static lyncpartner.com: no match; srv lyncpartner.com: NXDOMAIN",
		},
		{
			name: "not a federated domain: 403, no open relay", domain: "stranger.com",
			routes: []api.StaticRoute{rt("all", ".*", "203.0.113.99")}, srv: map[string][]SRVRecord{"stranger.com": srvHosted},
			calls:   []string{},
			status:  403,
			reason:  "domain is not federated",
			outcome: []string{"federated stranger.com rejected"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := cfgOf([]string{"hosteddomain.com:aol", "aol.com:aol", "lyncpartner.com"}, tc.routes...)
			s := Build(cfg, Options{})
			newDNS := func() *zoneDNS {
				z := newZone()
				for k, v := range tc.srv {
					z.srv[k] = v
				}
				for k, v := range tc.srvErr {
					z.srvErr[k] = v
				}
				for k, v := range tc.addrErr {
					z.addrErr[k] = v
				}
				z.addrs["sip.lyncpartner.com"] = addrs("198.51.100.7", "2001:db8::7")
				return z
			}

			z := newDNS()
			d := decide(t, s, z, tc.user, tc.domain)
			if d.Status != tc.status || d.Reason != tc.reason || d.RetryAfter != tc.retry {
				t.Fatalf("status %d %q retry after %v, want %d %q %v", d.Status, d.Reason, d.RetryAfter, tc.status, tc.reason, tc.retry)
			}
			if got := hops(d); tc.status == 0 && !slices.Equal(got, tc.want) {
				t.Fatalf("next hops\n got %v\nwant %v", got, tc.want)
			}
			if calls := z.Calls(); !slices.Equal(calls, tc.calls) {
				t.Fatalf("DNS calls %v, want %v", calls, tc.calls)
			}
			if len(d.Steps) != 0 {
				t.Fatalf("Decide recorded steps: %+v", d.Steps)
			}

			// Explain runs the same chain: same answer, same lookups, and says what each step did.
			z = newDNS()
			ex := s.Explain(t.Context(), z, Request{User: tc.user, Domain: tc.domain})
			if ex.Status != tc.status || len(ex.NextHops) != len(d.NextHops) || ex.Revision != 7 || ex.RetryAfter != int(tc.retry/time.Second) {
				t.Fatalf("explanation differs from the decision: %+v", ex)
			}
			if tc.status != 0 && ex.Reason != tc.reason {
				t.Fatalf("explanation reason %q, want %q", ex.Reason, tc.reason)
			}
			for i, h := range ex.NextHops {
				if h.Address != d.NextHops[i].Addr.Addr().String() || h.Port != int(d.NextHops[i].Addr.Port()) || h.Host != d.NextHops[i].Host {
					t.Fatalf("explained hop %d %+v, decided %+v", i, h, d.NextHops[i])
				}
			}
			if calls := z.Calls(); !slices.Equal(calls, tc.calls) {
				t.Fatalf("Explain DNS calls %v, want %v", calls, tc.calls)
			}
			if tc.outcome != nil {
				var got []string
				for _, st := range ex.Steps {
					got = append(got, st.Step+" "+st.Domain+" "+st.Outcome)
				}
				if !slices.Equal(got, tc.outcome) {
					t.Fatalf("steps\n got %v\nwant %v", got, tc.outcome)
				}
			}
		})
	}
}

func TestDefaultFederationRoutingDomainOption(t *testing.T) {
	cfg := cfgOf([]string{"hosteddomain.com:aol"}, rt("aol", ".com.aol.*", "203.0.113.50"), rt("ch", ".net.clearinghouse.*", "203.0.113.60"))
	z := newZone()
	s := Build(cfg, Options{DefaultFederationRoutingDomain: "ClearingHouse.net"})
	if got := s.DefaultFederationRoutingDomain(); got != "clearinghouse.net" {
		t.Fatalf("default domain %q", got)
	}
	d := decide(t, s, z, "", "hosteddomain.com")
	if got := hops(d); !slices.Equal(got, []string{"ch@203.0.113.60:5061/tls"}) {
		t.Fatalf("hops %v (status %d %s)", got, d.Status, d.Reason)
	}
	if s := Build(cfg, Options{}); s.DefaultFederationRoutingDomain() != "aol.com" {
		t.Fatalf("default is %q, want aol.com", s.DefaultFederationRoutingDomain())
	}
}

// What Explain says of each step: route ids, SRV records with addresses in the order tried, DNS
// errors, cache flags.
func TestExplainDetails(t *testing.T) {
	cfg := cfgOf([]string{"hosteddomain.com:aol"},
		rt("h1", ".com.hosteddomain.*", "edge1.hosteddomain.com", prio(1)),
		rt("h2", ".com.hosteddomain.*", "203.0.113.2", prio(2)),
	)
	z := newZone()
	z.cached = true
	z.addrErr["edge1.hosteddomain.com"] = &DNSError{Name: "edge1.hosteddomain.com", Type: "A/AAAA", Err: ErrSERVFAIL, Cached: true}
	s := Build(cfg, Options{})
	ex := s.Explain(t.Context(), z, Request{User: "bob", Domain: "HostedDomain.com"})
	if ex.Domain != "hosteddomain.com" || ex.User != "bob" || ex.Status != 0 {
		t.Fatalf("explanation %+v", ex)
	}
	st := ex.Steps[1]
	if st.Outcome != api.OutcomeMatched || st.Pattern != ".com.hosteddomain.*" || !slices.Equal(st.RouteIDs, []string{"h1", "h2"}) ||
		st.DNSError != "SERVFAIL" || !st.Cached {
		t.Fatalf("static step %+v", st)
	}
	if len(ex.NextHops) != 1 || ex.NextHops[0].RouteID != "h2" || ex.NextHops[0].Address != "203.0.113.2" || ex.NextHops[0].Port != 5061 {
		t.Fatalf("next hops %+v", ex.NextHops)
	}
	if ex.Reason != "routed by the static step for hosteddomain.com (pattern .com.hosteddomain.*)" {
		t.Fatalf("reason %q", ex.Reason)
	}

	// SRV: records in the order tried, with their addresses; the lower priority first.
	z = newZone()
	z.cached = true
	z.srv["hosteddomain.com"] = []SRVRecord{
		{Priority: 20, Weight: 5, Port: 5062, Target: "backup.hosteddomain.com."},
		{Priority: 10, Weight: 5, Port: 5061, Target: "primary.hosteddomain.com", Addrs: addrs("198.51.100.1", "2001:db8::1")},
		{Priority: 30, Weight: 5, Port: 5061, Target: "dead.hosteddomain.com"},
	}
	z.addrs["backup.hosteddomain.com"] = addrs("198.51.100.2")
	s = Build(cfgOf([]string{"hosteddomain.com:aol"}), Options{})
	ex = s.Explain(t.Context(), z, Request{Domain: "hosteddomain.com"})
	srv := ex.Steps[2]
	if srv.Step != api.StepSRV || srv.Outcome != api.OutcomeMatched || !srv.Cached || len(srv.SRVRecords) != 3 {
		t.Fatalf("srv step %+v", srv)
	}
	want := []api.SRVRecord{
		{Priority: 10, Weight: 5, Port: 5061, Target: "primary.hosteddomain.com", Addresses: []string{"198.51.100.1", "2001:db8::1"}},
		{Priority: 20, Weight: 5, Port: 5062, Target: "backup.hosteddomain.com", Addresses: []string{"198.51.100.2"}},
		{Priority: 30, Weight: 5, Port: 5061, Target: "dead.hosteddomain.com", Addresses: []string{}},
	}
	for i, r := range want {
		g := srv.SRVRecords[i]
		if g.Priority != r.Priority || g.Port != r.Port || g.Target != r.Target || !slices.Equal(g.Addresses, r.Addresses) {
			t.Fatalf("record %d: %+v, want %+v", i, g, r)
		}
	}
	var got []string
	for _, h := range ex.NextHops {
		got = append(got, h.Host+" "+h.Address+" "+h.Transport)
	}
	wantHops := []string{"primary.hosteddomain.com 198.51.100.1 tls", "primary.hosteddomain.com 2001:db8::1 tls", "backup.hosteddomain.com 198.51.100.2 tls"}
	if !slices.Equal(got, wantHops) {
		t.Fatalf("hops %v, want %v", got, wantHops)
	}
	if len(ex.Steps) != 5 || ex.Steps[3].Outcome != api.OutcomeSkipped || ex.Steps[4].Outcome != api.OutcomeSkipped {
		t.Fatalf("later steps %+v", ex.Steps[3:])
	}

	// SRV error: the code, the resolver's text, the cache flag.
	z = newZone()
	z.srvErr["hosteddomain.com"] = &DNSError{Name: "_sipfederationtls._tcp.hosteddomain.com", Type: "SRV", Server: "192.0.2.53:53", Err: ErrNXDOMAIN, Cached: true}
	ex = s.Explain(t.Context(), z, Request{Domain: "hosteddomain.com"})
	srv = ex.Steps[2]
	if srv.Outcome != api.OutcomeError || srv.DNSError != "NXDOMAIN" || !srv.Cached ||
		srv.Detail != "lookup _sipfederationtls._tcp.hosteddomain.com SRV on 192.0.2.53:53: NXDOMAIN (cached)" {
		t.Fatalf("srv step %+v", srv)
	}
}

// A target of "." says the domain offers no service (RFC 2782): no next hop from it.
func TestSRVDotTarget(t *testing.T) {
	z := newZone()
	z.srv["lyncpartner.com"] = []SRVRecord{{Priority: 0, Weight: 0, Port: 0, Target: "."}}
	s := Build(cfgOf([]string{"lyncpartner.com"}), Options{})
	d := decide(t, s, z, "", "lyncpartner.com")
	if d.Status != 404 || d.Reason != "no route to lyncpartner.com: static lyncpartner.com: no match; srv lyncpartner.com: service not offered" {
		t.Fatalf("status %d %q", d.Status, d.Reason)
	}
}

func TestSRVWeightOrder(t *testing.T) {
	z := newZone()
	z.srv["lyncpartner.com"] = []SRVRecord{
		{Priority: 1, Weight: 90, Port: 5061, Target: "heavy", Addrs: addrs("198.51.100.9")},
		{Priority: 1, Weight: 10, Port: 5061, Target: "light", Addrs: addrs("198.51.100.1")},
	}
	cfg := cfgOf([]string{"lyncpartner.com"})
	for _, tc := range []struct {
		draw uint64
		want []string
	}{{10, []string{"light@198.51.100.1:5061", "heavy@198.51.100.9:5061"}}, {11, []string{"heavy@198.51.100.9:5061", "light@198.51.100.1:5061"}}} {
		s := Build(cfg, Options{Random: sequence(tc.draw)})
		if got := hops(decide(t, s, z, "", "lyncpartner.com")); !slices.Equal(got, tc.want) {
			t.Fatalf("draw %d: %v, want %v", tc.draw, got, tc.want)
		}
	}
	// The answer is shared with the resolver's cache: ordering must not touch it.
	if z.srv["lyncpartner.com"][0].Target != "heavy" {
		t.Fatal("the DNS answer was reordered in place")
	}
}
