package provider

import (
	"context"

	"github.com/hashicorp/terraform-plugin-log/tflog"

	"github.com/sipfed/terraform-provider-sip/internal/api"
)

// logAttempt logs one attempt of one admin API call at DEBUG (TF_LOG=DEBUG, or TF_LOG_PROVIDER).
// The attempt holds no header and no body, so the token cannot reach the log.
func logAttempt(ctx context.Context, a api.Attempt) {
	fields := map[string]any{
		"method":      a.Method,
		"path":        a.Path,
		"status":      a.Status,
		"duration_ms": a.Duration.Milliseconds(),
		"attempt":     a.N,
	}
	if a.Code != "" {
		fields["code"] = a.Code
	}
	if a.LivePending {
		fields["live"] = api.LivePending
	}
	if a.Err != nil {
		fields["error"] = a.Err.Error()
		fields["retry"] = a.Retry
	}
	tflog.Debug(ctx, "sipfed admin API call", fields)
}
