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
	IncomingACL      types.String `tfsdk:"incoming_acl"`
}

func (m federatedDomainModel) toAPI() api.FederatedDomain {
	return api.FederatedDomain{
		Domain:           m.Domain.ValueString(),
		Description:      m.Description.ValueString(),
		Type:             m.Type.ValueString(),
		DirectFederation: m.DirectFederation.ValueBool(),
	}
}

func federatedDomainFromAPI(d api.FederatedDomain) federatedDomainModel {
	return federatedDomainModel{
		Domain:           types.StringValue(d.Domain),
		Description:      types.StringValue(d.Description),
		Type:             types.StringValue(d.Type),
		DirectFederation: types.BoolValue(d.DirectFederation),
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
			"incoming_acl": schema.StringAttribute{
				MarkdownDescription: "The allow pattern of the incoming ACL the proxy created for this domain. Read-only: " +
					"it lives and dies with the federated domain.",
				Computed:      true,
				PlanModifiers: []planmodifier.String{stringplanmodifier.UseStateForUnknown()},
			},
		},
	}
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
	d, etag, err := r.data.client.CreateFederatedDomain(ctx, plan.toAPI())
	if err != nil {
		resp.Diagnostics.Append(createFailed(r.data.endpoint, "federated domain", plan.Domain.ValueString(), err)...)
		return
	}
	resp.Diagnostics.Append(resp.State.Set(ctx, federatedDomainFromAPI(d))...)
	resp.Diagnostics.Append(setETag(ctx, resp.Private, etag)...)
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
	resp.Diagnostics.Append(resp.State.Set(ctx, federatedDomainFromAPI(d))...)
	resp.Diagnostics.Append(setETag(ctx, resp.Private, etag)...)
}

func (r *federatedDomainResource) Update(ctx context.Context, req resource.UpdateRequest, resp *resource.UpdateResponse) {
	var plan federatedDomainModel
	resp.Diagnostics.Append(req.Plan.Get(ctx, &plan)...)
	etag, diags := getETag(ctx, req.Private)
	resp.Diagnostics.Append(diags...)
	if resp.Diagnostics.HasError() {
		return
	}
	d, etag, err := r.data.client.UpdateFederatedDomain(ctx, plan.toAPI(), etag)
	if err != nil {
		resp.Diagnostics.Append(updateFailed(r.data.endpoint, "federated domain", plan.Domain.ValueString(), err)...)
		return
	}
	resp.Diagnostics.Append(resp.State.Set(ctx, federatedDomainFromAPI(d))...)
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
	err := r.data.client.DeleteFederatedDomain(ctx, state.Domain.ValueString(), etag)
	if err != nil && !errors.Is(err, api.ErrNotFound) {
		resp.Diagnostics.Append(apiDiagnostic(r.data.endpoint, fmt.Sprintf("deleting federated domain %q", state.Domain.ValueString()), err))
	}
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
