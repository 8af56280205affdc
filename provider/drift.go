package provider

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/hashicorp/terraform-plugin-framework/diag"

	"github.com/sipfed/terraform-provider-sip/internal/api"
)

// Updates and deletes carry the ETag Terraform last saw (If-Match). When the proxy answers 412,
// the object changed since then; that alone is no reason to fail: a plan refreshed after the
// change still carries the old ETag into a destroy, and an update whose answer was lost meets
// its own write. So the object is read again and judged against what the plan was made from
// (prior) and what it wants (planned):
//
//   - gone: a delete is done; an update says the object was deleted outside Terraform;
//   - a delete changes every field, so it goes ahead with the fresh ETag;
//   - equal to the planned result: the update is done (it was ours, or someone made the same change);
//   - every field that differs from prior is one the plan changes anyway: the update goes ahead
//     with the fresh ETag;
//   - a field the plan meant to keep changed: that change was never shown in a plan, so it is
//     not overwritten; the user is told what changed and what to run.

// guarded is what the provider needs to judge a refused write of one object.
type guarded[T any] struct {
	endpoint string
	// noun and id name the object in messages: static route "3f2a9c01b7de"; a singleton has no id.
	noun, id string
	// get reads the object and its ETag.
	get func(ctx context.Context) (T, string, error)
	// readOnly names fields the API fills in and the plan never sets (incoming_acl, node_fqdn).
	readOnly []string
}

func (g guarded[T]) what() string {
	if g.id == "" {
		return "the " + g.noun
	}
	return fmt.Sprintf("%s %q", g.noun, g.id)
}

// update sends write with ifMatch and resolves a 412 as described above.
func (g guarded[T]) update(ctx context.Context, prior, planned T, ifMatch string,
	write func(ctx context.Context, v T, ifMatch string, opts ...api.CallOption) (T, string, error),
) (T, string, diag.Diagnostics) {
	var diags diag.Diagnostics
	var pending bool
	out, etag, err := write(ctx, planned, ifMatch, api.ReportLive(&pending))
	if errors.Is(err, api.ErrPreconditionFailed) {
		var cur T
		var curETag string
		cur, curETag, err = g.get(ctx)
		switch {
		case errors.Is(err, api.ErrNotFound):
			diags.Append(updateFailed(g.endpoint, g.what(), err)...)
			return out, "", diags
		case err != nil:
		case len(fieldChanges(planned, cur, g.readOnly)) == 0:
			return cur, curETag, diags
		default:
			if unseen := unseenChanges(prior, planned, cur, g.readOnly); len(unseen) > 0 {
				diags.Append(changedAfterPlan(g.what(), "updated", unseen))
				return out, "", diags
			}
			out, etag, err = write(ctx, planned, curETag, api.ReportLive(&pending))
		}
	}
	if err != nil {
		diags.Append(updateFailed(g.endpoint, g.what(), err)...)
		return out, "", diags
	}
	diags.Append(notLiveYet(g.what(), pending)...)
	return out, etag, diags
}

// remove sends del with ifMatch. A destroy changes every field, so after a 412 it goes ahead with
// the fresh ETag whatever changed. (Terraform hands a destroy the state from before the plan's
// refresh, with its ETag, so a 412 here is the common case after any drift, not a sign of a
// change the plan did not show.)
func (g guarded[T]) remove(ctx context.Context, ifMatch string,
	del func(ctx context.Context, ifMatch string, opts ...api.CallOption) error,
) diag.Diagnostics {
	var diags diag.Diagnostics
	var pending bool
	err := del(ctx, ifMatch, api.ReportLive(&pending))
	if errors.Is(err, api.ErrPreconditionFailed) {
		var curETag string
		if _, curETag, err = g.get(ctx); err == nil {
			err = del(ctx, curETag, api.ReportLive(&pending))
		}
	}
	if errors.Is(err, api.ErrNotFound) {
		return diags // gone already: what a destroy asks for
	}
	if err != nil {
		diags.Append(apiDiagnostic(g.endpoint, "deleting "+g.what(), err))
		return diags
	}
	diags.Append(notLiveYet(g.what(), pending)...)
	return diags
}

// changedAfterPlan is the error of an update refused because of a change no plan showed.
func changedAfterPlan(what, verb string, unseen []string) diag.Diagnostic {
	return diag.NewErrorDiagnostic("Object changed outside Terraform after the plan",
		fmt.Sprintf("%s was changed on the proxy after Terraform made this plan: %s. The plan keeps those values, so "+
			"applying it would silently undo that change; %s was not %s.\n\n"+
			"Run `terraform apply` again with a fresh plan (not a saved plan, and without -refresh=false): it reads the "+
			"current values and shows what applying the configuration changes back.",
			capitalize(what), strings.Join(unseen, "; "), what, verb))
}

// notLiveYet warns that a write is stored but was not yet live in routing when the proxy answered.
func notLiveYet(what string, pending bool) diag.Diagnostics {
	if !pending {
		return nil
	}
	return diag.Diagnostics{diag.NewWarningDiagnostic("Change stored, not yet live in routing",
		fmt.Sprintf("The proxy stored the change of %s, but its routing had not caught up when it answered "+
			"(Sipfed-Live: pending). It goes live without further action; `sipfed-proxy route <uri>` shows what routing "+
			"does now.", what))}
}

// fieldChanges lists, as "field: a → b", the wire fields whose values differ between a and b.
func fieldChanges[T any](a, b T, ignore []string) []string {
	am, bm := wireFields(a), wireFields(b)
	var out []string
	for _, f := range unionKeys(am, bm) {
		if slices.Contains(ignore, f) || bytes.Equal(am[f], bm[f]) {
			continue
		}
		out = append(out, fmt.Sprintf("%s: %s → %s", f, show(am[f]), show(bm[f])))
	}
	return out
}

// unseenChanges lists the fields that changed from prior to current although the plan keeps them
// (planned equals prior): changes a write of planned would undo without any plan showing it.
func unseenChanges[T any](prior, planned, current T, ignore []string) []string {
	pm, nm, cm := wireFields(prior), wireFields(planned), wireFields(current)
	var out []string
	for _, f := range unionKeys(pm, cm) {
		if slices.Contains(ignore, f) || bytes.Equal(pm[f], cm[f]) || !bytes.Equal(pm[f], nm[f]) {
			continue
		}
		out = append(out, fmt.Sprintf("%s is now %s (the plan was made with %s)", f, show(cm[f]), show(pm[f])))
	}
	return out
}

// wireFields is v as the API sends it, field by field: one definition of a field's value for every
// comparison, the JSON the proxy stores.
func wireFields(v any) map[string]json.RawMessage {
	b, err := json.Marshal(v)
	if err != nil {
		return nil
	}
	var m map[string]json.RawMessage
	if json.Unmarshal(b, &m) != nil {
		return nil
	}
	return m
}

func unionKeys(a, b map[string]json.RawMessage) []string {
	keys := make([]string, 0, len(a)+len(b))
	for k := range a {
		keys = append(keys, k)
	}
	for k := range b {
		if _, ok := a[k]; !ok {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	return keys
}

func show(v json.RawMessage) string {
	if len(v) == 0 {
		return "unset"
	}
	return string(v)
}
