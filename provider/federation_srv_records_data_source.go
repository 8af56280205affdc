package provider

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"sort"
	"strings"

	"github.com/hashicorp/terraform-plugin-framework-validators/listvalidator"
	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/path"

	"github.com/hashicorp/terraform-plugin-framework/datasource"
	"github.com/hashicorp/terraform-plugin-framework/datasource/schema"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"
	"github.com/hashicorp/terraform-plugin-framework/types"

	"github.com/sipfed/terraform-provider-sip/internal/api"
)

// SRV priority and weight of the published records unless set. With one target per domain they
// only need to be valid; these are the values Microsoft publishes for its own
// _sipfederationtls records, which partner admins recognise.
const (
	defaultSRVPriority = 100
	defaultSRVWeight   = 1
	// fallbackSRVPort is the reference's federation port, for a proxy that reports no external
	// listener.
	fallbackSRVPort = 5061
)

var (
	_ datasource.DataSource              = (*federationSRVRecordsDataSource)(nil)
	_ datasource.DataSourceWithConfigure = (*federationSRVRecordsDataSource)(nil)
)

func NewFederationSRVRecordsDataSource() datasource.DataSource {
	return &federationSRVRecordsDataSource{}
}

type federationSRVRecordsDataSource struct {
	data *providerData
}

type federationSRVRecordsModel struct {
	Priority              types.Int64                `tfsdk:"priority"`
	Weight                types.Int64                `tfsdk:"weight"`
	Port                  types.Int64                `tfsdk:"port"`
	NodeFQDN              types.String               `tfsdk:"node_fqdn"`
	FederationRoutingFQDN types.String               `tfsdk:"federation_routing_fqdn"`
	LocalDomains          types.List                 `tfsdk:"local_domains"`
	Records               []federationSRVRecordModel `tfsdk:"records"`
	AddressRecords        []addressRecordModel       `tfsdk:"address_records"`
}

// addressRecordModel is an A or AAAA record of the SRV target: one per public address of each
// node (a cluster publishes one name with every node's address).
type addressRecordModel struct {
	Name    types.String `tfsdk:"name"`
	Type    types.String `tfsdk:"type"`
	Address types.String `tfsdk:"address"`
}

type federationSRVRecordModel struct {
	Domain   types.String `tfsdk:"domain"`
	Name     types.String `tfsdk:"name"`
	Priority types.Int64  `tfsdk:"priority"`
	Weight   types.Int64  `tfsdk:"weight"`
	Port     types.Int64  `tfsdk:"port"`
	Target   types.String `tfsdk:"target"`
}

func (d *federationSRVRecordsDataSource) Metadata(_ context.Context, req datasource.MetadataRequest, resp *datasource.MetadataResponse) {
	resp.TypeName = req.ProviderTypeName + "_federation_srv_records"
}

