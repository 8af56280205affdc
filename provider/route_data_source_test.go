package provider

import (
	"fmt"
	"testing"

	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/knownvalue"
	"github.com/hashicorp/terraform-plugin-testing/statecheck"
	"github.com/hashicorp/terraform-plugin-testing/tfjsonpath"

	"github.com/sipfed/terraform-provider-sip/proxy/server/servertest"
)

func TestAccRouteDataSource(t *testing.T) {
	p := servertest.Start(t)
	config := func(nextHop string) string {
		return providerConfig(p) + fmt.Sprintf(`
resource "sip_federated_domain" "partner" {
  domain = "partner.example"
}

resource "sip_static_route" "partner" {
  destination_pattern = ".example.partner.*"
  next_hop            = %q
  next_hop_port       = 5062
  protocol            = "tcp"
}

data "sip_route" "partner" {
  uri        = "sip:bob@Partner.Example"
  depends_on = [sip_federated_domain.partner, sip_static_route.partner]
}

data "sip_route" "stranger" {
  uri = "sip:eve@stranger.example"
}
`, nextHop)
	}
	const partner, stranger = "data.sip_route.partner", "data.sip_route.stranger"
	routeIDMatchesResource := resource.TestCheckResourceAttrPair(partner, "next_hops.0.route_id", "sip_static_route.partner", "id")
	resource.ParallelTest(t, resource.TestCase{
		ProtoV6ProviderFactories: protoV6ProviderFactories,
		CheckDestroy:             checkStaticRoutesDestroyed(p),
		Steps: []resource.TestStep{
			{
				Config:      providerConfig(p) + "data \"sip_route\" \"x\" {\n  uri = \"bob@partner.example\"\n}\n",
				ExpectError: errorRe(`uri: "bob@partner.example" is not a SIP URI: it must start with sip: or sips:`),
			},
			{
				// The API's own rule for the URI, checked at plan time with the attribute named.
				Config:      providerConfig(p) + "data \"sip_route\" \"x\" {\n  uri = \"sip:bob@a..example\"\n}\n",
				ExpectError: errorRe(`uri: "sip:bob@a..example": the host must be a domain: "a..example": empty label`),
			},
			{
				Config: config("192.0.2.10"),
				ConfigStateChecks: []statecheck.StateCheck{
					statecheck.ExpectKnownValue(partner, tfjsonpath.New("uri"), knownvalue.StringExact("sip:bob@Partner.Example")),
					statecheck.ExpectKnownValue(partner, tfjsonpath.New("user"), knownvalue.StringExact("bob")),
					statecheck.ExpectKnownValue(partner, tfjsonpath.New("domain"), knownvalue.StringExact("partner.example")),
					statecheck.ExpectKnownValue(partner, tfjsonpath.New("status"), knownvalue.Int64Exact(0)),
					statecheck.ExpectKnownValue(partner, tfjsonpath.New("next_hops"), knownvalue.ListExact([]knownvalue.Check{
						knownvalue.ObjectPartial(map[string]knownvalue.Check{
							"address":   knownvalue.StringExact("192.0.2.10"),
							"port":      knownvalue.Int64Exact(5062),
							"transport": knownvalue.StringExact("tcp"),
							"host":      knownvalue.StringExact("192.0.2.10"),
							"step":      knownvalue.StringExact("static"),
						}),
					})),
					statecheck.ExpectKnownValue(partner, tfjsonpath.New("steps"), knownvalue.ListPartial(map[int]knownvalue.Check{
						0: knownvalue.ObjectPartial(map[string]knownvalue.Check{
							"step":    knownvalue.StringExact("federated"),
							"outcome": knownvalue.StringExact("matched"),
						}),
						1: knownvalue.ObjectPartial(map[string]knownvalue.Check{
							"step":    knownvalue.StringExact("static"),
							"domain":  knownvalue.StringExact("partner.example"),
							"outcome": knownvalue.StringExact("matched"),
							"pattern": knownvalue.StringExact(".example.partner.*"),
						}),
					})),
					statecheck.ExpectKnownValue(stranger, tfjsonpath.New("status"), knownvalue.Int64Exact(403)),
					statecheck.ExpectKnownValue(stranger, tfjsonpath.New("next_hops"), knownvalue.ListExact([]knownvalue.Check{})),
				},
				Check: resource.ComposeAggregateTestCheckFunc(
					routeIDMatchesResource,
					resource.TestCheckResourceAttrPair(partner, "steps.1.route_ids.0", "sip_static_route.partner", "id"),
				),
			},
			// The explanation follows the configuration: a new next hop is the next read's answer.
			{
				Config: config("192.0.2.20"),
				ConfigStateChecks: []statecheck.StateCheck{
					statecheck.ExpectKnownValue(partner, tfjsonpath.New("next_hops").AtSliceIndex(0).AtMapKey("address"), knownvalue.StringExact("192.0.2.20")),
				},
				Check: routeIDMatchesResource,
			},
		},
	})
}
