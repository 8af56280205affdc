package provider

import (
	"context"
	"testing"

	"github.com/hashicorp/terraform-plugin-framework/attr"
	"github.com/hashicorp/terraform-plugin-framework/function"
	"github.com/hashicorp/terraform-plugin-framework/types"
	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/knownvalue"
	"github.com/hashicorp/terraform-plugin-testing/statecheck"
	"github.com/hashicorp/terraform-plugin-testing/tfversion"
)

// runStringFunction calls a provider function the way the framework does, without Terraform.
func runStringFunction(t *testing.T, f function.Function, arg string) (string, *function.FuncError) {
	t.Helper()
	resp := function.RunResponse{Result: function.NewResultData(types.StringUnknown())}
	f.Run(context.Background(), function.RunRequest{Arguments: function.NewArgumentsData([]attr.Value{types.StringValue(arg)})}, &resp)
	if resp.Error != nil {
		return "", resp.Error
	}
	return resp.Result.Value().(types.String).ValueString(), nil
}

func TestDestinationPatternFunction(t *testing.T) {
	for in, want := range map[string]string{
		"domaina.com":         ".com.domaina.*",
		"DomainA.COM":         ".com.domaina.*",
		"sub.partner.example": ".example.partner.sub.*",
		"localhost":           ".localhost.*",
	} {
		got, err := runStringFunction(t, NewDestinationPatternFunction(), in)
		if err != nil || got != want {
			t.Errorf("destination_pattern(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	if _, err := runStringFunction(t, NewDestinationPatternFunction(), "a..com"); err == nil || err.FunctionArgument == nil || *err.FunctionArgument != 0 {
		t.Errorf("an invalid domain must be an error on argument 0, got %v", err)
	}
}

func TestAccDestinationPatternFunction(t *testing.T) {
	resource.ParallelTest(t, resource.TestCase{
		TerraformVersionChecks:   []tfversion.TerraformVersionCheck{tfversion.SkipBelow(tfversion.Version1_8_0)},
		ProtoV6ProviderFactories: protoV6ProviderFactories,
		Steps: []resource.TestStep{
			{
				Config: unreachableProviderConfig + `
output "pattern" {
  value = provider::sip::destination_pattern("DomainA.com")
}
`,
				ConfigStateChecks: []statecheck.StateCheck{
					statecheck.ExpectKnownOutputValue("pattern", knownvalue.StringExact(".com.domaina.*")),
				},
			},
			{
				Config: unreachableProviderConfig + `
output "pattern" {
  value = provider::sip::destination_pattern("a..com")
}
`,
				ExpectError: errorRe(`domain: "a..com": empty label (leading, trailing or double dot)`),
			},
		},
	})
}
