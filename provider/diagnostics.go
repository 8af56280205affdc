package provider

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"strings"

	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/path"

	"github.com/sipfed/terraform-provider-sip/internal/api"
)

// apiDiagnostic turns a failed API call into a diagnostic the user can act on: what to fix and
// where, rather than the bare HTTP error. action says what the provider was doing ("updating
// federated domain \"x\"").
func apiDiagnostic(endpoint, action string, err error) diag.Diagnostic {
	var (
		apiErr    *api.Error
		opErr     *net.OpError
		dnsErr    *net.DNSError
		unknownCA x509.UnknownAuthorityError
		badHost   x509.HostnameError
		notTLS    tls.RecordHeaderError
	)
	switch {
	case errors.Is(err, api.ErrPreconditionFailed):
		// The provider already read the object again and retried once: it keeps changing.
		return diag.NewErrorDiagnostic("Object changed outside Terraform",
			fmt.Sprintf("Error %s: the object changed on the proxy again while Terraform was writing it (the admin API "+
				"answered 412 to If-Match, also after Terraform read it again). Someone or something else is changing it "+
				"right now.\n\nRun `terraform apply` again once it is quiet.\n\n%s", action, err))
	case errors.Is(err, api.ErrNotSipfed) && !fromGateway(err):
		return diag.NewErrorDiagnostic("Not a sipfed admin API",
			fmt.Sprintf("Error %s: %s\n\nThe answer did not come from a sipfed admin API, so Terraform changed nothing and "+
				"took nothing from it (an object is taken as deleted only when the admin API itself says so). Check the "+
				"provider's \"endpoint\" (or %s), currently %s: it is the proxy's --admin-addr, without a path.",
				action, err, EnvEndpoint, endpoint))
	case errors.Is(err, api.ErrCommitUnknown):
		return diag.NewErrorDiagnostic("sipfed proxy could not say whether the change was stored",
			fmt.Sprintf("Error %s: %s\n\nThe change may or may not be stored. Run `terraform apply` again: it reads "+
				"the proxy first and plans from what is there. A create that was stored shows up as an object that "+
				"already exists (import it) or, for a static route, as a plan-time warning naming an identical route.",
				action, err))
	case errors.Is(err, api.ErrUnauthorized):
		return diag.NewErrorDiagnostic("sipfed admin API rejected the token",
			fmt.Sprintf("Error %s: the admin API at %s answered 401. Check the provider's \"token\" (or %s): it must be "+
				"the token part of a name:token line of the proxy's --admin-token-file.", action, endpoint, EnvToken))
	case errors.As(err, &unknownCA), errors.As(err, &badHost):
		return diag.NewErrorDiagnostic("sipfed admin API certificate not trusted",
			fmt.Sprintf("Error %s: %s\n\nSet the provider's \"ca_cert\" (or %s) to the PEM of the CA that signed the "+
				"admin API's certificate, and make sure the endpoint's host name is in the certificate.", action, err, EnvCACert))
	case errors.As(err, &notTLS):
		return diag.NewErrorDiagnostic("sipfed admin API does not speak TLS",
			fmt.Sprintf("Error %s: %s\n\nThe endpoint %s is https:// but the server answered in plain HTTP; use http:// "+
				"or enable TLS on the proxy's admin listener.", action, err, endpoint))
	case errors.As(err, &apiErr) && apiErr.Field != "":
		// JSON field names are the attribute names, so the API's field points at the config line.
		return diag.NewAttributeErrorDiagnostic(path.Root(apiErr.Field), "sipfed admin API refused "+apiErr.Field,
			fmt.Sprintf("Error %s: %s", action, err))
	case errors.As(err, &apiErr):
		return diag.NewErrorDiagnostic("sipfed admin API error", fmt.Sprintf("Error %s: %s", action, err))
	case errors.As(err, &dnsErr), errors.As(err, &opErr), errors.Is(err, context.DeadlineExceeded):
		return diag.NewErrorDiagnostic("Cannot reach the sipfed admin API",
			fmt.Sprintf("Error %s: %s\n\nCheck the provider's \"endpoint\" (or %s), currently %s, and that "+
				"sipfed-proxy is running with its admin API on that address (--admin-addr). A slow proxy may need "+
				"a longer \"request_timeout\".", action, err, EnvEndpoint, endpoint))
	}
	return diag.NewErrorDiagnostic("sipfed provider error", fmt.Sprintf("Error %s: %s", action, err))
}

// fromGateway reports a 502, 503 or 504 that is not the admin API's own: something between the
// provider and the proxy (a load balancer, a reverse proxy) answered for it.
func fromGateway(err error) bool {
	var e *api.Error
	if !errors.As(err, &e) {
		return false
	}
	switch e.Status {
	case 502, 503, 504:
		return true
	}
	return false
}

// createFailed is the diagnostic of a failed create; when the object already exists on the proxy,
// it says how to bring it under Terraform instead.
func createFailed(endpoint, noun, id string, err error) diag.Diagnostics {
	diags := diag.Diagnostics{apiDiagnostic(endpoint, fmt.Sprintf("creating %s %q", noun, id), err)}
	if errors.Is(err, api.ErrConflict) {
		diags.AddError(capitalize(noun)+" already exists",
			fmt.Sprintf("To manage it with Terraform, import it: terraform import <address> %s (or an import block with id = %q).", id, id))
	}
	return diags
}

// updateFailed is the diagnostic of a failed update of what ("static route \"x\""); when the
// object is gone from the proxy, it says how to get a plan that creates it again.
func updateFailed(endpoint, what string, err error) diag.Diagnostics {
	diags := diag.Diagnostics{apiDiagnostic(endpoint, "updating "+what, err)}
	if errors.Is(err, api.ErrNotFound) {
		diags.AddError(capitalize(what)+" deleted outside Terraform",
			"Run `terraform apply` again: it reads the proxy first, and plans to create what is gone.")
	}
	return diags
}

func capitalize(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// Private state keeps the ETag of the last read or write. It is invisible to plans (an ETag
// attribute would show "known after apply" on every change) yet travels with the resource from
// refresh to apply, so a write is refused when the object changed in between.

const privateETagKey = "etag"

type privateGetter interface {
	GetKey(ctx context.Context, key string) ([]byte, diag.Diagnostics)
}

type privateSetter interface {
	SetKey(ctx context.Context, key string, value []byte) diag.Diagnostics
}

func getETag(ctx context.Context, p privateGetter) (string, diag.Diagnostics) {
	raw, diags := p.GetKey(ctx, privateETagKey)
	if diags.HasError() || len(raw) == 0 {
		return "", diags
	}
	var etag string
	if err := json.Unmarshal(raw, &etag); err != nil {
		// A private state written by another build: write without a precondition rather than fail.
		return "", diags
	}
	return etag, diags
}

func setETag(ctx context.Context, p privateSetter, etag string) diag.Diagnostics {
	raw, _ := json.Marshal(etag)
	return p.SetKey(ctx, privateETagKey, raw)
}
