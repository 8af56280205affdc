package provider

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/plancheck"
	"github.com/hashicorp/terraform-plugin-testing/terraform"

	"github.com/sipfed/terraform-provider-sip/internal/api"
	"github.com/sipfed/terraform-provider-sip/proxy/server/servertest"
)

const tlsPeerSubjectAddr = "sip_tls_peer_subject.test"

func tlsPeerSubjectConfig(p *servertest.Proxy, body string) string {
	return providerConfig(p) + fmt.Sprintf(`
resource "sip_tls_peer_subject" "test" {
%s
}
`, body)
}

func expectTLSPeerSubject(p *servertest.Proxy, want api.TLSPeerSubject) resource.TestCheckFunc {
	return apiCheck(func(ctx context.Context) error {
		got, _, err := p.Client.GetTLSPeerSubject(ctx, want.Subject)
		if err != nil {
			return fmt.Errorf("TLS peer subject %q on the proxy: %w", want.Subject, err)
		}
		if got != want {
			return fmt.Errorf("TLS peer subject on the proxy:\n got %+v\nwant %+v", got, want)
		}
		return nil
	})
}

func expectNoTLSPeerSubject(p *servertest.Proxy, subject string) resource.TestCheckFunc {
	return apiCheck(func(ctx context.Context) error {
		_, _, err := p.Client.GetTLSPeerSubject(ctx, subject)
		if !errors.Is(err, api.ErrNotFound) {
			return fmt.Errorf("TLS peer subject %q: want not found on the proxy, got err=%v", subject, err)
		}
		return nil
	})
}

func checkTLSPeerSubjectsDestroyed(p *servertest.Proxy) resource.TestCheckFunc {
	return func(s *terraform.State) error {
		for _, rs := range s.RootModule().Resources {
			if rs.Type != "sip_tls_peer_subject" {
				continue
			}
			if err := expectNoTLSPeerSubject(p, rs.Primary.Attributes["subject"])(s); err != nil {
				return err
			}
		}
		return nil
	}
}

