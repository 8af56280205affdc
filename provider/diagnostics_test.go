package provider

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"

	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/plancheck"
	"github.com/hashicorp/terraform-plugin-testing/terraform"

	"github.com/sipfed/terraform-provider-sip/internal/api"
	"github.com/sipfed/terraform-provider-sip/proxy/server/servertest"
)

func TestAPIDiagnostic(t *testing.T) {
	for _, tc := range []struct {
		name    string
		err     error
		summary string
		detail  []string
		attr    string
	}{
		{
			name:    "precondition failed",
			err:     fmt.Errorf("PUT /v1/x: %w", &api.Error{Status: 412, Code: api.CodePreconditionFailed, Message: "If-Match does not match"}),
			summary: "Object changed outside Terraform",
			detail:  []string{"Error updating x", "terraform apply -refresh-only", "412"},
		},
		{
			name:    "unauthorized",
			err:     &api.Error{Status: 401, Code: api.CodeUnauthorized, Message: "a valid bearer token is required"},
			summary: "sipfed admin API rejected the token",
			detail:  []string{"http://proxy:7080 answered 401", EnvToken},
		},
		{
			name:    "field error points at the attribute",
			err:     api.FieldError("next_hop", "%q is neither an IP address nor a valid host name", "x_y"),
			summary: "sipfed admin API refused next_hop",
			detail:  []string{`next_hop: "x_y" is neither`},
			attr:    "next_hop",
		},
		{
			name:    "connection refused",
			err:     fmt.Errorf("GET /v1/x: %w", &net.OpError{Op: "dial", Net: "tcp", Err: errors.New("connection refused")}),
			summary: "Cannot reach the sipfed admin API",
			detail:  []string{EnvEndpoint, "currently http://proxy:7080", "--admin-addr"},
		},
		{
			name:    "deadline",
			err:     fmt.Errorf("GET /v1/x: %w", context.DeadlineExceeded),
			summary: "Cannot reach the sipfed admin API",
			detail:  []string{"request_timeout"},
		},
		{
			name:    "other API error",
			err:     &api.Error{Status: 500, Code: api.CodeInternal, Message: "disk full"},
			summary: "sipfed admin API error",
			detail:  []string{"Error updating x: disk full"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := apiDiagnostic("http://proxy:7080", "updating x", tc.err)
			if d.Severity() != diag.SeverityError {
				t.Errorf("severity %v, want error", d.Severity())
			}
			if d.Summary() != tc.summary {
				t.Errorf("summary %q, want %q", d.Summary(), tc.summary)
			}
			for _, w := range tc.detail {
				if !strings.Contains(d.Detail(), w) {
					t.Errorf("detail %q does not say %q", d.Detail(), w)
				}
			}
			ad, isAttr := d.(diag.DiagnosticWithPath)
			switch {
			case tc.attr == "" && isAttr:
				t.Errorf("diagnostic points at %v, want no attribute", ad.Path())
			case tc.attr != "" && (!isAttr || !ad.Path().Equal(path.Root(tc.attr))):
				t.Errorf("diagnostic does not point at %q", tc.attr)
			}
		})
	}
}

// preconditionFailedCase drives optimistic locking of one resource type through the real CLI.
type preconditionFailedCase struct {
	address string
	// v1 creates the object; v2 changes a field of it.
	v1, v2 string
	// changeOutOfBand changes the object on the proxy behind Terraform's back.
	changeOutOfBand func(ctx context.Context) error
	// expectOutOfBand asserts the proxy still holds the out-of-band change: nothing overwrote it.
	expectOutOfBand resource.TestCheckFunc
	expectV2        resource.TestCheckFunc
	checkDestroy    resource.TestCheckFunc
}

// preconditionFailedTest plans without refresh, so the apply carries the ETag of the previous
// apply, as a saved plan applied after someone else's change does. Both the update and the delete
// must be refused with the refresh hint, and after `apply -refresh-only` the change goes through.
func preconditionFailedTest(t *testing.T, p *servertest.Proxy, c preconditionFailedCase) {
	t.Helper()
	mustStillBeOutOfBand := func() {
		if err := c.expectOutOfBand(&terraform.State{}); err != nil {
			t.Fatalf("a refused write changed the proxy: %v", err)
		}
	}
	resource.ParallelTest(t, resource.TestCase{
		ProtoV6ProviderFactories: protoV6ProviderFactories,
		AdditionalCLIOptions:     &resource.AdditionalCLIOptions{Plan: resource.PlanOptions{NoRefresh: true}},
		CheckDestroy:             c.checkDestroy,
		Steps: []resource.TestStep{
			{Config: c.v1},
			{
				PreConfig:   outOfBand(t, c.changeOutOfBand),
				Config:      c.v2,
				ExpectError: errorRe("Object changed outside Terraform"),
			},
			{
				// The update was refused; so is the delete, with the hint to refresh.
				PreConfig:   mustStillBeOutOfBand,
				Config:      providerConfig(p),
				ExpectError: errorRe("Run `terraform apply -refresh-only` to review and accept the current values"),
			},
			{
				PreConfig:          mustStillBeOutOfBand,
				RefreshState:       true,
				ExpectNonEmptyPlan: true, // the configuration of the previous step has no resource
			},
			{
				Config: c.v2,
				ConfigPlanChecks: resource.ConfigPlanChecks{
					PreApply: []plancheck.PlanCheck{plancheck.ExpectResourceAction(c.address, plancheck.ResourceActionUpdate)},
				},
				Check: c.expectV2,
			},
		},
	})
}
