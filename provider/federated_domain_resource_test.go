package provider

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"regexp"
	"strings"
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

const federatedDomainAddr = "sip_federated_domain.test"

func federatedDomainConfig(p *servertest.Proxy, body string) string {
	return providerConfig(p) + fmt.Sprintf(`
resource "sip_federated_domain" "test" {
%s
}
`, body)
}

// expectFederatedDomain asserts what the proxy stores, not what Terraform believes.
func expectFederatedDomain(p *servertest.Proxy, want api.FederatedDomain) resource.TestCheckFunc {
	return apiCheck(func(ctx context.Context) error {
		got, _, err := p.Client.GetFederatedDomain(ctx, want.Domain)
		if err != nil {
			return fmt.Errorf("federated domain %q on the proxy: %w", want.Domain, err)
		}
		if !reflect.DeepEqual(got, want) {
			return fmt.Errorf("federated domain on the proxy:\n got %+v\nwant %+v", got, want)
		}
		return nil
	})
}

func expectNoFederatedDomain(p *servertest.Proxy, domain string) resource.TestCheckFunc {
	return apiCheck(func(ctx context.Context) error {
		_, _, err := p.Client.GetFederatedDomain(ctx, domain)
		if !errors.Is(err, api.ErrNotFound) {
			return fmt.Errorf("federated domain %q: want not found on the proxy, got err=%v", domain, err)
		}
		return nil
	})
}

// checkFederatedDomainsDestroyed is CheckDestroy: every domain the state held is gone from the proxy.
func checkFederatedDomainsDestroyed(p *servertest.Proxy) resource.TestCheckFunc {
	return func(s *terraform.State) error {
		for _, rs := range s.RootModule().Resources {
			if rs.Type != "sip_federated_domain" {
				continue
			}
			if err := expectNoFederatedDomain(p, rs.Primary.Attributes["domain"])(s); err != nil {
				return err
			}
		}
		return nil
	}
}

