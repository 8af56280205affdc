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
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/int64default"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/planmodifier"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/stringdefault"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/stringplanmodifier"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"
	"github.com/hashicorp/terraform-plugin-framework/types"

	"github.com/sipfed/terraform-provider-sip/internal/api"
)

var (
	_ resource.Resource                   = (*staticRouteResource)(nil)
	_ resource.ResourceWithConfigure      = (*staticRouteResource)(nil)
	_ resource.ResourceWithImportState    = (*staticRouteResource)(nil)
	_ resource.ResourceWithValidateConfig = (*staticRouteResource)(nil)
	_ resource.ResourceWithModifyPlan     = (*staticRouteResource)(nil)
)

func NewStaticRouteResource() resource.Resource { return &staticRouteResource{} }

type staticRouteResource struct {
	data *providerData
}

type staticRouteModel struct {
	ID                 types.String `tfsdk:"id"`
	DestinationPattern types.String `tfsdk:"destination_pattern"`
	NextHop            types.String `tfsdk:"next_hop"`
	NextHopPort        types.Int64  `tfsdk:"next_hop_port"`
	Protocol           types.String `tfsdk:"protocol"`
	RouteType          types.String `tfsdk:"route_type"`
	Priority           types.Int64  `tfsdk:"priority"`
	Weight             types.Int64  `tfsdk:"weight"`
	AllowLessSpecific  types.Bool   `tfsdk:"allow_less_specific"`
	InService          types.Bool   `tfsdk:"in_service"`
	Block              types.Bool   `tfsdk:"block"`
	Description        types.String `tfsdk:"description"`
}

// toAPI sends every field: a PUT gives omitted fields the API's defaults, not the stored values.
func (m staticRouteModel) toAPI() api.StaticRoute {
	return api.StaticRoute{
		ID:                 m.ID.ValueString(),
		DestinationPattern: m.DestinationPattern.ValueString(),
		NextHop:            m.NextHop.ValueString(),
		NextHopPort:        int(m.NextHopPort.ValueInt64()),
		Protocol:           m.Protocol.ValueString(),
		RouteType:          m.RouteType.ValueString(),
		Priority:           int(m.Priority.ValueInt64()),
		Weight:             int(m.Weight.ValueInt64()),
		AllowLessSpecific:  m.AllowLessSpecific.ValueBool(),
		InService:          m.InService.ValueBool(),
		Block:              m.Block.ValueBool(),
		Description:        m.Description.ValueString(),
	}
}

// routingKnown reports whether every field that decides how the route routes is known.
func (m staticRouteModel) routingKnown() bool {
	for _, v := range []interface{ IsUnknown() bool }{m.DestinationPattern, m.NextHop, m.NextHopPort, m.Protocol, m.RouteType,
		m.Priority, m.Weight, m.AllowLessSpecific, m.InService, m.Block} {
		if v.IsUnknown() {
			return false
		}
	}
	return true
}

func staticRouteFromAPI(r api.StaticRoute) staticRouteModel {
	return staticRouteModel{
		ID:                 types.StringValue(r.ID),
		DestinationPattern: types.StringValue(r.DestinationPattern),
		NextHop:            types.StringValue(r.NextHop),
		NextHopPort:        types.Int64Value(int64(r.NextHopPort)),
		Protocol:           types.StringValue(r.Protocol),
		RouteType:          types.StringValue(r.RouteType),
		Priority:           types.Int64Value(int64(r.Priority)),
		Weight:             types.Int64Value(int64(r.Weight)),
		AllowLessSpecific:  types.BoolValue(r.AllowLessSpecific),
		InService:          types.BoolValue(r.InService),
		Block:              types.BoolValue(r.Block),
		Description:        types.StringValue(r.Description),
	}
}

func (r *staticRouteResource) Metadata(_ context.Context, req resource.MetadataRequest, resp *resource.MetadataResponse) {
	resp.TypeName = req.ProviderTypeName + "_static_route"
}

