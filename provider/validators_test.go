package provider

import (
	"context"
	"strings"
	"testing"

	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"
	"github.com/hashicorp/terraform-plugin-framework/types"
)

func validateString(v validator.String, value types.String) string {
	var resp validator.StringResponse
	v.ValidateString(context.Background(), validator.StringRequest{Path: path.Root("next_hop"), ConfigValue: value}, &resp)
	var msgs []string
	for _, d := range resp.Diagnostics.Errors() {
		msgs = append(msgs, d.Detail())
	}
	return strings.Join(msgs, "\n")
}

func TestHostNameValidator(t *testing.T) {
	for in, want := range map[string]string{
		"192.0.2.1":            "",
		"2001:db8::1":          "",
		"edge.partner.example": "",
		"2001:DB8::1":          `write "2001:db8::1"`,
		"::FFFF:192.0.2.1":     `write "::ffff:192.0.2.1"`,
		"2001:db8:0:0::1":      `write "2001:db8::1"`,
		"Edge.Partner.example": `write "edge.partner.example"`,
		"fe80::1%eth0":         `next_hop: "fe80::1%eth0": an IPv6 zone is not allowed`,
		"224.0.0.1":            `next_hop: "224.0.0.1": must be a unicast address`,
		"":                     `next_hop: must not be empty`,
	} {
		got := validateString(hostName(), types.StringValue(in))
		if want == "" && got != "" || want != "" && !strings.Contains(got, want) {
			t.Errorf("next_hop %q: got %q, want %q", in, got, want)
		}
	}
}

// Values known only at apply (references to other resources) are checked by the API then.
func TestValidatorsSkipUnknownAndNull(t *testing.T) {
	for _, v := range []validator.String{domainName(), hostName(), description(), endpointValidator{}, durationValidator{}} {
		for _, val := range []types.String{types.StringUnknown(), types.StringNull()} {
			if got := validateString(v, val); got != "" {
				t.Errorf("%T on %v: %s", v, val, got)
			}
		}
	}
}

func TestEndpointAndDurationValidators(t *testing.T) {
	for in, want := range map[string]string{
		"http://127.0.0.1:7080":      "",
		"https://sipfed.example/api": "",
		"127.0.0.1:7080":             `has no scheme: write "http://127.0.0.1:7080"`,
		"ftp://127.0.0.1":            "scheme must be http or https",
		"http://":                    "no host",
		" http://127.0.0.1:7080":     "leading or trailing spaces",
	} {
		got := validateString(endpointValidator{}, types.StringValue(in))
		if want == "" && got != "" || want != "" && !strings.Contains(got, want) {
			t.Errorf("endpoint %q: got %q, want %q", in, got, want)
		}
	}
	for in, want := range map[string]string{"30s": "", "1m30s": "", "30": "is not a duration", "0s": "must be positive"} {
		got := validateString(durationValidator{}, types.StringValue(in))
		if want == "" && got != "" || want != "" && !strings.Contains(got, want) {
			t.Errorf("request_timeout %q: got %q, want %q", in, got, want)
		}
	}
}
