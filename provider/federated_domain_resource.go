package provider

import (
	"context"
	"errors"
	"fmt"

	"github.com/hashicorp/terraform-plugin-framework-validators/stringvalidator"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/resource"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/booldefault"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/planmodifier"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/stringdefault"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/stringplanmodifier"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"
	"github.com/hashicorp/terraform-plugin-framework/types"

	"github.com/sipfed/terraform-provider-sip/internal/api"
)

var (
	_ resource.Resource                = (*federatedDomainResource)(nil)
	_ resource.ResourceWithConfigure   = (*federatedDomainResource)(nil)
	_ resource.ResourceWithImportState = (*federatedDomainResource)(nil)
	_ resource.ResourceWithModifyPlan  = (*federatedDomainResource)(nil)
)

func NewFederatedDomainResource() resource.Resource { return &federatedDomainResource{} }

type federatedDomainResource struct {
	data *providerData
}

type federatedDomainModel struct {
	Domain           types.String `tfsdk:"domain"`
	Description      types.String `tfsdk:"description"`
	Type             types.String `tfsdk:"type"`
	DirectFederation types.Bool   `tfsdk:"direct_federation"`
	PeerSubjects     types.Set    `tfsdk:"peer_subjects"`
	IncomingACL      types.String `tfsdk:"incoming_acl"`
}

func (m federatedDomainModel) toAPI() api.FederatedDomain {
	return api.FederatedDomain{
		Domain:           m.Domain.ValueString(),
		Description:      m.Description.ValueString(),
		Type:             m.Type.ValueString(),
		DirectFederation: m.DirectFederation.ValueBool(),
		// In the order the proxy keeps them, so that comparing with what it answers compares names.
		PeerSubjects: api.NormalizeNames(setStrings(m.PeerSubjects)),
	}
}

// federatedDomainFromAPI converts a domain for the state. The API does not tell "no
// peer_subjects" from an empty list, so prior, the value the configuration or state had, decides
// which of the two the state shows: an empty set stays empty, anything else becomes null.
func federatedDomainFromAPI(d api.FederatedDomain, prior types.Set) federatedDomainModel {
	return federatedDomainModel{
		Domain:           types.StringValue(d.Domain),
		Description:      types.StringValue(d.Description),
		Type:             types.StringValue(d.Type),
		DirectFederation: types.BoolValue(d.DirectFederation),
		PeerSubjects:     stringSet(d.PeerSubjects, prior),
		IncomingACL:      types.StringValue(d.IncomingACL),
	}
}

func (r *federatedDomainResource) Metadata(_ context.Context, req resource.MetadataRequest, resp *resource.MetadataResponse) {
	resp.TypeName = req.ProviderTypeName + "_federated_domain"
}

