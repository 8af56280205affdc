package routing

import (
	"slices"
	"testing"

	"github.com/sipfed/terraform-provider-sip/internal/api"
)

// Static route matching, one federated domain of type lync per case; SRV never answers, so a
// request that no static route matches ends in 404.
func TestStaticMatching(t *testing.T) {
	domains := []string{"domaina.com", "x.domaina.com", "y.x.domaina.com", "xdomaina.com", "domainb.org", "DomainC.com"}
	tests := []struct {
		name   string
		routes []api.StaticRoute
		user   string
		domain string
		random []uint64
		want   []string // next hops; nil: 404
		status int
	}{
		{
			name:   "reference pattern matches the domain itself",
			routes: []api.StaticRoute{rt("a", ".com.domaina.*", "192.0.2.1")},
			domain: "domaina.com",
			want:   []string{"a@192.0.2.1:5061/tls"},
		},
		{
			name:   "wildcard matches a subdomain",
			routes: []api.StaticRoute{rt("a", ".com.domaina.*", "192.0.2.1")},
			domain: "y.x.domaina.com",
			want:   []string{"a@192.0.2.1:5061/tls"},
		},
		{
			name:   "wildcard matches whole labels only",
			routes: []api.StaticRoute{rt("a", ".com.domaina.*", "192.0.2.1")},
			domain: "xdomaina.com",
			status: 404,
		},
		{
			name:   "exact pattern does not match a subdomain",
			routes: []api.StaticRoute{rt("a", ".com.domaina", "192.0.2.1")},
			domain: "x.domaina.com",
			status: 404,
		},
		{
			name:   "exact pattern matches its domain",
			routes: []api.StaticRoute{rt("a", ".com.domaina", "192.0.2.1")},
			domain: "domaina.com",
			want:   []string{"a@192.0.2.1:5061/tls"},
		},
		{
			name:   "catch-all matches any domain",
			routes: []api.StaticRoute{rt("a", ".*", "192.0.2.9")},
			domain: "domainb.org",
			want:   []string{"a@192.0.2.9:5061/tls"},
		},
		{
			name: "more labels win",
			routes: []api.StaticRoute{
				rt("all", ".*", "192.0.2.9", noLessSpecific),
				rt("com", ".com.*", "192.0.2.8", noLessSpecific),
				rt("a", ".com.domaina.*", "192.0.2.1", noLessSpecific),
				rt("x", ".com.domaina.x.*", "192.0.2.2", noLessSpecific),
			},
			domain: "y.x.domaina.com",
			want:   []string{"x@192.0.2.2:5061/tls"},
		},
		{
			name: "exact wins over wildcard of the same labels",
			routes: []api.StaticRoute{
				rt("wild", ".com.domaina.x.*", "192.0.2.2", noLessSpecific),
				rt("exact", ".com.domaina.x", "192.0.2.3", noLessSpecific),
			},
			domain: "x.domaina.com",
			want:   []string{"exact@192.0.2.3:5061/tls"},
		},
		{
			name: "less specific pattern answers for a sibling",
			routes: []api.StaticRoute{
				rt("x", ".com.domaina.x.*", "192.0.2.2", noLessSpecific),
				rt("a", ".com.domaina.*", "192.0.2.1", noLessSpecific),
			},
			domain: "domaina.com",
			want:   []string{"a@192.0.2.1:5061/tls"},
		},
		{
			name:   "request domain is case-insensitive, trailing dot ignored",
			routes: []api.StaticRoute{rt("c", ".com.domainc.*", "192.0.2.4")},
			domain: "DOMAINC.com.",
			want:   []string{"c@192.0.2.4:5061/tls"},
		},
		{
			name:   "pattern is case-insensitive",
			routes: []api.StaticRoute{rt("c", ".COM.DomainC.*", "192.0.2.4")},
			domain: "domainc.com",
			want:   []string{"c@192.0.2.4:5061/tls"},
		},
		{
			name: "out of service routes do not match",
			routes: []api.StaticRoute{
				rt("x", ".com.domaina.x.*", "192.0.2.2", outOfService),
				rt("a", ".com.domaina.*", "192.0.2.1", noLessSpecific),
			},
			domain: "x.domaina.com",
			want:   []string{"a@192.0.2.1:5061/tls"},
		},
		{
			name: "out of service route is left out of its pattern",
			routes: []api.StaticRoute{
				rt("a1", ".com.domaina.*", "192.0.2.1", noLessSpecific),
				rt("a2", ".com.domaina.*", "192.0.2.2", outOfService),
			},
			domain: "domaina.com",
			want:   []string{"a1@192.0.2.1:5061/tls"},
		},
		{
			name: "lowest priority first",
			routes: []api.StaticRoute{
				rt("p3", ".com.domaina.*", "192.0.2.3", prio(3)),
				rt("p1", ".com.domaina.*", "192.0.2.1", prio(1)),
				rt("p2", ".com.domaina.*", "192.0.2.2", prio(2)),
			},
			domain: "domaina.com",
			want:   []string{"p1@192.0.2.1:5061/tls", "p2@192.0.2.2:5061/tls", "p3@192.0.2.3:5061/tls"},
		},
		{
			// Sorted weights 10, 30: draw 0 picks the first (running sum 10 >= 0).
			name: "weight draw low picks the lighter",
			routes: []api.StaticRoute{
				rt("w30", ".com.domaina.*", "192.0.2.2", weight(30)),
				rt("w10", ".com.domaina.*", "192.0.2.1", weight(10)),
			},
			domain: "domaina.com",
			random: []uint64{10},
			want:   []string{"w10@192.0.2.1:5061/tls", "w30@192.0.2.2:5061/tls"},
		},
		{
			// Draw 11 of [0, 40]: running sums 10, 40: the second.
			name: "weight draw high picks the heavier",
			routes: []api.StaticRoute{
				rt("w30", ".com.domaina.*", "192.0.2.2", weight(30)),
				rt("w10", ".com.domaina.*", "192.0.2.1", weight(10)),
			},
			domain: "domaina.com",
			random: []uint64{11},
			want:   []string{"w30@192.0.2.2:5061/tls", "w10@192.0.2.1:5061/tls"},
		},
		{
			// Weight is random within a priority only: draws never move p2 before p1.
			name: "weight does not cross priorities",
			routes: []api.StaticRoute{
				rt("p2", ".com.domaina.*", "192.0.2.2", prio(2), weight(1000)),
				rt("p1", ".com.domaina.*", "192.0.2.1", prio(1), weight(1)),
			},
			domain: "domaina.com",
			random: []uint64{999, 999},
			want:   []string{"p1@192.0.2.1:5061/tls", "p2@192.0.2.2:5061/tls"},
		},
		{
			name:   "port and protocol of the route",
			routes: []api.StaticRoute{rt("a", ".com.domaina.*", "2001:db8::1", port(5062), proto(api.ProtocolTCP))},
			domain: "domaina.com",
			want:   []string{"a@[2001:db8::1]:5062/tcp"},
		},
		{
			name:   "block route answers 403",
			routes: []api.StaticRoute{rt("b", ".com.domaina.*", "192.0.2.1", block), rt("a", ".com.domaina.*", "192.0.2.2")},
			domain: "domaina.com",
			status: 403,
		},
		{
			name:   "block route out of service is ignored",
			routes: []api.StaticRoute{rt("b", ".com.domaina.*", "192.0.2.1", block, outOfService), rt("a", ".com.domaina.*", "192.0.2.2")},
			domain: "domaina.com",
			want:   []string{"a@192.0.2.2:5061/tls"},
		},
		{
			name:   "block on a less specific pattern does not hide a more specific route",
			routes: []api.StaticRoute{rt("b", ".*", "192.0.2.1", block), rt("a", ".com.domaina.*", "192.0.2.2", noLessSpecific)},
			domain: "domaina.com",
			want:   []string{"a@192.0.2.2:5061/tls"},
		},
		{
			name:   "block on the winning less specific pattern answers 403",
			routes: []api.StaticRoute{rt("b", ".*", "192.0.2.1", block), rt("a", ".com.domaina.*", "192.0.2.2")},
			domain: "domainb.org",
			status: 403,
		},
		{
			name: "allow_less_specific appends the less specific pattern's routes",
			routes: []api.StaticRoute{
				rt("x", ".com.domaina.x.*", "192.0.2.2"),
				rt("a", ".com.domaina.*", "192.0.2.1"),
				rt("all", ".*", "192.0.2.9", noLessSpecific),
				rt("never", ".com.*", "192.0.2.7", outOfService),
			},
			domain: "x.domaina.com",
			want:   []string{"x@192.0.2.2:5061/tls", "a@192.0.2.1:5061/tls", "all@192.0.2.9:5061/tls"},
		},
		{
			name: "one route without allow_less_specific pins its pattern",
			routes: []api.StaticRoute{
				rt("x1", ".com.domaina.x.*", "192.0.2.2"),
				rt("x2", ".com.domaina.x.*", "192.0.2.3", prio(2), noLessSpecific),
				rt("a", ".com.domaina.*", "192.0.2.1"),
			},
			domain: "x.domaina.com",
			want:   []string{"x1@192.0.2.2:5061/tls", "x2@192.0.2.3:5061/tls"},
		},
		{
			name: "a block met after allow_less_specific ends the list",
			routes: []api.StaticRoute{
				rt("a", ".com.domaina.*", "192.0.2.1"),
				rt("b", ".com.*", "192.0.2.8", block),
				rt("all", ".*", "192.0.2.9"),
			},
			domain: "domaina.com",
			want:   []string{"a@192.0.2.1:5061/tls"},
		},
		{
			name: "user route before domain routes",
			routes: []api.StaticRoute{
				rt("u", "alice", "192.0.2.5", user, noLessSpecific),
				rt("a", ".com.domaina.*", "192.0.2.1"),
			},
			user: "alice", domain: "domaina.com",
			want: []string{"u@192.0.2.5:5061/tls"},
		},
		{
			name: "user route exact match only",
			routes: []api.StaticRoute{
				rt("u", "alice", "192.0.2.5", user, noLessSpecific),
				rt("a", ".com.domaina.*", "192.0.2.1"),
			},
			user: "alicia", domain: "domaina.com",
			want: []string{"a@192.0.2.1:5061/tls"},
		},
		{
			name: "user routes: exact, then longest prefix, then shorter",
			routes: []api.StaticRoute{
				rt("any", "*", "192.0.2.9", user),
				rt("al", "al*", "192.0.2.6", user),
				rt("ali", "ali*", "192.0.2.7", user),
				rt("alice", "alice", "192.0.2.5", user),
				rt("bo", "bo*", "192.0.2.4", user),
				rt("a", ".com.domaina.*", "192.0.2.1", noLessSpecific),
			},
			user: "alice", domain: "domaina.com",
			want: []string{"alice@192.0.2.5:5061/tls", "ali@192.0.2.7:5061/tls", "al@192.0.2.6:5061/tls", "any@192.0.2.9:5061/tls", "a@192.0.2.1:5061/tls"},
		},
		{
			name:   "user routes are case-sensitive (RFC 3261 user part)",
			routes: []api.StaticRoute{rt("u", "Alice", "192.0.2.5", user)},
			user:   "alice", domain: "domaina.com",
			status: 404,
		},
		{
			name:   "user prefix matches the user it spells out",
			routes: []api.StaticRoute{rt("u", "alice*", "192.0.2.5", user)},
			user:   "alice", domain: "domaina.com",
			want: []string{"u@192.0.2.5:5061/tls"},
		},
		{
			name:   "user prefix longer than the user does not match",
			routes: []api.StaticRoute{rt("u", "alice.long*", "192.0.2.5", user)},
			user:   "alice", domain: "domaina.com",
			status: 404,
		},
		{
			name:   "user routes need a user",
			routes: []api.StaticRoute{rt("u", "*", "192.0.2.5", user)},
			domain: "domaina.com",
			status: 404,
		},
		{
			name:   "user route block answers 403",
			routes: []api.StaticRoute{rt("u", "mallory", "192.0.2.5", user, block), rt("a", ".com.domaina.*", "192.0.2.1")},
			user:   "mallory", domain: "domaina.com",
			status: 403,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := Build(cfgOf(domains, tc.routes...), Options{Random: sequence(tc.random...)})
			d := decide(t, s, newZone(), tc.user, tc.domain)
			if d.Status != tc.status {
				t.Fatalf("status %d (%s), want %d; hops %v", d.Status, d.Reason, tc.status, hops(d))
			}
			if got := hops(d); tc.status == 0 && !slices.Equal(got, tc.want) {
				t.Fatalf("next hops\n got %v\nwant %v", got, tc.want)
			}
			if tc.status != 0 && len(d.NextHops) != 0 {
				t.Fatalf("status %d with next hops %v", d.Status, hops(d))
			}
		})
	}
}

