package routing

import (
	"context"
	"fmt"
	"runtime"
	"sync"
	"testing"

	"github.com/sipfed/terraform-provider-sip/internal/api"
)

const bigN = 100_000

// bigConfig is the benchmark's configuration: bigN federated domains (every tenth of type aol) and
// bigN static routes, one ".com.domainN.*" per domain, to an IP literal with the API's defaults.
func bigConfig() *Config {
	cfg := &Config{
		Revision: 1,
		Domains:  make(map[string]api.FederatedDomain, bigN),
		Routes:   make(map[string]api.StaticRoute, bigN),
	}
	for i := range bigN {
		name := fmt.Sprintf("domain%d.com", i)
		typ := api.DomainTypeLync
		if i%10 == 0 {
			typ = api.DomainTypeAOL
		}
		cfg.Domains[name] = api.FederatedDomain{Domain: name, Type: typ, Description: "partner " + name}
		r := api.NewStaticRoute()
		r.ID = fmt.Sprintf("%08x-route", i)
		r.DestinationPattern = api.DestinationPattern(name)
		r.NextHop = fmt.Sprintf("10.%d.%d.%d", i>>16&255, i>>8&255, i&255)
		cfg.Routes[r.ID] = r
	}
	return cfg
}

var big = sync.OnceValues(func() (*Config, *Snapshot) {
	cfg := bigConfig()
	return cfg, Build(cfg, Options{NodeFQDN: "imp1.example.com"})
})

// A decision that a static route answers, with bigN domains and routes loaded.
func BenchmarkDecideStatic100k(b *testing.B) {
	_, s := big()
	reqs := make([]Request, 1024)
	for i := range reqs {
		reqs[i] = Request{User: "bob", Domain: fmt.Sprintf("domain%d.com", (i*7919)%bigN)}
	}
	ctx := context.Background()
	z := newZone() // answers nothing: the benchmark must never need it
	var d Decision
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		s.Decide(ctx, z, reqs[i&1023], &d)
		i++
	}
	if d.Status != 0 || len(d.NextHops) != 1 || d.NextHops[0].Step != api.StepStatic {
		b.Fatalf("decision %d %s", d.Status, d.Reason)
	}
	if calls := z.Calls(); len(calls) != 0 {
		b.Fatalf("static decisions asked DNS: %v", calls[:min(len(calls), 5)])
	}
}

// The same on every core: the SIP path takes no lock.
func BenchmarkDecideStatic100kParallel(b *testing.B) {
	_, s := big()
	ctx := context.Background()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		var d Decision
		i := 0
		for pb.Next() {
			s.Decide(ctx, nil, Request{User: "bob", Domain: domainNames[i&1023]}, &d)
			i++
		}
	})
}

var domainNames = func() []string {
	out := make([]string, 1024)
	for i := range out {
		out[i] = fmt.Sprintf("domain%d.com", (i*104729)%bigN)
	}
	return out
}()

// A full build at bigN domains and routes.
func BenchmarkBuild100k(b *testing.B) {
	cfg, _ := big()
	b.ReportAllocs()
	for b.Loop() {
		Build(cfg, Options{NodeFQDN: "imp1.example.com"})
	}
}

// The next snapshot after one change (a route's next hop) at bigN domains and routes.
func BenchmarkUpdate100k(b *testing.B) {
	cfg, s := big()
	id := fmt.Sprintf("%08x-route", 4242)
	r := cfg.Routes[id]
	changes := Changes{Routes: []string{id}}
	local := &Config{Revision: cfg.Revision, Domains: cfg.Domains, Routes: map[string]api.StaticRoute{id: r}}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		r.NextHop = fmt.Sprintf("192.0.2.%d", i%200+1)
		local.Routes[id] = r
		s = s.Update(local, changes)
		i++
	}
}

// The next snapshot after one new federated domain and its route.
func BenchmarkUpdateDomainAndRoute100k(b *testing.B) {
	cfg, s := big()
	local := &Config{Domains: map[string]api.FederatedDomain{}, Routes: map[string]api.StaticRoute{}}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		name := fmt.Sprintf("new%d.example", i)
		r := api.NewStaticRoute()
		r.ID, r.DestinationPattern, r.NextHop = "new"+name, api.DestinationPattern(name), "192.0.2.1"
		clear(local.Domains)
		clear(local.Routes)
		local.Domains[name] = api.FederatedDomain{Domain: name}
		local.Routes[r.ID] = r
		s = s.Update(local, Changes{Domains: []string{name}, Routes: []string{r.ID}})
		i++
	}
	_ = cfg
}

// Memory a snapshot holds per federated domain plus static route, measured around Build: the
// Config's own strings are shared, not copied, and are not counted (reported apart).
func TestMemoryPerEntry(t *testing.T) {
	if testing.Short() {
		t.Skip("builds 100,000 domains and routes")
	}
	var m0, m1, m2 runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&m0)
	cfg := bigConfig()
	runtime.GC()
	runtime.ReadMemStats(&m1)
	s := Build(cfg, Options{})
	runtime.GC()
	runtime.ReadMemStats(&m2)
	perEntry := float64(m2.HeapAlloc-m1.HeapAlloc) / bigN
	t.Logf("snapshot: %.0f B per domain+route (config maps and strings: %.0f B per domain+route)", perEntry, float64(m1.HeapAlloc-m0.HeapAlloc)/bigN)
	if perEntry > 1024 {
		t.Errorf("%.0f B per domain+route, target at most 1024", perEntry)
	}
	if n, r, _ := s.Counts(); n != bigN || r != bigN {
		t.Fatalf("counts %d %d", n, r)
	}
	runtime.KeepAlive(cfg)
}

// Decide does not allocate when a static route with an IP literal answers.
func TestDecideStaticAllocs(t *testing.T) {
	cfg := cfgOf([]string{"domaina.com", "hosted.com:aol"},
		rt("a1", ".com.domaina.*", "192.0.2.1", weight(10)),
		rt("a2", ".com.domaina.*", "192.0.2.2", weight(20)),
		rt("a3", ".com.domaina.*", "2001:db8::3", weight(0)),
		rt("u", "ali*", "192.0.2.5", user),
		rt("h", ".com.*", "192.0.2.6"),
	)
	s := Build(cfg, Options{})
	ctx := context.Background()
	var d Decision
	for _, req := range []Request{{User: "bob", Domain: "domaina.com"}, {User: "alice", Domain: "domaina.com"}, {Domain: "hosted.com"}} {
		allocs := testing.AllocsPerRun(100, func() { s.Decide(ctx, nil, req, &d) })
		if allocs != 0 || d.Status != 0 {
			t.Errorf("%+v: %v allocs per decision (status %d)", req, allocs, d.Status)
		}
	}
}
