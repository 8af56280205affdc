package api_test

import (
	"context"
	"errors"
	"testing"

	"github.com/sipfed/terraform-provider-sip/internal/api"
	"github.com/sipfed/terraform-provider-sip/proxy/routing"
)

type noDNS struct{}

func (noDNS) LookupSRV(context.Context, string) (routing.SRVAnswer, error) {
	return routing.SRVAnswer{}, errors.New("no DNS in this test")
}

func (noDNS) LookupAddrs(context.Context, string) (routing.AddrAnswer, error) {
	return routing.AddrAnswer{}, errors.New("no DNS in this test")
}

// DomainPatternMatches answers as the routing engine matches: the provider warns about a route
// that matches no federated domain with it, so it must not disagree with routing.
func TestDomainPatternMatchesAsRoutingDoes(t *testing.T) {
	patterns := []string{".*", ".com.domaina", ".com.domaina.*", ".com.domaina.sub", ".com.domaina.sub.*", ".com", ".com.*", ".org.domaina.*"}
	domains := []string{"domaina.com", "sub.domaina.com", "deep.sub.domaina.com", "xdomaina.com", "domaina.org", "com", "other.net"}
	for _, p := range patterns {
		for _, d := range domains {
			r := api.NewStaticRoute()
			r.ID, r.DestinationPattern, r.NextHop = "r1", p, "192.0.2.1"
			snap := routing.Build(&routing.Config{
				Domains:        map[string]api.FederatedDomain{d: {Domain: d, Type: api.DomainTypeLync}},
				Routes:         map[string]api.StaticRoute{"r1": r},
				ServiceEnabled: true,
			}, routing.Options{NodeFQDN: "imp1.example.com"})
			ex := snap.Explain(context.Background(), noDNS{}, routing.Request{User: "bob", Domain: d})
			routed := false
			for _, s := range ex.Steps {
				if s.Step == api.StepStatic && s.Outcome == api.OutcomeMatched {
					routed = true
				}
			}
			if got := api.DomainPatternMatches(p, d); got != routed {
				t.Errorf("DomainPatternMatches(%q, %q) = %v, routing matched: %v (%+v)", p, d, got, routed, ex.Steps)
			}
		}
	}
	for _, bad := range []string{"", "domaina.com", ".", ".*.com"} {
		if api.DomainPatternMatches(bad, "domaina.com") {
			t.Errorf("invalid pattern %q matches", bad)
		}
	}
}
