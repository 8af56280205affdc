package provider

import (
	"context"
	"testing"

	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/knownvalue"
	"github.com/hashicorp/terraform-plugin-testing/statecheck"
	"github.com/hashicorp/terraform-plugin-testing/tfjsonpath"

	"github.com/sipfed/terraform-provider-sip/internal/api"
	"github.com/sipfed/terraform-provider-sip/proxy/server/servertest"
)

func TestAccFederatedDomainDataSource(t *testing.T) {
	p := servertest.Start(t)
	const ds = "data.sip_federated_domain.test"
	// A domain someone else configured, and one this configuration manages.
	read := func(domain string) string {
		return providerConfig(p) + `
resource "sip_federated_domain" "managed" {
  domain      = "managed.example"
  description = "Managed here"
  type        = "aol"
}

data "sip_federated_domain" "test" {
  domain = "` + domain + `"
}
`
	}
	resource.ParallelTest(t, resource.TestCase{
		ProtoV6ProviderFactories: protoV6ProviderFactories,
		CheckDestroy:             checkFederatedDomainsDestroyed(p),
		Steps: []resource.TestStep{
			// Plan-time rejection comes first: a failing configuration cannot be the last, which the
			// final destroy runs with.
			{
				Config:      read("Elsewhere.example"),
				ExpectError: errorRe(`domain: "Elsewhere.example" is not in the form sipfed stores: write "elsewhere.example"`),
			},
			{
				PreConfig: outOfBand(t, func(ctx context.Context) error {
					_, _, err := p.Client.CreateFederatedDomain(ctx, api.FederatedDomain{Domain: "elsewhere.example", Description: "Configured elsewhere", Type: "lync", DirectFederation: true})
					return err
				}),
				Config: read("elsewhere.example"),
				ConfigStateChecks: []statecheck.StateCheck{
					statecheck.ExpectKnownValue(ds, tfjsonpath.New("description"), knownvalue.StringExact("Configured elsewhere")),
					statecheck.ExpectKnownValue(ds, tfjsonpath.New("type"), knownvalue.StringExact("lync")),
					statecheck.ExpectKnownValue(ds, tfjsonpath.New("direct_federation"), knownvalue.Bool(true)),
					statecheck.ExpectKnownValue(ds, tfjsonpath.New("incoming_acl"), knownvalue.StringExact("elsewhere.example")),
				},
			},
			// A change on the proxy is what the next read sees.
			{
				PreConfig: outOfBand(t, func(ctx context.Context) error {
					_, _, err := p.Client.UpdateFederatedDomain(ctx, api.FederatedDomain{Domain: "elsewhere.example", Description: "Renamed", Type: "aol"}, "")
					return err
				}),
				Config: read("elsewhere.example"),
				ConfigStateChecks: []statecheck.StateCheck{
					statecheck.ExpectKnownValue(ds, tfjsonpath.New("description"), knownvalue.StringExact("Renamed")),
					statecheck.ExpectKnownValue(ds, tfjsonpath.New("type"), knownvalue.StringExact("aol")),
					statecheck.ExpectKnownValue(ds, tfjsonpath.New("direct_federation"), knownvalue.Bool(false)),
				},
			},
			// Reading a managed domain through a reference.
			{
				Config: providerConfig(p) + `
resource "sip_federated_domain" "managed" {
  domain      = "managed.example"
  description = "Managed here"
  type        = "aol"
}

data "sip_federated_domain" "test" {
  domain = sip_federated_domain.managed.domain
}
`,
				ConfigStateChecks: []statecheck.StateCheck{
					statecheck.ExpectKnownValue(ds, tfjsonpath.New("description"), knownvalue.StringExact("Managed here")),
					statecheck.ExpectKnownValue(ds, tfjsonpath.New("type"), knownvalue.StringExact("aol")),
				},
			},
			{
				PreConfig: outOfBand(t, func(ctx context.Context) error {
					return p.Client.DeleteFederatedDomain(ctx, "elsewhere.example", "")
				}),
				Config:      read("elsewhere.example"),
				ExpectError: errorRe(`"elsewhere.example" is not a federated domain on the proxy`),
			},
			{
				Config: read("managed.example"),
				ConfigStateChecks: []statecheck.StateCheck{
					statecheck.ExpectKnownValue(ds, tfjsonpath.New("description"), knownvalue.StringExact("Managed here")),
				},
			},
		},
	})
}
