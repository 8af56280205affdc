package provider

import (
	"context"
	"fmt"
	"testing"

	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/knownvalue"
	"github.com/hashicorp/terraform-plugin-testing/plancheck"
	"github.com/hashicorp/terraform-plugin-testing/statecheck"
	"github.com/hashicorp/terraform-plugin-testing/tfjsonpath"
	"github.com/hashicorp/terraform-plugin-testing/tfversion"

	"github.com/sipfed/terraform-provider-sip/internal/api"
	"github.com/sipfed/terraform-provider-sip/proxy/server/servertest"
)

// handMadeRoutes creates routes on the proxy as an operator with curl would, and returns their ids
// in the data source's order (pattern, priority, id).
func handMadeRoutes(t *testing.T, p *servertest.Proxy) (partner1, partner2, other, user string) {
	t.Helper()
	create := func(pattern, routeType, hop string, prio int) string {
		r := api.NewStaticRoute()
		r.DestinationPattern, r.RouteType, r.NextHop, r.Priority = pattern, routeType, hop, prio
		out, _, err := p.Client.CreateStaticRoute(context.Background(), r)
		if err != nil {
			t.Fatal(err)
		}
		return out.ID
	}
	partner2 = create(".com.partner.*", api.RouteTypeDomain, "192.0.2.1", 2)
	partner1 = create(".com.partner.*", api.RouteTypeDomain, "192.0.2.2", 1)
	other = create(".org.other", api.RouteTypeDomain, "192.0.2.1", 1)
	user = create("alice*", api.RouteTypeUser, "192.0.2.3", 1)
	return
}

func TestAccStaticRoutesDataSource(t *testing.T) {
	p := servertest.Start(t)
	partner1, partner2, other, user := handMadeRoutes(t, p)
	ids := func(want ...string) knownvalue.Check {
		checks := make([]knownvalue.Check, len(want))
		for i, id := range want {
			checks[i] = knownvalue.StringExact(id)
		}
		return knownvalue.ListExact(checks)
	}
	resource.ParallelTest(t, resource.TestCase{
		ProtoV6ProviderFactories: protoV6ProviderFactories,
		Steps: []resource.TestStep{{
			Config: providerConfig(p) + `
data "sip_static_routes" "all" {}
data "sip_static_routes" "pattern" { destination_pattern = ".com.partner.*" }
data "sip_static_routes" "hop" { next_hop = "192.0.2.1" }
data "sip_static_routes" "domain" { domain = "sub.partner.com" }
data "sip_static_routes" "both" {
  domain   = "partner.com"
  next_hop = "192.0.2.2"
}
data "sip_static_routes" "none" { domain = "nobody.example" }
`,
			ConfigStateChecks: []statecheck.StateCheck{
				statecheck.ExpectKnownValue("data.sip_static_routes.all", tfjsonpath.New("ids"), ids(partner1, partner2, other, user)),
				statecheck.ExpectKnownValue("data.sip_static_routes.pattern", tfjsonpath.New("ids"), ids(partner1, partner2)),
				statecheck.ExpectKnownValue("data.sip_static_routes.hop", tfjsonpath.New("ids"), ids(partner2, other)),
				statecheck.ExpectKnownValue("data.sip_static_routes.domain", tfjsonpath.New("ids"), ids(partner1, partner2)),
				statecheck.ExpectKnownValue("data.sip_static_routes.both", tfjsonpath.New("ids"), ids(partner1)),
				statecheck.ExpectKnownValue("data.sip_static_routes.none", tfjsonpath.New("ids"), ids()),
				statecheck.ExpectKnownValue("data.sip_static_routes.both", tfjsonpath.New("routes"), knownvalue.ListExact([]knownvalue.Check{
					knownvalue.ObjectExact(map[string]knownvalue.Check{
						"id": knownvalue.StringExact(partner1), "destination_pattern": knownvalue.StringExact(".com.partner.*"),
						"next_hop": knownvalue.StringExact("192.0.2.2"), "next_hop_port": knownvalue.Int64Exact(5061),
						"protocol": knownvalue.StringExact("tls"), "route_type": knownvalue.StringExact("domain"),
						"priority": knownvalue.Int64Exact(1), "weight": knownvalue.Int64Exact(10),
						"allow_less_specific": knownvalue.Bool(true), "in_service": knownvalue.Bool(true),
						"block": knownvalue.Bool(false), "description": knownvalue.StringExact(""),
					}),
				})),
			},
		}},
	})
}

