// Package provider is the Terraform provider for sipfed. It talks to a sipfed-proxy only through
// the admin API, with the wire types, rules and client of internal/api, so that a value the
// provider accepts at plan time is a value the proxy accepts at apply time.
package provider

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/terraform-plugin-framework-validators/int64validator"
	"github.com/hashicorp/terraform-plugin-framework/datasource"
	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/function"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/provider"
	"github.com/hashicorp/terraform-plugin-framework/provider/schema"
	"github.com/hashicorp/terraform-plugin-framework/resource"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"
	"github.com/hashicorp/terraform-plugin-framework/types"

	"github.com/sipfed/terraform-provider-sip/internal/api"
)

// Environment variables the provider configuration falls back to.
const (
	EnvEndpoint       = "SIPFED_ENDPOINT"
	EnvToken          = "SIPFED_TOKEN"
	EnvCACert         = "SIPFED_CA_CERT"
	EnvInsecure       = "SIPFED_INSECURE"
	EnvRequestTimeout = "SIPFED_REQUEST_TIMEOUT"
	EnvRetry          = "SIPFED_RETRY"
	EnvRetryTimeout   = "SIPFED_RETRY_TIMEOUT"
)

// maxAttempts bounds the retry attribute: more would only hide a broken endpoint.
const maxAttempts = 100

// defaultRequestTimeout bounds one attempt of one API call. A write answers only once it is
// durable and live in routing, so it is generous.
const defaultRequestTimeout = 30 * time.Second

var (
	_ provider.Provider              = (*sipProvider)(nil)
	_ provider.ProviderWithFunctions = (*sipProvider)(nil)
)

// New returns the provider factory for a build version.
func New(version string) func() provider.Provider {
	return func() provider.Provider { return &sipProvider{version: version} }
}

type sipProvider struct {
	version string
}

type sipProviderModel struct {
	Endpoint       types.String `tfsdk:"endpoint"`
	Token          types.String `tfsdk:"token"`
	CACert         types.String `tfsdk:"ca_cert"`
	Insecure       types.Bool   `tfsdk:"insecure"`
	RequestTimeout types.String `tfsdk:"request_timeout"`
	Retry          types.Int64  `tfsdk:"retry"`
	RetryTimeout   types.String `tfsdk:"retry_timeout"`
}

// providerData is what resources and data sources receive from Configure.
type providerData struct {
	client   *api.Client
	endpoint string
	// view is the proxy as plan-time warnings see it.
	view *proxyView
}

func (p *sipProvider) Metadata(_ context.Context, _ provider.MetadataRequest, resp *provider.MetadataResponse) {
	resp.TypeName = "sip"
	resp.Version = p.version
}

