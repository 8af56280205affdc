package provider

import (
	"context"
	"fmt"

	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/resource"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/planmodifier"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/stringplanmodifier"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"
	"github.com/hashicorp/terraform-plugin-framework/tfsdk"
	"github.com/hashicorp/terraform-plugin-framework/types"

	"github.com/sipfed/terraform-provider-sip/internal/api"
)

// federationRoutingFQDNID is the id and import id of the singleton: there is one per proxy (or
// per cluster sharing a store).
const federationRoutingFQDNID = "federation-routing-fqdn"

var (
	_ resource.Resource                = (*federationRoutingFQDNResource)(nil)
	_ resource.ResourceWithConfigure   = (*federationRoutingFQDNResource)(nil)
	_ resource.ResourceWithImportState = (*federationRoutingFQDNResource)(nil)
)

func NewFederationRoutingFQDNResource() resource.Resource { return &federationRoutingFQDNResource{} }

type federationRoutingFQDNResource struct {
	data *providerData
}

type federationRoutingFQDNModel struct {
	ID       types.String `tfsdk:"id"`
	FQDN     types.String `tfsdk:"fqdn"`
	NodeFQDN types.String `tfsdk:"node_fqdn"`
}

func federationRoutingFQDNFromAPI(f api.FederationRoutingFQDN) federationRoutingFQDNModel {
	return federationRoutingFQDNModel{
		ID:       types.StringValue(federationRoutingFQDNID),
		FQDN:     types.StringValue(f.FQDN),
		NodeFQDN: types.StringValue(f.NodeFQDN),
	}
}

func (r *federationRoutingFQDNResource) Metadata(_ context.Context, req resource.MetadataRequest, resp *resource.MetadataResponse) {
	resp.TypeName = req.ProviderTypeName + "_federation_routing_fqdn"
}

func (r *federationRoutingFQDNResource) Schema(_ context.Context, _ resource.SchemaRequest, resp *resource.SchemaResponse) {
	resp.Schema = schema.Schema{
		MarkdownDescription: "The public name the proxy presents to partners in Record-Route and Via (the reference's " +
			"*Federation Routing IM and Presence FQDN*). It must equal the target of the enterprise's own " +
			"`_sipfederationtls._tcp` SRV records (see the `sip_federation_srv_records` data source) and be publicly " +
			"resolvable. The setting always exists: creating this resource sets it, destroying it resets it to the " +
			"node's own FQDN. Declare it once per proxy (or per cluster sharing a store).",
		Attributes: map[string]schema.Attribute{
			"id": schema.StringAttribute{
				MarkdownDescription: "Always `" + federationRoutingFQDNID + "`, the import id.",
				Computed:            true,
				PlanModifiers:       []planmodifier.String{stringplanmodifier.UseStateForUnknown()},
			},
			"fqdn": schema.StringAttribute{
				MarkdownDescription: "The public FQDN, e.g. `sipfed.example.com`, in lower case. When users are homed on the " +
					"routing node it must differ from the node's own FQDN.",
				Required:   true,
				Validators: []validator.String{domainName()},
			},
			"node_fqdn": schema.StringAttribute{
				MarkdownDescription: "The proxy node's own FQDN (`--node-fqdn`): the value `fqdn` returns to when this " +
					"resource is destroyed.",
				Computed:      true,
				PlanModifiers: []planmodifier.String{stringplanmodifier.UseStateForUnknown()},
			},
		},
	}
}

func (r *federationRoutingFQDNResource) Configure(_ context.Context, req resource.ConfigureRequest, resp *resource.ConfigureResponse) {
	r.data = configuredData(req.ProviderData, &resp.Diagnostics)
}

// Create adopts the singleton: it always exists, so creating it is setting it.
func (r *federationRoutingFQDNResource) Create(ctx context.Context, req resource.CreateRequest, resp *resource.CreateResponse) {
	var plan federationRoutingFQDNModel
	resp.Diagnostics.Append(req.Plan.Get(ctx, &plan)...)
	if resp.Diagnostics.HasError() {
		return
	}
	r.set(ctx, plan.FQDN.ValueString(), "", &resp.State, resp.Private, &resp.Diagnostics)
}

