package provider

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/knownvalue"
	"github.com/hashicorp/terraform-plugin-testing/plancheck"
	"github.com/hashicorp/terraform-plugin-testing/statecheck"
	"github.com/hashicorp/terraform-plugin-testing/terraform"
	"github.com/hashicorp/terraform-plugin-testing/tfjsonpath"

	"github.com/sipfed/terraform-provider-sip/internal/api"
	"github.com/sipfed/terraform-provider-sip/proxy/server/servertest"
)

const staticRouteAddr = "sip_static_route.test"

func staticRouteConfig(p *servertest.Proxy, body string) string {
	return providerConfig(p) + fmt.Sprintf(`
resource "sip_static_route" "test" {
%s
}
`, body)
}

// routeID remembers the id a step saw, to compare it with a later step's.
type routeID struct{ id string }

func (r *routeID) capture() resource.TestCheckFunc {
	return func(s *terraform.State) error {
		rs, ok := s.RootModule().Resources[staticRouteAddr]
		if !ok || rs.Primary.ID == "" {
			return fmt.Errorf("%s has no id in state", staticRouteAddr)
		}
		r.id = rs.Primary.ID
		return nil
	}
}

func (r *routeID) expectSame() resource.TestCheckFunc {
	return resource.TestCheckResourceAttrWith(staticRouteAddr, "id", func(v string) error {
		if v != r.id {
			return fmt.Errorf("id changed from %q to %q: the route was replaced, want an in-place update", r.id, v)
		}
		return nil
	})
}

func (r *routeID) expectNew() resource.TestCheckFunc {
	return resource.TestCheckResourceAttrWith(staticRouteAddr, "id", func(v string) error {
		if v == r.id {
			return fmt.Errorf("id is still %q, want a new route", v)
		}
		return nil
	})
}

// expectStaticRoute compares the route the proxy stores under the state's id with want (id aside).
func expectStaticRoute(p *servertest.Proxy, want api.StaticRoute) resource.TestCheckFunc {
	return func(s *terraform.State) error {
		rs, ok := s.RootModule().Resources[staticRouteAddr]
		if !ok {
			return fmt.Errorf("%s not in state", staticRouteAddr)
		}
		return apiCheck(func(ctx context.Context) error {
			got, _, err := p.Client.GetStaticRoute(ctx, rs.Primary.ID)
			if err != nil {
				return fmt.Errorf("static route %q on the proxy: %w", rs.Primary.ID, err)
			}
			want.ID = rs.Primary.ID
			if got != want {
				return fmt.Errorf("static route on the proxy:\n got %+v\nwant %+v", got, want)
			}
			return nil
		})(s)
	}
}

func expectNoStaticRoute(p *servertest.Proxy, id *routeID) resource.TestCheckFunc {
	return apiCheck(func(ctx context.Context) error {
		_, _, err := p.Client.GetStaticRoute(ctx, id.id)
		if !errors.Is(err, api.ErrNotFound) {
			return fmt.Errorf("static route %q: want not found on the proxy, got err=%v", id.id, err)
		}
		return nil
	})
}

func checkStaticRoutesDestroyed(p *servertest.Proxy) resource.TestCheckFunc {
	return apiCheck(func(ctx context.Context) error {
		l, err := p.Client.ListStaticRoutes(ctx)
		if err != nil {
			return err
		}
		if len(l.Items) != 0 {
			return fmt.Errorf("static routes left on the proxy: %+v", l.Items)
		}
		return nil
	})
}

// defaultRoute is a route with the API's defaults, as api.NewStaticRoute gives it.
func defaultRoute(pattern, nextHop string) api.StaticRoute {
	r := api.NewStaticRoute()
	r.DestinationPattern, r.NextHop = pattern, nextHop
	return r
}