func (r *staticRouteResource) Schema(_ context.Context, _ resource.SchemaRequest, resp *resource.SchemaResponse) {
	resp.Schema = schema.Schema{
		MarkdownDescription: "A hand-made route toward a partner's edge, for partners that DNS SRV cannot find (the " +
			"reference's *Static Route*). The most specific matching pattern wins; among the routes of one pattern, " +
			"in-service routes are tried by ascending `priority`, weight-random within a priority (RFC 2782), failing " +
			"over on transport error, timeout or 503. A static route takes effect only for a domain that is also a " +
			"`sip_federated_domain`. Every attribute can change in place; the id is assigned by the proxy.",
		Attributes: map[string]schema.Attribute{
			"id": schema.StringAttribute{
				MarkdownDescription: "The route's id, assigned by the proxy on create; the import id.",
				Computed:            true,
				PlanModifiers:       []planmodifier.String{stringplanmodifier.UseStateForUnknown()},
			},
			"destination_pattern": schema.StringAttribute{
				MarkdownDescription: "What the route matches. For `route_type = \"domain\"`: the domain reversed with a " +
					"leading dot, lower case, e.g. `.com.domaina` for `domaina.com` only, `.com.domaina.*` for it and all its " +
					"subdomains (what `provider::sip::destination_pattern(\"domaina.com\")` returns), or `.*` for every domain. " +
					"For `route_type = \"user\"`: the user part of the Request-URI, with an optional trailing `*`.",
				Required: true,
			},
			"next_hop": schema.StringAttribute{
				MarkdownDescription: "The partner's edge (e.g. the Microsoft Access Edge): an IP address or a host name in " +
					"lower case. A name is resolved (A/AAAA) when the route is used; with `protocol = \"tls\"` the edge's " +
					"certificate must match a `sip_tls_peer_subject`.",
				Required:   true,
				Validators: []validator.String{hostName()},
			},
			"next_hop_port": schema.Int64Attribute{
				MarkdownDescription: fmt.Sprintf("Port of the next hop, 1 to 65535. Default: `%d`.", api.DefaultNextHopPort),
				Optional:            true,
				Computed:            true,
				Default:             int64default.StaticInt64(api.DefaultNextHopPort),
				Validators:          []validator.Int64{port()},
			},
			"protocol": schema.StringAttribute{
				MarkdownDescription: "Transport toward the next hop: `tls`, `tcp` or `udp`. Default: `" + api.DefaultProtocol + "`.",
				Optional:            true,
				Computed:            true,
				Default:             stringdefault.StaticString(api.DefaultProtocol),
				Validators:          []validator.String{stringvalidator.OneOf(api.ProtocolTLS, api.ProtocolTCP, api.ProtocolUDP)},
			},
			"route_type": schema.StringAttribute{
				MarkdownDescription: "`domain` matches the Request-URI's domain against `destination_pattern`; `user` " +
					"matches its user part. Default: `" + api.DefaultRouteType + "`.",
				Optional:   true,
				Computed:   true,
				Default:    stringdefault.StaticString(api.DefaultRouteType),
				Validators: []validator.String{stringvalidator.OneOf(api.RouteTypeDomain, api.RouteTypeUser)},
			},
			"priority": schema.Int64Attribute{
				MarkdownDescription: fmt.Sprintf("Lower is tried first, %d to %d. Default: `%d`.", api.MinPriority, api.MaxPriority, api.DefaultPriority),
				Optional:            true,
				Computed:            true,
				Default:             int64default.StaticInt64(api.DefaultPriority),
				Validators:          []validator.Int64{intRange(api.MinPriority, api.MaxPriority)},
			},
			"weight": schema.Int64Attribute{
				MarkdownDescription: fmt.Sprintf("Share of traffic among routes of one priority (RFC 2782), %d to %d. Default: `%d`.", api.MinWeight, api.MaxWeight, api.DefaultWeight),
				Optional:            true,
				Computed:            true,
				Default:             int64default.StaticInt64(api.DefaultWeight),
				Validators:          []validator.Int64{intRange(api.MinWeight, api.MaxWeight)},
			},
			"allow_less_specific": schema.BoolAttribute{
				MarkdownDescription: "When every route of this pattern fails, fall back to a less specific pattern. Default: `true`.",
				Optional:            true,
				Computed:            true,
				Default:             booldefault.StaticBool(api.DefaultAllowLessSpecific),
			},
			"in_service": schema.BoolAttribute{
				MarkdownDescription: "Whether the route is used. `false` keeps it configured but skipped. Default: `true`.",
				Optional:            true,
				Computed:            true,
				Default:             booldefault.StaticBool(api.DefaultInService),
			},
			"block": schema.BoolAttribute{
				MarkdownDescription: "Answer requests that match with 403 instead of routing them. Default: `false`.",
				Optional:            true,
				Computed:            true,
				Default:             booldefault.StaticBool(false),
			},
			"description": schema.StringAttribute{
				MarkdownDescription: fmt.Sprintf("Free text, at most %d characters. Default: empty.", api.MaxDescriptionLength),
				Optional:            true,
				Computed:            true,
				Default:             stringdefault.StaticString(""),
				Validators:          []validator.String{description()},
			},
		},
	}
}

