package provider

import (
	"context"
	"strings"
	"sync"

	"github.com/hashicorp/terraform-plugin-log/tflog"

	"github.com/sipfed/terraform-provider-sip/internal/api"
)

// proxyView is what plan-time warnings compare a plan with: the proxy's routes and federated
// domains, read once per provider instance (one Terraform run), plus the domains this run plans.
// Reading once keeps a plan of thousands of routes to three API calls; a change made by this run
// cannot make a warning wrong, because a route is planned before it is created and the domains
// this run creates are added as they are planned.
type proxyView struct {
	client *api.Client

	once sync.Once
	err  error
	// Read from the proxy.
	routes        []api.StaticRoute
	defaultDomain string

	mu sync.Mutex
	// domains: federated domain -> type, on the proxy or planned by this run.
	domains map[string]string
}

func newProxyView(c *api.Client) *proxyView {
	return &proxyView{client: c, domains: map[string]string{}}
}

// load reads the proxy once. A failure leaves the view empty and the warnings off: they are
// advice, and the plan's reads report an unreachable proxy anyway.
func (v *proxyView) load(ctx context.Context) error {
	v.once.Do(func() {
		routes, err := v.client.ListStaticRoutes(ctx)
		if err != nil {
			v.err = err
			return
		}
		domains, err := v.client.ListFederatedDomains(ctx)
		if err != nil {
			v.err = err
			return
		}
		node, err := v.client.GetNode(ctx)
		if err != nil {
			v.err = err
			return
		}
		v.mu.Lock()
		defer v.mu.Unlock()
		v.routes, v.defaultDomain = routes.Items, node.DefaultFederationRoutingDomain
		for _, d := range domains.Items {
			v.domains[d.Domain] = d.Type
		}
	})
	if v.err != nil {
		tflog.Debug(ctx, "plan-time checks against the proxy are off: it could not be read", map[string]any{"error": v.err.Error()})
	}
	return v.err
}

// planDomain records a federated domain this run plans to create or keep.
func (v *proxyView) planDomain(domain, typ string) {
	v.mu.Lock()
	v.domains[domain] = typ
	v.mu.Unlock()
}

// identicalRoute returns a route on the proxy, other than the route with id self, that routes
// exactly as r does (every field but id and description): the same route twice.
func (v *proxyView) identicalRoute(r api.StaticRoute, self string) (api.StaticRoute, bool) {
	key := routingKey(r)
	for _, o := range v.routes {
		if o.ID != self && routingKey(o) == key {
			return o, true
		}
	}
	return api.StaticRoute{}, false
}

// routingKey is a route without what does not change routing.
func routingKey(r api.StaticRoute) api.StaticRoute {
	r.ID, r.Description = "", ""
	return r
}

// routesSomeDomain reports whether a domain route's pattern matches a federated domain, or the
// default federation routing domain that AOL-type domains fall back to. It looks the pattern's
// domain up rather than matching every domain: a plan of thousands of routes asks it each time.
func (v *proxyView) routesSomeDomain(pattern string) bool {
	name, wild, ok := api.SplitDomainPattern(pattern)
	if !ok {
		return true // not a pattern: validation says so, not this warning
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	if _, ok := v.domains[name]; ok || (wild && name == "" && len(v.domains) > 0) {
		return true
	}
	aol := false
	for d, typ := range v.domains {
		if wild && strings.HasSuffix(d, "."+name) {
			return true
		}
		aol = aol || typ == api.DomainTypeAOL
	}
	return aol && v.defaultDomain != "" && api.DomainPatternMatches(pattern, v.defaultDomain)
}
