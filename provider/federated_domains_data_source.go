package provider

import (
	"context"
	"sort"

	"github.com/hashicorp/terraform-plugin-framework-validators/stringvalidator"
	"github.com/hashicorp/terraform-plugin-framework/datasource"
	"github.com/hashicorp/terraform-plugin-framework/datasource/schema"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"
	"github.com/hashicorp/terraform-plugin-framework/types"

	"github.com/sipfed/terraform-provider-sip/internal/api"
)

var (
	_ datasource.DataSource              = (*federatedDomainsDataSource)(nil)
	_ datasource.DataSourceWithConfigure = (*federatedDomainsDataSource)(nil)
)

func NewFederatedDomainsDataSource() datasource.DataSource { return &federatedDomainsDataSource{} }

type federatedDomainsDataSource struct {
	data *providerData
}

type federatedDomainsModel struct {
	Type    types.String           `tfsdk:"type"`
	Domains []federatedDomainModel `tfsdk:"domains"`
	Names   []types.String         `tfsdk:"names"`
}

func (d *federatedDomainsDataSource) Metadata(_ context.Context, req datasource.MetadataRequest, resp *datasource.MetadataResponse) {
	resp.TypeName = req.ProviderTypeName + "_federated_domains"
}

func (d *federatedDomainsDataSource) Schema(_ context.Context, _ datasource.SchemaRequest, resp *datasource.SchemaResponse) {
	resp.Schema = schema.Schema{
		MarkdownDescription: "Lists the federated domains of the proxy, whoever configured them, sorted by domain.",
		Attributes: map[string]schema.Attribute{
			"type": schema.StringAttribute{
				MarkdownDescription: "List only domains of this type, `lync` or `aol`. Default: all.",
				Optional:            true,
				Validators:          []validator.String{stringvalidator.OneOf(api.DomainTypeLync, api.DomainTypeAOL)},
			},
			"names": schema.ListAttribute{
				MarkdownDescription: "The domain names, sorted.",
				Computed:            true,
				ElementType:         types.StringType,
			},
			"domains": schema.ListNestedAttribute{
				MarkdownDescription: "The federated domains, sorted by domain.",
				Computed:            true,
				NestedObject: schema.NestedAttributeObject{
					Attributes: map[string]schema.Attribute{
						"domain":            schema.StringAttribute{MarkdownDescription: "The partner domain.", Computed: true},
						"description":       schema.StringAttribute{MarkdownDescription: "Text that identifies the partner to users.", Computed: true},
						"type":              schema.StringAttribute{MarkdownDescription: "`lync` or `aol`.", Computed: true},
						"direct_federation": schema.BoolAttribute{MarkdownDescription: "Whether the proxy federates directly with the partner.", Computed: true},
						"peer_subjects": schema.SetAttribute{
							MarkdownDescription: "The only TLS peer subjects that may send for the domain; empty: any TLS peer subject.",
							Computed:            true, ElementType: types.StringType,
						},
						"incoming_acl": schema.StringAttribute{MarkdownDescription: "The allow pattern of the domain's incoming ACL.", Computed: true},
					},
				},
			},
		},
	}
}

func (d *federatedDomainsDataSource) Configure(_ context.Context, req datasource.ConfigureRequest, resp *datasource.ConfigureResponse) {
	d.data = configuredData(req.ProviderData, &resp.Diagnostics)
}

func (d *federatedDomainsDataSource) Read(ctx context.Context, req datasource.ReadRequest, resp *datasource.ReadResponse) {
	var cfg federatedDomainsModel
	resp.Diagnostics.Append(req.Config.Get(ctx, &cfg)...)
	if resp.Diagnostics.HasError() {
		return
	}
	list, err := d.data.client.ListFederatedDomains(ctx)
	if err != nil {
		resp.Diagnostics.Append(apiDiagnostic(d.data.endpoint, "listing federated domains", err))
		return
	}
	items := list.Items
	sort.Slice(items, func(i, j int) bool { return items[i].Domain < items[j].Domain })
	cfg.Domains = []federatedDomainModel{}
	cfg.Names = []types.String{}
	for _, fd := range items {
		if !cfg.Type.IsNull() && fd.Type != cfg.Type.ValueString() {
			continue
		}
		cfg.Domains = append(cfg.Domains, federatedDomainFromAPI(fd, emptyStringSet))
		cfg.Names = append(cfg.Names, types.StringValue(fd.Domain))
	}
	resp.Diagnostics.Append(resp.State.Set(ctx, &cfg)...)
}