func TestAccTLSPeerSubject_lifecycle(t *testing.T) {
	p := servertest.Start(t)
	const edge = "  subject     = \"sip.partner.example\"\n  description = \"Partner Access Edge\""
	resource.ParallelTest(t, resource.TestCase{
		ProtoV6ProviderFactories: protoV6ProviderFactories,
		CheckDestroy:             checkTLSPeerSubjectsDestroyed(p),
		Steps: []resource.TestStep{
			{
				Config: tlsPeerSubjectConfig(p, `  subject = "sip.partner.example"`),
				ConfigPlanChecks: resource.ConfigPlanChecks{
					PreApply:             []plancheck.PlanCheck{plancheck.ExpectResourceAction(tlsPeerSubjectAddr, plancheck.ResourceActionCreate)},
					PostApplyPostRefresh: []plancheck.PlanCheck{plancheck.ExpectEmptyPlan()},
				},
				Check: resource.ComposeAggregateTestCheckFunc(
					resource.TestCheckResourceAttr(tlsPeerSubjectAddr, "description", ""),
					expectTLSPeerSubject(p, api.TLSPeerSubject{Subject: "sip.partner.example"}),
				),
			},
			{
				ResourceName:                         tlsPeerSubjectAddr,
				ImportState:                          true,
				ImportStateId:                        "sip.partner.example",
				ImportStateVerify:                    true,
				ImportStateVerifyIdentifierAttribute: "subject",
			},
			{
				Config: tlsPeerSubjectConfig(p, edge),
				ConfigPlanChecks: resource.ConfigPlanChecks{
					PreApply:             []plancheck.PlanCheck{plancheck.ExpectResourceAction(tlsPeerSubjectAddr, plancheck.ResourceActionUpdate)},
					PostApplyPostRefresh: []plancheck.PlanCheck{plancheck.ExpectEmptyPlan()},
				},
				Check: expectTLSPeerSubject(p, api.TLSPeerSubject{Subject: "sip.partner.example", Description: "Partner Access Edge"}),
			},
			{
				PreConfig: outOfBand(t, func(ctx context.Context) error {
					_, _, err := p.Client.UpdateTLSPeerSubject(ctx, api.TLSPeerSubject{Subject: "sip.partner.example", Description: "by hand"}, "")
					return err
				}),
				Config: tlsPeerSubjectConfig(p, edge),
				ConfigPlanChecks: resource.ConfigPlanChecks{
					PreApply: []plancheck.PlanCheck{plancheck.ExpectResourceAction(tlsPeerSubjectAddr, plancheck.ResourceActionUpdate)},
				},
				Check: expectTLSPeerSubject(p, api.TLSPeerSubject{Subject: "sip.partner.example", Description: "Partner Access Edge"}),
			},
			{
				PreConfig: outOfBand(t, func(ctx context.Context) error {
					return p.Client.DeleteTLSPeerSubject(ctx, "sip.partner.example", "")
				}),
				Config: tlsPeerSubjectConfig(p, edge),
				ConfigPlanChecks: resource.ConfigPlanChecks{
					PreApply: []plancheck.PlanCheck{plancheck.ExpectResourceAction(tlsPeerSubjectAddr, plancheck.ResourceActionCreate)},
				},
				Check: expectTLSPeerSubject(p, api.TLSPeerSubject{Subject: "sip.partner.example", Description: "Partner Access Edge"}),
			},
			{
				Config: tlsPeerSubjectConfig(p, "  subject     = \"edge2.partner.example\"\n  description = \"Partner Access Edge\""),
				ConfigPlanChecks: resource.ConfigPlanChecks{
					PreApply:             []plancheck.PlanCheck{plancheck.ExpectResourceAction(tlsPeerSubjectAddr, plancheck.ResourceActionDestroyBeforeCreate)},
					PostApplyPostRefresh: []plancheck.PlanCheck{plancheck.ExpectEmptyPlan()},
				},
				Check: resource.ComposeAggregateTestCheckFunc(
					expectNoTLSPeerSubject(p, "sip.partner.example"),
					expectTLSPeerSubject(p, api.TLSPeerSubject{Subject: "edge2.partner.example", Description: "Partner Access Edge"}),
				),
			},
		},
	})
}

func TestAccTLSPeerSubject_planTimeValidation(t *testing.T) {
	step := func(body, want string) resource.TestStep {
		return resource.TestStep{
			Config:      unreachableProviderConfig + "resource \"sip_tls_peer_subject\" \"test\" {\n" + body + "\n}\n",
			PlanOnly:    true,
			ExpectError: errorRe(want),
		}
	}
	resource.ParallelTest(t, resource.TestCase{
		ProtoV6ProviderFactories: protoV6ProviderFactories,
		Steps: []resource.TestStep{
			step(`subject = "*.partner.example"`, `subject: "*.partner.example": a domain must not contain a wildcard`),
			step(`subject = "SIP.partner.example"`, `subject: "SIP.partner.example" is not in the form sipfed stores: write "sip.partner.example"`),
			step(`subject = "-edge.partner.example"`, `subject: "-edge.partner.example": label "-edge" must not start or end with a hyphen`),
		},
	})
}

func TestAccTLSPeerSubject_updateAfterDrift(t *testing.T) {
	p := servertest.Start(t)
	subject := func(desc string) api.TLSPeerSubject {
		return api.TLSPeerSubject{Subject: "sip.partner.example", Description: desc}
	}
	updateAfterDriftTest(t, p, updateAfterDriftCase{
		address: tlsPeerSubjectAddr,
		v1:      tlsPeerSubjectConfig(p, "  subject = \"sip.partner.example\"\n  description = \"v1\""),
		v2:      tlsPeerSubjectConfig(p, "  subject = \"sip.partner.example\"\n  description = \"v2\""),
		changeF: func(ctx context.Context) error {
			_, _, err := p.Client.UpdateTLSPeerSubject(ctx, subject("by hand"), "")
			return err
		},
		expectV1:     expectTLSPeerSubject(p, subject("v1")),
		expectV2:     expectTLSPeerSubject(p, subject("v2")),
		checkDestroy: checkTLSPeerSubjectsDestroyed(p),
	})
}
