package provider

import (
	"context"
	"fmt"

	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/resource"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/booldefault"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/planmodifier"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/stringplanmodifier"
	"github.com/hashicorp/terraform-plugin-framework/types"

	"github.com/sipfed/terraform-provider-sip/internal/api"
)

// federationServiceID is the id and import id of the singleton, as federationRoutingFQDNID is of
// the routing FQDN.
const federationServiceID = "federation-service"

var (
	_ resource.Resource                = (*federationServiceResource)(nil)
	_ resource.ResourceWithConfigure   = (*federationServiceResource)(nil)
	_ resource.ResourceWithImportState = (*federationServiceResource)(nil)
)

func NewFederationServiceResource() resource.Resource { return &federationServiceResource{} }

type federationServiceResource struct {
	data *providerData
}

type federationServiceModel struct {
	ID      types.String `tfsdk:"id"`
	Enabled types.Bool   `tfsdk:"enabled"`
}

func federationServiceFromAPI(s api.FederationService) federationServiceModel {
	return federationServiceModel{ID: types.StringValue(federationServiceID), Enabled: types.BoolValue(s.Enabled)}
}

func (r *federationServiceResource) Metadata(_ context.Context, req resource.MetadataRequest, resp *resource.MetadataResponse) {
	resp.TypeName = req.ProviderTypeName + "_federation_service"
}

func (r *federationServiceResource) Schema(_ context.Context, _ resource.SchemaRequest, resp *resource.SchemaResponse) {
	resp.Schema = schema.Schema{
		MarkdownDescription: "The federation service switch of the proxy (the reference's *Cisco XCP SIP Federation " +
			"Connection Manager* service): while it is off, the proxy answers every partner-bound and partner-originated " +
			"request with 503, and keeps its configuration. The switch always exists and is on in a fresh proxy: creating " +
			"this resource sets it, destroying it turns federation back on. Declare it once per proxy (or per cluster " +
			"sharing a store).",
		Attributes: map[string]schema.Attribute{
			"id": schema.StringAttribute{
				MarkdownDescription: "Always `" + federationServiceID + "`, the import id.",
				Computed:            true,
				PlanModifiers:       []planmodifier.String{stringplanmodifier.UseStateForUnknown()},
			},
			"enabled": schema.BoolAttribute{
				MarkdownDescription: "Whether the proxy federates. `false` stops all federation traffic at once, e.g. during " +
					"an incident, without losing any configuration. Default: `true`.",
				Optional: true,
				Computed: true,
				Default:  booldefault.StaticBool(true),
			},
		},
	}
}

func (r *federationServiceResource) Configure(_ context.Context, req resource.ConfigureRequest, resp *resource.ConfigureResponse) {
	r.data = configuredData(req.ProviderData, &resp.Diagnostics)
}

// Create adopts the singleton: it always exists, so creating it is setting it.
func (r *federationServiceResource) Create(ctx context.Context, req resource.CreateRequest, resp *resource.CreateResponse) {
	var plan federationServiceModel
	resp.Diagnostics.Append(req.Plan.Get(ctx, &plan)...)
	if resp.Diagnostics.HasError() {
		return
	}
	var pending bool
	s, etag, err := r.data.client.SetFederationService(ctx, plan.Enabled.ValueBool(), "", api.ReportLive(&pending))
	if err != nil {
		resp.Diagnostics.Append(apiDiagnostic(r.data.endpoint, serviceAction(plan.Enabled.ValueBool()), err))
		return
	}
	resp.Diagnostics.Append(resp.State.Set(ctx, federationServiceFromAPI(s))...)
	resp.Diagnostics.Append(setETag(ctx, resp.Private, etag)...)
	resp.Diagnostics.Append(notLiveYet("the federation service", pending)...)
}

func (r *federationServiceResource) Read(ctx context.Context, _ resource.ReadRequest, resp *resource.ReadResponse) {
	s, etag, err := r.data.client.GetFederationService(ctx)
	if err != nil {
		resp.Diagnostics.Append(apiDiagnostic(r.data.endpoint, "reading the federation service", err))
		return
	}
	// Switched outside Terraform is not deleted: the plan shows the switch back.
	resp.Diagnostics.Append(resp.State.Set(ctx, federationServiceFromAPI(s))...)
	resp.Diagnostics.Append(setETag(ctx, resp.Private, etag)...)
}

func (r *federationServiceResource) guard() guarded[api.FederationService] {
	return guarded[api.FederationService]{endpoint: r.data.endpoint, noun: "federation service", get: r.data.client.GetFederationService}
}

func (r *federationServiceResource) set(ctx context.Context, s api.FederationService, ifMatch string, opts ...api.CallOption) (api.FederationService, string, error) {
	return r.data.client.SetFederationService(ctx, s.Enabled, ifMatch, opts...)
}

func (r *federationServiceResource) Update(ctx context.Context, req resource.UpdateRequest, resp *resource.UpdateResponse) {
	var plan, prior federationServiceModel
	resp.Diagnostics.Append(req.Plan.Get(ctx, &plan)...)
	resp.Diagnostics.Append(req.State.Get(ctx, &prior)...)
	etag, diags := getETag(ctx, req.Private)
	resp.Diagnostics.Append(diags...)
	if resp.Diagnostics.HasError() {
		return
	}
	s, etag, diags := r.guard().update(ctx, api.FederationService{Enabled: prior.Enabled.ValueBool()},
		api.FederationService{Enabled: plan.Enabled.ValueBool()}, etag, r.set)
	resp.Diagnostics.Append(diags...)
	if resp.Diagnostics.HasError() {
		return
	}
	resp.Diagnostics.Append(resp.State.Set(ctx, federationServiceFromAPI(s))...)
	resp.Diagnostics.Append(setETag(ctx, resp.Private, etag)...)
}

// Delete turns federation back on, the state of a fresh proxy: a configuration that stops
// managing the switch must not leave federation off behind it.
func (r *federationServiceResource) Delete(ctx context.Context, req resource.DeleteRequest, resp *resource.DeleteResponse) {
	etag, diags := getETag(ctx, req.Private)
	resp.Diagnostics.Append(diags...)
	if resp.Diagnostics.HasError() {
		return
	}
	resp.Diagnostics.Append(r.guard().remove(ctx, etag, func(ctx context.Context, ifMatch string, opts ...api.CallOption) error {
		_, _, err := r.set(ctx, api.FederationService{Enabled: true}, ifMatch, opts...)
		return err
	})...)
}

// ImportState accepts only the fixed id: `terraform import sip_federation_service.this federation-service`.
func (r *federationServiceResource) ImportState(ctx context.Context, req resource.ImportStateRequest, resp *resource.ImportStateResponse) {
	if req.ID != federationServiceID {
		resp.Diagnostics.AddError("Invalid import id",
			fmt.Sprintf("The federation service is a singleton; its import id is always %q, not %q.", federationServiceID, req.ID))
		return
	}
	resource.ImportStatePassthroughID(ctx, path.Root("id"), req, resp)
}

func serviceAction(enabled bool) string {
	if enabled {
		return "turning the federation service on"
	}
	return "turning the federation service off"
}
