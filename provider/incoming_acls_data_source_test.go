package provider

import (
	"context"
	"testing"

	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/knownvalue"
	"github.com/hashicorp/terraform-plugin-testing/statecheck"
	"github.com/hashicorp/terraform-plugin-testing/tfjsonpath"

	"github.com/sipfed/terraform-provider-sip/proxy/server/servertest"
)

func TestAccIncomingACLsDataSource(t *testing.T) {
	p := servertest.Start(t)
	acl := func(domain string) knownvalue.Check {
		return knownvalue.ObjectExact(map[string]knownvalue.Check{
			"pattern":     knownvalue.StringExact(domain),
			"domain":      knownvalue.StringExact(domain),
			"description": knownvalue.StringExact("Federation ACL for " + domain),
		})
	}
	config := func(domains ...string) string {
		c := providerConfig(p)
		for _, d := range domains {
			c += `
resource "sip_federated_domain" "` + d[:1] + `" {
  domain = "` + d + `"
}
`
		}
		return c + `
data "sip_incoming_acls" "all" {
  depends_on = [` + func() string {
			var refs string
			for i, d := range domains {
				if i > 0 {
					refs += ", "
				}
				refs += "sip_federated_domain." + d[:1]
			}
			return refs
		}() + `]
}
`
	}
	resource.ParallelTest(t, resource.TestCase{
		ProtoV6ProviderFactories: protoV6ProviderFactories,
		CheckDestroy:             checkFederatedDomainsDestroyed(p),
		Steps: []resource.TestStep{
			{
				Config: config("zeta.example", "alpha.example"),
				ConfigStateChecks: []statecheck.StateCheck{
					statecheck.ExpectKnownValue("data.sip_incoming_acls.all", tfjsonpath.New("incoming_acls"),
						knownvalue.ListExact([]knownvalue.Check{acl("alpha.example"), acl("zeta.example")})),
				},
			},
			// An ACL lives and dies with its domain, however the domain goes.
			{
				PreConfig: outOfBand(t, func(ctx context.Context) error {
					return p.Client.DeleteFederatedDomain(ctx, "alpha.example", "")
				}),
				Config: config("zeta.example"),
				ConfigStateChecks: []statecheck.StateCheck{
					statecheck.ExpectKnownValue("data.sip_incoming_acls.all", tfjsonpath.New("incoming_acls"),
						knownvalue.ListExact([]knownvalue.Check{acl("zeta.example")})),
				},
			},
		},
	})
}
