package provider

import (
	"context"
	"fmt"

	"github.com/hashicorp/terraform-plugin-framework/attr"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"
	"github.com/hashicorp/terraform-plugin-framework/types"

	"github.com/sipfed/terraform-provider-sip/internal/api"
)

// emptyStringSet is a known set with no element: what a data source shows for "none".
var emptyStringSet = types.SetValueMust(types.StringType, []attr.Value{})

// setStrings returns the elements of a set of strings; nil for a null, unknown or empty set.
func setStrings(s types.Set) []string {
	if s.IsNull() || s.IsUnknown() {
		return nil
	}
	var out []string
	for _, e := range s.Elements() {
		if v, ok := e.(types.String); ok && !v.IsNull() && !v.IsUnknown() {
			out = append(out, v.ValueString())
		}
	}
	return out
}

// stringSet is the set of ss for the state. With no element it is null, unless prior is a known
// empty set: the configuration said "empty", and the state must say what the configuration said.
func stringSet(ss []string, prior types.Set) types.Set {
	if len(ss) == 0 {
		if !prior.IsNull() && !prior.IsUnknown() && len(prior.Elements()) == 0 {
			return emptyStringSet
		}
		return types.SetNull(types.StringType)
	}
	vals := make([]attr.Value, len(ss))
	for i, s := range ss {
		vals[i] = types.StringValue(s)
	}
	return types.SetValueMust(types.StringType, vals)
}

// peerSubjectsValidator checks a federated domain's peer_subjects with the API's rules: the count,
// each name, and the lower-case form the proxy stores.
type peerSubjectsValidator struct{}

func peerSubjects() validator.Set { return peerSubjectsValidator{} }

func (peerSubjectsValidator) Description(context.Context) string {
	return fmt.Sprintf("at most %d TLS peer subjects, each an RFC 1123 name in lower case", api.MaxPeerSubjectsPerDomain)
}

func (v peerSubjectsValidator) MarkdownDescription(ctx context.Context) string {
	return v.Description(ctx)
}

func (peerSubjectsValidator) ValidateSet(_ context.Context, req validator.SetRequest, resp *validator.SetResponse) {
	if req.ConfigValue.IsNull() || req.ConfigValue.IsUnknown() {
		return
	}
	field := attributeName(req.Path)
	var names []string
	for _, e := range req.ConfigValue.Elements() {
		s, ok := e.(types.String)
		if !ok || s.IsUnknown() {
			continue // known at apply; the proxy checks it then
		}
		if s.IsNull() {
			resp.Diagnostics.AddAttributeError(req.Path, "Invalid "+field, field+": an element is null; every element must be a TLS peer subject")
			return
		}
		names = append(names, s.ValueString())
	}
	if err := api.ValidatePeerSubjects(field, names); err != nil {
		resp.Diagnostics.AddAttributeError(req.Path, "Invalid "+field, apiMessage(field, err))
		return
	}
	for _, n := range names {
		if norm := api.NormalizeName(n); norm != n {
			resp.Diagnostics.AddAttributeError(req.Path, "Invalid "+field, notNormalMessage(field, n, norm))
		}
	}
}
