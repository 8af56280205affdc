package provider

import (
	"context"
	"fmt"

	"github.com/hashicorp/terraform-plugin-framework/datasource"
	"github.com/hashicorp/terraform-plugin-framework/datasource/schema"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"
	"github.com/hashicorp/terraform-plugin-framework/types"

	"github.com/sipfed/terraform-provider-sip/internal/api"
)

var (
	_ datasource.DataSource              = (*routeDataSource)(nil)
	_ datasource.DataSourceWithConfigure = (*routeDataSource)(nil)
)

func NewRouteDataSource() datasource.DataSource { return &routeDataSource{} }

type routeDataSource struct {
	data *providerData
}

type routeModel struct {
	URI      types.String        `tfsdk:"uri"`
	User     types.String        `tfsdk:"user"`
	Domain   types.String        `tfsdk:"domain"`
	Status   types.Int64         `tfsdk:"status"`
	Reason   types.String        `tfsdk:"reason"`
	Steps    []routeStepModel    `tfsdk:"steps"`
	NextHops []routeNextHopModel `tfsdk:"next_hops"`
	Revision types.Int64         `tfsdk:"revision"`
}

type routeStepModel struct {
	Step       types.String     `tfsdk:"step"`
	Domain     types.String     `tfsdk:"domain"`
	Outcome    types.String     `tfsdk:"outcome"`
	Detail     types.String     `tfsdk:"detail"`
	Pattern    types.String     `tfsdk:"pattern"`
	RouteIDs   []types.String   `tfsdk:"route_ids"`
	SRVRecords []srvRecordModel `tfsdk:"srv_records"`
	DNSError   types.String     `tfsdk:"dns_error"`
	Cached     types.Bool       `tfsdk:"cached"`
}

type srvRecordModel struct {
	Priority  types.Int64    `tfsdk:"priority"`
	Weight    types.Int64    `tfsdk:"weight"`
	Port      types.Int64    `tfsdk:"port"`
	Target    types.String   `tfsdk:"target"`
	Addresses []types.String `tfsdk:"addresses"`
}

type routeNextHopModel struct {
	Address   types.String `tfsdk:"address"`
	Port      types.Int64  `tfsdk:"port"`
	Transport types.String `tfsdk:"transport"`
	Host      types.String `tfsdk:"host"`
	Step      types.String `tfsdk:"step"`
	RouteID   types.String `tfsdk:"route_id"`
}

func (d *routeDataSource) Metadata(_ context.Context, req datasource.MetadataRequest, resp *datasource.MetadataResponse) {
	resp.TypeName = req.ProviderTypeName + "_route"
}

func (d *routeDataSource) Schema(_ context.Context, _ datasource.SchemaRequest, resp *datasource.SchemaResponse) {
	resp.Schema = schema.Schema{
		MarkdownDescription: "Explains how the proxy would route an outbound request to a SIP URI, without sending " +
			"anything: every step of the routing chain that ran (federated domain check, static routes, DNS SRV, and " +
			"for `aol` domains the default federation routing domain), what each found, and the next hops in the order " +
			"the proxy tries them. The same chain routes real requests, so a `check` block on this data source " +
			"verifies a partner is reachable after every apply.",
		Attributes: map[string]schema.Attribute{
			"uri": schema.StringAttribute{
				MarkdownDescription: "The Request-URI to explain, e.g. `sip:bob@partner.example`.",
				Required:            true,
				Validators: []validator.String{
					sipURI(),
				},
			},
			"user":   computedString("The user part of the URI."),
			"domain": computedString("The domain of the URI, in lower case."),
			"status": computedInt64("The SIP status the proxy answers itself when it does not forward: 403 (not a federated " +
				"domain, or a blocking route), 404 (no route found), 503 (federation service off, or every next hop " +
				"unusable). `0` when it forwards to `next_hops`."),
			"reason": computedString("Why: the step that routed the request, or why it was refused."),
			"steps": schema.ListNestedAttribute{
				MarkdownDescription: "The steps of the routing chain that ran, in order.",
				Computed:            true,
				NestedObject: schema.NestedAttributeObject{
					Attributes: map[string]schema.Attribute{
						"step":    computedString("`federated`, `static` or `srv`."),
						"domain":  computedString("The domain the step looked up: the partner's, or the default federation routing domain for an `aol` fallback."),
						"outcome": computedString("`matched`, `none`, `blocked`, `error`, `skipped` or `rejected`."),
						"detail":  computedString("What the step found, in words."),
						"pattern": computedString("For a static step: the destination pattern that matched."),
						"route_ids": schema.ListAttribute{
							MarkdownDescription: "For a static step: the ids of the matching routes, in the order they are tried.",
							Computed:            true,
							ElementType:         types.StringType,
						},
						"srv_records": schema.ListNestedAttribute{
							MarkdownDescription: "For an SRV step: the records DNS returned, in the order they are tried.",
							Computed:            true,
							NestedObject: schema.NestedAttributeObject{
								Attributes: map[string]schema.Attribute{
									"priority": computedInt64("SRV priority."),
									"weight":   computedInt64("SRV weight."),
									"port":     computedInt64("SRV port."),
									"target":   computedString("SRV target."),
									"addresses": schema.ListAttribute{
										MarkdownDescription: "The addresses the target resolved to.",
										Computed:            true,
										ElementType:         types.StringType,
									},
								},
							},
						},
						"dns_error": computedString("For an SRV step that got no records: the DNS rcode or error (NXDOMAIN, SERVFAIL, timeout)."),
						"cached":    schema.BoolAttribute{MarkdownDescription: "Whether the DNS answer came from the proxy's cache.", Computed: true},
					},
				},
			},
			"next_hops": schema.ListNestedAttribute{
				MarkdownDescription: "The destinations the proxy would try, in order.",
				Computed:            true,
				NestedObject: schema.NestedAttributeObject{
					Attributes: map[string]schema.Attribute{
						"address":   computedString("IP address."),
						"port":      computedInt64("Port."),
						"transport": computedString("`tls`, `tcp` or `udp`."),
						"host":      computedString("The name the next hop was found under (the route's `next_hop` or the SRV target): the name the TLS handshake is made toward."),
						"step":      computedString("The step that produced it: `static` or `srv`."),
						"route_id":  computedString("For a static next hop: the id of its `sip_static_route`."),
					},
				},
			},
			"revision": computedInt64("The configuration revision the explanation was computed at."),
		},
	}
}

