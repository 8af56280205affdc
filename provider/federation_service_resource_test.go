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

const federationServiceAddr = "sip_federation_service.this"

func federationServiceConfig(p *servertest.Proxy, body string) string {
	return providerConfig(p) + "resource \"sip_federation_service\" \"this\" {\n" + body + "\n}\n"
}

func expectFederationService(p *servertest.Proxy, enabled bool) resource.TestCheckFunc {
	return apiCheck(func(ctx context.Context) error {
		s, _, err := p.Client.GetFederationService(ctx)
		if err != nil {
			return err
		}
		if s.Enabled != enabled {
			return fmt.Errorf("federation service enabled = %v on the proxy, want %v", s.Enabled, enabled)
		}
		return nil
	})
}

func setFederationService(p *servertest.Proxy, enabled bool) func(ctx context.Context) error {
	return func(ctx context.Context) error {
		_, _, err := p.Client.SetFederationService(ctx, enabled, "")
		return err
	}
}

func TestAccFederationService_lifecycle(t *testing.T) {
	p := servertest.Start(t)
	resource.ParallelTest(t, resource.TestCase{
		ProtoV6ProviderFactories: protoV6ProviderFactories,
		// Destroying the resource turns federation back on, as a fresh proxy has it.
		CheckDestroy: expectFederationService(p, true),
		Steps: []resource.TestStep{
			{
				Config: federationServiceConfig(p, "  enabled = false"),
				ConfigStateChecks: []statecheck.StateCheck{
					statecheck.ExpectKnownValue(federationServiceAddr, tfjsonpath.New("id"), knownvalue.StringExact(federationServiceID)),
					statecheck.ExpectKnownValue(federationServiceAddr, tfjsonpath.New("enabled"), knownvalue.Bool(false)),
				},
				ConfigPlanChecks: resource.ConfigPlanChecks{PostApplyPostRefresh: []plancheck.PlanCheck{plancheck.ExpectEmptyPlan()}},
				Check:            expectFederationService(p, false),
			},
			{ResourceName: federationServiceAddr, ImportState: true, ImportStateVerify: true},
			{
				ResourceName:  federationServiceAddr,
				ImportState:   true,
				ImportStateId: "federation-routing-fqdn",
				ExpectError:   errorRe(`its import id is always "federation-service", not "federation-routing-fqdn"`),
			},
			// Drift: switched on by hand, the plan switches it off again.
			{
				PreConfig: outOfBand(t, setFederationService(p, true)),
				Config:    federationServiceConfig(p, "  enabled = false"),
				ConfigPlanChecks: resource.ConfigPlanChecks{
					PreApply: []plancheck.PlanCheck{
						plancheck.ExpectResourceAction(federationServiceAddr, plancheck.ResourceActionUpdate),
						plancheck.ExpectKnownValue(federationServiceAddr, tfjsonpath.New("enabled"), knownvalue.Bool(false)),
					},
				},
				Check: expectFederationService(p, false),
			},
			// Leaving enabled out means on.
			{
				Config: federationServiceConfig(p, ""),
				Check:  expectFederationService(p, true),
			},
		},
	})
}

// An import block, as the docs show it, adopts the switch as it is.
func TestAccFederationService_importBlock(t *testing.T) {
	p := servertest.Start(t)
	if err := setFederationService(p, false)(context.Background()); err != nil {
		t.Fatal(err)
	}
	resource.ParallelTest(t, resource.TestCase{
		ProtoV6ProviderFactories: protoV6ProviderFactories,
		CheckDestroy:             expectFederationService(p, true),
		Steps: []resource.TestStep{{
			Config: federationServiceConfig(p, "  enabled = false") + `
import {
  to = sip_federation_service.this
  id = "federation-service"
}
`,
			ConfigPlanChecks: resource.ConfigPlanChecks{
				PreApply: []plancheck.PlanCheck{plancheck.ExpectResourceAction(federationServiceAddr, plancheck.ResourceActionNoop)},
			},
			Check: expectFederationService(p, false),
		}},
	})
}

func TestAccFederationService_deleteAfterDrift(t *testing.T) {
	deleteAfterDriftTest(t, deleteAfterDriftCase{
		config: func(p *servertest.Proxy) string { return federationServiceConfig(p, "  enabled = false") },
		changeOutOfBand: func(ctx context.Context, p *servertest.Proxy) error {
			// Written again, unchanged: a new ETag is drift enough for If-Match.
			return setFederationService(p, false)(ctx)
		},
		expectDeleted: func(ctx context.Context, p *servertest.Proxy) error {
			return expectFederationService(p, true)(nil)
		},
	})
}

func TestAccFederationService_updateAfterDrift(t *testing.T) {
	p := servertest.Start(t)
	updateAfterDriftTest(t, p, updateAfterDriftCase{
		address:      federationServiceAddr,
		v1:           federationServiceConfig(p, "  enabled = false"),
		v2:           federationServiceConfig(p, "  enabled = true"),
		changeF:      setFederationService(p, false),
		expectV1:     expectFederationService(p, false),
		expectV2:     expectFederationService(p, true),
		checkDestroy: expectFederationService(p, true),
	})
}