func (r *federatedDomainResource) Schema(_ context.Context, _ resource.SchemaRequest, resp *resource.SchemaResponse) {
	resp.Schema = schema.Schema{
		MarkdownDescription: "A partner domain that local users may exchange SIP with (the reference's *SIP Federated Domain*). " +
			"Creating it also creates its incoming ACL, which allows inbound traffic from the domain and goes away with it. " +
			"Outbound requests to the domain are routed by a static route when one matches, else by DNS SRV discovery of " +
			"`_sipfederationtls._tcp.<domain>`; a change is live on the proxy when apply returns, without restart.",
		Attributes: map[string]schema.Attribute{
			"domain": schema.StringAttribute{
				MarkdownDescription: "The partner's domain, e.g. `partner.example`: an RFC 1123 name in lower case. " +
					"Changing it replaces the federated domain (and its incoming ACL).",
				Required:      true,
				PlanModifiers: []planmodifier.String{stringplanmodifier.RequiresReplace()},
				Validators:    []validator.String{domainName()},
			},
			"description": schema.StringAttribute{
				MarkdownDescription: fmt.Sprintf("Text that identifies the partner to users (the reference shows it in "+
					"Jabber's privacy preferences). At most %d characters. Default: empty.", api.MaxDescriptionLength),
				Optional:   true,
				Computed:   true,
				Default:    stringdefault.StaticString(""),
				Validators: []validator.String{description()},
			},
			"type": schema.StringAttribute{
				MarkdownDescription: "`lync` for a Microsoft Lync/Skype for Business (or any directly reachable) partner, " +
					"routed by static route then SRV; `aol` for a domain hosted by or federating through AOL, which falls " +
					"back to the default federation routing domain (`aol.com` unless set on the proxy). Default: `" +
					api.DefaultDomainType + "`.",
				Optional: true,
				Computed: true,
				Default:  stringdefault.StaticString(api.DefaultDomainType),
				Validators: []validator.String{
					stringvalidator.OneOf(api.DomainTypeLync, api.DomainTypeAOL),
				},
			},
			"direct_federation": schema.BoolAttribute{
				MarkdownDescription: "Federation directly with the partner, e.g. through a firewall TLS proxy: the proxy then " +
					"presents its node FQDN instead of the federation routing FQDN. Leave `false` for Microsoft federation " +
					"through an Access Edge. Default: `false`.",
				Optional: true,
				Computed: true,
				Default:  booldefault.StaticBool(false),
			},
			"peer_subjects": schema.SetAttribute{
				MarkdownDescription: fmt.Sprintf("The only TLS peer subjects that may send for this domain and receive its "+
					"traffic: a partner edge's certificate identity must be one of them, inbound and outbound. Each must be a "+
					"`sip_tls_peer_subject` (reference it, e.g. `[sip_tls_peer_subject.edge.subject]`, so that it is created "+
					"first), in lower case; at most %d. Unset or empty: any TLS peer subject.", api.MaxPeerSubjectsPerDomain),
				Optional:    true,
				ElementType: types.StringType,
				Validators:  []validator.Set{peerSubjects()},
			},
			"incoming_acl": schema.StringAttribute{
				MarkdownDescription: "The allow pattern of the incoming ACL the proxy created for this domain. Read-only: " +
					"it lives and dies with the federated domain.",
				Computed:      true,
				PlanModifiers: []planmodifier.String{stringplanmodifier.UseStateForUnknown()},
			},
		},
	}
}

// ModifyPlan makes the domains of this plan known to the routes planned after them, so that a
// route to a domain created in the same apply gets no "matches no federated domain" warning.
func (r *federatedDomainResource) ModifyPlan(ctx context.Context, req resource.ModifyPlanRequest, resp *resource.ModifyPlanResponse) {
	if r.data == nil || req.Plan.Raw.IsNull() {
		return
	}
	var domain, typ types.String
	resp.Diagnostics.Append(req.Plan.GetAttribute(ctx, path.Root("domain"), &domain)...)
	resp.Diagnostics.Append(req.Plan.GetAttribute(ctx, path.Root("type"), &typ)...)
	if resp.Diagnostics.HasError() || domain.IsUnknown() || domain.IsNull() {
		return
	}
	r.data.view.planDomain(domain.ValueString(), typ.ValueString())
}

func (r *federatedDomainResource) Configure(_ context.Context, req resource.ConfigureRequest, resp *resource.ConfigureResponse) {
	r.data = configuredData(req.ProviderData, &resp.Diagnostics)
}

func (r *federatedDomainResource) Create(ctx context.Context, req resource.CreateRequest, resp *resource.CreateResponse) {
	var plan federatedDomainModel
	resp.Diagnostics.Append(req.Plan.Get(ctx, &plan)...)
	if resp.Diagnostics.HasError() {
		return
	}
	var pending bool
	d, etag, err := r.data.client.CreateFederatedDomain(ctx, plan.toAPI(), api.WithIdempotencyKey(api.NewIdempotencyKey()), api.ReportLive(&pending))
	if err != nil {
		resp.Diagnostics.Append(createFailed(r.data.endpoint, "federated domain", plan.Domain.ValueString(), err)...)
		return
	}
	resp.Diagnostics.Append(resp.State.Set(ctx, federatedDomainFromAPI(d, plan.PeerSubjects))...)
	resp.Diagnostics.Append(setETag(ctx, resp.Private, etag)...)
	resp.Diagnostics.Append(notLiveYet(fmt.Sprintf("federated domain %q", d.Domain), pending)...)
}

