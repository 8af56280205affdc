package provider

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/hashicorp/terraform-plugin-testing/helper/resource"

	"github.com/sipfed/terraform-provider-sip/internal/api"
	"github.com/sipfed/terraform-provider-sip/proxy/server/servertest"
)

// deleteAfterDriftCase is one resource kind in the sequence: create it, change it on the
// proxy behind Terraform's back, remove it from the configuration, and run a plain apply.
type deleteAfterDriftCase struct {
	config          func(p *servertest.Proxy) string
	changeOutOfBand func(ctx context.Context, p *servertest.Proxy) error
	// expectDeleted asserts the object is gone (or, for a singleton, back to its default).
	expectDeleted func(ctx context.Context, p *servertest.Proxy) error
}

func deleteAfterDriftTest(t *testing.T, c deleteAfterDriftCase) {
	p := servertest.Start(t)
	resource.ParallelTest(t, resource.TestCase{
		ProtoV6ProviderFactories: protoV6ProviderFactories,
		Steps: []resource.TestStep{
			{Config: c.config(p)},
			{
				// A plain `terraform apply` after out-of-band drift completes the delete.
				PreConfig: outOfBand(t, func(ctx context.Context) error { return c.changeOutOfBand(ctx, p) }),
				Config:    providerConfig(p),
				Check:     apiCheck(func(ctx context.Context) error { return c.expectDeleted(ctx, p) }),
			},
		},
	})
}

func TestAccFederatedDomain_deleteAfterDrift(t *testing.T) {
	deleteAfterDriftTest(t, deleteAfterDriftCase{
		config: func(p *servertest.Proxy) string {
			return federatedDomainConfig(p, `  domain = "partner.example"`)
		},
		changeOutOfBand: func(ctx context.Context, p *servertest.Proxy) error {
			_, _, err := p.Client.UpdateFederatedDomain(ctx, api.FederatedDomain{Domain: "partner.example", Description: "by hand", Type: "lync"}, "")
			return err
		},
		expectDeleted: func(ctx context.Context, p *servertest.Proxy) error {
			if _, _, err := p.Client.GetFederatedDomain(ctx, "partner.example"); !errors.Is(err, api.ErrNotFound) {
				return fmt.Errorf("federated domain after the destroy: err = %v, want not found", err)
			}
			return nil
		},
	})
}

func TestAccStaticRoute_deleteAfterDrift(t *testing.T) {
	deleteAfterDriftTest(t, deleteAfterDriftCase{
		config: func(p *servertest.Proxy) string {
			return staticRouteConfig(p, "  destination_pattern = \".com.partner.*\"\n  next_hop = \"192.0.2.10\"")
		},
		changeOutOfBand: func(ctx context.Context, p *servertest.Proxy) error {
			l, err := p.Client.ListStaticRoutes(ctx)
			if err != nil || len(l.Items) != 1 {
				return fmt.Errorf("want the one route Terraform created, got %v (%v)", l.Items, err)
			}
			r := l.Items[0]
			r.Priority = 7
			_, _, err = p.Client.UpdateStaticRoute(ctx, r, "")
			return err
		},
		expectDeleted: func(ctx context.Context, p *servertest.Proxy) error {
			l, err := p.Client.ListStaticRoutes(ctx)
			if err != nil || len(l.Items) != 0 {
				return fmt.Errorf("static routes after the destroy: %v (%v), want none", l.Items, err)
			}
			return nil
		},
	})
}

func TestAccTLSPeerSubject_deleteAfterDrift(t *testing.T) {
	deleteAfterDriftTest(t, deleteAfterDriftCase{
		config: func(p *servertest.Proxy) string {
			return tlsPeerSubjectConfig(p, `  subject = "sip.partner.example"`)
		},
		changeOutOfBand: func(ctx context.Context, p *servertest.Proxy) error {
			_, _, err := p.Client.UpdateTLSPeerSubject(ctx, api.TLSPeerSubject{Subject: "sip.partner.example", Description: "by hand"}, "")
			return err
		},
		expectDeleted: func(ctx context.Context, p *servertest.Proxy) error {
			if _, _, err := p.Client.GetTLSPeerSubject(ctx, "sip.partner.example"); !errors.Is(err, api.ErrNotFound) {
				return fmt.Errorf("TLS peer subject after the destroy: err = %v, want not found", err)
			}
			return nil
		},
	})
}

func TestAccFederationRoutingFQDN_deleteAfterDrift(t *testing.T) {
	deleteAfterDriftTest(t, deleteAfterDriftCase{
		config: func(p *servertest.Proxy) string { return routingFQDNConfig(p, "sipfed.example.com") },
		changeOutOfBand: func(ctx context.Context, p *servertest.Proxy) error {
			_, _, err := p.Client.SetFederationRoutingFQDN(ctx, "by-hand.example.com", "")
			return err
		},
		expectDeleted: func(ctx context.Context, p *servertest.Proxy) error {
			f, _, err := p.Client.GetFederationRoutingFQDN(ctx)
			if err != nil || f.FQDN != f.NodeFQDN {
				return fmt.Errorf("routing FQDN after the destroy: %+v (%v), want the node FQDN", f, err)
			}
			return nil
		},
	})
}

func TestUnseenChanges(t *testing.T) {
	d := func(desc, typ string, subjects ...string) api.FederatedDomain {
		return api.FederatedDomain{Domain: "partner.example", Description: desc, Type: typ, PeerSubjects: subjects, IncomingACL: "partner.example"}
	}
	prior, planned := d("v1", "lync", "a.example"), d("v2", "lync", "a.example")
	for _, tc := range []struct {
		name    string
		current api.FederatedDomain
		want    []string
	}{
		{"unchanged", prior, nil},
		{"a field the plan changes anyway", d("by hand", "lync", "a.example"), nil},
		{"a field the plan keeps", d("v1", "aol", "a.example"), []string{`type is now "aol" (the plan was made with "lync")`}},
		{"a list the plan keeps", d("v1", "lync", "a.example", "b.example"), []string{`peer_subjects is now ["a.example","b.example"] (the plan was made with ["a.example"])`}},
		{"a field the plan keeps, cleared", d("v1", "lync"), []string{`peer_subjects is now unset (the plan was made with ["a.example"])`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := unseenChanges(prior, planned, tc.current, []string{"incoming_acl"})
			if fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Errorf("unseenChanges = %q, want %q", got, tc.want)
			}
		})
	}
	// Read-only fields are the proxy's, never a change.
	cur := planned
	cur.IncomingACL = "changed"
	if got := fieldChanges(planned, cur, []string{"incoming_acl"}); len(got) != 0 {
		t.Errorf("fieldChanges counted a read-only field: %q", got)
	}
}