func (p *sipProvider) Schema(_ context.Context, _ provider.SchemaRequest, resp *provider.SchemaResponse) {
	resp.Schema = schema.Schema{
		MarkdownDescription: "The sip provider manages the federation configuration of a " +
			"[sipfed](https://github.com/sipfed/terraform-provider-sip) SIP federation proxy through its REST admin API: " +
			"federated partner domains, static routes, TLS peer subjects, the federation routing FQDN and the federation service switch.",
		Attributes: map[string]schema.Attribute{
			"endpoint": schema.StringAttribute{
				MarkdownDescription: "Base URL of the proxy's admin API, `http://` or `https://`. " +
					"Falls back to the `" + EnvEndpoint + "` environment variable, then to `" + api.DefaultEndpoint + "`.",
				Optional:   true,
				Validators: []validator.String{endpointValidator{}},
			},
			"token": schema.StringAttribute{
				MarkdownDescription: "Bearer token of the admin API (the `token` part of a `name:token` line of the proxy's " +
					"`--admin-token-file`). Falls back to the `" + EnvToken + "` environment variable. Required: the admin API " +
					"is never open; a proxy started without a token file writes a generated one to `DATA-DIR/admin.token`.",
				Optional:  true,
				Sensitive: true,
			},
			"ca_cert": schema.StringAttribute{
				MarkdownDescription: "PEM-encoded CA certificate(s) that sign the admin API's TLS certificate, for an `https://` " +
					"endpoint with a private CA (e.g. `file(\"ca.pem\")`). Falls back to the `" + EnvCACert + "` environment " +
					"variable. Default: the system's trust store.",
				Optional: true,
			},
			"insecure": schema.BoolAttribute{
				MarkdownDescription: "Skip verification of the admin API's TLS certificate. For tests only: anyone on the path " +
					"could read the token. Falls back to the `" + EnvInsecure + "` environment variable (`true`/`false`). " +
					"Default: `false`.",
				Optional: true,
			},
			"request_timeout": schema.StringAttribute{
				MarkdownDescription: "Time limit of one attempt of one API call, as a Go duration (`30s`, `2m`). Falls back to " +
					"the `" + EnvRequestTimeout + "` environment variable. Default: `" + defaultRequestTimeout.String() + "`.",
				Optional:   true,
				Validators: []validator.String{durationValidator{}},
			},
			"retry": schema.Int64Attribute{
				MarkdownDescription: fmt.Sprintf("Most attempts per API call, the first included; `1` disables retries. What is "+
					"retried is decided per answer: a connection that was never made, a 503 of the proxy (it committed nothing), "+
					"a lost answer, a gateway's 502/503/504; a create is repeated with its `Idempotency-Key`, so it never makes "+
					"a second object. Falls back to the `%s` environment "+
					"variable. Default: as many as `retry_timeout` allows.", EnvRetry),
				Optional:   true,
				Validators: []validator.Int64{int64validator.Between(1, maxAttempts)},
			},
			"retry_timeout": schema.StringAttribute{
				MarkdownDescription: "How long one API call keeps retrying: no attempt starts later than this after its first, " +
					"as a Go duration. The default rides out a restart of the proxy of 10 s or so, and gives up on an endpoint " +
					"that never answers within about 30 s (a connection attempt gives up after " + api.DialTimeout.String() +
					"). Falls back to the `" + EnvRetryTimeout + "` environment variable. Default: `" + api.DefaultRetry.Timeout.String() + "`.",
				Optional:   true,
				Validators: []validator.String{durationValidator{}},
			},
		},
	}
}

func (p *sipProvider) Configure(ctx context.Context, req provider.ConfigureRequest, resp *provider.ConfigureResponse) {
	var cfg sipProviderModel
	resp.Diagnostics.Append(req.Config.Get(ctx, &cfg)...)
	if resp.Diagnostics.HasError() {
		return
	}
	s, diags := cfg.settings(os.Getenv)
	resp.Diagnostics.Append(diags...)
	if resp.Diagnostics.HasError() {
		return
	}
	client, err := s.client(userAgent(p.version, req.TerraformVersion))
	if err != nil {
		resp.Diagnostics.AddAttributeError(path.Root("endpoint"), "Invalid sipfed endpoint", err.Error())
		return
	}
	data := &providerData{client: client, endpoint: s.endpoint, view: newProxyView(client)}
	resp.ResourceData = data
	resp.DataSourceData = data
}

// settings is the provider configuration once the environment fallbacks and defaults are in.
type settings struct {
	endpoint string
	token    string
	caCert   string
	insecure bool
	timeout  time.Duration
	attempts int
	// retryTimeout is how long a call keeps retrying.
	retryTimeout time.Duration
}