func (r *federatedDomainResource) Read(ctx context.Context, req resource.ReadRequest, resp *resource.ReadResponse) {
	var state federatedDomainModel
	resp.Diagnostics.Append(req.State.Get(ctx, &state)...)
	if resp.Diagnostics.HasError() {
		return
	}
	d, etag, err := r.data.client.GetFederatedDomain(ctx, state.Domain.ValueString())
	if errors.Is(err, api.ErrNotFound) {
		// Deleted outside Terraform: forget it, so that the plan creates it again.
		resp.State.RemoveResource(ctx)
		return
	}
	if err != nil {
		resp.Diagnostics.Append(apiDiagnostic(r.data.endpoint, fmt.Sprintf("reading federated domain %q", state.Domain.ValueString()), err))
		return
	}
	resp.Diagnostics.Append(resp.State.Set(ctx, federatedDomainFromAPI(d, state.PeerSubjects))...)
	resp.Diagnostics.Append(setETag(ctx, resp.Private, etag)...)
}

func (r *federatedDomainResource) guard(domain string) guarded[api.FederatedDomain] {
	return guarded[api.FederatedDomain]{
		endpoint: r.data.endpoint, noun: "federated domain", id: domain, readOnly: []string{"incoming_acl"},
		get: func(ctx context.Context) (api.FederatedDomain, string, error) {
			return r.data.client.GetFederatedDomain(ctx, domain)
		},
	}
}

func (r *federatedDomainResource) Update(ctx context.Context, req resource.UpdateRequest, resp *resource.UpdateResponse) {
	var plan, prior federatedDomainModel
	resp.Diagnostics.Append(req.Plan.Get(ctx, &plan)...)
	resp.Diagnostics.Append(req.State.Get(ctx, &prior)...)
	etag, diags := getETag(ctx, req.Private)
	resp.Diagnostics.Append(diags...)
	if resp.Diagnostics.HasError() {
		return
	}
	d, etag, diags := r.guard(plan.Domain.ValueString()).update(ctx, prior.toAPI(), plan.toAPI(), etag, r.data.client.UpdateFederatedDomain)
	resp.Diagnostics.Append(diags...)
	if resp.Diagnostics.HasError() {
		return
	}
	resp.Diagnostics.Append(resp.State.Set(ctx, federatedDomainFromAPI(d, plan.PeerSubjects))...)
	resp.Diagnostics.Append(setETag(ctx, resp.Private, etag)...)
}

func (r *federatedDomainResource) Delete(ctx context.Context, req resource.DeleteRequest, resp *resource.DeleteResponse) {
	var state federatedDomainModel
	resp.Diagnostics.Append(req.State.Get(ctx, &state)...)
	etag, diags := getETag(ctx, req.Private)
	resp.Diagnostics.Append(diags...)
	if resp.Diagnostics.HasError() {
		return
	}
	domain := state.Domain.ValueString()
	resp.Diagnostics.Append(r.guard(domain).remove(ctx, etag, func(ctx context.Context, ifMatch string, opts ...api.CallOption) error {
		return r.data.client.DeleteFederatedDomain(ctx, domain, ifMatch, opts...)
	})...)
}

// ImportState takes the domain as the import id: `terraform import sip_federated_domain.x partner.example`.
func (r *federatedDomainResource) ImportState(ctx context.Context, req resource.ImportStateRequest, resp *resource.ImportStateResponse) {
	if err := api.ValidateDomain("domain", req.ID); err != nil {
		resp.Diagnostics.AddError("Invalid import id",
			fmt.Sprintf("The import id of a sip_federated_domain is its domain, e.g. partner.example: %s", err))
		return
	}
	resource.ImportStatePassthroughID(ctx, path.Root("domain"), req, resp)
}