func TestAccStaticRoute_lifecycle(t *testing.T) {
	p := servertest.Start(t)
	first, second, third := &routeID{}, &routeID{}, &routeID{}
	allFields := `
  destination_pattern = ".com.partner.*"
  next_hop            = "edge.partner.com"
  next_hop_port       = 5062
  protocol            = "tcp"
  route_type          = "domain"
  priority            = 2
  weight              = 20
  allow_less_specific = false
  in_service          = false
  block               = true
  description         = "Partner edge, blocked for maintenance"
`
	allFieldsRoute := api.StaticRoute{
		DestinationPattern: ".com.partner.*", NextHop: "edge.partner.com", NextHopPort: 5062, Protocol: "tcp",
		RouteType: "domain", Priority: 2, Weight: 20, AllowLessSpecific: false, InService: false, Block: true,
		Description: "Partner edge, blocked for maintenance",
	}
	resource.ParallelTest(t, resource.TestCase{
		ProtoV6ProviderFactories: protoV6ProviderFactories,
		CheckDestroy:             checkStaticRoutesDestroyed(p),
		Steps: []resource.TestStep{
			// Create with only the required fields: every default equals the API's.
			{
				Config: staticRouteConfig(p, `
  destination_pattern = ".com.partner.*"
  next_hop            = "192.0.2.10"
`),
				ConfigPlanChecks: resource.ConfigPlanChecks{
					PreApply: []plancheck.PlanCheck{
						plancheck.ExpectResourceAction(staticRouteAddr, plancheck.ResourceActionCreate),
						plancheck.ExpectUnknownValue(staticRouteAddr, tfjsonpath.New("id")),
					},
					PostApplyPostRefresh: []plancheck.PlanCheck{plancheck.ExpectEmptyPlan()},
				},
				ConfigStateChecks: []statecheck.StateCheck{
					statecheck.ExpectKnownValue(staticRouteAddr, tfjsonpath.New("next_hop_port"), knownvalue.Int64Exact(api.DefaultNextHopPort)),
					statecheck.ExpectKnownValue(staticRouteAddr, tfjsonpath.New("protocol"), knownvalue.StringExact(api.DefaultProtocol)),
					statecheck.ExpectKnownValue(staticRouteAddr, tfjsonpath.New("route_type"), knownvalue.StringExact(api.DefaultRouteType)),
					statecheck.ExpectKnownValue(staticRouteAddr, tfjsonpath.New("priority"), knownvalue.Int64Exact(api.DefaultPriority)),
					statecheck.ExpectKnownValue(staticRouteAddr, tfjsonpath.New("weight"), knownvalue.Int64Exact(api.DefaultWeight)),
					statecheck.ExpectKnownValue(staticRouteAddr, tfjsonpath.New("allow_less_specific"), knownvalue.Bool(true)),
					statecheck.ExpectKnownValue(staticRouteAddr, tfjsonpath.New("in_service"), knownvalue.Bool(true)),
					statecheck.ExpectKnownValue(staticRouteAddr, tfjsonpath.New("block"), knownvalue.Bool(false)),
					statecheck.ExpectKnownValue(staticRouteAddr, tfjsonpath.New("description"), knownvalue.StringExact("")),
				},
				Check: resource.ComposeAggregateTestCheckFunc(
					first.capture(),
					expectStaticRoute(p, defaultRoute(".com.partner.*", "192.0.2.10")),
				),
			},
			// Import by the server-assigned id.
			{
				ResourceName:      staticRouteAddr,
				ImportState:       true,
				ImportStateVerify: true,
			},
			// Every field changes in place; the id stays.
			{
				Config: staticRouteConfig(p, allFields),
				ConfigPlanChecks: resource.ConfigPlanChecks{
					PreApply: []plancheck.PlanCheck{
						plancheck.ExpectResourceAction(staticRouteAddr, plancheck.ResourceActionUpdate),
						plancheck.ExpectKnownValue(staticRouteAddr, tfjsonpath.New("id"), knownvalue.NotNull()),
					},
					PostApplyPostRefresh: []plancheck.PlanCheck{plancheck.ExpectEmptyPlan()},
				},
				Check: resource.ComposeAggregateTestCheckFunc(first.expectSame(), expectStaticRoute(p, allFieldsRoute)),
			},
			// Drift: a field changed on the proxy is an in-place update back.
			{
				PreConfig: outOfBand(t, func(ctx context.Context) error {
					r := allFieldsRoute
					r.ID, r.NextHopPort, r.InService = first.id, 6000, true
					_, _, err := p.Client.UpdateStaticRoute(ctx, r, "")
					return err
				}),
				Config: staticRouteConfig(p, allFields),
				ConfigPlanChecks: resource.ConfigPlanChecks{
					PreApply: []plancheck.PlanCheck{
						plancheck.ExpectResourceAction(staticRouteAddr, plancheck.ResourceActionUpdate),
						plancheck.ExpectKnownValue(staticRouteAddr, tfjsonpath.New("next_hop_port"), knownvalue.Int64Exact(5062)),
					},
				},
				Check: resource.ComposeAggregateTestCheckFunc(first.expectSame(), expectStaticRoute(p, allFieldsRoute)),
			},
			// Drift: deleted on the proxy, apply creates a new route (a new id).
			{
				PreConfig: outOfBand(t, func(ctx context.Context) error {
					return p.Client.DeleteStaticRoute(ctx, first.id, "")
				}),
				Config: staticRouteConfig(p, allFields),
				ConfigPlanChecks: resource.ConfigPlanChecks{
					PreApply: []plancheck.PlanCheck{plancheck.ExpectResourceAction(staticRouteAddr, plancheck.ResourceActionCreate)},
				},
				Check: resource.ComposeAggregateTestCheckFunc(first.expectNew(), second.capture(), expectStaticRoute(p, allFieldsRoute)),
			},
			// Replacement: the key is the server's, so a tainted route is deleted and created anew.
			{
				Taint:  []string{staticRouteAddr},
				Config: staticRouteConfig(p, allFields),
				ConfigPlanChecks: resource.ConfigPlanChecks{
					PreApply: []plancheck.PlanCheck{plancheck.ExpectResourceAction(staticRouteAddr, plancheck.ResourceActionDestroyBeforeCreate)},
				},
				Check: resource.ComposeAggregateTestCheckFunc(
					second.expectNew(), third.capture(), expectNoStaticRoute(p, second), expectStaticRoute(p, allFieldsRoute),
				),
			},
			// A user route: its pattern keeps its case, as the API does.
			{
				Config: staticRouteConfig(p, `
  destination_pattern = "Alice*"
  route_type          = "user"
  next_hop            = "2001:db8::10"
  protocol            = "udp"
  next_hop_port       = 5060
`),
				ConfigPlanChecks: resource.ConfigPlanChecks{
					PreApply:             []plancheck.PlanCheck{plancheck.ExpectResourceAction(staticRouteAddr, plancheck.ResourceActionUpdate)},
					PostApplyPostRefresh: []plancheck.PlanCheck{plancheck.ExpectEmptyPlan()},
				},
				Check: func() resource.TestCheckFunc {
					r := defaultRoute("Alice*", "2001:db8::10")
					r.RouteType, r.Protocol, r.NextHopPort = "user", "udp", 5060
					return resource.ComposeAggregateTestCheckFunc(third.expectSame(), expectStaticRoute(p, r))
				}(),
			},
		},
	})
}