func TestAccFederatedDomain_lifecycle(t *testing.T) {
	p := servertest.Start(t)
	resource.ParallelTest(t, resource.TestCase{
		ProtoV6ProviderFactories: protoV6ProviderFactories,
		CheckDestroy:             checkFederatedDomainsDestroyed(p),
		Steps: []resource.TestStep{
			// Create with the API's defaults for everything left out.
			{
				Config: federatedDomainConfig(p, `
  domain      = "partner.example"
  description = "Partner"
`),
				ConfigPlanChecks: resource.ConfigPlanChecks{
					PreApply:             []plancheck.PlanCheck{plancheck.ExpectResourceAction(federatedDomainAddr, plancheck.ResourceActionCreate)},
					PostApplyPostRefresh: []plancheck.PlanCheck{plancheck.ExpectEmptyPlan()},
				},
				ConfigStateChecks: []statecheck.StateCheck{
					statecheck.ExpectKnownValue(federatedDomainAddr, tfjsonpath.New("type"), knownvalue.StringExact(api.DefaultDomainType)),
					statecheck.ExpectKnownValue(federatedDomainAddr, tfjsonpath.New("direct_federation"), knownvalue.Bool(false)),
					statecheck.ExpectKnownValue(federatedDomainAddr, tfjsonpath.New("incoming_acl"), knownvalue.StringExact("partner.example")),
				},
				Check: expectFederatedDomain(p, api.FederatedDomain{
					Domain: "partner.example", Description: "Partner", Type: "lync", IncomingACL: "partner.example",
				}),
			},
			// Import by domain gives the same state.
			{
				ResourceName:                         federatedDomainAddr,
				ImportState:                          true,
				ImportStateId:                        "partner.example",
				ImportStateVerify:                    true,
				ImportStateVerifyIdentifierAttribute: "domain",
			},
			// Every field but the key changes in place.
			{
				Config: federatedDomainConfig(p, `
  domain            = "partner.example"
  description       = "Partner Inc. via AOL"
  type              = "aol"
  direct_federation = true
`),
				ConfigPlanChecks: resource.ConfigPlanChecks{
					PreApply:             []plancheck.PlanCheck{plancheck.ExpectResourceAction(federatedDomainAddr, plancheck.ResourceActionUpdate)},
					PostApplyPostRefresh: []plancheck.PlanCheck{plancheck.ExpectEmptyPlan()},
				},
				Check: expectFederatedDomain(p, api.FederatedDomain{
					Domain: "partner.example", Description: "Partner Inc. via AOL", Type: "aol", DirectFederation: true, IncomingACL: "partner.example",
				}),
			},
			// Drift: a field changed on the proxy shows as an in-place update back to the configuration.
			{
				PreConfig: outOfBand(t, func(ctx context.Context) error {
					_, _, err := p.Client.UpdateFederatedDomain(ctx, api.FederatedDomain{Domain: "partner.example", Description: "changed by hand", Type: "lync"}, "")
					return err
				}),
				Config: federatedDomainConfig(p, `
  domain            = "partner.example"
  description       = "Partner Inc. via AOL"
  type              = "aol"
  direct_federation = true
`),
				ConfigPlanChecks: resource.ConfigPlanChecks{
					PreApply: []plancheck.PlanCheck{
						plancheck.ExpectResourceAction(federatedDomainAddr, plancheck.ResourceActionUpdate),
						plancheck.ExpectKnownValue(federatedDomainAddr, tfjsonpath.New("description"), knownvalue.StringExact("Partner Inc. via AOL")),
					},
				},
				Check: expectFederatedDomain(p, api.FederatedDomain{
					Domain: "partner.example", Description: "Partner Inc. via AOL", Type: "aol", DirectFederation: true, IncomingACL: "partner.example",
				}),
			},
			// Drift: deleted on the proxy, it drops out of state and apply creates it again.
			{
				PreConfig: outOfBand(t, func(ctx context.Context) error {
					return p.Client.DeleteFederatedDomain(ctx, "partner.example", "")
				}),
				Config: federatedDomainConfig(p, `
  domain            = "partner.example"
  description       = "Partner Inc. via AOL"
  type              = "aol"
  direct_federation = true
`),
				ConfigPlanChecks: resource.ConfigPlanChecks{
					PreApply: []plancheck.PlanCheck{plancheck.ExpectResourceAction(federatedDomainAddr, plancheck.ResourceActionCreate)},
				},
				Check: expectFederatedDomain(p, api.FederatedDomain{
					Domain: "partner.example", Description: "Partner Inc. via AOL", Type: "aol", DirectFederation: true, IncomingACL: "partner.example",
				}),
			},
			// A new key replaces the domain: the old one and its ACL are gone.
			{
				Config: federatedDomainConfig(p, `
  domain = "other-partner.example"
`),
				ConfigPlanChecks: resource.ConfigPlanChecks{
					PreApply:             []plancheck.PlanCheck{plancheck.ExpectResourceAction(federatedDomainAddr, plancheck.ResourceActionDestroyBeforeCreate)},
					PostApplyPostRefresh: []plancheck.PlanCheck{plancheck.ExpectEmptyPlan()},
				},
				Check: resource.ComposeAggregateTestCheckFunc(
					expectNoFederatedDomain(p, "partner.example"),
					expectFederatedDomain(p, api.FederatedDomain{Domain: "other-partner.example", Type: "lync", IncomingACL: "other-partner.example"}),
					// Optional attributes left out fall back to the API's defaults, not the previous values.
					resource.TestCheckResourceAttr(federatedDomainAddr, "description", ""),
					resource.TestCheckResourceAttr(federatedDomainAddr, "direct_federation", "false"),
				),
			},
		},
	})
}

func TestAccFederatedDomain_existingNeedsImport(t *testing.T) {
	p := servertest.Start(t)
	resource.ParallelTest(t, resource.TestCase{
		ProtoV6ProviderFactories: protoV6ProviderFactories,
		CheckDestroy:             checkFederatedDomainsDestroyed(p),
		Steps: []resource.TestStep{
			{
				PreConfig: outOfBand(t, func(ctx context.Context) error {
					_, _, err := p.Client.CreateFederatedDomain(ctx, api.FederatedDomain{Domain: "partner.example", Type: "lync"})
					return err
				}),
				Config:      federatedDomainConfig(p, `  domain = "partner.example"`),
				ExpectError: errorRe("terraform import <address> partner.example"),
			},
			{
				Config:             federatedDomainConfig(p, `  domain = "partner.example"`),
				ResourceName:       federatedDomainAddr,
				ImportState:        true,
				ImportStateId:      "partner.example",
				ImportStatePersist: true,
			},
			{
				Config: federatedDomainConfig(p, `  domain = "partner.example"`),
				ConfigPlanChecks: resource.ConfigPlanChecks{
					PreApply: []plancheck.PlanCheck{plancheck.ExpectEmptyPlan()},
				},
			},
			{
				Config:        federatedDomainConfig(p, `  domain = "partner.example"`),
				ResourceName:  federatedDomainAddr,
				ImportState:   true,
				ImportStateId: "not a domain",
				ExpectError:   errorRe(`The import id of a sip_federated_domain is its domain`),
			},
			{
				Config:        federatedDomainConfig(p, `  domain = "partner.example"`),
				ResourceName:  federatedDomainAddr,
				ImportState:   true,
				ImportStateId: "missing.example",
				ExpectError:   errorRe(`Cannot import non-existent remote object`),
			},
		},
	})
}