// ValidateConfig checks destination_pattern, whose rule depends on route_type, with the API's rule.
func (r *staticRouteResource) ValidateConfig(ctx context.Context, req resource.ValidateConfigRequest, resp *resource.ValidateConfigResponse) {
	var pattern, routeType types.String
	resp.Diagnostics.Append(req.Config.GetAttribute(ctx, path.Root("destination_pattern"), &pattern)...)
	resp.Diagnostics.Append(req.Config.GetAttribute(ctx, path.Root("route_type"), &routeType)...)
	if resp.Diagnostics.HasError() || pattern.IsNull() || pattern.IsUnknown() || routeType.IsUnknown() {
		return
	}
	rt := api.DefaultRouteType
	if !routeType.IsNull() {
		rt = routeType.ValueString()
	}
	if rt != api.RouteTypeDomain && rt != api.RouteTypeUser {
		return // route_type's own validator reports it
	}
	p := pattern.ValueString()
	at := path.Root("destination_pattern")
	if err := api.ValidateDestinationPattern("destination_pattern", rt, p); err != nil {
		resp.Diagnostics.AddAttributeError(at, "Invalid destination_pattern", apiMessage("destination_pattern", err))
		return
	}
	n := api.StaticRoute{RouteType: rt, DestinationPattern: p}
	n.Normalize()
	if n.DestinationPattern != p {
		resp.Diagnostics.AddAttributeError(at, "Invalid destination_pattern", notNormalMessage("destination_pattern", p, n.DestinationPattern))
	}
}

// ModifyPlan warns, against what the proxy holds, about a route that is created or changes how it
// routes: one identical to a route already there (often the same route made by hand, to import
// instead), and a domain route whose pattern matches no federated domain (it would route nothing).
// An unchanged route costs no API call, so a plan of thousands of routes stays as fast.
func (r *staticRouteResource) ModifyPlan(ctx context.Context, req resource.ModifyPlanRequest, resp *resource.ModifyPlanResponse) {
	if r.data == nil || req.Plan.Raw.IsNull() {
		return // destroy, or the provider is not configured yet
	}
	var plan staticRouteModel
	resp.Diagnostics.Append(req.Plan.Get(ctx, &plan)...)
	if resp.Diagnostics.HasError() || !plan.routingKnown() {
		return
	}
	planned := plan.toAPI()
	if !req.State.Raw.IsNull() {
		var state staticRouteModel
		resp.Diagnostics.Append(req.State.Get(ctx, &state)...)
		if resp.Diagnostics.HasError() || routingKey(state.toAPI()) == routingKey(planned) {
			return
		}
	}
	if r.data.view.load(ctx) != nil {
		return
	}
	if twin, ok := r.data.view.identicalRoute(planned, planned.ID); ok {
		resp.Diagnostics.AddAttributeWarning(path.Root("destination_pattern"), "Identical static route already on the proxy",
			fmt.Sprintf("Static route %q on the proxy already routes %s to %s:%d over %s, with the same priority, weight and "+
				"flags as this one. Two identical routes only split one route's traffic. If it is this very route, made "+
				"outside Terraform or left by an apply that failed, import it instead of creating another:\n\n"+
				"import {\n  to = <this resource's address>\n  id = %q\n}",
				twin.ID, twin.DestinationPattern, twin.NextHop, twin.NextHopPort, twin.Protocol, twin.ID))
	}
	if planned.RouteType == api.RouteTypeDomain && !r.data.view.routesSomeDomain(planned.DestinationPattern) {
		resp.Diagnostics.AddAttributeWarning(path.Root("destination_pattern"), "Static route matches no federated domain",
			fmt.Sprintf("No federated domain on the proxy, nor any this plan creates before the route, matches %q, so the "+
				"route will route nothing: the proxy routes only toward federated domains. Check the pattern (the domain "+
				"reversed: provider::sip::destination_pattern(\"partner.com\") gives \".com.partner.*\"), and declare its "+
				"sip_federated_domain, referenced by the route or in its depends_on so that it is planned first.",
				planned.DestinationPattern))
	}
}

func (r *staticRouteResource) Configure(_ context.Context, req resource.ConfigureRequest, resp *resource.ConfigureResponse) {
	r.data = configuredData(req.ProviderData, &resp.Diagnostics)
}

