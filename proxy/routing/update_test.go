package routing

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/sipfed/terraform-provider-sip/internal/api"
)

// dump renders everything a snapshot holds, in a stable order, to compare snapshots.
func dump(s *Snapshot) string {
	var lines []string
	add := func(format string, a ...any) { lines = append(lines, fmt.Sprintf(format, a...)) }
	pat := func(p *pattern) string {
		if p == nil {
			return "-"
		}
		var ids []string
		for _, r := range p.routes {
			ids = append(ids, r.id)
		}
		return fmt.Sprintf("%s blocked=%v less=%v %v", p.text(), p.blocked, p.lessSpecific, ids)
	}
	for i := range shardCount {
		for k, v := range s.domains.shards[i] {
			add("domain %s %+v", k, v)
		}
		for k, v := range s.patterns.shards[i] {
			add("pattern %q exact=%s wild=%s", k, pat(v.exact), pat(v.wild))
		}
		for k, v := range s.userExact.shards[i] {
			add("user %q %s", k, pat(v))
		}
		for k, v := range s.userPrefix.shards[i] {
			add("prefix %q %s", k, pat(v))
		}
		for k, v := range s.routes.shards[i] {
			add("route %s %+v", k, *v)
		}
		for k := range s.peers.shards[i] {
			add("peer %s", k)
		}
	}
	slices.Sort(lines)
	add("prefix lengths %v", s.userPrefixLens)
	add("revision %d fqdn %s enabled %v", s.revision, s.routingFQDN, s.serviceEnabled)
	return strings.Join(lines, "\n")
}

// Update after any batch of changes gives the snapshot Build gives for the resulting
// configuration, and leaves the snapshot it started from unchanged.
func TestUpdateEqualsBuild(t *testing.T) {
	rng := rand.New(rand.NewPCG(4, 2))
	domains := []string{"a.com", "b.a.com", "c.org", "aol.com", "x.c.org"}
	patterns := []string{".com.a.*", ".com.a", ".com.a.b.*", ".*", ".com.*", ".org.c.*", ".org.c.x"}
	users := []string{"alice", "ali*", "*", "bob", "a*"}
	randomRoute := func(id string) api.StaticRoute {
		r := api.NewStaticRoute()
		r.ID = id
		if rng.IntN(4) == 0 {
			r.RouteType, r.DestinationPattern = api.RouteTypeUser, users[rng.IntN(len(users))]
		} else {
			r.DestinationPattern = patterns[rng.IntN(len(patterns))]
		}
		r.NextHop = fmt.Sprintf("192.0.2.%d", rng.IntN(250)+1)
		r.Priority, r.Weight = rng.IntN(3)+1, rng.IntN(3)*10
		r.InService, r.Block, r.AllowLessSpecific = rng.IntN(5) != 0, rng.IntN(8) == 0, rng.IntN(3) != 0
		return r
	}
	opts := Options{Random: func() uint64 { return 0 }, NodeFQDN: "node.example.com"}
	cfg := &Config{Domains: map[string]api.FederatedDomain{}, Routes: map[string]api.StaticRoute{}, PeerSubjects: map[string]api.TLSPeerSubject{}}
	cur := Build(cfg, opts)
	for round := range 300 {
		before := dump(cur)
		var ch Changes
		for range rng.IntN(6) + 1 {
			switch rng.IntN(3) {
			case 0:
				id := fmt.Sprintf("r%d", rng.IntN(12))
				if rng.IntN(3) == 0 {
					delete(cfg.Routes, id)
				} else {
					cfg.Routes[id] = randomRoute(id)
				}
				ch.Routes = append(ch.Routes, id)
			case 1:
				d := domains[rng.IntN(len(domains))]
				if rng.IntN(3) == 0 {
					delete(cfg.Domains, d)
				} else {
					cfg.Domains[d] = api.FederatedDomain{Domain: d, Type: []string{api.DomainTypeLync, api.DomainTypeAOL}[rng.IntN(2)]}
				}
				ch.Domains = append(ch.Domains, d)
			default:
				p := fmt.Sprintf("edge%d.example.net", rng.IntN(3))
				if rng.IntN(2) == 0 {
					delete(cfg.PeerSubjects, p)
				} else {
					cfg.PeerSubjects[p] = api.TLSPeerSubject{Subject: p}
				}
				ch.PeerSubjects = append(ch.PeerSubjects, p)
			}
		}
		cfg.Revision++
		cfg.RoutingFQDN = []string{"", "public.example.com"}[rng.IntN(2)]
		next := cur.Update(cfg, ch)
		if got, want := dump(next), dump(Build(cfg, opts)); got != want {
			t.Fatalf("round %d: Update differs from Build\nupdate:\n%s\n\nbuild:\n%s", round, got, want)
		}
		if dump(cur) != before {
			t.Fatalf("round %d: Update changed the snapshot it started from", round)
		}
		built := Build(cfg, opts)
		for _, d := range domains {
			for _, u := range []string{"", "alice", "alfred", "bob"} {
				a, b := decide(t, next, nil, u, d), decide(t, built, nil, u, d)
				if a.Status != b.Status || !slices.Equal(hops(a), hops(b)) {
					t.Fatalf("round %d, %s@%s: updated %d %v, built %d %v", round, u, d, a.Status, hops(a), b.Status, hops(b))
				}
			}
		}
		cur = next
	}
	if n, _, _ := cur.Counts(); n == 0 {
		t.Fatal("the random walk left no domain: it tested nothing")
	}
}

// The example of Update's documentation, and that a published snapshot stays as it was.
func TestUpdateOneRoute(t *testing.T) {
	cfg := cfgOf([]string{"domaina.com"}, rt("a", ".com.domaina.*", "192.0.2.1"))
	s1 := Build(cfg, Options{})
	cfg.Routes["a"] = rt("a", ".com.domaina.*", "192.0.2.2")
	cfg.Routes["b"] = rt("b", ".com.domaina.*", "192.0.2.3", prio(2))
	s2 := s1.Update(cfg, Changes{Routes: []string{"a", "b"}})
	delete(cfg.Domains, "domaina.com")
	s3 := s2.Update(cfg, Changes{Domains: []string{"domaina.com"}})

	if got := hops(decide(t, s1, nil, "", "domaina.com")); !slices.Equal(got, []string{"a@192.0.2.1:5061/tls"}) {
		t.Fatalf("s1 %v", got)
	}
	if got := hops(decide(t, s2, nil, "", "domaina.com")); !slices.Equal(got, []string{"a@192.0.2.2:5061/tls", "b@192.0.2.3:5061/tls"}) {
		t.Fatalf("s2 %v", got)
	}
	if d := decide(t, s3, nil, "", "domaina.com"); d.Status != 403 {
		t.Fatalf("s3 status %d", d.Status)
	}
}

func TestChangesAdd(t *testing.T) {
	var ch Changes
	ch.Add(api.KindFederatedDomain, "a.com")
	ch.Add(api.KindStaticRoute, "r1")
	ch.Add(api.KindTLSPeerSubject, "edge.a.com")
	ch.Add(api.KindFederationRoutingFQDN, "")
	ch.Add(api.KindFederationService, "")
	if !slices.Equal(ch.Domains, []string{"a.com"}) || !slices.Equal(ch.Routes, []string{"r1"}) || !slices.Equal(ch.PeerSubjects, []string{"edge.a.com"}) {
		t.Fatalf("%+v", ch)
	}
}
