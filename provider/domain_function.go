package provider

import (
	"context"

	"github.com/hashicorp/terraform-plugin-framework/function"

	"github.com/sipfed/terraform-provider-sip/internal/api"
)

// domainFunction is a provider function of one domain argument that returns a name derived from
// it; the domain must pass the API's domain rule.
type domainFunction struct {
	name, summary, description, param string
	derive                            func(domain string) string
}

var _ function.Function = (*domainFunction)(nil)

func (f *domainFunction) Metadata(_ context.Context, _ function.MetadataRequest, resp *function.MetadataResponse) {
	resp.Name = f.name
}

func (f *domainFunction) Definition(_ context.Context, _ function.DefinitionRequest, resp *function.DefinitionResponse) {
	resp.Definition = function.Definition{
		Summary:             f.summary,
		MarkdownDescription: f.description,
		Parameters: []function.Parameter{
			function.StringParameter{Name: "domain", MarkdownDescription: f.param},
		},
		Return: function.StringReturn{},
	}
}

func (f *domainFunction) Run(ctx context.Context, req function.RunRequest, resp *function.RunResponse) {
	var domain string
	resp.Error = req.Arguments.Get(ctx, &domain)
	if resp.Error != nil {
		return
	}
	if err := api.ValidateDomain("domain", api.NormalizeName(domain)); err != nil {
		resp.Error = function.NewArgumentFuncError(0, err.Error())
		return
	}
	resp.Error = resp.Result.Set(ctx, f.derive(domain))
}
