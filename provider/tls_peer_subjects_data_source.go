package provider

import (
	"context"
	"sort"
	"strings"

	"github.com/hashicorp/terraform-plugin-framework/datasource"
	"github.com/hashicorp/terraform-plugin-framework/datasource/schema"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"
	"github.com/hashicorp/terraform-plugin-framework/types"
)

var (
	_ datasource.DataSource              = (*tlsPeerSubjectsDataSource)(nil)
	_ datasource.DataSourceWithConfigure = (*tlsPeerSubjectsDataSource)(nil)
)

func NewTLSPeerSubjectsDataSource() datasource.DataSource { return &tlsPeerSubjectsDataSource{} }

type tlsPeerSubjectsDataSource struct {
	data *providerData
}

type tlsPeerSubjectsModel struct {
	Domain   types.String          `tfsdk:"domain"`
	Names    []types.String        `tfsdk:"names"`
	Subjects []tlsPeerSubjectModel `tfsdk:"subjects"`
}

func (d *tlsPeerSubjectsDataSource) Metadata(_ context.Context, req datasource.MetadataRequest, resp *datasource.MetadataResponse) {
	resp.TypeName = req.ProviderTypeName + "_tls_peer_subjects"
}

func (d *tlsPeerSubjectsDataSource) Schema(_ context.Context, _ datasource.SchemaRequest, resp *datasource.SchemaResponse) {
	resp.Schema = schema.Schema{
		MarkdownDescription: "Lists the TLS peer subjects of the proxy, whoever configured them, sorted by subject: the " +
			"import ids of `sip_tls_peer_subject`.",
		Attributes: map[string]schema.Attribute{
			"domain": schema.StringAttribute{
				MarkdownDescription: "List only subjects that are this domain or a name under it, e.g. `partner.example` " +
					"lists `partner.example` and `sip.partner.example`. Default: all.",
				Optional:   true,
				Validators: []validator.String{domainName()},
			},
			"names": schema.ListAttribute{
				MarkdownDescription: "The subjects listed, sorted.",
				Computed:            true,
				ElementType:         types.StringType,
			},
			"subjects": schema.ListNestedAttribute{
				MarkdownDescription: "The TLS peer subjects listed, sorted by subject.",
				Computed:            true,
				NestedObject: schema.NestedAttributeObject{
					Attributes: map[string]schema.Attribute{
						"subject":     schema.StringAttribute{MarkdownDescription: "The certificate identity: the import id.", Computed: true},
						"description": schema.StringAttribute{MarkdownDescription: "Free text.", Computed: true},
					},
				},
			},
		},
	}
}

func (d *tlsPeerSubjectsDataSource) Configure(_ context.Context, req datasource.ConfigureRequest, resp *datasource.ConfigureResponse) {
	d.data = configuredData(req.ProviderData, &resp.Diagnostics)
}

func (d *tlsPeerSubjectsDataSource) Read(ctx context.Context, req datasource.ReadRequest, resp *datasource.ReadResponse) {
	var cfg tlsPeerSubjectsModel
	resp.Diagnostics.Append(req.Config.Get(ctx, &cfg)...)
	if resp.Diagnostics.HasError() {
		return
	}
	list, err := d.data.client.ListTLSPeerSubjects(ctx)
	if err != nil {
		resp.Diagnostics.Append(apiDiagnostic(d.data.endpoint, "listing TLS peer subjects", err))
		return
	}
	items := list.Items
	sort.Slice(items, func(i, j int) bool { return items[i].Subject < items[j].Subject })
	cfg.Names, cfg.Subjects = []types.String{}, []tlsPeerSubjectModel{}
	domain := cfg.Domain.ValueString()
	for _, s := range items {
		if !cfg.Domain.IsNull() && s.Subject != domain && !strings.HasSuffix(s.Subject, "."+domain) {
			continue
		}
		cfg.Names = append(cfg.Names, types.StringValue(s.Subject))
		cfg.Subjects = append(cfg.Subjects, tlsPeerSubjectFromAPI(s))
	}
	resp.Diagnostics.Append(resp.State.Set(ctx, &cfg)...)
}
