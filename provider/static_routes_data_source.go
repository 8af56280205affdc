package provider

import (
	"context"
	"sort"

	"github.com/hashicorp/terraform-plugin-framework/datasource"
	"github.com/hashicorp/terraform-plugin-framework/datasource/schema"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"
	"github.com/hashicorp/terraform-plugin-framework/types"

	"github.com/sipfed/terraform-provider-sip/internal/api"
)

var (
	_ datasource.DataSource              = (*staticRoutesDataSource)(nil)
	_ datasource.DataSourceWithConfigure = (*staticRoutesDataSource)(nil)
)

func NewStaticRoutesDataSource() datasource.DataSource { return &staticRoutesDataSource{} }

type staticRoutesDataSource struct {
	data *providerData
}

type staticRoutesModel struct {
	DestinationPattern types.String       `tfsdk:"destination_pattern"`
	NextHop            types.String       `tfsdk:"next_hop"`
	Domain             types.String       `tfsdk:"domain"`
	IDs                []types.String     `tfsdk:"ids"`
	Routes             []staticRouteModel `tfsdk:"routes"`
}

func (d *staticRoutesDataSource) Metadata(_ context.Context, req datasource.MetadataRequest, resp *datasource.MetadataResponse) {
	resp.TypeName = req.ProviderTypeName + "_static_routes"
}

func (d *staticRoutesDataSource) Schema(_ context.Context, _ datasource.SchemaRequest, resp *datasource.SchemaResponse) {
	resp.Schema = schema.Schema{
		MarkdownDescription: "Lists the static routes of the proxy, whoever configured them, with the ids the proxy " +
			"assigned: the import ids of `sip_static_route`. Every filter set must match; none lists every route. " +
			"Sorted by `destination_pattern`, then `priority`, then `id`.",
		Attributes: map[string]schema.Attribute{
			"destination_pattern": schema.StringAttribute{
				MarkdownDescription: "List only routes with this very pattern, e.g. `.com.partner.*`.",
				Optional:            true,
				Validators:          []validator.String{anyDestinationPattern()},
			},
			"next_hop": schema.StringAttribute{
				MarkdownDescription: "List only routes toward this next hop, in lower case.",
				Optional:            true,
				Validators:          []validator.String{hostName()},
			},
			"domain": schema.StringAttribute{
				MarkdownDescription: "List only domain routes whose pattern matches this domain, as routing matches it: " +
					"`partner.com` lists routes of `.com.partner`, `.com.partner.*`, `.com.*` and `.*`.",
				Optional:   true,
				Validators: []validator.String{domainName()},
			},
			"ids": schema.ListAttribute{
				MarkdownDescription: "The ids of the routes listed, in order.",
				Computed:            true,
				ElementType:         types.StringType,
			},
			"routes": schema.ListNestedAttribute{
				MarkdownDescription: "The routes listed, with every attribute of `sip_static_route`.",
				Computed:            true,
				NestedObject: schema.NestedAttributeObject{
					Attributes: map[string]schema.Attribute{
						"id":                  computedString("The id the proxy assigned: the import id."),
						"destination_pattern": computedString("What the route matches."),
						"next_hop":            computedString("The partner's edge."),
						"next_hop_port":       computedInt64("Port of the next hop."),
						"protocol":            computedString("`tls`, `tcp` or `udp`."),
						"route_type":          computedString("`domain` or `user`."),
						"priority":            computedInt64("Lower is tried first."),
						"weight":              computedInt64("Share among routes of one priority."),
						"allow_less_specific": computedBool("Whether a less specific pattern may follow when this one fails."),
						"in_service":          computedBool("Whether the route is used."),
						"block":               computedBool("Whether matching requests are answered 403."),
						"description":         computedString("Free text."),
					},
				},
			},
		},
	}
}

func (d *staticRoutesDataSource) Configure(_ context.Context, req datasource.ConfigureRequest, resp *datasource.ConfigureResponse) {
	d.data = configuredData(req.ProviderData, &resp.Diagnostics)
}

func (d *staticRoutesDataSource) Read(ctx context.Context, req datasource.ReadRequest, resp *datasource.ReadResponse) {
	var cfg staticRoutesModel
	resp.Diagnostics.Append(req.Config.Get(ctx, &cfg)...)
	if resp.Diagnostics.HasError() {
		return
	}
	list, err := d.data.client.ListStaticRoutes(ctx)
	if err != nil {
		resp.Diagnostics.Append(apiDiagnostic(d.data.endpoint, "listing static routes", err))
		return
	}
	items := list.Items
	sort.Slice(items, func(i, j int) bool {
		a, b := items[i], items[j]
		if a.DestinationPattern != b.DestinationPattern {
			return a.DestinationPattern < b.DestinationPattern
		}
		if a.Priority != b.Priority {
			return a.Priority < b.Priority
		}
		return a.ID < b.ID
	})
	cfg.IDs, cfg.Routes = []types.String{}, []staticRouteModel{}
	for _, r := range items {
		if !cfg.DestinationPattern.IsNull() && r.DestinationPattern != cfg.DestinationPattern.ValueString() ||
			!cfg.NextHop.IsNull() && r.NextHop != cfg.NextHop.ValueString() ||
			!cfg.Domain.IsNull() && (r.RouteType != api.RouteTypeDomain || !api.DomainPatternMatches(r.DestinationPattern, cfg.Domain.ValueString())) {
			continue
		}
		cfg.IDs = append(cfg.IDs, types.StringValue(r.ID))
		cfg.Routes = append(cfg.Routes, staticRouteFromAPI(r))
	}
	resp.Diagnostics.Append(resp.State.Set(ctx, &cfg)...)
}
