package provider

import (
	"context"

	"github.com/hashicorp/terraform-plugin-framework/function"

	"github.com/sipfed/terraform-provider-sip/internal/api"
)

var _ function.Function = (*federationSRVNameFunction)(nil)

func NewFederationSRVNameFunction() function.Function { return &federationSRVNameFunction{} }

type federationSRVNameFunction struct{}

func (f *federationSRVNameFunction) Metadata(_ context.Context, _ function.MetadataRequest, resp *function.MetadataResponse) {
	resp.Name = "federation_srv_name"
}

func (f *federationSRVNameFunction) Definition(_ context.Context, _ function.DefinitionRequest, resp *function.DefinitionResponse) {
	resp.Definition = function.Definition{
		Summary: "The DNS SRV name partners look up to find a domain's federation edge",
		MarkdownDescription: "Returns `_sipfederationtls._tcp.<domain>`, the SRV owner name through which SIP federation " +
			"partners discover a domain's edge (and through which the proxy discovers a partner's). The result is in " +
			"lower case. Requires Terraform 1.8 or later.",
		Parameters: []function.Parameter{
			function.StringParameter{
				Name:                "domain",
				MarkdownDescription: "The domain, e.g. `domaina.com`.",
			},
		},
		Return: function.StringReturn{},
	}
}

func (f *federationSRVNameFunction) Run(ctx context.Context, req function.RunRequest, resp *function.RunResponse) {
	var domain string
	resp.Error = req.Arguments.Get(ctx, &domain)
	if resp.Error != nil {
		return
	}
	if err := api.ValidateDomain("domain", api.NormalizeName(domain)); err != nil {
		resp.Error = function.NewArgumentFuncError(0, err.Error())
		return
	}
	resp.Error = resp.Result.Set(ctx, api.FederationSRVName(domain))
}