// settings resolves the configuration: an attribute set in HCL wins over its environment variable,
// which wins over the default. getenv is os.Getenv outside tests.
func (m sipProviderModel) settings(getenv func(string) string) (settings, diag.Diagnostics) {
	var diags diag.Diagnostics
	unknown := func(v interface{ IsUnknown() bool }, attr, env string) bool {
		if !v.IsUnknown() {
			return false
		}
		diags.AddAttributeError(path.Root(attr), "Unknown sipfed "+attr,
			fmt.Sprintf("The provider's %q depends on a value known only after apply, but the provider needs it to plan. "+
				"Set it from a known value, or use the %s environment variable.", attr, env))
		return true
	}
	if unknown(m.Endpoint, "endpoint", EnvEndpoint) || unknown(m.Token, "token", EnvToken) ||
		unknown(m.CACert, "ca_cert", EnvCACert) || unknown(m.Insecure, "insecure", EnvInsecure) ||
		unknown(m.RequestTimeout, "request_timeout", EnvRequestTimeout) || unknown(m.Retry, "retry", EnvRetry) ||
		unknown(m.RetryTimeout, "retry_timeout", EnvRetryTimeout) {
		return settings{}, diags
	}

	s := settings{
		endpoint:     firstSet(m.Endpoint, getenv(EnvEndpoint), api.DefaultEndpoint),
		token:        firstSet(m.Token, getenv(EnvToken), ""),
		caCert:       firstSet(m.CACert, getenv(EnvCACert), ""),
		timeout:      defaultRequestTimeout,
		attempts:     api.DefaultRetry.Attempts,
		retryTimeout: api.DefaultRetry.Timeout,
	}
	if m.Endpoint.IsNull() {
		// The attribute's validator checked an HCL value; a value from the environment gets the same check.
		if err := checkEndpoint(s.endpoint); err != nil {
			diags.AddAttributeError(path.Root("endpoint"), "Invalid sipfed endpoint", fmt.Sprintf("%s (from %s): %s", s.endpoint, EnvEndpoint, err))
		}
	}
	if s.token == "" {
		diags.AddAttributeError(path.Root("token"), "Missing sipfed admin token",
			"The sipfed admin API requires a bearer token. Set \"token\" in the provider block or the "+EnvToken+
				" environment variable to a token of the proxy's --admin-token-file (a proxy started without one "+
				"writes a generated token to DATA-DIR/admin.token).")
	}

	switch {
	case !m.Insecure.IsNull():
		s.insecure = m.Insecure.ValueBool()
	case getenv(EnvInsecure) != "":
		b, err := strconv.ParseBool(getenv(EnvInsecure))
		if err != nil {
			diags.AddAttributeError(path.Root("insecure"), "Invalid "+EnvInsecure,
				fmt.Sprintf("%s=%q is not a boolean: use true or false.", EnvInsecure, getenv(EnvInsecure)))
		}
		s.insecure = b
	}

	if v, from := firstSetFrom(m.RequestTimeout, "request_timeout", getenv(EnvRequestTimeout), EnvRequestTimeout); v != "" {
		d, err := parseTimeout(v)
		if err != nil {
			diags.AddAttributeError(path.Root("request_timeout"), "Invalid sipfed request_timeout", from+": "+err.Error())
		}
		s.timeout = d
	}

	switch {
	case !m.Retry.IsNull():
		s.attempts = int(m.Retry.ValueInt64())
	case getenv(EnvRetry) != "":
		n, err := strconv.Atoi(getenv(EnvRetry))
		if err != nil || n < 1 || n > maxAttempts {
			diags.AddAttributeError(path.Root("retry"), "Invalid "+EnvRetry,
				fmt.Sprintf("%s=%q is not a number of attempts from 1 to %d.", EnvRetry, getenv(EnvRetry), maxAttempts))
		}
		s.attempts = n
	}

	if v, from := firstSetFrom(m.RetryTimeout, "retry_timeout", getenv(EnvRetryTimeout), EnvRetryTimeout); v != "" {
		d, err := parseTimeout(v)
		if err != nil {
			diags.AddAttributeError(path.Root("retry_timeout"), "Invalid sipfed retry_timeout", from+": "+err.Error())
		}
		s.retryTimeout = d
	}

	if s.caCert != "" {
		if _, err := certPool(s.caCert); err != nil {
			diags.AddAttributeError(path.Root("ca_cert"), "Invalid sipfed ca_cert", err.Error())
		}
	}
	return s, diags
}

