package provider

import (
	"context"
	"errors"
	"fmt"

	"github.com/hashicorp/terraform-plugin-framework/datasource"
	"github.com/hashicorp/terraform-plugin-framework/datasource/schema"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"
	"github.com/hashicorp/terraform-plugin-framework/types"

	"github.com/sipfed/terraform-provider-sip/internal/api"
)

var (
	_ datasource.DataSource              = (*federatedDomainDataSource)(nil)
	_ datasource.DataSourceWithConfigure = (*federatedDomainDataSource)(nil)
)

func NewFederatedDomainDataSource() datasource.DataSource { return &federatedDomainDataSource{} }

type federatedDomainDataSource struct {
	data *providerData
}

func (d *federatedDomainDataSource) Metadata(_ context.Context, req datasource.MetadataRequest, resp *datasource.MetadataResponse) {
	resp.TypeName = req.ProviderTypeName + "_federated_domain"
}

func (d *federatedDomainDataSource) Schema(_ context.Context, _ datasource.SchemaRequest, resp *datasource.SchemaResponse) {
	resp.Schema = schema.Schema{
		MarkdownDescription: "Reads one federated domain, e.g. one managed by another Terraform configuration. Fails when " +
			"the domain is not federated.",
		Attributes: map[string]schema.Attribute{
			"domain": schema.StringAttribute{
				MarkdownDescription: "The partner domain to read, in lower case.",
				Required:            true,
				Validators:          []validator.String{domainName()},
			},
			"description": schema.StringAttribute{
				MarkdownDescription: "Text that identifies the partner to users.",
				Computed:            true,
			},
			"type": schema.StringAttribute{
				MarkdownDescription: "`lync` or `aol`.",
				Computed:            true,
			},
			"direct_federation": schema.BoolAttribute{
				MarkdownDescription: "Whether the proxy federates directly with the partner, presenting its node FQDN.",
				Computed:            true,
			},
			"peer_subjects": schema.SetAttribute{
				MarkdownDescription: "The only TLS peer subjects that may send for the domain; empty: any TLS peer subject.",
				Computed:            true,
				ElementType:         types.StringType,
			},
			"incoming_acl": schema.StringAttribute{
				MarkdownDescription: "The allow pattern of the domain's incoming ACL.",
				Computed:            true,
			},
		},
	}
}

func (d *federatedDomainDataSource) Configure(_ context.Context, req datasource.ConfigureRequest, resp *datasource.ConfigureResponse) {
	d.data = configuredData(req.ProviderData, &resp.Diagnostics)
}

func (d *federatedDomainDataSource) Read(ctx context.Context, req datasource.ReadRequest, resp *datasource.ReadResponse) {
	var cfg federatedDomainModel
	resp.Diagnostics.Append(req.Config.Get(ctx, &cfg)...)
	if resp.Diagnostics.HasError() {
		return
	}
	fd, _, err := d.data.client.GetFederatedDomain(ctx, cfg.Domain.ValueString())
	if errors.Is(err, api.ErrNotFound) {
		resp.Diagnostics.AddAttributeError(path.Root("domain"), "Federated domain not found",
			fmt.Sprintf("%q is not a federated domain on the proxy at %s.", cfg.Domain.ValueString(), d.data.endpoint))
		return
	}
	if err != nil {
		resp.Diagnostics.Append(apiDiagnostic(d.data.endpoint, fmt.Sprintf("reading federated domain %q", cfg.Domain.ValueString()), err))
		return
	}
	resp.Diagnostics.Append(resp.State.Set(ctx, federatedDomainFromAPI(fd, emptyStringSet))...)
}
