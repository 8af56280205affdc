package provider

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/hashicorp/terraform-plugin-framework/providerserver"
	"github.com/hashicorp/terraform-plugin-go/tfprotov6"
	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/plancheck"

	"github.com/sipfed/terraform-provider-sip/internal/api"
	"github.com/sipfed/terraform-provider-sip/proxy/server/servertest"
)

// warningRecorder wraps the provider server the CLI talks to and keeps the warnings the provider
// answers PlanResourceChange with: what `terraform plan` shows the user.
type warningRecorder struct {
	tfprotov6.ProviderServer
	mu       sync.Mutex
	warnings []string
}

func (w *warningRecorder) PlanResourceChange(ctx context.Context, req *tfprotov6.PlanResourceChangeRequest) (*tfprotov6.PlanResourceChangeResponse, error) {
	resp, err := w.ProviderServer.PlanResourceChange(ctx, req)
	if resp != nil {
		w.mu.Lock()
		for _, d := range resp.Diagnostics {
			if d.Severity == tfprotov6.DiagnosticSeverityWarning {
				w.warnings = append(w.warnings, req.TypeName+": "+d.Summary+": "+d.Detail)
			}
		}
		w.mu.Unlock()
	}
	return resp, err
}

func (w *warningRecorder) reset() {
	w.mu.Lock()
	w.warnings = nil
	w.mu.Unlock()
}

// expectWarnings is a plan check on what the recorder saw while Terraform planned: exactly one
// warning per phrase in want, in any order, and no other.
func (w *warningRecorder) expectWarnings(want ...string) plancheck.PlanCheck {
	return warningsCheck{w, want}
}

type warningsCheck struct {
	w    *warningRecorder
	want []string
}

func (c warningsCheck) CheckPlan(_ context.Context, _ plancheck.CheckPlanRequest, resp *plancheck.CheckPlanResponse) {
	c.w.mu.Lock()
	got := append([]string(nil), c.w.warnings...)
	c.w.mu.Unlock()
	// The CLI plans each resource once per plan; count distinct warnings.
	seen := map[string]bool{}
	for _, g := range got {
		seen[g] = true
	}
	matched := map[string]bool{}
	for _, phrase := range c.want {
		found := false
		for g := range seen {
			if strings.Contains(g, phrase) {
				found, matched[g] = true, true
			}
		}
		if !found {
			resp.Error = fmt.Errorf("no plan warning says %q; warnings: %q", phrase, got)
			return
		}
	}
	for g := range seen {
		if !matched[g] {
			resp.Error = fmt.Errorf("unexpected plan warning %q", g)
			return
		}
	}
}

func TestAccStaticRoute_planWarnings(t *testing.T) {
	p := servertest.Start(t)
	ctx := context.Background()
	if _, _, err := p.Client.CreateFederatedDomain(ctx, api.FederatedDomain{Domain: "partner.com"}); err != nil {
		t.Fatal(err)
	}
	byHand := api.NewStaticRoute()
	byHand.DestinationPattern, byHand.NextHop, byHand.Description = ".com.partner.*", "192.0.2.10", "made with curl"
	byHand, _, err := p.Client.CreateStaticRoute(ctx, byHand)
	if err != nil {
		t.Fatal(err)
	}
	rec := &warningRecorder{}
	factories := map[string]func() (tfprotov6.ProviderServer, error){
		"sip": func() (tfprotov6.ProviderServer, error) {
			srv, err := providerserver.NewProtocol6WithError(New("test")())()
			rec.ProviderServer = srv
			return rec, err
		},
	}
	route := func(name, body string) string {
		return fmt.Sprintf("resource \"sip_static_route\" %q {\n%s\n}\n", name, body)
	}
	step := func(config string, want ...string) resource.TestStep {
		return resource.TestStep{
			PreConfig: rec.reset,
			Config:    providerConfig(p) + config,
			ConfigPlanChecks: resource.ConfigPlanChecks{
				PreApply: []plancheck.PlanCheck{rec.expectWarnings(want...)},
			},
		}
	}
	copyOfByHand := route("copy", `  destination_pattern = ".com.partner.*"
  next_hop            = "192.0.2.10"
  description         = "the same route, described otherwise"`)
	typo := route("typo", `  destination_pattern = ".com.partnr.*"
  next_hop            = "192.0.2.20"`)
	newPartner := `
resource "sip_federated_domain" "new" {
  domain = "newpartner.com"
}

resource "sip_federated_domain" "aol_hosted" {
  domain = "hosted.example"
  type   = "aol"
}
` + route("new", `  destination_pattern = ".com.newpartner.*"
  next_hop            = "192.0.2.30"
  depends_on          = [sip_federated_domain.new]`) +
		// The route of the AOL clearing house serves every domain of type aol.
		route("clearing_house", `  destination_pattern = ".com.aol"
  next_hop            = "192.0.2.40"
  depends_on          = [sip_federated_domain.aol_hosted]`) +
		route("user", `  destination_pattern = "alice*"
  route_type          = "user"
  next_hop            = "192.0.2.50"`)
	resource.ParallelTest(t, resource.TestCase{
		ProtoV6ProviderFactories: factories,
		Steps: []resource.TestStep{
			step(copyOfByHand, `Identical static route already on the proxy: Static route "`+byHand.ID+`" on the proxy already routes .com.partner.* to 192.0.2.10:5061 over tls`),
			step(copyOfByHand+typo, `Static route matches no federated domain: No federated domain on the proxy, nor any this plan creates before the route, matches ".com.partnr.*"`),
			// Routes whose domains this plan creates, a route of the default federation routing
			// domain with an aol domain, a user route: nothing to warn about. And routes already
			// applied, unchanged, are not checked again.
			step(copyOfByHand + typo + newPartner),
		},
	})
}
