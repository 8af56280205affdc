package routing

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/sipfed/terraform-provider-sip/internal/api"
)

// matchesOracle is DESIGN.md's rule for one static route pattern, written plainly: a domain
// pattern is the domain's labels reversed behind a dot (".com.domaina" for domaina.com), and a
// final ".*" also takes every subdomain (".*" alone takes every domain); a user pattern is the
// user, case-sensitive, and a final "*" takes every user it begins.
func matchesOracle(pattern string, user bool, reqUser, domain string) bool {
	if user {
		if reqUser == "" {
			return false
		}
		if prefix, ok := strings.CutSuffix(pattern, "*"); ok {
			return strings.HasPrefix(reqUser, prefix)
		}
		return reqUser == pattern
	}
	labels := strings.Split(domain, ".")
	slices.Reverse(labels)
	reversed := "." + strings.Join(labels, ".")
	p := strings.ToLower(pattern)
	if p == ".*" {
		return true
	}
	if body, ok := strings.CutSuffix(p, ".*"); ok {
		return reversed == body || strings.HasPrefix(reversed, body+".")
	}
	return reversed == p
}

// FuzzDestinationPattern parses and matches destination patterns. For any pattern, route type and
// request: building a snapshot never panics; a pattern the API refuses never routes; a pattern
// it accepts routes exactly the requests the rule above says, the same whether the snapshot was
// built at once or updated with the route, and the explanation agrees with the decision.
func FuzzDestinationPattern(f *testing.F) {
	f.Fuzz(func(t *testing.T, pattern string, userRoute bool, reqUser, reqDomain string) {
		routeType := api.RouteTypeDomain
		if userRoute {
			routeType = api.RouteTypeUser
		}
		r := api.NewStaticRoute()
		r.ID, r.DestinationPattern, r.NextHop, r.RouteType = "r1", pattern, "192.0.2.1", routeType
		valid := api.ValidateDestinationPattern("destination_pattern", routeType, pattern) == nil

		// The request's domain as routing keys it (ASCII lower case, no final dot: DNS names are
		// ASCII, and "İ" is not "i"); it is federated when the API would store that name.
		domain := normalizeName(reqDomain)
		// The API refuses localhost as a federated domain, and routing leaves a stored one out.
		federated := api.ValidateDomain("domain", domain) == nil && !api.IsLocalhost(domain)
		cfg := &Config{Revision: 1, Domains: map[string]api.FederatedDomain{}, Routes: map[string]api.StaticRoute{"r1": r}, ServiceEnabled: true}
		if federated {
			cfg.Domains[domain] = api.FederatedDomain{Domain: domain, Type: api.DomainTypeLync}
		}
		built := Build(cfg, Options{})
		empty := &Config{Revision: 0, Domains: map[string]api.FederatedDomain{}, Routes: map[string]api.StaticRoute{}, ServiceEnabled: true}
		var ch Changes
		ch.Add(api.KindStaticRoute, "r1")
		if federated {
			ch.Add(api.KindFederatedDomain, domain)
		}
		updated := Build(empty, Options{}).Update(cfg, ch)

		req := Request{User: reqUser, Domain: reqDomain}
		for name, s := range map[string]*Snapshot{"built": built, "updated": updated} {
			var d Decision
			s.Decide(context.Background(), nil, req, &d)
			routed := len(d.NextHops) > 0
			switch {
			case !federated:
				if d.Status != 403 || routed {
					t.Fatalf("%s: %q is not federated: status %d, hops %v", name, domain, d.Status, hops(&d))
				}
			case !valid:
				if routed {
					t.Fatalf("%s: the refused pattern %q (%s) routed %q@%q", name, pattern, routeType, reqUser, domain)
				}
			default:
				want := matchesOracle(pattern, userRoute, reqUser, domain)
				if routed != want {
					t.Fatalf("%s: pattern %q (%s), request %q@%q: routed %v, the rule says %v", name, pattern, routeType, reqUser, domain, routed, want)
				}
				if routed && (len(d.NextHops) != 1 || d.NextHops[0].RouteID != "r1" || d.NextHops[0].Addr.String() != "192.0.2.1:5061") {
					t.Fatalf("%s: next hops %v", name, hops(&d))
				}
			}
			if !routed && federated && d.Status != 404 {
				// No resolver: the SRV step cannot answer, which is no news of the partner.
				t.Fatalf("%s: not routed, status %d %q; want 404", name, d.Status, d.Reason)
			}
			ex := s.Explain(context.Background(), nil, req)
			if ex.Status != d.Status || len(ex.NextHops) != len(d.NextHops) {
				t.Fatalf("%s: explanation %d with %d hops, decision %d with %d", name, ex.Status, len(ex.NextHops), d.Status, len(d.NextHops))
			}
		}
	})
}