func (d *routeDataSource) Configure(_ context.Context, req datasource.ConfigureRequest, resp *datasource.ConfigureResponse) {
	d.data = configuredData(req.ProviderData, &resp.Diagnostics)
}

func (d *routeDataSource) Read(ctx context.Context, req datasource.ReadRequest, resp *datasource.ReadResponse) {
	var cfg routeModel
	resp.Diagnostics.Append(req.Config.Get(ctx, &cfg)...)
	if resp.Diagnostics.HasError() {
		return
	}
	ex, err := d.data.client.ExplainRoute(ctx, cfg.URI.ValueString())
	if err != nil {
		resp.Diagnostics.Append(apiDiagnostic(d.data.endpoint, fmt.Sprintf("explaining the route to %q", cfg.URI.ValueString()), err))
		return
	}
	resp.Diagnostics.Append(resp.State.Set(ctx, routeFromAPI(cfg.URI, ex))...)
}

// routeFromAPI keeps the configured uri: the API echoes it, and Terraform requires the value as written.
func routeFromAPI(uri types.String, ex api.RouteExplanation) routeModel {
	m := routeModel{
		URI:      uri,
		User:     types.StringValue(ex.User),
		Domain:   types.StringValue(ex.Domain),
		Status:   types.Int64Value(int64(ex.Status)),
		Reason:   types.StringValue(ex.Reason),
		Steps:    make([]routeStepModel, 0, len(ex.Steps)),
		NextHops: make([]routeNextHopModel, 0, len(ex.NextHops)),
		Revision: types.Int64Value(int64(ex.Revision)), //nolint:gosec // revisions stay far below 2^63
	}
	for _, s := range ex.Steps {
		st := routeStepModel{
			Step:       types.StringValue(s.Step),
			Domain:     types.StringValue(s.Domain),
			Outcome:    types.StringValue(s.Outcome),
			Detail:     types.StringValue(s.Detail),
			Pattern:    types.StringValue(s.Pattern),
			RouteIDs:   stringValues(s.RouteIDs),
			SRVRecords: make([]srvRecordModel, 0, len(s.SRVRecords)),
			DNSError:   types.StringValue(s.DNSError),
			Cached:     types.BoolValue(s.Cached),
		}
		for _, r := range s.SRVRecords {
			st.SRVRecords = append(st.SRVRecords, srvRecordModel{
				Priority:  types.Int64Value(int64(r.Priority)),
				Weight:    types.Int64Value(int64(r.Weight)),
				Port:      types.Int64Value(int64(r.Port)),
				Target:    types.StringValue(r.Target),
				Addresses: stringValues(r.Addresses),
			})
		}
		m.Steps = append(m.Steps, st)
	}
	for _, h := range ex.NextHops {
		m.NextHops = append(m.NextHops, routeNextHopModel{
			Address:   types.StringValue(h.Address),
			Port:      types.Int64Value(int64(h.Port)),
			Transport: types.StringValue(h.Transport),
			Host:      types.StringValue(h.Host),
			Step:      types.StringValue(h.Step),
			RouteID:   types.StringValue(h.RouteID),
		})
	}
	return m
}

// stringValues is never null, so that length() works on it in HCL.
func stringValues(ss []string) []types.String {
	out := make([]types.String, 0, len(ss))
	for _, s := range ss {
		out = append(out, types.StringValue(s))
	}
	return out
}
