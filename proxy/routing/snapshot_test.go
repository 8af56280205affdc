package routing

import (
	"reflect"
	"testing"

	"github.com/sipfed/terraform-provider-sip/internal/api"
)

func TestSnapshotAccessors(t *testing.T) {
	cfg := &Config{
		Revision: 42,
		Domains: map[string]api.FederatedDomain{
			"direct.com":  {Domain: "direct.com", Type: api.DomainTypeLync, DirectFederation: true, Description: "via ASA"},
			"partner.com": {Domain: "partner.com", Type: api.DomainTypeAOL},
		},
		PeerSubjects:   map[string]api.TLSPeerSubject{"edge.partner.com": {Subject: "edge.partner.com"}},
		ServiceEnabled: true,
	}
	opts := Options{LocalDomains: []string{"Example.com"}, NodeFQDN: "imp1.example.com"}
	s := Build(cfg, opts)

	if s.Revision() != 42 || !s.ServiceEnabled() {
		t.Fatalf("revision %d enabled %v", s.Revision(), s.ServiceEnabled())
	}
	if !s.IsLocal("example.COM") || s.IsLocal("partner.com") {
		t.Fatal("IsLocal")
	}
	for id, want := range map[string]bool{"edge.partner.com": true, "EDGE.Partner.com": true, "x.edge.partner.com": false, "partner.com": false, "edge.partner.co": false} {
		if got := s.IsPeerSubject(id); got != want {
			t.Errorf("IsPeerSubject(%q) = %v", id, got)
		}
	}
	if s.RoutingFQDN() != "imp1.example.com" || s.NodeFQDN() != "imp1.example.com" {
		t.Fatalf("routing FQDN %q", s.RoutingFQDN())
	}
	d, ok := s.Domain("Direct.com")
	if !ok || !reflect.DeepEqual(d, api.FederatedDomain{Domain: "direct.com", Type: api.DomainTypeLync, DirectFederation: true, Description: "via ASA"}) {
		t.Fatalf("Domain %+v %v", d, ok)
	}
	if d, _ := s.Domain("partner.com"); d.Type != api.DomainTypeAOL {
		t.Fatalf("type %q", d.Type)
	}
	if _, ok := s.Domain("example.com"); ok {
		t.Fatal("a local domain is not a federated domain")
	}

	cfg.RoutingFQDN = "sip-public.example.com"
	s = Build(cfg, opts)
	if s.RoutingFQDN() != "sip-public.example.com" {
		t.Fatalf("routing FQDN %q", s.RoutingFQDN())
	}
	if s.RecordRouteHost("partner.com") != "sip-public.example.com" || s.RecordRouteHost("direct.com") != "imp1.example.com" {
		t.Fatalf("Record-Route hosts %q %q", s.RecordRouteHost("partner.com"), s.RecordRouteHost("direct.com"))
	}
	if dom, routes, peers := s.Counts(); dom != 2 || routes != 0 || peers != 1 {
		t.Fatalf("counts %d %d %d", dom, routes, peers)
	}
}

// Build copies: changing the Config afterwards leaves the snapshot as it was.
func TestBuildCopies(t *testing.T) {
	cfg := cfgOf([]string{"domaina.com"}, rt("a", ".com.domaina.*", "192.0.2.1"))
	s := Build(cfg, Options{})
	delete(cfg.Domains, "domaina.com")
	cfg.Routes["a"] = rt("a", ".com.domaina.*", "192.0.2.2")
	if got := hops(decide(t, s, nil, "", "domaina.com")); len(got) != 1 || got[0] != "a@192.0.2.1:5061/tls" {
		t.Fatalf("hops %v", got)
	}
}

// A store written before the API refused them may hold a local domain or localhost as a
// federated domain: the snapshot leaves them out, so no partner can send as a local user.
func TestLocalDomainsStoredAsFederatedAreIgnored(t *testing.T) {
	cfg := &Config{Revision: 1, ServiceEnabled: true, Domains: map[string]api.FederatedDomain{
		"example.com": {Domain: "example.com", Type: api.DomainTypeLync},
		"localhost":   {Domain: "localhost", Type: api.DomainTypeLync},
		"partner.com": {Domain: "partner.com", Type: api.DomainTypeLync, PeerSubjects: []string{"B.partner.com", "a.partner.com"}},
		"x.localhost": {Domain: "x.localhost", Type: api.DomainTypeLync},
	}}
	s := Build(cfg, Options{NodeFQDN: "imp1.example.com", LocalDomains: []string{"Example.com"}})
	for _, d := range []string{"example.com", "localhost", "x.localhost"} {
		if _, ok := s.Domain(d); ok {
			t.Errorf("%s is federated in the snapshot", d)
		}
		if s.Ignored()[d] == "" {
			t.Errorf("%s is not listed as ignored: %v", d, s.Ignored())
		}
	}
	if ps, ok := s.DomainPeerSubjects("partner.com"); !ok || !reflect.DeepEqual(ps, []string{"a.partner.com", "b.partner.com"}) {
		t.Errorf("peer subjects of partner.com = %q, %v", ps, ok)
	}
	// Deleting the stored local domain clears the note.
	delete(cfg.Domains, "example.com")
	cfg.Revision = 2
	var ch Changes
	ch.Add(api.KindFederatedDomain, "example.com")
	s = s.Update(cfg, ch)
	if _, ok := s.Ignored()["example.com"]; ok || len(s.Ignored()) != 2 {
		t.Errorf("ignored after the delete = %v", s.Ignored())
	}
}
