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

func TestAccFederatedDomainsDataSource(t *testing.T) {
	p := servertest.Start(t)
	config := providerConfig(p) + `
resource "sip_federated_domain" "managed" {
  domain = "b-managed.example"
}

data "sip_federated_domains" "all" {
  depends_on = [sip_federated_domain.managed]
}

data "sip_federated_domains" "aol" {
  type       = "aol"
  depends_on = [sip_federated_domain.managed]
}
`
	names := func(ns ...string) knownvalue.Check {
		checks := make([]knownvalue.Check, len(ns))
		for i, n := range ns {
			checks[i] = knownvalue.StringExact(n)
		}
		return knownvalue.ListExact(checks)
	}
	resource.ParallelTest(t, resource.TestCase{
		ProtoV6ProviderFactories: protoV6ProviderFactories,
		CheckDestroy:             checkFederatedDomainsDestroyed(p),
		Steps: []resource.TestStep{
			{
				Config:      providerConfig(p) + "data \"sip_federated_domains\" \"x\" {\n  type = \"xmpp\"\n}\n",
				ExpectError: errorRe(`Attribute type value must be one of: ["lync" "aol"], got: "xmpp"`),
			},
			{
				PreConfig: outOfBand(t, func(ctx context.Context) error {
					for _, d := range []api.FederatedDomain{
						{Domain: "c-hosted.example", Type: "aol", Description: "Hosted by AOL"},
						{Domain: "a-lync.example", Type: "lync"},
					} {
						if _, _, err := p.Client.CreateFederatedDomain(ctx, d); err != nil {
							return err
						}
					}
					return nil
				}),
				Config: config,
				ConfigStateChecks: []statecheck.StateCheck{
					statecheck.ExpectKnownValue("data.sip_federated_domains.all", tfjsonpath.New("names"),
						names("a-lync.example", "b-managed.example", "c-hosted.example")),
					statecheck.ExpectKnownValue("data.sip_federated_domains.aol", tfjsonpath.New("names"), names("c-hosted.example")),
					statecheck.ExpectKnownValue("data.sip_federated_domains.aol", tfjsonpath.New("domains"), knownvalue.ListExact([]knownvalue.Check{
						knownvalue.ObjectExact(map[string]knownvalue.Check{
							"domain":            knownvalue.StringExact("c-hosted.example"),
							"description":       knownvalue.StringExact("Hosted by AOL"),
							"type":              knownvalue.StringExact("aol"),
							"direct_federation": knownvalue.Bool(false),
							"peer_subjects":     knownvalue.SetExact([]knownvalue.Check{}),
							"incoming_acl":      knownvalue.StringExact("c-hosted.example"),
						}),
					})),
				},
			},
			{
				PreConfig: outOfBand(t, func(ctx context.Context) error {
					return p.Client.DeleteFederatedDomain(ctx, "c-hosted.example", "")
				}),
				Config: config,
				ConfigStateChecks: []statecheck.StateCheck{
					statecheck.ExpectKnownValue("data.sip_federated_domains.all", tfjsonpath.New("names"), names("a-lync.example", "b-managed.example")),
					statecheck.ExpectKnownValue("data.sip_federated_domains.aol", tfjsonpath.New("domains"), knownvalue.ListExact([]knownvalue.Check{})),
				},
			},
		},
	})
}
