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

	"github.com/sipfed/terraform-provider-sip/proxy/server/servertest"
)

const (
	routingFQDNAddr = "sip_federation_routing_fqdn.test"
	// testNodeFQDN is servertest's node.
	testNodeFQDN = "imp1.example.com"
)

func routingFQDNConfig(p *servertest.Proxy, fqdn string) string {
	return providerConfig(p) + fmt.Sprintf(`
resource "sip_federation_routing_fqdn" "test" {
  fqdn = %q
}
`, fqdn)
}

// expectRoutingFQDN asserts what the proxy answers, and that the node reports the same (the
// node's value is what the SRV records data source publishes).
func expectRoutingFQDN(p *servertest.Proxy, want string) resource.TestCheckFunc {
	return apiCheck(func(ctx context.Context) error {
		got, _, err := p.Client.GetFederationRoutingFQDN(ctx)
		if err != nil {
			return err
		}
		if got.FQDN != want || got.NodeFQDN != testNodeFQDN {
			return fmt.Errorf("federation routing FQDN on the proxy is %+v, want fqdn %q on node %q", got, want, testNodeFQDN)
		}
		node, err := p.Client.GetNode(ctx)
		if err != nil {
			return err
		}
		if node.FederationRoutingFQDN != want {
			return fmt.Errorf("node reports federation routing FQDN %q, want %q", node.FederationRoutingFQDN, want)
		}
		return nil
	})
}

func TestAccFederationRoutingFQDN_lifecycle(t *testing.T) {
	p := servertest.Start(t)
	resource.ParallelTest(t, resource.TestCase{
		ProtoV6ProviderFactories: protoV6ProviderFactories,
		// Destroying the singleton resets it to the node's FQDN.
		CheckDestroy: expectRoutingFQDN(p, testNodeFQDN),
		Steps: []resource.TestStep{
			{
				Config: routingFQDNConfig(p, "sipfed.example.com"),
				ConfigPlanChecks: resource.ConfigPlanChecks{
					PreApply:             []plancheck.PlanCheck{plancheck.ExpectResourceAction(routingFQDNAddr, plancheck.ResourceActionCreate)},
					PostApplyPostRefresh: []plancheck.PlanCheck{plancheck.ExpectEmptyPlan()},
				},
				ConfigStateChecks: []statecheck.StateCheck{
					statecheck.ExpectKnownValue(routingFQDNAddr, tfjsonpath.New("id"), knownvalue.StringExact("federation-routing-fqdn")),
					statecheck.ExpectKnownValue(routingFQDNAddr, tfjsonpath.New("node_fqdn"), knownvalue.StringExact(testNodeFQDN)),
				},
				Check: expectRoutingFQDN(p, "sipfed.example.com"),
			},
			{
				ResourceName:      routingFQDNAddr,
				ImportState:       true,
				ImportStateId:     "federation-routing-fqdn",
				ImportStateVerify: true,
			},
			{
				ResourceName:  routingFQDNAddr,
				ImportState:   true,
				ImportStateId: "sipfed.example.com",
				ExpectError:   errorRe(`its import id is always "federation-routing-fqdn", not "sipfed.example.com"`),
			},
			{
				Config: routingFQDNConfig(p, "federation.example.com"),
				ConfigPlanChecks: resource.ConfigPlanChecks{
					PreApply:             []plancheck.PlanCheck{plancheck.ExpectResourceAction(routingFQDNAddr, plancheck.ResourceActionUpdate)},
					PostApplyPostRefresh: []plancheck.PlanCheck{plancheck.ExpectEmptyPlan()},
				},
				Check: expectRoutingFQDN(p, "federation.example.com"),
			},
			// Drift: changed on the proxy.
			{
				PreConfig: outOfBand(t, func(ctx context.Context) error {
					_, _, err := p.Client.SetFederationRoutingFQDN(ctx, "by-hand.example.com", "")
					return err
				}),
				Config: routingFQDNConfig(p, "federation.example.com"),
				ConfigPlanChecks: resource.ConfigPlanChecks{
					PreApply: []plancheck.PlanCheck{plancheck.ExpectResourceAction(routingFQDNAddr, plancheck.ResourceActionUpdate)},
				},
				Check: expectRoutingFQDN(p, "federation.example.com"),
			},
			// Drift: reset on the proxy (the singleton's delete) reads as the node FQDN, and the
			// plan changes it back in place.
			{
				PreConfig: outOfBand(t, func(ctx context.Context) error {
					return p.Client.ResetFederationRoutingFQDN(ctx, "")
				}),
				Config: routingFQDNConfig(p, "federation.example.com"),
				ConfigPlanChecks: resource.ConfigPlanChecks{
					PreApply: []plancheck.PlanCheck{plancheck.ExpectResourceAction(routingFQDNAddr, plancheck.ResourceActionUpdate)},
				},
				Check: expectRoutingFQDN(p, "federation.example.com"),
			},
			// Replacement: reset, then set again.
			{
				Taint:  []string{routingFQDNAddr},
				Config: routingFQDNConfig(p, "federation.example.com"),
				ConfigPlanChecks: resource.ConfigPlanChecks{
					PreApply:             []plancheck.PlanCheck{plancheck.ExpectResourceAction(routingFQDNAddr, plancheck.ResourceActionDestroyBeforeCreate)},
					PostApplyPostRefresh: []plancheck.PlanCheck{plancheck.ExpectEmptyPlan()},
				},
				Check: expectRoutingFQDN(p, "federation.example.com"),
			},
		},
	})
}

func TestAccFederationRoutingFQDN_planTimeValidation(t *testing.T) {
	step := func(fqdn, want string) resource.TestStep {
		return resource.TestStep{
			Config:      unreachableProviderConfig + fmt.Sprintf("resource \"sip_federation_routing_fqdn\" \"test\" {\n  fqdn = %q\n}\n", fqdn),
			PlanOnly:    true,
			ExpectError: errorRe(want),
		}
	}
	resource.ParallelTest(t, resource.TestCase{
		ProtoV6ProviderFactories: protoV6ProviderFactories,
		Steps: []resource.TestStep{
			step("sipfed.example.com.", `fqdn: "sipfed.example.com.": empty label (leading, trailing or double dot)`),
			step("SIPFED.example.com", `fqdn: "SIPFED.example.com" is not in the form sipfed stores: write "sipfed.example.com"`),
			step("203.0.113.5", `fqdn: "203.0.113.5": the last label must not be all digits`),
		},
	})
}

func TestAccFederationRoutingFQDN_updateAfterDrift(t *testing.T) {
	p := servertest.Start(t)
	updateAfterDriftTest(t, p, updateAfterDriftCase{
		address: routingFQDNAddr,
		v1:      routingFQDNConfig(p, "v1.example.com"),
		v2:      routingFQDNConfig(p, "v2.example.com"),
		changeF: func(ctx context.Context) error {
			_, _, err := p.Client.SetFederationRoutingFQDN(ctx, "by-hand.example.com", "")
			return err
		},
		expectV1:     expectRoutingFQDN(p, "v1.example.com"),
		expectV2:     expectRoutingFQDN(p, "v2.example.com"),
		checkDestroy: expectRoutingFQDN(p, testNodeFQDN),
	})
}