// Create sends one Idempotency-Key with every attempt: when an answer is lost after the proxy
// stored the route, the retry gets that route back instead of storing a second one.
func (r *staticRouteResource) Create(ctx context.Context, req resource.CreateRequest, resp *resource.CreateResponse) {
	var plan staticRouteModel
	resp.Diagnostics.Append(req.Plan.Get(ctx, &plan)...)
	if resp.Diagnostics.HasError() {
		return
	}
	in := plan.toAPI()
	in.ID = "" // assigned by the server
	var pending bool
	sr, etag, err := r.data.client.CreateStaticRoute(ctx, in, api.WithIdempotencyKey(api.NewIdempotencyKey()), api.ReportLive(&pending))
	if err != nil {
		resp.Diagnostics.Append(createFailed(r.data.endpoint, "static route", in.DestinationPattern, err)...)
		return
	}
	resp.Diagnostics.Append(resp.State.Set(ctx, staticRouteFromAPI(sr))...)
	resp.Diagnostics.Append(setETag(ctx, resp.Private, etag)...)
	resp.Diagnostics.Append(notLiveYet(fmt.Sprintf("static route %q", sr.ID), pending)...)
}

func (r *staticRouteResource) Read(ctx context.Context, req resource.ReadRequest, resp *resource.ReadResponse) {
	var state staticRouteModel
	resp.Diagnostics.Append(req.State.Get(ctx, &state)...)
	if resp.Diagnostics.HasError() {
		return
	}
	sr, etag, err := r.data.client.GetStaticRoute(ctx, state.ID.ValueString())
	if errors.Is(err, api.ErrNotFound) {
		resp.State.RemoveResource(ctx)
		return
	}
	if err != nil {
		resp.Diagnostics.Append(apiDiagnostic(r.data.endpoint, fmt.Sprintf("reading static route %q", state.ID.ValueString()), err))
		return
	}
	resp.Diagnostics.Append(resp.State.Set(ctx, staticRouteFromAPI(sr))...)
	resp.Diagnostics.Append(setETag(ctx, resp.Private, etag)...)
}

func (r *staticRouteResource) guard(id string) guarded[api.StaticRoute] {
	return guarded[api.StaticRoute]{
		endpoint: r.data.endpoint, noun: "static route", id: id,
		get: func(ctx context.Context) (api.StaticRoute, string, error) {
			return r.data.client.GetStaticRoute(ctx, id)
		},
	}
}

func (r *staticRouteResource) Update(ctx context.Context, req resource.UpdateRequest, resp *resource.UpdateResponse) {
	var plan, prior staticRouteModel
	resp.Diagnostics.Append(req.Plan.Get(ctx, &plan)...)
	resp.Diagnostics.Append(req.State.Get(ctx, &prior)...)
	etag, diags := getETag(ctx, req.Private)
	resp.Diagnostics.Append(diags...)
	if resp.Diagnostics.HasError() {
		return
	}
	sr, etag, diags := r.guard(plan.ID.ValueString()).update(ctx, prior.toAPI(), plan.toAPI(), etag, r.data.client.UpdateStaticRoute)
	resp.Diagnostics.Append(diags...)
	if resp.Diagnostics.HasError() {
		return
	}
	resp.Diagnostics.Append(resp.State.Set(ctx, staticRouteFromAPI(sr))...)
	resp.Diagnostics.Append(setETag(ctx, resp.Private, etag)...)
}

func (r *staticRouteResource) Delete(ctx context.Context, req resource.DeleteRequest, resp *resource.DeleteResponse) {
	var state staticRouteModel
	resp.Diagnostics.Append(req.State.Get(ctx, &state)...)
	etag, diags := getETag(ctx, req.Private)
	resp.Diagnostics.Append(diags...)
	if resp.Diagnostics.HasError() {
		return
	}
	id := state.ID.ValueString()
	resp.Diagnostics.Append(r.guard(id).remove(ctx, etag, func(ctx context.Context, ifMatch string, opts ...api.CallOption) error {
		return r.data.client.DeleteStaticRoute(ctx, id, ifMatch, opts...)
	})...)
}

// ImportState takes the route id the proxy assigned (GET /v1/static-routes lists them).
func (r *staticRouteResource) ImportState(ctx context.Context, req resource.ImportStateRequest, resp *resource.ImportStateResponse) {
	if req.ID == "" {
		resp.Diagnostics.AddError("Invalid import id", "The import id of a sip_static_route is the id the proxy assigned to it, "+
			"as listed by GET /v1/static-routes.")
		return
	}
	resource.ImportStatePassthroughID(ctx, path.Root("id"), req, resp)
}