// client builds the API client for the settings.
func (s settings) client(ua string) (*api.Client, error) {
	tr := api.NewTransport()
	if s.caCert != "" || s.insecure {
		tc := &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: s.insecure} //nolint:gosec // opt-in, documented as tests only
		if s.caCert != "" {
			pool, err := certPool(s.caCert)
			if err != nil {
				return nil, err
			}
			tc.RootCAs = pool
		}
		tr.TLSClientConfig = tc
	}
	retry := api.DefaultRetry
	retry.Attempts, retry.Timeout = s.attempts, s.retryTimeout
	return api.NewClient(s.endpoint, s.token,
		api.WithHTTPClient(&http.Client{Transport: tr, CheckRedirect: api.NoRedirects}),
		api.WithUserAgent(ua),
		api.WithRequestTimeout(s.timeout),
		api.WithRetry(retry),
		api.WithObserver(logAttempt),
	)
}

func certPool(pem string) (*x509.CertPool, error) {
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM([]byte(pem)) {
		return nil, fmt.Errorf("no PEM certificate found: ca_cert (or %s) must hold the CA certificate itself, "+
			"-----BEGIN CERTIFICATE----- included; use file(\"ca.pem\") to read one from a file", EnvCACert)
	}
	return pool, nil
}

func parseTimeout(s string) (time.Duration, error) {
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("%q is not a duration (e.g. \"30s\", \"2m\")", s)
	}
	if d <= 0 {
		return 0, fmt.Errorf("%q must be positive", s)
	}
	return d, nil
}

// firstSet returns the HCL value when set, else the environment's when not empty, else def.
func firstSet(v types.String, env, def string) string {
	if !v.IsNull() {
		return v.ValueString()
	}
	if env != "" {
		return env
	}
	return def
}

// firstSetFrom is firstSet without a default, naming where the value came from for messages.
func firstSetFrom(v types.String, attr, env, envName string) (value, from string) {
	if !v.IsNull() {
		return v.ValueString(), attr
	}
	return env, envName
}

func userAgent(version, terraformVersion string) string {
	ua := "terraform-provider-sip/" + version
	if terraformVersion != "" {
		ua += " terraform/" + terraformVersion
	}
	return ua
}

func (p *sipProvider) Resources(context.Context) []func() resource.Resource {
	return []func() resource.Resource{
		NewFederatedDomainResource,
		NewStaticRouteResource,
		NewTLSPeerSubjectResource,
		NewFederationRoutingFQDNResource,
		NewFederationServiceResource,
	}
}

func (p *sipProvider) DataSources(context.Context) []func() datasource.DataSource {
	return []func() datasource.DataSource{
		NewFederatedDomainDataSource,
		NewFederatedDomainsDataSource,
		NewIncomingACLsDataSource,
		NewRouteDataSource,
		NewFederationSRVRecordsDataSource,
		NewStaticRoutesDataSource,
		NewTLSPeerSubjectsDataSource,
	}
}

func (p *sipProvider) Functions(context.Context) []func() function.Function {
	return []func() function.Function{
		NewDestinationPatternFunction,
		NewFederationSRVNameFunction,
	}
}

// configuredData extracts the provider's data in a resource's or data source's Configure. It is
// nil until the provider is configured (e.g. during validation), which callers must tolerate.
func configuredData(raw any, diags *diag.Diagnostics) *providerData {
	if raw == nil {
		return nil
	}
	d, ok := raw.(*providerData)
	if !ok {
		diags.AddError("Unexpected provider data",
			fmt.Sprintf("Expected *providerData, got %T. This is a bug in the provider; please report it.", raw))
		return nil
	}
	return d
}

// checkEndpoint applies the client's own parsing rules, so a bad endpoint fails at plan with the
// message the client would give.
func checkEndpoint(s string) error {
	if strings.TrimSpace(s) != s {
		return fmt.Errorf("%q has leading or trailing spaces", s)
	}
	if !strings.Contains(s, "://") {
		return fmt.Errorf("%q has no scheme: write \"http://%s\" (or https://)", s, s)
	}
	_, err := api.NewClient(s, "")
	return err
}