// The docs' import of every route of a partner, by for_each over the data source: the routes made
// by hand come under Terraform with a plan that changes nothing.
func TestAccStaticRoutesDataSource_importForEach(t *testing.T) {
	p := servertest.Start(t)
	partner1, partner2, _, _ := handMadeRoutes(t, p)
	address := func(id string) string { return fmt.Sprintf("sip_static_route.partner[%q]", id) }
	resource.ParallelTest(t, resource.TestCase{
		ProtoV6ProviderFactories: protoV6ProviderFactories,
		TerraformVersionChecks:   []tfversion.TerraformVersionCheck{tfversion.SkipBelow(tfversion.Version1_7_0)}, // import with for_each
		Steps: []resource.TestStep{{
			Config: providerConfig(p) + `
data "sip_static_routes" "partner" {
  domain = "partner.com"
}

locals {
  partner_routes = { for r in data.sip_static_routes.partner.routes : r.id => r }
}

import {
  for_each = local.partner_routes
  to       = sip_static_route.partner[each.key]
  id       = each.key
}

resource "sip_static_route" "partner" {
  for_each            = local.partner_routes
  destination_pattern = each.value.destination_pattern
  next_hop            = each.value.next_hop
  priority            = each.value.priority
}
`,
			ConfigPlanChecks: resource.ConfigPlanChecks{
				PreApply: []plancheck.PlanCheck{
					plancheck.ExpectResourceAction(address(partner1), plancheck.ResourceActionNoop),
					plancheck.ExpectResourceAction(address(partner2), plancheck.ResourceActionNoop),
				},
				PostApplyPostRefresh: []plancheck.PlanCheck{plancheck.ExpectEmptyPlan()},
			},
			ConfigStateChecks: []statecheck.StateCheck{
				statecheck.ExpectKnownValue(address(partner1), tfjsonpath.New("next_hop"), knownvalue.StringExact("192.0.2.2")),
				statecheck.ExpectKnownValue(address(partner2), tfjsonpath.New("priority"), knownvalue.Int64Exact(2)),
			},
		}, forEachStateEnd(p)},
	})
}

// forEachStateEnd ends a test whose resources use for_each with string keys, which the testing
// framework's legacy state view cannot hold: a last step that destroys them.
func forEachStateEnd(p *servertest.Proxy) resource.TestStep {
	return resource.TestStep{Config: providerConfig(p)}
}

func TestAccTLSPeerSubjectsDataSource(t *testing.T) {
	p := servertest.Start(t)
	for _, s := range []string{"sip.partner.example", "partner.example", "edge.eu.partner.example", "notpartner.example", "sip.other.example"} {
		if _, _, err := p.Client.CreateTLSPeerSubject(context.Background(), api.TLSPeerSubject{Subject: s, Description: "edge " + s}); err != nil {
			t.Fatal(err)
		}
	}
	names := func(want ...string) knownvalue.Check {
		checks := make([]knownvalue.Check, len(want))
		for i, n := range want {
			checks[i] = knownvalue.StringExact(n)
		}
		return knownvalue.ListExact(checks)
	}
	resource.ParallelTest(t, resource.TestCase{
		ProtoV6ProviderFactories: protoV6ProviderFactories,
		Steps: []resource.TestStep{
			{
				Config:      unreachableProviderConfig + `data "sip_tls_peer_subjects" "bad" { domain = "Partner.example" }`,
				ExpectError: errorRe(`domain: "Partner.example" is not in the form sipfed stores: write "partner.example"`),
			},
			{
				Config:      unreachableProviderConfig + `data "sip_static_routes" "bad" { destination_pattern = ".com.*.partner" }`,
				ExpectError: errorRe(`destination_pattern: ".com.*.partner": a wildcard is allowed only as the final ".*"`),
			},
			{
				Config: providerConfig(p) + `
data "sip_tls_peer_subjects" "all" {}
data "sip_tls_peer_subjects" "partner" { domain = "partner.example" }
`,
				ConfigStateChecks: []statecheck.StateCheck{
					statecheck.ExpectKnownValue("data.sip_tls_peer_subjects.all", tfjsonpath.New("names"),
						names("edge.eu.partner.example", "notpartner.example", "partner.example", "sip.other.example", "sip.partner.example")),
					statecheck.ExpectKnownValue("data.sip_tls_peer_subjects.partner", tfjsonpath.New("names"),
						names("edge.eu.partner.example", "partner.example", "sip.partner.example")),
					statecheck.ExpectKnownValue("data.sip_tls_peer_subjects.partner", tfjsonpath.New("subjects").AtSliceIndex(1),
						knownvalue.ObjectExact(map[string]knownvalue.Check{
							"subject": knownvalue.StringExact("partner.example"), "description": knownvalue.StringExact("edge partner.example"),
						})),
				},
			},
		},
	})
}