func TestAccStaticRoute_importErrors(t *testing.T) {
	p := servertest.Start(t)
	resource.ParallelTest(t, resource.TestCase{
		ProtoV6ProviderFactories: protoV6ProviderFactories,
		Steps: []resource.TestStep{
			{
				Config:        staticRouteConfig(p, "  destination_pattern = \".com.partner.*\"\n  next_hop = \"192.0.2.10\""),
				ResourceName:  staticRouteAddr,
				ImportState:   true,
				ImportStateId: "0123456789ab",
				ExpectError:   errorRe("Cannot import non-existent remote object"),
			},
		},
	})
}

func TestAccStaticRoute_planTimeValidation(t *testing.T) {
	step := func(body, want string) resource.TestStep {
		return resource.TestStep{
			Config:      unreachableProviderConfig + "resource \"sip_static_route\" \"test\" {\n" + body + "\n}\n",
			PlanOnly:    true,
			ExpectError: errorRe(want),
		}
	}
	const hop = "\nnext_hop = \"192.0.2.10\""
	const pat = "destination_pattern = \".com.partner.*\"\n"
	resource.ParallelTest(t, resource.TestCase{
		ProtoV6ProviderFactories: protoV6ProviderFactories,
		Steps: []resource.TestStep{
			step(`destination_pattern = "partner.com"`+hop, `destination_pattern: "partner.com": a domain pattern is the domain reversed with a leading dot, e.g. ".com.domaina.*" for domaina.com`),
			step(`destination_pattern = ".com.*.partner"`+hop, `destination_pattern: ".com.*.partner": a wildcard is allowed only as the final ".*"`),
			step(`destination_pattern = ".com.Partner.*"`+hop, `destination_pattern: ".com.Partner.*" is not in the form sipfed stores: write ".com.partner.*"`),
			step("destination_pattern = \"al ice\"\nroute_type = \"user\""+hop, `destination_pattern: "al ice": ' ' is not allowed in a user pattern`),
			step("destination_pattern = \".com.partner.*\"\nroute_type = \"uri\""+hop, `Attribute route_type value must be one of: ["domain" "user"], got: "uri"`),
			step(pat+`next_hop = "Edge.Partner.com"`, `next_hop: "Edge.Partner.com" is not in the form sipfed stores: write "edge.partner.com"`),
			step(pat+`next_hop = "2001:DB8::1"`, `next_hop: "2001:DB8::1" is not in the form sipfed stores: write "2001:db8::1"`),
			step(pat+`next_hop = "0.0.0.0"`, `next_hop: "0.0.0.0": must be a unicast address`),
			step(pat+`next_hop = "edge_1.partner.com"`, `next_hop: "edge_1.partner.com" is neither an IP address nor a valid host name`),
			step(pat+"next_hop = \"192.0.2.10\"\nnext_hop_port = 0", `next_hop_port: 0 is out of range: a port is 1 to 65535`),
			step(pat+"next_hop = \"192.0.2.10\"\nnext_hop_port = 65536", `next_hop_port: 65536 is out of range: a port is 1 to 65535`),
			step(pat+"next_hop = \"192.0.2.10\"\nprotocol = \"sctp\"", `Attribute protocol value must be one of: ["tls" "tcp" "udp"], got: "sctp"`),
			step(pat+"next_hop = \"192.0.2.10\"\npriority = 0", `priority: 0 is out of range: 1 to 65535`),
			step(pat+"next_hop = \"192.0.2.10\"\nweight = -1", `weight: -1 is out of range: 0 to 65535`),
			step(pat+"next_hop = \"192.0.2.10\"\ndescription = \"line\\nbreak\"", `description: must not contain control characters`),
		},
	})
}

