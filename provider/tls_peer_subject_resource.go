package provider

import (
	"context"
	"errors"
	"fmt"

	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/resource"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/planmodifier"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/stringdefault"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/stringplanmodifier"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"
	"github.com/hashicorp/terraform-plugin-framework/types"

	"github.com/sipfed/terraform-provider-sip/internal/api"
)

var (
	_ resource.Resource                = (*tlsPeerSubjectResource)(nil)
	_ resource.ResourceWithConfigure   = (*tlsPeerSubjectResource)(nil)
	_ resource.ResourceWithImportState = (*tlsPeerSubjectResource)(nil)
)

func NewTLSPeerSubjectResource() resource.Resource { return &tlsPeerSubjectResource{} }

type tlsPeerSubjectResource struct {
	data *providerData
}

type tlsPeerSubjectModel struct {
	Subject     types.String `tfsdk:"subject"`
	Description types.String `tfsdk:"description"`
}

func tlsPeerSubjectFromAPI(s api.TLSPeerSubject) tlsPeerSubjectModel {
	return tlsPeerSubjectModel{Subject: types.StringValue(s.Subject), Description: types.StringValue(s.Description)}
}

func (m tlsPeerSubjectModel) toAPI() api.TLSPeerSubject {
	return api.TLSPeerSubject{Subject: m.Subject.ValueString(), Description: m.Description.ValueString()}
}

func (r *tlsPeerSubjectResource) Metadata(_ context.Context, req resource.MetadataRequest, resp *resource.MetadataResponse) {
	resp.TypeName = req.ProviderTypeName + "_tls_peer_subject"
}

func (r *tlsPeerSubjectResource) Schema(_ context.Context, _ resource.SchemaRequest, resp *resource.SchemaResponse) {
	resp.Schema = schema.Schema{
		MarkdownDescription: "A certificate identity the proxy accepts from a partner's edge, inbound and outbound (the " +
			"reference's *TLS Peer Subject*). The peer's identity is taken as RFC 5922 prescribes: SAN URI `sip:`, " +
			"else SAN DNS names, the subject CN only when there is no SAN; compared whole and case-insensitively. A " +
			"partner's edge whose identity is not a peer subject fails the TLS handshake, even when its name matches " +
			"the next hop.",
		Attributes: map[string]schema.Attribute{
			"subject": schema.StringAttribute{
				MarkdownDescription: "The identity, e.g. the external FQDN of a Microsoft Access Edge server " +
					"(`sip.partner.example`), in lower case. Changing it replaces the peer subject.",
				Required:      true,
				PlanModifiers: []planmodifier.String{stringplanmodifier.RequiresReplace()},
				Validators:    []validator.String{domainName()},
			},
			"description": schema.StringAttribute{
				MarkdownDescription: fmt.Sprintf("Free text, e.g. the name of the partner's server, at most %d characters. "+
					"Default: empty.", api.MaxDescriptionLength),
				Optional:   true,
				Computed:   true,
				Default:    stringdefault.StaticString(""),
				Validators: []validator.String{description()},
			},
		},
	}
}

func (r *tlsPeerSubjectResource) Configure(_ context.Context, req resource.ConfigureRequest, resp *resource.ConfigureResponse) {
	r.data = configuredData(req.ProviderData, &resp.Diagnostics)
}

func (r *tlsPeerSubjectResource) Create(ctx context.Context, req resource.CreateRequest, resp *resource.CreateResponse) {
	var plan tlsPeerSubjectModel
	resp.Diagnostics.Append(req.Plan.Get(ctx, &plan)...)
	if resp.Diagnostics.HasError() {
		return
	}
	var pending bool
	s, etag, err := r.data.client.CreateTLSPeerSubject(ctx, plan.toAPI(), api.WithIdempotencyKey(api.NewIdempotencyKey()), api.ReportLive(&pending))
	if err != nil {
		resp.Diagnostics.Append(createFailed(r.data.endpoint, "TLS peer subject", plan.Subject.ValueString(), err)...)
		return
	}
	resp.Diagnostics.Append(resp.State.Set(ctx, tlsPeerSubjectFromAPI(s))...)
	resp.Diagnostics.Append(setETag(ctx, resp.Private, etag)...)
	resp.Diagnostics.Append(notLiveYet(fmt.Sprintf("TLS peer subject %q", s.Subject), pending)...)
}