func TestAccFederatedDomain_planTimeValidation(t *testing.T) {
	step := func(body, want string) resource.TestStep {
		return resource.TestStep{
			Config:      unreachableProviderConfig + "resource \"sip_federated_domain\" \"test\" {\n" + body + "\n}\n",
			PlanOnly:    true,
			ExpectError: errorRe(want),
		}
	}
	resource.ParallelTest(t, resource.TestCase{
		ProtoV6ProviderFactories: protoV6ProviderFactories,
		Steps: []resource.TestStep{
			step(`domain = "a..example"`, `domain: "a..example": empty label (leading, trailing or double dot)`),
			step(`domain = "*.partner.example"`, `domain: "*.partner.example": a domain must not contain a wildcard`),
			step(`domain = "192.0.2.1"`, `domain: "192.0.2.1": the last label must not be all digits`),
			step(`domain = "under_score.example"`, `label "under_score" has '_'; only letters, digits and hyphens are allowed`),
			step(`domain = "Partner.Example"`, `domain: "Partner.Example" is not in the form sipfed stores: write "partner.example"`),
			step(`domain = ""`, `domain: must not be empty`),
			step("domain = \"partner.example\"\ntype = \"msn\"", `Attribute type value must be one of: ["lync" "aol"], got: "msn"`),
			step("domain = \"partner.example\"\ntype = \"LYNC\"", `got: "LYNC"`),
			step("domain = \"partner.example\"\ndescription = \""+strings.Repeat("x", 256)+"\"", `description: has 256 characters, at most 255 are allowed`),
			step("domain = \"partner.example\"\ndescription = \"tab\\there\"", `description: must not contain control characters`),
		},
	})
}

func TestAccFederatedDomain_preconditionFailed(t *testing.T) {
	p := servertest.Start(t)
	domain := func(desc, typ string) api.FederatedDomain {
		return api.FederatedDomain{Domain: "partner.example", Description: desc, Type: typ, IncomingACL: "partner.example"}
	}
	updateAfterDriftTest(t, p, updateAfterDriftCase{
		address: federatedDomainAddr,
		v1:      federatedDomainConfig(p, "  domain = \"partner.example\"\n  description = \"v1\""),
		v2:      federatedDomainConfig(p, "  domain = \"partner.example\"\n  description = \"v2\""),
		changeKept: func(ctx context.Context) error {
			_, _, err := p.Client.UpdateFederatedDomain(ctx, domain("v1", api.DomainTypeAOL), "")
			return err
		},
		expectKept: expectFederatedDomain(p, domain("v1", api.DomainTypeAOL)),
		changeF: func(ctx context.Context) error {
			_, _, err := p.Client.UpdateFederatedDomain(ctx, domain("by hand", api.DomainTypeLync), "")
			return err
		},
		expectV1:     expectFederatedDomain(p, domain("v1", api.DomainTypeLync)),
		expectV2:     expectFederatedDomain(p, domain("v2", api.DomainTypeLync)),
		checkDestroy: checkFederatedDomainsDestroyed(p),
	})
}

// A domain someone already made on the proxy is not overwritten by a create: the apply fails and
// says how to import it.
func TestAccFederatedDomainResource_existingIsNotOverwritten(t *testing.T) {
	p := servertest.Start(t)
	existing := api.FederatedDomain{Domain: "taken.example", Description: "made by hand", Type: api.DomainTypeAOL, IncomingACL: "taken.example"}
	if _, _, err := p.Client.CreateFederatedDomain(context.Background(), existing); err != nil {
		t.Fatal(err)
	}
	resource.ParallelTest(t, resource.TestCase{
		ProtoV6ProviderFactories: protoV6ProviderFactories,
		Steps: []resource.TestStep{{
			Config:      federatedDomainConfig(p, `  domain = "taken.example"`),
			ExpectError: regexp.MustCompile(`(?s)Federated domain already exists.*import it: terraform import <address>\s+taken\.example`),
		}},
	})
	// The hand-made domain is untouched.
	got, _, err := p.Client.GetFederatedDomain(context.Background(), "taken.example")
	if err != nil || !reflect.DeepEqual(got, existing) {
		t.Fatalf("after the failed create: %+v %v, want %+v", got, err, existing)
	}
}
