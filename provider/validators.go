package provider

import (
	"context"
	"errors"
	"fmt"

	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"

	"github.com/sipfed/terraform-provider-sip/internal/api"
)

// Plan-time validation runs the very rules the admin API runs (internal/api), so a value that
// passes `terraform plan` is not refused at apply, and a refused one gets the API's own message,
// which names the field and the rule.

// apiString is a string validator built from an internal/api rule. normalize, when set, is the
// form the API stores the value in: any other spelling would come back different from the
// configuration after apply, so it is refused with the spelling to use instead.
type apiString struct {
	description string
	check       func(field, value string) error
	normalize   func(string) string
}

func (v apiString) Description(context.Context) string         { return v.description }
func (v apiString) MarkdownDescription(context.Context) string { return v.description }

func (v apiString) ValidateString(_ context.Context, req validator.StringRequest, resp *validator.StringResponse) {
	if req.ConfigValue.IsNull() || req.ConfigValue.IsUnknown() {
		return
	}
	field := attributeName(req.Path)
	s := req.ConfigValue.ValueString()
	if err := v.check(field, s); err != nil {
		resp.Diagnostics.AddAttributeError(req.Path, "Invalid "+field, apiMessage(field, err))
		return
	}
	if v.normalize != nil {
		if n := v.normalize(s); n != s {
			resp.Diagnostics.AddAttributeError(req.Path, "Invalid "+field, notNormalMessage(field, s, n))
		}
	}
}

func notNormalMessage(field, got, want string) string {
	return fmt.Sprintf("%s: %q is not in the form sipfed stores: write %q. The proxy keeps names in lower case "+
		"(and IP addresses in canonical form), so any other spelling would differ from the configuration after "+
		"every apply.", field, got, want)
}

// apiMessage is the API's error text for a rule, "field: message", as the proxy would answer it.
func apiMessage(field string, err error) string {
	var apiErr *api.Error
	if errors.As(err, &apiErr) {
		return apiErr.Error()
	}
	return field + ": " + err.Error()
}

// attributeName is the last step of a path: the attribute name the API uses for the field.
func attributeName(p path.Path) string {
	steps := p.Steps()
	if len(steps) == 0 {
		return p.String()
	}
	if a, ok := steps[len(steps)-1].(path.PathStepAttributeName); ok {
		return string(a)
	}
	return p.String()
}

// domainName: an RFC 1123 domain in lower case (federated domains, peer subjects, the routing FQDN).
func domainName() apiString {
	return apiString{
		description: "must be an RFC 1123 domain name in lower case",
		check:       api.ValidateDomain,
		normalize:   api.NormalizeName,
	}
}

// hostName: a next hop, an IP literal or a host name, in the form api.StaticRoute.Normalize keeps.
func hostName() apiString {
	return apiString{
		description: "must be an IP address or an RFC 1123 host name in lower case",
		check:       api.ValidateHost,
		normalize: func(s string) string {
			r := api.StaticRoute{NextHop: s}
			r.Normalize()
			return r.NextHop
		},
	}
}

// description: free text the API accepts (at most 255 characters, no control characters).
func description() apiString {
	return apiString{
		description: fmt.Sprintf("must be at most %d characters without control characters", api.MaxDescriptionLength),
		check:       api.ValidateDescription,
	}
}

// apiInt64 is an int64 validator built from an internal/api rule.
type apiInt64 struct {
	description string
	check       func(field string, v int) error
}

func (v apiInt64) Description(context.Context) string         { return v.description }
func (v apiInt64) MarkdownDescription(context.Context) string { return v.description }

func (v apiInt64) ValidateInt64(_ context.Context, req validator.Int64Request, resp *validator.Int64Response) {
	if req.ConfigValue.IsNull() || req.ConfigValue.IsUnknown() {
		return
	}
	field := attributeName(req.Path)
	n := req.ConfigValue.ValueInt64()
	// Out of int's range on a 32-bit build is out of every API range too.
	if int64(int(n)) != n {
		resp.Diagnostics.AddAttributeError(req.Path, "Invalid "+field, fmt.Sprintf("%s: %d is out of range", field, n))
		return
	}
	if err := v.check(field, int(n)); err != nil {
		resp.Diagnostics.AddAttributeError(req.Path, "Invalid "+field, apiMessage(field, err))
	}
}

func port() apiInt64 {
	return apiInt64{description: "must be a port, 1 to 65535", check: api.ValidatePort}
}

func intRange(lo, hi int) apiInt64 {
	return apiInt64{
		description: fmt.Sprintf("must be %d to %d", lo, hi),
		check:       func(field string, v int) error { return api.ValidateRange(field, v, lo, hi) },
	}
}

// endpointValidator checks the admin API's base URL with the client's own parsing rules.
type endpointValidator struct{}

func (endpointValidator) Description(context.Context) string {
	return "must be an http:// or https:// URL with a host"
}
func (v endpointValidator) MarkdownDescription(ctx context.Context) string { return v.Description(ctx) }

func (endpointValidator) ValidateString(_ context.Context, req validator.StringRequest, resp *validator.StringResponse) {
	if req.ConfigValue.IsNull() || req.ConfigValue.IsUnknown() {
		return
	}
	if err := checkEndpoint(req.ConfigValue.ValueString()); err != nil {
		resp.Diagnostics.AddAttributeError(req.Path, "Invalid sipfed endpoint", err.Error())
	}
}

// durationValidator checks a positive Go duration string.
type durationValidator struct{}

func (durationValidator) Description(context.Context) string {
	return `must be a positive Go duration such as "30s" or "2m"`
}
func (v durationValidator) MarkdownDescription(ctx context.Context) string { return v.Description(ctx) }

func (durationValidator) ValidateString(_ context.Context, req validator.StringRequest, resp *validator.StringResponse) {
	if req.ConfigValue.IsNull() || req.ConfigValue.IsUnknown() {
		return
	}
	if _, err := parseTimeout(req.ConfigValue.ValueString()); err != nil {
		resp.Diagnostics.AddAttributeError(req.Path, "Invalid "+attributeName(req.Path), err.Error())
	}
}

// sipURI: a sip: or sips: URI whose host is a domain, as the proxy's explain endpoint reads it.
func sipURI() apiString {
	return apiString{
		description: "must be a sip: or sips: URI with a domain host, e.g. sip:bob@partner.example",
		check: func(field, value string) error {
			_, err := api.ParseSIPURI(field, value)
			return err
		},
	}
}

// anyDestinationPattern: a pattern of either route type, for a filter that does not say which.
func anyDestinationPattern() apiString {
	return apiString{
		description: "must be a destination pattern of a domain route (e.g. \".com.partner.*\") or of a user route",
		check: func(field, value string) error {
			err := api.ValidateDestinationPattern(field, api.RouteTypeDomain, value)
			if err != nil && api.ValidateDestinationPattern(field, api.RouteTypeUser, value) == nil {
				return nil
			}
			return err
		},
	}
}