func (r *federationRoutingFQDNResource) Read(ctx context.Context, req resource.ReadRequest, resp *resource.ReadResponse) {
	f, etag, err := r.data.client.GetFederationRoutingFQDN(ctx)
	if err != nil {
		resp.Diagnostics.Append(apiDiagnostic(r.data.endpoint, "reading the federation routing FQDN", err))
		return
	}
	// A reset outside Terraform is not a deletion: the FQDN reads as the node's, and the plan
	// shows the change back to the configured name.
	resp.Diagnostics.Append(resp.State.Set(ctx, federationRoutingFQDNFromAPI(f))...)
	resp.Diagnostics.Append(setETag(ctx, resp.Private, etag)...)
}

func (r *federationRoutingFQDNResource) guard() guarded[api.FederationRoutingFQDN] {
	return guarded[api.FederationRoutingFQDN]{
		endpoint: r.data.endpoint, noun: "federation routing FQDN", readOnly: []string{"node_fqdn"},
		get: r.data.client.GetFederationRoutingFQDN,
	}
}

func (r *federationRoutingFQDNResource) Update(ctx context.Context, req resource.UpdateRequest, resp *resource.UpdateResponse) {
	var plan, prior federationRoutingFQDNModel
	resp.Diagnostics.Append(req.Plan.Get(ctx, &plan)...)
	resp.Diagnostics.Append(req.State.Get(ctx, &prior)...)
	etag, diags := getETag(ctx, req.Private)
	resp.Diagnostics.Append(diags...)
	if resp.Diagnostics.HasError() {
		return
	}
	f, etag, diags := r.guard().update(ctx, api.FederationRoutingFQDN{FQDN: prior.FQDN.ValueString()}, api.FederationRoutingFQDN{FQDN: plan.FQDN.ValueString()}, etag,
		func(ctx context.Context, v api.FederationRoutingFQDN, ifMatch string, opts ...api.CallOption) (api.FederationRoutingFQDN, string, error) {
			return r.data.client.SetFederationRoutingFQDN(ctx, v.FQDN, ifMatch, opts...)
		})
	resp.Diagnostics.Append(diags...)
	if resp.Diagnostics.HasError() {
		return
	}
	resp.Diagnostics.Append(resp.State.Set(ctx, federationRoutingFQDNFromAPI(f))...)
	resp.Diagnostics.Append(setETag(ctx, resp.Private, etag)...)
}

func (r *federationRoutingFQDNResource) set(ctx context.Context, fqdn, ifMatch string, state *tfsdk.State, private privateSetter, diags *diag.Diagnostics) {
	var pending bool
	f, etag, err := r.data.client.SetFederationRoutingFQDN(ctx, fqdn, ifMatch, api.ReportLive(&pending))
	if err != nil {
		diags.Append(apiDiagnostic(r.data.endpoint, fmt.Sprintf("setting the federation routing FQDN to %q", fqdn), err))
		return
	}
	diags.Append(state.Set(ctx, federationRoutingFQDNFromAPI(f))...)
	diags.Append(setETag(ctx, private, etag)...)
	diags.Append(notLiveYet("the federation routing FQDN", pending)...)
}

// Delete resets the FQDN to the node's own.
func (r *federationRoutingFQDNResource) Delete(ctx context.Context, req resource.DeleteRequest, resp *resource.DeleteResponse) {
	etag, diags := getETag(ctx, req.Private)
	resp.Diagnostics.Append(diags...)
	if resp.Diagnostics.HasError() {
		return
	}
	resp.Diagnostics.Append(r.guard().remove(ctx, etag, r.data.client.ResetFederationRoutingFQDN)...)
}

// ImportState accepts only the fixed id: `terraform import sip_federation_routing_fqdn.x federation-routing-fqdn`.
func (r *federationRoutingFQDNResource) ImportState(ctx context.Context, req resource.ImportStateRequest, resp *resource.ImportStateResponse) {
	if req.ID != federationRoutingFQDNID {
		resp.Diagnostics.AddError("Invalid import id",
			fmt.Sprintf("The federation routing FQDN is a singleton; its import id is always %q, not %q.", federationRoutingFQDNID, req.ID))
		return
	}
	resource.ImportStatePassthroughID(ctx, path.Root("id"), req, resp)
}
