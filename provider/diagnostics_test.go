package provider

import (
	"context"
	"errors"
	"fmt"
	"net"
	"regexp"
	"strings"
	"testing"
	"time"

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
			detail:  []string{"Error updating x", "Run `terraform apply` again", "412"},
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
			name:    "not the admin API",
			err:     &api.Error{Status: 404, Method: "GET", URL: "http://proxy:7080/admin/v1/x", Message: "the server answered 404 Not Found"},
			summary: "Not a sipfed admin API",
			detail:  []string{"GET http://proxy:7080/admin/v1/x: HTTP 404", "changed nothing", EnvEndpoint},
		},
		{
			name:    "unknown path",
			err:     &api.Error{Status: 404, Code: api.CodeUnknownPath, Method: "GET", URL: "http://proxy:7080/admin/v1/x", Message: "no path"},
			summary: "Not a sipfed admin API",
			detail:  []string{"http://proxy:7080/admin/v1/x"},
		},
		{
			name:    "commit unknown",
			err:     &api.Error{Status: 504, Code: api.CodeCommitUnknown, Message: "the store could not say"},
			summary: "sipfed proxy could not say whether the change was stored",
			detail:  []string{"Run `terraform apply` again"},
		},
		{
			name:    "gave up retrying",
			err:     &api.GaveUpError{Attempts: 9, Elapsed: 20 * time.Second, Err: &api.Error{Status: 503, Code: api.CodeUnavailable, Method: "PUT", URL: "http://proxy:7080/v1/x", Message: "nothing was committed"}},
			summary: "sipfed admin API error",
			detail:  []string{"HTTP 503 unavailable", "gave up after 9 attempts over 20s"},
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

// updateAfterDriftCase drives optimistic locking of one resource type through the real CLI.
type updateAfterDriftCase struct {
	address string
	// v1 creates the object; v2 changes one field of it, F.
	v1, v2 string
	// changeKept changes behind Terraform's back a field the plan from v1 to v2 keeps; nil when the
	// kind has no field but F.
	changeKept func(ctx context.Context) error
	// expectKept asserts the proxy still holds that change: nothing overwrote it.
	expectKept resource.TestCheckFunc
	// changeF changes F behind Terraform's back.
	changeF      func(ctx context.Context) error
	expectV1     resource.TestCheckFunc
	expectV2     resource.TestCheckFunc
	checkDestroy resource.TestCheckFunc
}

// updateAfterDriftTest plans without refresh, so each apply carries the state and the ETag of the
// previous apply, as a saved plan applied after someone else's change does:
//
//   - a change of a field the plan keeps is refused, naming the field and what to run, and it
//     stays on the proxy; once refreshed, the apply goes through;
//   - a change of a field the plan changes anyway is overwritten: the plan showed that field's
//     new value;
//   - a destroy goes through whatever changed.
func updateAfterDriftTest(t *testing.T, p *servertest.Proxy, c updateAfterDriftCase) {
	t.Helper()
	steps := []resource.TestStep{{Config: c.v1}}
	if c.changeKept != nil {
		mustStillBeKept := func() {
			if err := c.expectKept(&terraform.State{}); err != nil {
				t.Fatalf("a refused write changed the proxy: %v", err)
			}
		}
		steps = append(steps,
			resource.TestStep{
				PreConfig:   outOfBand(t, c.changeKept),
				Config:      c.v2,
				ExpectError: regexp.MustCompile(`(?s)Object changed outside Terraform after the plan.*is now.*the plan was made with.*Run .terraform apply. again`),
			},
			resource.TestStep{
				PreConfig:          mustStillBeKept,
				RefreshState:       true,
				ExpectNonEmptyPlan: true, // the refreshed object differs from v2
			},
			resource.TestStep{
				Config: c.v2,
				ConfigPlanChecks: resource.ConfigPlanChecks{
					PreApply: []plancheck.PlanCheck{plancheck.ExpectResourceAction(c.address, plancheck.ResourceActionUpdate)},
				},
				Check: c.expectV2,
			},
		)
	} else {
		steps = append(steps, resource.TestStep{Config: c.v2, Check: c.expectV2})
	}
	steps = append(steps,
		resource.TestStep{
			PreConfig: outOfBand(t, c.changeF),
			Config:    c.v1,
			Check:     c.expectV1,
		},
		resource.TestStep{
			PreConfig: outOfBand(t, c.changeF),
			Config:    providerConfig(p),
		},
	)
	resource.ParallelTest(t, resource.TestCase{
		ProtoV6ProviderFactories: protoV6ProviderFactories,
		AdditionalCLIOptions:     &resource.AdditionalCLIOptions{Plan: resource.PlanOptions{NoRefresh: true}},
		CheckDestroy:             c.checkDestroy,
		Steps:                    steps,
	})
}