func (r *tlsPeerSubjectResource) Read(ctx context.Context, req resource.ReadRequest, resp *resource.ReadResponse) {
	var state tlsPeerSubjectModel
	resp.Diagnostics.Append(req.State.Get(ctx, &state)...)
	if resp.Diagnostics.HasError() {
		return
	}
	s, etag, err := r.data.client.GetTLSPeerSubject(ctx, state.Subject.ValueString())
	if errors.Is(err, api.ErrNotFound) {
		resp.State.RemoveResource(ctx)
		return
	}
	if err != nil {
		resp.Diagnostics.Append(apiDiagnostic(r.data.endpoint, fmt.Sprintf("reading TLS peer subject %q", state.Subject.ValueString()), err))
		return
	}
	resp.Diagnostics.Append(resp.State.Set(ctx, tlsPeerSubjectFromAPI(s))...)
	resp.Diagnostics.Append(setETag(ctx, resp.Private, etag)...)
}

func (r *tlsPeerSubjectResource) guard(subject string) guarded[api.TLSPeerSubject] {
	return guarded[api.TLSPeerSubject]{
		endpoint: r.data.endpoint, noun: "TLS peer subject", id: subject,
		get: func(ctx context.Context) (api.TLSPeerSubject, string, error) {
			return r.data.client.GetTLSPeerSubject(ctx, subject)
		},
	}
}

func (r *tlsPeerSubjectResource) Update(ctx context.Context, req resource.UpdateRequest, resp *resource.UpdateResponse) {
	var plan, prior tlsPeerSubjectModel
	resp.Diagnostics.Append(req.Plan.Get(ctx, &plan)...)
	resp.Diagnostics.Append(req.State.Get(ctx, &prior)...)
	etag, diags := getETag(ctx, req.Private)
	resp.Diagnostics.Append(diags...)
	if resp.Diagnostics.HasError() {
		return
	}
	s, etag, diags := r.guard(plan.Subject.ValueString()).update(ctx, prior.toAPI(), plan.toAPI(), etag, r.data.client.UpdateTLSPeerSubject)
	resp.Diagnostics.Append(diags...)
	if resp.Diagnostics.HasError() {
		return
	}
	resp.Diagnostics.Append(resp.State.Set(ctx, tlsPeerSubjectFromAPI(s))...)
	resp.Diagnostics.Append(setETag(ctx, resp.Private, etag)...)
}

func (r *tlsPeerSubjectResource) Delete(ctx context.Context, req resource.DeleteRequest, resp *resource.DeleteResponse) {
	var state tlsPeerSubjectModel
	resp.Diagnostics.Append(req.State.Get(ctx, &state)...)
	etag, diags := getETag(ctx, req.Private)
	resp.Diagnostics.Append(diags...)
	if resp.Diagnostics.HasError() {
		return
	}
	subject := state.Subject.ValueString()
	resp.Diagnostics.Append(r.guard(subject).remove(ctx, etag, func(ctx context.Context, ifMatch string, opts ...api.CallOption) error {
		return r.data.client.DeleteTLSPeerSubject(ctx, subject, ifMatch, opts...)
	})...)
}

// ImportState takes the subject as the import id: `terraform import sip_tls_peer_subject.x sip.partner.example`.
func (r *tlsPeerSubjectResource) ImportState(ctx context.Context, req resource.ImportStateRequest, resp *resource.ImportStateResponse) {
	if err := api.ValidateDomain("subject", req.ID); err != nil {
		resp.Diagnostics.AddError("Invalid import id",
			fmt.Sprintf("The import id of a sip_tls_peer_subject is its subject, e.g. sip.partner.example: %s", err))
		return
	}
	resource.ImportStatePassthroughID(ctx, path.Root("subject"), req, resp)
}
