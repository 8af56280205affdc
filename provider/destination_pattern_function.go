package provider

import (
	"github.com/hashicorp/terraform-plugin-framework/function"

	"github.com/sipfed/terraform-provider-sip/internal/api"
)

// NewDestinationPatternFunction is provider::sip::destination_pattern.
func NewDestinationPatternFunction() function.Function {
	return &domainFunction{
		name:    "destination_pattern",
		summary: "The static route pattern that matches a domain and its subdomains",
		description: "Returns the `destination_pattern` of a `sip_static_route` that matches `domain` and all its " +
			"subdomains: the domain's labels reversed, with a leading dot and a trailing `.*`, as the reference " +
			"configures it (`domaina.com` gives `.com.domaina.*`). The result is in lower case. Requires Terraform 1.8 or later.",
		param:  "The partner domain, e.g. `domaina.com`.",
		derive: api.DestinationPattern,
	}
}