func TestStaticRouteNameResolves(t *testing.T) {
	cfg := cfgOf([]string{"domaina.com"},
		rt("gone", ".com.domaina.*", "gone.domaina.com", prio(1)),
		rt("edge", ".com.domaina.*", "Edge.DomainA.com.", prio(2), port(5062)),
	)
	z := newZone()
	z.addrs["edge.domaina.com"] = addrs("192.0.2.10", "2001:db8::10")
	s := Build(cfg, Options{})
	d := decide(t, s, z, "", "domaina.com")
	want := []string{"edge@192.0.2.10:5062/tls", "edge@[2001:db8::10]:5062/tls"}
	if got := hops(d); d.Status != 0 || !slices.Equal(got, want) {
		t.Fatalf("status %d, hops %v, want %v", d.Status, got, want)
	}
	if d.NextHops[0].Host != "edge.domaina.com" {
		t.Fatalf("Host %q, want the route's next_hop name", d.NextHops[0].Host)
	}
	if calls := z.Calls(); !slices.Equal(calls, []string{"addrs gone.domaina.com", "addrs edge.domaina.com"}) {
		t.Fatalf("DNS calls %v", calls)
	}
}

func TestStaticRouteIPLiteralNeedsNoDNS(t *testing.T) {
	s := Build(cfgOf([]string{"domaina.com"}, rt("a", ".com.domaina.*", "192.0.2.1")), Options{})
	d := decide(t, s, nil, "", "domaina.com")
	if d.Status != 0 || len(d.NextHops) != 1 || d.NextHops[0].Host != "192.0.2.1" {
		t.Fatalf("status %d hops %+v", d.Status, d.NextHops)
	}
}

// A winning pattern whose names do not resolve gives no next hop: the chain goes on to SRV.
func TestStaticRouteUnresolvableMovesOn(t *testing.T) {
	cfg := cfgOf([]string{"domaina.com"}, rt("a", ".com.domaina.*", "nowhere.domaina.com", noLessSpecific))
	z := newZone()
	z.srv["domaina.com"] = []SRVRecord{{Priority: 1, Weight: 1, Port: 5061, Target: "sip.domaina.com", Addrs: addrs("192.0.2.20")}}
	s := Build(cfg, Options{})
	ex := s.Explain(t.Context(), z, Request{Domain: "domaina.com"})
	if ex.Status != 0 || len(ex.NextHops) != 1 || ex.NextHops[0].Step != api.StepSRV {
		t.Fatalf("explanation %+v", ex)
	}
	st := ex.Steps[1]
	if st.Step != api.StepStatic || st.Outcome != api.OutcomeError || st.DNSError != "NXDOMAIN" || st.Pattern != ".com.domaina.*" {
		t.Fatalf("static step %+v", st)
	}
}
