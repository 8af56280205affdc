package provider

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/knownvalue"
	"github.com/hashicorp/terraform-plugin-testing/plancheck"
	"github.com/hashicorp/terraform-plugin-testing/statecheck"
	"github.com/hashicorp/terraform-plugin-testing/tfjsonpath"

	"github.com/sipfed/terraform-provider-sip/internal/api"
	"github.com/sipfed/terraform-provider-sip/proxy/server/servertest"
)

const peerSubjectsResources = `
resource "sip_tls_peer_subject" "a" {
  subject = "sip-a.partner.example"
}

resource "sip_tls_peer_subject" "b" {
  subject = "sip-b.partner.example"
}
`

func domainWithSubjects(p *servertest.Proxy, subjects string) string {
	body := `  domain = "partner.example"`
	if subjects != "" {
		body += "\n  peer_subjects = " + subjects
	}
	return federatedDomainConfig(p, body) + peerSubjectsResources
}

func withPeerSubjects(subjects ...string) api.FederatedDomain {
	return api.FederatedDomain{Domain: "partner.example", Type: "lync", IncomingACL: "partner.example", PeerSubjects: subjects}
}

func TestAccFederatedDomain_peerSubjects(t *testing.T) {
	p := servertest.Start(t)
	both := "[sip_tls_peer_subject.b.subject, sip_tls_peer_subject.a.subject]"
	set := func(vals ...string) knownvalue.Check {
		checks := make([]knownvalue.Check, len(vals))
		for i, v := range vals {
			checks[i] = knownvalue.StringExact(v)
		}
		return knownvalue.SetExact(checks)
	}
	resource.ParallelTest(t, resource.TestCase{
		ProtoV6ProviderFactories: protoV6ProviderFactories,
		CheckDestroy:             checkFederatedDomainsDestroyed(p),
		Steps: []resource.TestStep{
			{
				Config: domainWithSubjects(p, both),
				ConfigStateChecks: []statecheck.StateCheck{
					statecheck.ExpectKnownValue(federatedDomainAddr, tfjsonpath.New("peer_subjects"), set("sip-a.partner.example", "sip-b.partner.example")),
				},
				ConfigPlanChecks: resource.ConfigPlanChecks{PostApplyPostRefresh: []plancheck.PlanCheck{plancheck.ExpectEmptyPlan()}},
				Check:            expectFederatedDomain(p, withPeerSubjects("sip-a.partner.example", "sip-b.partner.example")),
			},
			{
				ResourceName: federatedDomainAddr, ImportState: true, ImportStateId: "partner.example",
				ImportStateVerify: true, ImportStateVerifyIdentifierAttribute: "domain",
			},
			// Drift: a subject removed by hand is put back.
			{
				PreConfig: outOfBand(t, func(ctx context.Context) error {
					_, _, err := p.Client.UpdateFederatedDomain(ctx, withPeerSubjects("sip-a.partner.example"), "")
					return err
				}),
				Config: domainWithSubjects(p, both),
				ConfigPlanChecks: resource.ConfigPlanChecks{
					PreApply: []plancheck.PlanCheck{
						plancheck.ExpectResourceAction(federatedDomainAddr, plancheck.ResourceActionUpdate),
						plancheck.ExpectKnownValue(federatedDomainAddr, tfjsonpath.New("peer_subjects"), set("sip-a.partner.example", "sip-b.partner.example")),
					},
				},
				Check: expectFederatedDomain(p, withPeerSubjects("sip-a.partner.example", "sip-b.partner.example")),
			},
			// An empty set means any TLS peer subject, as leaving it out does; the state says what the
			// configuration says, so neither plans a change after apply.
			{
				Config:            domainWithSubjects(p, "[]"),
				ConfigStateChecks: []statecheck.StateCheck{statecheck.ExpectKnownValue(federatedDomainAddr, tfjsonpath.New("peer_subjects"), set())},
				ConfigPlanChecks:  resource.ConfigPlanChecks{PostApplyPostRefresh: []plancheck.PlanCheck{plancheck.ExpectEmptyPlan()}},
				Check:             expectFederatedDomain(p, withPeerSubjects()),
			},
			{
				Config:            domainWithSubjects(p, ""),
				ConfigStateChecks: []statecheck.StateCheck{statecheck.ExpectKnownValue(federatedDomainAddr, tfjsonpath.New("peer_subjects"), knownvalue.Null())},
				ConfigPlanChecks:  resource.ConfigPlanChecks{PostApplyPostRefresh: []plancheck.PlanCheck{plancheck.ExpectEmptyPlan()}},
				Check:             expectFederatedDomain(p, withPeerSubjects()),
			},
			// A name that is no TLS peer subject is the proxy's to refuse, naming the attribute.
			{
				Config:      domainWithSubjects(p, `["sip-c.partner.example"]`),
				ExpectError: errorRe(`peer_subjects: names "sip-c.partner.example", which is not a TLS peer subject`),
			},
		},
	})
}

func TestAccFederatedDomain_peerSubjectsPlanTimeValidation(t *testing.T) {
	step := func(subjects, want string) resource.TestStep {
		return resource.TestStep{
			Config:      unreachableProviderConfig + "resource \"sip_federated_domain\" \"test\" {\n  domain = \"partner.example\"\n  peer_subjects = " + subjects + "\n}\n",
			PlanOnly:    true,
			ExpectError: errorRe(want),
		}
	}
	many := make([]string, api.MaxPeerSubjectsPerDomain+1)
	for i := range many {
		many[i] = fmt.Sprintf("%q", fmt.Sprintf("edge%02d.partner.example", i))
	}
	resource.ParallelTest(t, resource.TestCase{
		ProtoV6ProviderFactories: protoV6ProviderFactories,
		Steps: []resource.TestStep{
			step(`["Sip.Partner.example"]`, `peer_subjects: "Sip.Partner.example" is not in the form sipfed stores: write "sip.partner.example"`),
			step(`["*.partner.example"]`, `peer_subjects: "*.partner.example": a domain must not contain a wildcard`),
			step(`["sip..partner.example"]`, `peer_subjects: "sip..partner.example": empty label`),
			step(`[`+strings.Join(many, ", ")+`]`, fmt.Sprintf(`peer_subjects: has %d names; at most %d are allowed`, len(many), api.MaxPeerSubjectsPerDomain)),
		},
	})
}
