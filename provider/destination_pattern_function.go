package provider

import (
	"context"

	"github.com/hashicorp/terraform-plugin-framework/function"

	"github.com/sipfed/terraform-provider-sip/internal/api"
)

var _ function.Function = (*destinationPatternFunction)(nil)

func NewDestinationPatternFunction() function.Function { return &destinationPatternFunction{} }

type destinationPatternFunction struct{}

func (f *destinationPatternFunction) Metadata(_ context.Context, _ function.MetadataRequest, resp *function.MetadataResponse) {
	resp.Name = "destination_pattern"
}

func (f *destinationPatternFunction) Definition(_ context.Context, _ function.DefinitionRequest, resp *function.DefinitionResponse) {
	resp.Definition = function.Definition{
		Summary: "The static route pattern that matches a domain and its subdomains",
		MarkdownDescription: "Returns the `destination_pattern` of a `sip_static_route` that matches `domain` and all its " +
			"subdomains: the domain's labels reversed, with a leading dot and a trailing `.*`, as the reference " +
			"configures it (`domaina.com` gives `.com.domaina.*`). The result is in lower case. Requires Terraform 1.8 or later.",
		Parameters: []function.Parameter{
			function.StringParameter{
				Name:                "domain",
				MarkdownDescription: "The partner domain, e.g. `domaina.com`.",
			},
		},
		Return: function.StringReturn{},
	}
}

func (f *destinationPatternFunction) Run(ctx context.Context, req function.RunRequest, resp *function.RunResponse) {
	var domain string
	resp.Error = req.Arguments.Get(ctx, &domain)
	if resp.Error != nil {
		return
	}
	if err := api.ValidateDomain("domain", api.NormalizeName(domain)); err != nil {
		resp.Error = function.NewArgumentFuncError(0, err.Error())
		return
	}
	resp.Error = resp.Result.Set(ctx, api.DestinationPattern(domain))
}