func (d *federationSRVRecordsDataSource) Schema(_ context.Context, _ datasource.SchemaRequest, resp *datasource.SchemaResponse) {
	resp.Schema = schema.Schema{
		MarkdownDescription: "The DNS SRV records the enterprise must publish so that partners find the proxy: one " +
			"`_sipfederationtls._tcp.<domain>` record per local domain, all pointing at the federation routing FQDN on " +
			"the external SIP port. Feed `records` to your DNS provider's SRV record resource.\n\n" +
			"Give `federation_routing_fqdn` the value you give the `sip_federation_routing_fqdn` resource, from a " +
			"variable or a local: the records are then known when Terraform plans, even before the routing FQDN is " +
			"applied, and a `for_each` over them works on the first apply. Do not take it from the resource, nor use " +
			"`depends_on`: Terraform reads a data source that depends on a resource with changes only during the apply, " +
			"and a `for_each` over records not known at plan fails (\"Invalid for_each argument\").",
		Attributes: map[string]schema.Attribute{
			"priority": schema.Int64Attribute{
				MarkdownDescription: fmt.Sprintf("SRV priority of every record, 0 to 65535. Default: `%d`.", defaultSRVPriority),
				Optional:            true,
				Validators:          []validator.Int64{intRange(0, 65535)},
			},
			"weight": schema.Int64Attribute{
				MarkdownDescription: fmt.Sprintf("SRV weight of every record, 0 to 65535. Default: `%d`.", defaultSRVWeight),
				Optional:            true,
				Validators:          []validator.Int64{intRange(0, 65535)},
			},
			"port": schema.Int64Attribute{
				MarkdownDescription: fmt.Sprintf("Port partners connect to, when it differs from the proxy's external "+
					"listener (e.g. behind a NAT that maps ports). Default: the port of the proxy's external SIP listener "+
					"(`--sip-external`), or `%d` when the proxy reports none.", fallbackSRVPort),
				Optional:   true,
				Validators: []validator.Int64{port()},
			},
			"node_fqdn": computedString("The proxy node's own FQDN."),
			"federation_routing_fqdn": schema.StringAttribute{
				MarkdownDescription: "The target of every record: the federation routing FQDN, in lower case. Set it to " +
					"the value of the `sip_federation_routing_fqdn` resource's `fqdn`, from the same variable or local (not " +
					"from the resource). Default: the proxy's routing FQDN as it is when the data source is read.",
				Optional:   true,
				Computed:   true,
				Validators: []validator.String{domainName()},
			},
			"local_domains": schema.ListAttribute{
				MarkdownDescription: "The local domains to publish records for, in lower case. Default: the local domains " +
					"the proxy hosts (`--local-domain`). A domain the proxy does not host gets a warning: partners would find " +
					"the proxy for a domain it refuses.",
				Optional:    true,
				Computed:    true,
				ElementType: types.StringType,
				Validators:  []validator.List{listvalidator.ValueStringsAre(domainName())},
			},
			"address_records": schema.ListNestedAttribute{
				MarkdownDescription: "The A/AAAA records of the SRV target: every node's public address (`--public-address`, " +
					"else its external listener's address), sorted. A cluster (`--store etcd`) publishes one name, the federation " +
					"routing FQDN, with every node's address; while that FQDN is unset, there is no name to publish and this list " +
					"and `records` are empty (`federation_routing_fqdn` is null).",
				Computed: true,
				NestedObject: schema.NestedAttributeObject{
					Attributes: map[string]schema.Attribute{
						"name":    computedString("The owner name: the SRV target."),
						"type":    computedString("`A` or `AAAA`."),
						"address": computedString("The node's public IP address."),
					},
				},
			},
			"records": schema.ListNestedAttribute{
				MarkdownDescription: "One record per local domain, sorted by domain.",
				Computed:            true,
				NestedObject: schema.NestedAttributeObject{
					Attributes: map[string]schema.Attribute{
						"domain":   computedString("The local domain the record is for."),
						"name":     computedString("The owner name, `_sipfederationtls._tcp.<domain>`."),
						"priority": computedInt64("SRV priority."),
						"weight":   computedInt64("SRV weight."),
						"port":     computedInt64("SRV port."),
						"target":   computedString("SRV target: the federation routing FQDN."),
					},
				},
			},
		},
	}
}

func (d *federationSRVRecordsDataSource) Configure(_ context.Context, req datasource.ConfigureRequest, resp *datasource.ConfigureResponse) {
	d.data = configuredData(req.ProviderData, &resp.Diagnostics)
}

func (d *federationSRVRecordsDataSource) Read(ctx context.Context, req datasource.ReadRequest, resp *datasource.ReadResponse) {
	var cfg federationSRVRecordsModel
	resp.Diagnostics.Append(req.Config.Get(ctx, &cfg)...)
	if resp.Diagnostics.HasError() {
		return
	}
	node, err := d.data.client.GetNode(ctx)
	if err != nil {
		resp.Diagnostics.Append(apiDiagnostic(d.data.endpoint, "reading the proxy node's settings", err))
		return
	}
	if cfg.LocalDomains.IsNull() && len(node.LocalDomains) == 0 {
		resp.Diagnostics.AddWarning("The proxy hosts no local domain",
			"The proxy was started without --local-domain, so there is no SRV record to publish.")
	}
	for _, dom := range listStrings(cfg.LocalDomains) {
		if !slices.Contains(node.LocalDomains, dom) {
			resp.Diagnostics.AddAttributeWarning(path.Root("local_domains"), "Not a local domain of the proxy",
				fmt.Sprintf("%q is not a local domain of the proxy at %s (its local domains: %s). A record for it would "+
					"send partners to a proxy that refuses requests for it; start the proxy with --local-domain %s.",
					dom, d.data.endpoint, strings.Join(node.LocalDomains, ", "), dom))
		}
	}
	cluster, err := d.data.client.GetCluster(ctx)
	if err != nil {
		resp.Diagnostics.Append(apiDiagnostic(d.data.endpoint, "reading the proxy's cluster", err))
		return
	}
	out, diags := srvRecordsFor(cfg, node)
	resp.Diagnostics.Append(diags...)
	if cfg.FederationRoutingFQDN.IsNull() && cluster.Store == api.StoreEtcd && cluster.FederationRoutingFQDN == "" {
		// Unset in a cluster: each node presents its own FQDN, and the node that answered is not
		// the cluster's target. Say unset rather than publish one node.
		out.FederationRoutingFQDN = types.StringNull()
		out.Records = []federationSRVRecordModel{}
		out.AddressRecords = []addressRecordModel{}
		resp.Diagnostics.AddWarning("The cluster has no federation routing FQDN",
			"The proxies share one configuration (--store etcd) and no sip_federation_routing_fqdn is set, so every node "+
				"presents its own FQDN and there is no single SRV target to publish. Set sip_federation_routing_fqdn to the "+
				"public name of the cluster.")
	} else {
		out.AddressRecords = addressRecordsFor(out.FederationRoutingFQDN.ValueString(), cluster)
	}
	resp.Diagnostics.Append(resp.State.Set(ctx, out)...)
}

