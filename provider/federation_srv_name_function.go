package provider

import (
	"github.com/hashicorp/terraform-plugin-framework/function"

	"github.com/sipfed/terraform-provider-sip/internal/api"
)

// NewFederationSRVNameFunction is provider::sip::federation_srv_name.
func NewFederationSRVNameFunction() function.Function {
	return &domainFunction{
		name:    "federation_srv_name",
		summary: "The DNS SRV name partners look up to find a domain's federation edge",
		description: "Returns `_sipfederationtls._tcp.<domain>`, the SRV owner name through which SIP federation " +
			"partners discover a domain's edge (and through which the proxy discovers a partner's). The result is in " +
			"lower case. Requires Terraform 1.8 or later.",
		param:  "The domain, e.g. `domaina.com`.",
		derive: api.FederationSRVName,
	}
}
