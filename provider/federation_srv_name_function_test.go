package provider

import (
	"testing"

	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/knownvalue"
	"github.com/hashicorp/terraform-plugin-testing/statecheck"
	"github.com/hashicorp/terraform-plugin-testing/tfversion"
)

func TestFederationSRVNameFunction(t *testing.T) {
	for in, want := range map[string]string{
		"domaina.com": "_sipfederationtls._tcp.domaina.com",
		"DomainA.COM": "_sipfederationtls._tcp.domaina.com",
	} {
		got, err := runStringFunction(t, NewFederationSRVNameFunction(), in)
		if err != nil || got != want {
			t.Errorf("federation_srv_name(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	if _, err := runStringFunction(t, NewFederationSRVNameFunction(), "*.domaina.com"); err == nil {
		t.Error("a wildcard must be refused: no SRV record is published under one")
	}
}

func TestAccFederationSRVNameFunction(t *testing.T) {
	resource.ParallelTest(t, resource.TestCase{
		TerraformVersionChecks:   []tfversion.TerraformVersionCheck{tfversion.SkipBelow(tfversion.Version1_8_0)},
		ProtoV6ProviderFactories: protoV6ProviderFactories,
		Steps: []resource.TestStep{
			{
				Config: unreachableProviderConfig + `
output "name" {
  value = provider::sip::federation_srv_name("domaina.com")
}
`,
				ConfigStateChecks: []statecheck.StateCheck{
					statecheck.ExpectKnownOutputValue("name", knownvalue.StringExact("_sipfederationtls._tcp.domaina.com")),
				},
			},
			{
				Config: unreachableProviderConfig + `
output "name" {
  value = provider::sip::federation_srv_name("*.domaina.com")
}
`,
				ExpectError: errorRe(`domain: "*.domaina.com": a domain must not contain a wildcard`),
			},
		},
	})
}