// addressRecordsFor lists the A/AAAA records of target: each node's public addresses, once each,
// sorted by node then address.
func addressRecordsFor(target string, cluster api.Cluster) []addressRecordModel {
	out := []addressRecordModel{}
	seen := map[string]bool{}
	for _, n := range cluster.Nodes {
		addrs := append([]string(nil), n.PublicAddresses...)
		sort.Strings(addrs)
		for _, a := range addrs {
			ip, err := netip.ParseAddr(a)
			if err != nil || seen[ip.String()] {
				continue
			}
			seen[ip.String()] = true
			typ := "A"
			if ip.Unmap().Is6() {
				typ = "AAAA"
			}
			out = append(out, addressRecordModel{Name: types.StringValue(target), Type: types.StringValue(typ),
				Address: types.StringValue(ip.Unmap().String())})
		}
	}
	return out
}

// srvRecordsFor computes the records to publish for a node: a pure function, tested without a
// proxy. What the configuration sets wins over what the node reports.
func srvRecordsFor(cfg federationSRVRecordsModel, node api.Node) (federationSRVRecordsModel, diag.Diagnostics) {
	prio, weight := int64(defaultSRVPriority), int64(defaultSRVWeight)
	if !cfg.Priority.IsNull() {
		prio = cfg.Priority.ValueInt64()
	}
	if !cfg.Weight.IsNull() {
		weight = cfg.Weight.ValueInt64()
	}
	port := int64(node.ExternalPort)
	if port == 0 {
		port = fallbackSRVPort
	}
	if !cfg.Port.IsNull() {
		port = cfg.Port.ValueInt64()
	}
	domains := append([]string(nil), node.LocalDomains...)
	if !cfg.LocalDomains.IsNull() {
		domains = listStrings(cfg.LocalDomains)
	}
	sort.Strings(domains)
	domains = slices.Compact(domains)
	target := node.FederationRoutingFQDN
	if !cfg.FederationRoutingFQDN.IsNull() {
		target = cfg.FederationRoutingFQDN.ValueString()
	}
	cfg.NodeFQDN = types.StringValue(node.NodeFQDN)
	cfg.FederationRoutingFQDN = types.StringValue(target)
	var diags diag.Diagnostics
	cfg.LocalDomains, diags = types.ListValueFrom(context.Background(), types.StringType, domains)
	cfg.Records = make([]federationSRVRecordModel, 0, len(domains))
	for _, dom := range domains {
		cfg.Records = append(cfg.Records, federationSRVRecordModel{
			Domain:   types.StringValue(dom),
			Name:     types.StringValue(api.FederationSRVName(dom)),
			Priority: types.Int64Value(prio),
			Weight:   types.Int64Value(weight),
			Port:     types.Int64Value(port),
			Target:   types.StringValue(target),
		})
	}
	return cfg, diags
}

// listStrings returns the elements of a known list of strings; nil otherwise.
func listStrings(l types.List) []string {
	if l.IsNull() || l.IsUnknown() {
		return nil
	}
	out := make([]string, 0, len(l.Elements()))
	for _, e := range l.Elements() {
		if v, ok := e.(types.String); ok && !v.IsNull() && !v.IsUnknown() {
			out = append(out, v.ValueString())
		}
	}
	return out
}