func TestAccStaticRoute_updateAfterDrift(t *testing.T) {
	p := servertest.Start(t)
	onlyRoute := func(ctx context.Context, change func(*api.StaticRoute)) error {
		l, err := p.Client.ListStaticRoutes(ctx)
		if err != nil || len(l.Items) != 1 {
			return fmt.Errorf("want the one route Terraform created, got %v (%v)", l.Items, err)
		}
		r := l.Items[0]
		change(&r)
		_, _, err = p.Client.UpdateStaticRoute(ctx, r, "")
		return err
	}
	updateAfterDriftTest(t, p, updateAfterDriftCase{
		address:    staticRouteAddr,
		v1:         staticRouteConfig(p, "  destination_pattern = \".com.partner.*\"\n  next_hop = \"192.0.2.10\""),
		v2:         staticRouteConfig(p, "  destination_pattern = \".com.partner.*\"\n  next_hop = \"192.0.2.20\""),
		changeKept: func(ctx context.Context) error { return onlyRoute(ctx, func(r *api.StaticRoute) { r.Priority = 7 }) },
		expectKept: apiCheck(func(ctx context.Context) error {
			l, err := p.Client.ListStaticRoutes(ctx)
			if err != nil || len(l.Items) != 1 || l.Items[0].Priority != 7 || l.Items[0].NextHop != "192.0.2.10" {
				return fmt.Errorf("routes %+v (%v), want the one route with the out-of-band priority 7 and next hop 192.0.2.10", l.Items, err)
			}
			return nil
		}),
		changeF: func(ctx context.Context) error {
			return onlyRoute(ctx, func(r *api.StaticRoute) { r.NextHop = "192.0.2.99" })
		},
		expectV1:     expectStaticRoute(p, defaultRoute(".com.partner.*", "192.0.2.10")),
		expectV2:     expectStaticRoute(p, defaultRoute(".com.partner.*", "192.0.2.20")),
		checkDestroy: checkStaticRoutesDestroyed(p),
	})
}
