package provider

import (
	"context"
	"sort"

	"github.com/hashicorp/terraform-plugin-framework/datasource"
	"github.com/hashicorp/terraform-plugin-framework/datasource/schema"
	"github.com/hashicorp/terraform-plugin-framework/types"
)

var (
	_ datasource.DataSource              = (*incomingACLsDataSource)(nil)
	_ datasource.DataSourceWithConfigure = (*incomingACLsDataSource)(nil)
)

func NewIncomingACLsDataSource() datasource.DataSource { return &incomingACLsDataSource{} }

type incomingACLsDataSource struct {
	data *providerData
}

type incomingACLModel struct {
	Pattern     types.String `tfsdk:"pattern"`
	Domain      types.String `tfsdk:"domain"`
	Description types.String `tfsdk:"description"`
}

type incomingACLsModel struct {
	IncomingACLs []incomingACLModel `tfsdk:"incoming_acls"`
}

func (d *incomingACLsDataSource) Metadata(_ context.Context, req datasource.MetadataRequest, resp *datasource.MetadataResponse) {
	resp.TypeName = req.ProviderTypeName + "_incoming_acls"
}

func (d *incomingACLsDataSource) Schema(_ context.Context, _ datasource.SchemaRequest, resp *datasource.SchemaResponse) {
	resp.Schema = schema.Schema{
		MarkdownDescription: "Lists the incoming ACLs: the allow entries for inbound traffic that federated domains " +
			"create. They are read-only and live and die with their `sip_federated_domain`; a request arriving from " +
			"a partner whose From domain has no incoming ACL gets 403.",
		Attributes: map[string]schema.Attribute{
			"incoming_acls": schema.ListNestedAttribute{
				MarkdownDescription: "The incoming ACLs, sorted by domain.",
				Computed:            true,
				NestedObject: schema.NestedAttributeObject{
					Attributes: map[string]schema.Attribute{
						"pattern":     schema.StringAttribute{MarkdownDescription: "The allow pattern matched against the From domain.", Computed: true},
						"domain":      schema.StringAttribute{MarkdownDescription: "The federated domain that created the entry.", Computed: true},
						"description": schema.StringAttribute{MarkdownDescription: "What the proxy calls the entry.", Computed: true},
					},
				},
			},
		},
	}
}

func (d *incomingACLsDataSource) Configure(_ context.Context, req datasource.ConfigureRequest, resp *datasource.ConfigureResponse) {
	d.data = configuredData(req.ProviderData, &resp.Diagnostics)
}

func (d *incomingACLsDataSource) Read(ctx context.Context, _ datasource.ReadRequest, resp *datasource.ReadResponse) {
	list, err := d.data.client.ListIncomingACLs(ctx)
	if err != nil {
		resp.Diagnostics.Append(apiDiagnostic(d.data.endpoint, "listing incoming ACLs", err))
		return
	}
	items := list.Items
	sort.Slice(items, func(i, j int) bool { return items[i].Domain < items[j].Domain })
	out := incomingACLsModel{IncomingACLs: make([]incomingACLModel, 0, len(items))}
	for _, a := range items {
		out.IncomingACLs = append(out.IncomingACLs, incomingACLModel{
			Pattern:     types.StringValue(a.Pattern),
			Domain:      types.StringValue(a.Domain),
			Description: types.StringValue(a.Description),
		})
	}
	resp.Diagnostics.Append(resp.State.Set(ctx, &out)...)
}
